/* Command recording, dispatch and submission.
 *
 * A vkl_cmd is a reusable command buffer plus the descriptor sets its
 * dispatches bind. Sets come from pools owned by the vkl_cmd and live until
 * the next vkl_cmd_begin, so a recording can be submitted many times
 * unchanged (pre-recorded micro-steps). Submissions signal one timeline
 * semaphore per context; a ticket is the value that marks completion.
 *
 * In a compile-only context (vkl_ctx_config.compile_only) a vkl_cmd holds no
 * Vulkan objects: dispatches build their pipelines and run every check, and
 * nothing is recorded or submitted. */
#include <stdlib.h>
#include <string.h>

#include "vk/vk_internal.h"

#define SETS_PER_POOL 256

struct vkl_cmd {
  vkl_ctx *ctx;
  VkCommandPool pool;
  VkCommandBuffer cb;
  VkDescriptorPool *dpools;
  uint32_t dpool_count, dpool_used;
  int recording;
};

static vkl_status add_descriptor_pool(vkl_cmd *cmd) {
  vkl_ctx *ctx = cmd->ctx;
  vkl_status st = VKL_OK;
  VkDescriptorPool *grown = realloc(cmd->dpools, (cmd->dpool_count + 1) * sizeof *grown);
  if (!grown) return vkl_set_error(ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "descriptor pools");
  cmd->dpools = grown;
  VkDescriptorPoolSize size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, SETS_PER_POOL * VKL_MAX_BINDINGS};
  VkDescriptorPoolCreateInfo dpi = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
      .maxSets = SETS_PER_POOL,
      .poolSizeCount = 1,
      .pPoolSizes = &size,
  };
  VK_TRY(vkCreateDescriptorPool(ctx->device, &dpi, NULL, &cmd->dpools[cmd->dpool_count]));
  cmd->dpool_count++;
  return VKL_OK;
fail:
  return st;
}

vkl_status vkl_cmd_create(vkl_ctx *ctx, vkl_cmd **out) {
  vkl_status st = VKL_OK;
  vkl_cmd *cmd = calloc(1, sizeof *cmd);
  *out = NULL;
  if (!cmd) return vkl_set_error(ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "vkl_cmd_create");
  cmd->ctx = ctx;
  if (ctx->compile_only) {
    *out = cmd;
    return VKL_OK;
  }
  VkCommandPoolCreateInfo cpi = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
      .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
      .queueFamilyIndex = ctx->queue_family,
  };
  VK_TRY(vkCreateCommandPool(ctx->device, &cpi, NULL, &cmd->pool));
  VkCommandBufferAllocateInfo cai = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
      .commandPool = cmd->pool,
      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
      .commandBufferCount = 1,
  };
  VK_TRY(vkAllocateCommandBuffers(ctx->device, &cai, &cmd->cb));
  VKL_TRY(add_descriptor_pool(cmd));
  *out = cmd;
  return VKL_OK;
fail:
  vkl_cmd_destroy(cmd);
  return st;
}

void vkl_cmd_destroy(vkl_cmd *cmd) {
  if (!cmd) return;
  VkDevice dev = cmd->ctx->device;
  for (uint32_t i = 0; i < cmd->dpool_count; i++)
    vkDestroyDescriptorPool(dev, cmd->dpools[i], NULL);
  free(cmd->dpools);
  if (cmd->pool) vkDestroyCommandPool(dev, cmd->pool, NULL); /* frees cb */
  free(cmd);
}

vkl_ctx *vkl_cmd_ctx(const vkl_cmd *cmd) {
  return cmd->ctx;
}
VkCommandBuffer vkl_cmd_handle(const vkl_cmd *cmd) {
  return cmd->cb;
}

vkl_status vkl_cmd_begin(vkl_cmd *cmd) {
  vkl_ctx *ctx = cmd->ctx;
  vkl_status st = VKL_OK;
  cmd->recording = 1;
  if (ctx->compile_only) return VKL_OK;
  VK_TRY(vkResetCommandBuffer(cmd->cb, 0));
  for (uint32_t i = 0; i < cmd->dpool_count; i++)
    VK_TRY(vkResetDescriptorPool(ctx->device, cmd->dpools[i], 0));
  cmd->dpool_used = 0;
  /* Simultaneous use: a pre-recorded micro-step is submitted again while
   * its previous submission may still be pending (queued back to back). */
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_SIMULTANEOUS_USE_BIT};
  VK_TRY(vkBeginCommandBuffer(cmd->cb, &bi));
  return VKL_OK;
fail:
  return st;
}

vkl_status vkl_cmd_end(vkl_cmd *cmd) {
  vkl_ctx *ctx = cmd->ctx;
  vkl_status st = VKL_OK;
  cmd->recording = 0;
  if (ctx->compile_only) return VKL_OK;
  VK_TRY(vkEndCommandBuffer(cmd->cb));
  return VKL_OK;
fail:
  return st;
}

static vkl_status allocate_set(vkl_cmd *cmd, VkDescriptorSet *set) {
  vkl_ctx *ctx = cmd->ctx;
  vkl_status st = VKL_OK;
  for (;;) {
    VkDescriptorSetAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = cmd->dpools[cmd->dpool_used],
        .descriptorSetCount = 1,
        .pSetLayouts = &ctx->set_layout,
    };
    VkResult r = vkAllocateDescriptorSets(ctx->device, &ai, set);
    if (r == VK_SUCCESS) return VKL_OK;
    if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) VK_TRY(r);
    /* this pool is full: move to the next, creating it if needed */
    if (++cmd->dpool_used == cmd->dpool_count) VKL_TRY(add_descriptor_pool(cmd));
  }
fail:
  return st;
}

static vkl_status check_dispatch(vkl_ctx *ctx, const vkl_pipeline *pipe, const vkl_buf *bufs,
                                 uint32_t buf_count, uint32_t push_size) {
  const char *name = vkl_shader_registry[pipe->shader].name;
  if (buf_count != pipe->layout.binding_count)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "dispatch %s: %u buffers bound, the shader uses %u", name, buf_count,
                         pipe->layout.binding_count);
  if (push_size != pipe->layout.push_size)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "dispatch %s: %u push-constant bytes, the shader declares %u", name,
                         push_size, pipe->layout.push_size);
  VkDeviceSize align = ctx->info.min_storage_offset_alignment;
  for (uint32_t i = 0; i < buf_count; i++) {
    if (!bufs[i].buffer || bufs[i].size == 0)
      return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "dispatch %s: binding %u is empty", name,
                           i);
    if (bufs[i].size > ctx->info.max_storage_buffer_range)
      return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                           "dispatch %s: binding %u spans %llu bytes, beyond "
                           "maxStorageBufferRange %llu; bind it in windows",
                           name, i, (unsigned long long)bufs[i].size,
                           (unsigned long long)ctx->info.max_storage_buffer_range);
    if (align && bufs[i].offset % align)
      return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                           "dispatch %s: binding %u offset %llu is not a multiple "
                           "of minStorageBufferOffsetAlignment %llu",
                           name, i, (unsigned long long)bufs[i].offset, (unsigned long long)align);
  }
  return VKL_OK;
}

vkl_status vkl_cmd_dispatch(vkl_cmd *cmd, const vkl_pipeline *pipe, const vkl_buf *bufs,
                            uint32_t buf_count, const void *push, uint32_t push_size, uint32_t gx,
                            uint32_t gy, uint32_t gz) {
  vkl_ctx *ctx = cmd->ctx;
  vkl_status st = check_dispatch(ctx, pipe, bufs, buf_count, push_size);
  if (st) return st;
  if (gx == 0 || gy == 0 || gz == 0 || ctx->compile_only) return VKL_OK; /* nothing to do */
  VkDescriptorSet set;
  if ((st = allocate_set(cmd, &set))) return st;
  VkDescriptorBufferInfo infos[VKL_MAX_BINDINGS];
  VkWriteDescriptorSet writes[VKL_MAX_BINDINGS];
  for (uint32_t i = 0; i < buf_count; i++) {
    infos[i] = (VkDescriptorBufferInfo){bufs[i].buffer, bufs[i].offset, bufs[i].size};
    writes[i] = (VkWriteDescriptorSet){
        .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
        .dstSet = set,
        .dstBinding = i,
        .descriptorCount = 1,
        .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .pBufferInfo = &infos[i],
    };
  }
  vkUpdateDescriptorSets(ctx->device, buf_count, writes, 0, NULL);
  vkCmdBindPipeline(cmd->cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipe->pipeline);
  vkCmdBindDescriptorSets(cmd->cb, VK_PIPELINE_BIND_POINT_COMPUTE, ctx->pipeline_layout, 0, 1, &set,
                          0, NULL);
  if (push_size)
    vkCmdPushConstants(cmd->cb, ctx->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size,
                       push);
  /* Split the grid into pieces within maxComputeWorkGroupCount; the base
   * offsets gl_WorkGroupID, so the shader indexes as for one dispatch. */
  const uint32_t *lim = ctx->info.max_workgroup_count;
  for (uint32_t z = 0; z < gz; z += lim[2])
    for (uint32_t y = 0; y < gy; y += lim[1])
      for (uint32_t x = 0; x < gx; x += lim[0]) {
        uint32_t cx = gx - x < lim[0] ? gx - x : lim[0];
        uint32_t cy = gy - y < lim[1] ? gy - y : lim[1];
        uint32_t cz = gz - z < lim[2] ? gz - z : lim[2];
        /* Plain vkCmdDispatch when there is no base: validation layers
         * (1.3.239) check synchronization of vkCmdDispatch but not of
         * vkCmdDispatchBase, so the common case stays fully checked. */
        if (x == 0 && y == 0 && z == 0)
          vkCmdDispatch(cmd->cb, cx, cy, cz);
        else
          vkCmdDispatchBase(cmd->cb, x, y, z, cx, cy, cz);
      }
  return VKL_OK;
}

void vkl_cmd_barrier(vkl_cmd *cmd) {
  if (cmd->ctx->compile_only) return;
  const VkPipelineStageFlags stages =
      VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  VkMemoryBarrier mb = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
      .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
      .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                       VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
  };
  /* Execution dependency on both stages covers WAR; the access masks make
   * writes available and visible for RAW and WAW. */
  vkCmdPipelineBarrier(cmd->cb, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
}

void vkl_cmd_barrier_to_host(vkl_cmd *cmd) {
  if (cmd->ctx->compile_only) return;
  VkMemoryBarrier mb = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
      .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
      .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
  };
  /* device writes -> host reads after the timeline wait (RAW on the host) */
  vkCmdPipelineBarrier(cmd->cb,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

void vkl_cmd_fill_u32(vkl_cmd *cmd, vkl_buf b, uint32_t value) {
  if (cmd->ctx->compile_only) return;
  vkCmdFillBuffer(cmd->cb, b.buffer, b.offset, b.size & ~(VkDeviceSize)3, value);
}

void vkl_cmd_copy(vkl_cmd *cmd, vkl_buf dst, vkl_buf src, VkDeviceSize size) {
  if (cmd->ctx->compile_only) return;
  VkBufferCopy region = {src.offset, dst.offset, size};
  vkCmdCopyBuffer(cmd->cb, src.buffer, dst.buffer, 1, &region);
}

vkl_status vkl_submit(vkl_ctx *ctx, vkl_cmd *cmd, uint64_t *ticket) {
  vkl_status st = VKL_OK;
  if (cmd->recording)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "vkl_submit: command buffer is still recording (call vkl_cmd_end)");
  if (ctx->compile_only) { /* nothing was recorded: completes at once */
    if (ticket) *ticket = ++ctx->timeline_value;
    return VKL_OK;
  }
  if (ctx->device_lost_after && ++ctx->submits > ctx->device_lost_after)
    return vkl_set_error(ctx, VKL_ERR_DEVICE_LOST,
                         "vkQueueSubmit -> VK_ERROR_DEVICE_LOST (injected after %llu submits by "
                         "VKLARS_FAULT_DEVICE_LOST)",
                         (unsigned long long)ctx->device_lost_after);
  uint64_t value = ctx->timeline_value + 1;
  VkTimelineSemaphoreSubmitInfo tsi = {
      .sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
      .signalSemaphoreValueCount = 1,
      .pSignalSemaphoreValues = &value,
  };
  VkSubmitInfo si = {
      .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
      .pNext = &tsi,
      .commandBufferCount = 1,
      .pCommandBuffers = &cmd->cb,
      .signalSemaphoreCount = 1,
      .pSignalSemaphores = &ctx->timeline,
  };
  ctx->queue_used = 1;
  VK_TRY(vkQueueSubmit(ctx->queue, 1, &si, VK_NULL_HANDLE));
  ctx->timeline_value = value;
  if (ticket) *ticket = value;
  return VKL_OK;
fail:
  return st;
}

vkl_status vkl_wait(vkl_ctx *ctx, uint64_t ticket) {
  vkl_status st = VKL_OK;
  if (ctx->compile_only) return VKL_OK;
  VkSemaphoreWaitInfo wi = {
      .sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
      .semaphoreCount = 1,
      .pSemaphores = &ctx->timeline,
      .pValues = &ticket,
  };
  VK_TRY(vkWaitSemaphores(ctx->device, &wi, UINT64_MAX));
  return VKL_OK;
fail:
  return st;
}

vkl_status vkl_ticket_done(vkl_ctx *ctx, uint64_t ticket, int *done) {
  vkl_status st = VKL_OK;
  uint64_t value = 0;
  *done = 1;
  if (ctx->compile_only) return VKL_OK;
  VK_TRY(vkGetSemaphoreCounterValue(ctx->device, ctx->timeline, &value));
  *done = value >= ticket;
  return VKL_OK;
fail:
  return st;
}

vkl_status vkl_wait_all(vkl_ctx *ctx) {
  return ctx->timeline_value ? vkl_wait(ctx, ctx->timeline_value) : VKL_OK;
}

vkl_status vkl_run(vkl_ctx *ctx, vkl_cmd *cmd) {
  uint64_t ticket = 0;
  vkl_status st = vkl_submit(ctx, cmd, &ticket);
  return st ? st : vkl_wait(ctx, ticket);
}
