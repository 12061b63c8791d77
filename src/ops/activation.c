/*
 * ReLU on flat (n) arrays: the double reference, then the recording of its
 * kernels.
 */
#include "ops/activation.h"

#include "ops/op_util.h"
#include "relu_backward.h"
#include "relu_forward.h"
#include "vec4_grid.h"

void vkl_relu_forward_ref(double *y, const double *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0 ? x[i] : 0.0;
}

/* 1. dx = dy * [y > 0] */
void vkl_relu_backward_ref(double *dx, const double *dy, const double *y, size_t n,
                           int accumulate) {
  for (size_t i = 0; i < n; i++) {
    double g = y[i] > 0.0 ? dy[i] : 0.0;
    dx[i] = accumulate ? dx[i] + g : g;
  }
}

/* ---- device recording ---- */

/* 256 invocations of 4 vec4s: 4096 floats a group (see vec4_grid.h) */
#define RELU_WG 256

vkl_status vkl_relu_forward(vkl_cmd *cmd, vkl_buf y, vkl_buf x, uint64_t n) {
  vkl_status st;
  if ((st = vkl_op_check_tensor(cmd, "relu", "y", y, n)) ||
      (st = vkl_op_check_tensor(cmd, "relu", "x", x, n)))
    return st;
  vkl_relu_forward_spec spec = {.wg_size = RELU_WG};
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_relu_forward, &spec, sizeof spec, &p))) return st;
  vkl_relu_forward_push push = {.n = (uint32_t)n};
  vkl_buf bufs[2] = {x, y};
  vkl_cmd_barrier(cmd); /* x written by earlier work (RAW); y read or written by it (WAR, WAW) */
  return vkl_cmd_dispatch(cmd, p, bufs, 2, &push, sizeof push, vkl_vec4_grid_groups(n, RELU_WG), 1,
                          1);
}

vkl_status vkl_relu_backward(vkl_cmd *cmd, vkl_buf dx, vkl_buf dy, vkl_buf y, uint64_t n,
                             int accumulate) {
  vkl_status st;
  if ((st = vkl_op_check_tensor(cmd, "relu backward", "dx", dx, n)) ||
      (st = vkl_op_check_tensor(cmd, "relu backward", "dy", dy, n)) ||
      (st = vkl_op_check_tensor(cmd, "relu backward", "y", y, n)))
    return st;
  vkl_relu_backward_spec spec = {.wg_size = RELU_WG, .accumulate = accumulate ? 1u : 0u};
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_relu_backward, &spec, sizeof spec, &p))) return st;
  vkl_relu_backward_push push = {.n = (uint32_t)n};
  vkl_buf bufs[3] = {dy, y, dx};
  vkl_cmd_barrier(cmd); /* dy, y (and dx when accumulating) written by earlier work (RAW);
                           dx read or written by it (WAR, WAW) */
  return vkl_cmd_dispatch(cmd, p, bufs, 3, &push, sizeof push, vkl_vec4_grid_groups(n, RELU_WG), 1,
                          1);
}
