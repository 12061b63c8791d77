/* The Vulkan compute runtime that every other module records through.
 *
 * It knows buffers, pipelines, command buffers and barriers, and nothing of
 * neural networks. Shape of use:
 *   arena  = vkl_arena_create(ctx, VKL_MEM_DEVICE, bytes)      one allocation
 *   buf    = vkl_arena_alloc(arena, bytes)                     a bound range
 *   pipe   = vkl_pipeline_get(ctx, VKL_SHADER_x, &spec, sizeof spec)
 *   cmd    = vkl_cmd_create(ctx); vkl_cmd_begin(cmd);
 *            vkl_cmd_barrier(cmd); vkl_cmd_dispatch(cmd, pipe, ...); ...
 *            vkl_cmd_end(cmd);
 *   ticket = vkl_submit(ctx, cmd); vkl_wait(ctx, ticket);
 * Ops append to a command buffer the caller owns; they never submit.
 *
 * Barrier convention: work that reads or writes buffers written by earlier
 * commands records vkl_cmd_barrier() first. That one global memory barrier
 * orders every earlier compute and transfer access (RAW, WAR and WAW) before
 * every later one, including work from earlier submissions on the queue. */
#ifndef VKLARS_VK_H
#define VKLARS_VK_H

#include <stdarg.h>
#include <vulkan/vulkan.h>

#include "vklars/vklars.h"
#include "vkl_shaders.h" /* generated: vkl_shader_id, vkl_shader_registry */

/* ---- errors ------------------------------------------------------------ */

/* Records a formatted message on ctx and returns st. The arguments may
 * include vkl_ctx_errmsg(ctx) itself, to add context to an error. */
vkl_status vkl_set_error(vkl_ctx *ctx, vkl_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps a failed VkResult to a status and records
 * "file:line: vkFoo -> VK_ERROR_..." on ctx. */
vkl_status vkl_vk_fail(vkl_ctx *ctx, VkResult r, const char *expr, const char *file, int line);
const char *vkl_vkresult_str(VkResult r);

/* In a function with locals `ctx` and `vkl_status st` and a `fail:` label. */
#define VK_TRY(expr)                                               \
  do {                                                             \
    VkResult vk_try_r_ = (expr);                                   \
    if (vk_try_r_ != VK_SUCCESS) {                                 \
      st = vkl_vk_fail(ctx, vk_try_r_, #expr, __FILE__, __LINE__); \
      goto fail;                                                   \
    }                                                              \
  } while (0)
#define VKL_TRY(expr)            \
  do {                           \
    st = (expr);                 \
    if (st != VKL_OK) goto fail; \
  } while (0)

/* ---- environment ------------------------------------------------------- */

/* The VKLARS_* variables as the context read them when it was created
 * (src/vk/vk_env.c): a malformed one fails vkl_ctx_create with
 * VKL_ERR_INVALID_ARGUMENT, so what is here is valid. "" / 0: unset. */
typedef struct vkl_env {
  char device[256];             /* VKLARS_DEVICE: device index or name substring */
  int validation;               /* VKLARS_VALIDATION=1: load the validation layer */
  int validation_print;         /* VKLARS_VALIDATION_PRINT=1: print its messages */
  uint64_t device_memory_limit; /* VKLARS_DEVICE_MEMORY_LIMIT: bytes (K, M, G) */
  uint64_t device_lost_after;   /* VKLARS_FAULT_DEVICE_LOST: submissions */
  char bn_layout[16];           /* VKLARS_BN_LAYOUT: segmented, interleaved, fused */
  char optim_layout[16];        /* VKLARS_OPTIM_LAYOUT: contiguous, strided */
  char tuning[8];               /* VKLARS_TUNING: cpu, gpu */
  char tune[512];               /* VKLARS_TUNE: name=value,... (checked with the table) */
} vkl_env;

const vkl_env *vkl_ctx_env(const vkl_ctx *ctx);
/* The device's tuning table (vk/vk_tuning.h), fixed for the context's life. */
const struct vkl_tuning *vkl_ctx_tuning(const vkl_ctx *ctx);

/* ---- memory ------------------------------------------------------------ */

typedef enum vkl_mem_kind {
  VKL_MEM_DEVICE = 0, /* device-local: weights, activations, gradients */
  VKL_MEM_UPLOAD,     /* host-visible, coherent: staging towards the device */
  VKL_MEM_READBACK    /* host-visible, coherent, cached if possible */
} vkl_mem_kind;

/* A range of one VkBuffer. `host` points at the range when it is mapped. */
typedef struct vkl_buf {
  VkBuffer buffer;
  VkDeviceSize offset;
  VkDeviceSize size;
  void *host;
} vkl_buf;

/* One VkDeviceMemory with one VkBuffer over it, handed out by a bump
 * pointer: allocations are freed together by reset or destroy. */
typedef struct vkl_arena vkl_arena;

vkl_status vkl_arena_create(vkl_ctx *ctx, vkl_mem_kind kind, VkDeviceSize capacity,
                            const char *name, vkl_arena **out);
void vkl_arena_destroy(vkl_arena *arena);
/* Aligned to minStorageBufferOffsetAlignment (and at least 16 bytes). */
vkl_status vkl_arena_alloc(vkl_arena *arena, VkDeviceSize size, vkl_buf *out);
void vkl_arena_reset(vkl_arena *arena);
VkDeviceSize vkl_arena_used(const vkl_arena *arena);
VkDeviceSize vkl_arena_capacity(const vkl_arena *arena);

/* The sub-range [offset, offset+size) of b. */
vkl_buf vkl_buf_sub(vkl_buf b, VkDeviceSize offset, VkDeviceSize size);

/* Largest window, in bytes, that a binding may span: maxStorageBufferRange
 * rounded down to a multiple of both elem_size and the offset alignment, so
 * that consecutive windows start on aligned offsets and whole elements. */
VkDeviceSize vkl_max_window(const vkl_ctx *ctx, VkDeviceSize elem_size);

/* Synchronous copies between host memory and a device buffer, through the
 * context's staging memory in chunks. Barriers: earlier device accesses of
 * dst/src are ordered before the copy, and the copy before later ones. */
vkl_status vkl_upload(vkl_ctx *ctx, vkl_buf dst, const void *src, VkDeviceSize size);
vkl_status vkl_download(vkl_ctx *ctx, void *dst, vkl_buf src, VkDeviceSize size);

/* ---- pipelines --------------------------------------------------------- */

#define VKL_MAX_BINDINGS 8
#define VKL_MAX_SPEC 16
#define VKL_PUSH_BYTES 128 /* the minimum every device guarantees */

/* What the runtime read from a shader's SPIR-V. */
typedef struct vkl_shader_layout {
  uint32_t binding_count; /* highest binding used + 1, set 0 */
  uint32_t push_size;     /* bytes of the push-constant block, 0 if none */
  uint32_t spec_count;    /* distinct SpecIds, which must be 0..n-1 */
  uint32_t local_size[3]; /* after specialization */
} vkl_shader_layout;

typedef struct vkl_pipeline {
  vkl_shader_id shader;
  uint32_t spec[VKL_MAX_SPEC];
  uint32_t spec_count;
  vkl_shader_layout layout;
  VkPipeline pipeline;
} vkl_pipeline;

/* The pipeline of `shader` specialized with `spec`, a struct of uint32
 * fields whose i-th field is constant_id i (see shaders/common/iface.h).
 * Built once and cached by (shader, spec); owned by ctx. */
vkl_status vkl_pipeline_get(vkl_ctx *ctx, vkl_shader_id shader, const void *spec, size_t spec_size,
                            const vkl_pipeline **out);
/* The pipelines the context has built, in the order they were first asked
 * for (`vklars kernels` lists them); NULL past the end. */
uint32_t vkl_ctx_pipeline_count(const vkl_ctx *ctx);
const vkl_pipeline *vkl_ctx_pipeline(const vkl_ctx *ctx, uint32_t i);

/* One statistic the driver's compiler reports for a pipeline
 * (VK_KHR_pipeline_executable_properties): "VGPRs", "Spilled SGPRs", ... as
 * the driver names them, for one executable (a compute pipeline has one,
 * some drivers report a few: their subgroup size or stage split). */
typedef struct vkl_pipeline_stat {
  char executable[64]; /* the executable's name, e.g. "Compute Shader" */
  uint32_t subgroup_size;
  char name[64];
  char description[160];
  double value;
  int integer; /* 1: value is a count */
} vkl_pipeline_stat;

/* Up to max of p's statistics into out, their number in *count. Only in a
 * context created with pipeline_stats where the device has the extension
 * (vkl_device_info.executable_stats); VKL_ERR_UNSUPPORTED otherwise. */
vkl_status vkl_pipeline_stats(vkl_ctx *ctx, const vkl_pipeline *p, vkl_pipeline_stat *out,
                              uint32_t max, uint32_t *count);

/* Reads binding count, push size, SpecIds and workgroup size from SPIR-V. */
vkl_status vkl_spirv_reflect(const uint32_t *code, size_t words, const uint32_t *spec,
                             uint32_t spec_count, vkl_shader_layout *out, char *err, size_t errlen);

/* ---- command buffers --------------------------------------------------- */

typedef struct vkl_cmd vkl_cmd;

vkl_status vkl_cmd_create(vkl_ctx *ctx, vkl_cmd **out);
void vkl_cmd_destroy(vkl_cmd *cmd);
/* Starts (re)recording; frees the descriptor sets of the last recording. */
vkl_status vkl_cmd_begin(vkl_cmd *cmd);
vkl_status vkl_cmd_end(vkl_cmd *cmd);
vkl_ctx *vkl_cmd_ctx(const vkl_cmd *cmd);
VkCommandBuffer vkl_cmd_handle(const vkl_cmd *cmd);

/* Binds bufs[i] at binding i, pushes `push` and dispatches gx*gy*gz groups.
 * Checks the binding count, the push size, every range against
 * maxStorageBufferRange and the offset alignment; splits a grid beyond
 * maxComputeWorkGroupCount into several vkCmdDispatchBase calls, so shaders
 * see the same gl_WorkGroupID either way. */
vkl_status vkl_cmd_dispatch(vkl_cmd *cmd, const vkl_pipeline *pipe, const vkl_buf *bufs,
                            uint32_t buf_count, const void *push, uint32_t push_size, uint32_t gx,
                            uint32_t gy, uint32_t gz);

/* Global memory barrier: all earlier compute-shader and transfer reads and
 * writes happen before all later ones (RAW, WAR, WAW). */
void vkl_cmd_barrier(vkl_cmd *cmd);
/* Barrier making earlier device writes visible to host reads after the
 * submission's wait (for buffers read through `host`). */
void vkl_cmd_barrier_to_host(vkl_cmd *cmd);
/* Fills b (size a multiple of 4) with a 32-bit pattern: a transfer write
 * (no barrier of its own). */
void vkl_cmd_fill_u32(vkl_cmd *cmd, vkl_buf b, uint32_t value);
/* Copies size bytes between buffers (no barrier of its own). */
void vkl_cmd_copy(vkl_cmd *cmd, vkl_buf dst, vkl_buf src, VkDeviceSize size);

/* Submits on the compute queue; *ticket is the timeline value signalled
 * when it completes. Host writes made before submit are visible to it. */
vkl_status vkl_submit(vkl_ctx *ctx, vkl_cmd *cmd, uint64_t *ticket);
vkl_status vkl_wait(vkl_ctx *ctx, uint64_t ticket);
/* *done = whether the submission of ticket has completed (never blocks). */
vkl_status vkl_ticket_done(vkl_ctx *ctx, uint64_t ticket, int *done);
/* Waits for every submission made so far (teardown, errors). */
vkl_status vkl_wait_all(vkl_ctx *ctx);
/* Submit and wait. */
vkl_status vkl_run(vkl_ctx *ctx, vkl_cmd *cmd);

/* ---- timestamp profiling ----------------------------------------------- */

typedef struct vkl_profiler vkl_profiler;

/* Up to max_regions named regions per recording. Fails with
 * VKL_ERR_UNSUPPORTED where the queue has no timestamps. */
vkl_status vkl_profiler_create(vkl_ctx *ctx, uint32_t max_regions, vkl_profiler **out);
void vkl_profiler_destroy(vkl_profiler *prof);
/* Resets the queries; record once per recording, before any region. */
void vkl_profiler_reset(vkl_cmd *cmd, vkl_profiler *prof);
/* Returns the region index, or a status on overflow. */
vkl_status vkl_profiler_begin(vkl_cmd *cmd, vkl_profiler *prof, const char *name, uint32_t *region);
void vkl_profiler_end(vkl_cmd *cmd, vkl_profiler *prof, uint32_t region);
/* After the recording ran: region count, and each region's name and time. */
uint32_t vkl_profiler_count(const vkl_profiler *prof);
vkl_status vkl_profiler_read(vkl_profiler *prof, uint32_t region, const char **name, double *ns);

/* ---- internal access for the runtime's own modules --------------------- */

VkDevice vkl_ctx_vkdevice(const vkl_ctx *ctx);
/* Lowers (never raises) the per-dimension group counts at which
 * vkl_cmd_dispatch splits a grid, so tests exercise splitting on devices
 * whose limits are too large to reach with a test-sized buffer. */
void vkl_ctx_lower_workgroup_count(vkl_ctx *ctx, const uint32_t limit[3]);

#endif
