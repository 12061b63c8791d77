/* conv2d's shared-memory tiled GEMM (shaders/conv2d_tiled.comp) under the GPU
 * geometry: the choice of output tile per layer and the dispatch. */
#include "ops/conv2d_tiled_record.h"

#include "ops/op_util.h"
#include "vk/vk_tuning.h"

#define TILE_VARIANTS 3u /* tile_m, tile_m / 2, tile_m / 4 rows */

typedef struct tile {
  uint32_t bm, bn, tm, tn;
} tile;

/* The bm x bn tile over wg invocations: tm x tn outputs each, tn up to 4 pixels (the
 * invocations of a row then cover bn / tn neighbouring pixels). 0 when it does not
 * split evenly or its shared memory exceeds the device's. */
static int tile_split(uint32_t bm, uint32_t bn, uint32_t wg, uint32_t max_shared, tile *t) {
  if (bm == 0 || (uint64_t)bm * bn % wg || (uint64_t)bm * bn / wg > 64 || wg % CONV2D_TILED_BK ||
      CONV2D_TILED_SHARED_BYTES((uint64_t)bm, bn) > max_shared)
    return 0;
  uint32_t per = bm * bn / wg, tn = 4;
  while (tn > 1 && (per % tn || bn % tn)) tn /= 2;
  uint32_t tm = per / tn;
  if (bm % tm) return 0;
  *t = (tile){bm, bn, tm, tn};
  return 1;
}

/* The largest tile whose grid fills tile_fill workgroups, moving on also while M
 * fills half a tile or less (rows past M are computed and dropped). */
static int tile_choose(const vkl_tuning *tu, uint32_t max_shared, uint32_t M, uint32_t npix,
                       uint32_t phases, tile *out) {
  int found = 0;
  for (uint32_t v = 0; v < TILE_VARIANTS; v++) {
    tile t;
    if (!tile_split(tu->tile_m >> v, tu->tile_n, tu->tile_wg, max_shared, &t)) continue;
    *out = t;
    found = 1;
    uint64_t wgs = (uint64_t)vkl_div_up(M, t.bm) * phases * vkl_div_up(npix, t.bn);
    if (wgs >= tu->tile_fill && M > t.bm / 2) break;
  }
  return found;
}

int vkl_conv2d_tiled_tile(const vkl_tuning *tu, uint32_t max_shared, uint32_t M, uint32_t npix_max,
                          uint32_t phases, uint32_t *bm, uint32_t *bn, uint32_t *tm, uint32_t *tn) {
  tile t;
  if (!tile_choose(tu, max_shared, M, npix_max, phases, &t)) return 0;
  *bm = t.bm, *bn = t.bn, *tm = t.tm, *tn = t.tn;
  return 1;
}

vkl_status vkl_conv2d_tiled_record(vkl_cmd *cmd, vkl_buf out, vkl_buf a, vkl_buf b, vkl_buf bias,
                                   const vkl_conv2d_gemm_push *push, uint32_t npix_max,
                                   uint32_t phases, int accumulate) {
  vkl_ctx *ctx = vkl_cmd_ctx(cmd);
  const vkl_tuning *tu = vkl_ctx_tuning(ctx);
  tile t;
  uint32_t max_shared = vkl_ctx_device(ctx)->max_shared_memory;
  if (!tile_choose(tu, max_shared, push->M, npix_max, phases, &t))
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "conv2d: no tile of tile_m %u (or a half or quarter of it) x tile_n %u "
                         "splits over tile_wg %u invocations in blocks of at most 64 within "
                         "%u bytes of shared memory (check VKLARS_TUNE)",
                         tu->tile_m, tu->tile_n, tu->tile_wg, max_shared);
  vkl_conv2d_tiled_spec spec = {.wg = tu->tile_wg,
                                .bm = t.bm,
                                .bn = t.bn,
                                .tm = t.tm,
                                .tn = t.tn,
                                .accumulate = accumulate ? 1u : 0u};
  const vkl_pipeline *p;
  vkl_status st = vkl_op_pipeline(cmd, VKL_SHADER_conv2d_tiled, &spec, sizeof spec, &p);
  if (st) return st;
  vkl_buf bufs[4] = {a, b, bias, out};
  return vkl_cmd_dispatch(cmd, p, bufs, 4, push, sizeof *push, vkl_div_up(push->M, t.bm) * phases,
                          vkl_div_up(npix_max, t.bn), 1);
}
