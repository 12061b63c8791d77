/* Compute pipelines from the embedded SPIR-V, cached by (shader, spec).
 *
 * Every pipeline shares one descriptor-set layout (VKL_MAX_BINDINGS storage
 * buffers) and one pipeline layout (that set plus 128 push-constant bytes),
 * so ops never create layouts. All pipelines allow vkCmdDispatchBase, which
 * the dispatch helper uses to split grids beyond maxComputeWorkGroupCount.
 * The driver's VkPipelineCache is saved per device under the user's cache
 * directory, so later runs skip shader compilation on any vendor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vk/vk_cache.h"
#include "vk/vk_internal.h"

static void cache_path(vkl_ctx *ctx) {
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(ctx->physical, &p);
  char dir[400], uuid[2 * VK_UUID_SIZE + 1];
  for (unsigned i = 0; i < VK_UUID_SIZE; i++)
    snprintf(uuid + 2 * i, 3, "%02x", p.pipelineCacheUUID[i]);
  ctx->pipeline_cache_path[0] = '\0';
  if (vkl_cache_dir("pipelines", dir, sizeof dir) == 0)
    snprintf(ctx->pipeline_cache_path, sizeof ctx->pipeline_cache_path, "%s/%08x-%08x-%s.bin", dir,
             p.vendorID, p.deviceID, uuid);
}

/* Reads the saved cache; a missing or foreign file just means a cold start
 * (the driver validates the header and ignores data that is not its own). */
static void *read_cache_file(const char *path, size_t *size) {
  *size = 0;
  FILE *f = path[0] ? fopen(path, "rb") : NULL;
  if (!f) return NULL;
  void *data = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n > 0 && n < (64L << 20) && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n)) &&
        fread(data, 1, (size_t)n, f) == (size_t)n)
      *size = (size_t)n;
  }
  fclose(f);
  if (!*size) {
    free(data);
    data = NULL;
  }
  return data;
}

/* Writes to a temporary file then renames, so a crash never leaves half a
 * cache behind. Failure only costs compile time next run. */
static void save_cache(vkl_ctx *ctx) {
  size_t size = 0;
  if (!ctx->pipeline_cache_path[0] ||
      vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, NULL) != VK_SUCCESS ||
      size == 0)
    return;
  void *data = malloc(size);
  char tmp[sizeof ctx->pipeline_cache_path + 32];
  /* per-process name: parallel runs must not write one temporary file */
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", ctx->pipeline_cache_path, (long)getpid());
  FILE *f = NULL;
  if (data && vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, data) == VK_SUCCESS &&
      (f = fopen(tmp, "wb"))) {
    int ok = fwrite(data, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, ctx->pipeline_cache_path) != 0) remove(tmp);
  }
  free(data);
}

vkl_status vkl_pipelines_init(vkl_ctx *ctx) {
  vkl_status st = VKL_OK;
  VkDescriptorSetLayoutBinding bindings[VKL_MAX_BINDINGS];
  for (uint32_t i = 0; i < VKL_MAX_BINDINGS; i++)
    bindings[i] = (VkDescriptorSetLayoutBinding){
        .binding = i,
        .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .descriptorCount = 1,
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    };
  VkDescriptorSetLayoutCreateInfo dsl = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
      .bindingCount = VKL_MAX_BINDINGS,
      .pBindings = bindings,
  };
  VK_TRY(vkCreateDescriptorSetLayout(ctx->device, &dsl, NULL, &ctx->set_layout));
  VkPushConstantRange push = {VK_SHADER_STAGE_COMPUTE_BIT, 0, VKL_PUSH_BYTES};
  VkPipelineLayoutCreateInfo pl = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
      .setLayoutCount = 1,
      .pSetLayouts = &ctx->set_layout,
      .pushConstantRangeCount = 1,
      .pPushConstantRanges = &push,
  };
  VK_TRY(vkCreatePipelineLayout(ctx->device, &pl, NULL, &ctx->pipeline_layout));
  cache_path(ctx);
  size_t size;
  void *data = read_cache_file(ctx->pipeline_cache_path, &size);
  VkPipelineCacheCreateInfo pci = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
      .initialDataSize = size,
      .pInitialData = data,
  };
  VkResult r = vkCreatePipelineCache(ctx->device, &pci, NULL, &ctx->pipeline_cache);
  if (r != VK_SUCCESS && data) { /* a damaged file: start empty instead */
    pci.initialDataSize = 0;
    pci.pInitialData = NULL;
    r = vkCreatePipelineCache(ctx->device, &pci, NULL, &ctx->pipeline_cache);
  }
  free(data);
  VK_TRY(r);
  return VKL_OK;
fail:
  return st;
}

void vkl_pipelines_destroy(vkl_ctx *ctx) {
  if (!ctx->device) return;
  for (uint32_t i = 0; i < ctx->pipeline_count; i++) {
    vkDestroyPipeline(ctx->device, ctx->pipelines[i]->pipeline, NULL);
    free(ctx->pipelines[i]);
  }
  free(ctx->pipelines);
  ctx->pipelines = NULL;
  ctx->pipeline_count = ctx->pipeline_cap = 0;
  for (int i = 0; i < VKL_SHADER_COUNT; i++)
    if (ctx->modules[i]) vkDestroyShaderModule(ctx->device, ctx->modules[i], NULL);
  if (ctx->pipeline_cache) {
    save_cache(ctx);
    vkDestroyPipelineCache(ctx->device, ctx->pipeline_cache, NULL);
  }
  if (ctx->pipeline_layout) vkDestroyPipelineLayout(ctx->device, ctx->pipeline_layout, NULL);
  if (ctx->set_layout) vkDestroyDescriptorSetLayout(ctx->device, ctx->set_layout, NULL);
}

static const vkl_pipeline *find_cached(const vkl_ctx *ctx, vkl_shader_id shader,
                                       const uint32_t *spec, uint32_t count) {
  for (uint32_t i = 0; i < ctx->pipeline_count; i++) {
    const vkl_pipeline *p = ctx->pipelines[i];
    if (p->shader == shader && p->spec_count == count &&
        memcmp(p->spec, spec, count * sizeof *spec) == 0)
      return p;
  }
  return NULL;
}

static vkl_status check_layout(vkl_ctx *ctx, const char *name, const vkl_shader_layout *l,
                               uint32_t spec_count) {
  const vkl_device_info *d = &ctx->info;
  if (spec_count != l->spec_count)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "shader %s: %u specialization constants given, it declares %u", name,
                         spec_count, l->spec_count);
  if (l->binding_count > VKL_MAX_BINDINGS || l->push_size > VKL_PUSH_BYTES)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "shader %s: %u bindings / %u push bytes exceed %d / %d", name,
                         l->binding_count, l->push_size, VKL_MAX_BINDINGS, VKL_PUSH_BYTES);
  uint64_t inv = (uint64_t)l->local_size[0] * l->local_size[1] * l->local_size[2];
  for (int i = 0; i < 3; i++)
    if (l->local_size[i] == 0 || l->local_size[i] > d->max_workgroup_size[i] ||
        inv > d->max_workgroup_invocations)
      return vkl_set_error(ctx, VKL_ERR_UNSUPPORTED,
                           "shader %s: workgroup %ux%ux%u exceeds this device's "
                           "limits (%u,%u,%u; %u invocations)",
                           name, l->local_size[0], l->local_size[1], l->local_size[2],
                           d->max_workgroup_size[0], d->max_workgroup_size[1],
                           d->max_workgroup_size[2], d->max_workgroup_invocations);
  return VKL_OK;
}

static vkl_status build(vkl_ctx *ctx, vkl_pipeline *p) {
  vkl_status st = VKL_OK;
  const vkl_shader_blob *blob = &vkl_shader_registry[p->shader];
  if (!ctx->modules[p->shader]) {
    VkShaderModuleCreateInfo smi = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = blob->size,
        .pCode = blob->code,
    };
    VK_TRY(vkCreateShaderModule(ctx->device, &smi, NULL, &ctx->modules[p->shader]));
  }
  VkSpecializationMapEntry entries[VKL_MAX_SPEC];
  for (uint32_t i = 0; i < p->spec_count; i++) entries[i] = (VkSpecializationMapEntry){i, i * 4, 4};
  VkSpecializationInfo spec = {p->spec_count, entries, p->spec_count * 4, p->spec};
  VkComputePipelineCreateInfo cpi = {
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .flags = VK_PIPELINE_CREATE_DISPATCH_BASE_BIT |
               (ctx->capture_stats ? VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR : 0),
      .stage =
          {
              .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
              .stage = VK_SHADER_STAGE_COMPUTE_BIT,
              .module = ctx->modules[p->shader],
              .pName = "main",
              .pSpecializationInfo = p->spec_count ? &spec : NULL,
          },
      .layout = ctx->pipeline_layout,
  };
  /* statistics are compiled, not cached: a pipeline from the cache may come without them */
  VkPipelineCache cache = ctx->capture_stats ? VK_NULL_HANDLE : ctx->pipeline_cache;
  VK_TRY(vkCreateComputePipelines(ctx->device, cache, 1, &cpi, NULL, &p->pipeline));
  return VKL_OK;
fail:
  return st;
}

vkl_status vkl_pipeline_get(vkl_ctx *ctx, vkl_shader_id shader, const void *spec, size_t spec_size,
                            const vkl_pipeline **out) {
  *out = NULL;
  if ((unsigned)shader >= VKL_SHADER_COUNT || spec_size % 4 || spec_size / 4 > VKL_MAX_SPEC ||
      (spec_size && !spec))
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "vkl_pipeline_get: bad shader id %d or spec size %zu", (int)shader,
                         spec_size);
  uint32_t count = (uint32_t)(spec_size / 4);
  uint32_t values[VKL_MAX_SPEC] = {0};
  if (count) memcpy(values, spec, spec_size);
  if ((*out = find_cached(ctx, shader, values, count))) return VKL_OK;

  const vkl_shader_blob *blob = &vkl_shader_registry[shader];
  vkl_pipeline *p = calloc(1, sizeof *p);
  if (!p) return vkl_set_error(ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "pipeline %s", blob->name);
  p->shader = shader;
  p->spec_count = count;
  memcpy(p->spec, values, sizeof values);
  char err[256];
  vkl_status st =
      vkl_spirv_reflect(blob->code, blob->size / 4, values, count, &p->layout, err, sizeof err);
  if (st) st = vkl_set_error(ctx, st, "shader %s: %s", blob->name, err);
  if (!st) st = check_layout(ctx, blob->name, &p->layout, count);
  if (!st && ctx->pipeline_count == ctx->pipeline_cap) {
    uint32_t cap = ctx->pipeline_cap ? 2 * ctx->pipeline_cap : 32;
    vkl_pipeline **grown = realloc(ctx->pipelines, cap * sizeof *grown);
    if (!grown)
      st = vkl_set_error(ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "pipeline cache");
    else {
      ctx->pipelines = grown;
      ctx->pipeline_cap = cap;
    }
  }
  if (!st) st = build(ctx, p);
  if (st) {
    free(p);
    return st;
  }
  ctx->pipelines[ctx->pipeline_count++] = p;
  *out = p;
  return VKL_OK;
}

uint32_t vkl_ctx_pipeline_count(const vkl_ctx *ctx) {
  return ctx->pipeline_count;
}

const vkl_pipeline *vkl_ctx_pipeline(const vkl_ctx *ctx, uint32_t i) {
  return i < ctx->pipeline_count ? ctx->pipelines[i] : NULL;
}
