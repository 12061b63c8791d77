/* The context: instance, chosen device, one compute queue, a timeline
 * semaphore that orders submissions, and the runtime's shared objects. */
#include <stdlib.h>
#include <string.h>

#include "vk/vk_internal.h"

static vkl_status create_device(vkl_ctx *ctx) {
  vkl_status st = VKL_OK;
  const vkl_device_info *info = &ctx->info;
  int family = vkl_compute_queue_family(ctx->physical, NULL);
  ctx->queue_family = (uint32_t)family;
  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue = {
      .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
      .queueFamilyIndex = ctx->queue_family,
      .queueCount = 1,
      .pQueuePriorities = &priority,
  };
  /* Required: timeline semaphores. Optional features are enabled when
   * present so that kernels may use them after checking vkl_device_info. */
  VkPhysicalDeviceSubgroupSizeControlFeaturesEXT sizectl = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT,
      .subgroupSizeControl = VK_TRUE,
      .computeFullSubgroups = VK_TRUE,
  };
  VkPhysicalDeviceVulkan12Features f12 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
      .pNext = info->subgroup_size_control ? &sizectl : NULL,
      .timelineSemaphore = VK_TRUE,
      .shaderFloat16 = info->fp16 ? VK_TRUE : VK_FALSE,
      .shaderInt8 = info->int8 ? VK_TRUE : VK_FALSE,
      .storageBuffer8BitAccess = info->storage8 ? VK_TRUE : VK_FALSE,
      .vulkanMemoryModel = info->memory_model ? VK_TRUE : VK_FALSE,
      .vulkanMemoryModelDeviceScope = info->memory_model ? VK_TRUE : VK_FALSE,
  };
  VkPhysicalDeviceVulkan11Features f11 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
      .pNext = &f12,
      .storageBuffer16BitAccess = info->storage16 ? VK_TRUE : VK_FALSE,
  };
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR exec = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR,
      .pipelineExecutableInfo = VK_TRUE,
  };
  const char *extensions[2];
  uint32_t extension_count = 0;
  if (info->subgroup_size_control && info->api_version < VK_API_VERSION_1_3)
    extensions[extension_count++] = VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME;
  if (ctx->capture_stats) {
    extensions[extension_count++] = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
    exec.pNext = f12.pNext;
    f12.pNext = &exec;
  }
  VkDeviceCreateInfo dci = {
      .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
      .pNext = &f11,
      .queueCreateInfoCount = 1,
      .pQueueCreateInfos = &queue,
      .enabledExtensionCount = extension_count,
      .ppEnabledExtensionNames = extensions,
  };
  VK_TRY(vkCreateDevice(ctx->physical, &dci, NULL, &ctx->device));
  vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);
  vkGetPhysicalDeviceMemoryProperties(ctx->physical, &ctx->mem_props);
  if (ctx->compile_only) return VKL_OK; /* no submissions: no timeline */

  VkSemaphoreTypeCreateInfo type = {
      .sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
      .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE,
      .initialValue = 0,
  };
  VkSemaphoreCreateInfo sci = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &type};
  VK_TRY(vkCreateSemaphore(ctx->device, &sci, NULL, &ctx->timeline));
  return VKL_OK;
fail:
  return st;
}

/* The config's selector, else VKLARS_DEVICE's, else the best device. */
static vkl_status choose_device(vkl_ctx *ctx, const char *selector) {
  VkPhysicalDevice *pds = NULL;
  vkl_device_info *infos = NULL;
  uint32_t count = 0;
  vkl_status st =
      vkl_describe_all(ctx->instance, &pds, &infos, &count, ctx->errmsg, sizeof ctx->errmsg);
  if (st) return st;
  const char *source = NULL;
  if (!selector && ctx->env.device[0]) {
    selector = ctx->env.device;
    source = "VKLARS_DEVICE";
  }
  int chosen;
  st = vkl_device_choose(infos, count, selector, source, &chosen, ctx->errmsg, sizeof ctx->errmsg);
  if (!st) {
    ctx->physical = pds[chosen];
    ctx->info = infos[chosen];
  }
  free(pds);
  free(infos);
  return st;
}

/* The device-local heaps report at most the limit, so that every size
 * decision (--micro-batch auto, hints) sees the emulated device. */
static void apply_memory_limit(vkl_ctx *ctx, uint64_t limit) {
  ctx->device_memory_limit = limit;
  for (uint32_t h = 0; limit && h < ctx->info.heap_count; h++)
    if (ctx->info.heap_device_local[h] && ctx->info.heap_size[h] > limit)
      ctx->info.heap_size[h] = limit;
}

vkl_status vkl_ctx_create(const vkl_ctx_config *cfg, vkl_ctx **out) {
  vkl_ctx_config defaults = {0};
  if (!cfg) cfg = &defaults;
  vkl_ctx *ctx = calloc(1, sizeof *ctx);
  *out = ctx;
  if (!ctx) return VKL_ERR_OUT_OF_HOST_MEMORY;
  pthread_mutex_init(&ctx->vlog.lock, NULL);
  ctx->vlog.hook = cfg->on_validation;
  ctx->vlog.hook_user = cfg->on_validation_user;
  vkl_status st = VKL_OK;
  /* before any device work: a malformed variable is the caller's mistake */
  VKL_TRY(vkl_env_read(&ctx->env, ctx->errmsg, sizeof ctx->errmsg));
  ctx->vlog.print = ctx->env.validation_print;
  VKL_TRY(vkl_instance_create(ctx, cfg->validation || ctx->env.validation));
  VKL_TRY(choose_device(ctx, cfg->device));
  VKL_TRY(vkl_tuning_compute(&ctx->info, ctx->env.tuning, ctx->env.tune, &ctx->tuning, ctx->errmsg,
                             sizeof ctx->errmsg));
  ctx->compile_only = cfg->compile_only;
  ctx->capture_stats = cfg->pipeline_stats && ctx->info.executable_stats;
  VKL_TRY(create_device(ctx));
  apply_memory_limit(
      ctx, cfg->device_memory_limit ? cfg->device_memory_limit : ctx->env.device_memory_limit);
  ctx->device_lost_after = ctx->env.device_lost_after;
  VKL_TRY(vkl_pipelines_init(ctx));
  if (!ctx->compile_only) VKL_TRY(vkl_staging_init(ctx));
  ctx->errmsg[0] = '\0';
  return VKL_OK;
fail:
  return st;
}

void vkl_ctx_destroy(vkl_ctx *ctx) {
  if (!ctx) return;
  /* Only after a submission: a device that never ran work (a failed
   * creation, a compile-only context) has nothing to wait for, and a driver
   * that cannot run work (RADV's null device) crashes in vkDeviceWaitIdle. */
  if (ctx->device && ctx->queue_used) vkDeviceWaitIdle(ctx->device);
  vkl_staging_destroy(ctx);
  vkl_pipelines_destroy(ctx);
  if (ctx->timeline) vkDestroySemaphore(ctx->device, ctx->timeline, NULL);
  if (ctx->device) vkDestroyDevice(ctx->device, NULL);
  vkl_instance_destroy(ctx);
  for (uint32_t i = 0; i < ctx->vlog.kept; i++) free(ctx->vlog.messages[i]);
  pthread_mutex_destroy(&ctx->vlog.lock);
  free(ctx);
}

const char *vkl_ctx_errmsg(const vkl_ctx *ctx) {
  return ctx ? ctx->errmsg : "out of host memory creating the context";
}

const vkl_tuning *vkl_ctx_tuning(const vkl_ctx *ctx) {
  return &ctx->tuning;
}

const vkl_device_info *vkl_ctx_device(const vkl_ctx *ctx) {
  return &ctx->info;
}

VkDevice vkl_ctx_vkdevice(const vkl_ctx *ctx) {
  return ctx->device;
}

void vkl_ctx_lower_workgroup_count(vkl_ctx *ctx, const uint32_t limit[3]) {
  for (int d = 0; d < 3; d++)
    if (limit[d] && limit[d] < ctx->info.max_workgroup_count[d])
      ctx->info.max_workgroup_count[d] = limit[d];
}
