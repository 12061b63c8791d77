/* Vulkan instance, with the Khronos validation layer when asked for.
 *
 * Validation runs core checks plus synchronization validation: lavapipe
 * executes dispatches in order and so hides a missing barrier, which only
 * these checks reveal. A debug messenger counts every warning and error and
 * keeps the first messages, so a test can fail on any of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/vk_cache.h"
#include "vk/vk_internal.h"

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
  (void)types;
  vkl_validation_log *log = user;
  if (!(severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)))
    return VK_FALSE;
  atomic_fetch_add(&log->count, 1);
  pthread_mutex_lock(&log->lock);
  if (log->kept < VKL_MAX_KEPT_MESSAGES && data && data->pMessage) {
    char *copy = strdup(data->pMessage);
    if (copy) log->messages[log->kept++] = copy;
  }
  pthread_mutex_unlock(&log->lock);
  if (log->hook) log->hook(log->hook_user, data && data->pMessage ? data->pMessage : "?");
  if (log->print) fprintf(stderr, "vklars: validation: %s\n", data ? data->pMessage : "?");
  return VK_FALSE; /* never abort the call that triggered it */
}

static int layer_present(const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS) return 0;
  VkLayerProperties *props = calloc(n ? n : 1, sizeof *props);
  if (!props) return 0;
  int found = 0;
  if (vkEnumerateInstanceLayerProperties(&n, props) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++)
      if (strcmp(props[i].layerName, name) == 0) found = 1;
  free(props);
  return found;
}

static int extension_present(const char *layer, const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS) return 0;
  VkExtensionProperties *props = calloc(n ? n : 1, sizeof *props);
  if (!props) return 0;
  int found = 0;
  if (vkEnumerateInstanceExtensionProperties(layer, &n, props) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++)
      if (strcmp(props[i].extensionName, name) == 0) found = 1;
  free(props);
  return found;
}

vkl_status vkl_instance_create(vkl_ctx *ctx, int validation) {
  vkl_status st = VKL_OK;
  vkl_shader_cache_setup();
  if (validation && !layer_present(VALIDATION_LAYER))
    return vkl_set_error(ctx, VKL_ERR_UNSUPPORTED,
                         "validation requested but %s is not installed "
                         "(Debian: apt-get install vulkan-validationlayers)",
                         VALIDATION_LAYER);
  if (validation &&
      (!extension_present(VALIDATION_LAYER, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME) ||
       !extension_present(NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME)))
    return vkl_set_error(ctx, VKL_ERR_UNSUPPORTED, "validation layer lacks %s or %s",
                         VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME,
                         VK_EXT_DEBUG_UTILS_EXTENSION_NAME);

  VkApplicationInfo app = {
      .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
      .pApplicationName = "vklars",
      .applicationVersion =
          VK_MAKE_API_VERSION(0, VKLARS_VERSION_MAJOR, VKLARS_VERSION_MINOR, VKLARS_VERSION_PATCH),
      .pEngineName = "vklars",
      .apiVersion = VK_API_VERSION_1_2,
  };
  const VkValidationFeatureEnableEXT enables[] = {
      VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkDebugUtilsMessengerCreateInfoEXT messenger_info = {
      .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
      .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
      .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
      .pfnUserCallback = on_debug_message,
      .pUserData = &ctx->vlog,
  };
  VkValidationFeaturesEXT features = {
      .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
      .pNext = &messenger_info, /* also catches instance creation messages */
      .enabledValidationFeatureCount = 1,
      .pEnabledValidationFeatures = enables,
  };
  const char *layers[] = {VALIDATION_LAYER};
  const char *extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME,
                              VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME};
  VkInstanceCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
      .pNext = validation ? &features : NULL,
      .pApplicationInfo = &app,
      .enabledLayerCount = validation ? 1 : 0,
      .ppEnabledLayerNames = layers,
      .enabledExtensionCount = validation ? 2 : 0,
      .ppEnabledExtensionNames = extensions,
  };
  VK_TRY(vkCreateInstance(&info, NULL, &ctx->instance));
  ctx->validation = validation;
  if (validation) {
    PFN_vkCreateDebugUtilsMessengerEXT create =
        (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(ctx->instance,
                                                                  "vkCreateDebugUtilsMessengerEXT");
    if (!create)
      return vkl_set_error(ctx, VKL_ERR_UNSUPPORTED, "vkCreateDebugUtilsMessengerEXT not found");
    VK_TRY(create(ctx->instance, &messenger_info, NULL, &ctx->messenger));
  }
  return VKL_OK;
fail:
  return st;
}

void vkl_instance_destroy(vkl_ctx *ctx) {
  if (ctx->messenger) {
    PFN_vkDestroyDebugUtilsMessengerEXT destroy =
        (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
            ctx->instance, "vkDestroyDebugUtilsMessengerEXT");
    if (destroy) destroy(ctx->instance, ctx->messenger, NULL);
    ctx->messenger = VK_NULL_HANDLE;
  }
  if (ctx->instance) vkDestroyInstance(ctx->instance, NULL);
  ctx->instance = VK_NULL_HANDLE;
}

/* ---- the validation log, read through the public API ------------------- */

uint32_t vkl_ctx_validation_count(const vkl_ctx *ctx) {
  return ctx ? atomic_load(&((vkl_ctx *)ctx)->vlog.count) : 0;
}

const char *vkl_ctx_validation_message(const vkl_ctx *ctx, uint32_t i) {
  if (!ctx || i >= ctx->vlog.kept) return NULL;
  return ctx->vlog.messages[i];
}

void vkl_ctx_validation_clear(vkl_ctx *ctx) {
  if (!ctx) return;
  pthread_mutex_lock(&ctx->vlog.lock);
  for (uint32_t i = 0; i < ctx->vlog.kept; i++) free(ctx->vlog.messages[i]);
  ctx->vlog.kept = 0;
  atomic_store(&ctx->vlog.count, 0);
  pthread_mutex_unlock(&ctx->vlog.lock);
}

int vkl_ctx_validation_enabled(const vkl_ctx *ctx) {
  return ctx ? ctx->validation : 0;
}
