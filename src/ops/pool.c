/*
 * 2-D pooling references: x (N,C,H,W) -> y (N,C,P,Q) over R x S windows, and global
 * average pooling (N,C,H,W) -> (N,C). Each (n,c) plane is pooled on its own, so the
 * windowed passes loop over planes and call a per-plane helper. The double references
 * come first, then the recording of the device kernels.
 */
#include "ops/pool.h"

#include "fastdiv.h"
#include "global_avgpool_backward.h"
#include "global_avgpool_forward.h"
#include "ops/elementwise.h"
#include "ops/op_util.h"
#include "pool2d_backward.h"
#include "pool2d_forward.h"
#include "vk/vk_tuning.h"

#include <stddef.h>

/* Output size along one axis, or -1 when impossible. 64-bit so 2*pad cannot wrap. */
static int64_t out_size(uint32_t in, uint32_t window, uint32_t stride, uint32_t pad) {
  int64_t padded = (int64_t)in + 2 * (int64_t)pad;
  if (in == 0 || window == 0 || stride == 0 || 2 * (int64_t)pad > window || padded < window)
    return -1;
  int64_t out = (padded - window) / stride + 1;
  return out > UINT32_MAX ? -1 : out;
}

int vkl_pool2d_shape_finish(vkl_pool2d_shape *sh) {
  int64_t P = out_size(sh->H, sh->R, sh->stride_h, sh->pad_h);
  int64_t Q = out_size(sh->W, sh->S, sh->stride_w, sh->pad_w);
  if (P < 0 || Q < 0 || sh->N == 0 || sh->C == 0) return -1;
  sh->P = (uint32_t)P;
  sh->Q = (uint32_t)Q;
  return 0;
}

static size_t in_plane(const vkl_pool2d_shape *sh) {
  return (size_t)sh->H * sh->W;
}

static size_t out_plane(const vkl_pool2d_shape *sh) {
  return (size_t)sh->P * sh->Q;
}

static size_t planes(const vkl_pool2d_shape *sh) {
  return (size_t)sh->N * sh->C;
}

/* Index within the input plane of tap (r,s) of output pixel (p,q), or -1 in the
 * padding. */
static ptrdiff_t tap(const vkl_pool2d_shape *sh, uint32_t p, uint32_t q, uint32_t r, uint32_t s) {
  int64_t h = (int64_t)p * sh->stride_h + r - sh->pad_h;
  int64_t w = (int64_t)q * sh->stride_w + s - sh->pad_w;
  if (h < 0 || h >= sh->H || w < 0 || w >= sh->W) return -1;
  return (ptrdiff_t)((size_t)h * sh->W + (size_t)w);
}

/* Index within the plane x of the window (p,q)'s maximum: the first in scan order, as
 * the strict > keeps an earlier equal value. shape_finish guarantees a real element. */
static ptrdiff_t window_argmax(const double *x, const vkl_pool2d_shape *sh, uint32_t p,
                               uint32_t q) {
  ptrdiff_t best = -1;
  for (uint32_t r = 0; r < sh->R; r++)
    for (uint32_t s = 0; s < sh->S; s++) {
      ptrdiff_t i = tap(sh, p, q, r, s);
      if (i >= 0 && (best < 0 || x[i] > x[best])) best = i;
    }
  return best;
}

void vkl_maxpool2d_forward_ref(double *y, const double *x, const vkl_pool2d_shape *sh) {
  for (size_t pl = 0; pl < planes(sh); pl++) {
    const double *xp = x + pl * in_plane(sh);
    double *yp = y + pl * out_plane(sh);
    for (uint32_t p = 0; p < sh->P; p++)
      for (uint32_t q = 0; q < sh->Q; q++)
        yp[(size_t)p * sh->Q + q] = xp[window_argmax(xp, sh, p, q)];
  }
}

/* 1. dx[argmax of window (p,q)] += dy[p,q]; other elements of the window get nothing.
 *    Overlapping windows (stride < window) may select the same element and add up. */
void vkl_maxpool2d_backward_ref(double *dx, const double *dy, const double *x,
                                const vkl_pool2d_shape *sh, int accumulate) {
  if (!accumulate) vkl_fill_ref(dx, 0.0, planes(sh) * in_plane(sh));
  for (size_t pl = 0; pl < planes(sh); pl++) {
    const double *xp = x + pl * in_plane(sh);
    const double *gp = dy + pl * out_plane(sh);
    double *dp = dx + pl * in_plane(sh);
    for (uint32_t p = 0; p < sh->P; p++)
      for (uint32_t q = 0; q < sh->Q; q++)
        dp[window_argmax(xp, sh, p, q)] += gp[(size_t)p * sh->Q + q];
  }
}

void vkl_avgpool2d_forward_ref(double *y, const double *x, const vkl_pool2d_shape *sh) {
  double divisor = (double)sh->R * sh->S;
  for (size_t pl = 0; pl < planes(sh); pl++) {
    const double *xp = x + pl * in_plane(sh);
    double *yp = y + pl * out_plane(sh);
    for (uint32_t p = 0; p < sh->P; p++)
      for (uint32_t q = 0; q < sh->Q; q++) {
        double sum = 0.0;
        for (uint32_t r = 0; r < sh->R; r++)
          for (uint32_t s = 0; s < sh->S; s++) {
            ptrdiff_t i = tap(sh, p, q, r, s);
            if (i >= 0) sum += xp[i];
          }
        yp[(size_t)p * sh->Q + q] = sum / divisor;
      }
  }
}

/* 1. dx[h,w] += dy[p,q] / (R S) for every window (p,q) whose taps include (h,w). */
void vkl_avgpool2d_backward_ref(double *dx, const double *dy, const vkl_pool2d_shape *sh,
                                int accumulate) {
  double divisor = (double)sh->R * sh->S;
  if (!accumulate) vkl_fill_ref(dx, 0.0, planes(sh) * in_plane(sh));
  for (size_t pl = 0; pl < planes(sh); pl++) {
    const double *gp = dy + pl * out_plane(sh);
    double *dp = dx + pl * in_plane(sh);
    for (uint32_t p = 0; p < sh->P; p++)
      for (uint32_t q = 0; q < sh->Q; q++) {
        double g = gp[(size_t)p * sh->Q + q] / divisor;
        for (uint32_t r = 0; r < sh->R; r++)
          for (uint32_t s = 0; s < sh->S; s++) {
            ptrdiff_t i = tap(sh, p, q, r, s);
            if (i >= 0) dp[i] += g;
          }
      }
  }
}

void vkl_global_avgpool_forward_ref(double *y, const double *x, const vkl_pool2d_shape *sh) {
  for (size_t pl = 0; pl < planes(sh); pl++) {
    double sum = 0.0;
    for (size_t i = 0; i < in_plane(sh); i++) sum += x[pl * in_plane(sh) + i];
    y[pl] = sum / (double)in_plane(sh);
  }
}

/* 1. dx[n,c,h,w] = dy[n,c] / (H W): every element has the same weight in the mean. */
void vkl_global_avgpool_backward_ref(double *dx, const double *dy, const vkl_pool2d_shape *sh,
                                     int accumulate) {
  for (size_t pl = 0; pl < planes(sh); pl++) {
    double g = dy[pl] / (double)in_plane(sh);
    for (size_t i = 0; i < in_plane(sh); i++) {
      double *d = &dx[pl * in_plane(sh) + i];
      *d = accumulate ? *d + g : g;
    }
  }
}

/* ---- device recording ---- */

#define POOL_WG 64
#define GLOBAL_POOL_WG 64

static uint32_t min_u32(uint32_t a, uint32_t b) {
  return a < b ? a : b;
}

static uint32_t max_u32(uint32_t a, uint32_t b) {
  return a > b ? a : b;
}

/* The shape must be complete (P, Q as vkl_pool2d_shape_finish gives them) and within
 * what the unrolled kernels support. */
static vkl_status check_shape(vkl_cmd *cmd, const char *op, const vkl_pool2d_shape *sh) {
  vkl_ctx *ctx = vkl_cmd_ctx(cmd);
  vkl_pool2d_shape s = *sh;
  if (vkl_pool2d_shape_finish(&s))
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "%s: invalid shape: N=%u C=%u H=%u W=%u, window %ux%u, stride %ux%u, "
                         "pad %ux%u (sizes and strides must be positive, the window must fit "
                         "the padded input and a pad be at most half its window)",
                         op, sh->N, sh->C, sh->H, sh->W, sh->R, sh->S, sh->stride_h, sh->stride_w,
                         sh->pad_h, sh->pad_w);
  if (s.P != sh->P || s.Q != sh->Q)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "%s: output size %ux%u, the shape gives %ux%u "
                         "(complete it with vkl_pool2d_shape_finish)",
                         op, sh->P, sh->Q, s.P, s.Q);
  if (sh->R > VKL_POOL2D_MAX_WINDOW || sh->S > VKL_POOL2D_MAX_WINDOW ||
      sh->stride_h > VKL_POOL2D_MAX_WINDOW || sh->stride_w > VKL_POOL2D_MAX_WINDOW)
    return vkl_set_error(ctx, VKL_ERR_UNSUPPORTED,
                         "%s: window %ux%u, stride %ux%u: at most %u each is supported", op, sh->R,
                         sh->S, sh->stride_h, sh->stride_w, VKL_POOL2D_MAX_WINDOW);
  return VKL_OK;
}

/* Tiles are sized so that an invocation does enough work to amortize its
 * fixed costs (on lavapipe each 8-lane batch of invocations is a coroutine
 * call and every buffer access a loop over the lanes, so fewer, larger
 * accesses win) while the unrolled tap loops stay near MAX_TAPS window taps:
 * beyond that, code size grows the time to build the pipeline (a 4x4-window
 * stride-1 backward with 576 taps took llvmpipe over a second) and register
 * pressure, without a measured gain. */
#define MAX_TAPS 160

/* Forward: tp x tq outputs, tq a multiple of 4 so that with tq SW a multiple of 4
 * every tile starts its vec4 reads at the same offset mod 4. 2 x 8 on the 3x3 and
 * 2x2 windows of the benchmarks (measured best among 1-4 x 4-16). */
static void forward_tile(const vkl_pool2d_shape *sh, uint32_t most, uint32_t *tp, uint32_t *tq) {
  uint32_t taps = sh->R * sh->S;
  *tp = sh->P >= 2 ? 2 : 1;
  *tq = sh->Q > 4 ? 8 : 4;
  if (*tp * *tq * taps > MAX_TAPS) *tp = 1;
  if (*tp * *tq * taps > MAX_TAPS) *tq = 4;
  /* the tuning table's bound on outputs per invocation (GPU: 8; 2 x 8 with scalar
   * loads spills SGPRs on RDNA) */
  if (*tp * *tq > most) *tq = 4;
  if (*tp * *tq > most) *tp = 1;
}

/* Backward: th x tw input elements, th a multiple of SH and tw of 4 SW, so that the
 * windows over every tile sit at the same offsets (see pool2d_backward.comp). Each
 * element gathers about R S / (SH SW) window taps. 4 x 16 on 3x3 stride 2 (measured
 * best among 2-8 x 8-32), smaller for stride 1 and large windows, and no larger than
 * the plane rounded up to those multiples. */
static void backward_tile(const vkl_pool2d_shape *sh, uint32_t *th, uint32_t *tw) {
  uint32_t sh_ = sh->stride_h, sw = sh->stride_w;
  uint32_t kh = min_u32(max_u32(1, 4 / sh_), vkl_div_up(sh->H, sh_));
  uint32_t kw = min_u32(max_u32(1, 16 / (4 * sw)), vkl_div_up(sh->W, 4 * sw));
  double per_element = (double)sh->R * sh->S / ((double)sh_ * sw);
  while (kh > 1 && kh * sh_ * kw * 4 * sw * per_element > MAX_TAPS) kh--;
  while (kw > 1 && kh * sh_ * kw * 4 * sw * per_element > MAX_TAPS) kw--;
  *th = kh * sh_;
  *tw = kw * 4 * sw;
}

/* Tiles of ta x tb per plane, numbered flat (see shaders/common/pool2d.h). */
static vkl_pool2d_push tile_push(const vkl_pool2d_shape *sh, uint32_t ta, uint32_t tb) {
  vkl_pool2d_push push = {.H = sh->H, .W = sh->W, .P = sh->P, .Q = sh->Q, .ta = ta, .tb = tb};
  push.tiles = sh->N * sh->C * ta * tb; /* < 2^31: x fits a binding */
  vkl_fastdiv_init(ta, &push.ta_mul, &push.ta_shr);
  vkl_fastdiv_init(tb, &push.tb_mul, &push.tb_shr);
  return push;
}

static vkl_status pool_forward(vkl_cmd *cmd, const char *op, vkl_buf y, const vkl_buf *argmax,
                               vkl_buf x, const vkl_pool2d_shape *sh, int is_avg) {
  vkl_status st;
  if ((st = check_shape(cmd, op, sh))) return st;
  uint64_t nx = (uint64_t)sh->N * sh->C * sh->H * sh->W;
  uint64_t ny = (uint64_t)sh->N * sh->C * sh->P * sh->Q;
  if ((st = vkl_op_check_tensor(cmd, op, "y", y, ny)) ||
      (st = vkl_op_check_tensor(cmd, op, "x", x, nx)) ||
      (argmax && (st = vkl_op_check_tensor(cmd, op, "argmax", *argmax, ny))))
    return st;
  vkl_pool2d_forward_spec spec = {
      .wg_size = POOL_WG,
      .R = sh->R,
      .S = sh->S,
      .SH = sh->stride_h,
      .SW = sh->stride_w,
      .PH = sh->pad_h,
      .PW = sh->pad_w,
      .is_avg = is_avg ? 1u : 0u,
      .write_argmax = argmax ? 1u : 0u,
      .vec_x = sh->W % 4 == 0,
      .vec_y = sh->Q % 4 == 0,
  };
  forward_tile(sh, vkl_ctx_tuning(vkl_cmd_ctx(cmd))->pool_outputs, &spec.tp, &spec.tq);
  spec.lead = spec.vec_x ? (4 - sh->pad_w % 4) % 4 : 0;
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_pool2d_forward, &spec, sizeof spec, &p))) return st;
  vkl_pool2d_push push = tile_push(sh, vkl_div_up(sh->Q, spec.tq), vkl_div_up(sh->P, spec.tp));
  /* without argmax, binding 2 is y again: declared, never written */
  vkl_buf bufs[3] = {x, y, argmax ? *argmax : y};
  vkl_cmd_barrier(cmd); /* x written by earlier work (RAW); y, argmax read or written by it
                           (WAR, WAW) */
  return vkl_cmd_dispatch(cmd, p, bufs, 3, &push, sizeof push, vkl_div_up(push.tiles, POOL_WG), 1,
                          1);
}

static vkl_status pool_backward(vkl_cmd *cmd, const char *op, vkl_buf dx, vkl_buf dy,
                                const vkl_buf *argmax, const vkl_pool2d_shape *sh, int is_avg,
                                int accumulate) {
  vkl_status st;
  if ((st = check_shape(cmd, op, sh))) return st;
  uint64_t nx = (uint64_t)sh->N * sh->C * sh->H * sh->W;
  uint64_t ny = (uint64_t)sh->N * sh->C * sh->P * sh->Q;
  if ((st = vkl_op_check_tensor(cmd, op, "dx", dx, nx)) ||
      (st = vkl_op_check_tensor(cmd, op, "dy", dy, ny)) ||
      (argmax && (st = vkl_op_check_tensor(cmd, op, "argmax", *argmax, ny))))
    return st;
  uint32_t th, tw;
  backward_tile(sh, &th, &tw);
  vkl_pool2d_backward_spec spec = {
      .wg_size = POOL_WG,
      .R = sh->R,
      .S = sh->S,
      .SH = sh->stride_h,
      .SW = sh->stride_w,
      .PH = sh->pad_h,
      .PW = sh->pad_w,
      .is_avg = is_avg ? 1u : 0u,
      .accumulate = accumulate ? 1u : 0u,
      .th = th,
      .tw = tw,
      .vec_dy = sh->Q % 4 == 0,
      .vec_dx = sh->W % 4 == 0,
      /* the first window over input row h0 (h0 % SH == 0) is
         ceil((h0 + PH - R + 1) / SH) = h0 / SH - (R - 1 - PH) / SH */
      .p_back = (sh->R - 1 - sh->pad_h) / sh->stride_h,
      .q_back = (sh->S - 1 - sh->pad_w) / sh->stride_w,
  };
  spec.lead = spec.vec_dy ? (4 - spec.q_back % 4) % 4 : 0;
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_pool2d_backward, &spec, sizeof spec, &p))) return st;
  vkl_pool2d_push push = tile_push(sh, vkl_div_up(sh->W, tw), vkl_div_up(sh->H, th));
  /* average-pooling reads no argmax: binding 1 is dy again */
  vkl_buf bufs[3] = {dy, argmax ? *argmax : dy, dx};
  vkl_cmd_barrier(cmd); /* dy, argmax (and dx when accumulating) written by earlier work
                           (RAW); dx read or written by it (WAR, WAW) */
  return vkl_cmd_dispatch(cmd, p, bufs, 3, &push, sizeof push, vkl_div_up(push.tiles, POOL_WG), 1,
                          1);
}

vkl_status vkl_maxpool2d_forward(vkl_cmd *cmd, vkl_buf y, const vkl_buf *argmax, vkl_buf x,
                                 const vkl_pool2d_shape *sh) {
  return pool_forward(cmd, "maxpool2d", y, argmax, x, sh, 0);
}

vkl_status vkl_maxpool2d_backward(vkl_cmd *cmd, vkl_buf dx, vkl_buf dy, vkl_buf argmax,
                                  const vkl_pool2d_shape *sh, int accumulate) {
  return pool_backward(cmd, "maxpool2d backward", dx, dy, &argmax, sh, 0, accumulate);
}

vkl_status vkl_avgpool2d_forward(vkl_cmd *cmd, vkl_buf y, vkl_buf x, const vkl_pool2d_shape *sh) {
  return pool_forward(cmd, "avgpool2d", y, NULL, x, sh, 1);
}

vkl_status vkl_avgpool2d_backward(vkl_cmd *cmd, vkl_buf dx, vkl_buf dy, const vkl_pool2d_shape *sh,
                                  int accumulate) {
  return pool_backward(cmd, "avgpool2d backward", dx, dy, NULL, sh, 1, accumulate);
}

static vkl_status check_global_shape(vkl_cmd *cmd, const char *op, const vkl_pool2d_shape *sh) {
  if (sh->N == 0 || sh->C == 0 || sh->H == 0 || sh->W == 0)
    return vkl_set_error(vkl_cmd_ctx(cmd), VKL_ERR_INVALID_ARGUMENT,
                         "%s: invalid shape: N=%u C=%u H=%u W=%u (all must be positive)", op, sh->N,
                         sh->C, sh->H, sh->W);
  return VKL_OK;
}

static uint32_t global_groups(uint32_t planes) {
  return vkl_div_up(vkl_div_up(planes, VKL_GLOBAL_AVGPOOL_PLANES), GLOBAL_POOL_WG);
}

vkl_status vkl_global_avgpool_forward(vkl_cmd *cmd, vkl_buf y, vkl_buf x,
                                      const vkl_pool2d_shape *sh) {
  const char *op = "global_avgpool";
  vkl_status st;
  if ((st = check_global_shape(cmd, op, sh))) return st;
  uint64_t planes = (uint64_t)sh->N * sh->C, hw = (uint64_t)sh->H * sh->W;
  if ((st = vkl_op_check_tensor(cmd, op, "y", y, planes)) ||
      (st = vkl_op_check_tensor(cmd, op, "x", x, planes * hw)))
    return st;
  vkl_global_avgpool_forward_spec spec = {.wg_size = GLOBAL_POOL_WG, .vec_x = hw % 4 == 0};
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_global_avgpool_forward, &spec, sizeof spec, &p)))
    return st;
  vkl_global_avgpool_push push = {.planes = (uint32_t)planes, .hw = (uint32_t)hw};
  vkl_buf bufs[2] = {x, y};
  vkl_cmd_barrier(cmd); /* x written by earlier work (RAW); y read or written by it (WAR, WAW) */
  return vkl_cmd_dispatch(cmd, p, bufs, 2, &push, sizeof push, global_groups(push.planes), 1, 1);
}

vkl_status vkl_global_avgpool_backward(vkl_cmd *cmd, vkl_buf dx, vkl_buf dy,
                                       const vkl_pool2d_shape *sh, int accumulate) {
  const char *op = "global_avgpool backward";
  vkl_status st;
  if ((st = check_global_shape(cmd, op, sh))) return st;
  uint64_t planes = (uint64_t)sh->N * sh->C, hw = (uint64_t)sh->H * sh->W;
  if ((st = vkl_op_check_tensor(cmd, op, "dx", dx, planes * hw)) ||
      (st = vkl_op_check_tensor(cmd, op, "dy", dy, planes)))
    return st;
  vkl_global_avgpool_backward_spec spec = {
      .wg_size = GLOBAL_POOL_WG, .vec_dx = hw % 4 == 0, .accumulate = accumulate ? 1u : 0u};
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_global_avgpool_backward, &spec, sizeof spec, &p)))
    return st;
  vkl_global_avgpool_push push = {.planes = (uint32_t)planes, .hw = (uint32_t)hw};
  vkl_buf bufs[2] = {dy, dx};
  vkl_cmd_barrier(cmd); /* dy (and dx when accumulating) written by earlier work (RAW); dx
                           read or written by it (WAR, WAW) */
  return vkl_cmd_dispatch(cmd, p, bufs, 2, &push, sizeof push, global_groups(push.planes), 1, 1);
}
