/* Augmentation (crop with zero padding, flip, rotation) and normalization;
 * the math is in augment.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/augment.h"
#include "data/data_internal.h"

#define PI 3.14159265358979323846

typedef struct norm_entry {
  const char *name;
  float mean[3], std[3];
} norm_entry;

/* Sources in datasets/README.md. Grey sets repeat their value. */
static const norm_entry NORMS[] = {
    {"mnist", {0.1307f, 0.1307f, 0.1307f}, {0.3081f, 0.3081f, 0.3081f}},
    {"fashion-mnist", {0.2860f, 0.2860f, 0.2860f}, {0.3530f, 0.3530f, 0.3530f}},
    {"cifar10", {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}},
    {"cifar100", {0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}},
    {"imagenet", {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
    {"tiny-imagenet", {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
    {"folder", {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
    {"synthetic", {0.5f, 0.5f, 0.5f}, {0.16f, 0.16f, 0.16f}},
};

int vkl_norm_defaults(const char *dataset, float mean[VKL_AUGMENT_MAX_CHANNELS],
                      float std[VKL_AUGMENT_MAX_CHANNELS]) {
  if (!dataset) return -1;
  size_t n = strcspn(dataset, "/");
  for (size_t i = 0; i < sizeof NORMS / sizeof NORMS[0]; i++) {
    if (strlen(NORMS[i].name) != n || strncmp(NORMS[i].name, dataset, n)) continue;
    for (int c = 0; c < VKL_AUGMENT_MAX_CHANNELS; c++) {
      mean[c] = NORMS[i].mean[c < 3 ? c : 2];
      std[c] = NORMS[i].std[c < 3 ? c : 2];
    }
    return 0;
  }
  return -1;
}

vkl_augment_config vkl_augment_eval(const char *dataset) {
  vkl_augment_config a = {.normalize = 1};
  if (vkl_norm_defaults(dataset, a.mean, a.std)) vkl_norm_defaults("imagenet", a.mean, a.std);
  return a;
}

vkl_augment_config vkl_augment_paper(const char *dataset) {
  vkl_augment_config a = vkl_augment_eval(dataset);
  a.crop_pad = 4;
  a.flip = 1;
  a.rotate_deg = 15;
  return a;
}

vkl_status vkl_augment_validate(const vkl_augment_config *cfg, uint32_t c, char *err,
                                size_t errlen) {
  if (c == 0 || c > VKL_AUGMENT_MAX_CHANNELS)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "augment: %u channels (1..%d)", c,
                    VKL_AUGMENT_MAX_CHANNELS);
  if (cfg->crop_pad > 1024)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "augment: crop_pad %u (at most 1024)",
                    cfg->crop_pad);
  if (!(cfg->rotate_deg >= 0 && cfg->rotate_deg <= 180))
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT,
                    "augment: rotate_deg %g (0 to 180 degrees)", (double)cfg->rotate_deg);
  if (cfg->normalize)
    for (uint32_t ch = 0; ch < c; ch++)
      if (!isfinite(cfg->mean[ch]) || !(cfg->std[ch] > 0) || !isfinite(cfg->std[ch]))
        return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT,
                        "augment: channel %u: mean %g, std %g (std must be positive and finite)",
                        ch, (double)cfg->mean[ch], (double)cfg->std[ch]);
  return VKL_OK;
}

void vkl_augment_draw(const vkl_augment_config *cfg, uint64_t seed, uint64_t epoch, uint64_t index,
                      vkl_augment_params *p) {
  /* Every value is drawn whatever the switches, in a fixed order, so
   * turning one step off leaves the others' choices unchanged. */
  data_rng r = data_rng_key(seed, DATA_RNG_AUGMENT, epoch, index);
  uint64_t span = 2ull * cfg->crop_pad + 1;
  uint64_t cy = data_rng_below(&r, span), cx = data_rng_below(&r, span);
  uint64_t flip = data_rng_next(&r) >> 63;
  double u = data_rng_unit(&r);
  p->crop_y = (uint32_t)cy;
  p->crop_x = (uint32_t)cx;
  p->flip = cfg->flip ? (int)flip : 0;
  p->angle_deg = cfg->rotate_deg > 0 ? (float)((2 * u - 1) * cfg->rotate_deg) : 0.0f;
}

int vkl_augment_has_geometry(const vkl_augment_config *cfg) {
  return cfg->crop_pad > 0 || cfg->flip || cfg->rotate_deg > 0;
}

void vkl_augment_geometry(uint8_t *dst, const uint8_t *src, uint32_t c, uint32_t h, uint32_t w,
                          uint32_t crop_pad, const vkl_augment_params *p) {
  const size_t hw = (size_t)h * w;
  /* Output pixel (y,x) before rotation reads the unpadded source at
   * (y + oy, x' + ox), x' = x or w-1-x when flipped: the crop window starts
   * at (crop_y, crop_x) in the padded image, i.e. crop - pad in src. */
  const int64_t oy = (int64_t)p->crop_y - crop_pad, ox = (int64_t)p->crop_x - crop_pad;
  if (p->angle_deg == 0) {
    for (uint32_t ch = 0; ch < c; ch++) {
      const uint8_t *s = src + ch * hw;
      uint8_t *d = dst + ch * hw;
      for (uint32_t y = 0; y < h; y++) {
        int64_t sy = (int64_t)y + oy;
        uint8_t *drow = d + (size_t)y * w;
        if (sy < 0 || sy >= h) {
          memset(drow, 0, w);
          continue;
        }
        const uint8_t *srow = s + (size_t)sy * w;
        for (uint32_t x = 0; x < w; x++) {
          int64_t sx = (int64_t)(p->flip ? w - 1 - x : x) + ox;
          drow[x] = sx >= 0 && sx < w ? srow[sx] : 0;
        }
      }
    }
    return;
  }
  /* Rotation: output offset (dx,dy) from the centre samples the
   * cropped-and-flipped image F at the point rotated back by the angle.
   * With y pointing down, a counter-clockwise turn by a maps (dx,dy) to
   * (cos a dx + sin a dy, -sin a dx + cos a dy); its inverse is used. */
  const double a = (double)p->angle_deg * PI / 180;
  const float cs = (float)cos(a), sn = (float)sin(a);
  const float cy = 0.5f * (float)(h - 1), cx = 0.5f * (float)(w - 1);
  for (uint32_t y = 0; y < h; y++)
    for (uint32_t x = 0; x < w; x++) {
      float dx = (float)x - cx, dy = (float)y - cy;
      float fx = cx + cs * dx - sn * dy, fy = cy + sn * dx + cs * dy;
      float x0f = floorf(fx), y0f = floorf(fy);
      float ax = fx - x0f, ay = fy - y0f;
      int64_t x0 = (int64_t)x0f, y0 = (int64_t)y0f;
      float wt[4] = {(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay};
      int64_t at[4];
      for (int k = 0; k < 4; k++) {
        int64_t yy = y0 + (k >> 1), xx = x0 + (k & 1);
        at[k] = -1;
        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue; /* outside F: fill */
        int64_t sy = yy + oy, sx = (p->flip ? (int64_t)w - 1 - xx : xx) + ox;
        if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue; /* crop padding */
        at[k] = sy * (int64_t)w + sx;
      }
      for (uint32_t ch = 0; ch < c; ch++) {
        const uint8_t *s = src + ch * hw;
        float v = 0;
        for (int k = 0; k < 4; k++)
          if (at[k] >= 0) v += wt[k] * (float)s[at[k]];
        v += 0.5f;
        dst[ch * hw + (size_t)y * w + x] = (uint8_t)(v >= 255.0f ? 255 : v <= 0 ? 0 : (int)v);
      }
    }
}

void data_norm_lut(const vkl_augment_config *cfg, uint32_t c, float (*lut)[256]) {
  /* the formula evaluated once per value in double, rounded once to float */
  for (uint32_t ch = 0; ch < c; ch++) {
    double mean = cfg->normalize ? cfg->mean[ch] : 0, std = cfg->normalize ? cfg->std[ch] : 1;
    for (int v = 0; v < 256; v++) lut[ch][v] = (float)((v / 255.0 - mean) / std);
  }
}

void data_norm_apply(float *dst, const uint8_t *src, uint32_t c, size_t hw,
                     const float (*lut)[256]) {
  for (uint32_t ch = 0; ch < c; ch++) {
    const uint8_t *s = src + ch * hw;
    const float *t = lut[ch];
    float *d = dst + ch * hw;
    for (size_t i = 0; i < hw; i++) d[i] = t[s[i]];
  }
}

void vkl_augment_normalize(float *dst, const uint8_t *src, uint32_t c, uint32_t h, uint32_t w,
                           const vkl_augment_config *cfg) {
  float lut[VKL_AUGMENT_MAX_CHANNELS][256];
  if (c > VKL_AUGMENT_MAX_CHANNELS) return; /* vkl_augment_validate refuses it */
  data_norm_lut(cfg, c, lut);
  data_norm_apply(dst, src, c, (size_t)h * w, (const float(*)[256])lut);
}

void vkl_augment_apply(float *dst, const uint8_t *src, uint8_t *scratch, uint32_t c, uint32_t h,
                       uint32_t w, const vkl_augment_config *cfg, const vkl_augment_params *p) {
  if (vkl_augment_has_geometry(cfg)) {
    vkl_augment_geometry(scratch, src, c, h, w, cfg->crop_pad, p);
    src = scratch;
  }
  vkl_augment_normalize(dst, src, c, h, w, cfg);
}
