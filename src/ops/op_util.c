/* Shared checks for op recording (see op_util.h). */
#include "ops/op_util.h"

vkl_status vkl_op_check_tensor(vkl_cmd *cmd, const char *op, const char *tensor, vkl_buf b,
                               uint64_t count) {
  vkl_ctx *ctx = vkl_cmd_ctx(cmd);
  uint64_t bytes = count * sizeof(float);
  if (!b.buffer)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "%s: tensor %s is missing", op, tensor);
  if (b.size < bytes)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "%s: tensor %s holds %llu floats, the shape needs %llu", op, tensor,
                         (unsigned long long)(b.size / sizeof(float)), (unsigned long long)count);
  uint64_t range = vkl_ctx_device(ctx)->max_storage_buffer_range;
  if (bytes > range)
    return vkl_set_error(ctx, VKL_ERR_UNSUPPORTED,
                         "%s: tensor %s is %.1f MiB, beyond this device's %.0f MiB binding "
                         "limit; use a smaller micro-batch",
                         op, tensor, (double)bytes / (1 << 20), (double)range / (1 << 20));
  return VKL_OK;
}

vkl_status vkl_op_pipeline(vkl_cmd *cmd, vkl_shader_id shader, const void *spec, size_t spec_size,
                           const vkl_pipeline **out) {
  return vkl_pipeline_get(vkl_cmd_ctx(cmd), shader, spec, spec_size, out);
}
