/* The compiler's statistics of a pipeline (VK_KHR_pipeline_executable_properties):
 * registers, spills, shared memory, occupancy, as each driver names them. The
 * extension's entry points are device-level and optional, so they are looked
 * up here, never linked. */
#include <stdio.h>
#include <string.h>

#include "vk/vk_internal.h"

static double stat_value(const VkPipelineExecutableStatisticKHR *s, int *integer) {
  *integer = s->format != VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR;
  switch (s->format) {
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: return s->value.b32 ? 1 : 0;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: return (double)s->value.i64;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: return (double)s->value.u64;
    default: return s->value.f64;
  }
}

vkl_status vkl_pipeline_stats(vkl_ctx *ctx, const vkl_pipeline *p, vkl_pipeline_stat *out,
                              uint32_t max, uint32_t *count) {
  *count = 0;
  const char *shader = vkl_shader_registry[p->shader].name;
  if (!ctx->capture_stats)
    return vkl_set_error(ctx, VKL_ERR_UNSUPPORTED,
                         "pipeline %s: %s reports no compiler statistics "
                         "(VK_KHR_pipeline_executable_properties)",
                         shader, ctx->info.name);
  PFN_vkGetPipelineExecutablePropertiesKHR props =
      (PFN_vkGetPipelineExecutablePropertiesKHR)vkGetDeviceProcAddr(
          ctx->device, "vkGetPipelineExecutablePropertiesKHR");
  PFN_vkGetPipelineExecutableStatisticsKHR stats =
      (PFN_vkGetPipelineExecutableStatisticsKHR)vkGetDeviceProcAddr(
          ctx->device, "vkGetPipelineExecutableStatisticsKHR");
  vkl_status st = VKL_OK;
  if (!props || !stats)
    return vkl_set_error(ctx, VKL_ERR_UNSUPPORTED,
                         "pipeline %s: the driver enabled the executable-properties extension "
                         "without its entry points",
                         shader);
  VkPipelineInfoKHR pi = {.sType = VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR, .pipeline = p->pipeline};
  VkPipelineExecutablePropertiesKHR ex[4];
  uint32_t nex = 4;
  for (uint32_t i = 0; i < nex; i++)
    ex[i] = (VkPipelineExecutablePropertiesKHR){
        .sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR};
  VkResult r = props(ctx->device, &pi, &nex, ex);
  if (r != VK_INCOMPLETE) VK_TRY(r); /* more than 4 executables: the first 4 */
  for (uint32_t e = 0; e < nex; e++) {
    VkPipelineExecutableInfoKHR ei = {.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR,
                                      .pipeline = p->pipeline,
                                      .executableIndex = e};
    VkPipelineExecutableStatisticKHR s[32];
    uint32_t ns = 32;
    for (uint32_t i = 0; i < ns; i++)
      s[i] = (VkPipelineExecutableStatisticKHR){
          .sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR};
    r = stats(ctx->device, &ei, &ns, s);
    if (r != VK_INCOMPLETE) VK_TRY(r);
    for (uint32_t i = 0; i < ns && *count < max; i++) {
      vkl_pipeline_stat *o = &out[(*count)++];
      snprintf(o->executable, sizeof o->executable, "%s", ex[e].name);
      o->subgroup_size = ex[e].subgroupSize;
      snprintf(o->name, sizeof o->name, "%s", s[i].name);
      snprintf(o->description, sizeof o->description, "%s", s[i].description);
      o->value = stat_value(&s[i], &o->integer);
    }
  }
  return VKL_OK;
fail:
  return st;
}
