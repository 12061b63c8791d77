/* Physical devices: what each offers, and which one vklars uses.
 *
 * Choice: an explicit selector (index or name substring) wins; else the
 * first usable device in the order discrete > integrated > virtual > CPU.
 * "Usable" means Vulkan 1.2, a compute queue and timeline semaphores; every
 * other feature is optional and only recorded. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/vk_internal.h"

const char *vkl_device_kind_str(vkl_device_kind kind) {
  switch (kind) {
    case VKL_DEVICE_INTEGRATED: return "integrated";
    case VKL_DEVICE_DISCRETE: return "discrete";
    case VKL_DEVICE_VIRTUAL: return "virtual";
    case VKL_DEVICE_CPU: return "cpu";
    default: return "other";
  }
}

static vkl_device_kind kind_of(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return VKL_DEVICE_INTEGRATED;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return VKL_DEVICE_DISCRETE;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return VKL_DEVICE_VIRTUAL;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return VKL_DEVICE_CPU;
    default: return VKL_DEVICE_OTHER;
  }
}

static void vendor_name(uint32_t id, char *out, size_t n) {
  const char *name = NULL;
  switch (id) {
    case 0x1002: name = "AMD"; break;
    case 0x10DE: name = "NVIDIA"; break;
    case 0x8086: name = "Intel"; break;
    case 0x13B5: name = "ARM"; break;
    case 0x5143: name = "Qualcomm"; break;
    case 0x1010: name = "ImgTec"; break;
    case 0x106B: name = "Apple"; break;
    case 0x10005: name = "Mesa"; break; /* VK_VENDOR_ID_MESA: lavapipe */
  }
  if (name)
    snprintf(out, n, "%s", name);
  else
    snprintf(out, n, "0x%04x", id);
}

/* NVIDIA packs 10.8.8.6 bits; the rest use VK_MAKE_API_VERSION. */
static void driver_version_str(uint32_t vendor, uint32_t v, char *out, size_t n) {
  if (vendor == 0x10DE)
    snprintf(out, n, "%u.%u.%u.%u", v >> 22, (v >> 14) & 0xff, (v >> 6) & 0xff, v & 0x3f);
  else
    snprintf(out, n, "%u.%u.%u", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v),
             VK_API_VERSION_PATCH(v));
}

static int has_device_extension(VkPhysicalDevice pd, const char *name) {
  uint32_t n = 0;
  if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS) return 0;
  VkExtensionProperties *props = calloc(n ? n : 1, sizeof *props);
  if (!props) return 0;
  int found = 0;
  if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, props) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++)
      if (strcmp(props[i].extensionName, name) == 0) found = 1;
  free(props);
  return found;
}

/* Index of a queue family with compute, preferring one without graphics
 * (a dedicated compute queue), or -1. Also reports its timestamp bits. */
int vkl_compute_queue_family(VkPhysicalDevice pd, uint32_t *timestamp_bits) {
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
  VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof *q);
  if (!q) return -1;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
  int best = -1;
  for (uint32_t i = 0; i < n; i++) {
    if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
    if (best < 0 || !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) best = (int)i;
  }
  if (best >= 0 && timestamp_bits) *timestamp_bits = q[best].timestampValidBits;
  free(q);
  return best;
}

void vkl_device_describe(VkPhysicalDevice pd, uint32_t index, vkl_device_info *info) {
  memset(info, 0, sizeof *info);
  VkPhysicalDeviceDriverProperties driver = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceSubgroupProperties subgroup = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES, .pNext = &driver};
  VkPhysicalDeviceMaintenance3Properties maint3 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES, .pNext = &subgroup};
  VkPhysicalDeviceSubgroupSizeControlPropertiesEXT sizectl = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT,
      .pNext = &maint3};
  VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                       .pNext = &maint3};

  VkPhysicalDeviceProperties base;
  vkGetPhysicalDeviceProperties(pd, &base);
  int api12 = base.apiVersion >= VK_API_VERSION_1_2;
  int has_sizectl = base.apiVersion >= VK_API_VERSION_1_3 ||
                    has_device_extension(pd, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
  /* Chain only what this device's API version or extensions define. */
  if (has_sizectl) props.pNext = &sizectl;
  if (!api12) subgroup.pNext = NULL;
  vkGetPhysicalDeviceProperties2(pd, &props);
  const VkPhysicalDeviceLimits *lim = &props.properties.limits;

  info->index = index;
  snprintf(info->name, sizeof info->name, "%s", props.properties.deviceName);
  info->vendor_id = props.properties.vendorID;
  info->device_id = props.properties.deviceID;
  vendor_name(info->vendor_id, info->vendor, sizeof info->vendor);
  info->kind = kind_of(props.properties.deviceType);
  info->api_version = props.properties.apiVersion;
  if (api12) {
    snprintf(info->driver_name, sizeof info->driver_name, "%s", driver.driverName);
    snprintf(info->driver_info, sizeof info->driver_info, "%s", driver.driverInfo);
  }
  driver_version_str(info->vendor_id, props.properties.driverVersion, info->driver_version,
                     sizeof info->driver_version);

  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(pd, &mem);
  info->heap_count = mem.memoryHeapCount < VKL_MAX_HEAPS ? mem.memoryHeapCount : VKL_MAX_HEAPS;
  for (uint32_t i = 0; i < info->heap_count; i++) {
    info->heap_size[i] = mem.memoryHeaps[i].size;
    info->heap_device_local[i] = (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
  }

  info->subgroup_size = subgroup.subgroupSize;
  info->max_shared_memory = lim->maxComputeSharedMemorySize;
  info->max_storage_buffer_range = lim->maxStorageBufferRange;
  info->max_allocation_size = maint3.maxMemoryAllocationSize;
  info->min_storage_offset_alignment = (uint32_t)lim->minStorageBufferOffsetAlignment;
  info->max_push_constants = lim->maxPushConstantsSize;
  for (int d = 0; d < 3; d++) {
    info->max_workgroup_count[d] = lim->maxComputeWorkGroupCount[d];
    info->max_workgroup_size[d] = lim->maxComputeWorkGroupSize[d];
  }
  info->max_workgroup_invocations = lim->maxComputeWorkGroupInvocations;
  info->timestamp_period_ns = lim->timestampPeriod;

  VkPhysicalDeviceVulkan12Features f12 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan11Features f11 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12};
  VkPhysicalDeviceSubgroupSizeControlFeaturesEXT fsize = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT};
  VkPhysicalDeviceFeatures2 feats = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                     .pNext = &f11};
  if (has_sizectl) f12.pNext = &fsize;
  if (api12) vkGetPhysicalDeviceFeatures2(pd, &feats);

  info->fp16 = f12.shaderFloat16;
  info->int8 = f12.shaderInt8;
  info->storage16 = f11.storageBuffer16BitAccess;
  info->storage8 = f12.storageBuffer8BitAccess;
  int compute_sg = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
  info->subgroup_basic =
      compute_sg && (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);
  info->subgroup_arithmetic =
      compute_sg && (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
  info->subgroup_size_control =
      has_sizectl && fsize.subgroupSizeControl && fsize.computeFullSubgroups;
  if (info->subgroup_size_control) {
    info->min_subgroup_size = sizectl.minSubgroupSize;
    info->max_subgroup_size = sizectl.maxSubgroupSize;
  } else {
    info->min_subgroup_size = info->max_subgroup_size = info->subgroup_size;
  }
  info->cooperative_matrix = has_device_extension(pd, "VK_KHR_cooperative_matrix");
  info->memory_model = f12.vulkanMemoryModel && f12.vulkanMemoryModelDeviceScope;
  info->executable_stats = has_device_extension(pd, "VK_KHR_pipeline_executable_properties");

  uint32_t ts_bits = 0;
  int family = vkl_compute_queue_family(pd, &ts_bits);
  info->timestamps = family >= 0 && ts_bits > 0;

  info->usable = 1;
  if (!api12)
    snprintf(info->unusable_reason, sizeof info->unusable_reason, "Vulkan %u.%u < 1.2",
             VK_API_VERSION_MAJOR(info->api_version), VK_API_VERSION_MINOR(info->api_version));
  else if (family < 0)
    snprintf(info->unusable_reason, sizeof info->unusable_reason, "no compute queue");
  else if (!f12.timelineSemaphore)
    snprintf(info->unusable_reason, sizeof info->unusable_reason, "no timeline semaphores");
  info->usable = info->unusable_reason[0] == '\0';
}

static int rank_of(vkl_device_kind kind) {
  switch (kind) {
    case VKL_DEVICE_DISCRETE: return 0;
    case VKL_DEVICE_INTEGRATED: return 1;
    case VKL_DEVICE_VIRTUAL: return 2;
    case VKL_DEVICE_CPU: return 3;
    default: return 4;
  }
}

static int contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
      i++;
    if (i == n) return 1;
  }
  return n == 0;
}

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

/* "<source>=<selector>: " when the selector came from the environment. */
static int source_prefix(char *err, size_t errlen, const char *source, const char *selector) {
  int len = source ? snprintf(err, errlen, "%s=%s: ", source, selector) : 0;
  return len > 0 && (size_t)len < errlen ? len : 0;
}

/* The selector matches no device: a usage error that lists the devices. */
static vkl_status no_match(const vkl_device_info *infos, uint32_t count, const char *selector,
                           const char *source, int by_index, char *err, size_t errlen) {
  int len = source_prefix(err, errlen, source, selector);
  if (by_index)
    len += snprintf(err + len, errlen - (size_t)len, "device %s does not exist;", selector);
  else
    len += snprintf(err + len, errlen - (size_t)len, "no device name contains '%s';", selector);
  len += snprintf(err + len, errlen - (size_t)len, " %u device%s:", count, count == 1 ? "" : "s");
  for (uint32_t i = 0; i < count && len > 0 && (size_t)len < errlen; i++)
    len += snprintf(err + len, errlen - (size_t)len, " [%u] %s", i, infos[i].name);
  return VKL_ERR_INVALID_ARGUMENT;
}

/* The selected device: an index, else the first usable device whose name
 * contains the selector (case-insensitive), else the first one that does. */
static int select_device(const vkl_device_info *infos, uint32_t count, const char *selector,
                         int by_index) {
  if (by_index) {
    errno = 0;
    unsigned long long i = strtoull(selector, NULL, 10);
    return errno == 0 && i < count ? (int)i : -1;
  }
  int first = -1;
  for (uint32_t i = 0; i < count; i++) {
    if (!contains_nocase(infos[i].name, selector)) continue;
    if (infos[i].usable) return (int)i;
    if (first < 0) first = (int)i;
  }
  return first;
}

static int best_device(const vkl_device_info *infos, uint32_t count) {
  int chosen = -1;
  for (uint32_t i = 0; i < count; i++) {
    if (!infos[i].usable) continue;
    if (chosen < 0 || rank_of(infos[i].kind) < rank_of(infos[chosen].kind)) chosen = (int)i;
  }
  return chosen;
}

vkl_status vkl_device_choose(const vkl_device_info *infos, uint32_t count, const char *selector,
                             const char *source, int *chosen, char *err, size_t errlen) {
  *chosen = -1;
  if (!selector) {
    int best = best_device(infos, count);
    if (best < 0) {
      snprintf(err, errlen,
               "none of the %u Vulkan device%s is usable "
               "(vklars needs Vulkan 1.2 with a compute queue)",
               count, count == 1 ? "" : "s");
      return VKL_ERR_NO_DEVICE;
    }
    *chosen = best;
    return VKL_OK;
  }
  if (!*selector) {
    snprintf(err, errlen, "the device selector is empty: give a device index or name");
    return VKL_ERR_INVALID_ARGUMENT;
  }
  int by_index = all_digits(selector);
  int i = select_device(infos, count, selector, by_index);
  if (i < 0) return no_match(infos, count, selector, source, by_index, err, errlen);
  if (!infos[i].usable) {
    int len = source_prefix(err, errlen, source, selector);
    snprintf(err + len, errlen - (size_t)len, "device %d (%s) is not usable: %s", i, infos[i].name,
             infos[i].unusable_reason);
    return VKL_ERR_NO_DEVICE;
  }
  *chosen = i;
  return VKL_OK;
}

/* Describes every device of an instance; *out is malloc'ed. */
vkl_status vkl_describe_all(VkInstance instance, VkPhysicalDevice **pds, vkl_device_info **out,
                            uint32_t *count, char *err, size_t errlen) {
  uint32_t n = 0;
  VkResult r = vkEnumeratePhysicalDevices(instance, &n, NULL);
  if (r != VK_SUCCESS) {
    snprintf(err, errlen, "vkEnumeratePhysicalDevices -> %s", vkl_vkresult_str(r));
    return VKL_ERR_VULKAN;
  }
  if (n == 0) {
    snprintf(err, errlen,
             "no Vulkan device found (is a driver installed? "
             "on Debian without a GPU: apt-get install mesa-vulkan-drivers)");
    return VKL_ERR_NO_DEVICE;
  }
  VkPhysicalDevice *list = calloc(n, sizeof *list);
  vkl_device_info *infos = calloc(n, sizeof *infos);
  if (!list || !infos) {
    free(list);
    free(infos);
    snprintf(err, errlen, "out of host memory listing devices");
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  r = vkEnumeratePhysicalDevices(instance, &n, list);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
    free(list);
    free(infos);
    snprintf(err, errlen, "vkEnumeratePhysicalDevices -> %s", vkl_vkresult_str(r));
    return VKL_ERR_VULKAN;
  }
  for (uint32_t i = 0; i < n; i++) vkl_device_describe(list[i], i, &infos[i]);
  *out = infos;
  *count = n;
  if (pds)
    *pds = list;
  else
    free(list);
  return VKL_OK;
}

vkl_status vkl_list_devices(const char *selector, vkl_device_info **out, uint32_t *count,
                            int *selected, char *err, size_t errlen) {
  *out = NULL;
  *count = 0;
  *selected = -1;
  vkl_ctx tmp;
  memset(&tmp, 0, sizeof tmp);
  vkl_status st = vkl_env_read(&tmp.env, err, errlen);
  if (st) return st;
  if ((st = vkl_instance_create(&tmp, 0))) {
    snprintf(err, errlen, "%s", tmp.errmsg);
    return st;
  }
  st = vkl_describe_all(tmp.instance, NULL, out, count, err, errlen);
  const char *source = NULL;
  if (!selector && tmp.env.device[0]) {
    selector = tmp.env.device;
    source = "VKLARS_DEVICE";
  }
  if (st == VKL_OK) {
    st = vkl_device_choose(*out, *count, selector, source, selected, err, errlen);
    if (st != VKL_ERR_INVALID_ARGUMENT) st = VKL_OK; /* err explains the choice; the list stands */
  }
  vkl_instance_destroy(&tmp);
  return st;
}
