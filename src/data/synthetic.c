/* Synthetic data: learnable, deterministic images for benchmarks and tests.
 *
 * Class k's template is, per channel c,
 *   T_k[c](y,x) = 128 + 100 * tint_k[c] * (sin(2 pi (f1 . (x,y)/W) + p1) + sin(...f2, p2)) / 2
 * with two random plane waves (1 to 4 cycles across the image, random
 * orientation and phase) and a tint in [-1,1] per channel, all drawn from
 * (seed, k). Sample i has label i mod classes and pixels
 *   clamp(T_label + u_i, 0, 255),  u uniform in [-noise, noise],
 * drawn from (seed, split, i): a linear classifier separates the classes, a
 * network does better as the noise grows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

#define PI 3.14159265358979323846

vkl_status vkl_dataset_synthetic(const vkl_synthetic_config *cfg, vkl_dataset **out, char *err,
                                 size_t errlen) {
  *out = NULL;
  uint32_t c = cfg->channels, h = cfg->height, w = cfg->width, k = cfg->classes;
  uint32_t noise = cfg->noise ? cfg->noise : 48;
  if (!cfg->count || !c || !h || !w || !k || c > 4 || h > 4096 || w > 4096 || noise > 255)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT,
                    "synthetic: %llu images of %ux%ux%u with %u classes, noise %u (need count, "
                    "classes >= 1; channels 1..4; sides 1..4096; noise <= 255)",
                    (unsigned long long)cfg->count, c, h, w, k, noise);
  char name[64];
  snprintf(name, sizeof name, "synthetic/%s", cfg->split == VKL_SPLIT_TRAIN ? "train" : "test");
  vkl_dataset *ds = data_new(name, "synthetic");
  if (!ds)
    return data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "synthetic: out of host memory");
  size_t chw = (size_t)c * h * w;
  uint8_t *tmpl = NULL;
  vkl_status st = data_alloc(ds, cfg->count, c, h, w, 1, err, errlen);
  if (st) goto fail;
  if (k > SIZE_MAX / chw || !(tmpl = malloc((size_t)k * chw))) {
    st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY,
                  "synthetic: out of host memory for %u "
                  "class templates",
                  k);
    goto fail;
  }
  ds->info.classes = k;
  for (uint32_t cls = 0; cls < k; cls++) {
    data_rng r = data_rng_key(cfg->seed, DATA_RNG_SYNTH_CLASS, cls, 0);
    double fx[2], fy[2], ph[2], tint[4];
    for (int j = 0; j < 2; j++) {
      double ang = 2 * PI * data_rng_unit(&r), f = 1 + 3 * data_rng_unit(&r);
      fx[j] = f * cos(ang);
      fy[j] = f * sin(ang);
      ph[j] = 2 * PI * data_rng_unit(&r);
    }
    for (uint32_t ch = 0; ch < c; ch++) tint[ch] = 2 * data_rng_unit(&r) - 1;
    for (uint32_t ch = 0; ch < c; ch++)
      for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
          double u = (double)x / w, v = (double)y / h;
          double s = 0.5 * (sin(2 * PI * (fx[0] * u + fy[0] * v) + ph[0]) +
                            sin(2 * PI * (fx[1] * u + fy[1] * v) + ph[1]));
          double t = 128 + 100 * tint[ch] * s;
          tmpl[(size_t)cls * chw + ((size_t)ch * h + y) * w + x] = (uint8_t)lrint(t);
        }
  }
  const int span = 2 * (int)noise + 1;
  for (uint64_t i = 0; i < cfg->count; i++) {
    uint32_t label = (uint32_t)(i % k);
    ds->labels[i] = label;
    data_rng r = data_rng_key(cfg->seed, DATA_RNG_SYNTH_SAMPLE, cfg->split, i);
    const uint8_t *t = tmpl + (size_t)label * chw;
    uint8_t *px = ds->pixels + i * chw;
    uint64_t bits = 0;
    for (size_t p = 0; p < chw; p++) {
      if ((p & 3) == 0) bits = data_rng_next(&r);
      int u = (int)(((bits & 0xffff) * (uint64_t)span) >> 16) - (int)noise;
      bits >>= 16;
      int v = t[p] + u;
      px[p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
  free(tmpl);
  *out = ds;
  return VKL_OK;
fail:
  free(tmpl);
  vkl_dataset_destroy(ds);
  return st;
}
