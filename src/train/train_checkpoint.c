/* The trainer's weights, checkpoints and resume (see trainer_internal.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/checkpoint.h"
#include "train/trainer_internal.h"

/* The metadata of a checkpoint at the current step; NULL without memory. */
static vkl_checkpoint_meta *checkpoint_meta(const trainer *tr, uint32_t epoch,
                                            uint64_t epoch_step) {
  vkl_checkpoint_meta *meta = calloc(1, sizeof *meta);
  if (!meta) return NULL;
  snprintf(meta->model, sizeof meta->model, "%s", tr->model->name);
  meta->in_c = tr->model->in_c;
  meta->in_h = tr->model->in_h;
  meta->in_w = tr->model->in_w;
  meta->classes = tr->model->classes;
  meta->width = tr->cfg->model_width;
  meta->imagenet_stem = tr->cfg->imagenet_stem;
  snprintf(meta->data, sizeof meta->data, "%s", tr->cfg->data ? tr->cfg->data : "fashion-mnist");
  meta->step = tr->t;
  meta->epoch = epoch;
  meta->epoch_step = epoch_step;
  meta->seed = tr->cfg->seed;
  meta->batch = tr->B;
  snprintf(meta->optimizer, sizeof meta->optimizer, "%s", vkl_opt_kind_name(tr->cfg->optim.kind));
  meta->nonfinite = tr->nonfinite_total;
  if (epoch_step) { /* mid-epoch: the epoch's log line continues from these */
    meta->epoch_loss_sum = tr->epoch_loss_sum;
    meta->epoch_top1_sum = tr->epoch_top1_sum;
  }
  const char *argv = tr->cfg->argv_json ? tr->cfg->argv_json : "";
  if (strlen(argv) < sizeof meta->argv) memcpy(meta->argv, argv, strlen(argv) + 1);
  const char *config = tr->run_json ? tr->run_json : "";
  if (strlen(config) < sizeof meta->config) memcpy(meta->config, config, strlen(config) + 1);
  return meta;
}

/* Host copies of the whole training state, in the checkpoint's terms. */
static void host_state_free(vkl_checkpoint_state *h) {
  free(h->params);
  free(h->buffers);
  free(h->moments[0]);
  free(h->moments[1]);
}

static vkl_status host_state_alloc(const trainer *tr, vkl_checkpoint_state *h) {
  uint64_t pf = tr->model->param_floats, bf = tr->model->buffer_floats;
  memset(h, 0, sizeof *h);
  vkl_checkpoint_moment_names(tr->cfg->optim.kind, h->moment_names);
  /* zeroed: the padding between tensors, which no checkpoint holds, goes
   * to the device as zeros on a resume, the same on every rank */
  h->params = calloc(pf, 4);
  h->buffers = calloc(bf ? bf : 1, 4);
  h->moments[0] = calloc(pf, 4);
  h->moments[1] = h->moment_names[1] ? calloc(pf, 4) : NULL;
  if (!h->params || !h->buffers || !h->moments[0] || (h->moment_names[1] && !h->moments[1])) {
    host_state_free(h);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  return VKL_OK;
}

/* The first tensor holding a NaN or inf, or NULL. */
static const char *first_nonfinite(const trainer *tr, const vkl_checkpoint_state *h) {
  const vkl_model *md = tr->model;
  for (uint32_t i = 0; i < md->param_count; i++)
    for (uint64_t j = 0; j < md->params[i].count; j++) {
      uint64_t o = md->params[i].offset + j;
      if (!isfinite(h->params[o]) || !isfinite(h->moments[0][o]) ||
          (h->moments[1] && !isfinite(h->moments[1][o])))
        return md->params[i].name;
    }
  for (uint32_t i = 0; i < md->buffer_count; i++)
    for (uint64_t j = 0; j < md->buffers[i].count; j++)
      if (!isfinite(h->buffers[md->buffers[i].offset + j])) return md->buffers[i].name;
  return NULL;
}

/* The model's weights: --init's checkpoint, or torchvision's initialisation. */
vkl_status trainer_init_weights(trainer *tr) {
  const vkl_model *md = tr->model;
  float *p = calloc(md->param_floats, sizeof *p); /* zeroed: the padding between tensors */
  float *b = calloc(md->buffer_floats ? md->buffer_floats : 1, sizeof *b);
  vkl_status st = VKL_ERR_OUT_OF_HOST_MEMORY;
  if (p && b) {
    vkl_model_init(md, tr->cfg->seed, p, b);
    st = tr->cfg->init_checkpoint && !tr->cfg->resume
             ? vkl_checkpoint_load(tr->cfg->init_checkpoint, md, p, b, tr->err, tr->errlen)
             : VKL_OK;
    if (!st && (st = vkl_net_upload_state(tr->net, p, b))) vk_fail(tr, st);
  }
  free(p);
  free(b);
  return st;
}

/* N > 1: every rank must hold the same state, bit for bit (the same
 * summed gradient, the same update): a rank that differs is a bug, and
 * the run stops rather than save one rank's state as the run's. */
static vkl_status check_ranks_agree(trainer *tr, const vkl_checkpoint_state *h) {
  if (tr->ranks < 2) return VKL_OK;
  uint64_t pf = tr->model->param_floats * 4, bf = tr->model->buffer_floats * 4;
  uint64_t moments = trainer_fnv1a(TRAINER_FNV_BASIS, h->moments[0], pf);
  if (h->moments[1]) moments = trainer_fnv1a(moments, h->moments[1], pf);
  const uint64_t parts[3] = {trainer_fnv1a(TRAINER_FNV_BASIS, h->params, pf),
                             trainer_fnv1a(TRAINER_FNV_BASIS, h->buffers, bf), moments};
  static const char *const names[3] = {"weights", "batch-norm running statistics",
                                       "optimizer state"};
  for (int i = 0; i < 3; i++) {
    uint32_t differs;
    vkl_status st = vkl_dist_agree_u64(tr->cfg->dist, parts[i], &differs);
    if (st) {
      snprintf(tr->err, tr->errlen, "%s", vkl_dist_errmsg(tr->cfg->dist));
      return st;
    }
    if (differs != UINT32_MAX) {
      snprintf(tr->err, tr->errlen,
               "step %llu: rank %u's %s differ from rank 0's; no checkpoint was written",
               (unsigned long long)tr->t, differs, names[i]);
      return VKL_ERR_FORMAT;
    }
  }
  return VKL_OK;
}

/* Writes out_dir/ckpt-step<t>.safetensors with the whole state at step t
 * and points out_dir/checkpoint.safetensors at it. The device must hold
 * exactly step t's state: every step submitted and no micro-step of the
 * next one (callers drain first). A state with a NaN or inf is refused, so
 * the last good checkpoint is never replaced by a broken one. Across
 * ranks, every rank calls it at the same steps: all compare their states,
 * and rank 0 alone writes. */
vkl_status trainer_save_checkpoint(trainer *tr, uint32_t epoch, uint64_t epoch_step) {
  const vkl_train_config *c = tr->cfg;
  if (!c->out_dir || (tr->last_ckpt[0] && tr->last_ckpt_step == tr->t &&
                      tr->last_ckpt_eval_pending == tr->eval_pending))
    return VKL_OK;
  if (epoch_step == tr->steps_per_epoch && !tr->eval_pending) { /* the next epoch starts at 0 */
    epoch++;
    epoch_step = 0;
  }
  vkl_checkpoint_state h;
  vkl_status st = host_state_alloc(tr, &h);
  if (st) return st;
  const vkl_model *md = tr->model;
  if ((st = vkl_net_download_state(tr->net, h.params, h.buffers)) ||
      (st = vkl_download(tr->ctx, h.moments[0], vkl_optimizer_moment(tr->opt, 0),
                         md->param_floats * 4)) ||
      (h.moments[1] && (st = vkl_download(tr->ctx, h.moments[1], vkl_optimizer_moment(tr->opt, 1),
                                          md->param_floats * 4)))) {
    vk_fail(tr, st);
    host_state_free(&h);
    return st;
  }
  char path[1100];
  vkl_checkpoint_path(c->out_dir, tr->t, path, sizeof path);
  if ((st = check_ranks_agree(tr, &h)) || !tr->writer) {
    if (!st) { /* rank 0 writes it */
      snprintf(tr->last_ckpt, sizeof tr->last_ckpt, "%s", path);
      tr->last_ckpt_step = tr->t;
      tr->last_ckpt_eval_pending = tr->eval_pending;
    }
    host_state_free(&h);
    return st;
  }
  const char *bad = first_nonfinite(tr, &h);
  vkl_checkpoint_meta *meta = bad ? NULL : checkpoint_meta(tr, epoch, epoch_step);
  if (meta) {
    snprintf(meta->run_id, sizeof meta->run_id, "%s", tr->run_id);
    meta->eval_pending = tr->eval_pending;
  }
  if (bad) {
    snprintf(tr->err, tr->errlen,
             "step %llu: %s holds NaN or inf, so no checkpoint was written (the last good one: "
             "%s)",
             (unsigned long long)tr->t, bad, tr->last_ckpt[0] ? tr->last_ckpt : "none");
    st = VKL_ERR_FORMAT;
  } else if (!meta) {
    st = VKL_ERR_OUT_OF_HOST_MEMORY;
  } else if (!(st = vkl_checkpoint_save_state(path, md, meta, &h, tr->err, tr->errlen))) {
    snprintf(tr->last_ckpt, sizeof tr->last_ckpt, "%s", path);
    tr->last_ckpt_step = tr->t;
    tr->last_ckpt_eval_pending = tr->eval_pending;
    st = vkl_checkpoint_publish(c->out_dir, tr->t, c->keep, tr->run_id, tr->err, tr->errlen);
  }
  tr->ckpt_failed = st == VKL_ERR_IO;
  free(meta);
  host_state_free(&h);
  return st;
}

/* Continues from cfg->resume: weights, batch-norm statistics, optimizer
 * state and step, the position in the epoch and the epoch's running sums. */
vkl_status trainer_resume_state(trainer *tr) {
  const vkl_train_config *c = tr->cfg;
  vkl_checkpoint_meta *meta = calloc(1, sizeof *meta);
  vkl_checkpoint_state h;
  vkl_status st = meta ? host_state_alloc(tr, &h) : VKL_ERR_OUT_OF_HOST_MEMORY;
  if (st) {
    free(meta);
    return st;
  }
  const char *opt = vkl_opt_kind_name(c->optim.kind);
  if ((st = vkl_checkpoint_read_meta(c->resume, meta, tr->err, tr->errlen))) goto done;
  st = VKL_ERR_INVALID_ARGUMENT;
  if (strcmp(meta->model, tr->model->name) != 0) {
    snprintf(tr->err, tr->errlen, "%s holds a %s, not a %s", c->resume, meta->model,
             tr->model->name);
  } else if (strcmp(meta->optimizer, opt) != 0) {
    snprintf(tr->err, tr->errlen, "%s holds %s optimizer state; this run uses %s", c->resume,
             meta->optimizer[0] ? meta->optimizer : "no", opt);
  } else if (meta->batch && meta->batch != tr->B) {
    snprintf(tr->err, tr->errlen,
             "%s was trained with --batch %u; resuming with %u would not continue that run",
             c->resume, meta->batch, tr->B);
  } else if (meta->epoch_step > tr->steps_per_epoch ||
             (meta->epoch_step == tr->steps_per_epoch && !meta->eval_pending) ||
             meta->epoch > c->epochs ||
             meta->step != (uint64_t)meta->epoch * tr->steps_per_epoch + meta->epoch_step) {
    snprintf(tr->err, tr->errlen,
             "%s is at step %llu (epoch %u, step %llu in it), which does not fit %llu steps per "
             "epoch: resume with the run's --batch and data",
             c->resume, (unsigned long long)meta->step, meta->epoch,
             (unsigned long long)meta->epoch_step, (unsigned long long)tr->steps_per_epoch);
  } else {
    st = vkl_checkpoint_load_state(c->resume, tr->model, &h, tr->err, tr->errlen);
  }
  if (st) goto done;
  uint64_t bytes = tr->model->param_floats * 4;
  if ((st = vkl_net_upload_state(tr->net, h.params, h.buffers)) ||
      (st = vkl_upload(tr->ctx, vkl_optimizer_moment(tr->opt, 0), h.moments[0], bytes)) ||
      (h.moments[1] &&
       (st = vkl_upload(tr->ctx, vkl_optimizer_moment(tr->opt, 1), h.moments[1], bytes))) ||
      (st = vkl_optimizer_set_step(tr->opt, meta->step))) {
    vk_fail(tr, st);
    goto done;
  }
  tr->t = meta->step;
  tr->start_epoch = meta->epoch;
  tr->start_epoch_step = meta->epoch_step;
  tr->nonfinite_total = meta->nonfinite;
  tr->epoch_loss_sum = meta->epoch_loss_sum;
  tr->epoch_top1_sum = meta->epoch_top1_sum;
  tr->epoch_steps = meta->epoch_step;
  tr->eval_pending = tr->last_ckpt_eval_pending = meta->eval_pending;
  snprintf(tr->run_id, sizeof tr->run_id, "%s", meta->run_id);
  snprintf(tr->last_ckpt, sizeof tr->last_ckpt, "%s", c->resume);
  tr->last_ckpt_step = tr->t;
done:
  free(meta);
  host_state_free(&h);
  return st;
}
