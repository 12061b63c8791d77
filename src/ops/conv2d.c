/*
 * 2-D convolution reference: x (N,C,H,W) * w (K,C,R,S) + bias (K) -> y (N,K,P,Q).
 * All three passes walk the same (n,k,p,q) x (c,r,s) taps; tap() maps one to its input
 * element or to the zero padding.
 */
#include "ops/conv2d.h"
#include "ops/elementwise.h"

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
