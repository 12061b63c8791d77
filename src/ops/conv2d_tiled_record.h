/* Private to src/ops/conv2d*.c: the recording of conv2d_tiled.comp, the
 * GEMM of conv2d forward and backward-data under the GPU geometry. */
#ifndef VKLARS_OPS_CONV2D_TILED_RECORD_H
#define VKLARS_OPS_CONV2D_TILED_RECORD_H

#include "conv2d_tiled.h"
#include "vk/vk.h"
#include "vk/vk_tuning.h"

/* out (+)= the implicit GEMM of packed a and packed b (see conv2d_tiled.h), over
 * `phases` stride phases whose largest has npix_max pixels. Picks the output tile
 * from the tuning table's tile_m x tile_n, tile_m/2 x tile_n and tile_m/4 x tile_n
 * (those that split over tile_wg and fit the device's shared memory): the largest
 * whose grid has tile_fill workgroups (and whose rows M fills more than half), else
 * the smallest. No barrier of its own. */
vkl_status vkl_conv2d_tiled_record(vkl_cmd *cmd, vkl_buf out, vkl_buf a, vkl_buf b, vkl_buf bias,
                                   const vkl_conv2d_gemm_push *push, uint32_t npix_max,
                                   uint32_t phases, int accumulate);

/* The tile vkl_conv2d_tiled_record picks for M rows and npix_max pixels a phase on a
 * device of max_shared bytes of shared memory (bm rows x bn pixels, tm x tn per
 * invocation); 0 when none of the table's tiles splits over tile_wg invocations or
 * fits. */
int vkl_conv2d_tiled_tile(const vkl_tuning *tu, uint32_t max_shared, uint32_t M, uint32_t npix_max,
                          uint32_t phases, uint32_t *bm, uint32_t *bn, uint32_t *tm, uint32_t *tn);

#endif
