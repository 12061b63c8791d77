/*
 * conv2d backward-weight for the GPU geometry (see conv2d_wgrad_gpu.h and
 * shaders/common/conv2d_wgrad_tiled.h): dw = dy (*) x as a GEMM with M = K rows,
 * R*S*C4 columns and the N*P*Q pixels as its reduction, in tiles of tile_wg
 * invocations through shared memory.
 *
 * The reduction is long and the output can be small (the 3-channel stem: one 64x64
 * tile over 65536 pixels at batch 64; 512->512 3x3 at 4x4: 288 tiles over 1024
 * pixels), so the pixels are split until the grid has tile_fill workgroups; each
 * split writes its partial sums and conv2d_wreduce_flat adds them in split order, so the
 * result does not depend on scheduling. One split writes dw directly.
 */
#include "ops/conv2d_wgrad_gpu.h"

#include "conv2d_wgrad_tiled.h"
#include "conv2d_wreduce_flat.h"
#include "fastdiv.h"
#include "ops/op_util.h"
#include "vk/vk_tuning.h"

/* Pixels per shared-memory step. */
#define WGT_BK 16u
/* Bounds on the split count, fixed so that vkl_conv2d_workspace_floats can size the
 * partials without a device: at most WGT_MAX_SPLITS splits, each at least
 * WGT_MIN_PIXELS pixels (4 steps), and no more than a grid of WGT_MAX_FILL 64x64 tiles
 * needs (twice the default tile_fill; a larger tile_fill or tile is capped there). */
#define WGT_MAX_SPLITS 512u
#define WGT_MIN_PIXELS 64u
#define WGT_MAX_FILL 512u
#define WGT_REF_TILE 64u

static uint64_t npix_of(const vkl_conv2d_shape *sh) {
  return (uint64_t)sh->N * sh->P * sh->Q;
}

static uint32_t ch_of(uint32_t n) {
  return (n + 3u) / 4u;
}

uint32_t vkl_wgt_max_splits(const vkl_conv2d_shape *sh) {
  uint64_t by_pixels = npix_of(sh) / WGT_MIN_PIXELS;
  uint64_t cols = 4ull * sh->R * sh->S * ch_of(sh->C);
  uint64_t blocks = (uint64_t)vkl_div_up(sh->K, WGT_REF_TILE) * vkl_div_up(cols, WGT_REF_TILE);
  uint64_t by_fill = (WGT_MAX_FILL + blocks - 1) / blocks;
  uint64_t most = WGT_MAX_SPLITS;
  if (by_pixels < most) most = by_pixels;
  if (by_fill < most) most = by_fill;
  return most ? (uint32_t)most : 1u;
}

/* bm x bn outputs over wg invocations: tm x tn each, at most 64, with tn = 4 (one
 * vec4 of columns) where the count allows. 0 when the tile does not split evenly. */
static int split_tile(uint32_t bm, uint32_t bn, uint32_t wg, uint32_t *tm, uint32_t *tn) {
  if (bm < 4 || bn < 4 || bm % 4 || bn % 4 || (bm * bn) % wg) return 0;
  uint32_t per = bm * bn / wg;
  if (per == 0 || per > 64) return 0;
  *tn = per >= 64 ? 8u : per >= 4 ? 4u : per;
  *tm = per / *tn;
  return per % *tn == 0 && bm % *tm == 0 && bn % *tn == 0;
}

/* Tile variant v (1..3): tile_m x tile_n, half the rows, half of both. */
static int variant(const vkl_tuning *tu, uint32_t v, vkl_wgt_plan *p) {
  p->bm = v == 1 ? tu->tile_m : tu->tile_m / 2;
  p->bn = v == 3 ? tu->tile_n / 2 : tu->tile_n;
  return split_tile(p->bm, p->bn, tu->tile_wg, &p->tm, &p->tn);
}

int vkl_wgt_usable(const vkl_tuning *tu) {
  vkl_wgt_plan p;
  if (tu->wgrad_tile) return 1; /* forced: a tile that does not fit is an error */
  for (uint32_t v = 1; v <= 3; v++)
    if (variant(tu, v, &p)) return 1;
  return 0;
}

vkl_status vkl_wgt_plan_of(vkl_cmd *cmd, const vkl_conv2d_shape *sh, int with_bias,
                           vkl_wgt_plan *out) {
  vkl_ctx *ctx = vkl_cmd_ctx(cmd);
  const vkl_tuning *tu = vkl_ctx_tuning(ctx);
  uint64_t cols = 4ull * ((uint64_t)sh->R * sh->S * ch_of(sh->C) + (with_bias ? 1 : 0));
  /* The tile with the least padded work per pixel, the larger on ties: the stem's 64
   * rows x 36 columns take 64x64 (as 64x32 would pad as much), 64 x 96 takes 64x32. */
  vkl_wgt_plan best = {0}, p = {0};
  uint64_t best_cost = UINT64_MAX;
  for (uint32_t v = 1; v <= 3; v++) {
    if (tu->wgrad_tile && v != tu->wgrad_tile) continue;
    if (!variant(tu, v, &p)) continue;
    p.nbm = vkl_div_up(sh->K, p.bm);
    p.nbn = vkl_div_up(cols, p.bn);
    uint64_t cost = (uint64_t)p.nbm * p.bm * p.nbn * p.bn;
    if (cost < best_cost) best = p, best_cost = cost;
  }
  if (best_cost == UINT64_MAX)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "conv2d backward-weight: no tile of tile_m %u x tile_n %u (wgrad_tile "
                         "%u) splits into at most 64 outputs for each of %u invocations",
                         tu->tile_m, tu->tile_n, tu->wgrad_tile, tu->tile_wg);
  uint64_t blocks = (uint64_t)best.nbm * best.nbn;
  if (blocks > 65535u)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "conv2d backward-weight: K=%u by %llu columns is %llu tiles, over the "
                         "65535 workgroups a grid row may hold",
                         sh->K, (unsigned long long)cols, (unsigned long long)blocks);
  uint64_t want = (tu->tile_fill + blocks - 1) / blocks;
  uint32_t splits = want < vkl_wgt_max_splits(sh) ? (uint32_t)want : vkl_wgt_max_splits(sh);
  uint64_t npix = npix_of(sh);
  /* equal splits of whole steps; the last must not be empty */
  uint64_t per = (npix + splits - 1) / splits;
  per = (per + WGT_BK - 1) / WGT_BK * WGT_BK;
  best.pix_per_split = (uint32_t)per;
  best.splits = (uint32_t)((npix + per - 1) / per);
  *out = best;
  return VKL_OK;
}

static vkl_status record_reduce(vkl_cmd *cmd, vkl_buf dw, const vkl_buf *dbias, vkl_buf part,
                                const vkl_conv2d_shape *sh, uint32_t splits, int accumulate) {
  const vkl_tuning *tu = vkl_ctx_tuning(vkl_cmd_ctx(cmd));
  uint32_t RS = sh->R * sh->S, ch = ch_of(sh->C);
  vkl_conv2d_wreduce_flat_spec spec = {.wg_size = tu->reduce_wg};
  const vkl_pipeline *p;
  vkl_status st = vkl_op_pipeline(cmd, VKL_SHADER_conv2d_wreduce_flat, &spec, sizeof spec, &p);
  if (st) return st;
  vkl_conv2d_wreduce_flat_push push = {
      .K = sh->K,
      .C = sh->C,
      .RS = RS,
      .ch = ch,
      .kch = ch_of(sh->K),
      .n4 = sh->K * RS * ch,
      .splits = splits,
      .bias_base4 = splits * sh->K * RS * ch,
      .accumulate = accumulate ? 1u : 0u,
      .with_bias = dbias ? 1u : 0u,
  };
  vkl_fastdiv_init(ch, &push.ch_mul, &push.ch_shr);
  vkl_fastdiv_init(RS, &push.rs_mul, &push.rs_shr);
  vkl_buf bufs[3] = {part, dw, dbias ? *dbias : dw};
  uint64_t n = (uint64_t)push.n4 + (dbias ? push.kch : 0);
  if (vkl_div_up(n, spec.wg_size) > 65535u)
    return vkl_set_error(vkl_cmd_ctx(cmd), VKL_ERR_INVALID_ARGUMENT,
                         "conv2d backward-weight: %llu partial vec4s per split, over 65535 "
                         "workgroups of %u",
                         (unsigned long long)n, spec.wg_size);
  return vkl_cmd_dispatch(cmd, p, bufs, 3, &push, sizeof push, vkl_div_up(n, spec.wg_size), 1, 1);
}

vkl_status vkl_wgt_record(vkl_cmd *cmd, vkl_buf dw, const vkl_buf *dbias, vkl_buf dyp, vkl_buf xp,
                          vkl_buf part, const vkl_conv2d_shape *sh, vkl_wgt_xgeom xg,
                          const vkl_wgt_plan *pl, int accumulate) {
  const vkl_tuning *tu = vkl_ctx_tuning(vkl_cmd_ctx(cmd));
  int direct = pl->splits == 1;
  vkl_conv2d_wgrad_tiled_spec spec = {.wg_size = tu->tile_wg,
                                      .bm = pl->bm,
                                      .bn = pl->bn,
                                      .tm = pl->tm,
                                      .tn = pl->tn,
                                      .bk = WGT_BK,
                                      .direct_out = direct ? 1u : 0u,
                                      .accumulate = direct && accumulate ? 1u : 0u};
  const vkl_pipeline *p;
  vkl_status st = vkl_op_pipeline(cmd, VKL_SHADER_conv2d_wgrad_tiled, &spec, sizeof spec, &p);
  if (st) return st;
  uint32_t PQ = sh->P * sh->Q, RS = sh->R * sh->S, ch = ch_of(sh->C);
  vkl_conv2d_wgrad_tiled_push push = {
      .K = sh->K,
      .C = sh->C,
      .kch = ch_of(sh->K),
      .ch = ch,
      .RS = RS,
      .S = sh->S,
      .Hb = xg.Hb,
      .Wb = xg.Wb,
      .stride_h = xg.stride_h,
      .stride_w = xg.stride_w,
      .P = sh->P,
      .Q = sh->Q,
      .npix = sh->N * PQ,
      .pix_per_split = pl->pix_per_split,
      .ncol4 = RS * ch,
      .with_bias = dbias ? 1u : 0u,
      .nbn = pl->nbn,
      .step_n = WGT_BK / PQ,
      .step_p = WGT_BK % PQ / sh->Q,
      .step_q = WGT_BK % sh->Q,
      .bias_base = pl->splits * sh->K * RS * 4 * ch,
  };
  vkl_buf bufs[5] = {dyp, xp, part, dw, dbias ? *dbias : dw};
  if ((st =
           vkl_cmd_dispatch(cmd, p, bufs, 5, &push, sizeof push, pl->nbm * pl->nbn, pl->splits, 1)))
    return st;
  if (direct) return VKL_OK;
  vkl_cmd_barrier(cmd); /* the partial sums before the reduction reads them (RAW) */
  return record_reduce(cmd, dw, dbias, part, sh, pl->splits, accumulate);
}
