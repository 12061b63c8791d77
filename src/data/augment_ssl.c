/* Barlow Twins' per-view augmentation: the draws, each step on uint8
 * (C,H,W) images, and normalization; the math is in augment_ssl.h. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "data/augment_ssl.h"
#include "data/data_internal.h"

#define SSL_CROP_TRIES 10
#define SSL_SOLARIZE_THRESHOLD 128
#define SSL_MAX_SIGMA 1000.0f

/* ---- presets and validation ---------------------------------------- */

vkl_augment_ssl_config vkl_augment_ssl_barlow(const char *dataset, uint32_t view) {
  vkl_augment_ssl_config a = {
      .crop = 1,
      .crop_scale = {0.08f, 1.0f},
      .crop_ratio = {3.0f / 4.0f, 4.0f / 3.0f},
      .p_flip = 0.5f,
      .p_jitter = 0.8f,
      .brightness = 0.4f,
      .contrast = 0.4f,
      .saturation = 0.2f,
      .hue = 0.1f,
      .p_gray = 0.2f,
      .p_blur = view == 0 ? 1.0f : 0.1f,
      .blur_sigma = {0.1f, 2.0f},
      .p_solarize = view == 0 ? 0.0f : 0.2f,
      .normalize = 1,
  };
  if (vkl_norm_defaults(dataset, a.mean, a.std)) vkl_norm_defaults("imagenet", a.mean, a.std);
  return a;
}

typedef struct named_float {
  const char *name;
  size_t offset;
} named_float;

static float field(const vkl_augment_ssl_config *cfg, const named_float *f) {
  return *(const float *)((const char *)cfg + f->offset);
}

static const named_float PROBABILITIES[] = {
    {"p_flip", offsetof(vkl_augment_ssl_config, p_flip)},
    {"p_jitter", offsetof(vkl_augment_ssl_config, p_jitter)},
    {"p_gray", offsetof(vkl_augment_ssl_config, p_gray)},
    {"p_blur", offsetof(vkl_augment_ssl_config, p_blur)},
    {"p_solarize", offsetof(vkl_augment_ssl_config, p_solarize)},
};

static const named_float STRENGTHS[] = {
    {"brightness", offsetof(vkl_augment_ssl_config, brightness)},
    {"contrast", offsetof(vkl_augment_ssl_config, contrast)},
    {"saturation", offsetof(vkl_augment_ssl_config, saturation)},
};

#define INVALID(...) data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "augment_ssl: " __VA_ARGS__)

static vkl_status validate_ranges(const vkl_augment_ssl_config *cfg, char *err, size_t errlen) {
  const float *s = cfg->crop_scale, *r = cfg->crop_ratio, *g = cfg->blur_sigma;
  if (cfg->crop && !(s[0] > 0 && s[0] <= s[1] && s[1] <= 1))
    return INVALID("crop_scale (%g, %g): need 0 < crop_scale[0] <= crop_scale[1] <= 1",
                   (double)s[0], (double)s[1]);
  if (cfg->crop && !(r[0] > 0 && r[0] <= r[1] && isfinite(r[1])))
    return INVALID("crop_ratio (%g, %g): need 0 < crop_ratio[0] <= crop_ratio[1], finite",
                   (double)r[0], (double)r[1]);
  if (cfg->p_blur > 0 && !(g[0] > 0 && g[0] <= g[1] && g[1] <= SSL_MAX_SIGMA))
    return INVALID("blur_sigma (%g, %g): need 0 < blur_sigma[0] <= blur_sigma[1] <= %g",
                   (double)g[0], (double)g[1], (double)SSL_MAX_SIGMA);
  return VKL_OK;
}

vkl_status vkl_augment_ssl_validate(const vkl_augment_ssl_config *cfg, uint32_t c, char *err,
                                    size_t errlen) {
  if (c == 0 || c > VKL_AUGMENT_MAX_CHANNELS)
    return INVALID("%u channels (1..%d)", c, VKL_AUGMENT_MAX_CHANNELS);
  for (size_t i = 0; i < sizeof PROBABILITIES / sizeof PROBABILITIES[0]; i++) {
    float v = field(cfg, &PROBABILITIES[i]);
    if (!(v >= 0 && v <= 1))
      return INVALID("%s %g: a probability, 0 to 1", PROBABILITIES[i].name, (double)v);
  }
  for (size_t i = 0; i < sizeof STRENGTHS / sizeof STRENGTHS[0]; i++) {
    float v = field(cfg, &STRENGTHS[i]);
    if (!(v >= 0 && isfinite(v)))
      return INVALID("%s %g: a strength, 0 or more and finite", STRENGTHS[i].name, (double)v);
  }
  if (!(cfg->hue >= 0 && cfg->hue <= 0.5f))
    return INVALID("hue %g: a strength, 0 to 0.5", (double)cfg->hue);
  vkl_status st = validate_ranges(cfg, err, errlen);
  if (st) return st;
  if (cfg->normalize)
    for (uint32_t ch = 0; ch < c; ch++)
      if (!isfinite(cfg->mean[ch]) || !(cfg->std[ch] > 0) || !isfinite(cfg->std[ch]))
        return INVALID("channel %u: mean %g, std %g (std must be positive and finite)", ch,
                       (double)cfg->mean[ch], (double)cfg->std[ch]);
  return VKL_OK;
}

/* ---- draws ----------------------------------------------------------- */

/* The stream of (seed, epoch, index, view): augment.c's key with the view
 * as a fifth coordinate, so each view has its own stream and neither
 * shares one with the supervised augmentation. */
static data_rng ssl_stream(uint64_t seed, uint64_t epoch, uint64_t index, uint32_t view) {
  data_rng r = data_rng_key(seed, DATA_RNG_AUGMENT_SSL, epoch, index);
  r.s = data_mix64(r.s ^ ((uint64_t)view + 0x5851f42d4c957f2dull));
  return r;
}

/* a + (b - a) u for u in [0,1) */
static double lerp(double a, double b, double u) {
  return a + (b - a) * u;
}

/* torchvision's fallback: the whole image narrowed to the nearest allowed
 * aspect, centred. */
static void crop_fallback(const vkl_augment_ssl_config *cfg, uint32_t h, uint32_t w,
                          vkl_augment_ssl_params *p) {
  double in_ratio = (double)w / h, bh = h, bw = w;
  if (in_ratio < cfg->crop_ratio[0])
    bh = rint(w / (double)cfg->crop_ratio[0]);
  else if (in_ratio > cfg->crop_ratio[1])
    bw = rint(h * (double)cfg->crop_ratio[1]);
  p->crop_h = bh < 1 ? 1 : (uint32_t)bh;
  p->crop_w = bw < 1 ? 1 : (uint32_t)bw;
  p->crop_y = (h - p->crop_h) / 2;
  p->crop_x = (w - p->crop_w) / 2;
  p->crop_try = 0;
}

/* RandomResizedCrop.get_params: up to 10 tries, then the fallback. */
static void draw_crop(data_rng *r, const vkl_augment_ssl_config *cfg, uint32_t h, uint32_t w,
                      vkl_augment_ssl_params *p) {
  p->crop_y = p->crop_x = 0;
  p->crop_h = h;
  p->crop_w = w;
  if (!cfg->crop) return;
  const double area = (double)h * w;
  const double lr0 = log(cfg->crop_ratio[0]), lr1 = log(cfg->crop_ratio[1]);
  for (uint32_t t = 1; t <= SSL_CROP_TRIES; t++) {
    double s = lerp(cfg->crop_scale[0], cfg->crop_scale[1], data_rng_unit(r));
    double ar = exp(lerp(lr0, lr1, data_rng_unit(r)));
    double bw = rint(sqrt(area * s * ar)), bh = rint(sqrt(area * s / ar));
    p->crop_scale = (float)s;
    p->crop_ratio = (float)ar;
    if (bw > 0 && bw <= w && bh > 0 && bh <= h) {
      p->crop_h = (uint32_t)bh;
      p->crop_w = (uint32_t)bw;
      p->crop_y = (uint32_t)data_rng_below(r, h - p->crop_h + 1);
      p->crop_x = (uint32_t)data_rng_below(r, w - p->crop_w + 1);
      p->crop_try = t;
      return;
    }
  }
  crop_fallback(cfg, h, w, p);
}

/* ColorJitter.get_params: the order (Fisher-Yates over 3 draws), then the
 * four factors; identity values when the jitter is not applied. */
static void draw_jitter(data_rng *r, const vkl_augment_ssl_config *cfg, int on,
                        vkl_augment_ssl_params *p) {
  uint8_t order[4] = {0, 1, 2, 3};
  for (uint32_t i = 4; i > 1; i--) {
    uint32_t j = (uint32_t)data_rng_below(r, i);
    uint8_t t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
  }
  double ub = data_rng_unit(r), uc = data_rng_unit(r), us = data_rng_unit(r), uh = data_rng_unit(r);
  p->jitter = on;
  p->grey_jitter = cfg->grey_jitter;
  for (int k = 0; k < 4; k++) p->jitter_order[k] = on ? order[k] : (uint8_t)k;
  p->brightness = on ? (float)lerp(fmax(0, 1 - cfg->brightness), 1 + cfg->brightness, ub) : 1;
  p->contrast = on ? (float)lerp(fmax(0, 1 - cfg->contrast), 1 + cfg->contrast, uc) : 1;
  p->saturation = on ? (float)lerp(fmax(0, 1 - cfg->saturation), 1 + cfg->saturation, us) : 1;
  p->hue = on ? (float)lerp(-cfg->hue, cfg->hue, uh) : 0;
}

void vkl_augment_ssl_draw(const vkl_augment_ssl_config *cfg, uint32_t h, uint32_t w, uint64_t seed,
                          uint64_t epoch, uint64_t index, uint32_t view,
                          vkl_augment_ssl_params *p) {
  memset(p, 0, sizeof *p); /* padding too: params compare with memcmp */
  data_rng r = ssl_stream(seed, epoch, index, view);
  /* fixed draws first, in torchvision's order of steps; the crop's
   * variable number of tries last */
  p->flip = data_rng_unit(&r) < cfg->p_flip;
  int jitter = data_rng_unit(&r) < cfg->p_jitter;
  draw_jitter(&r, cfg, jitter, p);
  p->gray = data_rng_unit(&r) < cfg->p_gray;
  p->blur = data_rng_unit(&r) < cfg->p_blur;
  double us = data_rng_unit(&r);
  p->blur_sigma = p->blur ? (float)lerp(cfg->blur_sigma[0], cfg->blur_sigma[1], us) : 0;
  p->solarize = data_rng_unit(&r) < cfg->p_solarize;
  draw_crop(&r, cfg, h, w, p);
}

/* ---- geometry -------------------------------------------------------- */

static uint8_t round_u8(float v) {
  v += 0.5f;
  return v >= 255.0f ? 255 : v <= 0.0f ? 0 : (uint8_t)v;
}

/* Source sample of output coordinate o of n over a box side of b: the
 * lower index, the upper (clamped) and the weight of the upper. */
static void bilinear_at(uint32_t o, uint32_t n, uint32_t b, uint32_t *i0, uint32_t *i1, float *a) {
  float s = ((float)o + 0.5f) * ((float)b / (float)n) - 0.5f;
  if (s < 0) s = 0;
  uint32_t i = (uint32_t)s;
  if (i > b - 1) i = b - 1;
  *i0 = i;
  *i1 = i + 1 < b ? i + 1 : i;
  *a = s - (float)i;
}

/* Columns whose sampling is computed once per call (wider boxes compute
 * it per pixel; the result is the same). */
#define SSL_RESIZE_TABLE 1024

void vkl_ssl_resized_crop(uint8_t *dst, const uint8_t *src, uint32_t c, uint32_t h, uint32_t w,
                          uint32_t y0, uint32_t x0, uint32_t bh, uint32_t bw) {
  const size_t hw = (size_t)h * w;
  uint32_t xa_t[SSL_RESIZE_TABLE], xb_t[SSL_RESIZE_TABLE];
  float ax_t[SSL_RESIZE_TABLE];
  const int table = w <= SSL_RESIZE_TABLE;
  for (uint32_t x = 0; table && x < w; x++) bilinear_at(x, w, bw, &xa_t[x], &xb_t[x], &ax_t[x]);
  for (uint32_t ch = 0; ch < c; ch++) {
    const uint8_t *s = src + ch * hw + (size_t)y0 * w + x0;
    uint8_t *d = dst + ch * hw;
    for (uint32_t y = 0; y < h; y++) {
      uint32_t ya, yb, xa, xb;
      float ay, ax;
      bilinear_at(y, h, bh, &ya, &yb, &ay);
      const uint8_t *ra = s + (size_t)ya * w, *rb = s + (size_t)yb * w;
      for (uint32_t x = 0; x < w; x++) {
        if (table)
          xa = xa_t[x], xb = xb_t[x], ax = ax_t[x];
        else
          bilinear_at(x, w, bw, &xa, &xb, &ax);
        float top = (1 - ax) * ra[xa] + ax * ra[xb], bot = (1 - ax) * rb[xa] + ax * rb[xb];
        d[(size_t)y * w + x] = round_u8((1 - ay) * top + ay * bot);
      }
    }
  }
}

void vkl_ssl_hflip(uint8_t *img, uint32_t c, uint32_t h, uint32_t w) {
  for (size_t row = 0; row < (size_t)c * h; row++) {
    uint8_t *r = img + row * w;
    for (uint32_t x = 0; x < w / 2; x++) {
      uint8_t t = r[x];
      r[x] = r[w - 1 - x];
      r[w - 1 - x] = t;
    }
  }
}

/* ---- colour ---------------------------------------------------------- */

uint8_t vkl_ssl_luma(uint8_t r, uint8_t g, uint8_t b) {
  return (uint8_t)((19595u * r + 38470u * g + 7471u * b + 0x8000u) >> 16);
}

/* PIL's Image.blend(a, x, f): a + f (x - a) in float, truncated, clipped. */
static uint8_t blend_u8(float a, float x, float f) {
  float t = a + f * (x - a);
  return t <= 0.0f ? 0 : t >= 255.0f ? 255 : (uint8_t)t;
}

void vkl_ssl_brightness(uint8_t *img, uint32_t c, uint32_t h, uint32_t w, float factor) {
  for (size_t i = 0; i < (size_t)c * h * w; i++) img[i] = blend_u8(0, img[i], factor);
}

/* c is 1 (the grey value is the pixel) or 3 (its luma). */
void vkl_ssl_contrast(uint8_t *img, uint32_t c, uint32_t h, uint32_t w, float factor) {
  const size_t hw = (size_t)h * w;
  uint64_t sum = 0;
  for (size_t i = 0; i < hw; i++)
    sum += c == 3 ? vkl_ssl_luma(img[i], img[hw + i], img[2 * hw + i]) : img[i];
  /* PIL: int(ImageStat.Stat(image.convert("L")).mean[0] + 0.5) */
  float mean = (float)(uint32_t)((double)sum / (double)hw + 0.5);
  for (size_t i = 0; i < (size_t)c * hw; i++) img[i] = blend_u8(mean, img[i], factor);
}

void vkl_ssl_saturation(uint8_t *img, uint32_t h, uint32_t w, float factor) {
  const size_t hw = (size_t)h * w;
  for (size_t i = 0; i < hw; i++) {
    float g = vkl_ssl_luma(img[i], img[hw + i], img[2 * hw + i]);
    for (int ch = 0; ch < 3; ch++) img[ch * hw + i] = blend_u8(g, img[ch * hw + i], factor);
  }
}

/* One pixel's hue turned by shift (torchvision's _rgb2hsv, _hsv2rgb, in
 * pixel units: v in 0..255). */
static void hue_pixel(uint8_t *r, uint8_t *g, uint8_t *b, float shift) {
  const int ri = *r, gi = *g, bi = *b;
  const int mx = ri > gi ? (ri > bi ? ri : bi) : (gi > bi ? gi : bi);
  const int mn = ri < gi ? (ri < bi ? ri : bi) : (gi < bi ? gi : bi);
  if (mx == mn) return; /* grey: no hue to turn */
  float maxc = (float)mx, cr = (float)(mx - mn), s = cr / maxc, inv = 1.0f / cr;
  float rc = (maxc - ri) * inv, gc = (maxc - gi) * inv, bc = (maxc - bi) * inv;
  float hh = mx == ri ? bc - gc : mx == gi ? 2.0f + rc - bc : 4.0f + gc - rc;
  hh = hh / 6.0f + shift;
  hh -= (float)(int)hh; /* mod 1 (without a floorf call), into (-1, 1) */
  if (hh < 0) hh += 1;  /* then [0, 1] */
  float h6 = hh * 6.0f, i = (float)(int)h6, f = h6 - i;
  float v = maxc, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  float out[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
  int k = (int)i % 6;
  *r = round_u8(out[k][0]);
  *g = round_u8(out[k][1]);
  *b = round_u8(out[k][2]);
}

void vkl_ssl_hue(uint8_t *img, uint32_t h, uint32_t w, float shift) {
  const size_t hw = (size_t)h * w;
  for (size_t i = 0; i < hw; i++) hue_pixel(&img[i], &img[hw + i], &img[2 * hw + i], shift);
}

void vkl_ssl_grayscale(uint8_t *img, uint32_t h, uint32_t w) {
  const size_t hw = (size_t)h * w;
  for (size_t i = 0; i < hw; i++)
    img[i] = img[hw + i] = img[2 * hw + i] = vkl_ssl_luma(img[i], img[hw + i], img[2 * hw + i]);
}

/* The jitter's adjustments in the drawn order; identity factors skipped.
 * A grey image (c = 1) takes brightness and contrast only: saturation and
 * hue have no colour to act on. */
static void jitter(uint8_t *img, uint32_t c, uint32_t h, uint32_t w,
                   const vkl_augment_ssl_params *p) {
  for (int k = 0; k < 4; k++) switch (p->jitter_order[k]) {
      case VKL_SSL_BRIGHTNESS:
        if (p->brightness != 1) vkl_ssl_brightness(img, c, h, w, p->brightness);
        break;
      case VKL_SSL_CONTRAST:
        if (p->contrast != 1) vkl_ssl_contrast(img, c, h, w, p->contrast);
        break;
      case VKL_SSL_SATURATION:
        if (c == 3 && p->saturation != 1) vkl_ssl_saturation(img, h, w, p->saturation);
        break;
      case VKL_SSL_HUE:
        if (c == 3 && p->hue != 0) vkl_ssl_hue(img, h, w, p->hue);
        break;
    }
}

/* ---- blur and solarize ----------------------------------------------- */

#define SSL_BLUR_MAX_RADIUS 255

uint32_t vkl_ssl_blur_radius(uint32_t n) {
  uint32_t r = n / 20;
  return r < 1 ? 1 : r > SSL_BLUR_MAX_RADIUS ? SSL_BLUR_MAX_RADIUS : r;
}

/* Index i of a side of n, reflected at the edges without repeating them
 * (torch's "reflect" padding), for any distance outside. */
static uint32_t reflect(int64_t i, uint32_t n) {
  if (n == 1) return 0;
  int64_t period = 2 * ((int64_t)n - 1);
  i %= period;
  if (i < 0) i += period;
  return (uint32_t)(i < n ? i : period - i);
}

/* 2r+1 weights exp(-t^2 / (2 sigma^2)), t = -r..r, summing to 1. */
static void gauss_kernel(float *k, uint32_t r, float sigma) {
  double sum = 0, e[2 * SSL_BLUR_MAX_RADIUS + 1];
  for (uint32_t i = 0; i <= 2 * r; i++) {
    double t = ((double)i - r) / sigma;
    sum += e[i] = exp(-0.5 * t * t);
  }
  for (uint32_t i = 0; i <= 2 * r; i++) k[i] = (float)(e[i] / sum);
}

/* Output i of the 2r+1-tap kernel k along a row of n pixels, and along a
 * column of n floats at stride st: reflected at the edges, plain inside
 * (the same sum in the same order). */
static float tap_row(const uint8_t *row, uint32_t n, uint32_t i, const float *k, uint32_t r) {
  float s = 0;
  if (i >= r && i + r < n)
    for (uint32_t t = 0; t <= 2 * r; t++) s += k[t] * row[i - r + t];
  else
    for (uint32_t t = 0; t <= 2 * r; t++) s += k[t] * row[reflect((int64_t)i + t - r, n)];
  return s;
}

static float tap_col(const float *col, size_t st, uint32_t n, uint32_t i, const float *k,
                     uint32_t r) {
  float s = 0;
  if (i >= r && i + r < n)
    for (uint32_t t = 0; t <= 2 * r; t++) s += k[t] * col[(size_t)(i - r + t) * st];
  else
    for (uint32_t t = 0; t <= 2 * r; t++)
      s += k[t] * col[(size_t)reflect((int64_t)i + t - r, n) * st];
  return s;
}

void vkl_ssl_blur(uint8_t *img, float *tmp, uint32_t c, uint32_t h, uint32_t w, float sigma) {
  float kx[2 * SSL_BLUR_MAX_RADIUS + 1], ky[2 * SSL_BLUR_MAX_RADIUS + 1];
  const uint32_t rx = vkl_ssl_blur_radius(w), ry = vkl_ssl_blur_radius(h);
  gauss_kernel(kx, rx, sigma);
  gauss_kernel(ky, ry, sigma);
  const size_t hw = (size_t)h * w;
  for (uint32_t ch = 0; ch < c; ch++) {
    uint8_t *d = img + ch * hw;
    for (uint32_t y = 0; y < h; y++) /* rows into tmp */
      for (uint32_t x = 0; x < w; x++)
        tmp[(size_t)y * w + x] = tap_row(d + (size_t)y * w, w, x, kx, rx);
    for (uint32_t y = 0; y < h; y++) /* columns of tmp back, rounded once */
      for (uint32_t x = 0; x < w; x++)
        d[(size_t)y * w + x] = round_u8(tap_col(tmp + x, w, h, y, ky, ry));
  }
}

void vkl_ssl_solarize(uint8_t *img, uint32_t c, uint32_t h, uint32_t w) {
  for (size_t i = 0; i < (size_t)c * h * w; i++)
    if (img[i] >= SSL_SOLARIZE_THRESHOLD) img[i] = (uint8_t)(255 - img[i]);
}

/* ---- the whole view -------------------------------------------------- */

void vkl_augment_ssl_apply_u8(uint8_t *dst, const uint8_t *src, float *tmp, uint32_t c, uint32_t h,
                              uint32_t w, const vkl_augment_ssl_params *p) {
  if (p->crop_h == h && p->crop_w == w) /* the whole image: resizing is the identity */
    memcpy(dst, src, (size_t)c * h * w);
  else
    vkl_ssl_resized_crop(dst, src, c, h, w, p->crop_y, p->crop_x, p->crop_h, p->crop_w);
  if (p->flip) vkl_ssl_hflip(dst, c, h, w);
  if (p->jitter && (c == 3 || (c == 1 && p->grey_jitter))) jitter(dst, c, h, w, p);
  if (c == 3 && p->gray) vkl_ssl_grayscale(dst, h, w);
  if (p->blur) vkl_ssl_blur(dst, tmp, c, h, w, p->blur_sigma);
  if (p->solarize) vkl_ssl_solarize(dst, c, h, w);
}

void data_ssl_norm_lut(const vkl_augment_ssl_config *cfg, uint32_t c, float (*lut)[256]) {
  vkl_augment_config n = {.normalize = cfg->normalize};
  memcpy(n.mean, cfg->mean, sizeof n.mean);
  memcpy(n.std, cfg->std, sizeof n.std);
  data_norm_lut(&n, c, lut);
}

void vkl_augment_ssl_apply(float *dst, const uint8_t *src, uint8_t *scratch, float *tmp, uint32_t c,
                           uint32_t h, uint32_t w, const vkl_augment_ssl_config *cfg,
                           const vkl_augment_ssl_params *p) {
  float lut[VKL_AUGMENT_MAX_CHANNELS][256];
  if (c > VKL_AUGMENT_MAX_CHANNELS) return; /* vkl_augment_ssl_validate refuses it */
  vkl_augment_ssl_apply_u8(scratch, src, tmp, c, h, w, p);
  data_ssl_norm_lut(cfg, c, lut);
  data_norm_apply(dst, scratch, c, (size_t)h * w, (const float(*)[256])lut);
}
