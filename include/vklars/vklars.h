/* vklars public C API: version, devices, and the Vulkan context.
 *
 * Handles are opaque; config structs are zero-initialisable (every zero field
 * means "the default"). Functions return a vkl_status; results come back
 * through out-pointers. The message that explains a failure is kept per handle
 * (vkl_ctx_errmsg), as sqlite3_errmsg does, never in a global. */
#ifndef VKLARS_VKLARS_H
#define VKLARS_VKLARS_H

#include <stddef.h>
#include <stdint.h>

#include "vklars/status.h"

#define VKLARS_VERSION_MAJOR 0
#define VKLARS_VERSION_MINOR 1
#define VKLARS_VERSION_PATCH 0
#define VKLARS_VERSION_STRING "0.1.0"

const char *vkl_version(void);

/* ---- devices ----------------------------------------------------------- */

typedef enum vkl_device_kind {
  VKL_DEVICE_OTHER = 0,
  VKL_DEVICE_INTEGRATED,
  VKL_DEVICE_DISCRETE,
  VKL_DEVICE_VIRTUAL,
  VKL_DEVICE_CPU
} vkl_device_kind;

#define VKL_MAX_HEAPS 16

/* What vklars knows of one physical device. Optional features are recorded,
 * never required: every kernel has a path that needs none of them. */
typedef struct vkl_device_info {
  uint32_t index; /* position in vkEnumeratePhysicalDevices order */
  char name[256];
  uint32_t vendor_id, device_id;
  char vendor[32]; /* "NVIDIA", "AMD", "Intel", "Mesa", ... or hex id */
  vkl_device_kind kind;
  char driver_name[256];
  char driver_info[256];
  char driver_version[64]; /* decoded per vendor convention */
  uint32_t api_version;    /* VK_MAKE_API_VERSION packed */
  uint32_t heap_count;
  uint64_t heap_size[VKL_MAX_HEAPS];
  int heap_device_local[VKL_MAX_HEAPS];
  /* compute limits */
  uint32_t subgroup_size; /* default subgroup size; never assumed by kernels */
  uint32_t min_subgroup_size, max_subgroup_size; /* with subgroup size control */
  uint32_t max_shared_memory;                    /* maxComputeSharedMemorySize, bytes */
  uint64_t max_storage_buffer_range;
  uint64_t max_allocation_size;
  uint32_t min_storage_offset_alignment;
  uint32_t max_push_constants;
  uint32_t max_workgroup_count[3];
  uint32_t max_workgroup_size[3];
  uint32_t max_workgroup_invocations;
  float timestamp_period_ns;
  /* optional features (1 = present) */
  int fp16;                /* shaderFloat16 */
  int int8;                /* shaderInt8 */
  int storage16;           /* storageBuffer16BitAccess */
  int storage8;            /* storageBuffer8BitAccess */
  int subgroup_basic;      /* subgroup basic ops in compute shaders */
  int subgroup_arithmetic; /* subgroup arithmetic ops in compute shaders */
  int subgroup_size_control;
  int cooperative_matrix; /* VK_KHR_cooperative_matrix */
  int memory_model;       /* vulkanMemoryModel with device scope (acquire/release atomics) */
  int executable_stats;   /* VK_KHR_pipeline_executable_properties: compiler statistics */
  int timestamps;         /* timestamp queries on the compute queue */
  /* requirements */
  int usable; /* Vulkan >= 1.2, compute queue, timeline semaphores */
  char unusable_reason[128];
} vkl_device_info;

const char *vkl_device_kind_str(vkl_device_kind kind);

/* Lists every physical device. *out is malloc'ed (free() it); *selected is
 * the index vkl_ctx_create would choose for `selector` (see below), or -1
 * with the reason in err. VKL_ERR_INVALID_ARGUMENT: the selector (or
 * VKLARS_DEVICE) matches no device, the list is filled and err names the
 * devices; or a VKLARS_* variable is malformed, nothing is listed. On any
 * other failure, err receives a message. */
vkl_status vkl_list_devices(const char *selector, vkl_device_info **out, uint32_t *count,
                            int *selected, char *err, size_t errlen);

/* ---- context ----------------------------------------------------------- */

typedef struct vkl_ctx vkl_ctx;

typedef struct vkl_ctx_config {
  /* Device index ("0") or case-insensitive name substring ("llvmpipe"; the
   * first usable device that matches). NULL: the VKLARS_DEVICE environment
   * variable, else the best device in the order discrete > integrated >
   * virtual > CPU. A selector matching no device, or "", fails with
   * VKL_ERR_INVALID_ARGUMENT. */
  const char *device;
  /* 1: load the Khronos validation layer with synchronization validation.
   * 0: only when the environment has VKLARS_VALIDATION=1. */
  int validation;
  /* Called for every validation warning or error, from any thread, until
   * vkl_ctx_destroy returns (so leaks reported at teardown arrive too). */
  void (*on_validation)(void *user, const char *message);
  void *on_validation_user;
  /* > 0: device-local memory in bytes this context may use (its arenas fail
   * as out of device memory beyond it, and the heaps report at most this):
   * emulates a smaller GPU. 0: the VKLARS_DEVICE_MEMORY_LIMIT environment
   * variable (bytes at least 1, or with a K, M or G suffix), else no limit. */
  uint64_t device_memory_limit;
  /* 1: a context that only builds pipelines (`vklars kernels`), so a device
   * that compiles but cannot run work (Mesa's RADV null device) comes up:
   * no timeline semaphore, no device memory (arenas hand out ranges that
   * bind nothing), command buffers that record nothing. Every check runs and
   * every pipeline is built; submissions and copies succeed at once without
   * running, and downloads read zeros. */
  int compile_only;
  /* 1: where the device has VK_KHR_pipeline_executable_properties, every
   * pipeline keeps its compiler statistics (vkl_pipeline_stats), bypassing
   * the pipeline cache. */
  int pipeline_stats;
} vkl_ctx_config;

/* Creates instance, device, queue and the runtime's own staging memory.
 * Like sqlite3_open, *out is set even on failure (unless host memory ran
 * out) so that vkl_ctx_errmsg can explain; destroy it either way.
 * The VKLARS_* environment variables are read first, each in one strict
 * form (an empty one is unset): VKLARS_DEVICE, VKLARS_VALIDATION=0|1,
 * VKLARS_VALIDATION_PRINT=0|1, VKLARS_DEVICE_MEMORY_LIMIT=N[K|M|G],
 * VKLARS_FAULT_DEVICE_LOST=N, VKLARS_BN_LAYOUT, VKLARS_OPTIM_LAYOUT,
 * VKLARS_TUNING=cpu|gpu, VKLARS_TUNE=name=value,...; a
 * malformed one fails with VKL_ERR_INVALID_ARGUMENT and a message naming the
 * variable and its value. */
vkl_status vkl_ctx_create(const vkl_ctx_config *cfg, vkl_ctx **out);
void vkl_ctx_destroy(vkl_ctx *ctx); /* NULL is a no-op */

/* The message of the last failure on this context ("" when none). */
const char *vkl_ctx_errmsg(const vkl_ctx *ctx);
const vkl_device_info *vkl_ctx_device(const vkl_ctx *ctx);

/* Validation-layer messages (errors and warnings) received so far, and the
 * i-th kept message text (the first VKL_MAX_KEPT_MESSAGES are kept). */
#define VKL_MAX_KEPT_MESSAGES 32
uint32_t vkl_ctx_validation_count(const vkl_ctx *ctx);
const char *vkl_ctx_validation_message(const vkl_ctx *ctx, uint32_t i);
void vkl_ctx_validation_clear(vkl_ctx *ctx);
int vkl_ctx_validation_enabled(const vkl_ctx *ctx);

#endif
