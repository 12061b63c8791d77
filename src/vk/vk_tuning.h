/* The tuning table: every op's geometry (workgroup sizes, tiles, layouts,
 * reduction paths) for the context's device, computed once when the context
 * is created (src/vk/vk_tuning.c) and read by the ops, never recomputed.
 *
 * Two families. The CPU geometry is shaped for Mesa lavapipe and other
 * CPU implementations: 8-wide workgroups, large register blocks, few
 * barriers. The GPU geometry is shaped for hardware: workgroups of 64-256
 * invocations (a multiple of the device's largest subgroup size),
 * shared-memory tiles, coalesced layouts. The device's type picks one;
 * VKLARS_TUNING=cpu|gpu forces one, and VKLARS_TUNE=name=value,... sets
 * single fields (`vklars kernels` prints them all). The tests run the GPU
 * geometry on lavapipe this way. */
#ifndef VKLARS_VK_TUNING_H
#define VKLARS_VK_TUNING_H

#include <stddef.h>
#include <stdint.h>

#include "vklars/vklars.h"

typedef enum vkl_geometry { VKL_GEOMETRY_CPU = 0, VKL_GEOMETRY_GPU = 1 } vkl_geometry;

typedef struct vkl_tuning {
  vkl_geometry geometry;
  /* ---- conv2d and matmul, CPU geometry (register-blocked kernels) ---- */
  uint32_t igemm_lx, igemm_tm, igemm_tm_small, igemm_tn; /* conv2d_igemm */
  uint32_t wgrad_lx;                                     /* conv2d_wgrad */
  uint32_t gemm_lx, gemm_blocks;                         /* matmul_gemm */
  /* ---- conv2d and matmul, GPU geometry (shared-memory tiled kernels) ---- */
  uint32_t tile_wg;        /* invocations per workgroup */
  uint32_t tile_m, tile_n; /* the largest output tile, rows x columns */
  uint32_t tile_fill;      /* workgroups a grid should have before a smaller tile or split-K */
  /* ---- reductions ---- */
  uint32_t reduce_wg;       /* invocations of a reducing workgroup */
  uint32_t subgroup_reduce; /* 1: subgroup arithmetic within a workgroup, 0: shared memory */
  uint32_t memory_model;    /* 1: across workgroups with acquire/release atomics, 0: a second
                               dispatch */
  /* ---- layouts ---- */
  uint32_t bn_interleaved;   /* batch norm: 1 interleaved (coalesced), 0 segmented/fused */
  uint32_t xent_lanes;       /* softmax cross-entropy invocations per row (rows >= 64 wide) */
  uint32_t optim_contiguous; /* optimizer runs walked by small groups (1) or coalesced (0) */
  uint32_t pool_outputs;     /* pooling forward: most outputs per invocation */
  /* ---- conv2d backward-weight, GPU geometry ---- */
  uint32_t wgrad_tile; /* conv2d_wgrad_tiled's tile: 0 chosen per layer; 1 tile_m x tile_n,
                          2 tile_m/2 x tile_n, 3 tile_m/2 x tile_n/2 (forced, for tests) */
  /* ---- matmul, GPU geometry ---- */
  uint32_t matmul_tile; /* 0: tile chosen by shape; 1, 2, 3: always the large (tile_m x
                           tile_n), medium (tile_m/2 x tile_n) or small (16x16) tile */
} vkl_tuning;

/* The table for a device under the VKLARS_TUNING / VKLARS_TUNE settings
 * ("" when unset). VKL_ERR_INVALID_ARGUMENT with the setting named in err
 * when a setting is malformed, names no field, or is impossible on the
 * device (a workgroup over its limit, subgroup arithmetic it lacks). */
vkl_status vkl_tuning_compute(const vkl_device_info *info, const char *family,
                              const char *overrides, vkl_tuning *out, char *err, size_t errlen);

/* The table's fields, for printing: name and value of field i, 0 past the end. */
int vkl_tuning_field(const vkl_tuning *t, uint32_t i, const char **name, uint32_t *value);
const char *vkl_geometry_str(vkl_geometry g);

#endif
