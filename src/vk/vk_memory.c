/* Device memory: arenas (one allocation, one buffer, bump sub-allocation),
 * binding windows within maxStorageBufferRange, and synchronous host copies
 * through the context's staging arenas.
 *
 * Few large allocations keep us far from maxMemoryAllocationCount and let a
 * whole family of tensors (all weights, all gradients) live in one buffer,
 * which the fused optimizer needs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/vk_internal.h"

#define STAGING_BYTES (16u << 20) /* per direction; copies go in chunks */

struct vkl_arena {
  vkl_ctx *ctx;
  vkl_mem_kind kind;
  char name[48];
  VkDeviceMemory memory;
  VkBuffer buffer;
  VkDeviceSize capacity, used;
  void *host;
  void *dry_host;       /* compile-only: host memory standing in for a mapping */
  VkDeviceSize counted; /* bytes counted against the context's device-memory limit */
};

static const char *kind_str(vkl_mem_kind kind) {
  return kind == VKL_MEM_DEVICE ? "device" : kind == VKL_MEM_UPLOAD ? "upload" : "readback";
}

/* First memory type allowed by `bits` with all `required` flags, preferring
 * one that also has `preferred`; -1 if none. */
static int find_memory_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t bits,
                            VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred) {
  int fallback = -1;
  for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
    VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
    if (!(bits & (1u << i)) || (f & required) != required) continue;
    if ((f & preferred) == preferred) return (int)i;
    if (fallback < 0) fallback = (int)i;
  }
  return fallback;
}

static VkDeviceSize storage_alignment(const vkl_ctx *ctx) {
  VkDeviceSize a = ctx->info.min_storage_offset_alignment;
  return a < 16 ? 16 : a;
}

static VkDeviceSize round_up(VkDeviceSize x, VkDeviceSize a) {
  return (x + a - 1) / a * a;
}

/* A compile-only context's arena (the RADV null device has no memory types):
 * no Vulkan objects, a handle that marks its ranges as bound (never passed
 * to Vulkan: such a context records nothing) and, for host-visible kinds,
 * host memory, so that code writing its mapped ranges still runs. */
static vkl_status dry_arena(vkl_ctx *ctx, vkl_arena *a, vkl_arena **out) {
  a->buffer = (VkBuffer)(uintptr_t)a;
  if (a->kind != VKL_MEM_DEVICE && !(a->host = a->dry_host = calloc(1, a->capacity))) {
    vkl_status st = vkl_set_error(ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "arena '%s'", a->name);
    free(a);
    return st;
  }
  if (a->kind == VKL_MEM_DEVICE) ctx->device_memory_used += a->counted = a->capacity;
  *out = a;
  return VKL_OK;
}

vkl_status vkl_arena_create(vkl_ctx *ctx, vkl_mem_kind kind, VkDeviceSize capacity,
                            const char *name, vkl_arena **out) {
  vkl_status st = VKL_OK;
  *out = NULL;
  if (capacity == 0)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "arena '%s': capacity is 0", name);
  if (ctx->info.max_allocation_size && capacity > ctx->info.max_allocation_size)
    return vkl_set_error(ctx, VKL_ERR_OUT_OF_DEVICE_MEMORY,
                         "arena '%s': %llu bytes exceed this device's largest "
                         "allocation (%llu bytes)",
                         name, (unsigned long long)capacity,
                         (unsigned long long)ctx->info.max_allocation_size);
  if (kind == VKL_MEM_DEVICE && ctx->device_memory_limit &&
      ctx->device_memory_used + capacity > ctx->device_memory_limit)
    return vkl_set_error(ctx, VKL_ERR_OUT_OF_DEVICE_MEMORY,
                         "arena '%s': cannot allocate %.1f MiB of device memory (%.1f MiB in use "
                         "of the %.1f MiB limit)",
                         name, (double)capacity / (1 << 20),
                         (double)ctx->device_memory_used / (1 << 20),
                         (double)ctx->device_memory_limit / (1 << 20));
  vkl_arena *a = calloc(1, sizeof *a);
  if (!a) return vkl_set_error(ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "arena '%s'", name);
  a->ctx = ctx;
  a->kind = kind;
  a->capacity = capacity;
  snprintf(a->name, sizeof a->name, "%s", name);
  if (ctx->compile_only) return dry_arena(ctx, a, out);

  VkBufferCreateInfo bci = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
      .size = capacity,
      .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
               VK_BUFFER_USAGE_TRANSFER_DST_BIT,
      .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  VK_TRY(vkCreateBuffer(ctx->device, &bci, NULL, &a->buffer));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(ctx->device, a->buffer, &req);
  VkMemoryPropertyFlags required = 0, preferred = 0;
  if (kind == VKL_MEM_DEVICE) preferred = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  if (kind != VKL_MEM_DEVICE)
    required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  if (kind == VKL_MEM_READBACK) preferred = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
  int type = find_memory_type(&ctx->mem_props, req.memoryTypeBits, required, preferred);
  if (type < 0) {
    st = vkl_set_error(ctx, VKL_ERR_UNSUPPORTED, "arena '%s': no %s memory type for its buffer",
                       name, kind_str(kind));
    goto fail;
  }
  VkMemoryAllocateInfo mai = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
      .allocationSize = req.size,
      .memoryTypeIndex = (uint32_t)type,
  };
  VkResult r = vkAllocateMemory(ctx->device, &mai, NULL, &a->memory);
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) {
    st = vkl_set_error(ctx, VKL_ERR_OUT_OF_DEVICE_MEMORY,
                       "arena '%s': cannot allocate %.1f MiB of %s memory (%s)", name,
                       (double)capacity / (1 << 20), kind_str(kind), vkl_vkresult_str(r));
    goto fail;
  }
  VK_TRY(r);
  VK_TRY(vkBindBufferMemory(ctx->device, a->buffer, a->memory, 0));
  if (kind != VKL_MEM_DEVICE)
    VK_TRY(vkMapMemory(ctx->device, a->memory, 0, VK_WHOLE_SIZE, 0, &a->host));
  if (kind == VKL_MEM_DEVICE) ctx->device_memory_used += a->counted = capacity;
  *out = a;
  return VKL_OK;
fail:
  vkl_arena_destroy(a);
  return st;
}

void vkl_arena_destroy(vkl_arena *a) {
  if (!a) return;
  VkDevice dev = a->ctx->device;
  a->ctx->device_memory_used -= a->counted;
  if (a->ctx->compile_only) {
    free(a->dry_host);
    free(a);
    return;
  }
  if (a->buffer) vkDestroyBuffer(dev, a->buffer, NULL);
  if (a->memory) vkFreeMemory(dev, a->memory, NULL); /* unmaps too */
  free(a);
}

vkl_status vkl_arena_alloc(vkl_arena *a, VkDeviceSize size, vkl_buf *out) {
  VkDeviceSize offset = round_up(a->used, storage_alignment(a->ctx));
  if (size == 0 || offset + size > a->capacity)
    return vkl_set_error(a->ctx, size ? VKL_ERR_OUT_OF_DEVICE_MEMORY : VKL_ERR_INVALID_ARGUMENT,
                         "arena '%s': cannot allocate %llu bytes (%llu of %llu used)", a->name,
                         (unsigned long long)size, (unsigned long long)a->used,
                         (unsigned long long)a->capacity);
  out->buffer = a->buffer;
  out->offset = offset;
  out->size = size;
  out->host = a->host ? (char *)a->host + offset : NULL;
  a->used = offset + size;
  return VKL_OK;
}

void vkl_arena_reset(vkl_arena *a) {
  a->used = 0;
}
VkDeviceSize vkl_arena_used(const vkl_arena *a) {
  return a->used;
}
VkDeviceSize vkl_arena_capacity(const vkl_arena *a) {
  return a->capacity;
}

vkl_buf vkl_buf_sub(vkl_buf b, VkDeviceSize offset, VkDeviceSize size) {
  vkl_buf s = {b.buffer, b.offset + offset, size, b.host ? (char *)b.host + offset : NULL};
  return s;
}

VkDeviceSize vkl_max_window(const vkl_ctx *ctx, VkDeviceSize elem_size) {
  VkDeviceSize a = storage_alignment(ctx);
  /* lcm(a, elem_size): a is a power of two, elem_size usually one too */
  VkDeviceSize step = a;
  while (step % elem_size) step += a;
  return ctx->info.max_storage_buffer_range / step * step;
}

/* ---- staging and synchronous copies ------------------------------------ */

vkl_status vkl_staging_init(vkl_ctx *ctx) {
  vkl_status st = VKL_OK;
  VKL_TRY(vkl_arena_create(ctx, VKL_MEM_UPLOAD, STAGING_BYTES, "upload staging", &ctx->upload));
  VKL_TRY(
      vkl_arena_create(ctx, VKL_MEM_READBACK, STAGING_BYTES, "readback staging", &ctx->readback));
  VKL_TRY(vkl_cmd_create(ctx, &ctx->transfer));
  return VKL_OK;
fail:
  return st;
}

void vkl_staging_destroy(vkl_ctx *ctx) {
  vkl_cmd_destroy(ctx->transfer);
  vkl_arena_destroy(ctx->upload);
  vkl_arena_destroy(ctx->readback);
  ctx->transfer = NULL;
  ctx->upload = ctx->readback = NULL;
}

static vkl_status check_range(vkl_ctx *ctx, const char *what, vkl_buf b, VkDeviceSize size) {
  if (size > b.size)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "%s: %llu bytes requested from a %llu-byte buffer", what,
                         (unsigned long long)size, (unsigned long long)b.size);
  return VKL_OK;
}

vkl_status vkl_upload(vkl_ctx *ctx, vkl_buf dst, const void *src, VkDeviceSize size) {
  vkl_status st = check_range(ctx, "vkl_upload", dst, size);
  if (ctx->compile_only) return st; /* no device memory to copy to */
  vkl_buf stage = {ctx->upload->buffer, 0, STAGING_BYTES, ctx->upload->host};
  for (VkDeviceSize done = 0; st == VKL_OK && done < size; done += STAGING_BYTES) {
    VkDeviceSize n = size - done < STAGING_BYTES ? size - done : STAGING_BYTES;
    /* The previous chunk's copy finished (vkl_run waited), so the staging
     * memory is free for host writes. */
    memcpy(stage.host, (const char *)src + done, n);
    if ((st = vkl_cmd_begin(ctx->transfer))) break;
    vkl_cmd_barrier(ctx->transfer); /* earlier reads/writes of dst (WAR, WAW) */
    vkl_cmd_copy(ctx->transfer, vkl_buf_sub(dst, done, n), stage, n);
    vkl_cmd_barrier(ctx->transfer); /* the copy before later accesses (RAW) */
    if ((st = vkl_cmd_end(ctx->transfer))) break;
    st = vkl_run(ctx, ctx->transfer);
  }
  return st;
}

vkl_status vkl_download(vkl_ctx *ctx, void *dst, vkl_buf src, VkDeviceSize size) {
  vkl_status st = check_range(ctx, "vkl_download", src, size);
  if (ctx->compile_only) { /* nothing ran: zeros, never stale host memory */
    if (!st) memset(dst, 0, size);
    return st;
  }
  vkl_buf stage = {ctx->readback->buffer, 0, STAGING_BYTES, ctx->readback->host};
  for (VkDeviceSize done = 0; st == VKL_OK && done < size; done += STAGING_BYTES) {
    VkDeviceSize n = size - done < STAGING_BYTES ? size - done : STAGING_BYTES;
    if ((st = vkl_cmd_begin(ctx->transfer))) break;
    vkl_cmd_barrier(ctx->transfer); /* earlier writes of src (RAW) */
    vkl_cmd_copy(ctx->transfer, stage, vkl_buf_sub(src, done, n), n);
    vkl_cmd_barrier_to_host(ctx->transfer); /* the copy before the host reads */
    if ((st = vkl_cmd_end(ctx->transfer))) break;
    if ((st = vkl_run(ctx, ctx->transfer))) break;
    memcpy((char *)dst + done, stage.host, n);
  }
  return st;
}
