/*
 * 2-D pooling references: x (N,C,H,W) -> y (N,C,P,Q) over R x S windows, and global
 * average pooling (N,C,H,W) -> (N,C). Each (n,c) plane is pooled on its own, so the
 * windowed passes loop over planes and call a per-plane helper.
 */
#include "ops/pool.h"
#include "ops/elementwise.h"

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
