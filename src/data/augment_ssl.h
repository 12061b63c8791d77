/* Barlow Twins' augmentation of one view, on uint8 (C,H,W) images, then
 * normalization to float (C,H,W) of the same H and W.
 *
 * Barlow Twins (Zbontar et al. 2021, facebookresearch/barlowtwins) trains
 * on two views of each image, each made by torchvision's
 *   RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3))
 *   -> RandomHorizontalFlip(0.5)
 *   -> RandomApply(ColorJitter(0.4, 0.4, 0.2, 0.1), p=0.8)
 *   -> RandomGrayscale(0.2) -> GaussianBlur(p_blur) -> Solarization(p_solarize)
 *   -> ToTensor -> Normalize(mean, std)
 * with p_blur = 1, p_solarize = 0 for view 0 and p_blur = 0.1,
 * p_solarize = 0.2 for view 1. Here, in that order, on x in 0..255:
 *
 *  1. crop: a box (i, j, h, w) (top, left, height, width) of the H x W
 *     image. Up to 10 tries: area fraction s ~ U[scale0, scale1], aspect
 *     r = w/h = exp(U[log ratio0, log ratio1]), w = rint(sqrt(s H W r)),
 *     h = rint(sqrt(s H W / r)) (rint: half to even, as Python's round);
 *     the first try with 0 < w <= W and 0 < h <= H wins, with i ~ U{0..H-h},
 *     j ~ U{0..W-w}. If none does, the centre crop of the whole image
 *     narrowed to the nearest allowed aspect (torchvision's fallback).
 *     The box is resized back to H x W bilinearly with half-pixel centres
 *     (source y = (y + 1/2) h / H - 1/2, clamped to the box), one pass in
 *     float, rounded to nearest. The box is never larger than the image, so
 *     this only enlarges and needs no antialiasing; the full box is the
 *     identity.
 *  2. flip: mirror left-right.
 *  3. colour jitter, its four adjustments in a random order (a permutation
 *     drawn per sample, as torchvision's), each rounded back to uint8:
 *       brightness b ~ U[max(0, 1-B), 1+B]: x' = b x;
 *       contrast c ~ U[max(0, 1-C), 1+C]: x' = m + c (x - m), m the mean of
 *         the image's grey values rounded to an integer;
 *       saturation s ~ U[max(0, 1-S), 1+S]: x' = g + s (x - g), g the
 *         pixel's grey value;
 *       hue shift d ~ U[-Hu, Hu]: to HSV (h in [0,1)), h' = (h + d) mod 1,
 *         back to RGB.
 *  4. grayscale: g = 0.299 R + 0.587 G + 0.114 B (ITU-R 601-2 luma) in
 *     PIL's 16-bit fixed point, (19595 R + 38470 G + 7471 B + 2^15) >> 16,
 *     written to all three channels; step 3's grey values are the same g.
 *  5. Gaussian blur with sigma ~ U[sigma0, sigma1]: a separable kernel of
 *     2 r + 1 taps per axis, r = max(1, floor(side / 20)) (about a tenth of
 *     the side: 23 taps at 224 px, 3 at 28 or 32 px; r at most 255), weights
 *     exp(-t^2 / (2 sigma^2)) normalized to sum 1, reflect padding (the
 *     edge pixel is not repeated), in float, rounded to nearest once.
 *  6. solarize: x' = 255 - x where x >= 128.
 *  7. out[c] = (x/255 - mean[c]) / std[c]; without normalize, x/255.
 * Each random step happens with its probability (u < p for u ~ U[0,1), so
 * p = 0 never and p = 1 always). A zero config is the identity then x/255.
 *
 * Rounding back to uint8 (PIL keeps uint8 images between steps, and so do
 * we): the three blends of step 3 compute t = a + f (x - a) in float and
 * truncate it, clipped to 0..255, exactly as PIL's Image.blend (which
 * ImageEnhance, used by torchvision on PIL images, calls); factor 1 is
 * therefore the identity. The resize, the hue step and the blur round to
 * nearest.
 *
 * Where we differ from torchvision on PIL images, and why:
 *  - bilinear, not the bicubic the official code asks for at 224 px: our
 *    images are small (28 to 64 px), bilinear is simpler, and it cannot
 *    ring past the input's range, so nothing needs clamping. PIL also
 *    rounds between its horizontal and vertical passes; we round once.
 *  - hue: in float HSV with the exact shift, rounded once. PIL stores H and
 *    S in 8 bits and shifts by trunc(255 d)/255, so even d = 0 changes some
 *    pixels; torchvision's tensor path truncates. Ours gives d = 0 = identity.
 *  - the official main.py blurs with PIL's ImageFilter.GaussianBlur(sigma)
 *    (box-filter passes); we use torchvision's GaussianBlur form, whose
 *    23 px kernel at 224 px most reimplementations copy, scaled to the side.
 *  - colour steps (3 and 4) act on 3-channel images only: on 1 channel
 *    (MNIST, Fashion-MNIST) and any other count they do nothing, although
 *    torchvision would still apply brightness and contrast to a grey PIL
 *    image. grey_jitter does as torchvision: brightness and contrast on 1
 *    channel (contrast's mean is the image's own), saturation, hue and
 *    grayscale still nothing. Their random values are drawn either way.
 *  - random numbers come from counter-based streams, not torch's generator:
 *    the same distributions, not the same numbers.
 *
 * Randomness: vkl_augment_ssl_draw derives every value of a view from
 * (seed, epoch, dataset index, view) alone, like vkl_augment_draw, so views
 * do not depend on threads or order, and the two views of a sample come
 * from different streams. */
#ifndef VKLARS_DATA_AUGMENT_SSL_H
#define VKLARS_DATA_AUGMENT_SSL_H

#include <stddef.h>
#include <stdint.h>

#include "data/augment.h"
#include "vklars/status.h"

/* The colour jitter's adjustments, as jitter_order names them. */
enum { VKL_SSL_BRIGHTNESS = 0, VKL_SSL_CONTRAST, VKL_SSL_SATURATION, VKL_SSL_HUE };

/* One view's augmentation. Zero-initialised: every step off, x/255. */
typedef struct vkl_augment_ssl_config {
  int crop;            /* RandomResizedCrop; off: the box is the whole image */
  float crop_scale[2]; /* area fraction range (0.08, 1) */
  float crop_ratio[2]; /* aspect w/h range (3/4, 4/3) */
  float p_flip;        /* 0.5 */
  float p_jitter;      /* 0.8 */
  float brightness;    /* B: factor U[max(0,1-B), 1+B] (0.4) */
  float contrast;      /* C (0.4) */
  float saturation;    /* S (0.2) */
  float hue;           /* Hu: shift U[-Hu, Hu], at most 0.5 (0.1) */
  float p_gray;        /* 0.2 */
  int grey_jitter;     /* brightness and contrast on 1-channel images too (0) */
  float p_blur;        /* view 0: 1, view 1: 0.1 */
  float blur_sigma[2]; /* (0.1, 2) */
  float p_solarize;    /* view 0: 0, view 1: 0.2 */
  int normalize;       /* per-channel mean and std, in [0,1] pixel units */
  float mean[VKL_AUGMENT_MAX_CHANNELS], std[VKL_AUGMENT_MAX_CHANNELS];
} vkl_augment_ssl_config;

/* The random values of one view of one sample. */
typedef struct vkl_augment_ssl_params {
  uint32_t crop_y, crop_x, crop_h, crop_w; /* the box (i, j, h, w) */
  uint32_t crop_try;                       /* the try that fitted, 1..10; 0: fallback or crop off */
  float crop_scale;                        /* the last try's area fraction and aspect */
  float crop_ratio;
  int flip;
  int jitter;                                  /* colour jitter applied */
  int grey_jitter;                             /* ... to 1-channel images too */
  uint8_t jitter_order[4];                     /* a permutation of VKL_SSL_BRIGHTNESS.. */
  float brightness, contrast, saturation, hue; /* factors; 1, 1, 1, 0: none */
  int gray;
  int blur;
  float blur_sigma;
  int solarize;
} vkl_augment_ssl_params;

/* The official config of view 0 or 1 (any other value: view 1's), with
 * the data set's normalization (vkl_norm_defaults; ImageNet's for unknown
 * names, as vkl_augment_eval). */
vkl_augment_ssl_config vkl_augment_ssl_barlow(const char *dataset, uint32_t view);

/* Checks cfg for images of c channels; the message names the field. */
vkl_status vkl_augment_ssl_validate(const vkl_augment_ssl_config *cfg, uint32_t c, char *err,
                                    size_t errlen);

/* The random values of view `view` of dataset image `index` (h x w) in
 * `epoch`. Every value is drawn whatever the switches, the crop's tries
 * last, so switching one step off leaves the others' values unchanged. */
void vkl_augment_ssl_draw(const vkl_augment_ssl_config *cfg, uint32_t h, uint32_t w, uint64_t seed,
                          uint64_t epoch, uint64_t index, uint32_t view, vkl_augment_ssl_params *p);

/* ---- the steps, each alone; images are (C,H,W) uint8 ---------------- */

/* Step 1: the box (y0, x0, bh, bw) of src resized to h x w into dst. */
void vkl_ssl_resized_crop(uint8_t *dst /* (C,H,W) */, const uint8_t *src /* (C,H,W) */, uint32_t c,
                          uint32_t h, uint32_t w, uint32_t y0, uint32_t x0, uint32_t bh,
                          uint32_t bw);
/* Step 2, in place. */
void vkl_ssl_hflip(uint8_t *img /* (C,H,W) */, uint32_t c, uint32_t h, uint32_t w);
/* Step 3's adjustments and step 4, in place; brightness and contrast also
 * on 1 channel, the others on 3. */
void vkl_ssl_brightness(uint8_t *img /* (C,H,W) */, uint32_t c, uint32_t h, uint32_t w,
                        float factor);
void vkl_ssl_contrast(uint8_t *img /* (C,H,W), C 1 or 3 */, uint32_t c, uint32_t h, uint32_t w,
                      float factor);
void vkl_ssl_saturation(uint8_t *img /* (3,H,W) */, uint32_t h, uint32_t w, float factor);
void vkl_ssl_hue(uint8_t *img /* (3,H,W) */, uint32_t h, uint32_t w, float shift);
void vkl_ssl_grayscale(uint8_t *img /* (3,H,W) */, uint32_t h, uint32_t w);
/* The grey value of one pixel (step 4's formula). */
uint8_t vkl_ssl_luma(uint8_t r, uint8_t g, uint8_t b);
/* Step 5, in place; tmp holds h*w floats. */
void vkl_ssl_blur(uint8_t *img /* (C,H,W) */, float *tmp /* (H,W) */, uint32_t c, uint32_t h,
                  uint32_t w, float sigma);
/* Step 5's kernel radius for a side of n pixels. */
uint32_t vkl_ssl_blur_radius(uint32_t n);
/* Step 6, in place. */
void vkl_ssl_solarize(uint8_t *img /* (C,H,W) */, uint32_t c, uint32_t h, uint32_t w);

/* Steps 1-6 of src into dst (uint8, before normalization); dst and src
 * must not overlap; tmp holds h*w floats. */
void vkl_augment_ssl_apply_u8(uint8_t *dst /* (C,H,W) */, const uint8_t *src /* (C,H,W) */,
                              float *tmp /* (H,W) */, uint32_t c, uint32_t h, uint32_t w,
                              const vkl_augment_ssl_params *p);

/* Steps 1-7: the normalized float view. scratch holds c*h*w bytes, tmp
 * h*w floats. */
void vkl_augment_ssl_apply(float *dst /* (C,H,W) */, const uint8_t *src /* (C,H,W) */,
                           uint8_t *scratch /* (C,H,W) */, float *tmp /* (H,W) */, uint32_t c,
                           uint32_t h, uint32_t w, const vkl_augment_ssl_config *cfg,
                           const vkl_augment_ssl_params *p);

#endif
