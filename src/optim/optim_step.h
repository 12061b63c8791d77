/* The fused optimizer step on the device, over every parameter tensor of a
 * model at once (DESIGN.md "One optimizer step", step 3).
 *
 * Parameters and gradients each live in one arena; a table gives each
 * tensor's offset, size and ndim. One recorded step is two dispatches:
 * optim_norms (per-chunk partial sums of ||w||^2, ||d||^2, ||g||^2, the
 * trust ratios; LAMB and AdamW also write the new moments and u) and
 * optim_update (the update of every tensor). Per-step
 * values (t, lr, phi, bias corrections) live in a host-visible ring of
 * slots that the host writes before submit; the device keeps its own step
 * cursor, so the recorded command buffer never changes. The update writes
 * each tensor's statistics into the same slot, read by the host one step
 * later without stalling. */
#ifndef VKLARS_OPTIM_STEP_H
#define VKLARS_OPTIM_STEP_H

#include "optim/optim_ref.h"
#include "vk/vk.h"

#define VKL_OPTIM_RING 4 /* slots: the host may run this many steps ahead */

typedef struct vkl_param_desc {
  uint64_t offset; /* in floats, into the weight and gradient arenas */
  uint64_t count;
  uint32_t ndim;
} vkl_param_desc;

typedef struct vkl_optimizer vkl_optimizer;

/* w and g hold the parameters and gradients laid out as `params` says. The
 * optimizer allocates its own moments (zeroed) and tables; LAMB and AdamW
 * keep two copies of m and v (4 arena-sized buffers), so that a skipped
 * step leaves the current ones alone while a step writes the new ones once.
 * A step leaves g undefined (LAMB and AdamW store the update direction u
 * there, which saves re-reading m and v): the gradients must be written
 * afresh (accumulate 0) before the next step. */
vkl_status vkl_optimizer_create(vkl_ctx *ctx, const vkl_optim_config *cfg,
                                const vkl_param_desc *params, uint32_t count, vkl_buf w, vkl_buf g,
                                vkl_optimizer **out);
void vkl_optimizer_destroy(vkl_optimizer *opt);

/* Sets the device's step cursor: the next recorded step runs as step t
 * (0 for a new run; the saved step when resuming). Synchronous. */
vkl_status vkl_optimizer_set_step(vkl_optimizer *opt, uint64_t t);

/* Records one step into cmd: a barrier, the two dispatches (with the
 * guard's check before and rollback after, see vkl_optimizer_guard), and a
 * barrier making the ring slot readable by the host. */
vkl_status vkl_optimizer_record(vkl_optimizer *opt, vkl_cmd *cmd);

/* State outside the parameters that the step guards: batch norm's running
 * statistics, which the global batch's forward passes update (live), and
 * the caller's copy of them from the start of the batch (saved, the same
 * size). A NaN or infinity in live makes the step non-finite
 * (nonfinite_buffers; skipped when asked), and a skipped step restores
 * live from saved, so a dropped batch leaves nothing behind. Call before
 * recording. */
vkl_status vkl_optimizer_guard(vkl_optimizer *opt, vkl_buf live, vkl_buf saved);

/* Writes step t's slot (lr_t from the schedule, phi_t for TVLARS) before
 * the submission that runs step t. The slot is reused by step t + RING:
 * the caller must have waited for step t - RING to complete. */
vkl_status vkl_optimizer_prepare(vkl_optimizer *opt, uint64_t t, double lr, double phi,
                                 int skip_nonfinite);

typedef struct vkl_optim_step_info {
  uint64_t t;
  double lr, phi;
  int nonfinite_norm;    /* some weight or gradient norm was NaN or inf */
  int nonfinite_update;  /* some updated weight was NaN or inf */
  int nonfinite_buffers; /* the guarded state (vkl_optimizer_guard) was NaN or inf */
} vkl_optim_step_info;

/* After step t completed: its flags and per-tensor statistics (stats may
 * be NULL; else it has one entry per tensor). */
vkl_status vkl_optimizer_read(vkl_optimizer *opt, uint64_t t, vkl_optim_step_info *info,
                              vkl_optim_stats *stats);

/* The buffer holding the current moments, for checkpoints and resuming (v
 * is empty for the momentum family). LAMB and AdamW: reads from the device
 * which copy that is (synchronous; no step may be in flight); an empty
 * buffer if that read fails (the error is in ctx). */
vkl_buf vkl_optimizer_moment(const vkl_optimizer *opt, int which);

#endif
