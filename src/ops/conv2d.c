/*
 * 2-D convolution reference: x (N,C,H,W) * w (K,C,R,S) + bias (K) -> y (N,K,P,Q).
 * All three passes walk the same (n,k,p,q) x (c,r,s) taps; tap() maps one to its input
 * element or to the zero padding.
 */
#include "ops/conv2d.h"

#include "conv2d_bwd_small.h"
#include "conv2d_igemm.h"
#include "conv2d_pack.h"
#include "conv2d_wgrad.h"
#include "conv2d_wreduce.h"
#include "ops/conv2d_tiled_record.h"
#include "ops/conv2d_wgrad_gpu.h"
#include "ops/elementwise.h"
#include "ops/op_util.h"
#include "vk/vk_tuning.h"

#include <stddef.h>

/* Output size along one axis, or -1 when impossible. 64-bit so 2*pad cannot wrap. */
static int64_t out_size(uint32_t in, uint32_t kernel, uint32_t stride, uint32_t pad) {
  int64_t padded = (int64_t)in + 2 * (int64_t)pad;
  if (in == 0 || kernel == 0 || stride == 0 || padded < kernel) return -1;
  int64_t out = (padded - kernel) / stride + 1;
  return out > UINT32_MAX ? -1 : out;
}

int vkl_conv2d_shape_finish(vkl_conv2d_shape *sh) {
  int64_t P = out_size(sh->H, sh->R, sh->stride_h, sh->pad_h);
  int64_t Q = out_size(sh->W, sh->S, sh->stride_w, sh->pad_w);
  if (P < 0 || Q < 0 || sh->N == 0 || sh->C == 0 || sh->K == 0) return -1;
  sh->P = (uint32_t)P;
  sh->Q = (uint32_t)Q;
  return 0;
}

/* Index in x of tap (r,s) of output pixel (p,q) in channel c, or -1 in the padding. */
static ptrdiff_t tap(const vkl_conv2d_shape *sh, uint32_t n, uint32_t c, uint32_t p, uint32_t q,
                     uint32_t r, uint32_t s) {
  int64_t h = (int64_t)p * sh->stride_h + r - sh->pad_h;
  int64_t w = (int64_t)q * sh->stride_w + s - sh->pad_w;
  if (h < 0 || h >= sh->H || w < 0 || w >= sh->W) return -1;
  return (ptrdiff_t)((((size_t)n * sh->C + c) * sh->H + (size_t)h) * sh->W + (size_t)w);
}

static size_t w_at(const vkl_conv2d_shape *sh, uint32_t k, uint32_t c, uint32_t r, uint32_t s) {
  return (((size_t)k * sh->C + c) * sh->R + r) * sh->S + s;
}

static size_t y_at(const vkl_conv2d_shape *sh, uint32_t n, uint32_t k, uint32_t p, uint32_t q) {
  return (((size_t)n * sh->K + k) * sh->P + p) * sh->Q + q;
}

void vkl_conv2d_forward_ref(double *y, const double *x, const double *w, const double *bias,
                            const vkl_conv2d_shape *sh) {
  for (uint32_t n = 0; n < sh->N; n++)
    for (uint32_t k = 0; k < sh->K; k++)
      for (uint32_t p = 0; p < sh->P; p++)
        for (uint32_t q = 0; q < sh->Q; q++) {
          double acc = bias ? bias[k] : 0.0;
          for (uint32_t c = 0; c < sh->C; c++)
            for (uint32_t r = 0; r < sh->R; r++)
              for (uint32_t s = 0; s < sh->S; s++) {
                ptrdiff_t i = tap(sh, n, c, p, q, r, s);
                if (i >= 0) acc += x[i] * w[w_at(sh, k, c, r, s)];
              }
          y[y_at(sh, n, k, p, q)] = acc;
        }
}

/* 1. dx[n,c,h,w] = sum over every (k,p,q,r,s) whose tap lands on (h,w) of
 *    dy[n,k,p,q] w[k,c,r,s]. Scattered from each output pixel, because with stride
 *    and padding the set of taps reaching one input element is irregular. */
void vkl_conv2d_backward_data_ref(double *dx, const double *dy, const double *w,
                                  const vkl_conv2d_shape *sh, int accumulate) {
  if (!accumulate) vkl_fill_ref(dx, 0.0, (size_t)sh->N * sh->C * sh->H * sh->W);
  for (uint32_t n = 0; n < sh->N; n++)
    for (uint32_t k = 0; k < sh->K; k++)
      for (uint32_t p = 0; p < sh->P; p++)
        for (uint32_t q = 0; q < sh->Q; q++) {
          double g = dy[y_at(sh, n, k, p, q)];
          for (uint32_t c = 0; c < sh->C; c++)
            for (uint32_t r = 0; r < sh->R; r++)
              for (uint32_t s = 0; s < sh->S; s++) {
                ptrdiff_t i = tap(sh, n, c, p, q, r, s);
                if (i >= 0) dx[i] += g * w[w_at(sh, k, c, r, s)];
              }
        }
}

/* 1. dw[k,c,r,s] = sum_{n,p,q} dy[n,k,p,q] x[tap (r,s) of (p,q)]  (padding taps add 0)
 * 2. dbias[k]    = sum_{n,p,q} dy[n,k,p,q] */
void vkl_conv2d_backward_weight_ref(double *dw, double *dbias, const double *dy, const double *x,
                                    const vkl_conv2d_shape *sh, int accumulate) {
  if (!accumulate) {
    vkl_fill_ref(dw, 0.0, (size_t)sh->K * sh->C * sh->R * sh->S);
    if (dbias) vkl_fill_ref(dbias, 0.0, sh->K);
  }
  for (uint32_t n = 0; n < sh->N; n++)
    for (uint32_t k = 0; k < sh->K; k++)
      for (uint32_t p = 0; p < sh->P; p++)
        for (uint32_t q = 0; q < sh->Q; q++) {
          double g = dy[y_at(sh, n, k, p, q)];
          if (dbias) dbias[k] += g;
          for (uint32_t c = 0; c < sh->C; c++)
            for (uint32_t r = 0; r < sh->R; r++)
              for (uint32_t s = 0; s < sh->S; s++) {
                ptrdiff_t i = tap(sh, n, c, p, q, r, s);
                if (i >= 0) dw[w_at(sh, k, c, r, s)] += g * x[i];
              }
        }
}

/* ---- device recording ---------------------------------------------------------------
 *
 * Every pass repacks its operands into the workspace (conv2d_pack), then runs one GEMM
 * kernel over them. Regions of the workspace start on 256-byte boundaries, the largest
 * minStorageBufferOffsetAlignment Vulkan allows. Forward and backward-data run
 * conv2d_igemm (and conv2d_bwd_small) under the CPU geometry, conv2d_tiled
 * (conv2d_tiled.c) under the GPU one, over the same packs: the workspace does not
 * depend on the device. */

#define WS_ALIGN 64u /* floats: 256 bytes */

/* Implicit-GEMM blocks (conv2d_igemm), from the tuning table (vk/vk_tuning.h): igemm_tm
 * rows x igemm_tn pixels per invocation, igemm_lx lanes along the pixels. Measured on
 * lavapipe (ResNet-18 layers, against the GEMM baseline): 16x32 reaches 2.5-2.7x at 4-6 s
 * of first-use compile per pipeline; 16x64 9% more, but at 2-3x the compile time; 16x16
 * ~2x (before the 3-tap windows). Layers with few rows (backward-data of the 3-channel
 * stem) take igemm_tm_small-row blocks. */
/* Backward-weight blocks (conv2d_wgrad): 4*tkv rows k x 4*tcb columns, wgrad_lx lanes a
 * workgroup. The block and split constants stay fixed: they size the workspace, which
 * vkl_conv2d_workspace_floats gives without a device. */
#define WG_TKV 4u
#define WG_TCB 8u
#define WG_TCB_NINE 9u
#define WG_WIN 2u
/* Split backward-weight's reduction until the grid has this many invocations (64 SIMD
 * vectors of 8), so both threads of a 2-core CPU (and the cores of a GPU) stay busy. */
#define WG_TARGET_LANES 512u
#define WG_MIN_ROWS_PER_SPLIT 4u
#define WG_DIRECT_MAX_CRS 128u

static uint64_t align_up(uint64_t n, uint64_t a) {
  return (n + a - 1) / a * a;
}

static uint32_t chunks4(uint32_t n) {
  return (n + 3u) / 4u;
}

/* The border of dy packed for backward-data: every dy row p = t - j that some phase
 * reads (t an output row's index in its phase, j a tap) lies in [-top, P + bottom). */
typedef struct bd_border {
  uint32_t top, left, Hb, Wb;
} bd_border;

static void bd_axis(uint32_t out, uint32_t in, uint32_t kernel, uint32_t stride, uint32_t pad,
                    uint32_t *before, uint32_t *size) {
  int64_t lo = 0, hi = (int64_t)in - 1;
  for (uint32_t ph = 0; ph < stride; ph++) {
    /* as conv2d_igemm.comp: output rows h = t * stride + ph - pad, 0 <= h < out */
    int64_t t0 = pad >= ph ? ((int64_t)pad - ph + stride - 1) / stride : 0;
    int64_t last = (int64_t)out - 1 + pad;
    int64_t t1 = last >= ph ? (last - ph) / stride + 1 : 0;
    int64_t taps = ph < kernel ? ((int64_t)kernel - 1 - ph) / stride + 1 : 0;
    if (t1 <= t0 || taps == 0) continue;
    if (t0 - (taps - 1) < lo) lo = t0 - (taps - 1);
    if (t1 - 1 > hi) hi = t1 - 1;
  }
  *before = (uint32_t)-lo;
  *size = (uint32_t)(hi - lo + 1);
}

static bd_border bd_border_of(const vkl_conv2d_shape *sh) {
  bd_border b;
  bd_axis(sh->H, sh->P, sh->R, sh->stride_h, sh->pad_h, &b.top, &b.Hb);
  bd_axis(sh->W, sh->Q, sh->S, sh->stride_w, sh->pad_w, &b.left, &b.Wb);
  return b;
}

/* Backward-weight's blocks: tkv*4 rows k by tcb column chunks. Nine chunks where the
 * columns come in nines but not eights (a 3x3 kernel over at most 4 channels: the stem),
 * so that no lane computes clamped duplicates. */
static uint32_t wg_tcb(const vkl_conv2d_shape *sh) {
  uint64_t ncol = (uint64_t)sh->R * sh->S * chunks4(sh->C);
  return ncol % WG_TCB != 0 && ncol % WG_TCB_NINE == 0 ? WG_TCB_NINE : WG_TCB;
}

/* Window mode (see conv2d_wgrad.h): 3 taps wide, x walked at stride 1 along w, and
 * channels enough that a block holds WG_WIN chunks. Returns the chunks per block, or 0. */
static uint32_t wg_win(const vkl_conv2d_shape *sh) {
  return sh->S == 3 && sh->stride_w == 1 && chunks4(sh->C) >= WG_WIN ? WG_WIN : 0;
}

static uint32_t wg_nkb(const vkl_conv2d_shape *sh) {
  return vkl_div_up(chunks4(sh->K), WG_TKV);
}

static uint32_t wg_blocks(const vkl_conv2d_shape *sh) {
  uint32_t win = wg_win(sh);
  if (win) return wg_nkb(sh) * sh->R * vkl_div_up(chunks4(sh->C), win);
  return wg_nkb(sh) * vkl_div_up((uint64_t)sh->R * sh->S * chunks4(sh->C), wg_tcb(sh));
}

/* The split of the N*P rows of the reduction: enough (block, split) invocations to
 * fill WG_TARGET_LANES, each split at least WG_MIN_ROWS_PER_SPLIT rows. */
static uint32_t wg_splits(const vkl_conv2d_shape *sh) {
  uint32_t rows = sh->N * sh->P;
  uint32_t splits = vkl_div_up(WG_TARGET_LANES, wg_blocks(sh));
  uint32_t most = rows / WG_MIN_ROWS_PER_SPLIT > 1 ? rows / WG_MIN_ROWS_PER_SPLIT : 1;
  if (splits > most) splits = most;
  /* equal row counts: the last split must not be empty */
  uint32_t per = vkl_div_up(rows, splits);
  return vkl_div_up(rows, per);
}

/* A 1x1 kernel without padding reads only every stride-th row and column of x: the
 * pack keeps just those (the ResNet downsample: a quarter of x), and the GEMM then runs
 * at stride 1 over a (N, P, Q) image. */
static int folds_stride(const vkl_conv2d_shape *sh) {
  return sh->R == 1 && sh->S == 1 && sh->pad_h == 0 && sh->pad_w == 0 &&
         (sh->stride_h > 1 || sh->stride_w > 1);
}

/* x as the forward and backward-weight GEMMs read it: its packed size (with the conv's
 * padding as a border, or folded) and the stride to walk it with. */
typedef struct x_packing {
  uint32_t Hb, Wb, stride_h, stride_w;
} x_packing;

static x_packing x_packing_of(const vkl_conv2d_shape *sh) {
  x_packing p = {sh->H + 2 * sh->pad_h, sh->W + 2 * sh->pad_w, sh->stride_h, sh->stride_w};
  if (folds_stride(sh)) p = (x_packing){sh->P, sh->Q, 1, 1};
  return p;
}

/* Workspace regions of each pass, in floats. */
typedef struct ws_plan {
  uint64_t a, b, part; /* region sizes */
} ws_plan;

static ws_plan plan_forward(const vkl_conv2d_shape *sh) {
  uint64_t c4 = 4ull * chunks4(sh->C);
  x_packing xp = x_packing_of(sh);
  ws_plan p = {
      .a = (uint64_t)sh->K * sh->R * sh->S * c4,
      .b = (uint64_t)sh->N * xp.Hb * xp.Wb * c4,
      .part = 0,
  };
  return p;
}

static ws_plan plan_backward_data(const vkl_conv2d_shape *sh) {
  uint64_t k4 = 4ull * chunks4(sh->K);
  bd_border bb = bd_border_of(sh);
  ws_plan p = {
      .a = (uint64_t)sh->C * sh->R * sh->S * k4,
      .b = (uint64_t)sh->N * bb.Hb * bb.Wb * k4,
      .part = 0,
  };
  return p;
}

/* a: x packed with the conv's border; b: dy packed; part: split partials */
static ws_plan plan_backward_weight(const vkl_conv2d_shape *sh) {
  uint64_t c4 = 4ull * chunks4(sh->C), k4 = 4ull * chunks4(sh->K);
  uint32_t splits = wg_splits(sh);
  x_packing xp = x_packing_of(sh);
  ws_plan p = {
      .a = (uint64_t)sh->N * xp.Hb * xp.Wb * c4,
      .b = (uint64_t)sh->N * sh->P * sh->Q * k4,
      .part = splits * ((uint64_t)sh->K * sh->R * sh->S * c4 + k4),
  };
  return p;
}

/* The GPU geometry's backward-weight (conv2d_wgrad_gpu.c): the same packed operands,
 * and partials for its most splits (none when that is one: dw is written directly). */
static ws_plan plan_backward_weight_gpu(const vkl_conv2d_shape *sh) {
  uint64_t c4 = 4ull * chunks4(sh->C), k4 = 4ull * chunks4(sh->K);
  uint32_t splits = vkl_wgt_max_splits(sh);
  ws_plan p = plan_backward_weight(sh);
  p.part = splits > 1 ? splits * ((uint64_t)sh->K * sh->R * sh->S * c4 + k4) : 0;
  return p;
}

static uint64_t plan_total(ws_plan p) {
  return align_up(p.a, WS_ALIGN) + align_up(p.b, WS_ALIGN) + p.part;
}

uint64_t vkl_conv2d_workspace_floats(const vkl_conv2d_shape *sh) {
  vkl_conv2d_shape s = *sh;
  if (vkl_conv2d_shape_finish(&s)) return 0;
  uint64_t f = plan_total(plan_forward(&s)), d = plan_total(plan_backward_data(&s));
  uint64_t w = plan_total(plan_backward_weight(&s));
  uint64_t wg = plan_total(plan_backward_weight_gpu(&s)); /* either geometry may run */
  uint64_t m = f > d ? f : d;
  if (wg > w) w = wg;
  return m > w ? m : w;
}

/* The shape gives an output and agrees with its own P and Q. */
static vkl_status check_shape(vkl_cmd *cmd, const char *op, const vkl_conv2d_shape *sh) {
  vkl_ctx *ctx = vkl_cmd_ctx(cmd);
  vkl_conv2d_shape s = *sh;
  if (vkl_conv2d_shape_finish(&s))
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "%s: no output for N=%u C=%u H=%u W=%u K=%u R=%u S=%u stride %ux%u "
                         "pad %ux%u (a size or stride is 0, or the kernel is larger than the "
                         "padded input)",
                         op, sh->N, sh->C, sh->H, sh->W, sh->K, sh->R, sh->S, sh->stride_h,
                         sh->stride_w, sh->pad_h, sh->pad_w);
  if (s.P != sh->P || s.Q != sh->Q)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "%s: shape says the output is %ux%u but the sizes give %ux%u "
                         "(call vkl_conv2d_shape_finish)",
                         op, sh->P, sh->Q, s.P, s.Q);
  return VKL_OK;
}

/* Splits the workspace into the plan's regions, each checked against the binding limit. */
static vkl_status take_workspace(vkl_cmd *cmd, const char *op, vkl_buf ws, ws_plan p, vkl_buf *a,
                                 vkl_buf *b, vkl_buf *part) {
  vkl_status st;
  /* the workspace as a whole is never bound: only its size counts here, and each
   * region must fit one binding */
  uint64_t need = plan_total(p);
  if (!ws.buffer || ws.size < need * sizeof(float))
    return vkl_set_error(vkl_cmd_ctx(cmd), VKL_ERR_INVALID_ARGUMENT,
                         "%s: tensor workspace holds %llu floats, the shape needs %llu "
                         "(vkl_conv2d_workspace_floats)",
                         op, (unsigned long long)(ws.size / sizeof(float)),
                         (unsigned long long)need);
  uint64_t oa = 0, ob = align_up(p.a, WS_ALIGN), op_ = ob + align_up(p.b, WS_ALIGN);
  *a = vkl_buf_sub(ws, oa * sizeof(float), p.a * sizeof(float));
  *b = vkl_buf_sub(ws, ob * sizeof(float), p.b * sizeof(float));
  if ((st = vkl_op_check_tensor(cmd, op, "workspace (packed operand)", *a, p.a)) ||
      (st = vkl_op_check_tensor(cmd, op, "workspace (packed operand)", *b, p.b)))
    return st;
  if (part) {
    *part = vkl_buf_sub(ws, op_ * sizeof(float), (p.part ? p.part : 1) * sizeof(float));
    if (p.part && (st = vkl_op_check_tensor(cmd, op, "workspace (partial sums)", *part, p.part)))
      return st;
  }
  return VKL_OK;
}

/* dst[i0, i1, i2, b4] = vec4 of src[i0*s0 + (i1-o1)*s1 + (i2-o2)*s2 + b*sb], zero
 * outside (see conv2d_pack.h). No barrier of its own. */
typedef struct pack_desc {
  uint32_t D0, D1, D2, nb;
  uint32_t s0, s1, s2, sb;
  uint32_t n1, n2, o1, o2;
} pack_desc;

static vkl_status record_pack(vkl_cmd *cmd, vkl_buf dst, vkl_buf src, const pack_desc *d) {
  /* Source rows of whole, aligned vec4s: read 4 columns at once (activations with
   * W % 4 == 0, which is every ResNet layer). */
  int vec4_src = d->s2 == 1 && d->n2 % 4 == 0 && d->s0 % 4 == 0 && d->s1 % 4 == 0 &&
                 d->sb % 4 == 0 && src.offset % 16 == 0;
  /* the GPU geometry's workgroups are tile_wg invocations (a multiple of the largest
   * subgroup); 8 columns wide either way, as the narrow planes of late layers are */
  const vkl_tuning *tu = vkl_ctx_tuning(vkl_cmd_ctx(cmd));
  uint32_t ly = tu->geometry == VKL_GEOMETRY_GPU ? tu->tile_wg / 8 : 4;
  vkl_conv2d_pack_spec spec = {.lx = 8, .ly = ly, .vec4_src = vec4_src ? 1u : 0u};
  const vkl_pipeline *p;
  vkl_status st = vkl_op_pipeline(cmd, VKL_SHADER_conv2d_pack, &spec, sizeof spec, &p);
  if (st) return st;
  vkl_conv2d_pack_push push = {
      .D0 = d->D0,
      .D1 = d->D1,
      .D2 = d->D2,
      .B4 = chunks4(d->nb),
      .s0 = d->s0,
      .s1 = d->s1,
      .s2 = d->s2,
      .sb = d->sb,
      .n1 = d->n1,
      .n2 = d->n2,
      .nb = d->nb,
      .o1 = d->o1,
      .o2 = d->o2,
  };
  uint32_t nx = vec4_src ? vkl_div_up(d->o2, 4) + vkl_div_up(d->D2 - d->o2, 4) : d->D2;
  vkl_buf bufs[3] = {src, dst, src};
  return vkl_cmd_dispatch(cmd, p, bufs, 3, &push, sizeof push, vkl_div_up(nx, spec.lx),
                          vkl_div_up(d->D1, spec.ly), d->D0 * push.B4);
}

/* Activations (N, C, H, W) -> (N, H + top + bottom, W + left + right, C/4) vec4s. */
static vkl_status pack_activations(vkl_cmd *cmd, vkl_buf dst, vkl_buf src, uint32_t N, uint32_t C,
                                   uint32_t H, uint32_t W, uint32_t top, uint32_t Hb, uint32_t left,
                                   uint32_t Wb) {
  pack_desc d = {
      .D0 = N,
      .D1 = Hb,
      .D2 = Wb,
      .nb = C,
      .s0 = C * H * W,
      .s1 = W,
      .s2 = 1,
      .sb = H * W,
      .n1 = H,
      .n2 = W,
      .o1 = top,
      .o2 = left,
  };
  return record_pack(cmd, dst, src, &d);
}

/* The GEMM can read b (x forward, dy backward-data) as given, four pixels per vec4, when
 * the kernel is 1x1 without padding (b's pixels are the output's, or a stride phase's)
 * and its planes hold whole vec4s: no pack. */
static int b_in_place(const vkl_conv2d_shape *sh, vkl_buf b, int backward) {
  uint64_t plane = backward ? (uint64_t)sh->P * sh->Q : (uint64_t)sh->H * sh->W;
  return sh->R == 1 && sh->S == 1 && sh->pad_h == 0 && sh->pad_w == 0 && plane % 4 == 0 &&
         b.offset % 16 == 0 && (backward || (sh->stride_h == 1 && sh->stride_w == 1));
}

/* x as x_packing_of(sh) describes it. */
static vkl_status pack_x(vkl_cmd *cmd, vkl_buf dst, vkl_buf x, const vkl_conv2d_shape *sh) {
  if (!folds_stride(sh))
    return pack_activations(cmd, dst, x, sh->N, sh->C, sh->H, sh->W, sh->pad_h,
                            sh->H + 2 * sh->pad_h, sh->pad_w, sh->W + 2 * sh->pad_w);
  /* rows and columns 0, stride, 2 stride, ... of x */
  pack_desc d = {
      .D0 = sh->N,
      .D1 = sh->P,
      .D2 = sh->Q,
      .nb = sh->C,
      .s0 = sh->C * sh->H * sh->W,
      .s1 = sh->W * sh->stride_h,
      .s2 = sh->stride_w,
      .sb = sh->H * sh->W,
      .n1 = sh->P,
      .n2 = sh->Q,
      .o1 = 0,
      .o2 = 0,
  };
  return record_pack(cmd, dst, x, &d);
}

/* Weights (K, C, R, S) -> (K, R, S, C/4) vec4s, or transposed (C, R, S, K/4). */
static vkl_status pack_weights(vkl_cmd *cmd, vkl_buf dst, vkl_buf w, const vkl_conv2d_shape *sh,
                               int transposed) {
  uint32_t RS = sh->R * sh->S;
  pack_desc d = {
      .D0 = transposed ? sh->C : sh->K,
      .D1 = sh->R,
      .D2 = sh->S,
      .nb = transposed ? sh->K : sh->C,
      .s0 = transposed ? RS : sh->C * RS,
      .s1 = sh->S,
      .s2 = 1,
      .sb = transposed ? sh->C * RS : RS,
      .n1 = sh->R,
      .n2 = sh->S,
      .o1 = 0,
      .o2 = 0,
  };
  return record_pack(cmd, dst, w, &d);
}

static int gpu_geometry(vkl_cmd *cmd) {
  return vkl_ctx_tuning(vkl_cmd_ctx(cmd))->geometry == VKL_GEOMETRY_GPU;
}

static vkl_status record_igemm(vkl_cmd *cmd, vkl_buf out, vkl_buf a, vkl_buf b, vkl_buf bias,
                               const vkl_conv2d_gemm_push *push, uint32_t npix_max, uint32_t phases,
                               int backward, int accumulate, int b_direct) {
  const vkl_tuning *tu = vkl_ctx_tuning(vkl_cmd_ctx(cmd));
  if (tu->geometry == VKL_GEOMETRY_GPU) /* b_direct is never chosen there */
    return vkl_conv2d_tiled_record(cmd, out, a, b, bias, push, npix_max, phases, accumulate);
  uint32_t tm = push->M <= 8 ? tu->igemm_tm_small : tu->igemm_tm;
  /* One vec4 store per group of 4 pixels when the group's outputs are contiguous and
   * aligned: one phase at stride 1 over whole output planes of 4k floats. */
  int vec4_out = (push->Hout * push->Wout) % 4 == 0 && out.offset % 16 == 0 &&
                 (!backward || (push->stride_h == 1 && push->stride_w == 1));
  /* A group's 4 pixels x 3 taps read 6 b pixels instead of 12 when the kernel is 3 wide
   * and b is walked at stride 1 along w (Wt % 4 == 0 keeps a group in one row). */
  /* (at stride_w 1, backward-data's phases are as wide as dx) */
  int win3 = push->S == 3 && push->stride_w == 1 && push->Wout % 4 == 0 && !b_direct;
  vkl_conv2d_igemm_spec spec = {.lx = tu->igemm_lx,
                                .tm = tm,
                                .tn = tu->igemm_tn,
                                .accumulate = accumulate ? 1u : 0u,
                                .vec4_out = vec4_out ? 1u : 0u,
                                .b_direct = b_direct ? 1u : 0u,
                                .win3 = win3 ? 1u : 0u};
  const vkl_pipeline *p;
  vkl_status st = vkl_op_pipeline(cmd, VKL_SHADER_conv2d_igemm, &spec, sizeof spec, &p);
  if (st) return st;
  vkl_buf bufs[5] = {a, b, bias, out, out};
  return vkl_cmd_dispatch(cmd, p, bufs, 5, push, sizeof *push, vkl_div_up(push->M, tm) * phases,
                          vkl_div_up(npix_max, (uint64_t)tu->igemm_lx * tu->igemm_tn), 1);
}

vkl_status vkl_conv2d_forward(vkl_cmd *cmd, vkl_buf y, vkl_buf x, vkl_buf w, const vkl_buf *bias,
                              const vkl_conv2d_shape *sh, vkl_buf workspace) {
  const char *op = "conv2d forward";
  vkl_status st;
  if ((st = check_shape(cmd, op, sh))) return st;
  uint64_t RS = (uint64_t)sh->R * sh->S;
  if ((st = vkl_op_check_tensor(cmd, op, "y", y, (uint64_t)sh->N * sh->K * sh->P * sh->Q)) ||
      (st = vkl_op_check_tensor(cmd, op, "x", x, (uint64_t)sh->N * sh->C * sh->H * sh->W)) ||
      (st = vkl_op_check_tensor(cmd, op, "w", w, (uint64_t)sh->K * sh->C * RS)) ||
      (bias && (st = vkl_op_check_tensor(cmd, op, "bias", *bias, sh->K))))
    return st;
  ws_plan plan = plan_forward(sh);
  vkl_buf wp, xp;
  if ((st = take_workspace(cmd, op, workspace, plan, &wp, &xp, NULL))) return st;
  x_packing xk = x_packing_of(sh);

  int direct = !gpu_geometry(cmd) && b_in_place(sh, x, 0);

  vkl_cmd_barrier(cmd); /* x, w written by earlier work; the workspace read by it (WAR) */
  if ((st = pack_weights(cmd, wp, w, sh, 0)) || (!direct && (st = pack_x(cmd, xp, x, sh))))
    return st;
  vkl_cmd_barrier(cmd); /* the packed operands before the GEMM reads them (RAW); y read or
                           written by earlier work (WAR, WAW) */
  vkl_conv2d_gemm_push push = {
      .M = sh->K,
      .N = sh->N,
      .ch = chunks4(sh->C),
      .R = sh->R,
      .S = sh->S,
      .Hb = xk.Hb,
      .Wb = xk.Wb,
      .stride_h = xk.stride_h,
      .stride_w = xk.stride_w,
      .pad_h = sh->pad_h,
      .pad_w = sh->pad_w,
      .Hout = sh->P,
      .Wout = sh->Q,
      .flags = bias ? CONV2D_GEMM_BIAS : 0u,
      .cb = sh->C,
  };
  return record_igemm(cmd, y, wp, direct ? x : xp, bias ? *bias : y, &push, sh->N * sh->P * sh->Q,
                      1, 0, 0, direct);
}

/* Backward-data of few input channels (conv2d_bwd_small.comp): where the implicit GEMM
 * would have M = C <= 4 rows. Measured on lavapipe, stem 3->64 3x3 at 32x32, batch 64:
 * 0.69x the GEMM baseline through conv2d_igemm.comp (4-row blocks, 3 of them used). */
#define BS_TH 4u  /* dx rows per invocation */
#define BS_TW 32u /* dx columns per invocation, at most */
#define BS_LX 8u

static int bwd_small_fits(const vkl_conv2d_shape *sh, vkl_buf dx, vkl_buf dy) {
  return sh->C <= CONV2D_BWD_SMALL_MAX_C && sh->stride_h == 1 && sh->stride_w == 1 &&
         sh->R <= CONV2D_BWD_SMALL_MAX_RS && sh->S <= CONV2D_BWD_SMALL_MAX_RS &&
         sh->pad_h < sh->R && sh->pad_w < sh->S && sh->W % 4 == 0 && sh->Q % 4 == 0 &&
         dx.offset % 16 == 0 && dy.offset % 16 == 0;
}

static vkl_status record_bwd_small(vkl_cmd *cmd, vkl_buf dx, vkl_buf dy, vkl_buf w,
                                   const vkl_conv2d_shape *sh, int accumulate) {
  uint32_t tw = sh->W < BS_TW ? sh->W : BS_TW; /* W % 4 == 0 */
  vkl_conv2d_bwd_small_spec spec = {.lx = BS_LX,
                                    .C = sh->C,
                                    .R = sh->R,
                                    .S = sh->S,
                                    .pad_h = sh->pad_h,
                                    .pad_w = sh->pad_w,
                                    .th = BS_TH,
                                    .tw = tw};
  const vkl_pipeline *p;
  vkl_status st = vkl_op_pipeline(cmd, VKL_SHADER_conv2d_bwd_small, &spec, sizeof spec, &p);
  if (st) return st;
  vkl_conv2d_bwd_small_push push = {.N = sh->N,
                                    .K = sh->K,
                                    .H = sh->H,
                                    .W = sh->W,
                                    .P = sh->P,
                                    .Q = sh->Q,
                                    .tiles_w = vkl_div_up(sh->W, tw),
                                    .tiles_h = vkl_div_up(sh->H, BS_TH),
                                    .accumulate = accumulate ? 1 : 0};
  uint64_t n = (uint64_t)sh->N * push.tiles_w * push.tiles_h;
  vkl_buf bufs[3] = {dy, w, dx};
  vkl_cmd_barrier(cmd); /* dy, w written by earlier work (RAW); dx read or written (WAR, WAW) */
  return vkl_cmd_dispatch(cmd, p, bufs, 3, &push, sizeof push, vkl_div_up(n, BS_LX), 1, 1);
}

vkl_status vkl_conv2d_backward_data(vkl_cmd *cmd, vkl_buf dx, vkl_buf dy, vkl_buf w,
                                    const vkl_conv2d_shape *sh, int accumulate, vkl_buf workspace) {
  const char *op = "conv2d backward-data";
  vkl_status st;
  if ((st = check_shape(cmd, op, sh))) return st;
  uint64_t RS = (uint64_t)sh->R * sh->S;
  if ((st = vkl_op_check_tensor(cmd, op, "dx", dx, (uint64_t)sh->N * sh->C * sh->H * sh->W)) ||
      (st = vkl_op_check_tensor(cmd, op, "dy", dy, (uint64_t)sh->N * sh->K * sh->P * sh->Q)) ||
      (st = vkl_op_check_tensor(cmd, op, "w", w, (uint64_t)sh->K * sh->C * RS)))
    return st;
  ws_plan plan = plan_backward_data(sh);
  vkl_buf wp, dyp;
  if ((st = take_workspace(cmd, op, workspace, plan, &wp, &dyp, NULL))) return st;
  /* the GPU geometry runs every shape, the stem's few channels too, through the tiled
   * GEMM */
  int gpu = gpu_geometry(cmd);
  if (!gpu && bwd_small_fits(sh, dx, dy)) return record_bwd_small(cmd, dx, dy, w, sh, accumulate);
  bd_border bb = bd_border_of(sh);
  int direct = !gpu && b_in_place(sh, dy, 1);

  vkl_cmd_barrier(cmd); /* dy, w written by earlier work; the workspace read by it (WAR) */
  if ((st = pack_weights(cmd, wp, w, sh, 1)) ||
      (!direct && (st = pack_activations(cmd, dyp, dy, sh->N, sh->K, sh->P, sh->Q, bb.top, bb.Hb,
                                         bb.left, bb.Wb))))
    return st;
  vkl_cmd_barrier(cmd); /* the packed operands before the GEMM reads them (RAW); dx read or
                           written by earlier work (WAR, WAW) */
  vkl_conv2d_gemm_push push = {
      .M = sh->C,
      .N = sh->N,
      .ch = chunks4(sh->K),
      .R = sh->R,
      .S = sh->S,
      .Hb = bb.Hb,
      .Wb = bb.Wb,
      .stride_h = sh->stride_h,
      .stride_w = sh->stride_w,
      .pad_h = sh->pad_h,
      .pad_w = sh->pad_w,
      .Hout = sh->H,
      .Wout = sh->W,
      .pad_top = bb.top,
      .pad_left = bb.left,
      .cb = sh->K,
      .backward = 1,
  };
  /* the largest phase has ceil(H / stride_h) x ceil(W / stride_w) pixels */
  uint32_t npix = sh->N * vkl_div_up(sh->H, sh->stride_h) * vkl_div_up(sh->W, sh->stride_w);
  return record_igemm(cmd, dx, wp, direct ? dy : dyp, dx, &push, npix, sh->stride_h * sh->stride_w,
                      1, accumulate, direct);
}

/* Backward-weight under the GPU geometry: x and dy packed, then the tiled GEMM with
 * its split over the pixels (conv2d_wgrad_gpu.c). The tensors are checked. */
static vkl_status backward_weight_gpu(vkl_cmd *cmd, vkl_buf dw, const vkl_buf *dbias, vkl_buf dy,
                                      vkl_buf x, const vkl_conv2d_shape *sh, int accumulate,
                                      vkl_buf workspace) {
  const char *op = "conv2d backward-weight";
  vkl_wgt_plan pl;
  vkl_status st = vkl_wgt_plan_of(cmd, sh, dbias != NULL, &pl);
  if (st) return st;
  ws_plan plan = plan_backward_weight_gpu(sh);
  uint64_t c4 = 4ull * chunks4(sh->C), k4 = 4ull * chunks4(sh->K);
  plan.part = pl.splits > 1 ? pl.splits * ((uint64_t)sh->K * sh->R * sh->S * c4 + k4) : 0;
  vkl_buf xp, dyp, part;
  if ((st = take_workspace(cmd, op, workspace, plan, &xp, &dyp, &part))) return st;
  x_packing xk = x_packing_of(sh);

  vkl_cmd_barrier(cmd); /* dy, x written by earlier work; the workspace read by it (WAR) */
  if ((st = pack_x(cmd, xp, x, sh)) ||
      (st = pack_activations(cmd, dyp, dy, sh->N, sh->K, sh->P, sh->Q, 0, sh->P, 0, sh->Q)))
    return st;
  vkl_cmd_barrier(cmd); /* the packed operands before the GEMM reads them (RAW); dw and the
                           partials read or written by earlier work (WAR, WAW) */
  vkl_wgt_xgeom xg = {xk.Hb, xk.Wb, xk.stride_h, xk.stride_w};
  if (pl.splits == 1) part = dw; /* no partials: any buffer in range, never written */
  return vkl_wgt_record(cmd, dw, dbias, dyp, xp, part, sh, xg, &pl, accumulate);
}

vkl_status vkl_conv2d_backward_weight(vkl_cmd *cmd, vkl_buf dw, const vkl_buf *dbias, vkl_buf dy,
                                      vkl_buf x, const vkl_conv2d_shape *sh, int accumulate,
                                      vkl_buf workspace) {
  const char *op = "conv2d backward-weight";
  vkl_status st;
  if ((st = check_shape(cmd, op, sh))) return st;
  uint64_t RS = (uint64_t)sh->R * sh->S, nw = (uint64_t)sh->K * sh->C * RS;
  if ((st = vkl_op_check_tensor(cmd, op, "dw", dw, nw)) ||
      (dbias && (st = vkl_op_check_tensor(cmd, op, "dbias", *dbias, sh->K))) ||
      (st = vkl_op_check_tensor(cmd, op, "dy", dy, (uint64_t)sh->N * sh->K * sh->P * sh->Q)) ||
      (st = vkl_op_check_tensor(cmd, op, "x", x, (uint64_t)sh->N * sh->C * sh->H * sh->W)))
    return st;
  const vkl_tuning *tu = vkl_ctx_tuning(vkl_cmd_ctx(cmd));
  if (tu->geometry == VKL_GEOMETRY_GPU && vkl_wgt_usable(tu))
    return backward_weight_gpu(cmd, dw, dbias, dy, x, sh, accumulate, workspace);
  ws_plan plan = plan_backward_weight(sh);
  vkl_buf xp, dyp, part;
  if ((st = take_workspace(cmd, op, workspace, plan, &xp, &dyp, &part))) return st;
  x_packing xk = x_packing_of(sh);
  uint32_t splits = wg_splits(sh), rows = sh->N * sh->P;

  /* dy is read in place when its rows hold whole vec4s and the reduction per output is
   * short (then the pack would cost a large share: the stem, 1x1 layers); else packed
   * (N, P, Q, K/4), which walks memory better: in place, the 16 rows k of a pixel lie
   * P*Q floats apart, at 32x32 the same L1 set (measured 8% slower on 64->64 3x3 32x32,
   * 1.3x faster on 1x1 64->128). */
  int dy_direct =
      sh->Q % 4 == 0 && dy.offset % 16 == 0 && (uint64_t)sh->C * sh->R * sh->S <= WG_DIRECT_MAX_CRS;

  vkl_cmd_barrier(cmd); /* dy, x written by earlier work; the workspace read by it (WAR) */
  if ((st = pack_x(cmd, xp, x, sh)) ||
      (!dy_direct &&
       (st = pack_activations(cmd, dyp, dy, sh->N, sh->K, sh->P, sh->Q, 0, sh->P, 0, sh->Q))))
    return st;
  vkl_cmd_barrier(cmd); /* the packed operands before the GEMM reads them (RAW); the
                           partials read by earlier work (WAR) */
  /* One split and no accumulation: the kernel writes dw and dbias itself (the second
   * pass cost ~10% on 256->256 8x8 and 512->512 4x4, measured). */
  int direct_out = splits == 1 && !accumulate;
  uint32_t lx = vkl_ctx_tuning(vkl_cmd_ctx(cmd))->wgrad_lx;
  vkl_conv2d_wgrad_spec spec = {.lx = lx,
                                .tkv = WG_TKV,
                                .tcb = wg_win(sh) ? 3 * wg_win(sh) : wg_tcb(sh),
                                .dy_direct = dy_direct ? 1u : 0u,
                                .win = wg_win(sh),
                                .direct_out = direct_out ? 1u : 0u};
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_conv2d_wgrad, &spec, sizeof spec, &p))) return st;
  uint32_t blocks = wg_blocks(sh);
  uint64_t split_stride = (uint64_t)sh->K * RS * 4 * chunks4(sh->C); /* floats */
  vkl_conv2d_wgrad_push push = {
      .K = sh->K,
      .C = sh->C,
      .kch = chunks4(sh->K),
      .ch = chunks4(sh->C),
      .R = sh->R,
      .S = sh->S,
      .Hb = xk.Hb,
      .Wb = xk.Wb,
      .stride_h = xk.stride_h,
      .stride_w = xk.stride_w,
      .P = sh->P,
      .Q = sh->Q,
      .rows = rows,
      .rows_per_split = vkl_div_up(rows, splits),
      .nkb = wg_nkb(sh),
      .nblocks = blocks,
      .lanes = blocks * splits,
      .bias_base = (uint32_t)(splits * split_stride / 4),
      .with_bias = dbias ? 1u : 0u,
  };
  vkl_buf bufs[5] = {dy_direct ? dy : dyp, xp, part, dw, dbias ? *dbias : dw};
  if ((st =
           vkl_cmd_dispatch(cmd, p, bufs, 5, &push, sizeof push, vkl_div_up(push.lanes, lx), 1, 1)))
    return st;
  if (direct_out) return VKL_OK;

  vkl_cmd_barrier(cmd); /* the partial sums before the reduction reads them (RAW) */
  vkl_conv2d_wreduce_spec rspec = {.wg_size = 64};
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_conv2d_wreduce, &rspec, sizeof rspec, &p))) return st;
  vkl_conv2d_wreduce_push rpush = {
      .K = sh->K,
      .C = sh->C,
      .RS = (uint32_t)RS,
      .C4 = 4 * chunks4(sh->C),
      .K4 = 4 * chunks4(sh->K),
      .splits = splits,
      .split_stride = (uint32_t)split_stride,
      .bias_base = (uint32_t)(splits * split_stride),
      .accumulate = accumulate ? 1u : 0u,
      .with_bias = dbias ? 1u : 0u,
  };
  vkl_buf rbufs[3] = {part, dw, dbias ? *dbias : dw};
  uint32_t width = sh->C > sh->K ? sh->C : sh->K;
  return vkl_cmd_dispatch(cmd, p, rbufs, 3, &rpush, sizeof rpush, vkl_div_up(width, rspec.wg_size),
                          (uint32_t)RS, sh->K + 1);
}
