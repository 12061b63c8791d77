/* vklars status codes.
 *
 * One X-macro list expands into the enum and into vkl_status_str() (libuv's
 * pattern), so a new status cannot be added without its text. VKL_OK is 0 so
 * that `if (st)` tests for failure. */
#ifndef VKLARS_STATUS_H
#define VKLARS_STATUS_H

#define VKL_STATUS_LIST(X)                                         \
  X(VKL_OK, "ok")                                                  \
  X(VKL_ERR_INVALID_ARGUMENT, "invalid argument")                  \
  X(VKL_ERR_OUT_OF_HOST_MEMORY, "out of host memory")              \
  X(VKL_ERR_OUT_OF_DEVICE_MEMORY, "out of device memory")          \
  X(VKL_ERR_NO_DEVICE, "no usable Vulkan device")                  \
  X(VKL_ERR_UNSUPPORTED, "not supported by this device or driver") \
  X(VKL_ERR_VULKAN, "Vulkan call failed")                          \
  X(VKL_ERR_DEVICE_LOST, "Vulkan device lost")                     \
  X(VKL_ERR_TIMEOUT, "timed out")                                  \
  X(VKL_ERR_IO, "input/output error")                              \
  X(VKL_ERR_FORMAT, "malformed input")                             \
  X(VKL_ERR_INTERRUPTED, "interrupted")

typedef enum vkl_status {
#define VKL_STATUS_ENUM(name, text) name,
  VKL_STATUS_LIST(VKL_STATUS_ENUM)
#undef VKL_STATUS_ENUM
      VKL_STATUS_COUNT
} vkl_status;

/* Short fixed text of a status ("out of device memory"); never NULL. */
const char *vkl_status_str(vkl_status st);
/* The enum name of a status ("VKL_ERR_IO"); never NULL. */
const char *vkl_status_name(vkl_status st);

#endif
