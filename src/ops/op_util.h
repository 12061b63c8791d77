/* Helpers every op's recording code shares: tensor-size checks with
 * messages that name the op and the tensor, and grid arithmetic.
 *
 * Recording conventions for src/ops (read before adding an op):
 * - `vkl_status vkl_<op>_forward(vkl_cmd *cmd, outputs..., inputs...,
 *   const vkl_<op>_shape *sh, settings...)`; backward ops end with
 *   `int accumulate` (0 writes the gradients, 1 adds into them).
 * - Tensors are vkl_buf ranges of fp32 (NCHW activations, OIHW weights).
 *   An optional tensor is a `const vkl_buf *`, NULL when absent.
 * - An op records vkl_cmd_barrier(cmd) before its first dispatch (its
 *   inputs were written, or its outputs read, by earlier work) and between
 *   its own dependent dispatches. It never submits.
 * - Every tensor is checked with vkl_op_check_tensor before recording. */
#ifndef VKLARS_OP_UTIL_H
#define VKLARS_OP_UTIL_H

#include "vk/vk.h"

/* b must hold `count` floats and fit one binding (maxStorageBufferRange). */
vkl_status vkl_op_check_tensor(vkl_cmd *cmd, const char *op, const char *tensor, vkl_buf b,
                               uint64_t count);

/* The pipeline of `shader` with the given spec struct, on cmd's context. */
vkl_status vkl_op_pipeline(vkl_cmd *cmd, vkl_shader_id shader, const void *spec, size_t spec_size,
                           const vkl_pipeline **out);

static inline uint32_t vkl_div_up(uint64_t a, uint64_t b) {
  return (uint32_t)((a + b - 1) / b);
}

#endif
