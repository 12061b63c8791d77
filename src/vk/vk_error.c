/* Error recording for the runtime: messages kept on the context, and the
 * VkResult -> status mapping behind VK_TRY. */
#include <stdio.h>
#include <string.h>

#include "vk/vk_internal.h"

/* Formats into a local buffer first: an argument may be the context's own
 * message (a caller adding context to the error below it), and vsnprintf
 * into the buffer it reads from is undefined behaviour. */
vkl_status vkl_set_error(vkl_ctx *ctx, vkl_status st, const char *fmt, ...) {
  if (!ctx) return st;
  char msg[sizeof ctx->errmsg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  memcpy(ctx->errmsg, msg, sizeof msg);
  return st;
}

const char *vkl_vkresult_str(VkResult r) {
  switch (r) {
#define VKR(x) \
  case x: return #x;
    VKR(VK_SUCCESS)
    VKR(VK_NOT_READY)
    VKR(VK_TIMEOUT)
    VKR(VK_EVENT_SET)
    VKR(VK_EVENT_RESET)
    VKR(VK_INCOMPLETE)
    VKR(VK_ERROR_OUT_OF_HOST_MEMORY)
    VKR(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    VKR(VK_ERROR_INITIALIZATION_FAILED)
    VKR(VK_ERROR_DEVICE_LOST)
    VKR(VK_ERROR_MEMORY_MAP_FAILED)
    VKR(VK_ERROR_LAYER_NOT_PRESENT)
    VKR(VK_ERROR_EXTENSION_NOT_PRESENT)
    VKR(VK_ERROR_FEATURE_NOT_PRESENT)
    VKR(VK_ERROR_INCOMPATIBLE_DRIVER)
    VKR(VK_ERROR_TOO_MANY_OBJECTS)
    VKR(VK_ERROR_FORMAT_NOT_SUPPORTED)
    VKR(VK_ERROR_FRAGMENTED_POOL)
    VKR(VK_ERROR_UNKNOWN)
    VKR(VK_ERROR_OUT_OF_POOL_MEMORY)
    VKR(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    VKR(VK_ERROR_FRAGMENTATION)
    VKR(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
    VKR(VK_PIPELINE_COMPILE_REQUIRED)
#undef VKR
    default: return "VK_RESULT_UNKNOWN";
  }
}

vkl_status vkl_vk_fail(vkl_ctx *ctx, VkResult r, const char *expr, const char *file, int line) {
  vkl_status st = VKL_ERR_VULKAN;
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY) st = VKL_ERR_OUT_OF_DEVICE_MEMORY;
  if (r == VK_ERROR_OUT_OF_HOST_MEMORY) st = VKL_ERR_OUT_OF_HOST_MEMORY;
  if (r == VK_ERROR_DEVICE_LOST) st = VKL_ERR_DEVICE_LOST;
  if (r == VK_TIMEOUT) st = VKL_ERR_TIMEOUT;
  /* Name the call, not its arguments: "vkAllocateMemory". */
  size_t n = strcspn(expr, "(");
  return vkl_set_error(ctx, st, "%s:%d: %.*s -> %s", file, line, (int)n, expr, vkl_vkresult_str(r));
}
