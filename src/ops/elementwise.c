/*
 * Element-wise ops: add, add backward, scale, fill. All arrays are flat (n).
 * Double references first, then the recording of their shaders.
 */
#include "ops/elementwise.h"

#include "add.h"
#include "fill.h"
#include "ops/op_util.h"
#include "scale.h"
#include "vec4_grid.h"

void vkl_add_forward_ref(double *y, const double *a, const double *b, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

/* Both partials are 1, so the gradient passes through unchanged to each input. */
static void pass_through(double *dst, const double *dy, size_t n, int accumulate) {
  if (!dst) return;
  for (size_t i = 0; i < n; i++) dst[i] = accumulate ? dst[i] + dy[i] : dy[i];
}

void vkl_add_backward_ref(double *da, double *db, const double *dy, size_t n, int accumulate) {
  pass_through(da, dy, n, accumulate);
  pass_through(db, dy, n, accumulate);
}

void vkl_scale_forward_ref(double *y, const double *x, double alpha, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = alpha * x[i];
}

void vkl_fill_ref(double *y, double value, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = value;
}

/* ---- device recording ---- */

/* 256 invocations of 4 vec4s: 4096 floats a group (see vec4_grid.h) */
#define EW_WG 256

vkl_status vkl_add_forward(vkl_cmd *cmd, vkl_buf y, vkl_buf a, vkl_buf b, uint64_t n) {
  vkl_status st;
  if ((st = vkl_op_check_tensor(cmd, "add", "y", y, n)) ||
      (st = vkl_op_check_tensor(cmd, "add", "a", a, n)) ||
      (st = vkl_op_check_tensor(cmd, "add", "b", b, n)))
    return st;
  vkl_add_spec spec = {.wg_size = EW_WG};
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_add, &spec, sizeof spec, &p))) return st;
  vkl_add_push push = {.n = (uint32_t)n};
  vkl_buf bufs[3] = {a, b, y};
  vkl_cmd_barrier(cmd); /* a, b written by earlier work; y read by it */
  return vkl_cmd_dispatch(cmd, p, bufs, 3, &push, sizeof push, vkl_vec4_grid_groups(n, EW_WG), 1,
                          1);
}

vkl_status vkl_scale_forward(vkl_cmd *cmd, vkl_buf y, vkl_buf x, float alpha, uint64_t n,
                             int accumulate) {
  vkl_status st;
  if ((st = vkl_op_check_tensor(cmd, "scale", "y", y, n)) ||
      (st = vkl_op_check_tensor(cmd, "scale", "x", x, n)))
    return st;
  vkl_scale_spec spec = {.wg_size = EW_WG};
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_scale, &spec, sizeof spec, &p))) return st;
  vkl_scale_push push = {.n = (uint32_t)n, .alpha = alpha, .accumulate = accumulate ? 1u : 0u};
  vkl_buf bufs[2] = {x, y};
  vkl_cmd_barrier(cmd); /* x written by earlier work; y read or written by it */
  return vkl_cmd_dispatch(cmd, p, bufs, 2, &push, sizeof push, vkl_vec4_grid_groups(n, EW_WG), 1,
                          1);
}

vkl_status vkl_add_backward(vkl_cmd *cmd, const vkl_buf *da, const vkl_buf *db, vkl_buf dy,
                            uint64_t n, int accumulate) {
  vkl_status st = VKL_OK;
  /* d(a+b)/da = d(a+b)/db = 1: each gradient is dy, passed through */
  if (da) st = vkl_scale_forward(cmd, *da, dy, 1.0f, n, accumulate);
  if (!st && db) st = vkl_scale_forward(cmd, *db, dy, 1.0f, n, accumulate);
  return st;
}

vkl_status vkl_fill(vkl_cmd *cmd, vkl_buf y, float value, uint64_t n) {
  vkl_status st;
  if ((st = vkl_op_check_tensor(cmd, "fill", "y", y, n))) return st;
  vkl_fill_spec spec = {.wg_size = EW_WG};
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_fill, &spec, sizeof spec, &p))) return st;
  vkl_fill_push push = {.n = (uint32_t)n, .value = value};
  vkl_cmd_barrier(cmd); /* y read or written by earlier work (WAR, WAW) */
  return vkl_cmd_dispatch(cmd, p, &y, 1, &push, sizeof push, vkl_vec4_grid_groups(n, EW_WG), 1, 1);
}
