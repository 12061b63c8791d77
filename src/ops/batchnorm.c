/*
 * Batch normalisation reference. Values of channel c: x[n,c,i] with i = h*W + w over
 * the plane of HW = H*W elements; M = N*HW values per channel.
 */
#include "ops/batchnorm.h"

#include <math.h>
#include <stddef.h>

static size_t plane(const vkl_batchnorm_shape *sh) {
  return (size_t)sh->H * sh->W;
}

/* M, the number of values each channel's statistics are taken over. */
static double per_channel(const vkl_batchnorm_shape *sh) {
  return (double)sh->N * (double)plane(sh);
}

static size_t at(const vkl_batchnorm_shape *sh, uint32_t n, uint32_t c, size_t i) {
  return ((size_t)n * sh->C + c) * plane(sh) + i;
}

int vkl_batchnorm_shape_check(const vkl_batchnorm_shape *sh, int training) {
  if (sh->N == 0 || sh->C == 0 || sh->H == 0 || sh->W == 0) return -1;
  return training && (uint64_t)sh->N * plane(sh) < 2 ? -1 : 0;
}

static double channel_mean(const double *x, const vkl_batchnorm_shape *sh, uint32_t c) {
  double sum = 0.0;
  for (uint32_t n = 0; n < sh->N; n++)
    for (size_t i = 0; i < plane(sh); i++) sum += x[at(sh, n, c, i)];
  return sum / per_channel(sh);
}

/* Sum of squared deviations from the mean: the second pass of a two-pass variance,
 * which avoids the cancellation of E[x^2] - E[x]^2 when |mean| >> std. */
static double channel_ssd(const double *x, const vkl_batchnorm_shape *sh, uint32_t c, double mean) {
  double sum = 0.0;
  for (uint32_t n = 0; n < sh->N; n++)
    for (size_t i = 0; i < plane(sh); i++) {
      double d = x[at(sh, n, c, i)] - mean;
      sum += d * d;
    }
  return sum;
}

/* y = scale (x - shift) + beta over channel c. */
static void normalize_channel(double *y, const double *x, const vkl_batchnorm_shape *sh, uint32_t c,
                              double shift, double scale, double beta) {
  for (uint32_t n = 0; n < sh->N; n++)
    for (size_t i = 0; i < plane(sh); i++) {
      size_t j = at(sh, n, c, i);
      y[j] = scale * (x[j] - shift) + beta;
    }
}

void vkl_batchnorm_forward_train_ref(double *y, double *mean, double *invstd, double *running_mean,
                                     double *running_var, const double *x, const double *gamma,
                                     const double *beta, const vkl_batchnorm_shape *sh, double eps,
                                     double momentum) {
  double M = per_channel(sh);
  for (uint32_t c = 0; c < sh->C; c++) {
    mean[c] = channel_mean(x, sh, c);
    double ssd = channel_ssd(x, sh, c, mean[c]);
    invstd[c] = 1.0 / sqrt(ssd / M + eps);
    if (running_mean) running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * mean[c];
    if (running_var)
      running_var[c] = (1.0 - momentum) * running_var[c] + momentum * ssd / (M - 1.0);
    normalize_channel(y, x, sh, c, mean[c], (gamma ? gamma[c] : 1.0) * invstd[c],
                      beta ? beta[c] : 0.0);
  }
}

void vkl_batchnorm_forward_eval_ref(double *y, const double *x, const double *running_mean,
                                    const double *running_var, const double *gamma,
                                    const double *beta, const vkl_batchnorm_shape *sh, double eps) {
  for (uint32_t c = 0; c < sh->C; c++)
    normalize_channel(y, x, sh, c, running_mean[c],
                      (gamma ? gamma[c] : 1.0) / sqrt(running_var[c] + eps), beta ? beta[c] : 0.0);
}

static void store(double *dst, double v, int accumulate) {
  *dst = accumulate ? *dst + v : v;
}

/* With xhat = (x - mean) invstd, y = gamma xhat + beta, and per-channel sums
 * Sdy = sum dy, Sdyx = sum dy xhat over the channel's M values:
 *   1. dbeta  = Sdy
 *   2. dgamma = Sdyx
 *   3. dx = gamma invstd (dy - Sdy / M - xhat Sdyx / M), whose three parts are the
 *      paths through xhat directly, through the mean, and through the variance.
 * Term 3 uses this batch's sums, never the (possibly accumulated) dgamma/dbeta. */
void vkl_batchnorm_backward_ref(double *dx, double *dgamma, double *dbeta, const double *dy,
                                const double *x, const double *mean, const double *invstd,
                                const double *gamma, const vkl_batchnorm_shape *sh,
                                int accumulate) {
  double M = per_channel(sh);
  for (uint32_t c = 0; c < sh->C; c++) {
    double sdy = 0.0, sdyx = 0.0;
    for (uint32_t n = 0; n < sh->N; n++)
      for (size_t i = 0; i < plane(sh); i++) {
        size_t j = at(sh, n, c, i);
        sdy += dy[j];
        sdyx += dy[j] * (x[j] - mean[c]) * invstd[c];
      }
    if (dbeta) store(&dbeta[c], sdy, accumulate);
    if (dgamma) store(&dgamma[c], sdyx, accumulate);
    double k = (gamma ? gamma[c] : 1.0) * invstd[c];
    for (uint32_t n = 0; dx && n < sh->N; n++)
      for (size_t i = 0; i < plane(sh); i++) {
        size_t j = at(sh, n, c, i);
        double xhat = (x[j] - mean[c]) * invstd[c];
        store(&dx[j], k * (dy[j] - sdy / M - xhat * sdyx / M), accumulate);
      }
  }
}

/* ---- device recording ----
 *
 * Training forward: batchnorm_stats*.comp (each thread: count, mean and M2 of its values of
 * x - K), batchnorm_combine.comp (per channel), batchnorm_apply*.comp (element-wise).
 * Backward: batchnorm_bwd_reduce*.comp (each thread: sum dy, sum dy (x - mean)),
 * batchnorm_bwd_combine.comp (per channel: dgamma, dbeta, dx coefficients),
 * batchnorm_bwd_dx*.comp (element-wise). Evaluation: batchnorm_apply*.comp alone.
 * The thread geometry is described in shaders/common/batchnorm_iface.h.
 * On CPU devices, shapes whose channels fit one workgroup each take the fused
 * kernels instead, one dispatch per pass: batchnorm_train*.comp,
 * batchnorm_bwd*.comp, batchnorm_eval*.comp (shaders/common/batchnorm_fused.h). */

#include "batchnorm_fused.h" /* shaders/common: the kernels' push and spec constants */
#include "batchnorm_iface.h"
#include "ops/op_util.h"
#include "vk/vk_tuning.h"

#include <stdlib.h>
#include <string.h>

#define BN_WG 64 /* threads per workgroup of the tensor-walking kernels */
/* channels per workgroup of the combine kernels: 64 channels still make 4
 * workgroups, to spread over CPU cores */
#define BN_COMBINE_WG 16
/* Segmented layout (CPU devices): each thread runs through >= BN_CPU_SEG
 * consecutive units of a plane, about BN_CPU_UNITS units in all. */
#define BN_CPU_SEG 256
#define BN_CPU_UNITS 256
/* Interleaved layout (GPUs): about BN_GPU_UNITS units per thread. */
#define BN_GPU_UNITS 16
/* Chunks shrink (down to a sample) until the grid has this many workgroups,
 * so that cores are not left idle while the last ones run (measured on
 * lavapipe: 16 to 64 within noise, 1 slower for 16x16 planes). */
#define BN_MIN_GROUPS 32

typedef enum bn_layout { BN_SEGMENTED = 0, BN_INTERLEAVED, BN_FUSED } bn_layout;

typedef struct bn_geom {
  uint32_t vec;    /* 4: vec4 kernels (H*W % 4 == 0), else 1 */
  uint32_t groups; /* workgroups along the channels */
  vkl_batchnorm_push push;
} bn_geom;

static uint32_t log2_floor(uint64_t v) {
  uint32_t l = 0;
  while (l < 31 && (2ull << l) <= v) l++;
  return l;
}

static uint32_t pow2_ceil(uint64_t v) {
  uint32_t p = 1;
  while (p < (1u << 30) && p < v) p *= 2;
  return p;
}

static uint32_t min_u32(uint32_t a, uint32_t b) {
  return a < b ? a : b;
}

/* Threads first cover a plane (tpc_i of them), then consecutive channels
 * (cb, contiguous with the plane in memory), then samples (tpc_n, when C is
 * too small to fill the workgroup). Segmented: a plane is cut into tpc_i
 * segments of at least BN_CPU_SEG units where it is large enough.
 * Interleaved: tpc_i threads, up to the plane's size, step through it
 * together. A chunk holds enough samples for the layout's units per thread,
 * to amortise each thread's set-up and partial. */
static bn_geom bn_geometry(const vkl_batchnorm_shape *sh, bn_layout layout) {
  bn_geom g = {0};
  vkl_batchnorm_push *p = &g.push;
  uint32_t hw = sh->H * sh->W;
  g.vec = hw % 4 == 0 ? 4 : 1;
  p->N = sh->N;
  p->C = sh->C;
  p->HW = hw;
  p->HWu = hw / g.vec;
  uint32_t units; /* per thread and sample */
  uint32_t target;
  if (layout == BN_SEGMENTED) {
    p->log2_tpc_i = 0;
    while ((2u << p->log2_tpc_i) <= BN_WG && (uint64_t)(2u << p->log2_tpc_i) * BN_CPU_SEG <= p->HWu)
      p->log2_tpc_i++;
    p->tpc_i = 1u << p->log2_tpc_i;
    p->seg_len = vkl_div_up(p->HWu, p->tpc_i);
    p->seg_start = p->seg_len;
    p->step = 1;
    if (p->HWu == 4) p->flags = BN_SEG4; /* then tpc_i = 1: one segment, of 4 units */
    units = p->seg_len;
    target = BN_CPU_UNITS;
  } else {
    p->log2_tpc_i = min_u32(log2_floor(p->HWu), log2_floor(BN_WG));
    p->tpc_i = 1u << p->log2_tpc_i;
    p->seg_len = p->HWu;
    p->seg_start = 1;
    p->step = p->tpc_i;
    units = vkl_div_up(p->HWu, p->tpc_i);
    target = BN_GPU_UNITS;
  }
  uint32_t rest = BN_WG / p->tpc_i;
  p->cb = min_u32(rest, pow2_ceil(sh->C));
  p->log2_cb = log2_floor(p->cb);
  p->tpc_n = rest / p->cb;
  g.groups = vkl_div_up(sh->C, p->cb);
  uint64_t nb = (uint64_t)vkl_div_up(target, units) * p->tpc_n;
  /* but keep at least BN_MIN_GROUPS workgroups where there are samples for them */
  uint32_t chunks = vkl_div_up(BN_MIN_GROUPS, g.groups);
  uint64_t nb_max = (uint64_t)vkl_div_up(vkl_div_up(sh->N, chunks), p->tpc_n) * p->tpc_n;
  if (nb > nb_max) nb = nb_max;
  if (nb > sh->N) nb = sh->N;
  p->nb = (uint32_t)nb;
  p->nchunks = vkl_div_up(sh->N, nb);
  p->entries = p->nchunks * p->tpc_n * p->tpc_i;
  p->part_off = 4 * sh->C;
  return g;
}

/* ---- fused kernels (CPU devices; see shaders/common/batchnorm_fused.h) ---- */

/* Units a thread keeps in registers per tensor: at least BNF_MIN_UNITS, more
 * (up to BNF_MAX_UNITS) where a channel would need more than BNF_WG_MAX
 * threads. Measured on lavapipe (training forward, ResNet-18 CIFAR shapes):
 * 16 units x 16 threads for 4x4 planes, 16 x 64 for 8x8 and 64 x 64 for
 * 16x16 reach 0.6-0.7x copy; 256 threads of 16 units only 0.5x (the
 * exchange reads every partial), and 64-unit threads on 4x4 planes (4
 * threads) 0.4x. */
#define BNF_MIN_UNITS 16
#define BNF_MAX_UNITS 64
#define BNF_WG_PREF 64
#define BNF_LANES 8
/* Below this many channels (workgroups), the multi-pass kernels, which also
 * split the samples over workgroups, keep the device busier. */
#define BNF_MIN_CHANNELS 16
#define BNF_EVAL_WG_MAX 1024

typedef struct bnf_geom {
  int ok; /* the fused kernels can take the shape */
  uint32_t vec;
  vkl_bnf_spec spec;
  vkl_bnf_push push;
} bnf_geom;

/* The run and runs per thread of u units per thread; returns the threads. */
static uint64_t bnf_split(uint32_t hwu, uint32_t n, uint32_t u, uint32_t *run, uint32_t *nrun) {
  if (hwu <= u) { /* whole planes */
    *run = hwu;
    *nrun = u / hwu;
  } else { /* runs of the largest divisor of the plane that fits */
    *run = u;
    while (hwu % *run) --*run;
    *nrun = 1;
  }
  uint64_t runs = (uint64_t)n * (hwu / *run);
  if (*nrun > runs) *nrun = (uint32_t)runs;
  return (runs + *nrun - 1) / *nrun;
}

/* eval: no exchange, so no limit from the shared arrays, and no use for
 * more units per thread (16 units x 256 threads measured 1.5x faster than
 * 64 x 64 on 16x16 planes) */
static bnf_geom bnf_geometry_cap(const vkl_batchnorm_shape *sh, uint32_t max_wg, int eval,
                                 uint32_t cap, uint32_t lanes) {
  bnf_geom g = {0};
  uint32_t hw = sh->H * sh->W;
  g.vec = hw % 4 == 0 ? 4 : 1;
  if ((hw / g.vec) % lanes) return g;
  /* a group of `lanes` threads walks like one thread of the plane's hwu/lanes units */
  uint32_t hwu = hw / g.vec / lanes;
  uint64_t units = (uint64_t)sh->N * hwu; /* per channel */
  if (max_wg > cap) max_wg = cap;
  max_wg /= lanes;
  uint64_t want = (units + max_wg - 1) / max_wg;
  uint32_t max_units = eval ? BNF_MIN_UNITS : BNF_MAX_UNITS;
  uint32_t u = want < BNF_MIN_UNITS ? BNF_MIN_UNITS : want > max_units ? max_units : (uint32_t)want;
  uint32_t run, nrun;
  uint64_t threads = bnf_split(hwu, sh->N, u, &run, &nrun);
  /* a plane with no divisor near u makes short runs: try larger ones */
  while (threads > max_wg && u < max_units) threads = bnf_split(hwu, sh->N, ++u, &run, &nrun);
  /* short runs would also leave most of the registers idle */
  g.ok = threads <= max_wg && (uint64_t)run * nrun * 2 > u;
  g.spec = (vkl_bnf_spec){.wg_size = (uint32_t)threads * lanes,
                          .run = run,
                          .nrun = nrun,
                          .q = hwu / run,
                          .lanes = lanes};
  double m = (double)sh->N * hw;
  g.push = (vkl_bnf_push){.N = sh->N, .C = sh->C, .count = (float)m, .inv_count = (float)(1.0 / m)};
  return g;
}

typedef enum bnf_pass { BNF_TRAIN, BNF_BWD, BNF_EVAL } bnf_pass;

/* Up to BNF_WG_PREF threads where a channel fits them. Else the backward
 * pass takes up to BNF_WG_MAX threads in groups of BNF_LANES that walk runs
 * lane by lane (ResNet-18's layer1, 64 x 32 x 32 planes: 256 threads of 64
 * units; 8-lane groups keep a SIMD row of lavapipe's on one stream per
 * tensor instead of eight). Measured on lavapipe, layer1 at batch 64
 * against the segmented kernels: backward 0.59-0.60x -> 0.74-0.77x copy;
 * the training forward (two exchanges of 256 partials) 0.69x -> 0.64-0.69x,
 * so it keeps the segmented kernels. */
static bnf_geom bnf_geometry_pass(const vkl_batchnorm_shape *sh, uint32_t max_wg, bnf_pass pass) {
  if (pass == BNF_EVAL) return bnf_geometry_cap(sh, max_wg, 1, BNF_EVAL_WG_MAX, 1);
  bnf_geom g = bnf_geometry_cap(sh, max_wg, 0, BNF_WG_PREF, 1);
  if (g.ok || pass != BNF_BWD) return g;
  return bnf_geometry_cap(sh, max_wg, 0, BNF_WG_MAX, BNF_LANES);
}

static bnf_geom bnf_geometry(const vkl_batchnorm_shape *sh, uint32_t max_wg) {
  return bnf_geometry_pass(sh, max_wg, BNF_TRAIN);
}

int vkl_batchnorm_fused_fits(const vkl_batchnorm_shape *sh, uint32_t max_workgroup_invocations) {
  return !vkl_batchnorm_shape_check(sh, 0) && bnf_geometry(sh, max_workgroup_invocations).ok;
}

int vkl_batchnorm_fused_backward_fits(const vkl_batchnorm_shape *sh,
                                      uint32_t max_workgroup_invocations) {
  return !vkl_batchnorm_shape_check(sh, 0) &&
         bnf_geometry_pass(sh, max_workgroup_invocations, BNF_BWD).ok;
}

static uint32_t bnf_max_wg(vkl_cmd *cmd) {
  const vkl_device_info *d = vkl_ctx_device(vkl_cmd_ctx(cmd));
  return min_u32(d->max_workgroup_invocations, d->max_workgroup_size[0]);
}

/* Which kernels walk a plane (see shaders/common/batchnorm_iface.h and
 * batchnorm_fused.h). Measured on lavapipe: the segmented layout is several
 * times faster than the interleaved one there, and the fused kernels
 * faster still where the channels fill the device; GPUs coalesce the
 * interleaved one. The environment variable
 * VKLARS_BN_LAYOUT=segmented|interleaved|fused overrides the choice (tests
 * run every layout on one device). */
static const char *bn_forced(vkl_cmd *cmd) {
  return vkl_ctx_env(vkl_cmd_ctx(cmd))->bn_layout; /* checked by the context; "" unset */
}

static int bn_forced_fused(vkl_cmd *cmd) {
  return !strcmp(bn_forced(cmd), "fused");
}

static bn_layout bn_layout_for(vkl_cmd *cmd, const vkl_batchnorm_shape *sh, bnf_pass pass) {
  const char *forced = bn_forced(cmd);
  int interleaved = vkl_ctx_tuning(vkl_cmd_ctx(cmd))->bn_interleaved != 0;
  if (!strcmp(forced, "segmented")) return BN_SEGMENTED;
  if (!strcmp(forced, "interleaved")) return BN_INTERLEAVED;
  /* eval follows the training forward's choice */
  int fits = bnf_geometry_pass(sh, bnf_max_wg(cmd), pass == BNF_BWD ? BNF_BWD : BNF_TRAIN).ok;
  if (bn_forced_fused(cmd)) return fits ? BN_FUSED : BN_SEGMENTED;
  if (interleaved) return BN_INTERLEAVED;
  /* planes of 1 to 3 units (2-D inputs): runs along N at a stride of C, slower */
  return fits && sh->C >= BNF_MIN_CHANNELS && sh->H * sh->W >= 4 ? BN_FUSED : BN_SEGMENTED;
}

uint64_t vkl_batchnorm_workspace_floats(const vkl_batchnorm_shape *sh) {
  if (vkl_batchnorm_shape_check(sh, 0)) return 0;
  /* enough for either layout: the size does not depend on the device */
  uint32_t e0 = bn_geometry(sh, BN_SEGMENTED).push.entries;
  uint32_t e1 = bn_geometry(sh, BN_INTERLEAVED).push.entries;
  return 4ull * sh->C + 3ull * sh->C * (e0 > e1 ? e0 : e1);
}

static uint64_t bn_count(const vkl_batchnorm_shape *sh) {
  return (uint64_t)sh->N * sh->C * sh->H * sh->W;
}

static vkl_status check_shape(vkl_cmd *cmd, const char *op, const vkl_batchnorm_shape *sh,
                              int training) {
  if (!vkl_batchnorm_shape_check(sh, training)) return VKL_OK;
  vkl_ctx *ctx = vkl_cmd_ctx(cmd);
  if (sh->N == 0 || sh->C == 0 || sh->H == 0 || sh->W == 0)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "%s: empty shape (N=%u, C=%u, H=%u, W=%u)",
                         op, sh->N, sh->C, sh->H, sh->W);
  return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                       "%s: training needs at least 2 values per channel, N*H*W = %llu "
                       "(N=%u, H=%u, W=%u)",
                       op, (unsigned long long)sh->N * sh->H * sh->W, sh->N, sh->H, sh->W);
}

static vkl_status check_optional(vkl_cmd *cmd, const char *op, const char *name, const vkl_buf *b,
                                 uint64_t count) {
  return b ? vkl_op_check_tensor(cmd, op, name, *b, count) : VKL_OK;
}

/* A tensor-walking shader: the vec4 variant when planes allow it. */
static vkl_status walk_pipeline(vkl_cmd *cmd, const bn_geom *g, vkl_shader_id scalar,
                                vkl_shader_id vec4, const vkl_pipeline **out) {
  vkl_batchnorm_spec spec = {.wg_size = BN_WG};
  return vkl_op_pipeline(cmd, g->vec == 4 ? vec4 : scalar, &spec, sizeof spec, out);
}

static vkl_status combine_pipeline(vkl_cmd *cmd, vkl_shader_id shader, const vkl_pipeline **out) {
  vkl_batchnorm_spec spec = {.wg_size = BN_COMBINE_WG};
  return vkl_op_pipeline(cmd, shader, &spec, sizeof spec, out);
}

static vkl_status walk(vkl_cmd *cmd, const vkl_pipeline *p, const bn_geom *g, const vkl_buf *bufs,
                       uint32_t count) {
  return vkl_cmd_dispatch(cmd, p, bufs, count, &g->push, sizeof g->push, g->groups, g->push.nchunks,
                          1);
}

static vkl_status combine(vkl_cmd *cmd, const vkl_pipeline *p, const bn_geom *g,
                          const vkl_buf *bufs, uint32_t count) {
  return vkl_cmd_dispatch(cmd, p, bufs, count, &g->push, sizeof g->push,
                          vkl_div_up(g->push.C, BN_COMBINE_WG), 1, 1);
}

/* The fused kernel `scalar`/`vec4` (by the plane) for the geometry. */
static vkl_status bnf_pipeline(vkl_cmd *cmd, const bnf_geom *g, vkl_shader_id scalar,
                               vkl_shader_id vec4, const vkl_pipeline **out) {
  return vkl_op_pipeline(cmd, g->vec == 4 ? vec4 : scalar, &g->spec, sizeof g->spec, out);
}

static vkl_status bnf_dispatch(vkl_cmd *cmd, const vkl_pipeline *p, const bnf_geom *g,
                               const vkl_buf *bufs, uint32_t count) {
  return vkl_cmd_dispatch(cmd, p, bufs, count, &g->push, sizeof g->push, g->push.C, 1, 1);
}

vkl_status vkl_batchnorm_forward_train(vkl_cmd *cmd, vkl_buf y, vkl_buf mean, vkl_buf invstd,
                                       const vkl_buf *running_mean, const vkl_buf *running_var,
                                       vkl_buf x, const vkl_buf *gamma, const vkl_buf *beta,
                                       const vkl_batchnorm_shape *sh, float eps, float momentum,
                                       vkl_buf workspace) {
  static const char op[] = "batchnorm forward (training)";
  vkl_status st;
  if ((st = check_shape(cmd, op, sh, 1))) return st;
  uint64_t n = bn_count(sh), C = sh->C;
  if ((st = vkl_op_check_tensor(cmd, op, "y", y, n)) ||
      (st = vkl_op_check_tensor(cmd, op, "mean", mean, C)) ||
      (st = vkl_op_check_tensor(cmd, op, "invstd", invstd, C)) ||
      (st = check_optional(cmd, op, "running_mean", running_mean, C)) ||
      (st = check_optional(cmd, op, "running_var", running_var, C)) ||
      (st = vkl_op_check_tensor(cmd, op, "x", x, n)) ||
      (st = check_optional(cmd, op, "gamma", gamma, C)) ||
      (st = check_optional(cmd, op, "beta", beta, C)) ||
      (st = vkl_op_check_tensor(cmd, op, "workspace", workspace,
                                vkl_batchnorm_workspace_floats(sh))))
    return st;
  uint32_t flags = (gamma ? BN_HAS_GAMMA : 0) | (beta ? BN_HAS_BETA : 0) |
                   (running_mean ? BN_HAS_RUNNING_MEAN : 0) |
                   (running_var ? BN_HAS_RUNNING_VAR : 0);
  bn_layout layout = bn_layout_for(cmd, sh, BNF_TRAIN);
  if (layout == BN_FUSED) {
    bnf_geom f = bnf_geometry(sh, bnf_max_wg(cmd));
    f.spec.flags = flags;
    f.push.eps = eps;
    f.push.momentum = momentum;
    const vkl_pipeline *p;
    if ((st = bnf_pipeline(cmd, &f, VKL_SHADER_batchnorm_train, VKL_SHADER_batchnorm_train4, &p)))
      return st;
    /* An absent optional tensor binds one of the same access that the kernel
     * binds anyway; the flags keep the kernel from touching it. */
    vkl_buf bufs[8] = {x,
                       y,
                       mean,
                       invstd,
                       running_mean ? *running_mean : mean,
                       running_var ? *running_var : invstd,
                       gamma ? *gamma : x,
                       beta ? *beta : x};
    vkl_cmd_barrier(cmd); /* RAW: x, the parameters; WAR/WAW: y, mean, invstd, running stats */
    return bnf_dispatch(cmd, p, &f, bufs, 8);
  }
  bn_geom g = bn_geometry(sh, layout);
  g.push.eps = eps;
  g.push.momentum = momentum;
  g.push.flags |= (gamma ? BN_HAS_GAMMA : 0) | (beta ? BN_HAS_BETA : 0) |
                  (running_mean ? BN_HAS_RUNNING_MEAN : 0) | (running_var ? BN_HAS_RUNNING_VAR : 0);
  const vkl_pipeline *p_stats, *p_combine, *p_apply;
  if ((st = walk_pipeline(cmd, &g, VKL_SHADER_batchnorm_stats, VKL_SHADER_batchnorm_stats4,
                          &p_stats)) ||
      (st = combine_pipeline(cmd, VKL_SHADER_batchnorm_combine, &p_combine)) ||
      (st = walk_pipeline(cmd, &g, VKL_SHADER_batchnorm_apply, VKL_SHADER_batchnorm_apply4,
                          &p_apply)))
    return st;

  /* An absent optional tensor binds one of the same access that the kernel
   * binds anyway; the flags keep the kernel from touching it. */
  vkl_buf stats[2] = {x, workspace};
  vkl_buf comb[8] = {workspace,
                     x,
                     mean,
                     invstd,
                     running_mean ? *running_mean : workspace,
                     running_var ? *running_var : workspace,
                     gamma ? *gamma : x,
                     beta ? *beta : x};
  vkl_buf apply[6] = {x, y, workspace, x, x, x};
  vkl_cmd_barrier(cmd); /* RAW: x written by earlier work; WAR: the workspace read by it */
  if ((st = walk(cmd, p_stats, &g, stats, 2))) return st;
  vkl_cmd_barrier(cmd); /* RAW: the partials; WAR/WAW: mean, invstd, running stats */
  if ((st = combine(cmd, p_combine, &g, comb, 8))) return st;
  vkl_cmd_barrier(cmd); /* RAW: the coefficients; WAR/WAW: y, read or written by earlier work */
  return walk(cmd, p_apply, &g, apply, 6);
}

vkl_status vkl_batchnorm_forward_eval(vkl_cmd *cmd, vkl_buf y, vkl_buf x, vkl_buf running_mean,
                                      vkl_buf running_var, const vkl_buf *gamma,
                                      const vkl_buf *beta, const vkl_batchnorm_shape *sh,
                                      float eps) {
  static const char op[] = "batchnorm forward (evaluation)";
  vkl_status st;
  if ((st = check_shape(cmd, op, sh, 0))) return st;
  uint64_t n = bn_count(sh), C = sh->C;
  if ((st = vkl_op_check_tensor(cmd, op, "y", y, n)) ||
      (st = vkl_op_check_tensor(cmd, op, "x", x, n)) ||
      (st = vkl_op_check_tensor(cmd, op, "running_mean", running_mean, C)) ||
      (st = vkl_op_check_tensor(cmd, op, "running_var", running_var, C)) ||
      (st = check_optional(cmd, op, "gamma", gamma, C)) ||
      (st = check_optional(cmd, op, "beta", beta, C)))
    return st;
  bn_layout layout = bn_layout_for(cmd, sh, BNF_EVAL);
  bnf_geom f = bnf_geometry_pass(sh, bnf_max_wg(cmd), BNF_EVAL);
  /* measured on lavapipe: fused 1.2x faster on planes of 4 and 16 units
   * (whole planes per run), the segmented kernel 1.5x on planes of 64 */
  if (layout == BN_FUSED && f.ok && (f.spec.q == 1 || bn_forced_fused(cmd))) {
    f.spec.flags = (gamma ? BN_HAS_GAMMA : 0) | (beta ? BN_HAS_BETA : 0);
    f.push.eps = eps;
    const vkl_pipeline *p;
    if ((st = bnf_pipeline(cmd, &f, VKL_SHADER_batchnorm_eval, VKL_SHADER_batchnorm_eval4, &p)))
      return st;
    vkl_buf bufs[6] = {x, y, running_mean, running_var, gamma ? *gamma : x, beta ? *beta : x};
    vkl_cmd_barrier(cmd); /* RAW: inputs written by earlier work; WAR/WAW: y */
    return bnf_dispatch(cmd, p, &f, bufs, 6);
  }
  if (layout == BN_FUSED) layout = BN_SEGMENTED;
  bn_geom g = bn_geometry(sh, layout);
  g.push.eps = eps;
  g.push.flags |= BN_EVAL | (gamma ? BN_HAS_GAMMA : 0) | (beta ? BN_HAS_BETA : 0);
  const vkl_pipeline *p;
  if ((st = walk_pipeline(cmd, &g, VKL_SHADER_batchnorm_apply, VKL_SHADER_batchnorm_apply4, &p)))
    return st;
  vkl_buf bufs[6] = {x, y, running_mean, running_var, gamma ? *gamma : x, beta ? *beta : x};
  vkl_cmd_barrier(cmd); /* RAW: inputs written by earlier work; WAR/WAW: y */
  return walk(cmd, p, &g, bufs, 6);
}

vkl_status vkl_batchnorm_backward(vkl_cmd *cmd, const vkl_buf *dx, const vkl_buf *dgamma,
                                  const vkl_buf *dbeta, vkl_buf dy, vkl_buf x, vkl_buf mean,
                                  vkl_buf invstd, const vkl_buf *gamma,
                                  const vkl_batchnorm_shape *sh, int accumulate,
                                  vkl_buf workspace) {
  static const char op[] = "batchnorm backward";
  vkl_status st;
  if ((st = check_shape(cmd, op, sh, 1))) return st;
  uint64_t n = bn_count(sh), C = sh->C;
  if ((st = check_optional(cmd, op, "dx", dx, n)) ||
      (st = check_optional(cmd, op, "dgamma", dgamma, C)) ||
      (st = check_optional(cmd, op, "dbeta", dbeta, C)) ||
      (st = vkl_op_check_tensor(cmd, op, "dy", dy, n)) ||
      (st = vkl_op_check_tensor(cmd, op, "x", x, n)) ||
      (st = vkl_op_check_tensor(cmd, op, "mean", mean, C)) ||
      (st = vkl_op_check_tensor(cmd, op, "invstd", invstd, C)) ||
      (st = check_optional(cmd, op, "gamma", gamma, C)) ||
      (st = vkl_op_check_tensor(cmd, op, "workspace", workspace,
                                vkl_batchnorm_workspace_floats(sh))))
    return st;
  if (!dx && !dgamma && !dbeta) return VKL_OK; /* nothing asked for */
  bn_layout layout = bn_layout_for(cmd, sh, BNF_BWD);
  /* the fused kernel always writes dx: without it, the reduction kernels */
  if (layout == BN_FUSED && dx) {
    bnf_geom f = bnf_geometry_pass(sh, bnf_max_wg(cmd), BNF_BWD);
    f.spec.flags = (gamma ? BN_HAS_GAMMA : 0) | (dgamma ? BN_HAS_DGAMMA : 0) |
                   (dbeta ? BN_HAS_DBETA : 0) | (accumulate ? BN_ACCUMULATE : 0);
    const vkl_pipeline *p;
    if ((st = bnf_pipeline(cmd, &f, VKL_SHADER_batchnorm_bwd, VKL_SHADER_batchnorm_bwd4, &p)))
      return st;
    /* An absent optional tensor binds one of the same access that the kernel
     * binds anyway; the flags keep the kernel from touching it. */
    vkl_buf bufs[8] = {dy,
                       x,
                       *dx,
                       mean,
                       invstd,
                       gamma ? *gamma : mean,
                       dgamma ? *dgamma : *dx,
                       dbeta ? *dbeta : *dx};
    vkl_cmd_barrier(cmd); /* RAW: dy, x, mean, invstd, gamma; WAR/WAW: dx, dgamma, dbeta */
    return bnf_dispatch(cmd, p, &f, bufs, 8);
  }
  if (layout == BN_FUSED) layout = BN_SEGMENTED;
  bn_geom g = bn_geometry(sh, layout);
  g.push.flags |= (gamma ? BN_HAS_GAMMA : 0) | (dgamma ? BN_HAS_DGAMMA : 0) |
                  (dbeta ? BN_HAS_DBETA : 0) | (accumulate ? BN_ACCUMULATE : 0);
  const vkl_pipeline *p_reduce, *p_combine, *p_dx = NULL;
  if ((st = walk_pipeline(cmd, &g, VKL_SHADER_batchnorm_bwd_reduce,
                          VKL_SHADER_batchnorm_bwd_reduce4, &p_reduce)) ||
      (st = combine_pipeline(cmd, VKL_SHADER_batchnorm_bwd_combine, &p_combine)) ||
      (dx && (st = walk_pipeline(cmd, &g, VKL_SHADER_batchnorm_bwd_dx, VKL_SHADER_batchnorm_bwd_dx4,
                                 &p_dx))))
    return st;

  /* An absent optional tensor binds one of the same access that the kernel
   * binds anyway; the flags keep the kernel from touching it. */
  vkl_buf reduce[4] = {dy, x, mean, workspace};
  vkl_buf comb[6] = {workspace,
                     mean,
                     invstd,
                     gamma ? *gamma : mean,
                     dgamma ? *dgamma : workspace,
                     dbeta ? *dbeta : workspace};
  vkl_cmd_barrier(cmd); /* RAW: dy, x, mean written by earlier work; WAR: the workspace */
  if ((st = walk(cmd, p_reduce, &g, reduce, 4))) return st;
  vkl_cmd_barrier(cmd); /* RAW: the partials; WAR/WAW: dgamma, dbeta */
  if ((st = combine(cmd, p_combine, &g, comb, 6))) return st;
  if (!dx) return VKL_OK;
  vkl_buf dxk[4] = {dy, x, *dx, workspace};
  vkl_cmd_barrier(cmd); /* RAW: the dx coefficients; WAR/WAW: dx, read or written by earlier work */
  return walk(cmd, p_dx, &g, dxk, 4);
}
