/* Private to src/vk: the context's fields, shared by the runtime's files. */
#ifndef VKLARS_VK_INTERNAL_H
#define VKLARS_VK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "vk/vk.h"
#include "vk/vk_tuning.h"

typedef struct vkl_validation_log {
  pthread_mutex_t lock;
  atomic_uint count;
  uint32_t kept;
  char *messages[VKL_MAX_KEPT_MESSAGES];
  void (*hook)(void *user, const char *message);
  void *hook_user;
  int print; /* VKLARS_VALIDATION_PRINT=1: each message on stderr too */
} vkl_validation_log;

struct vkl_ctx {
  char errmsg[1024];
  vkl_env env;
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  int validation;
  vkl_validation_log vlog;
  VkPhysicalDevice physical;
  vkl_device_info info;
  vkl_tuning tuning;
  int compile_only;  /* pipelines only: no memory, nothing recorded or run */
  int capture_stats; /* pipelines keep the compiler's statistics */
  VkPhysicalDeviceMemoryProperties mem_props;
  VkDevice device;
  uint32_t queue_family;
  VkQueue queue;
  int queue_used; /* a submission reached vkQueueSubmit */
  VkSemaphore timeline;
  uint64_t timeline_value;
  VkDescriptorSetLayout set_layout; /* the one shared layout */
  VkPipelineLayout pipeline_layout; /* set layout + 128 push bytes */
  VkPipelineCache pipeline_cache;
  char pipeline_cache_path[512];
  vkl_pipeline **pipelines; /* cache, searched linearly: built at record time */
  uint32_t pipeline_count, pipeline_cap;
  VkShaderModule modules[VKL_SHADER_COUNT];
  vkl_arena *upload;   /* staging for vkl_upload */
  vkl_arena *readback; /* staging for vkl_download */
  vkl_cmd *transfer;   /* command buffer for the synchronous copies */
  VkDeviceSize device_memory_limit, device_memory_used; /* VKL_MEM_DEVICE arenas */
  /* Testing aid (VKLARS_FAULT_DEVICE_LOST=N): submits after the N-th report
   * VK_ERROR_DEVICE_LOST, as a driver does after a GPU fault. 0: off. */
  uint64_t submits, device_lost_after;
};

/* src/vk/vk_env.c: the VKLARS_* variables, or VKL_ERR_INVALID_ARGUMENT
 * with "VKLARS_X=value: what it must be" in err. */
vkl_status vkl_env_read(vkl_env *env, char *err, size_t errlen);
/* src/vk/vk_instance.c */
vkl_status vkl_instance_create(vkl_ctx *ctx, int validation);
void vkl_instance_destroy(vkl_ctx *ctx);
/* src/vk/vk_devices.c */
void vkl_device_describe(VkPhysicalDevice pd, uint32_t index, vkl_device_info *info);
/* The device for selector (NULL: the best usable one), into *chosen.
 * source names where the selector came from ("VKLARS_DEVICE"), or NULL for
 * the caller's config; messages start with it. VKL_ERR_INVALID_ARGUMENT:
 * the selector matches no device (the message lists them); VKL_ERR_NO_DEVICE:
 * what it matches, or every device, is not usable. */
vkl_status vkl_device_choose(const vkl_device_info *infos, uint32_t count, const char *selector,
                             const char *source, int *chosen, char *err, size_t errlen);
int vkl_compute_queue_family(VkPhysicalDevice pd, uint32_t *timestamp_bits);
vkl_status vkl_describe_all(VkInstance instance, VkPhysicalDevice **pds, vkl_device_info **out,
                            uint32_t *count, char *err, size_t errlen);
/* src/vk/vk_pipeline.c */
vkl_status vkl_pipelines_init(vkl_ctx *ctx);
void vkl_pipelines_destroy(vkl_ctx *ctx);
/* src/vk/vk_memory.c */
vkl_status vkl_staging_init(vkl_ctx *ctx);
void vkl_staging_destroy(vkl_ctx *ctx);

#endif
