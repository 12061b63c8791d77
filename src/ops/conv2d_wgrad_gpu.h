/* conv2d backward-weight for the GPU geometry (private to src/ops/conv2d*.c):
 * the shared-memory tiled GEMM of shaders/conv2d_wgrad_tiled.comp over the
 * packed operands, split over the pixel reduction until the grid fills the
 * device, then the splits summed in a fixed order by conv2d_wreduce_flat.comp. */
#ifndef VKLARS_OPS_CONV2D_WGRAD_GPU_H
#define VKLARS_OPS_CONV2D_WGRAD_GPU_H

#include "ops/conv2d.h"
#include "vk/vk_tuning.h"

/* The most splits the GPU path takes for a shape, from fixed constants only (the
 * workspace is sized without a device): see conv2d_wgrad_gpu.c. */
uint32_t vkl_wgt_max_splits(const vkl_conv2d_shape *sh);

/* x as packed for the GEMM: its size with the border (or folded) and its walk. */
typedef struct vkl_wgt_xgeom {
  uint32_t Hb, Wb, stride_h, stride_w;
} vkl_wgt_xgeom;

/* Whether the tuning gives conv2d_wgrad_tiled a tile (tile_m, tile_n and tile_wg set
 * for other kernels may not split over it); where not, backward-weight runs the CPU
 * geometry's kernel. 1 whenever wgrad_tile forces a tile. */
int vkl_wgt_usable(const vkl_tuning *tu);

/* One layer's plan: the tile, its grid and the split of the pixels. */
typedef struct vkl_wgt_plan {
  uint32_t bm, bn, tm, tn; /* tile, and the block of one invocation */
  uint32_t nbm, nbn;       /* tiles along k and along the columns */
  uint32_t splits, pix_per_split;
} vkl_wgt_plan;

/* The plan for sh under cmd's tuning. VKL_ERR_INVALID_ARGUMENT when a forced tile
 * (wgrad_tile) cannot be split over tile_wg invocations. */
vkl_status vkl_wgt_plan_of(vkl_cmd *cmd, const vkl_conv2d_shape *sh, int with_bias,
                           vkl_wgt_plan *out);

/* Records the GEMM (and the reduction when pl->splits > 1) over dyp, (N*P*Q, K/4)
 * vec4s, and xp, packed as xg says. part holds pl->splits * (K*R*S*C4 + K4) floats
 * when pl->splits > 1. No barrier before the GEMM: the caller's. */
vkl_status vkl_wgt_record(vkl_cmd *cmd, vkl_buf dw, const vkl_buf *dbias, vkl_buf dyp, vkl_buf xp,
                          vkl_buf part, const vkl_conv2d_shape *sh, vkl_wgt_xgeom xg,
                          const vkl_wgt_plan *pl, int accumulate);

#endif
