/* Barlow Twins' augmentation: each step against a reference written out
 * here (index formulas, hand-computed pixels, a direct 2-D convolution, a
 * double-precision bilinear), the draws' ranges, rates and determinism,
 * the steps' composition, the validation messages, and the loader's
 * two-view mode (same bytes for 1 and 3 threads, views that differ). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment_ssl.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "test_util.h"

static uint8_t *random_image(test_rng *r, size_t n) {
  uint8_t *p = malloc(n);
  cr_assert(p);
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(test_rng_next(r) >> 56);
  return p;
}

/* (C,H,W) index */
static size_t at(uint32_t h, uint32_t w, uint32_t c, uint32_t y, uint32_t x) {
  return ((size_t)c * h + y) * w + x;
}

/* A 3-channel image of n pixels given as RGB triples. */
static void set_rgb(uint8_t *img, size_t n, const uint8_t (*rgb)[3]) {
  for (size_t i = 0; i < n; i++)
    for (int c = 0; c < 3; c++) img[c * n + i] = rgb[i][c];
}

/* ---- geometry ---------------------------------------------------------- */

Test(augment_ssl, flip_against_index_formula) {
  test_rng r = {1};
  for (uint32_t c = 1; c <= 3; c += 2) {
    const uint32_t H = 5, W = 7;
    const size_t n = (size_t)c * H * W;
    uint8_t *x = random_image(&r, n), *y = malloc(n);
    memcpy(y, x, n);
    vkl_ssl_hflip(y, c, H, W);
    for (uint32_t ch = 0; ch < c; ch++)
      for (uint32_t i = 0; i < H; i++)
        for (uint32_t j = 0; j < W; j++)
          cr_assert_eq(y[at(H, W, ch, i, j)], x[at(H, W, ch, i, W - 1 - j)], "c%u (%u,%u)", ch, i,
                       j);
    vkl_ssl_hflip(y, c, H, W);
    cr_assert_eq(memcmp(x, y, n), 0, "flip twice");
    free(x);
    free(y);
  }
}

Test(augment_ssl, resize_full_box_is_identity_and_matches_bilinear) {
  test_rng r = {2};
  const uint32_t C = 3, H = 5, W = 7;
  const size_t n = C * H * W;
  uint8_t *x = random_image(&r, n), *y = malloc(n);
  vkl_ssl_resized_crop(y, x, C, H, W, 0, 0, H, W);
  cr_assert_eq(memcmp(x, y, n), 0, "full box");
  /* box (1,2) of 3x4, and a 1x1 box (a constant image) */
  const uint32_t y0 = 1, x0 = 2, bh = 3, bw = 4;
  vkl_ssl_resized_crop(y, x, C, H, W, y0, x0, bh, bw);
  for (uint32_t c = 0; c < C; c++)
    for (uint32_t i = 0; i < H; i++)
      for (uint32_t j = 0; j < W; j++) {
        double sy = fmin(fmax((i + 0.5) * bh / H - 0.5, 0), bh - 1);
        double sx = fmin(fmax((j + 0.5) * bw / W - 0.5, 0), bw - 1);
        int iy = (int)floor(sy), ix = (int)floor(sx);
        int iy1 = iy + 1 < (int)bh ? iy + 1 : iy, ix1 = ix + 1 < (int)bw ? ix + 1 : ix;
        double ay = sy - iy, ax = sx - ix;
#define PX(yy, xx) (double)x[at(H, W, c, y0 + (yy), x0 + (xx))]
        double want = (1 - ay) * ((1 - ax) * PX(iy, ix) + ax * PX(iy, ix1)) +
                      ay * ((1 - ax) * PX(iy1, ix) + ax * PX(iy1, ix1));
#undef PX
        double got = y[at(H, W, c, i, j)];
        cr_assert(fabs(got - want) <= 0.5 + 1e-3, "c%u (%u,%u): %g, bilinear %g", c, i, j, got,
                  want);
      }
  vkl_ssl_resized_crop(y, x, C, H, W, 4, 6, 1, 1);
  for (uint32_t c = 0; c < C; c++)
    for (uint32_t i = 0; i < H * W; i++) cr_assert_eq(y[c * H * W + i], x[at(H, W, c, 4, 6)]);
  free(x);
  free(y);
}

/* Boxes inside the image; a try's draws in range and rounded to the box;
 * at 224 px the box itself has the area and aspect asked for (up to
 * rounding); on a 2x9 image some draws fail every try into the fallback. */
Test(augment_ssl, crop_box_properties) {
  vkl_augment_ssl_config cfg = vkl_augment_ssl_barlow("cifar10", 0);
  const uint32_t sizes[5][2] = {{5, 7}, {7, 5}, {2, 9}, {32, 32}, {224, 224}};
  for (int k = 0; k < 5; k++) {
    const uint32_t H = sizes[k][0], W = sizes[k][1];
    int tried = 0, fell = 0;
    double area_sum = 0;
    for (uint64_t i = 0; i < 4000; i++) {
      vkl_augment_ssl_params p;
      vkl_augment_ssl_draw(&cfg, H, W, 3, 1, i, i & 1, &p);
      cr_assert(
          p.crop_h >= 1 && p.crop_w >= 1 && p.crop_y + p.crop_h <= H && p.crop_x + p.crop_w <= W,
          "%ux%u: box (%u,%u,%u,%u)", H, W, p.crop_y, p.crop_x, p.crop_h, p.crop_w);
      cr_assert(p.crop_scale >= 0.08f && p.crop_scale <= 1.0f, "scale %g", (double)p.crop_scale);
      cr_assert(p.crop_ratio >= 0.75f * (1 - 1e-6f) && p.crop_ratio <= 4.0f / 3 * (1 + 1e-6f),
                "ratio %g", (double)p.crop_ratio);
      if (p.crop_try == 0) { /* 2x9: full height, width rint(2 * 4/3), centred */
        fell++;
        cr_assert(H == 2 && p.crop_y == 0 && p.crop_x == 3 && p.crop_h == 2 && p.crop_w == 3,
                  "%ux%u: fallback box (%u,%u,%u,%u)", H, W, p.crop_y, p.crop_x, p.crop_h,
                  p.crop_w);
        continue;
      }
      tried++;
      double a = (double)H * W * p.crop_scale;
      cr_assert(fabs(p.crop_w - sqrt(a * p.crop_ratio)) <= 0.5 + 1e-3, "w %u", p.crop_w);
      cr_assert(fabs(p.crop_h - sqrt(a / p.crop_ratio)) <= 0.5 + 1e-3, "h %u", p.crop_h);
      double frac = (double)p.crop_h * p.crop_w / ((double)H * W);
      area_sum += frac;
      if (H == 224) {
        double aspect = (double)p.crop_w / p.crop_h;
        cr_assert(frac >= 0.08 * 0.97 && frac <= 1, "area fraction %g", frac);
        cr_assert(aspect >= 0.75 * 0.97 && aspect <= 4.0 / 3 * 1.03, "aspect %g", aspect);
      }
    }
    if (H >= 32) { /* almost every draw fits in a try; areas spread over [0.08, 1] */
      cr_assert_gt(tried, 3990, "%ux%u: %d tries fitted", H, W, tried);
      cr_assert(area_sum / tried > 0.35 && area_sum / tried < 0.65, "mean area %g",
                area_sum / tried);
    } else if (H == 2) { /* about 3% of draws fail all 10 tries */
      cr_assert(fell > 20 && fell < 400, "%ux%u: %d fallbacks in 4000 draws", H, W, fell);
      cr_assert_gt(tried, 0);
    }
  }
}

/* No try can fit (a 2:1 to 3:1 box of the whole area of a square): the
 * centre crop of the whole width at aspect 2, as torchvision's fallback. */
Test(augment_ssl, crop_fallback_is_the_centre_crop) {
  vkl_augment_ssl_config cfg = {.crop = 1, .crop_scale = {1, 1}, .crop_ratio = {2, 3}};
  vkl_augment_ssl_params p;
  vkl_augment_ssl_draw(&cfg, 8, 8, 1, 0, 5, 0, &p);
  cr_assert_eq(p.crop_try, 0);
  cr_assert(p.crop_y == 2 && p.crop_x == 0 && p.crop_h == 4 && p.crop_w == 8, "box (%u,%u,%u,%u)",
            p.crop_y, p.crop_x, p.crop_h, p.crop_w);
  /* too wide an image (3x12, aspect 4) for aspects 1 to 2, whose whole-area
   * boxes are all taller than 3: full height, width 3 * 2, centred */
  vkl_augment_ssl_config wide = {.crop = 1, .crop_scale = {1, 1}, .crop_ratio = {1, 2}};
  vkl_augment_ssl_draw(&wide, 3, 12, 1, 0, 5, 0, &p);
  cr_assert(p.crop_try == 0 && p.crop_y == 0 && p.crop_h == 3 && p.crop_w == 6 && p.crop_x == 3,
            "box (%u,%u,%u,%u)", p.crop_y, p.crop_x, p.crop_h, p.crop_w);
  /* crop off: the whole image */
  vkl_augment_ssl_config off = {0};
  vkl_augment_ssl_draw(&off, 5, 7, 1, 0, 5, 0, &p);
  cr_assert(p.crop_y == 0 && p.crop_x == 0 && p.crop_h == 5 && p.crop_w == 7);
}

/* ---- colour ------------------------------------------------------------- */

Test(augment_ssl, brightness_truncates_like_pil) {
  const uint8_t v[6] = {0, 10, 100, 170, 200, 255};
  const uint8_t up[6] = {0, 15, 150, 255, 255, 255}, down[6] = {0, 5, 50, 85, 100, 127};
  uint8_t img[18];
  for (int c = 0; c < 3; c++) memcpy(img + 6 * c, v, 6);
  vkl_ssl_brightness(img, 3, 2, 3, 1.5f);
  for (int i = 0; i < 18; i++) cr_assert_eq(img[i], up[i % 6], "1.5 x %u: %u", v[i % 6], img[i]);
  for (int c = 0; c < 3; c++) memcpy(img + 6 * c, v, 6);
  vkl_ssl_brightness(img, 3, 3, 2, 0.5f);
  for (int i = 0; i < 18; i++) cr_assert_eq(img[i], down[i % 6], "0.5 x %u: %u", v[i % 6], img[i]);
  memcpy(img, v, 6); /* one channel: the same per-pixel blend */
  memset(img + 6, 7, 12);
  vkl_ssl_brightness(img, 1, 2, 3, 1.5f);
  for (int i = 0; i < 6; i++) cr_assert_eq(img[i], up[i], "grey 1.5 x %u: %u", v[i], img[i]);
  for (int i = 6; i < 18; i++) cr_assert_eq(img[i], 7, "past the one channel: %d", i);
  test_rng r = {3};
  uint8_t *x = random_image(&r, 3 * 35), *y = malloc(3 * 35);
  memcpy(y, x, 3 * 35);
  vkl_ssl_brightness(y, 3, 5, 7, 1.0f);
  cr_assert_eq(memcmp(x, y, 3 * 35), 0, "factor 1");
  free(x);
  free(y);
}

Test(augment_ssl, contrast_blends_with_the_rounded_grey_mean) {
  /* grey pixels 10, 20, 30, 41: mean 25.25 -> 25 */
  const uint8_t g[4] = {10, 20, 30, 41};
  const uint8_t half[4] = {17, 22, 27, 33}, twice[4] = {0, 15, 35, 57};
  uint8_t img[12];
  for (int c = 0; c < 3; c++) memcpy(img + 4 * c, g, 4);
  vkl_ssl_contrast(img, 3, 2, 2, 0.5f);
  for (int i = 0; i < 12; i++) cr_assert_eq(img[i], half[i % 4], "0.5: %d: %u", i, img[i]);
  for (int c = 0; c < 3; c++) memcpy(img + 4 * c, g, 4);
  vkl_ssl_contrast(img, 3, 2, 2, 2.0f);
  for (int i = 0; i < 12; i++) cr_assert_eq(img[i], twice[i % 4], "2: %d: %u", i, img[i]);
  memcpy(img, g, 4); /* one channel: its own values are the grey ones */
  vkl_ssl_contrast(img, 1, 2, 2, 0.5f);
  for (int i = 0; i < 4; i++) cr_assert_eq(img[i], half[i], "grey 0.5: %d: %u", i, img[i]);
  /* a coloured pair: greys 124 (200,100,50) and 76 (255,0,0), mean 100;
   * factor 0.75: 100 + 0.75 (x - 100), truncated */
  const uint8_t rgb[2][3] = {{200, 100, 50}, {255, 0, 0}};
  const uint8_t want[2][3] = {{175, 100, 62}, {216, 25, 25}};
  set_rgb(img, 2, rgb);
  vkl_ssl_contrast(img, 3, 1, 2, 0.75f);
  for (int i = 0; i < 2; i++)
    for (int c = 0; c < 3; c++) cr_assert_eq(img[c * 2 + i], want[i][c], "pixel %d c%d", i, c);
}

Test(augment_ssl, saturation_and_grayscale_known_pixels) {
  const uint8_t rgb[4][3] = {{200, 100, 50}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  const uint8_t grey[4] = {124, 76, 150, 29};
  for (int i = 0; i < 4; i++)
    cr_assert_eq(vkl_ssl_luma(rgb[i][0], rgb[i][1], rgb[i][2]), grey[i], "pixel %d", i);
  for (int v = 0; v < 256; v++)
    cr_assert_eq(vkl_ssl_luma((uint8_t)v, (uint8_t)v, (uint8_t)v), v, "grey %d", v);
  test_rng r = {4};
  for (int k = 0; k < 2000; k++) {
    uint64_t z = test_rng_next(&r);
    uint8_t R = (uint8_t)z, G = (uint8_t)(z >> 8), B = (uint8_t)(z >> 16);
    double want = 0.299 * R + 0.587 * G + 0.114 * B;
    cr_assert(fabs(vkl_ssl_luma(R, G, B) - want) <= 0.5 + 1e-3, "(%u,%u,%u)", R, G, B);
  }
  uint8_t img[12];
  set_rgb(img, 4, rgb);
  vkl_ssl_grayscale(img, 2, 2);
  for (int i = 0; i < 4; i++)
    for (int c = 0; c < 3; c++) cr_assert_eq(img[c * 4 + i], grey[i]);
  /* saturation 1.5 and 0.5 of (200,100,50), grey 124; 0: the grey image */
  const uint8_t one[1][3] = {{200, 100, 50}};
  const uint8_t more[3] = {238, 88, 13}, less[3] = {162, 112, 87};
  uint8_t px[3];
  set_rgb(px, 1, one);
  vkl_ssl_saturation(px, 1, 1, 1.5f);
  for (int c = 0; c < 3; c++) cr_assert_eq(px[c], more[c], "1.5: c%d %u", c, px[c]);
  set_rgb(px, 1, one);
  vkl_ssl_saturation(px, 1, 1, 0.5f);
  for (int c = 0; c < 3; c++) cr_assert_eq(px[c], less[c], "0.5: c%d %u", c, px[c]);
  set_rgb(img, 4, rgb);
  vkl_ssl_saturation(img, 2, 2, 0.0f);
  for (int i = 0; i < 4; i++)
    for (int c = 0; c < 3; c++) cr_assert_eq(img[c * 4 + i], grey[i]);
  /* a grey pixel keeps its value under any saturation */
  const uint8_t g[1][3] = {{77, 77, 77}};
  set_rgb(px, 1, g);
  vkl_ssl_saturation(px, 1, 1, 1.2f);
  cr_assert(px[0] == 77 && px[1] == 77 && px[2] == 77);
}

Test(augment_ssl, hue_known_pixels) {
  test_rng r = {5};
  uint8_t *x = random_image(&r, 3 * 35), *y = malloc(3 * 35);
  memcpy(y, x, 3 * 35);
  vkl_ssl_hue(y, 5, 7, 0.0f);
  cr_assert_eq(memcmp(x, y, 3 * 35), 0, "shift 0");
  memcpy(y, x, 3 * 35);
  vkl_ssl_hue(y, 5, 7, 0.05f);
  cr_assert_neq(memcmp(x, y, 3 * 35), 0, "shift 0.05");
  /* red by a third turn: green; back a third: blue; (200,100,50) at 20
   * degrees by half a turn: 200 degrees, (50,150,200); greys stay */
  const struct {
    uint8_t in[3];
    float shift;
    uint8_t out[3];
  } cases[] = {
      {{255, 0, 0}, 1.0f / 3, {0, 255, 0}},       {{255, 0, 0}, -1.0f / 3, {0, 0, 255}},
      {{200, 100, 50}, 0.5f, {50, 150, 200}},     {{200, 100, 50}, -0.5f, {50, 150, 200}},
      {{90, 90, 90}, 0.1f, {90, 90, 90}},         {{0, 0, 0}, 0.3f, {0, 0, 0}},
      {{200, 100, 50}, 1.0f / 6, {150, 200, 50}},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    uint8_t px[3];
    memcpy(px, cases[k].in, 3);
    vkl_ssl_hue(px, 1, 1, cases[k].shift);
    cr_assert(!memcmp(px, cases[k].out, 3), "case %zu: (%u,%u,%u)", k, px[0], px[1], px[2]);
  }
  free(x);
  free(y);
}

/* ---- blur and solarize -------------------------------------------------- */

Test(augment_ssl, blur_against_direct_convolution) {
  cr_assert_eq(vkl_ssl_blur_radius(224), 11); /* 23 taps, as at 224 px */
  cr_assert_eq(vkl_ssl_blur_radius(64), 3);
  cr_assert_eq(vkl_ssl_blur_radius(32), 1);
  cr_assert_eq(vkl_ssl_blur_radius(5), 1);
  test_rng r = {6};
  const uint32_t C = 3, H = 5, W = 7;
  const size_t n = C * H * W;
  uint8_t *x = random_image(&r, n), *y = malloc(n);
  float tmp[5 * 7];
  memcpy(y, x, n);
  const float sigma = 1.3f;
  vkl_ssl_blur(y, tmp, C, H, W, sigma);
  /* 3x3 kernel on a reflect-padded image, in double */
  double k[3], s = 0;
  for (int t = 0; t < 3; t++) s += k[t] = exp(-0.5 * (t - 1) * (t - 1) / ((double)sigma * sigma));
  for (int t = 0; t < 3; t++) k[t] /= s;
  for (uint32_t c = 0; c < C; c++)
    for (int i = 0; i < (int)H; i++)
      for (int j = 0; j < (int)W; j++) {
        double want = 0;
        for (int u = -1; u <= 1; u++)
          for (int v = -1; v <= 1; v++) {
            int yy = i + u, xx = j + v;
            yy = yy < 0 ? -yy : yy > (int)H - 1 ? 2 * ((int)H - 1) - yy : yy;
            xx = xx < 0 ? -xx : xx > (int)W - 1 ? 2 * ((int)W - 1) - xx : xx;
            want += k[u + 1] * k[v + 1] * x[at(H, W, c, (uint32_t)yy, (uint32_t)xx)];
          }
        double got = y[at(H, W, c, (uint32_t)i, (uint32_t)j)];
        cr_assert(fabs(got - want) <= 0.5 + 1e-3, "c%u (%d,%d): %g, direct %g", c, i, j, got, want);
      }
  free(x);
  free(y);
}

Test(augment_ssl, blur_keeps_constants_and_the_mean) {
  const uint32_t C = 3, H = 5, W = 7;
  uint8_t img[3 * 5 * 7];
  float tmp[64 * 64];
  const float sigmas[3] = {0.1f, 1.0f, 2.0f};
  for (int k = 0; k < 3; k++) {
    memset(img, 77, sizeof img);
    vkl_ssl_blur(img, tmp, C, H, W, sigmas[k]);
    for (size_t i = 0; i < sizeof img; i++) cr_assert_eq(img[i], 77, "sigma %g", (double)sigmas[k]);
  }
  /* noise of 64x64, 1 channel: the mean stays (within a grey level), the
   * spread shrinks */
  test_rng r = {7};
  const size_t n = 64 * 64;
  uint8_t *x = random_image(&r, n), *y = malloc(n);
  memcpy(y, x, n);
  vkl_ssl_blur(y, tmp, 1, 64, 64, 2.0f);
  double mx = 0, my = 0, vx = 0, vy = 0;
  for (size_t i = 0; i < n; i++) mx += x[i] / (double)n, my += y[i] / (double)n;
  for (size_t i = 0; i < n; i++) {
    vx += (x[i] - mx) * (x[i] - mx) / n;
    vy += (y[i] - my) * (y[i] - my) / n;
  }
  cr_assert(fabs(mx - my) < 1.0, "mean %g -> %g", mx, my);
  cr_assert(sqrt(vy) < 0.3 * sqrt(vx), "std %g -> %g", sqrt(vx), sqrt(vy));
  free(x);
  free(y);
}

Test(augment_ssl, solarize_threshold_128) {
  uint8_t v[6] = {0, 1, 127, 128, 200, 255};
  const uint8_t want[6] = {0, 1, 127, 127, 55, 0};
  vkl_ssl_solarize(v, 1, 2, 3);
  cr_assert_eq(memcmp(v, want, 6), 0, "%u %u %u %u %u %u", v[0], v[1], v[2], v[3], v[4], v[5]);
}

/* ---- draws -------------------------------------------------------------- */

Test(augment_ssl, draws_are_deterministic_and_differ_by_view) {
  vkl_augment_ssl_config c0 = vkl_augment_ssl_barlow("cifar10", 0),
                         c1 = vkl_augment_ssl_barlow("cifar10", 1);
  vkl_augment_ssl_params a, b, c;
  vkl_augment_ssl_draw(&c0, 32, 32, 9, 2, 17, 0, &a);
  vkl_augment_ssl_draw(&c0, 32, 32, 9, 2, 17, 0, &b);
  cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
  vkl_augment_ssl_draw(&c0, 32, 32, 9, 2, 17, 1, &c); /* same config, other view */
  cr_assert_neq(memcmp(&a, &c, sizeof a), 0);
  cr_assert(a.crop_y != c.crop_y || a.crop_x != c.crop_x || a.crop_h != c.crop_h ||
            a.brightness != c.brightness);
  vkl_augment_ssl_draw(&c0, 32, 32, 9, 3, 17, 0, &c);
  cr_assert_neq(memcmp(&a, &c, sizeof a), 0, "another epoch");
  vkl_augment_ssl_draw(&c0, 32, 32, 9, 2, 18, 0, &c);
  cr_assert_neq(memcmp(&a, &c, sizeof a), 0, "another index");
  vkl_augment_ssl_draw(&c0, 32, 32, 10, 2, 17, 0, &c);
  cr_assert_neq(memcmp(&a, &c, sizeof a), 0, "another seed");
  /* switching the flip off changes nothing else */
  vkl_augment_ssl_config noflip = c0;
  noflip.p_flip = 0;
  for (uint64_t i = 0; i < 50; i++) {
    vkl_augment_ssl_draw(&c0, 32, 32, 9, 2, i, 0, &a);
    vkl_augment_ssl_draw(&noflip, 32, 32, 9, 2, i, 0, &b);
    cr_assert_eq(b.flip, 0);
    b.flip = a.flip;
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "index %llu", (unsigned long long)i);
  }
  /* the views' rates: view 0 always blurs, never solarizes; view 1 blurs
   * 10% and solarizes 20%; both flip 50%, jitter 80%, grey 20% */
  const int N = 20000;
  int flips[2] = {0}, jit[2] = {0}, gray[2] = {0}, blur[2] = {0}, sol[2] = {0}, orders[24] = {0};
  for (uint32_t v = 0; v < 2; v++)
    for (int i = 0; i < N; i++) {
      vkl_augment_ssl_draw(v ? &c1 : &c0, 32, 32, 9, 2, (uint64_t)i, v, &a);
      flips[v] += a.flip, jit[v] += a.jitter, gray[v] += a.gray, blur[v] += a.blur;
      sol[v] += a.solarize;
      if (a.blur)
        cr_assert(a.blur_sigma >= 0.1f && a.blur_sigma <= 2.0f, "%g", (double)a.blur_sigma);
      if (!a.jitter) continue;
      cr_assert(a.brightness >= 0.6f && a.brightness <= 1.4f && a.contrast >= 0.6f &&
                a.contrast <= 1.4f && a.saturation >= 0.8f && a.saturation <= 1.2f &&
                a.hue >= -0.1f && a.hue <= 0.1f);
      int seen = 0;
      for (int k = 0; k < 4; k++) {
        cr_assert_lt(a.jitter_order[k], 4);
        seen |= 1 << a.jitter_order[k];
      }
      cr_assert_eq(seen, 15, "not a permutation");
      int slot = 0; /* the permutation's rank among the 24 */
      for (int k = 0; k < 4; k++) {
        int smaller = 0;
        for (int q = k + 1; q < 4; q++) smaller += a.jitter_order[q] < a.jitter_order[k];
        slot = slot * (4 - k) + smaller;
      }
      orders[slot]++;
    }
#define RATE(x, p) cr_assert(fabs((double)(x) / N - (p)) < 0.015, #x " %d of %d, want %g", x, N, p)
  for (int v = 0; v < 2; v++) {
    RATE(flips[v], 0.5);
    RATE(jit[v], 0.8);
    RATE(gray[v], 0.2);
  }
  cr_assert_eq(blur[0], N);
  cr_assert_eq(sol[0], 0);
  RATE(blur[1], 0.1);
  RATE(sol[1], 0.2);
#undef RATE
  for (int k = 0; k < 24; k++) cr_assert_gt(orders[k], N * 0.8 / 24 / 2, "order %d", k);
}

/* ---- the whole view ------------------------------------------------------ */

/* apply_u8 is the steps in the header's order; apply normalizes it. */
Test(augment_ssl, apply_is_the_steps_in_order) {
  test_rng r = {8};
  const uint32_t C = 3, H = 9, W = 11;
  const size_t n = C * H * W;
  uint8_t *x = random_image(&r, n), *got = malloc(n), *want = malloc(n), *scratch = malloc(n);
  float tmp[9 * 11], *out = malloc(n * sizeof(float));
  vkl_augment_ssl_config cfg = vkl_augment_ssl_barlow("cifar10", 1);
  cfg.p_blur = 0.5f;
  cfg.p_solarize = 0.5f;
  int jittered = 0, solarized = 0, blurred = 0;
  for (uint64_t i = 0; i < 40; i++) {
    vkl_augment_ssl_params p;
    vkl_augment_ssl_draw(&cfg, H, W, 4, 0, i, 1, &p);
    jittered += p.jitter, solarized += p.solarize, blurred += p.blur;
    vkl_augment_ssl_apply_u8(got, x, tmp, C, H, W, &p);
    vkl_ssl_resized_crop(want, x, C, H, W, p.crop_y, p.crop_x, p.crop_h, p.crop_w);
    if (p.flip) vkl_ssl_hflip(want, C, H, W);
    for (int k = 0; p.jitter && k < 4; k++) {
      int s = p.jitter_order[k];
      if (s == VKL_SSL_BRIGHTNESS) vkl_ssl_brightness(want, C, H, W, p.brightness);
      if (s == VKL_SSL_CONTRAST) vkl_ssl_contrast(want, C, H, W, p.contrast);
      if (s == VKL_SSL_SATURATION) vkl_ssl_saturation(want, H, W, p.saturation);
      if (s == VKL_SSL_HUE) vkl_ssl_hue(want, H, W, p.hue);
    }
    if (p.gray) vkl_ssl_grayscale(want, H, W);
    if (p.blur) vkl_ssl_blur(want, tmp, C, H, W, p.blur_sigma);
    if (p.solarize) vkl_ssl_solarize(want, C, H, W);
    cr_assert_eq(memcmp(got, want, n), 0, "index %llu", (unsigned long long)i);
    vkl_augment_ssl_apply(out, x, scratch, tmp, C, H, W, &cfg, &p);
    for (uint32_t c = 0; c < C; c++)
      for (uint32_t q = 0; q < H * W; q++) {
        double v = (want[c * H * W + q] / 255.0 - cfg.mean[c]) / cfg.std[c];
        cr_assert_float_eq(out[c * H * W + q], v, 1e-5, "index %llu", (unsigned long long)i);
      }
  }
  cr_assert(jittered > 0 && jittered < 40 && solarized > 0 && blurred > 0);
  free(x);
  free(got);
  free(want);
  free(scratch);
  free(out);
}

Test(augment_ssl, views_differ_and_repeat) {
  test_rng r = {9};
  const uint32_t C = 3, H = 16, W = 16;
  const size_t n = C * H * W;
  uint8_t *x = random_image(&r, n), *scratch = malloc(n);
  float tmp[16 * 16], *v[3];
  for (int k = 0; k < 3; k++) v[k] = malloc(n * sizeof(float));
  for (uint32_t view = 0; view < 3; view++) {
    vkl_augment_ssl_config cfg = vkl_augment_ssl_barlow("synthetic", view & 1);
    vkl_augment_ssl_params p;
    vkl_augment_ssl_draw(&cfg, H, W, 11, 0, 3, view & 1, &p);
    vkl_augment_ssl_apply(v[view], x, scratch, tmp, C, H, W, &cfg, &p);
  }
  cr_assert_neq(memcmp(v[0], v[1], n * sizeof(float)), 0);
  cr_assert_eq(memcmp(v[0], v[2], n * sizeof(float)), 0, "view 0 again");
  free(x);
  free(scratch);
  for (int k = 0; k < 3; k++) free(v[k]);
}

/* Every colour step on, strongly; nothing else. */
static vkl_augment_ssl_config colour_steps_only(int grey_jitter) {
  return (vkl_augment_ssl_config){.p_jitter = 1,
                                  .brightness = 0.9f,
                                  .contrast = 0.9f,
                                  .saturation = 0.9f,
                                  .hue = 0.5f,
                                  .p_gray = 1,
                                  .grey_jitter = grey_jitter};
}

/* The colour steps pass 1-channel images through; on 3 channels the same
 * draws change the image, so the comparison can fail. */
Test(augment_ssl, one_channel_ignores_colour_steps) {
  vkl_augment_ssl_config cfg = colour_steps_only(0);
  test_rng r = {10};
  for (uint32_t c = 1; c <= 3; c += 2) {
    const uint32_t H = 5, W = 7;
    const size_t n = (size_t)c * H * W;
    uint8_t *x = random_image(&r, n), *scratch = malloc(n);
    float tmp[5 * 7], *out = malloc(n * sizeof(float));
    vkl_augment_ssl_params p;
    vkl_augment_ssl_draw(&cfg, H, W, 1, 0, 0, 0, &p);
    cr_assert(p.jitter && p.gray);
    vkl_augment_ssl_apply(out, x, scratch, tmp, c, H, W, &cfg, &p);
    int same = 1;
    for (size_t i = 0; i < n; i++) same &= out[i] == (float)(x[i] / 255.0);
    cr_assert_eq(same, c == 1, "%u channel(s)", c);
    /* blur still applies to 1 channel */
    if (c == 1) {
      vkl_augment_ssl_config blur = {.p_blur = 1, .blur_sigma = {1, 1}};
      vkl_augment_ssl_draw(&blur, H, W, 1, 0, 0, 0, &p);
      vkl_augment_ssl_apply_u8(scratch, x, tmp, c, H, W, &p);
      cr_assert_neq(memcmp(scratch, x, n), 0);
    }
    free(x);
    free(scratch);
    free(out);
  }
}

/* grey_jitter: a 1-channel image takes the drawn brightness and contrast,
 * in the drawn order; saturation, hue and grayscale still do nothing. */
Test(augment_ssl, grey_jitter_adjusts_one_channel) {
  vkl_augment_ssl_config cfg = colour_steps_only(1);
  test_rng r = {12};
  const uint32_t H = 6, W = 5;
  const size_t n = H * W;
  uint8_t *x = random_image(&r, n), *got = malloc(n), *want = malloc(n);
  float tmp[6 * 5];
  int brightness_first = 0, contrast_first = 0;
  for (uint64_t i = 0; i < 12; i++) {
    vkl_augment_ssl_params p;
    vkl_augment_ssl_draw(&cfg, H, W, 2, 0, i, 0, &p);
    cr_assert(p.jitter && p.grey_jitter && p.brightness != 1 && p.contrast != 1);
    vkl_augment_ssl_apply_u8(got, x, tmp, 1, H, W, &p);
    memcpy(want, x, n);
    int first = -1; /* which of the two comes first in the drawn order */
    for (int k = 0; k < 4; k++) {
      int step = p.jitter_order[k];
      if (step == VKL_SSL_BRIGHTNESS) vkl_ssl_brightness(want, 1, H, W, p.brightness);
      if (step == VKL_SSL_CONTRAST) vkl_ssl_contrast(want, 1, H, W, p.contrast);
      if (first < 0 && (step == VKL_SSL_BRIGHTNESS || step == VKL_SSL_CONTRAST)) first = step;
    }
    cr_assert_eq(memcmp(got, want, n), 0, "index %llu", (unsigned long long)i);
    cr_assert_neq(memcmp(got, x, n), 0, "index %llu changed nothing", (unsigned long long)i);
    brightness_first += first == VKL_SSL_BRIGHTNESS;
    contrast_first += first == VKL_SSL_CONTRAST;
  }
  cr_assert(brightness_first > 0 && contrast_first > 0, "both orders: %d %d", brightness_first,
            contrast_first);
  free(x);
  free(got);
  free(want);
}

Test(augment_ssl, validate_names_the_field) {
  char err[256];
  for (uint32_t v = 0; v < 2; v++) {
    vkl_augment_ssl_config ok = vkl_augment_ssl_barlow("fashion-mnist", v);
    cr_assert_eq(vkl_augment_ssl_validate(&ok, 1, err, sizeof err), VKL_OK, "%s", err);
    cr_assert_eq(vkl_augment_ssl_validate(&ok, 3, err, sizeof err), VKL_OK, "%s", err);
  }
  vkl_augment_ssl_config zero = {0};
  cr_assert_eq(vkl_augment_ssl_validate(&zero, 3, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(vkl_augment_ssl_validate(&zero, 5, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "5 channels"), "%s", err);
  const char *fields[] = {"p_flip",     "p_jitter",   "p_gray",     "p_blur",    "p_solarize",
                          "brightness", "contrast",   "saturation", "hue",       "crop_scale",
                          "crop_ratio", "blur_sigma", "std",        "p_solarize"};
  for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
    vkl_augment_ssl_config c = vkl_augment_ssl_barlow("cifar10", 1);
    switch (k) {
      case 0: c.p_flip = 1.5f; break;
      case 1: c.p_jitter = -0.1f; break;
      case 2: c.p_gray = 2; break;
      case 3: c.p_blur = 1.01f; break;
      case 4: c.p_solarize = NAN; break;
      case 5: c.brightness = -0.4f; break;
      case 6: c.contrast = INFINITY; break;
      case 7: c.saturation = -1e-3f; break;
      case 8: c.hue = 0.6f; break;
      case 9: c.crop_scale[0] = 0.5f, c.crop_scale[1] = 0.2f; break;
      case 10: c.crop_ratio[0] = 0; break;
      case 11: c.blur_sigma[0] = 0; break;
      case 12: c.std[2] = 0; break;
      case 13: c.p_solarize = 1.2f; break;
    }
    cr_assert_eq(vkl_augment_ssl_validate(&c, 3, err, sizeof err), VKL_ERR_INVALID_ARGUMENT,
                 "%s accepted", fields[k]);
    cr_assert(strstr(err, fields[k]) && strstr(err, "augment_ssl"), "%s: %s", fields[k], err);
  }
  /* switched-off steps' fields are not checked: no crop, no blur */
  vkl_augment_ssl_config off = {.crop_scale = {5, -1}, .blur_sigma = {-1, 0}};
  cr_assert_eq(vkl_augment_ssl_validate(&off, 1, err, sizeof err), VKL_OK, "%s", err);
}

/* ---- loader, two views ----------------------------------------------------- */

static vkl_dataset *synth(uint64_t n, uint32_t c, uint32_t h, uint32_t w, uint32_t k) {
  vkl_synthetic_config sc = {
      .count = n, .channels = c, .height = h, .width = w, .classes = k, .seed = 3};
  vkl_dataset *ds;
  char err[512];
  cr_assert_eq(vkl_dataset_synthetic(&sc, &ds, err, sizeof err), VKL_OK, "%s", err);
  return ds;
}

static vkl_loader_config two_views(const vkl_dataset *ds, uint32_t m, uint32_t threads) {
  const vkl_dataset_info *in = vkl_dataset_get_info(ds);
  vkl_loader_config cfg = {.dataset = ds,
                           .batch = m,
                           .channels = in->channels,
                           .height = in->height,
                           .width = in->width,
                           .classes = in->classes,
                           .threads = threads,
                           .slots = 3,
                           .seed = 21,
                           .views = 2};
  cfg.ssl[0] = vkl_augment_ssl_barlow("synthetic", 0);
  cfg.ssl[1] = vkl_augment_ssl_barlow("synthetic", 1);
  return cfg;
}

/* All batches of `epochs` epochs, (2,m,C,H,W) images per batch. */
static float *run_views(const vkl_loader_config *cfg, uint64_t epochs, uint32_t **labels,
                        uint64_t *batches) {
  vkl_loader *ld;
  char err[512];
  cr_assert_eq(vkl_loader_create(cfg, &ld, err, sizeof err), VKL_OK, "%s", err);
  const vkl_dataset_info *in = vkl_dataset_get_info(cfg->dataset);
  const size_t chw = (size_t)in->channels * in->height * in->width, m = cfg->batch;
  const uint64_t nb = vkl_loader_batches_per_epoch(ld);
  float *img = malloc(epochs * nb * 2 * m * chw * sizeof(float));
  *labels = malloc(epochs * nb * m * sizeof(uint32_t));
  memset(*labels, 0xff, epochs * nb * m * sizeof(uint32_t));
  for (size_t i = 0; i < epochs * nb * 2 * m * chw; i++) img[i] = NAN; /* unwritten shows */
  for (uint64_t e = 0; e < epochs; e++) {
    cr_assert_eq(vkl_loader_start_epoch(ld, e), VKL_OK);
    for (uint64_t b = 0; b < nb + 2; b++) {
      if (b >= 2)
        cr_assert_eq(vkl_loader_wait(ld, (uint32_t)((b - 2) % 3), NULL), VKL_OK, "%s",
                     vkl_loader_errmsg(ld));
      uint64_t g = e * nb + b;
      if (b < nb)
        cr_assert_eq(
            vkl_loader_submit(ld, (uint32_t)(b % 3), b, img + g * 2 * m * chw, *labels + g * m),
            VKL_OK, "%s", vkl_loader_errmsg(ld));
    }
  }
  vkl_loader_destroy(ld);
  *batches = nb;
  return img;
}

Test(loader_views, same_bytes_for_1_and_3_threads_and_views_differ) {
  for (uint32_t c = 1; c <= 3; c += 2) {
    vkl_dataset *ds = synth(38, c, 12, 10, 4); /* 4 batches of 8 and one of 6 */
    const uint32_t m = 8, H = 12, W = 10;
    const size_t chw = (size_t)c * H * W;
    uint32_t *la, *lb;
    uint64_t nb;
    vkl_loader_config ca = two_views(ds, m, 1), cb = two_views(ds, m, 3);
    float *a = run_views(&ca, 2, &la, &nb), *b = run_views(&cb, 2, &lb, &nb);
    cr_assert_eq(nb, 5);
    const size_t total = 2 * nb * 2 * m * chw;
    cr_assert_eq(memcmp(a, b, total * sizeof(float)), 0, "%u channel(s)", c);
    cr_assert_eq(memcmp(la, lb, 2 * nb * m * sizeof(uint32_t)), 0);
    /* rows 0..5 and m..m+5 of a last batch are written, the rest not: view
     * 1 starts m rows in, whatever the count */
    for (size_t i = 0; i < total; i++) {
      size_t row = i / chw % (2 * m), count = i / chw / (2 * m) % nb == nb - 1 ? 6 : m;
      cr_assert_eq(isfinite(a[i]), row % m < count, "element %zu (row %zu of %zu)", i, row, count);
    }
    /* each (batch, row): view 0 at row j, view 1 at row m + j, as drawn */
    uint64_t perm[38];
    vkl_data_permutation(21, 1, 38, perm);
    uint8_t *scratch = malloc(chw);
    float tmp[12 * 10], *want = malloc(chw * sizeof(float));
    for (uint64_t pos = 0; pos < 38; pos += 3) {
      uint64_t g = nb + pos / m, j = pos % m, idx = perm[pos]; /* epoch 1 */
      const float *v0 = a + (g * 2 * m + j) * chw, *v1 = a + (g * 2 * m + m + j) * chw;
      cr_assert_neq(memcmp(v0, v1, chw * sizeof(float)), 0, "position %llu",
                    (unsigned long long)pos);
      cr_assert_eq(la[g * m + j], vkl_dataset_labels(ds)[idx]);
      for (uint32_t v = 0; v < 2; v++) {
        vkl_augment_ssl_params p;
        vkl_augment_ssl_draw(&ca.ssl[v], H, W, 21, 1, idx, v, &p);
        vkl_augment_ssl_apply(want, vkl_dataset_pixels(ds) + idx * chw, scratch, tmp, c, H, W,
                              &ca.ssl[v], &p);
        cr_assert_eq(memcmp(v ? v1 : v0, want, chw * sizeof(float)), 0, "position %llu view %u",
                     (unsigned long long)pos, v);
      }
    }
    free(scratch);
    free(want);
    free(a);
    free(b);
    free(la);
    free(lb);
    vkl_dataset_destroy(ds);
  }
}

Test(loader_views, refuses_bad_view_configs) {
  vkl_dataset *ds = synth(16, 3, 8, 8, 2);
  vkl_loader *ld = NULL;
  char err[512];
  vkl_loader_config cfg = two_views(ds, 4, 1);
  cfg.views = 3;
  cr_assert_eq(vkl_loader_create(&cfg, &ld, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "views 3"), "%s", err);
  cfg = two_views(ds, 4, 1);
  cfg.ssl[1].p_blur = 3;
  cr_assert_eq(vkl_loader_create(&cfg, &ld, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "ssl[1]") && strstr(err, "p_blur"), "%s", err);
  cr_assert_null(ld);
  /* one view: the ssl configs are not looked at; two: `augment` is not */
  cfg.views = 1;
  cr_assert_eq(vkl_loader_create(&cfg, &ld, err, sizeof err), VKL_OK, "%s", err);
  vkl_loader_destroy(ld);
  cfg = two_views(ds, 4, 1);
  cfg.augment.normalize = 1; /* std 0 */
  cr_assert_eq(vkl_loader_create(&cfg, &ld, err, sizeof err), VKL_OK, "%s", err);
  vkl_loader_destroy(ld);
  cfg.views = 0;
  cr_assert_eq(vkl_loader_create(&cfg, &ld, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "std"), "%s", err);
  vkl_dataset_destroy(ds);
}
