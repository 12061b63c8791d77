/*
 * Segmented sum of squares: out (T) from T segments of one buffer x. The double
 * reference first, then the chunk-table helpers and the recording of sumsq_seg.comp.
 */
#include "ops/sumsq.h"

#include <stddef.h>

#include "ops/op_util.h"
#include "sumsq_seg.h"
#include "vk/vk_tuning.h"

void vkl_sumsq_forward_ref(double *out, const double *x, const vkl_sumsq_segment *segments,
                           uint32_t T) {
  for (uint32_t i = 0; i < T; i++) {
    const double *xi = x + segments[i].offset;
    double sum = 0.0;
    for (uint32_t j = 0; j < segments[i].count; j++) sum += xi[j] * xi[j];
    out[i] = sum;
  }
}

/* ---- device recording ---- */

uint32_t vkl_sumsq_chunk_elems(uint32_t chunk) {
  return chunk ? chunk : VKL_SUMSQ_CHUNK_DEFAULT;
}

static uint64_t chunks_of(uint32_t count, uint32_t chunk) {
  return count ? ((uint64_t)count + chunk - 1) / chunk : 1;
}

uint64_t vkl_sumsq_chunk_count(const vkl_sumsq_segment *segments, uint32_t T, uint32_t chunk) {
  chunk = vkl_sumsq_chunk_elems(chunk);
  uint64_t total = 0;
  for (uint32_t s = 0; s < T; s++) total += chunks_of(segments[s].count, chunk);
  return total;
}

void vkl_sumsq_chunk_table(uint32_t *table, const vkl_sumsq_segment *segments, uint32_t T,
                           uint32_t chunk) {
  chunk = vkl_sumsq_chunk_elems(chunk);
  size_t c = 0;
  for (uint32_t s = 0; s < T; s++) {
    uint64_t k = chunks_of(segments[s].count, chunk);
    for (uint64_t i = 0; i < k; i++, c++) {
      table[2 * c] = s;
      table[2 * c + 1] = (uint32_t)i;
    }
  }
}

uint64_t vkl_sumsq_workspace_floats(const vkl_sumsq_shape *sh) {
  return (uint64_t)sh->T + 2ull * sh->chunks;
}

/* The kernel for the context's tuning (shaders/common/reduce_sync.h): one
 * dispatch under the Vulkan memory model or two without it; subgroup
 * arithmetic or a shared-memory tree within the workgroup. */
static vkl_shader_id sumsq_shader(const vkl_tuning *t) {
  if (t->memory_model)
    return t->subgroup_reduce ? VKL_SHADER_sumsq_seg_mm_sg : VKL_SHADER_sumsq_seg_mm;
  return t->subgroup_reduce ? VKL_SHADER_sumsq_seg_sg : VKL_SHADER_sumsq_seg;
}

/* 64 invocations on CPU implementations (measured, shaders/sumsq_seg.comp). */
static uint32_t sumsq_wg(const vkl_tuning *t) {
  return t->geometry == VKL_GEOMETRY_GPU ? t->reduce_wg : VKL_SUMSQ_WG;
}

vkl_status vkl_sumsq_forward(vkl_cmd *cmd, vkl_buf out, const vkl_buf *out_y, vkl_buf x,
                             const vkl_buf *y, vkl_buf segments, vkl_buf chunks,
                             const vkl_sumsq_shape *sh, vkl_buf workspace) {
  vkl_ctx *ctx = vkl_cmd_ctx(cmd);
  const char *op = "sumsq";
  if (!sh->T || !sh->chunks)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "%s: %u segments, %u chunks", op, sh->T,
                         sh->chunks);
  if (sh->chunks < sh->T)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "%s: %u chunks cannot cover %u segments (each has at least one)", op,
                         sh->chunks, sh->T);
  if (sh->n > UINT32_MAX)
    return vkl_set_error(ctx, VKL_ERR_UNSUPPORTED, "%s: x has %llu elements, beyond 32-bit indices",
                         op, (unsigned long long)sh->n);
  if ((out_y == NULL) != (y == NULL))
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "%s: y and out_y must be given together (%s is missing)", op,
                         y ? "out_y" : "y");
  int pair = y != NULL;
  vkl_status st;
  if ((st = vkl_op_check_tensor(cmd, op, "out", out, sh->T)) ||
      (st = vkl_op_check_tensor(cmd, op, "x", x, sh->n)) ||
      (pair && (st = vkl_op_check_tensor(cmd, op, "out_y", *out_y, sh->T))) ||
      (pair && (st = vkl_op_check_tensor(cmd, op, "y", *y, sh->n))) ||
      (st = vkl_op_check_tensor(cmd, op, "segments", segments, 2ull * sh->T)) ||
      (st = vkl_op_check_tensor(cmd, op, "chunks", chunks, 2ull * sh->chunks)) ||
      (st = vkl_op_check_tensor(cmd, op, "workspace", workspace, vkl_sumsq_workspace_floats(sh))))
    return st;
  /* checked before anything is recorded: the counter fill comes before the dispatch */
  uint32_t align = vkl_ctx_device(vkl_cmd_ctx(cmd))->min_storage_offset_alignment;
  if (workspace.offset % (align > 4 ? align : 4))
    return vkl_set_error(vkl_cmd_ctx(cmd), VKL_ERR_INVALID_ARGUMENT,
                         "%s: workspace offset %llu is not a multiple of %u", op,
                         (unsigned long long)workspace.offset, align > 4 ? align : 4);
  const vkl_tuning *tune = vkl_ctx_tuning(ctx);
  vkl_sumsq_spec spec = {.wg_size = sumsq_wg(tune), .pair = (uint32_t)pair};
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, sumsq_shader(tune), &spec, sizeof spec, &p))) return st;
  vkl_sumsq_push push = {.T = sh->T,
                         .chunks = sh->chunks,
                         .chunk = vkl_sumsq_chunk_elems(sh->chunk),
                         .n = (uint32_t)sh->n};
  /* Unpaired, y and out_y bind x and out again: the shader never touches them. */
  vkl_buf bufs[7] = {x, pair ? *y : x, segments, chunks, workspace, out, pair ? *out_y : out};
  vkl_cmd_barrier(cmd); /* x, y, tables written by earlier work; workspace, outputs read by it */
  if (tune->memory_model) {
    vkl_cmd_fill_u32(cmd, vkl_buf_sub(workspace, 0, (VkDeviceSize)sh->T * sizeof(uint32_t)), 0);
    vkl_cmd_barrier(cmd); /* the zeroed counters before the dispatch's atomics (RAW, WAW) */
    return vkl_cmd_dispatch(cmd, p, bufs, 7, &push, sizeof push, sh->chunks, 1, 1);
  }
  if ((st = vkl_cmd_dispatch(cmd, p, bufs, 7, &push, sizeof push, sh->chunks, 1, 1))) return st;
  if (sh->chunks == sh->T) return VKL_OK; /* one chunk a segment: all written already */
  spec.finish = 1;
  if ((st = vkl_op_pipeline(cmd, sumsq_shader(tune), &spec, sizeof spec, &p))) return st;
  vkl_cmd_barrier(cmd); /* the chunks' partials before the second dispatch adds them (RAW) */
  return vkl_cmd_dispatch(cmd, p, bufs, 7, &push, sizeof push, sh->chunks, 1, 1);
}
