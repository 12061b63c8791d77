/* The tuning table (see vk_tuning.h): defaults per geometry, then the
 * VKLARS_TUNE overrides, then the checks against the device's limits. */
#include "vk/vk_tuning.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct field {
  const char *name;
  size_t offset;
  uint32_t min, max;
} field;

#define F(name, lo, hi) \
  { #name, offsetof(vkl_tuning, name), lo, hi }
static const field fields[] = {
    F(igemm_lx, 1, 1024),     F(igemm_tm, 1, 64),        F(igemm_tm_small, 1, 64),
    F(igemm_tn, 4, 64),       F(wgrad_lx, 1, 1024),      F(gemm_lx, 1, 1024),
    F(gemm_blocks, 1, 8),     F(tile_wg, 32, 1024),      F(tile_m, 8, 256),
    F(tile_n, 8, 256),        F(tile_fill, 1, 1 << 20),  F(reduce_wg, 16, 1024),
    F(subgroup_reduce, 0, 1), F(memory_model, 0, 1),     F(bn_interleaved, 0, 1),
    F(xent_lanes, 1, 8),      F(optim_contiguous, 0, 1),
    /* conv2d backward-weight, GPU geometry */
    F(wgrad_tile, 0, 3),
    /* matmul, GPU geometry */
    F(matmul_tile, 0, 3),
};
#undef F
enum { FIELD_COUNT = sizeof fields / sizeof fields[0] };

static uint32_t *at(vkl_tuning *t, const field *f) {
  return (uint32_t *)((char *)t + f->offset);
}

const char *vkl_geometry_str(vkl_geometry g) {
  return g == VKL_GEOMETRY_GPU ? "gpu" : "cpu";
}

int vkl_tuning_field(const vkl_tuning *t, uint32_t i, const char **name, uint32_t *value) {
  if (i >= FIELD_COUNT) return 0;
  *name = fields[i].name;
  *value = *(const uint32_t *)((const char *)t + fields[i].offset);
  return 1;
}

/* Today's lavapipe kernels, their constants measured there (see conv2d.c, matmul.c). */
static void cpu_defaults(vkl_tuning *t) {
  t->igemm_lx = 8;
  t->igemm_tm = 16;
  t->igemm_tm_small = 4;
  t->igemm_tn = 32;
  t->wgrad_lx = 8;
  t->gemm_lx = 8;
  t->gemm_blocks = 2;
  t->reduce_wg = 64;
  t->subgroup_reduce = 0;
  t->bn_interleaved = 0;
  t->xent_lanes = 1; /* a barrier costs more than a row's split saves on lavapipe */
  t->optim_contiguous = 1;
  t->pool_outputs = 16; /* 2 x 8, measured best on lavapipe */
  t->wgrad_tile = 0;    /* GPU geometry only: chosen per layer */
  t->matmul_tile = 0;   /* GPU geometry only: chosen by shape */
}

/* Hardware: a workgroup is a multiple of the largest subgroup the device may
 * run (32 NVIDIA, 64 AMD, up to 32 Intel), so no wave runs part-empty. */
static void gpu_defaults(vkl_tuning *t, const vkl_device_info *info) {
  cpu_defaults(t); /* the CPU kernels' constants stay valid where a GPU op falls back */
  t->tile_wg = 256;
  t->tile_m = 128;
  t->tile_n = 64;
  t->tile_fill = 256; /* 2 workgroups per compute unit of a large GPU (80-132 units) */
  t->reduce_wg = 256;
  t->subgroup_reduce = info->subgroup_arithmetic ? 1u : 0u;
  t->bn_interleaved = 1;
  t->xent_lanes = 8;
  t->optim_contiguous = 0;
  t->pool_outputs = 8;
}

static vkl_status refuse(char *err, size_t errlen, const char *fmt, const char *a, const char *b) {
  snprintf(err, errlen, fmt, a, b);
  return VKL_ERR_INVALID_ARGUMENT;
}

/* "name=value[,name=value...]" onto t. */
static vkl_status apply_overrides(vkl_tuning *t, const char *text, char *err, size_t errlen) {
  char buf[512];
  if (strlen(text) >= sizeof buf)
    return refuse(err, errlen, "VKLARS_TUNE=%s%s: longer than 511 characters", text, "");
  snprintf(buf, sizeof buf, "%s", text);
  for (char *item = strtok(buf, ","); item; item = strtok(NULL, ",")) {
    char *eq = strchr(item, '=');
    if (!eq) return refuse(err, errlen, "VKLARS_TUNE=%s: '%s' is not name=value", text, item);
    *eq = '\0';
    const field *f = NULL;
    for (uint32_t i = 0; i < FIELD_COUNT; i++)
      if (strcmp(fields[i].name, item) == 0) f = &fields[i];
    if (!f)
      return refuse(err, errlen,
                    "VKLARS_TUNE=%s: no tuning field '%s' ('vklars kernels' lists them)", text,
                    item);
    char *end;
    unsigned long long v = strtoull(eq + 1, &end, 10);
    if (eq[1] < '0' || eq[1] > '9' || *end || v < f->min || v > f->max) {
      snprintf(err, errlen, "VKLARS_TUNE=%s: %s=%s: want an integer in [%u, %u]", text, item,
               eq + 1, f->min, f->max);
      return VKL_ERR_INVALID_ARGUMENT;
    }
    *at(t, f) = (uint32_t)v;
  }
  return VKL_OK;
}

/* What the device cannot run, whatever asked for it. */
static vkl_status check_device(const vkl_tuning *t, const vkl_device_info *info, char *err,
                               size_t errlen) {
  const char *what = NULL;
  char detail[160] = "";
  uint32_t most = info->max_workgroup_invocations, sg = info->max_subgroup_size;
  if (t->geometry == VKL_GEOMETRY_GPU && (t->tile_wg > most || t->reduce_wg > most)) {
    what = "a workgroup over the device's limit";
    snprintf(detail, sizeof detail, "tile_wg %u, reduce_wg %u, limit %u", t->tile_wg, t->reduce_wg,
             most);
  } else if (t->geometry == VKL_GEOMETRY_GPU && sg && (t->tile_wg % sg || t->reduce_wg % sg)) {
    what = "a workgroup that is not a multiple of the largest subgroup";
    snprintf(detail, sizeof detail, "tile_wg %u, reduce_wg %u, subgroup up to %u", t->tile_wg,
             t->reduce_wg, sg);
  } else if (t->geometry == VKL_GEOMETRY_GPU &&
             (t->tile_m * t->tile_n % t->tile_wg || t->tile_m * t->tile_n / t->tile_wg > 64)) {
    what = "a tile that does not split into at most 64 outputs per invocation";
    snprintf(detail, sizeof detail, "tile_m %u x tile_n %u over %u invocations", t->tile_m,
             t->tile_n, t->tile_wg);
  } else if (t->subgroup_reduce && !info->subgroup_arithmetic) {
    what = "subgroup arithmetic, which the device lacks";
    snprintf(detail, sizeof detail, "subgroup_reduce=1");
  } else if (t->memory_model && !info->memory_model) {
    what = "the Vulkan memory model, which the device lacks";
    snprintf(detail, sizeof detail, "memory_model=1");
  }
  if (!what) return VKL_OK;
  snprintf(err, errlen, "tuning for %s asks for %s (%s): check VKLARS_TUNE and VKLARS_TUNING",
           info->name, what, detail);
  return VKL_ERR_INVALID_ARGUMENT;
}

vkl_status vkl_tuning_compute(const vkl_device_info *info, const char *family,
                              const char *overrides, vkl_tuning *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  vkl_geometry g = info->kind == VKL_DEVICE_CPU ? VKL_GEOMETRY_CPU : VKL_GEOMETRY_GPU;
  if (family && strcmp(family, "cpu") == 0) g = VKL_GEOMETRY_CPU;
  if (family && strcmp(family, "gpu") == 0) g = VKL_GEOMETRY_GPU;
  if (g == VKL_GEOMETRY_GPU)
    gpu_defaults(out, info);
  else
    cpu_defaults(out);
  out->geometry = g;
  /* Cross-workgroup reductions: acquire/release atomics where the device has
   * the memory model (one dispatch), else a second dispatch. On lavapipe the
   * second dispatch is the faster (measured: sumsq over ResNet-18's tensors
   * 6.5 ms against 7.8 ms, cross-entropy forward 4096x1000 2.10 ms against
   * 2.42 ms), so the CPU geometry takes it. */
  out->memory_model = g == VKL_GEOMETRY_GPU && info->memory_model ? 1u : 0u;
  vkl_status st = overrides && *overrides ? apply_overrides(out, overrides, err, errlen) : VKL_OK;
  return st ? st : check_device(out, info, err, errlen);
}
