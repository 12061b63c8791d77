/* The fused optimizer step on the device (see optim_step.h). */
#include "optim/optim_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_util.h"
#include "vk/vk_tuning.h"
#include "optim.h"
#include "optim_guard.h"
#include "vec4_grid.h"

/* Chunk sizes and workgroup size: shaders/common/optim.h. */
struct vkl_optimizer {
  vkl_ctx *ctx;
  vkl_optim_config cfg;
  uint32_t tensor_count, norm_chunks, update_chunks, slot_words;
  vkl_buf w, g, ring;
  vkl_buf m[2], v[2]; /* the Adam family's two copies (OPTIM_STATE_PARITY); else all m[0] */
  vkl_buf state;      /* tables, scratch words, coefficients (shaders/common/optim.h) */
  vkl_buf scratch;    /* the scratch words, within state */
  vkl_buf guarded, guarded_saved; /* vkl_optimizer_guard; empty: none */
  vkl_arena *device, *host;
};

static uint32_t chunks_of(uint64_t count, uint64_t chunk) {
  return (uint32_t)((count + chunk - 1) / chunk);
}

static int adam_mode(vkl_opt_kind k) {
  return k == VKL_OPT_LAMB || k == VKL_OPT_ADAMW;
}

static uint32_t push_flags(const vkl_optim_config *c) {
  uint32_t f = 0;
  if (c->kind != VKL_OPT_SGD && c->kind != VKL_OPT_ADAMW) f |= OPTIM_ADAPT;
  if (c->nesterov) f |= OPTIM_NESTEROV;
  if (c->denominator == VKL_LARS_DENOM_SUM_OF_NORMS) f |= OPTIM_SUM_OF_NORMS;
  if (c->larc_clip) f |= OPTIM_LARC;
  if (c->decoupled_decay) f |= OPTIM_DECOUPLED;
  return f;
}

/* Per-workgroup cost beyond its elements, in element-equivalents, for
 * ordering the chunk tables (a rough figure: the order is a heuristic and
 * results do not depend on it). */
#define OPTIM_CHUNK_OVERHEAD 4096u

/* Writes n chunk entries (tensor, start, count, partial index) into out in
 * dispatch order. CPU drivers give each of their T threads a contiguous
 * 1/T of a dispatch's workgroups (lavapipe: llvmpipe's compute thread pool
 * splits the iterations into equal blocks, no work stealing), so in tensor
 * order the first half of ResNet-18's chunks (the small early layers, many
 * chunks of a few hundred floats) is 0.7x the work of the second half and
 * one thread idles. Merging the full chunks and the partial ones so that
 * the work done by every prefix is proportional to its length balances
 * any T; full chunks keep their arena order, so each thread still walks
 * memory forwards. `in` is in tensor order; in[k][3] = k is the chunk's
 * partial-sum index, which keeps the norms' summation order fixed. */
static void balance_chunks(const uint32_t *in, uint32_t n, uint32_t chunk, uint32_t *out) {
  double total = 0;
  for (uint32_t k = 0; k < n; k++) total += in[OPTIM_ENTRY_UINTS * k + 2] + OPTIM_CHUNK_OVERHEAD;
  uint32_t big = 0, small = 0; /* next candidates: a full chunk, a partial one */
  double done = 0;
  for (uint32_t i = 0; i < n; i++) {
    while (big < n && in[OPTIM_ENTRY_UINTS * big + 2] != chunk) big++;
    while (small < n && in[OPTIM_ENTRY_UINTS * small + 2] == chunk) small++;
    double target = total * (i + 1) / n;
    uint32_t pick;
    if (big == n)
      pick = small;
    else if (small == n)
      pick = big;
    else {
      double wb = in[OPTIM_ENTRY_UINTS * big + 2] + OPTIM_CHUNK_OVERHEAD;
      double ws = in[OPTIM_ENTRY_UINTS * small + 2] + OPTIM_CHUNK_OVERHEAD;
      pick = fabs(done + wb - target) <= fabs(done + ws - target) ? big : small;
    }
    memcpy(out + OPTIM_ENTRY_UINTS * i, in + OPTIM_ENTRY_UINTS * pick, 4 * OPTIM_ENTRY_UINTS);
    done += in[OPTIM_ENTRY_UINTS * pick + 2] + OPTIM_CHUNK_OVERHEAD;
    if (pick == big)
      big++;
    else
      small++;
  }
}

/* Tensor table, norm chunk table, update chunk table (shaders/common/optim.h). */
static vkl_status build_tables(vkl_optimizer *o, const vkl_param_desc *p, uint32_t n,
                               uint64_t arena_floats) {
  vkl_ctx *ctx = o->ctx;
  uint64_t nc = 0, uc = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (p[i].offset % 4)
      return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                           "optimizer: parameter %u starts at float %llu; tensors must start on "
                           "4-float boundaries (the update reads vec4s)",
                           i, (unsigned long long)p[i].offset);
    if (p[i].count == 0 || p[i].offset + p[i].count > arena_floats)
      return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                           "optimizer: parameter %u (offset %llu, %llu floats) lies outside "
                           "the %llu-float arena or is empty",
                           i, (unsigned long long)p[i].offset, (unsigned long long)p[i].count,
                           (unsigned long long)arena_floats);
    nc += chunks_of(p[i].count, OPTIM_NORM_CHUNK);
    uc += chunks_of(p[i].count, OPTIM_UPDATE_CHUNK);
  }
  o->norm_chunks = (uint32_t)nc;
  o->update_chunks = (uint32_t)uc;
  size_t entries = n + nc + uc;
  /* the tables, then the chunk tables again in tensor order */
  uint32_t *t = calloc((entries + nc + uc) * OPTIM_ENTRY_UINTS, sizeof *t);
  if (!t) return vkl_set_error(ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "optimizer tables");
  uint32_t *ordered = t + (size_t)OPTIM_ENTRY_UINTS * entries;
  uint32_t *norm = ordered, *upd = ordered + OPTIM_ENTRY_UINTS * nc;
  uint32_t first = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t *e = t + OPTIM_ENTRY_UINTS * i;
    e[0] = first;
    e[1] = chunks_of(p[i].count, OPTIM_NORM_CHUNK);
    e[2] = vkl_optim_excluded(&o->cfg, (int)p[i].ndim) ? OPTIM_TENSOR_EXCLUDED : 0;
    e[3] = (uint32_t)p[i].count;
    first += e[1];
    const uint64_t sizes[2] = {OPTIM_NORM_CHUNK, OPTIM_UPDATE_CHUNK};
    uint32_t **tables[2] = {&norm, &upd};
    uint32_t *starts[2] = {ordered, ordered + OPTIM_ENTRY_UINTS * nc};
    for (int k = 0; k < 2; k++)
      for (uint64_t start = 0; start < p[i].count; start += sizes[k]) {
        uint32_t *c = *tables[k];
        c[0] = i;
        c[1] = (uint32_t)(p[i].offset + start);
        c[2] = (uint32_t)(p[i].count - start < sizes[k] ? p[i].count - start : sizes[k]);
        c[3] = (uint32_t)((c - starts[k]) / OPTIM_ENTRY_UINTS);
        *tables[k] += OPTIM_ENTRY_UINTS;
      }
  }
  balance_chunks(ordered, (uint32_t)nc, OPTIM_NORM_CHUNK, t + (size_t)OPTIM_ENTRY_UINTS * n);
  balance_chunks(ordered + OPTIM_ENTRY_UINTS * nc, (uint32_t)uc, OPTIM_UPDATE_CHUNK,
                 t + (size_t)OPTIM_ENTRY_UINTS * (n + nc));
  size_t table_bytes = entries * OPTIM_ENTRY_UINTS * 4;
  uint64_t scratch_bytes = 4ull * (OPTIM_STATE_UINTS + n + OPTIM_PARTIALS * nc);
  vkl_status st = vkl_arena_alloc(
      o->device, table_bytes + scratch_bytes + 4ull * OPTIM_COEFF_UINTS * n, &o->state);
  if (!st) st = vkl_upload(ctx, vkl_buf_sub(o->state, 0, table_bytes), t, table_bytes);
  o->scratch = vkl_buf_sub(o->state, table_bytes, scratch_bytes);
  free(t);
  return st;
}

vkl_status vkl_optimizer_create(vkl_ctx *ctx, const vkl_optim_config *cfg,
                                const vkl_param_desc *params, uint32_t count, vkl_buf w, vkl_buf g,
                                vkl_optimizer **out) {
  vkl_status st = VKL_OK;
  *out = NULL;
  char err[256];
  if (vkl_optim_validate(cfg, NULL, err, sizeof err))
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "optimizer: %s", err);
  if (count == 0 || w.size != g.size || w.size % 4 || w.size / 4 > UINT32_MAX)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "optimizer: %u tensors, weights %llu bytes, gradients %llu bytes", count,
                         (unsigned long long)w.size, (unsigned long long)g.size);
  vkl_optimizer *o = calloc(1, sizeof *o);
  if (!o) return vkl_set_error(ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "optimizer");
  o->ctx = ctx;
  o->cfg = *cfg;
  o->w = w;
  o->g = g;
  o->tensor_count = count;
  o->slot_words = OPTIM_SLOT_HEADER + OPTIM_STAT_FLOATS * count;
  uint64_t floats = w.size / 4;
  /* upper bounds of the chunk counts, for the arena size */
  uint64_t nc_max = floats / OPTIM_NORM_CHUNK + count, uc_max = floats / OPTIM_UPDATE_CHUNK + count;
  int adam = adam_mode(cfg->kind);
  VkDeviceSize bytes = (adam ? 4 : 1) * w.size + 8192 + 16ull * (count + nc_max + uc_max) +
                       4 * (OPTIM_STATE_UINTS + count + OPTIM_PARTIALS * nc_max) +
                       4ull * OPTIM_COEFF_UINTS * count;
  VKL_TRY(vkl_arena_create(ctx, VKL_MEM_DEVICE, bytes, "optimizer state", &o->device));
  VKL_TRY(vkl_arena_create(ctx, VKL_MEM_READBACK, 4ull * VKL_OPTIM_RING * o->slot_words,
                           "optimizer ring", &o->host));
  VKL_TRY(vkl_arena_alloc(o->device, w.size, &o->m[0]));
  o->v[0] = o->m[1] = o->v[1] = o->m[0]; /* bound but never read in the momentum family */
  if (adam)
    for (int k = 0; k < 2; k++) {
      if (k) VKL_TRY(vkl_arena_alloc(o->device, w.size, &o->m[k]));
      VKL_TRY(vkl_arena_alloc(o->device, w.size, &o->v[k]));
    }
  VKL_TRY(build_tables(o, params, count, floats));
  VKL_TRY(vkl_arena_alloc(o->host, 4ull * VKL_OPTIM_RING * o->slot_words, &o->ring));
  memset(o->ring.host, 0, o->ring.size);
  /* zero moments and the cursor */
  vkl_cmd *cmd = NULL;
  VKL_TRY(vkl_cmd_create(ctx, &cmd));
  st = vkl_cmd_begin(cmd);
  if (!st) {
    vkl_cmd_barrier(cmd); /* earlier use of this memory (WAW) */
    vkl_cmd_fill_u32(cmd, o->m[0], 0);
    if (adam) vkl_cmd_fill_u32(cmd, o->v[0], 0);
    vkl_cmd_fill_u32(cmd, o->scratch, 0); /* parity 0: the moments are in m[0], v[0] */
    vkl_cmd_barrier(cmd);                 /* the fills before the first step (RAW) */
    st = vkl_cmd_end(cmd);
  }
  if (!st) st = vkl_run(ctx, cmd);
  vkl_cmd_destroy(cmd);
  if (st) goto fail;
  *out = o;
  return VKL_OK;
fail:
  vkl_optimizer_destroy(o);
  return st;
}

void vkl_optimizer_destroy(vkl_optimizer *o) {
  if (!o) return;
  vkl_arena_destroy(o->device);
  vkl_arena_destroy(o->host);
  free(o);
}

vkl_buf vkl_optimizer_moment(const vkl_optimizer *o, int which) {
  vkl_buf none = {0};
  if (!adam_mode(o->cfg.kind)) return which == 0 ? o->m[0] : none;
  uint32_t parity = 0;
  if (vkl_download(o->ctx, &parity, vkl_buf_sub(o->scratch, 4 * OPTIM_STATE_PARITY, 4), 4))
    return none;
  return which == 0 ? o->m[parity & 1] : o->v[parity & 1];
}

vkl_status vkl_optimizer_set_step(vkl_optimizer *o, uint64_t t) {
  if (t > UINT32_MAX)
    return vkl_set_error(o->ctx, VKL_ERR_INVALID_ARGUMENT, "optimizer: step %llu too large",
                         (unsigned long long)t);
  uint32_t state[4] = {(uint32_t)t, (uint32_t)t, 0, 0}; /* cursor, step, skip words */
  return vkl_upload(o->ctx, vkl_buf_sub(o->scratch, 0, sizeof state), state, sizeof state);
}

static uint32_t *slot_of(vkl_optimizer *o, uint64_t t) {
  return (uint32_t *)o->ring.host + (t % VKL_OPTIM_RING) * o->slot_words;
}

static void put_float(uint32_t *word, float f) {
  memcpy(word, &f, sizeof f);
}
static float get_float(const uint32_t *word) {
  float f;
  memcpy(&f, word, sizeof f);
  return f;
}

vkl_status vkl_optimizer_prepare(vkl_optimizer *o, uint64_t t, double lr, double phi,
                                 int skip_nonfinite) {
  uint32_t *s = slot_of(o, t);
  double c1 = 1.0, c2 = 1.0;
  if (adam_mode(o->cfg.kind) && o->cfg.bias_correction) {
    c1 = 1.0 - pow(o->cfg.beta1, (double)t + 1);
    c2 = 1.0 - pow(o->cfg.beta2, (double)t + 1);
  }
  s[OPTIM_SLOT_T] = (uint32_t)t;
  s[OPTIM_SLOT_FLAGS] = 0;
  put_float(&s[OPTIM_SLOT_LR], (float)lr);
  put_float(&s[OPTIM_SLOT_PHI], (float)phi);
  put_float(&s[OPTIM_SLOT_C1], (float)c1);
  put_float(&s[OPTIM_SLOT_C2], (float)c2);
  s[OPTIM_SLOT_SKIP] = skip_nonfinite ? 1u : 0u;
  return VKL_OK;
}

/* Runs walked by groups of OPTIM_LANES invocations on CPU devices, by the
 * whole workgroup (coalesced) on GPUs; VKLARS_OPTIM_LAYOUT=contiguous|strided
 * overrides (tests run both). */
static uint32_t contiguous_layout(const vkl_ctx *ctx) {
  const char *forced = vkl_ctx_env(ctx)->optim_layout; /* checked by the context */
  if (strcmp(forced, "contiguous") == 0) return 1;
  if (strcmp(forced, "strided") == 0) return 0;
  return vkl_ctx_tuning(ctx)->optim_contiguous;
}

vkl_status vkl_optimizer_guard(vkl_optimizer *o, vkl_buf live, vkl_buf saved) {
  if (live.size != saved.size || live.size == 0 || live.size % 4 || live.size / 4 > UINT32_MAX)
    return vkl_set_error(o->ctx, VKL_ERR_INVALID_ARGUMENT,
                         "optimizer guard: live %llu bytes, saved %llu bytes",
                         (unsigned long long)live.size, (unsigned long long)saved.size);
  o->guarded = live;
  o->guarded_saved = saved;
  return VKL_OK;
}

/* The guard's two dispatches: the check before the norms (phase 0), the
 * rollback after the update (phase 1). */
static vkl_status record_guard(vkl_optimizer *o, vkl_cmd *cmd, int phase) {
  enum { WG = 256 };
  vkl_optim_guard_spec check_spec = {.wg_size = WG, .ring_slots = VKL_OPTIM_RING};
  vkl_optim_rollback_spec restore_spec = {.wg_size = WG};
  const vkl_pipeline *p;
  vkl_status st =
      phase
          ? vkl_op_pipeline(cmd, VKL_SHADER_optim_rollback, &restore_spec, sizeof restore_spec, &p)
          : vkl_op_pipeline(cmd, VKL_SHADER_optim_guard, &check_spec, sizeof check_spec, &p);
  if (st) return st;
  uint64_t n = o->guarded.size / 4;
  vkl_optim_guard_push push = {
      .n = (uint32_t)n,
      .scratch = OPTIM_ENTRY_UINTS * (o->tensor_count + o->norm_chunks + o->update_chunks),
      .slot_words = o->slot_words};
  vkl_buf check[3] = {o->state, o->ring, o->guarded};
  vkl_buf restore[3] = {o->state, o->guarded, o->guarded_saved};
  vkl_cmd_barrier(cmd); /* the state written by the batch's passes, the step words (RAW) */
  return vkl_cmd_dispatch(cmd, p, phase ? restore : check, 3, &push, sizeof push,
                          phase ? vkl_vec4_grid_groups(n, WG) : 1, 1, 1);
}

/* The norms kernel for the context's tuning (shaders/common/reduce_sync.h):
 * one dispatch under the Vulkan memory model or two without it; subgroup
 * arithmetic or a shared-memory tree within the workgroup. */
static vkl_shader_id norms_shader(const vkl_tuning *t) {
  if (t->memory_model)
    return t->subgroup_reduce ? VKL_SHADER_optim_norms_mm_sg : VKL_SHADER_optim_norms_mm;
  return t->subgroup_reduce ? VKL_SHADER_optim_norms_sg : VKL_SHADER_optim_norms;
}

vkl_status vkl_optimizer_record(vkl_optimizer *o, vkl_cmd *cmd) {
  vkl_status st;
  vkl_optim_spec spec = {.wg_size = OPTIM_WG,
                         .mode = adam_mode(o->cfg.kind) ? OPTIM_MODE_ADAM : OPTIM_MODE_MOMENTUM,
                         .ring_slots = VKL_OPTIM_RING,
                         .contiguous = contiguous_layout(o->ctx)};
  const vkl_tuning *tune = vkl_ctx_tuning(o->ctx);
  /* the second norms dispatch adds the partials of tensors of several chunks */
  int finish = !tune->memory_model && o->norm_chunks > o->tensor_count;
  vkl_optim_norms_spec norms_spec = {spec.wg_size, spec.mode, spec.ring_slots, spec.contiguous, 0};
  vkl_optim_norms_spec finish_spec = norms_spec;
  finish_spec.finish = 1;
  const vkl_pipeline *norms, *norms_finish = NULL, *update;
  if ((st = vkl_op_pipeline(cmd, norms_shader(tune), &norms_spec, sizeof norms_spec, &norms)) ||
      (finish && (st = vkl_op_pipeline(cmd, norms_shader(tune), &finish_spec, sizeof finish_spec,
                                       &norms_finish))) ||
      (st = vkl_op_pipeline(cmd, VKL_SHADER_optim_update, &spec, sizeof spec, &update)))
    return st;
  const vkl_optim_config *c = &o->cfg;
  vkl_optim_push push = {
      .tensor_count = o->tensor_count,
      .norm_chunks = o->norm_chunks,
      .update_chunks = o->update_chunks,
      .slot_words = o->slot_words,
      .flags = push_flags(c),
      .momentum = (float)c->momentum,
      .weight_decay = (float)c->weight_decay,
      .eta = (float)c->eta,
      .lars_eps = (float)c->lars_eps,
      .beta1 = (float)c->beta1,
      .beta2 = (float)c->beta2,
      .eps = (float)c->eps,
      .norm_clamp = (float)c->norm_clamp,
      .lamb_clamp_w = (float)c->lamb_clamp_w,
      .trust_clip = (float)c->trust_clip,
      .excluded_lr_scale = (float)c->excluded_lr_scale,
  };
  /* the kernels may leave the last bindings unused (the update: v1) */
  vkl_buf bufs[8] = {o->w, o->g, o->m[0], o->v[0], o->state, o->m[1], o->ring, o->v[1]};
  int guard = o->guarded.size != 0;
  if (guard && (st = record_guard(o, cmd, 0))) return st;
  vkl_cmd_barrier(cmd); /* gradients from the backward pass; w read by forward (WAR) */
  if ((st = vkl_cmd_dispatch(cmd, norms, bufs, norms->layout.binding_count, &push, sizeof push,
                             o->norm_chunks, 1, 1)))
    return st;
  if (finish) {
    vkl_cmd_barrier(cmd); /* the chunks' partials, read by the tensors' sums (RAW) */
    if ((st = vkl_cmd_dispatch(cmd, norms_finish, bufs, norms_finish->layout.binding_count, &push,
                               sizeof push, o->tensor_count, 1, 1)))
      return st;
  }
  vkl_cmd_barrier(cmd); /* coefficients, the step word and the skip word, read by the update */
  if ((st = vkl_cmd_dispatch(cmd, update, bufs, update->layout.binding_count, &push, sizeof push,
                             o->update_chunks, 1, 1)))
    return st;
  if (guard && (st = record_guard(o, cmd, 1))) return st;
  vkl_cmd_barrier_to_host(cmd); /* the slot's statistics, read by the host later */
  return VKL_OK;
}

vkl_status vkl_optimizer_read(vkl_optimizer *o, uint64_t t, vkl_optim_step_info *info,
                              vkl_optim_stats *stats) {
  const uint32_t *s = slot_of(o, t);
  if (s[OPTIM_SLOT_T] != (uint32_t)t)
    return vkl_set_error(o->ctx, VKL_ERR_INVALID_ARGUMENT,
                         "optimizer: step %llu is no longer in the ring (slot holds step %u)",
                         (unsigned long long)t, s[OPTIM_SLOT_T]);
  info->t = t;
  info->lr = get_float(&s[OPTIM_SLOT_LR]);
  info->phi = get_float(&s[OPTIM_SLOT_PHI]);
  info->nonfinite_norm = (s[OPTIM_SLOT_FLAGS] & OPTIM_NONFINITE_NORM) != 0;
  info->nonfinite_update = (s[OPTIM_SLOT_FLAGS] & OPTIM_NONFINITE_UPDATE) != 0;
  info->nonfinite_buffers = (s[OPTIM_SLOT_FLAGS] & OPTIM_NONFINITE_BUFFERS) != 0;
  for (uint32_t i = 0; stats && i < o->tensor_count; i++) {
    const uint32_t *x = s + OPTIM_SLOT_HEADER + OPTIM_STAT_FLOATS * i;
    stats[i] = (vkl_optim_stats){get_float(&x[0]), get_float(&x[1]), get_float(&x[2]),
                                 get_float(&x[3]), get_float(&x[4])};
  }
  return VKL_OK;
}
