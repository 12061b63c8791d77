/*
 * Matrix product, C (rows,cols) = op(A) (rows,inner) op(B) (inner,cols) + bias: the double
 * reference, then the recording of its kernels: every product, forward and gradients, through
 * shaders/matmul_gemm.comp on the CPU geometry and shaders/matmul_tiled.comp on the GPU one;
 * the bias gradient through shaders/matmul_colsum.comp (CPU) or matmul_colsum_tree.comp (GPU).
 * See matmul.h for the stored layouts of transposed operands.
 */
#include "ops/matmul.h"

#include <stddef.h>

#include "matmul_colsum.h"
#include "matmul_colsum_tree.h"
#include "matmul_gemm.h"
#include "matmul_tiled.h"
#include "ops/op_util.h"
#include "vk/vk_tuning.h"

/* Offset of op(A)[i][k] in A's stored layout. */
static size_t a_at(const vkl_matmul_shape *sh, uint32_t i, uint32_t k) {
  return sh->trans_a ? (size_t)k * sh->rows + i : (size_t)i * sh->inner + k;
}

/* Offset of op(B)[k][j] in B's stored layout. */
static size_t b_at(const vkl_matmul_shape *sh, uint32_t k, uint32_t j) {
  return sh->trans_b ? (size_t)j * sh->inner + k : (size_t)k * sh->cols + j;
}

static void store(double *dst, double v, int accumulate) {
  *dst = accumulate ? *dst + v : v;
}

void vkl_matmul_forward_ref(double *c, const double *a, const double *b, const double *bias,
                            const vkl_matmul_shape *sh) {
  for (uint32_t i = 0; i < sh->rows; i++)
    for (uint32_t j = 0; j < sh->cols; j++) {
      double acc = bias ? bias[j] : 0.0;
      for (uint32_t k = 0; k < sh->inner; k++) acc += a[a_at(sh, i, k)] * b[b_at(sh, k, j)];
      c[(size_t)i * sh->cols + j] = acc;
    }
}

/* Derivative terms, with dC = dL/dC:
 *   1. d op(A) = dC op(B)^T      (rows,inner)
 *   2. d op(B) = op(A)^T dC      (inner,cols)
 *   3. dbias[j] = sum_i dC[i][j] (bias is broadcast over rows)
 * Terms 1 and 2 are written through a_at/b_at, which transposes them back into the
 * operand's stored layout. */
void vkl_matmul_backward_ref(double *da, double *db, double *dbias, const double *dc,
                             const double *a, const double *b, const vkl_matmul_shape *sh,
                             int accumulate) {
  const uint32_t R = sh->rows, Co = sh->cols, I = sh->inner;

  for (uint32_t i = 0; da && i < R; i++)
    for (uint32_t k = 0; k < I; k++) {
      double acc = 0.0;
      for (uint32_t j = 0; j < Co; j++) acc += dc[(size_t)i * Co + j] * b[b_at(sh, k, j)];
      store(&da[a_at(sh, i, k)], acc, accumulate);
    }
  for (uint32_t k = 0; db && k < I; k++)
    for (uint32_t j = 0; j < Co; j++) {
      double acc = 0.0;
      for (uint32_t i = 0; i < R; i++) acc += a[a_at(sh, i, k)] * dc[(size_t)i * Co + j];
      store(&db[b_at(sh, k, j)], acc, accumulate);
    }
  for (uint32_t j = 0; dbias && j < Co; j++) {
    double acc = 0.0;
    for (uint32_t i = 0; i < R; i++) acc += dc[(size_t)i * Co + j];
    store(&dbias[j], acc, accumulate);
  }
}

/* ---- device recording ---- */

/* c (+)= op(A) op(B) (+ bias) through either kernel (the same push constants and
 * bindings), gx x gy workgroups. */
static vkl_status dispatch_product(vkl_cmd *cmd, const vkl_pipeline *p, vkl_buf c, vkl_buf a,
                                   vkl_buf b, const vkl_buf *bias, const vkl_matmul_shape *sh,
                                   int accumulate, uint32_t gx, uint32_t gy) {
  vkl_matmul_push push = {
      .rows = sh->rows,
      .cols = sh->cols,
      .inner = sh->inner,
      .has_bias = bias ? 1u : 0u,
      .accumulate = accumulate ? 1u : 0u,
  };
  /* without a bias, binding 2 gets A as a placeholder that is never read */
  vkl_buf bufs[4] = {a, b, bias ? *bias : a, c};
  return vkl_cmd_dispatch(cmd, p, bufs, 4, &push, sizeof push, gx, gy, 1);
}

/* CPU geometry, from the tuning table: each invocation owns gemm_blocks x gemm_blocks
 * blocks of 4x4 outputs, a workgroup gemm_lx x gemm_lx invocations; on the CPU geometry
 * 2 x 2 blocks (8x8 outputs) of 8 x 8 invocations (a 64x64 tile of C). Measured on
 * lavapipe at 1024^3: 4x4 blocks run about 10% faster than 2x2 but take ~2.5 s instead of
 * ~0.3 s to compile per variant (four transposes times the vec4 flags), and 1x1 blocks halve
 * the 64x512 -> 10 fc layer's time (0.17 ms vs 0.32 ms) but run 3x slower on large products.
 * 8x8 outputs per invocation is also a common register budget on GPUs. */
#define COLSUM_WG 64

/* CPU geometry: records c (+)= op(A) op(B) (+ bias) through matmul_gemm. */
static vkl_status record_gemm_cpu(vkl_cmd *cmd, vkl_buf c, vkl_buf a, vkl_buf b,
                                  const vkl_buf *bias, const vkl_matmul_shape *sh, int accumulate) {
  const vkl_tuning *tu = vkl_ctx_tuning(vkl_cmd_ctx(cmd));
  uint32_t tile = 4 * tu->gemm_lx * tu->gemm_blocks;
  vkl_matmul_gemm_spec spec = {
      .wg_x = tu->gemm_lx,
      .wg_y = tu->gemm_lx,
      .block_m = tu->gemm_blocks,
      .block_n = tu->gemm_blocks,
      .trans_a = sh->trans_a ? 1u : 0u,
      .trans_b = sh->trans_b ? 1u : 0u,
      /* whole vec4s along each operand's contiguous dimension (see matmul_gemm.h) */
      .vec_a = (sh->trans_a ? sh->rows : sh->inner) % 4 == 0,
      .vec_b = (sh->trans_b ? sh->inner : sh->cols) % 4 == 0,
  };
  const vkl_pipeline *p;
  vkl_status st = vkl_op_pipeline(cmd, VKL_SHADER_matmul_gemm, &spec, sizeof spec, &p);
  if (st) return st;
  return dispatch_product(cmd, p, c, a, b, bias, sh, accumulate, vkl_div_up(sh->cols, tile),
                          vkl_div_up(sh->rows, tile));
}

/* ---- GPU geometry: shared-memory tiles (matmul_tiled.comp) ----
 *
 * Three tiles, each split over tile_wg invocations: large (tile_m x tile_n, 128x64 by default,
 * 8x4 outputs per invocation), medium (tile_m/2 x tile_n, 4x4) and small (16x16, one output
 * per invocation at 256 invocations) for thin and small products such as the fc layer
 * (batch x 512 -> 10: 4 workgroups at batch 64 where the large tile makes one; its weight
 * gradient, 10 x 512 over the batch: 32). No split-K: the op has no workspace. */
enum { TILE_AUTO, TILE_LARGE, TILE_MEDIUM, TILE_SMALL, TILE_KINDS };

typedef struct mm_tile {
  uint32_t bm, bn, tm, tn;
} mm_tile;

/* Splits a bm x bn tile over wg invocations, tm x tn outputs each: tm divides bm, tn divides
 * bn, tm*tn <= 64, and tm + tn (the shared reads per k) smallest, the taller block on ties.
 * 0 when the tile cannot split so. */
static int tile_split(uint32_t wg, uint32_t bm, uint32_t bn, mm_tile *t) {
  if (!bm || !bn || (uint64_t)bm * bn % wg || (uint64_t)bm * bn / wg > 64) return 0;
  uint32_t per = bm * bn / wg, best = 0;
  for (uint32_t tm = per; tm >= 1; tm--) {
    uint32_t tn = per / tm;
    if (per % tm || bm % tm || bn % tn) continue;
    if (!best || tm + tn < best) *t = (mm_tile){bm, bn, tm, tn}, best = tm + tn;
  }
  return best != 0;
}

/* Tile `kind` under the table, if it splits and its two slices fit the device's shared
 * memory (matmul_tiled.comp pads each slice row by 4 floats). */
static int tile_of(const vkl_ctx *ctx, int kind, mm_tile *t) {
  const vkl_tuning *tu = vkl_ctx_tuning(ctx);
  int ok = kind == TILE_LARGE    ? tile_split(tu->tile_wg, tu->tile_m, tu->tile_n, t)
           : kind == TILE_MEDIUM ? tile_split(tu->tile_wg, tu->tile_m / 2, tu->tile_n, t)
                                 : tile_split(tu->tile_wg, 16, 16, t);
  return ok &&
         4ull * MATMUL_TILED_BK * (t->bm + 4 + t->bn + 4) <= vkl_ctx_device(ctx)->max_shared_memory;
}

/* The tile for a rows x cols product, by a small cost model. tile_fill asks for two
 * workgroups per compute unit, so the device is taken as tile_fill / 2 units, each running
 * one workgroup at a time: a grid takes ceil(grid / units) rounds. A workgroup's time is
 * taken as its outputs times the shared-memory words each of its FMAs reads,
 * (tm + tn) / (tm tn), which bounds a GPU's tiled GEMM (the large tile reads 0.375 words per
 * FMA, the medium 0.5, the small 2). The cheapest total wins, the larger tile on ties: large
 * products fill rounds with large tiles; thin or small ones, where a few large tiles would
 * leave most units idle, take smaller tiles. */
static vkl_status choose_tile(vkl_cmd *cmd, uint32_t rows, uint32_t cols, mm_tile *out) {
  vkl_ctx *ctx = vkl_cmd_ctx(cmd);
  const vkl_tuning *tu = vkl_ctx_tuning(ctx);
  uint64_t units = tu->tile_fill / 2 ? tu->tile_fill / 2 : 1;
  double best = 0;
  for (int kind = TILE_LARGE; kind < TILE_KINDS; kind++) {
    mm_tile t = {0};
    if ((tu->matmul_tile != TILE_AUTO && kind != (int)tu->matmul_tile) || !tile_of(ctx, kind, &t))
      continue;
    uint64_t grid = (uint64_t)vkl_div_up(rows, t.bm) * vkl_div_up(cols, t.bn);
    double cost =
        (double)((grid + units - 1) / units) * t.bm * t.bn * (t.tm + t.tn) / (t.tm * t.tn);
    if (!best || cost < best) *out = t, best = cost;
  }
  if (best) return VKL_OK;
  return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                       "matmul: no tile (matmul_tile %u) splits over tile_wg %u invocations with "
                       "at most 64 outputs each and fits %u bytes of shared memory",
                       tu->matmul_tile, tu->tile_wg, vkl_ctx_device(ctx)->max_shared_memory);
}

static vkl_status record_gemm_gpu(vkl_cmd *cmd, vkl_buf c, vkl_buf a, vkl_buf b,
                                  const vkl_buf *bias, const vkl_matmul_shape *sh, int accumulate) {
  const vkl_tuning *tu = vkl_ctx_tuning(vkl_cmd_ctx(cmd));
  mm_tile t = {0};
  vkl_status st = choose_tile(cmd, sh->rows, sh->cols, &t);
  if (st) return st;
  /* vec4 loads along an operand's contiguous dimension (see matmul_tiled.h), which for a
   * dimension along the tile needs the tile's side to be whole vec4s too */
  int va = sh->trans_a ? sh->rows % 4 == 0 && t.bm % 4 == 0 : sh->inner % 4 == 0;
  int vb = sh->trans_b ? sh->inner % 4 == 0 : sh->cols % 4 == 0 && t.bn % 4 == 0;
  vkl_matmul_tiled_spec spec = {
      .wg = tu->tile_wg,
      .bm = t.bm,
      .bn = t.bn,
      .tm = t.tm,
      .tn = t.tn,
      .trans_a = sh->trans_a ? 1u : 0u,
      .trans_b = sh->trans_b ? 1u : 0u,
      .vec_a = va ? 1u : 0u,
      .vec_b = vb ? 1u : 0u,
      .vec_c = sh->cols % 4 == 0 && t.tn % 4 == 0,
  };
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_matmul_tiled, &spec, sizeof spec, &p))) return st;
  return dispatch_product(cmd, p, c, a, b, bias, sh, accumulate, vkl_div_up(sh->cols, t.bn),
                          vkl_div_up(sh->rows, t.bm));
}

/* Records c (+)= op(A) op(B) (+ bias) for shape sh, without a barrier or checks: the one
 * kernel behind the forward and both operand gradients, per the context's geometry. */
static vkl_status record_gemm(vkl_cmd *cmd, vkl_buf c, vkl_buf a, vkl_buf b, const vkl_buf *bias,
                              const vkl_matmul_shape *sh, int accumulate) {
  if (vkl_ctx_tuning(vkl_cmd_ctx(cmd))->geometry == VKL_GEOMETRY_GPU)
    return record_gemm_gpu(cmd, c, a, b, bias, sh, accumulate);
  return record_gemm_cpu(cmd, c, a, b, bias, sh, accumulate);
}

/* Records dbias (+)= the column sums of dc (rows,cols): one invocation per column on the CPU
 * geometry; on the GPU one, workgroups of reduce_wg invocations, 16 columns wide (64 bytes of
 * a row), whose rows are split over the rest and summed by a fixed-order tree
 * (matmul_colsum_tree.comp), so thin biases (10 columns over a batch of 256) do not sum
 * serially in a few invocations. */
static vkl_status record_colsum(vkl_cmd *cmd, vkl_buf dbias, vkl_buf dc, uint32_t rows,
                                uint32_t cols, int accumulate) {
  const vkl_tuning *tu = vkl_ctx_tuning(vkl_cmd_ctx(cmd));
  const vkl_pipeline *p;
  vkl_status st;
  vkl_buf bufs[2] = {dc, dbias};
  if (tu->geometry == VKL_GEOMETRY_GPU) {
    uint32_t wx = tu->reduce_wg % 16 == 0 ? 16 : tu->reduce_wg;
    vkl_matmul_colsum_tree_spec spec = {.wg_x = wx, .wg_y = tu->reduce_wg / wx};
    if ((st = vkl_op_pipeline(cmd, VKL_SHADER_matmul_colsum_tree, &spec, sizeof spec, &p)))
      return st;
    vkl_matmul_colsum_tree_push push = {
        .rows = rows, .cols = cols, .accumulate = accumulate ? 1u : 0u};
    return vkl_cmd_dispatch(cmd, p, bufs, 2, &push, sizeof push, vkl_div_up(cols, wx), 1, 1);
  }
  vkl_matmul_colsum_spec spec = {.wg_size = COLSUM_WG};
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_matmul_colsum, &spec, sizeof spec, &p))) return st;
  vkl_matmul_colsum_push push = {.rows = rows, .cols = cols, .accumulate = accumulate ? 1u : 0u};
  return vkl_cmd_dispatch(cmd, p, bufs, 2, &push, sizeof push, vkl_div_up(cols, COLSUM_WG), 1, 1);
}

static vkl_status check_shape(vkl_cmd *cmd, const char *op, const vkl_matmul_shape *sh) {
  if (!sh->rows || !sh->cols || !sh->inner)
    return vkl_set_error(vkl_cmd_ctx(cmd), VKL_ERR_INVALID_ARGUMENT,
                         "%s: empty shape (rows %u, cols %u, inner %u)", op, sh->rows, sh->cols,
                         sh->inner);
  return VKL_OK;
}

vkl_status vkl_matmul_forward(vkl_cmd *cmd, vkl_buf c, vkl_buf a, vkl_buf b, const vkl_buf *bias,
                              const vkl_matmul_shape *sh) {
  const char *op = "matmul";
  uint64_t R = sh->rows, Co = sh->cols, I = sh->inner;
  vkl_status st;
  if ((st = check_shape(cmd, op, sh)) || (st = vkl_op_check_tensor(cmd, op, "c", c, R * Co)) ||
      (st = vkl_op_check_tensor(cmd, op, "a", a, R * I)) ||
      (st = vkl_op_check_tensor(cmd, op, "b", b, I * Co)) ||
      (bias && (st = vkl_op_check_tensor(cmd, op, "bias", *bias, Co))))
    return st;
  vkl_cmd_barrier(cmd); /* a, b, bias written by earlier work; c read or written by it */
  return record_gemm(cmd, c, a, b, bias, sh, 0);
}

vkl_status vkl_matmul_backward(vkl_cmd *cmd, const vkl_buf *da, const vkl_buf *db,
                               const vkl_buf *dbias, vkl_buf dc, vkl_buf a, vkl_buf b,
                               const vkl_matmul_shape *sh, int accumulate) {
  const char *op = "matmul backward";
  const uint32_t R = sh->rows, Co = sh->cols, I = sh->inner;
  vkl_status st;
  if ((st = check_shape(cmd, op, sh)) ||
      (st = vkl_op_check_tensor(cmd, op, "dc", dc, (uint64_t)R * Co)) ||
      (da && (st = vkl_op_check_tensor(cmd, op, "da", *da, (uint64_t)R * I))) ||
      (db && (st = vkl_op_check_tensor(cmd, op, "db", *db, (uint64_t)I * Co))) ||
      (dbias && (st = vkl_op_check_tensor(cmd, op, "dbias", *dbias, Co))) ||
      (db && (st = vkl_op_check_tensor(cmd, op, "a", a, (uint64_t)R * I))) ||
      (da && (st = vkl_op_check_tensor(cmd, op, "b", b, (uint64_t)I * Co))))
    return st;
  if (!da && !db && !dbias) return VKL_OK;
  /* dc, a, b written by earlier work; the gradients read or written by it. The three
   * dispatches below only read dc, a and b and write disjoint outputs, so they need no
   * barrier between them. */
  vkl_cmd_barrier(cmd);
  const uint32_t ta = sh->trans_a ? 1u : 0u, tb = sh->trans_b ? 1u : 0u;
  if (da) {
    /* term 1, d op(A) = dC op(B)^T (rows,inner); A stored transposed gets its
     * transpose, op(B) dC^T (inner,rows) */
    vkl_matmul_shape s =
        ta ? (vkl_matmul_shape){I, R, Co, tb, 1} : (vkl_matmul_shape){R, I, Co, 0, !tb};
    if ((st = ta ? record_gemm(cmd, *da, b, dc, NULL, &s, accumulate)
                 : record_gemm(cmd, *da, dc, b, NULL, &s, accumulate)))
      return st;
  }
  if (db) {
    /* term 2, d op(B) = op(A)^T dC (inner,cols); B stored transposed gets its
     * transpose, dC^T op(A) (cols,inner) */
    vkl_matmul_shape s =
        tb ? (vkl_matmul_shape){Co, I, R, 1, ta} : (vkl_matmul_shape){I, Co, R, !ta, 0};
    if ((st = tb ? record_gemm(cmd, *db, dc, a, NULL, &s, accumulate)
                 : record_gemm(cmd, *db, a, dc, NULL, &s, accumulate)))
      return st;
  }
  /* term 3, dbias[j] = sum_i dC[i][j] */
  if (dbias && (st = record_colsum(cmd, *dbias, dc, sh->rows, sh->cols, accumulate))) return st;
  return VKL_OK;
}
