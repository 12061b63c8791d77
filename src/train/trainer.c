/* The training loop (see trainer.h). */
#include "train/trainer.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/loader.h"
#include "nn/classify.h"
#include "nn/net.h"
#include "optim/optim_step.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "train/rundir_lock.h"
#include "train/runlog.h"
#include "train/batch_ring.h"

#define SLOTS VKL_BATCH_RING_SLOTS

typedef struct trainer {
  vkl_ctx *ctx;
  const vkl_train_config *cfg;
  char *err;
  size_t errlen;
  vkl_dataset *train_ds, *test_ds;
  vkl_model *model;
  vkl_net *net;
  vkl_xent_loss *loss;
  vkl_optimizer *opt;
  vkl_loader *train_ld;
  vkl_batch_ring *ring; /* loader -> net input, shared by training and evaluation */
  vkl_evaluator *evaluator;
  vkl_arena *readback, *rollback;
  vkl_buf rb_loss[VKL_OPTIM_RING], rb_correct[VKL_OPTIM_RING];
  vkl_buf bn_saved; /* the running statistics at the start of the global batch */
  vkl_cmd *micro[2], *step_cmd[VKL_OPTIM_RING];
  uint64_t step_ticket[VKL_OPTIM_RING];
  vkl_runlog *log;
  const char **layer_names;
  vkl_optim_stats *stats;
  vkl_sched_config sched;
  uint32_t k, m, B;
  uint64_t steps_per_epoch, total_steps, t;
  uint64_t nonfinite_total;
  double epoch_loss_sum, epoch_top1_sum;
  uint64_t epoch_steps;
  double last_loss;
  int pending;           /* step t - 1 was submitted and its results are not read yet */
  int stopped_nonfinite; /* --on-nonfinite stop ended the run (finish_step's message) */
  uint32_t eval_epoch;   /* the epoch being evaluated, for its progress */
  /* The evaluation of the position's epoch is still to run: interrupted
   * (the checkpoint says so), or resumed from such a checkpoint. */
  int eval_pending;
  int last_ckpt_eval_pending; /* the newest checkpoint was saved with eval_pending */
  char *run_json;             /* the configuration, for run.json and the checkpoints */
  uint32_t start_epoch;       /* where this invocation starts (a resumed run: mid-way) */
  uint64_t start_epoch_step;
  char last_ckpt[1100]; /* the newest checkpoint (written or resumed from); "" none */
  uint64_t last_ckpt_step;
  uint64_t skipped_noted[2]; /* skipped images (train, test) told through on_note */
  uint64_t skipped_in_json;  /* the skipped images run_json recorded */
  vkl_rundir_lock *lock;     /* out_dir's, from before anything there is read or changed */
  char run_id[24];           /* the run's identity in its checkpoints (pruning keeps to it) */
  /* A log write failed (log_err says which file and why): the run stops at
   * the end of the step, as a stop request does, saving a checkpoint. */
  int log_failed;
  char log_err[700];
  int ckpt_failed; /* a checkpoint write failed */
} trainer;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Takes the context's message for a failed runtime call. */
static vkl_status vk_fail(trainer *tr, vkl_status st) {
  snprintf(tr->err, tr->errlen, "%s", vkl_ctx_errmsg(tr->ctx));
  return st;
}

/* ---- setup ------------------------------------------------------------------- */

/* Tells on_note of each image skipped (--skip-bad-images) since the last
 * call, in each split; returns how many were skipped in all. */
static uint64_t note_skipped_images(trainer *tr) {
  const vkl_dataset *sets[2] = {tr->train_ds, tr->test_ds};
  uint64_t total = tr->skipped_noted[0] + tr->skipped_noted[1];
  for (int i = 0; i < 2; i++) {
    uint64_t n = vkl_dataset_skipped(sets[i]);
    for (; tr->skipped_noted[i] < n; tr->skipped_noted[i]++) {
      if (!tr->cfg->on_note) continue;
      char msg[1200];
      snprintf(msg, sizeof msg, "skipped bad image %s (%llu so far)",
               vkl_dataset_skipped_image(sets[i], tr->skipped_noted[i]),
               (unsigned long long)++total);
      tr->cfg->on_note(tr->cfg->user, msg);
    }
  }
  return vkl_dataset_skipped(sets[0]) + vkl_dataset_skipped(sets[1]);
}

static vkl_status open_data(trainer *tr) {
  const vkl_train_config *c = tr->cfg;
  const char *name = c->data ? c->data : "fashion-mnist";
  vkl_data_options opt = {0};
  if (c->data_options) opt = *c->data_options;
  if (c->data_dir) opt.dir = c->data_dir;
  if (c->skip_bad_images) opt.skip_bad_images = 1;
  opt.seed = c->seed;
  vkl_status st = vkl_dataset_open(name, VKL_SPLIT_TRAIN, &opt, &tr->train_ds, tr->err, tr->errlen);
  if (st) return st;
  /* the staging slots and the model are sized from the train split */
  vkl_dataset_like like = vkl_dataset_like_of(tr->train_ds, "the train split's");
  st = vkl_dataset_open_like(name, VKL_SPLIT_TEST, &opt, &like, &tr->test_ds, tr->err, tr->errlen);
  if (!st) note_skipped_images(tr);
  return st;
}

static vkl_status build_model(trainer *tr) {
  const vkl_dataset_info *d = vkl_dataset_get_info(tr->train_ds);
  vkl_model_config mc = {.in_c = d->channels,
                         .in_h = d->height,
                         .in_w = d->width,
                         .classes = d->classes,
                         .imagenet_stem = tr->cfg->imagenet_stem,
                         .width = tr->cfg->model_width};
  return vkl_model_build(tr->cfg->model ? tr->cfg->model : "cnn", &mc, &tr->model, tr->err,
                         tr->errlen);
}

static vkl_status make_loader(trainer *tr) {
  const vkl_train_config *c = tr->cfg;
  const vkl_dataset_info *d = vkl_dataset_get_info(tr->train_ds); /* the staging slots' shape */
  const char *name = d->name;
  vkl_loader_config lc = {
      .dataset = tr->train_ds,
      .batch = tr->m,
      .channels = d->channels,
      .height = d->height,
      .width = d->width,
      .classes = d->classes,
      .threads = c->loader_threads,
      .slots = SLOTS,
      .seed = c->seed,
      .no_shuffle = c->no_shuffle,
      .drop_last = 1,
      .augment = c->no_augment ? vkl_augment_eval(name) : vkl_augment_paper(name)};
  if (c->no_crop) lc.augment.crop_pad = 0;
  if (c->no_flip) lc.augment.flip = 0;
  if (c->no_rotate) lc.augment.rotate_deg = 0;
  return vkl_loader_create(&lc, &tr->train_ld, tr->err, tr->errlen);
}

static vkl_status make_optimizer(trainer *tr) {
  const vkl_model *md = tr->model;
  vkl_param_desc *p = calloc(md->param_count, sizeof *p);
  if (!p) return VKL_ERR_OUT_OF_HOST_MEMORY;
  for (uint32_t i = 0; i < md->param_count; i++)
    p[i] = (vkl_param_desc){md->params[i].offset, md->params[i].count, md->params[i].ndim};
  vkl_status st =
      vkl_optimizer_create(tr->ctx, &tr->cfg->optim, p, md->param_count,
                           vkl_buf_sub(vkl_net_params(tr->net), 0, md->param_floats * 4),
                           vkl_buf_sub(vkl_net_grads(tr->net), 0, md->param_floats * 4), &tr->opt);
  free(p);
  return st ? vk_fail(tr, st) : VKL_OK;
}

/* The batch ring from the loader into the net, and the metrics ring. */
static vkl_status make_rings(trainer *tr) {
  const vkl_dataset_info *d = vkl_dataset_get_info(tr->train_ds);
  uint64_t chw = (uint64_t)d->channels * d->height * d->width;
  vkl_status st;
  if ((st = vkl_batch_ring_create(tr->ctx, vkl_net_input(tr->net), vkl_xent_loss_labels(tr->loss),
                                  tr->m, chw, &tr->ring)) ||
      (st = vkl_arena_create(tr->ctx, VKL_MEM_READBACK, VKL_OPTIM_RING * 512ull, "metrics ring",
                             &tr->readback)))
    return vk_fail(tr, st);
  for (int r = 0; r < VKL_OPTIM_RING; r++)
    if ((st = vkl_arena_alloc(tr->readback, 4, &tr->rb_loss[r])) ||
        (st = vkl_arena_alloc(tr->readback, 8, &tr->rb_correct[r])))
      return vk_fail(tr, st);
  return VKL_OK;
}

/* Copies the metrics (loss sum, top-1/top-5 counts) into readback slot r. */
static void record_metrics_copy(trainer *tr, vkl_cmd *cmd, int r) {
  vkl_cmd_barrier(cmd); /* the loss written by the last micro-step (RAW) */
  vkl_cmd_copy(cmd, tr->rb_loss[r], vkl_xent_loss_sum(tr->loss), 4);
  vkl_cmd_copy(cmd, tr->rb_correct[r], vkl_xent_loss_correct(tr->loss), 8);
}

static vkl_buf bn_live(const trainer *tr) {
  return vkl_buf_sub(vkl_net_buffers(tr->net), 0, tr->model->buffer_floats * 4);
}

/* Batch norm's running statistics: a step the optimizer skips (a norm, or
 * the statistics themselves, went non-finite) must not keep what its
 * forward passes did to them, so the first micro-step of each global batch
 * saves them and the optimizer's guard restores them when it skips. */
static vkl_status make_rollback(trainer *tr) {
  uint64_t bytes = tr->model->buffer_floats * 4;
  if (!bytes) return VKL_OK;
  vkl_status st;
  if ((st = vkl_arena_create(tr->ctx, VKL_MEM_DEVICE, bytes + 256, "batch-norm rollback",
                             &tr->rollback)) ||
      (st = vkl_arena_alloc(tr->rollback, bytes, &tr->bn_saved)) ||
      (st = vkl_optimizer_guard(tr->opt, bn_live(tr), tr->bn_saved)))
    return vk_fail(tr, st);
  return VKL_OK;
}

static vkl_status record_micro(trainer *tr, int first) {
  vkl_cmd *c = tr->micro[first ? 0 : 1];
  vkl_status st = vkl_cmd_begin(c);
  if (st) return st;
  if (first && tr->rollback) {
    vkl_cmd_barrier(c); /* the last step's rollback and the evaluation wrote or read them */
    vkl_cmd_copy(c, tr->bn_saved, bn_live(tr), tr->bn_saved.size);
    vkl_cmd_barrier(c); /* saved before the forward pass updates them (WAR) */
  }
  if ((st = vkl_classify_record_train(c, tr->net, tr->loss, first, 1.0f / (float)tr->B))) return st;
  return vkl_cmd_end(c);
}

static vkl_status record_step(trainer *tr, int r) {
  vkl_cmd *c = tr->step_cmd[r];
  vkl_status st = vkl_cmd_begin(c);
  if (st) return st;
  record_metrics_copy(tr, c, r);
  if ((st = vkl_optimizer_record(tr->opt, c))) return st;
  return vkl_cmd_end(c);
}

static vkl_status record_all(trainer *tr) {
  vkl_status st = make_rollback(tr);
  for (int f = 0; f < 2 && !st; f++)
    if (!(st = vkl_cmd_create(tr->ctx, &tr->micro[f]))) st = record_micro(tr, f == 0);
  for (int r = 0; r < VKL_OPTIM_RING && !st; r++)
    if (!(st = vkl_cmd_create(tr->ctx, &tr->step_cmd[r]))) st = record_step(tr, r);
  return st ? vk_fail(tr, st) : VKL_OK;
}

static void on_eval_progress(void *user, uint64_t done, uint64_t total) {
  trainer *tr = user;
  tr->cfg->on_eval_progress(tr->cfg->user, tr->eval_epoch, done, total);
}

/* The per-epoch evaluation of the test split, through the training net. */
static vkl_status make_evaluator(trainer *tr) {
  vkl_evaluator_config ec = {.net = tr->net,
                             .loss = tr->loss,
                             .ring = tr->ring,
                             .dataset = tr->test_ds,
                             .micro_batch = tr->m,
                             .loader_threads = tr->cfg->loader_threads,
                             .stop = tr->cfg->stop,
                             .on_progress = tr->cfg->on_eval_progress ? on_eval_progress : NULL,
                             .user = tr};
  return vkl_evaluator_create(tr->ctx, &ec, &tr->evaluator, tr->err, tr->errlen);
}

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
  h->params = malloc(pf * 4);
  h->buffers = malloc((bf ? bf : 1) * 4);
  h->moments[0] = malloc(pf * 4);
  h->moments[1] = h->moment_names[1] ? malloc(pf * 4) : NULL;
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
static vkl_status init_weights(trainer *tr) {
  const vkl_model *md = tr->model;
  float *p = malloc(md->param_floats * sizeof *p);
  float *b = malloc((md->buffer_floats ? md->buffer_floats : 1) * sizeof *b);
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

/* Writes out_dir/ckpt-step<t>.safetensors with the whole state at step t
 * and points out_dir/checkpoint.safetensors at it. The device must hold
 * exactly step t's state: every step submitted and no micro-step of the
 * next one (callers drain first). A state with a NaN or inf is refused, so
 * the last good checkpoint is never replaced by a broken one. */
static vkl_status save_checkpoint(trainer *tr, uint32_t epoch, uint64_t epoch_step) {
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
  const char *bad = first_nonfinite(tr, &h);
  vkl_checkpoint_meta *meta = bad ? NULL : checkpoint_meta(tr, epoch, epoch_step);
  if (meta) {
    snprintf(meta->run_id, sizeof meta->run_id, "%s", tr->run_id);
    meta->eval_pending = tr->eval_pending;
  }
  char path[1100];
  vkl_checkpoint_path(c->out_dir, tr->t, path, sizeof path);
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
static vkl_status resume_state(trainer *tr) {
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

static char *run_json(trainer *tr) {
  const vkl_train_config *c = tr->cfg;
  const vkl_device_info *dev = vkl_ctx_device(tr->ctx);
  const vkl_dataset_info *d = vkl_dataset_get_info(tr->train_ds);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "vklars_version", vkl_version());
  if (c->cli_args) cJSON_AddStringToObject(o, "command", c->cli_args);
  cJSON *dv = cJSON_AddObjectToObject(o, "device");
  cJSON_AddStringToObject(dv, "name", dev->name);
  cJSON_AddStringToObject(dv, "driver", dev->driver_name);
  cJSON_AddStringToObject(dv, "driver_info", dev->driver_info);
  cJSON_AddStringToObject(dv, "driver_version", dev->driver_version);
  cJSON *ds = cJSON_AddObjectToObject(o, "data");
  cJSON_AddStringToObject(ds, "name", d->name);
  cJSON_AddStringToObject(ds, "source", d->source ? d->source : "");
  cJSON_AddNumberToObject(ds, "train_images", (double)d->count);
  cJSON_AddNumberToObject(ds, "test_images", (double)vkl_dataset_get_info(tr->test_ds)->count);
  cJSON_AddItemToObject(
      ds, "shape",
      cJSON_CreateIntArray((const int[]){(int)d->channels, (int)d->height, (int)d->width}, 3));
  cJSON_AddNumberToObject(ds, "classes", d->classes);
  tr->skipped_in_json = vkl_dataset_skipped(tr->train_ds) + vkl_dataset_skipped(tr->test_ds);
  cJSON_AddNumberToObject(ds, "skipped_images", (double)tr->skipped_in_json);
  cJSON *skipped = cJSON_AddArrayToObject(ds, "skipped"); /* "FILE: why" each */
  const vkl_dataset *sets[2] = {tr->train_ds, tr->test_ds};
  for (int i = 0; i < 2; i++)
    for (uint64_t k = 0; k < vkl_dataset_skipped(sets[i]); k++)
      cJSON_AddItemToArray(skipped, cJSON_CreateString(vkl_dataset_skipped_image(sets[i], k)));
  cJSON_AddBoolToObject(ds, "augment", !c->no_augment);
  cJSON_AddBoolToObject(ds, "shuffle", !c->no_shuffle);
  cJSON *md = cJSON_AddObjectToObject(o, "model");
  cJSON_AddStringToObject(md, "name", tr->model->name);
  uint64_t params = 0;
  for (uint32_t i = 0; i < tr->model->param_count; i++) params += tr->model->params[i].count;
  cJSON_AddNumberToObject(md, "parameters", (double)params);
  cJSON_AddNumberToObject(md, "tensors", tr->model->param_count);
  const vkl_optim_config *op = &c->optim;
  cJSON *oj = cJSON_AddObjectToObject(o, "optimizer");
  cJSON_AddStringToObject(oj, "name", vkl_opt_kind_name(op->kind));
  cJSON_AddNumberToObject(oj, "lr", op->lr);
  cJSON_AddNumberToObject(oj, "momentum", op->momentum);
  cJSON_AddBoolToObject(oj, "nesterov", op->nesterov);
  cJSON_AddNumberToObject(oj, "weight_decay", op->weight_decay);
  cJSON_AddBoolToObject(oj, "exclude_1d", op->exclude_1d);
  cJSON_AddNumberToObject(oj, "eta", op->eta);
  cJSON_AddStringToObject(
      oj, "lars_denominator",
      op->denominator == VKL_LARS_DENOM_SUM_OF_NORMS ? "sum-of-norms" : "norm-of-sum");
  cJSON_AddBoolToObject(oj, "larc", op->larc_clip);
  cJSON_AddNumberToObject(oj, "alpha", op->tv_alpha);
  cJSON_AddNumberToObject(oj, "lambda", op->tv_lambda);
  cJSON_AddNumberToObject(oj, "delay_steps",
                          op->tv_delay_epochs > 0
                              ? op->tv_delay_epochs * (double)tr->steps_per_epoch
                              : op->tv_delay_steps);
  cJSON_AddNumberToObject(oj, "gamma_min", op->tv_gamma_min);
  cJSON_AddNumberToObject(oj, "norm_clamp", op->norm_clamp);
  cJSON_AddNumberToObject(oj, "beta1", op->beta1);
  cJSON_AddNumberToObject(oj, "beta2", op->beta2);
  cJSON_AddNumberToObject(oj, "eps", op->eps);
  cJSON_AddBoolToObject(oj, "bias_correction", op->bias_correction);
  cJSON_AddNumberToObject(oj, "trust_clip", op->trust_clip);
  cJSON *sj = cJSON_AddObjectToObject(o, "schedule");
  cJSON_AddStringToObject(sj, "name", vkl_sched_kind_name(tr->sched.kind));
  cJSON_AddNumberToObject(sj, "warmup_epochs", tr->sched.warmup_epochs);
  cJSON *rj = cJSON_AddObjectToObject(o, "run");
  cJSON_AddNumberToObject(rj, "batch", tr->B);
  cJSON_AddNumberToObject(rj, "micro_batch", tr->m);
  cJSON_AddNumberToObject(rj, "micro_steps", tr->k);
  cJSON_AddNumberToObject(rj, "epochs", c->epochs);
  cJSON_AddNumberToObject(rj, "steps_per_epoch", (double)tr->steps_per_epoch);
  cJSON_AddNumberToObject(rj, "total_steps", (double)tr->total_steps);
  cJSON_AddNumberToObject(rj, "seed", (double)c->seed);
  cJSON_AddNumberToObject(rj, "label_smoothing", c->label_smoothing);
  cJSON_AddStringToObject(rj, "on_nonfinite", c->skip_nonfinite ? "skip" : "stop");
  cJSON_AddStringToObject(rj, "batch_norm",
                          vkl_model_has_batchnorm(tr->model)
                              ? "per micro-batch statistics (as the authors' per-GPU batch norm)"
                              : "none (the model has no batch norm)");
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  return text;
}

/* Notes newly skipped images and, when their number changed, records
 * them: in the configuration checkpoints store, and in run.json's
 * data.skipped (a resumed run adds its own to the run's list). */
static vkl_status record_skipped_images(trainer *tr) {
  uint64_t n = note_skipped_images(tr);
  if (n == tr->skipped_in_json) return VKL_OK;
  char *text = run_json(tr);
  const char **files = calloc(n, sizeof *files);
  if (!text || !files) {
    cJSON_free(text);
    free(files);
    snprintf(tr->err, tr->errlen, "out of host memory recording the skipped images");
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  cJSON_free(tr->run_json);
  tr->run_json = text;
  const vkl_dataset *sets[2] = {tr->train_ds, tr->test_ds};
  size_t k = 0;
  for (int i = 0; i < 2; i++)
    for (uint64_t j = 0; j < vkl_dataset_skipped(sets[i]) && k < n; j++)
      files[k++] = vkl_dataset_skipped_image(sets[i], j);
  vkl_status st =
      tr->log ? vkl_runlog_record_skipped(tr->log, files, k, tr->err, tr->errlen) : VKL_OK;
  free(files);
  return st;
}

/* Whether a training net for micro-batch m fits the device. */
static int net_fits(const trainer *tr, uint32_t m) {
  vkl_net_config nc = {.micro_batch = m};
  return vkl_net_fits(vkl_ctx_device(tr->ctx), tr->model, &nc);
}

/* The largest divisor of B below `below` (or B itself) whose net fits, and
 * the model trains at (1 without batch norm, else 2); 0 if none. */
static uint32_t largest_fitting_divisor(const trainer *tr, uint32_t below) {
  uint32_t least = vkl_model_min_micro_batch(tr->model, NULL, 0);
  for (uint32_t m = below - 1; m >= least; m--)
    if (tr->B % m == 0 && net_fits(tr, m)) return m;
  return 0;
}

/* Out of device memory names the micro-batch that would fit: the largest
 * divisor of B below m whose net fits the budget --micro-batch auto uses. */
static vkl_status out_of_memory_hint(trainer *tr, vkl_status st) {
  vk_fail(tr, st);
  if (st != VKL_ERR_OUT_OF_DEVICE_MEMORY) return st;
  uint32_t m = tr->m, fit = largest_fitting_divisor(tr, m);
  size_t len = strlen(tr->err);
  uint64_t need, largest, fit_bytes = 0;
  vkl_net_estimate(tr->model, m, &need, &largest);
  if (fit) vkl_net_estimate(tr->model, fit, &fit_bytes, &largest);
  if (fit)
    snprintf(tr->err + len, tr->errlen - len,
             "; micro-batch %u needs about %.1f MiB in all: --micro-batch %u (about %.1f MiB) fits",
             m, (double)need / (1 << 20), fit, (double)fit_bytes / (1 << 20));
  else
    snprintf(tr->err + len, tr->errlen - len,
             "; micro-batch %u needs about %.1f MiB in all and no smaller divisor of %u fits", m,
             (double)need / (1 << 20), tr->B);
  return st;
}

/* Locks out_dir for this run, before anything there is read (a resumed
 * or --init checkpoint) or changed. A directory that does not exist yet is
 * created and locked only when the logs open (create), so a run that fails
 * to start leaves none behind. */
static vkl_status lock_run_dir(trainer *tr, int create) {
  const vkl_train_config *c = tr->cfg;
  if (!c->out_dir || tr->lock) return VKL_OK;
  return vkl_rundir_lock_take(c->out_dir, create, &tr->lock, tr->err, tr->errlen);
}

static vkl_status setup(trainer *tr) {
  const vkl_train_config *c = tr->cfg;
  tr->B = c->batch;
  tr->m = c->micro_batch;
  if (!tr->B) {
    snprintf(tr->err, tr->errlen, "batch 0: a batch holds at least 1 sample");
    return VKL_ERR_INVALID_ARGUMENT;
  }
  if (tr->m && tr->B % tr->m) {
    snprintf(tr->err, tr->errlen, "micro-batch %u must divide the batch %u", tr->m, tr->B);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  vkl_status st;
  if ((st = lock_run_dir(tr, 0))) return st;
  if ((st = open_data(tr)) || (st = build_model(tr))) return st;
  /* before any search over divisors of B, which is then bounded by the data */
  uint64_t images = vkl_dataset_get_info(tr->train_ds)->count;
  if (tr->B > images) {
    snprintf(tr->err, tr->errlen, "batch %u is larger than the %llu training images", tr->B,
             (unsigned long long)images);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  char why[256];
  if (tr->m && tr->m < vkl_model_min_micro_batch(tr->model, why, sizeof why)) {
    snprintf(tr->err, tr->errlen, "micro-batch %u: %s", tr->m, why);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  if (!tr->m) {
    tr->m = largest_fitting_divisor(tr, tr->B + 1);
    if (!tr->m) {
      snprintf(tr->err, tr->errlen, "no micro-batch dividing %u fits %s's memory", tr->B,
               vkl_ctx_device(tr->ctx)->name);
      return VKL_ERR_OUT_OF_DEVICE_MEMORY;
    }
    if (c->on_note) {
      char msg[160];
      uint64_t bytes, largest;
      vkl_net_estimate(tr->model, tr->m, &bytes, &largest);
      snprintf(msg, sizeof msg, "--micro-batch auto: %u (%.0f MiB of device memory)", tr->m,
               (double)bytes / (1 << 20));
      c->on_note(c->user, msg);
    }
  }
  tr->k = tr->B / tr->m;
  if ((st = make_loader(tr))) return st;
  uint64_t batches = vkl_loader_batches_per_epoch(tr->train_ld);
  tr->steps_per_epoch = batches / tr->k; /* >= 1: B <= images, whole micro-batches */
  tr->total_steps = tr->steps_per_epoch * c->epochs;
  if (c->max_steps && c->max_steps < tr->total_steps) tr->total_steps = c->max_steps;
  tr->sched = (vkl_sched_config){.kind = c->sched,
                                 .warmup_epochs = c->warmup_epochs,
                                 .floor = c->cosine_floor,
                                 .step_epochs = c->step_epochs,
                                 .step_gamma = c->step_gamma,
                                 .batch = tr->B,
                                 .steps_per_epoch = tr->steps_per_epoch,
                                 .total_steps = tr->steps_per_epoch * c->epochs};
  if (vkl_optim_validate(&c->optim, &tr->sched, tr->err, tr->errlen))
    return VKL_ERR_INVALID_ARGUMENT;
  vkl_net_config nc = {.micro_batch = tr->m};
  vkl_xent_loss_config lc = {
      .micro_batch = tr->m, .classes = tr->model->classes, .label_smoothing = c->label_smoothing};
  if ((st = vkl_net_create(tr->ctx, tr->model, &nc, &tr->net)) ||
      (st = vkl_xent_loss_create(tr->ctx, &lc, &tr->loss)))
    return out_of_memory_hint(tr, st);
  if ((st = make_optimizer(tr)) || (st = make_rings(tr))) return out_of_memory_hint(tr, st);
  if ((st = record_all(tr)) || (st = make_evaluator(tr))) return st;
  if (c->pipelines_only) return VKL_OK; /* every recording is made: every pipeline built */
  if ((st = init_weights(tr)) || (c->resume && (st = resume_state(tr)))) return st;
  tr->layer_names = calloc(tr->model->param_count, sizeof *tr->layer_names);
  tr->stats = calloc(tr->model->param_count, sizeof *tr->stats);
  if (!tr->layer_names || !tr->stats) return VKL_ERR_OUT_OF_HOST_MEMORY;
  for (uint32_t i = 0; i < tr->model->param_count; i++)
    tr->layer_names[i] = tr->model->params[i].name;
  if (!(tr->run_json = run_json(tr))) return VKL_ERR_OUT_OF_HOST_MEMORY;
  if (!c->out_dir) return VKL_OK;
  if ((st = lock_run_dir(tr, 1))) return st;
  if (c->resume)
    return vkl_runlog_reopen(c->out_dir, tr->t, tr->start_epoch, &tr->log, tr->err, tr->errlen);
  vkl_checkpoint_new_run_id(tr->run_id, sizeof tr->run_id);
  if ((st = vkl_runlog_open(c->out_dir, c->force, &tr->log, tr->err, tr->errlen))) return st;
  return vkl_runlog_write_run(tr->log, tr->run_json, tr->err, tr->errlen);
}

static void teardown(trainer *tr) {
  vkl_wait_all(tr->ctx); /* nothing in flight may use what is destroyed below */
  for (int r = 0; r < VKL_OPTIM_RING; r++) vkl_cmd_destroy(tr->step_cmd[r]);
  for (int f = 0; f < 2; f++) vkl_cmd_destroy(tr->micro[f]);
  vkl_evaluator_destroy(tr->evaluator);
  vkl_loader_destroy(tr->train_ld);
  vkl_batch_ring_destroy(tr->ring);
  vkl_optimizer_destroy(tr->opt);
  vkl_xent_loss_destroy(tr->loss);
  vkl_net_destroy(tr->net);
  vkl_arena_destroy(tr->readback);
  vkl_arena_destroy(tr->rollback);
  vkl_model_destroy(tr->model);
  vkl_dataset_destroy(tr->train_ds);
  vkl_dataset_destroy(tr->test_ds);
  char ignored[256]; /* a run that gets here with its logs open failed already */
  vkl_runlog_close(tr->log, ignored, sizeof ignored);
  vkl_rundir_lock_release(tr->lock);
  free(tr->layer_names);
  free(tr->stats);
  cJSON_free(tr->run_json);
}

/* ---- the loop ------------------------------------------------------------------ */

static vkl_status submit(trainer *tr, vkl_cmd *cmd, uint64_t *ticket) {
  vkl_status st = vkl_submit(tr->ctx, cmd, ticket);
  return st ? vk_fail(tr, st) : VKL_OK;
}

static vkl_status wait_ticket(trainer *tr, uint64_t ticket) {
  vkl_status st = ticket ? vkl_wait(tr->ctx, ticket) : VKL_OK;
  return st ? vk_fail(tr, st) : VKL_OK;
}

/* Queues training batch b into its slot (b % SLOTS). */
static vkl_status fill(trainer *tr, uint64_t b) {
  return vkl_batch_ring_fill(tr->ring, tr->train_ld, (uint32_t)(b % SLOTS), b, tr->err, tr->errlen);
}

/* Keeps the first log write that failed: the run stops at the end of the
 * step (stop_requested), and its message names that file. */
static void log_written(trainer *tr, vkl_status st, const char *why) {
  if (!st || tr->log_failed) return;
  tr->log_failed = 1;
  snprintf(tr->log_err, sizeof tr->log_err, "%s", why);
}

/* Reads step t's results (it has completed) and logs them. */
static vkl_status finish_step(trainer *tr, uint64_t t, uint32_t epoch) {
  uint32_t r = (uint32_t)(t % VKL_OPTIM_RING);
  vkl_status st = wait_ticket(tr, tr->step_ticket[r]);
  if (st) return st;
  vkl_optim_step_info info;
  if ((st = vkl_optimizer_read(tr->opt, t, &info, tr->stats))) return vk_fail(tr, st);
  float loss_sum;
  uint32_t correct[2];
  memcpy(&loss_sum, tr->rb_loss[r].host, 4);
  memcpy(correct, tr->rb_correct[r].host, 8);
  double loss = loss_sum / tr->B, top1 = (double)correct[0] / tr->B;
  tr->last_loss = loss;
  tr->epoch_loss_sum += loss;
  tr->epoch_top1_sum += top1;
  tr->epoch_steps++;
  if (tr->log) {
    char why[700];
    log_written(tr,
                vkl_runlog_step(tr->log, t, epoch, loss, info.lr, info.phi, top1, why, sizeof why),
                why);
    log_written(tr,
                vkl_runlog_layers(tr->log, t, tr->layer_names, tr->stats, tr->model->param_count,
                                  why, sizeof why),
                why);
  }
  if (info.nonfinite_norm || info.nonfinite_update || info.nonfinite_buffers || !isfinite(loss)) {
    tr->nonfinite_total++;
    const char *layer = info.nonfinite_buffers ? "batch norm's running statistics" : "?";
    for (uint32_t i = 0; !info.nonfinite_buffers && i < tr->model->param_count; i++)
      if (!isfinite(tr->stats[i].wnorm) || !isfinite(tr->stats[i].dnorm)) {
        layer = tr->layer_names[i];
        break;
      }
    if (info.nonfinite_update && !info.nonfinite_norm && !info.nonfinite_buffers) {
      /* finite norms: the update was applied, and cannot be dropped */
      snprintf(tr->err, tr->errlen,
               "step %llu's update made the weights non-finite (loss %g); an applied update "
               "cannot be dropped, so the run stops. Lower --lr or --wd",
               (unsigned long long)t, loss);
      tr->stopped_nonfinite = 1;
      return VKL_ERR_FORMAT;
    }
    if (!tr->cfg->skip_nonfinite) {
      snprintf(tr->err, tr->errlen,
               "step %llu went non-finite (loss %g; first layer: %s); its update was dropped. "
               "Lower --lr, or pass --on-nonfinite skip",
               (unsigned long long)t, loss, layer);
      tr->stopped_nonfinite = 1;
      return VKL_ERR_FORMAT;
    }
    if (tr->cfg->on_note) {
      char msg[256];
      snprintf(msg, sizeof msg, "step %llu non-finite (first layer %s): update dropped",
               (unsigned long long)t, layer);
      tr->cfg->on_note(tr->cfg->user, msg);
    }
  }
  return VKL_OK;
}

/* Reads the results of the step still unread, if any. */
static vkl_status drain_steps(trainer *tr, uint32_t epoch) {
  if (!tr->pending) return VKL_OK;
  tr->pending = 0;
  return finish_step(tr, tr->t - 1, epoch);
}

/* A stop request, or a log that could not be written: either way the run
 * stops between steps with a checkpoint. */
static int stop_requested(const trainer *tr) {
  return (tr->cfg->stop && *tr->cfg->stop) || tr->log_failed;
}

static void report_progress(trainer *tr, uint32_t epoch, uint32_t micro, double run_start,
                            uint64_t images) {
  if (!tr->cfg->on_progress) return;
  double el = now_s() - run_start;
  uint64_t steps = images / tr->B; /* those timed by el: this epoch's, this invocation's */
  vkl_train_progress p = {epoch,
                          tr->cfg->epochs,
                          tr->t,
                          tr->total_steps,
                          micro,
                          tr->k,
                          tr->last_loss,
                          el > 0 ? (double)images / el : 0,
                          steps ? el * (double)(tr->total_steps - tr->t) / steps : 0};
  tr->cfg->on_progress(tr->cfg->user, &p);
}

/* Trains epoch `epoch` from its step `first` until its end or total_steps;
 * *done: the epoch's steps done when it returns. A stop request or
 * --save-every saves a checkpoint between steps; a stop request then
 * returns with *interrupted set. */
static vkl_status train_epoch(trainer *tr, uint32_t epoch, uint64_t first, double run_start,
                              uint64_t *images, uint64_t *done, int *interrupted) {
  *done = first;
  vkl_status st = vkl_loader_start_epoch(tr->train_ld, epoch);
  if (st) {
    snprintf(tr->err, tr->errlen, "%s", vkl_loader_errmsg(tr->train_ld));
    return st;
  }
  uint64_t steps = tr->steps_per_epoch - first;
  if (tr->total_steps - tr->t < steps) steps = tr->total_steps - tr->t;
  /* batch b of the epoch always goes through slot b % SLOTS */
  uint64_t b0 = first * tr->k, nb = b0 + steps * tr->k;
  for (uint64_t b = b0; b < b0 + SLOTS && b < nb; b++)
    if ((st = fill(tr, b))) return st;
  for (uint64_t b = b0; b < nb; b++) {
    uint32_t s = (uint32_t)(b % SLOTS), j = (uint32_t)(b % tr->k);
    if ((st = vkl_batch_ring_take(tr->ring, tr->train_ld, s, NULL, tr->err, tr->errlen)) ||
        (st = vkl_batch_ring_copy(tr->ring, s, tr->err, tr->errlen)) ||
        (st = submit(tr, tr->micro[j == 0 ? 0 : 1], NULL)))
      return st;
    if (j == tr->k - 1) {
      uint64_t t = tr->t;
      uint32_t r = (uint32_t)(t % VKL_OPTIM_RING);
      /* the ring slot of step t - RING must be read before reuse */
      if ((st = wait_ticket(tr, tr->step_ticket[r]))) return st;
      double lr = vkl_sched_lr(&tr->sched, tr->cfg->optim.lr, t);
      double phi = vkl_optim_phi(&tr->cfg->optim, tr->steps_per_epoch, t);
      vkl_optimizer_prepare(tr->opt, t, lr, phi, 1); /* never apply a non-finite step */
      if ((st = submit(tr, tr->step_cmd[r], &tr->step_ticket[r]))) return st;
      /* step t counts as done before step t - 1 is read, so that a stop at
       * a non-finite t - 1 knows where the device stands */
      int late = tr->pending;
      tr->pending = 1;
      tr->t++;
      *done = b / tr->k + 1;
      *images += tr->B;
      if (late && (st = finish_step(tr, t - 1, epoch))) return st; /* one step late */
      report_progress(tr, epoch, j + 1, run_start, *images);
      /* Between steps (the epoch's last is the caller's): nothing of the
       * next step is queued yet, so the device holds exactly step t's state. */
      int stop = stop_requested(tr);
      if (b + 1 < nb && (stop || (tr->cfg->save_every && tr->t % tr->cfg->save_every == 0))) {
        if ((st = drain_steps(tr, epoch)) || (st = save_checkpoint(tr, epoch, *done))) return st;
        if (stop) {
          *interrupted = 1;
          return VKL_OK;
        }
      }
    }
    if (b + SLOTS < nb && (st = fill(tr, b + SLOTS))) return st; /* once slot s is copied */
  }
  return drain_steps(tr, epoch);
}

/* The test split's loss and accuracy into r. */
static vkl_status evaluate(trainer *tr, vkl_epoch_result *r) {
  vkl_eval_result e;
  tr->eval_epoch = r->epoch;
  vkl_status st = vkl_evaluator_run(tr->evaluator, &e, tr->err, tr->errlen);
  if (st) return st;
  r->test_images = e.images;
  r->test_loss = e.loss;
  r->test_top1 = e.top1;
  r->test_top5 = e.top5;
  if (!isfinite(e.loss) && tr->cfg->on_note) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "epoch %u: the evaluation is non-finite (a %g test loss): some outputs are NaN or inf",
             r->epoch + 1, e.loss);
    tr->cfg->on_note(tr->cfg->user, msg);
  }
  return VKL_OK;
}

/* --on-nonfinite stop: the device never applied the bad step (the update
 * was skipped, batch norm rolled back), so its state is finite: it is
 * saved to go on from (e.g. --resume with a lower --lr). The step in
 * flight completes first; tr->err keeps the step's message and says where
 * the state went. */
static void save_last_finite(trainer *tr, uint32_t epoch, uint64_t done) {
  char why[4096];
  snprintf(why, sizeof why, "%s", tr->err);
  vkl_status st = VKL_OK;
  if (tr->pending) { /* its own non-finiteness is counted, and dropped too */
    tr->pending = 0;
    st = finish_step(tr, tr->t - 1, epoch);
  }
  if ((!st || st == VKL_ERR_FORMAT) && tr->cfg->out_dir) st = save_checkpoint(tr, epoch, done);
  size_t len = strlen(why);
  if (!tr->cfg->out_dir)
    snprintf(why + len, sizeof why - len, " (no run directory to save to)");
  else if (!st || (tr->last_ckpt[0] && tr->last_ckpt_step == tr->t))
    snprintf(why + len, sizeof why - len,
             ". The last finite state is saved in %s (step %llu): vklars train --resume %s "
             "continues from it",
             tr->last_ckpt, (unsigned long long)tr->last_ckpt_step, tr->cfg->out_dir);
  else
    snprintf(why + len, sizeof why - len, ". No checkpoint was written: %s", tr->err);
  snprintf(tr->err, tr->errlen, "%s", why);
}

/* "; the last checkpoint is ... (step N): continue with ..." after the
 * message of a run that could not go on. */
static void append_last_checkpoint(trainer *tr) {
  size_t len = strlen(tr->err);
  if (tr->last_ckpt[0])
    snprintf(tr->err + len, tr->errlen - len,
             "; the last checkpoint is %s (step %llu): continue with vklars train --resume %s",
             tr->last_ckpt, (unsigned long long)tr->last_ckpt_step, tr->cfg->out_dir);
  else
    snprintf(tr->err + len, tr->errlen - len, "; no checkpoint was written yet");
}

/* The message of a run stopped by a log it could not write: the file and
 * why, what went wrong after (the checkpoint saved on stopping, on a full
 * disk), and the checkpoint to go on from. */
static vkl_status stopped_by_log(trainer *tr, vkl_status st) {
  char then[1200];
  snprintf(then, sizeof then, "%s", st ? tr->err : "");
  snprintf(tr->err, tr->errlen, "%s", tr->log_err);
  size_t len = strlen(tr->err);
  if (st)
    snprintf(tr->err + len, tr->errlen - len, "; %s: %s",
             tr->ckpt_failed ? "saving a checkpoint failed too" : "then", then);
  append_last_checkpoint(tr);
  return VKL_ERR_IO;
}

vkl_status vkl_train(vkl_ctx *ctx, const vkl_train_config *cfg, vkl_train_result *result, char *err,
                     size_t errlen) {
  trainer tr;
  memset(&tr, 0, sizeof tr);
  memset(result, 0, sizeof *result);
  tr.ctx = ctx;
  tr.cfg = cfg;
  tr.err = err;
  tr.errlen = errlen;
  err[0] = '\0';
  double start = now_s();
  vkl_status st = setup(&tr);
  if (cfg->pipelines_only) {
    result->micro_batch = tr.m;
    result->steps_per_epoch = tr.steps_per_epoch;
    teardown(&tr);
    return st;
  }
  if (!st && cfg->on_note) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "%s on %s: batch %u = %u micro-batches of %u, %llu steps/epoch, %.1f MiB on device",
             tr.model->name, vkl_dataset_get_info(tr.train_ds)->name, tr.B, tr.k, tr.m,
             (unsigned long long)tr.steps_per_epoch,
             (double)vkl_net_device_bytes(tr.net) / (1 << 20));
    cfg->on_note(cfg->user, msg);
  }
  if (!st && cfg->resume && !tr.eval_pending &&
      (tr.t >= tr.total_steps || tr.start_epoch >= cfg->epochs) && cfg->on_note) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "the run is complete at step %llu; nothing to train (raise --epochs to go on)",
             (unsigned long long)tr.t);
    cfg->on_note(cfg->user, msg);
  }
  int interrupted = 0;
  uint64_t first = tr.start_epoch_step, done = first;
  uint32_t e = tr.start_epoch;
  uint32_t pos_epoch = e; /* where the run stands: epoch, and steps done in it */
  uint64_t pos_step = first;
  for (; !st && !interrupted && e < cfg->epochs && (tr.t < tr.total_steps || tr.eval_pending);
       e++, first = 0) {
    double t0 = now_s();
    uint64_t images = 0;
    if (first == 0) {
      tr.epoch_loss_sum = tr.epoch_top1_sum = 0;
      tr.epoch_steps = 0;
    }
    uint64_t nonfinite0 = tr.nonfinite_total;
    st = train_epoch(&tr, e, first, t0, &images, &done, &interrupted);
    pos_epoch = done == tr.steps_per_epoch ? e + 1 : e;
    pos_step = done == tr.steps_per_epoch ? 0 : done;
    if (st || interrupted) break;
    double train_s = now_s() - t0;
    vkl_epoch_result r = {.epoch = e};
    st = evaluate(&tr, &r);
    if (st == VKL_ERR_INTERRUPTED) { /* trained, not evaluated: the checkpoint says so */
      tr.eval_pending = 1;
      interrupted = 1;
      st = save_checkpoint(&tr, e, done);
      break;
    }
    tr.eval_pending = 0;
    if (st || (st = record_skipped_images(&tr))) break;
    vkl_loader_stats last, current;
    vkl_loader_get_stats(tr.train_ld, &last, &current);
    r.train_loss = tr.epoch_steps ? tr.epoch_loss_sum / tr.epoch_steps : 0;
    r.train_top1 = tr.epoch_steps ? tr.epoch_top1_sum / tr.epoch_steps : 0;
    r.wall_s = now_s() - t0;
    r.images_per_s = train_s > 0 ? images / train_s : 0;
    r.loader_images_per_s =
        current.capacity_per_s > 0 ? current.capacity_per_s : last.capacity_per_s;
    r.nonfinite_steps = tr.nonfinite_total - nonfinite0;
    if (tr.log) {
      char why[700];
      log_written(&tr, vkl_runlog_epoch(tr.log, &r, why, sizeof why), why);
    }
    int end = tr.t >= tr.total_steps || e + 1 == cfg->epochs;
    interrupted = stop_requested(&tr);
    int periodic = cfg->save_every ? tr.t % cfg->save_every == 0 : !cfg->save_at_end;
    if ((end || periodic || interrupted) && (st = save_checkpoint(&tr, e, done))) break;
    if (cfg->on_epoch) cfg->on_epoch(cfg->user, &r);
    result->last = r;
  }
  if (!st) st = record_skipped_images(&tr); /* a stop mid-epoch */
  if (st == VKL_ERR_FORMAT && tr.stopped_nonfinite) save_last_finite(&tr, e, done);
  result->epoch = pos_epoch;
  result->epoch_step = pos_step;
  result->steps_per_epoch = tr.steps_per_epoch;
  snprintf(result->checkpoint, sizeof result->checkpoint, "%s", tr.last_ckpt);
  if (tr.log) { /* closed here: a close that fails is a log write that failed */
    char why[700];
    vkl_status cst = vkl_runlog_close(tr.log, why, sizeof why);
    if (!st && !interrupted) log_written(&tr, cst, why);
    tr.log = NULL;
  }
  if (tr.log_failed) {
    st = stopped_by_log(&tr, st);
  } else if (interrupted && !st && tr.eval_pending) {
    snprintf(err, errlen,
             "interrupted during epoch %u's evaluation, at step %llu of %llu; checkpoint %s (the "
             "evaluation runs again on resuming)",
             e + 1, (unsigned long long)tr.t, (unsigned long long)tr.total_steps,
             tr.last_ckpt[0] ? tr.last_ckpt : "none (no run directory)");
    st = VKL_ERR_INTERRUPTED;
  } else if (interrupted && !st) {
    snprintf(err, errlen,
             "interrupted at step %llu of %llu (epoch %u, step %llu of %llu in it); checkpoint %s",
             (unsigned long long)tr.t, (unsigned long long)tr.total_steps, pos_epoch + 1,
             (unsigned long long)pos_step, (unsigned long long)tr.steps_per_epoch,
             tr.last_ckpt[0] ? tr.last_ckpt : "none (no run directory)");
    st = VKL_ERR_INTERRUPTED;
  }
  if (st == VKL_ERR_DEVICE_LOST || (st && tr.ckpt_failed && !tr.log_failed))
    append_last_checkpoint(&tr);
  result->steps = tr.t;
  result->micro_batch = tr.m;
  result->wall_s = now_s() - start;
  if (st && !err[0]) snprintf(err, errlen, "%s", vkl_status_str(st));
  teardown(&tr);
  return st;
}
