/* Timestamp queries around named regions of a recording.
 *
 * Each region writes two timestamps: after all earlier work has finished
 * (bottom of pipe at begin) and again after the region's work. Times are
 * device ticks times timestampPeriod, masked to timestampValidBits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/vk_internal.h"

struct vkl_profiler {
  vkl_ctx *ctx;
  VkQueryPool pool;
  uint32_t max_regions, count;
  uint64_t valid_mask;
  char (*names)[48];
};

vkl_status vkl_profiler_create(vkl_ctx *ctx, uint32_t max_regions, vkl_profiler **out) {
  vkl_status st = VKL_OK;
  *out = NULL;
  uint32_t bits = 0;
  vkl_compute_queue_family(ctx->physical, &bits);
  if (!ctx->info.timestamps || bits == 0)
    return vkl_set_error(ctx, VKL_ERR_UNSUPPORTED,
                         "timestamp queries are not supported on %s's compute queue",
                         ctx->info.name);
  vkl_profiler *p = calloc(1, sizeof *p);
  if (p) p->names = calloc(max_regions ? max_regions : 1, sizeof *p->names);
  if (!p || !p->names) {
    if (p) free(p);
    return vkl_set_error(ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "vkl_profiler_create");
  }
  p->ctx = ctx;
  p->max_regions = max_regions;
  p->valid_mask = bits >= 64 ? UINT64_MAX : ((1ull << bits) - 1);
  VkQueryPoolCreateInfo qi = {
      .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
      .queryType = VK_QUERY_TYPE_TIMESTAMP,
      .queryCount = 2 * max_regions,
  };
  VK_TRY(vkCreateQueryPool(ctx->device, &qi, NULL, &p->pool));
  *out = p;
  return VKL_OK;
fail:
  vkl_profiler_destroy(p);
  return st;
}

void vkl_profiler_destroy(vkl_profiler *p) {
  if (!p) return;
  if (p->pool) vkDestroyQueryPool(p->ctx->device, p->pool, NULL);
  free(p->names);
  free(p);
}

void vkl_profiler_reset(vkl_cmd *cmd, vkl_profiler *p) {
  vkCmdResetQueryPool(vkl_cmd_handle(cmd), p->pool, 0, 2 * p->max_regions);
  p->count = 0;
}

vkl_status vkl_profiler_begin(vkl_cmd *cmd, vkl_profiler *p, const char *name, uint32_t *region) {
  if (p->count == p->max_regions)
    return vkl_set_error(p->ctx, VKL_ERR_INVALID_ARGUMENT,
                         "profiler: more than %u regions (at '%s')", p->max_regions, name);
  *region = p->count++;
  snprintf(p->names[*region], sizeof p->names[*region], "%s", name);
  vkCmdWriteTimestamp(vkl_cmd_handle(cmd), VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->pool,
                      2 * *region);
  return VKL_OK;
}

void vkl_profiler_end(vkl_cmd *cmd, vkl_profiler *p, uint32_t region) {
  vkCmdWriteTimestamp(vkl_cmd_handle(cmd), VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->pool,
                      2 * region + 1);
}

uint32_t vkl_profiler_count(const vkl_profiler *p) {
  return p->count;
}

vkl_status vkl_profiler_read(vkl_profiler *p, uint32_t region, const char **name, double *ns) {
  vkl_ctx *ctx = p->ctx;
  vkl_status st = VKL_OK;
  if (region >= p->count)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "profiler: no region %u", region);
  uint64_t t[2];
  VK_TRY(vkGetQueryPoolResults(ctx->device, p->pool, 2 * region, 2, sizeof t, t, sizeof t[0],
                               VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
  uint64_t ticks = ((t[1] & p->valid_mask) - (t[0] & p->valid_mask)) & p->valid_mask;
  *ns = (double)ticks * ctx->info.timestamp_period_ns;
  *name = p->names[region];
  return VKL_OK;
fail:
  return st;
}
