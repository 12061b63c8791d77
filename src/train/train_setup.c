/* Setting a run up and tearing it down (see trainer_internal.h). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "nn/classify.h"
#include "nn/net_fit.h"
#include "train/checkpoint.h"
#include "train/trainer_internal.h"

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
  if (!st) trainer_note_skipped_images(tr);
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
  if (trainer_is_barlow(tr)) {
    if (!tr->cfg->projector_layers) {
      snprintf(tr->err, tr->errlen,
               "Barlow Twins needs a projector (e.g. --projector 512-512-512)");
      return VKL_ERR_INVALID_ARGUMENT;
    }
    memcpy(mc.projector, tr->cfg->projector, sizeof mc.projector);
    mc.projector_layers = tr->cfg->projector_layers;
    mc.projector_no_bn = tr->cfg->projector_no_bn;
  }
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
  if (trainer_is_barlow(tr)) { /* two views; --no-augment: both only normalized */
    lc.views = 2;
    for (uint32_t v = 0; v < 2; v++) {
      lc.ssl[v] = vkl_augment_ssl_barlow(name, v);
      lc.ssl[v].grey_jitter = c->ssl_grey_jitter;
      if (c->ssl_small) {
        lc.ssl[v].crop_scale[0] = 0.2f;
        lc.ssl[v].p_blur = 0;
      }
      if (c->no_augment) {
        vkl_augment_ssl_config plain = {.normalize = lc.ssl[v].normalize};
        memcpy(plain.mean, lc.ssl[v].mean, sizeof plain.mean);
        memcpy(plain.std, lc.ssl[v].std, sizeof plain.std);
        lc.ssl[v] = plain;
      }
    }
  }
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
  vkl_buf inputs[2] = {vkl_net_input(tr->net), tr->net2 ? vkl_net_input(tr->net2) : (vkl_buf){0}};
  vkl_buf labels = tr->net2 ? tr->bt_labels : vkl_xent_loss_labels(tr->loss);
  if ((st = vkl_batch_ring_create_views(tr->ctx, inputs, tr->net2 ? 2 : 1, labels, tr->m, chw,
                                        &tr->ring)) ||
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
  vkl_cmd_barrier(cmd);        /* the loss written by the last micro-step (RAW) */
  if (trainer_is_barlow(tr)) { /* L of the whole batch; no counts */
    vkl_cmd_copy(cmd, tr->rb_loss[r], tr->bt_loss, 4);
    vkl_cmd_fill_u32(cmd, tr->rb_correct[r], 0);
    return;
  }
  vkl_cmd_copy(cmd, tr->rb_loss[r], vkl_xent_loss_sum(tr->loss), 4);
  vkl_cmd_copy(cmd, tr->rb_correct[r], vkl_xent_loss_correct(tr->loss), 8);
}

uint64_t trainer_device_bytes(const trainer *tr) {
  uint64_t bytes = tr->net ? vkl_net_device_bytes(tr->net) : 0;
  if (tr->net2) bytes += vkl_net_device_bytes(tr->net2);
  if (tr->bt_arena) bytes += vkl_arena_capacity(tr->bt_arena);
  if (tr->loss) bytes += vkl_xent_loss_device_bytes(tr->loss);
  return bytes;
}

int trainer_is_barlow(const trainer *tr) {
  return tr->cfg->method == VKL_METHOD_BARLOW_TWINS;
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

void trainer_record_bn_save(trainer *tr, vkl_cmd *c) {
  if (!tr->rollback) return;
  vkl_cmd_barrier(c); /* the last step's rollback and the evaluation wrote or read them */
  vkl_cmd_copy(c, tr->bn_saved, bn_live(tr), tr->bn_saved.size);
  vkl_cmd_barrier(c); /* saved before the forward pass updates them (WAR) */
}

static vkl_status record_micro(trainer *tr, int first) {
  vkl_cmd *c = tr->pass[0].micro[first ? 0 : 1];
  vkl_status st = vkl_cmd_begin(c);
  if (st) return st;
  if (first) trainer_record_bn_save(tr, c);
  if ((st = vkl_classify_record_train(c, tr->net, tr->loss, first, 1.0f / (float)tr->B))) return st;
  return vkl_cmd_end(c);
}

static vkl_status record_step(trainer *tr, int r) {
  vkl_cmd *c = tr->step_cmd[r];
  vkl_status st = vkl_cmd_begin(c);
  if (st) return st;
  if (tr->allreduce) vkl_grad_allreduce_record_upload(tr->allreduce, c);
  record_metrics_copy(tr, c, r);
  if ((st = vkl_optimizer_record(tr->opt, c))) return st;
  return vkl_cmd_end(c);
}

/* N > 1 ranks: the gradient's sum across them and the running statistics'
 * merge, between the last micro-batch and the optimizer (after the
 * rollback's copy exists: the merge reads it). */
static vkl_status make_allreduce(trainer *tr) {
  if (tr->ranks < 2) return VKL_OK;
  vkl_grad_allreduce_config gc = {
      .ctx = tr->ctx,
      .dist = tr->cfg->dist,
      .grads = vkl_buf_sub(vkl_net_grads(tr->net), 0, tr->model->param_floats * 4),
      .bn_live = tr->rollback ? bn_live(tr) : (vkl_buf){0},
      .bn_start = tr->bn_saved,
      .bn_momentum = vkl_net_bn_momentum(tr->net),
      /* a forward in training mode updates them: classification runs one
       * per micro-batch, Barlow Twins' statistics pass one per view */
      .bn_updates = tr->k * (trainer_is_barlow(tr) ? 2 : 1)};
  uint64_t target = tr->cfg->allreduce_bucket_bytes;
  tr->bucket_count =
      vkl_grad_buckets_plan(tr->model, target ? target : VKL_ALLREDUCE_BUCKET_DEFAULT, tr->buckets,
                            VKL_ALLREDUCE_MAX_BUCKETS);
  gc.buckets = tr->buckets;
  gc.bucket_count = tr->bucket_count;
  return vkl_grad_allreduce_create(&gc, &tr->allreduce, tr->err, tr->errlen);
}

/* N > 1, classification: the step's last micro-batch as one program per
 * bucket (see trainer_internal.h); it is also the first when k = 1. */
static vkl_status record_last_segments(trainer *tr) {
  int first = tr->k == 1;
  vkl_status st = VKL_OK;
  for (uint32_t s = 0; s < tr->bucket_count && !st; s++) {
    vkl_cmd *c = NULL;
    if ((st = vkl_cmd_create(tr->ctx, &tr->last_segment[s])) ||
        (st = vkl_cmd_begin(c = tr->last_segment[s])))
      break;
    if (s == 0) {
      if (first) trainer_record_bn_save(tr, c);
      st = vkl_classify_record_to_dy(c, tr->net, tr->loss, first, 1.0f / (float)tr->B);
      vkl_net_backward_begin(tr->net);
    }
    if (!st)
      st = vkl_net_record_backward_nodes(tr->net, c, first, tr->buckets[s].node_hi,
                                         tr->buckets[s].node_lo);
    if (!st) st = vkl_cmd_end(c);
  }
  return st;
}

static vkl_status record_all(trainer *tr) {
  vkl_status st = make_rollback(tr);
  if (st) return st;
  if ((st = make_allreduce(tr))) return st;
  if (trainer_is_barlow(tr)) {
    st = trainer_barlow_record(tr);
  } else {
    tr->passes = 1; /* classification: forward, loss, backward per micro-batch */
    for (int f = 0; f < 2 && !st; f++)
      if (!(st = vkl_cmd_create(tr->ctx, &tr->pass[0].micro[f]))) st = record_micro(tr, f == 0);
    if (!st && tr->allreduce) st = record_last_segments(tr);
  }
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
                             /* ranks must stop at the same step: across
                              * ranks an evaluation runs to its end */
                             .stop = tr->ranks > 1 ? NULL : tr->cfg->stop,
                             .dist = tr->cfg->dist, /* each rank a share of the batches */
                             .on_progress = tr->cfg->on_eval_progress ? on_eval_progress : NULL,
                             .user = tr};
  return vkl_evaluator_create(tr->ctx, &ec, &tr->evaluator, tr->err, tr->errlen);
}

/* Out of device memory names the micro-batch that would fit: the largest
 * divisor of B below m whose net fits the budget --micro-batch auto uses. */
static vkl_status out_of_memory_hint(trainer *tr, vkl_status st) {
  vk_fail(tr, st);
  if (st == VKL_ERR_OUT_OF_DEVICE_MEMORY)
    vkl_net_fit_hint(tr->err, tr->errlen, vkl_ctx_device(tr->ctx), &tr->fit, tr->B, tr->m);
  return st;
}

/* Locks out_dir for this run, before anything there is read (a resumed
 * or --init checkpoint) or changed. A directory that does not exist yet is
 * created and locked only when the logs open (create), so a run that fails
 * to start leaves none behind. */
static vkl_status lock_run_dir(trainer *tr, int create) {
  const vkl_train_config *c = tr->cfg;
  if (!c->out_dir || tr->lock || !tr->writer) return VKL_OK;
  return vkl_rundir_lock_take(c->out_dir, create, &tr->lock, tr->err, tr->errlen);
}

vkl_status trainer_setup(trainer *tr) {
  const vkl_train_config *c = tr->cfg;
  tr->B = c->batch;
  tr->m = c->micro_batch;
  if (!tr->B) {
    snprintf(tr->err, tr->errlen, "batch 0: a batch holds at least 1 sample");
    return VKL_ERR_INVALID_ARGUMENT;
  }
  tr->ranks = vkl_dist_size(c->dist);
  tr->rank = vkl_dist_rank(c->dist);
  tr->writer = tr->rank == 0;
  if (tr->ranks > 1 && tr->B % tr->ranks) {
    snprintf(tr->err, tr->errlen,
             "batch %u does not split over %u ranks: the batch must be a multiple of the ranks "
             "times the micro-batch",
             tr->B, tr->ranks);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  if (tr->m && tr->B % ((uint64_t)tr->m * tr->ranks)) {
    if (tr->ranks > 1)
      snprintf(tr->err, tr->errlen,
               "batch %u over %u ranks is %u samples a rank, not a whole number of micro-batches "
               "of %u: the batch must be a multiple of %u (ranks x micro-batch)",
               tr->B, tr->ranks, tr->B / tr->ranks, tr->m, tr->m * tr->ranks);
    else
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
  tr->fit = (vkl_net_fit){.model = tr->model, .views = 1};
  if (trainer_is_barlow(tr)) trainer_barlow_fit(tr, &tr->fit);
  char why[256];
  if (tr->m && tr->m < vkl_model_min_micro_batch(tr->model, why, sizeof why)) {
    snprintf(tr->err, tr->errlen, "micro-batch %u: %s", tr->m, why);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  if (!tr->m) {
    uint32_t share = tr->B / tr->ranks; /* a rank's part of the batch */
    tr->m = vkl_net_fit_divisor(vkl_ctx_device(tr->ctx), &tr->fit, share, share + 1);
    if (!tr->m) {
      snprintf(tr->err, tr->errlen, "no micro-batch dividing %u fits %s's memory", share,
               vkl_ctx_device(tr->ctx)->name);
      return VKL_ERR_OUT_OF_DEVICE_MEMORY;
    }
    if (c->on_note) {
      char msg[160];
      uint64_t largest, bytes = vkl_net_fit_bytes(&tr->fit, tr->m, &largest);
      snprintf(msg, sizeof msg, "--micro-batch auto: %u (%.0f MiB of device memory)", tr->m,
               (double)bytes / (1 << 20));
      c->on_note(c->user, msg);
    }
  }
  tr->k = tr->B / (tr->m * tr->ranks); /* a rank's micro-batches per step */
  if ((st = make_loader(tr))) return st;
  uint64_t batches = vkl_loader_batches_per_epoch(tr->train_ld);
  /* >= 1: B <= images, whole micro-batches */
  tr->steps_per_epoch = batches / ((uint64_t)tr->k * tr->ranks);
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
      (st = trainer_is_barlow(tr) ? trainer_barlow_create(tr)
                                  : vkl_xent_loss_create(tr->ctx, &lc, &tr->loss)))
    return out_of_memory_hint(tr, st);
  if ((st = make_optimizer(tr)) || (st = make_rings(tr))) return out_of_memory_hint(tr, st);
  if ((st = record_all(tr)) || (!trainer_is_barlow(tr) && (st = make_evaluator(tr))) ||
      (trainer_is_barlow(tr) && (st = trainer_knn_create(tr))))
    return st;
  if (c->pipelines_only) return VKL_OK; /* every recording is made: every pipeline built */
  if ((st = trainer_init_weights(tr)) || (c->resume && (st = trainer_resume_state(tr)))) return st;
  tr->layer_names = calloc(tr->model->param_count, sizeof *tr->layer_names);
  tr->stats = calloc(tr->model->param_count, sizeof *tr->stats);
  if (!tr->layer_names || !tr->stats) return VKL_ERR_OUT_OF_HOST_MEMORY;
  for (uint32_t i = 0; i < tr->model->param_count; i++)
    tr->layer_names[i] = tr->model->params[i].name;
  if (!(tr->run_json = trainer_run_json(tr))) return VKL_ERR_OUT_OF_HOST_MEMORY;
  if (!c->out_dir || !tr->writer) return VKL_OK;
  if ((st = lock_run_dir(tr, 1))) return st;
  if (c->resume)
    return vkl_runlog_reopen(c->out_dir, tr->t, tr->start_epoch, &tr->log, tr->err, tr->errlen);
  vkl_checkpoint_new_run_id(tr->run_id, sizeof tr->run_id);
  if ((st = vkl_runlog_open(c->out_dir, c->force, &tr->log, tr->err, tr->errlen))) return st;
  return vkl_runlog_write_run(tr->log, tr->run_json, tr->err, tr->errlen);
}

void trainer_teardown(trainer *tr) {
  vkl_wait_all(tr->ctx); /* nothing in flight may use what is destroyed below */
  for (int r = 0; r < VKL_OPTIM_RING; r++) vkl_cmd_destroy(tr->step_cmd[r]);
  for (int p = 0; p < VKL_TRAIN_MAX_PASSES; p++) {
    for (int f = 0; f < 2; f++) vkl_cmd_destroy(tr->pass[p].micro[f]);
    vkl_cmd_destroy(tr->pass[p].after);
  }
  for (uint32_t b = 0; b < tr->bucket_count; b++) vkl_cmd_destroy(tr->last_segment[b]);
  vkl_grad_allreduce_destroy(tr->allreduce);
  vkl_evaluator_destroy(tr->evaluator);
  vkl_loader_destroy(tr->train_ld);
  vkl_batch_ring_destroy(tr->ring);
  vkl_optimizer_destroy(tr->opt);
  vkl_xent_loss_destroy(tr->loss);
  trainer_barlow_teardown(tr);
  trainer_knn_destroy(tr);
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
