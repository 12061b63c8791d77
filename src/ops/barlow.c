/*
 * Barlow Twins loss (see barlow.h for the math and the two-pass scheme): the double
 * reference over the whole batch, then the recording of barlow_moments.comp and
 * barlow_cross.comp (merge), barlow_rows.comp and barlow_cols.comp (finalize) and
 * barlow_bwd.comp (per-sample gradient). z1, z2 are (m,d) row-major: one sample a row.
 */
#include "ops/barlow.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "barlow_bwd.h"
#include "barlow_cross.h"
#include "barlow_final.h"
#include "barlow_layout.h"
#include "barlow_moments.h"
#include "ops/op_util.h"
#include "vk/vk_tuning.h"

/* Two-pass mean and sum of squared deviations of column i of z (B,d). */
static void column_moments(double *mean, double *m2, const double *z, uint32_t B, uint32_t d,
                           uint32_t i) {
  double s = 0.0;
  for (uint32_t b = 0; b < B; b++) s += z[(size_t)b * d + i];
  double mu = s / B, q = 0.0;
  for (uint32_t b = 0; b < B; b++) {
    double t = z[(size_t)b * d + i] - mu;
    q += t * t;
  }
  *mean = mu, *m2 = q;
}

uint64_t vkl_barlow_sums_count(uint32_t d) {
  return 1 + 4ull * d + (uint64_t)d * d;
}

void vkl_barlow_stats_pivots(double *pivots, const float *stats, uint32_t d) {
  for (uint32_t i = 0; i < d; i++) {
    pivots[i] = stats[VKL_BARLOW_PIV1(d) + i];
    pivots[d + i] = stats[VKL_BARLOW_PIV2(d) + i];
  }
}

void vkl_barlow_stats_to_sums(double *sums, const float *stats, const double *pivots, uint32_t d) {
  double n = stats[VKL_BARLOW_N];
  double *s1 = sums + 1, *s2 = s1 + 2ull * d, *sx = s2 + 2ull * d;
  sums[0] = n;
  for (uint32_t v = 0; v < 2; v++) {
    uint32_t mean = v ? VKL_BARLOW_MEAN2(d) : VKL_BARLOW_MEAN1(d);
    uint32_t m2 = v ? VKL_BARLOW_M2_2(d) : VKL_BARLOW_M2_1(d);
    uint32_t piv = v ? VKL_BARLOW_PIV2(d) : VKL_BARLOW_PIV1(d);
    for (uint32_t i = 0; i < d; i++) {
      double m = (double)stats[mean + i] + stats[piv + i] - pivots[v * d + i]; /* m' */
      s1[v * d + i] = n * m;
      s2[v * d + i] = stats[m2 + i] + n * m * m;
    }
  }
  for (uint32_t i = 0; i < d; i++)
    for (uint32_t j = 0; j < d; j++) /* s1 / n is m' */
      sx[(uint64_t)i * d + j] =
          stats[VKL_BARLOW_X(d) + (uint64_t)i * d + j] + (n > 0 ? s1[i] * s1[d + j] / n : 0);
}

void vkl_barlow_stats_from_sums(float *stats, const double *sums, const double *pivots,
                                uint32_t d) {
  double n = sums[0];
  const double *s1 = sums + 1, *s2 = s1 + 2ull * d, *sx = s2 + 2ull * d;
  memset(stats, 0, vkl_barlow_stats_floats(d) * sizeof *stats);
  stats[VKL_BARLOW_N] = (float)n;
  for (uint32_t v = 0; v < 2; v++) {
    uint32_t mean = v ? VKL_BARLOW_MEAN2(d) : VKL_BARLOW_MEAN1(d);
    uint32_t m2 = v ? VKL_BARLOW_M2_2(d) : VKL_BARLOW_M2_1(d);
    uint32_t piv = v ? VKL_BARLOW_PIV2(d) : VKL_BARLOW_PIV1(d);
    for (uint32_t i = 0; i < d; i++) {
      double m = n > 0 ? s1[v * d + i] / n : 0;
      double q = s2[v * d + i] - n * m * m;
      stats[mean + i] = (float)m;
      stats[m2 + i] = (float)(q > 0 ? q : 0); /* a sum of squares: never below 0 */
      stats[piv + i] = (float)pivots[v * d + i];
    }
  }
  for (uint32_t i = 0; i < d; i++)
    for (uint32_t j = 0; j < d; j++)
      stats[VKL_BARLOW_X(d) + (uint64_t)i * d + j] =
          (float)(sx[(uint64_t)i * d + j] - (n > 0 ? s1[i] * s1[d + j] / n : 0));
}

void vkl_barlow_stats_ref(double *stats, const double *z1, const double *z2, uint32_t B,
                          uint32_t d) {
  memset(stats, 0, vkl_barlow_stats_floats(d) * sizeof *stats);
  stats[VKL_BARLOW_N] = B;
  for (uint32_t i = 0; i < d; i++) {
    column_moments(&stats[VKL_BARLOW_MEAN1(d) + i], &stats[VKL_BARLOW_M2_1(d) + i], z1, B, d, i);
    column_moments(&stats[VKL_BARLOW_MEAN2(d) + i], &stats[VKL_BARLOW_M2_2(d) + i], z2, B, d, i);
  }
  double *mu1 = stats + VKL_BARLOW_MEAN1(d), *mu2 = stats + VKL_BARLOW_MEAN2(d);
  double *x = stats + VKL_BARLOW_X(d);
  for (uint32_t b = 0; b < B; b++)
    for (uint32_t i = 0; i < d; i++) {
      double u = z1[(size_t)b * d + i] - mu1[i];
      for (uint32_t j = 0; j < d; j++) x[(size_t)i * d + j] += u * (z2[(size_t)b * d + j] - mu2[j]);
    }
  /* the device's pivots: the first sample; its means are stored less them */
  for (uint32_t i = 0; i < d; i++) {
    stats[VKL_BARLOW_PIV1(d) + i] = z1[i], mu1[i] -= z1[i];
    stats[VKL_BARLOW_PIV2(d) + i] = z2[i], mu2[i] -= z2[i];
  }
}

/* zn = BatchNorm1d(z) (training mode, biased variance) into zn (B,d), 1/s into inv_s (d). */
static void batchnorm_ref(double *zn, double *inv_s, const double *z, uint32_t B, uint32_t d,
                          double eps) {
  for (uint32_t i = 0; i < d; i++) {
    double mu, m2;
    column_moments(&mu, &m2, z, B, d, i);
    inv_s[i] = 1.0 / sqrt(m2 / B + eps);
    for (uint32_t b = 0; b < B; b++) zn[(size_t)b * d + i] = (z[(size_t)b * d + i] - mu) * inv_s[i];
  }
}

/* BatchNorm's backward for one view (barlow.h, terms 2-4 without assuming term 3):
 * dz = (1/s) (dy - mean_b(dy) - zn mean_b(dy zn)), column by column. */
static void batchnorm_backward_ref(double *dz, const double *dy, const double *zn,
                                   const double *inv_s, uint32_t B, uint32_t d) {
  for (uint32_t i = 0; i < d; i++) {
    double s = 0.0, sy = 0.0;
    for (uint32_t b = 0; b < B; b++) {
      s += dy[(size_t)b * d + i];
      sy += dy[(size_t)b * d + i] * zn[(size_t)b * d + i];
    }
    for (uint32_t b = 0; b < B; b++) {
      size_t at = (size_t)b * d + i;
      dz[at] = inv_s[i] * (dy[at] - s / B - zn[at] * sy / B);
    }
  }
}

void vkl_barlow_loss_ref(double *loss, double *dz1, double *dz2, const double *z1, const double *z2,
                         uint32_t B, uint32_t d, double lambda, double eps) {
  size_t bd = (size_t)B * d, dd = (size_t)d * d;
  double *zn1 = malloc(bd * sizeof *zn1), *zn2 = malloc(bd * sizeof *zn2);
  double *is1 = malloc(d * sizeof *is1), *is2 = malloc(d * sizeof *is2);
  double *c = calloc(dd, sizeof *c);
  if (!zn1 || !zn2 || !is1 || !is2 || !c) {
    loss[0] = loss[1] = loss[2] = NAN; /* the reference is for tests: tiny shapes */
    goto done;
  }
  batchnorm_ref(zn1, is1, z1, B, d, eps);
  batchnorm_ref(zn2, is2, z2, B, d, eps);
  for (uint32_t b = 0; b < B; b++)
    for (uint32_t i = 0; i < d; i++)
      for (uint32_t j = 0; j < d; j++)
        c[(size_t)i * d + j] += zn1[(size_t)b * d + i] * zn2[(size_t)b * d + j];
  double on = 0.0, off = 0.0;
  for (uint32_t i = 0; i < d; i++)
    for (uint32_t j = 0; j < d; j++) {
      double v = c[(size_t)i * d + j] /= B;
      if (i == j)
        on += (v - 1.0) * (v - 1.0);
      else
        off += v * v;
    }
  loss[0] = on + lambda * off, loss[1] = on, loss[2] = off;
  if (dz1 || dz2) {
    /* term 1: dy1 = (1/B) zn2 G^T, dy2 = (1/B) zn1 G with G = dL/dC; then the full
     * BatchNorm backward (terms 2-4 follow from it, so the reference checks them) */
    double *dy = malloc(bd * sizeof *dy);
    if (!dy) goto done;
    for (int side = 0; side < 2; side++) {
      double *dz = side ? dz2 : dz1;
      if (!dz) continue;
      const double *other = side ? zn1 : zn2;
      for (uint32_t b = 0; b < B; b++)
        for (uint32_t f = 0; f < d; f++) {
          double acc = 0.0;
          for (uint32_t k = 0; k < d; k++) {
            uint32_t i = side ? k : f, j = side ? f : k;
            double cij = c[(size_t)i * d + j];
            double g = i == j ? 2.0 * (cij - 1.0) : 2.0 * lambda * cij;
            acc += g * other[(size_t)b * d + k];
          }
          dy[(size_t)b * d + f] = acc / B;
        }
      batchnorm_backward_ref(dz, dy, side ? zn2 : zn1, side ? is2 : is1, B, d);
    }
    free(dy);
  }
done:
  free(zn1), free(zn2), free(is1), free(is2), free(c);
}

/* ---- device recording ---- */

/* Invocations of the one-dimensional kernels (moments, rows, cols): 64 under the CPU
 * geometry (sumsq_seg's measured size), the table's reduce_wg under the GPU one. */
#define BARLOW_WG 64

static uint32_t barlow_wg(vkl_cmd *cmd) {
  const vkl_tuning *t = vkl_ctx_tuning(vkl_cmd_ctx(cmd));
  return t->geometry == VKL_GEOMETRY_GPU ? t->reduce_wg : BARLOW_WG;
}

/* Side of the square workgroups of the two products: matmul_gemm's gemm_lx (8) under the
 * CPU geometry, 16 (256 invocations) under the GPU one. */
static uint32_t barlow_lx(vkl_cmd *cmd) {
  const vkl_tuning *t = vkl_ctx_tuning(vkl_cmd_ctx(cmd));
  return t->geometry == VKL_GEOMETRY_GPU ? 16 : t->gemm_lx;
}

uint64_t vkl_barlow_stats_floats(uint32_t d) {
  return 4 + 10ull * d + (uint64_t)d * d;
}

uint64_t vkl_barlow_workspace_floats(const vkl_barlow_shape *sh) {
  return 4 + 4ull * sh->d;
}

/* The shape and settings every op checks (need_m: the op reads a micro-batch), and the
 * statistics buffer, which must be one binding. */
static vkl_status check_common(vkl_cmd *cmd, const char *op, const vkl_barlow_shape *sh, int need_m,
                               vkl_buf stats) {
  vkl_ctx *ctx = vkl_cmd_ctx(cmd);
  if (!sh->d || (need_m && !sh->m))
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "%s: empty shape (m = %u, d = %u)", op,
                         sh->m, sh->d);
  if (!(sh->eps > 0.0f) || !isfinite(sh->eps))
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "%s: eps = %g, not a positive number", op,
                         (double)sh->eps);
  if (!(sh->lambda >= 0.0f) || !isfinite(sh->lambda))
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "%s: lambda = %g, not a non-negative number", op, (double)sh->lambda);
  uint64_t bytes = vkl_barlow_stats_floats(sh->d) * sizeof(float);
  uint64_t range = vkl_ctx_device(ctx)->max_storage_buffer_range;
  if (bytes > range)
    return vkl_set_error(ctx, VKL_ERR_UNSUPPORTED,
                         "%s: d = %u needs a %.1f MiB statistics buffer (d*d + 10d + 4 floats), "
                         "beyond this device's %.0f MiB binding limit",
                         op, sh->d, (double)bytes / (1 << 20), (double)range / (1 << 20));
  return vkl_op_check_tensor(cmd, op, "stats", stats, vkl_barlow_stats_floats(sh->d));
}

vkl_status vkl_barlow_stats_merge(vkl_cmd *cmd, vkl_buf stats, vkl_buf z1, vkl_buf z2,
                                  const vkl_barlow_shape *sh, int first, vkl_buf workspace) {
  const char *op = "barlow stats merge";
  vkl_status st;
  uint64_t md = (uint64_t)sh->m * sh->d;
  if ((st = check_common(cmd, op, sh, 1, stats)) ||
      (st = vkl_op_check_tensor(cmd, op, "z1", z1, md)) ||
      (st = vkl_op_check_tensor(cmd, op, "z2", z2, md)) ||
      (st = vkl_op_check_tensor(cmd, op, "workspace", workspace, vkl_barlow_workspace_floats(sh))))
    return st;
  uint32_t wg = barlow_wg(cmd), lx = barlow_lx(cmd);
  vkl_barlow_moments_spec mspec = {.wg_size = wg};
  vkl_barlow_cross_spec xspec = {.wg_x = lx, .wg_y = lx};
  const vkl_pipeline *pm, *px;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_barlow_moments, &mspec, sizeof mspec, &pm)) ||
      (st = vkl_op_pipeline(cmd, VKL_SHADER_barlow_cross, &xspec, sizeof xspec, &px)))
    return st;
  vkl_barlow_moments_push mpush = {.m = sh->m, .d = sh->d, .first = first ? 1u : 0u};
  vkl_barlow_cross_push xpush = {.m = sh->m, .d = sh->d, .first = first ? 1u : 0u};
  vkl_buf bufs[4] = {z1, z2, stats, workspace};
  vkl_cmd_barrier(cmd); /* z1, z2 written by earlier work; stats, workspace used by it */
  if ((st = vkl_cmd_dispatch(cmd, pm, bufs, 4, &mpush, sizeof mpush, vkl_div_up(2ull * sh->d, wg),
                             1, 1)))
    return st;
  vkl_cmd_barrier(cmd); /* the micro-batch means, deltas and count before X's merge (RAW) */
  uint32_t g = vkl_div_up(sh->d, (uint64_t)lx * VKL_BARLOW_BLOCK);
  return vkl_cmd_dispatch(cmd, px, bufs, 4, &xpush, sizeof xpush, g, g, 1);
}

vkl_status vkl_barlow_finalize(vkl_cmd *cmd, vkl_buf loss, vkl_buf stats,
                               const vkl_barlow_shape *sh, vkl_buf workspace) {
  const char *op = "barlow finalize";
  vkl_status st;
  if ((st = check_common(cmd, op, sh, 0, stats)) ||
      (st = vkl_op_check_tensor(cmd, op, "loss", loss, 3)) ||
      (st = vkl_op_check_tensor(cmd, op, "workspace", workspace, vkl_barlow_workspace_floats(sh))))
    return st;
  uint32_t wg = barlow_wg(cmd);
  vkl_barlow_final_spec spec = {.wg_size = wg};
  const vkl_pipeline *prow, *pcol;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_barlow_rows, &spec, sizeof spec, &prow)) ||
      (st = vkl_op_pipeline(cmd, VKL_SHADER_barlow_cols, &spec, sizeof spec, &pcol)))
    return st;
  vkl_barlow_final_push push = {.d = sh->d, .lambda = sh->lambda, .eps = sh->eps};
  vkl_buf bufs[3] = {stats, workspace, loss};
  vkl_cmd_barrier(cmd); /* stats written by the merges; loss, workspace used by earlier work */
  if ((st = vkl_cmd_dispatch(cmd, prow, bufs, 2, &push, sizeof push, sh->d, 1, 1))) return st;
  /* the rows' r1, 1/s and loss terms before the columns read them, and every row's read of
   * X before the columns overwrite it with G (RAW, WAR) */
  vkl_cmd_barrier(cmd);
  return vkl_cmd_dispatch(cmd, pcol, bufs, 3, &push, sizeof push, vkl_div_up(sh->d, wg), 1, 1);
}

vkl_status vkl_barlow_backward(vkl_cmd *cmd, vkl_buf dz1, vkl_buf dz2, vkl_buf z1, vkl_buf z2,
                               vkl_buf stats, const vkl_barlow_shape *sh, float scale,
                               int accumulate) {
  const char *op = "barlow backward";
  vkl_status st;
  uint64_t md = (uint64_t)sh->m * sh->d;
  if ((st = check_common(cmd, op, sh, 1, stats)) ||
      (st = vkl_op_check_tensor(cmd, op, "dz1", dz1, md)) ||
      (st = vkl_op_check_tensor(cmd, op, "dz2", dz2, md)) ||
      (st = vkl_op_check_tensor(cmd, op, "z1", z1, md)) ||
      (st = vkl_op_check_tensor(cmd, op, "z2", z2, md)))
    return st;
  uint32_t lx = barlow_lx(cmd);
  vkl_barlow_bwd_spec spec = {.wg_x = lx, .wg_y = lx};
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_barlow_bwd, &spec, sizeof spec, &p))) return st;
  vkl_barlow_bwd_push push = {
      .m = sh->m, .d = sh->d, .scale = scale, .accumulate = accumulate ? 1u : 0u};
  vkl_buf bufs[5] = {z1, z2, stats, dz1, dz2};
  vkl_cmd_barrier(cmd); /* z1, z2, stats written by earlier work; dz1, dz2 used by it */
  uint32_t tile = lx * VKL_BARLOW_BLOCK;
  return vkl_cmd_dispatch(cmd, p, bufs, 5, &push, sizeof push, vkl_div_up(sh->d, tile),
                          vkl_div_up(sh->m, tile), 2);
}
