/* Evaluating a checkpoint (see eval_checkpoint.h). */
#include "train/eval_checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/net.h"
#include "nn/xent_loss.h"
#include "train/checkpoint.h"

typedef struct eval_run {
  vkl_ctx *ctx;
  const vkl_eval_config *cfg;
  char *err;
  size_t errlen;
  vkl_checkpoint_meta *meta;
  vkl_dataset *test;
  vkl_model *model;
  vkl_net *net;
  vkl_xent_loss *loss;
  vkl_batch_ring *ring;
  vkl_evaluator *evaluator;
} eval_run;

static vkl_status device_fail(eval_run *er, vkl_status st) {
  snprintf(er->err, er->errlen, "%s", vkl_ctx_errmsg(er->ctx));
  return st;
}

/* The test split, shaped like the checkpoint's input: image folders are
 * resized to it, other formats must match it and the model's classes. */
static vkl_status open_test(eval_run *er) {
  const vkl_checkpoint_meta *m = er->meta;
  vkl_data_options opt = {0};
  if (er->cfg->data_options) opt = *er->cfg->data_options;
  const char *name = er->cfg->data ? er->cfg->data : m->data[0] ? m->data : "fashion-mnist";
  vkl_dataset_like like = {m->in_c, m->in_h, m->in_w, m->classes, "the checkpoint's model's"};
  return vkl_dataset_open_like(name, VKL_SPLIT_TEST, &opt, &like, &er->test, er->err, er->errlen);
}

static vkl_status build_net(eval_run *er, uint32_t m) {
  const vkl_checkpoint_meta *meta = er->meta;
  vkl_model_config mc = {.in_c = meta->in_c,
                         .in_h = meta->in_h,
                         .in_w = meta->in_w,
                         .classes = meta->classes,
                         .imagenet_stem = meta->imagenet_stem,
                         .width = meta->width};
  vkl_status st = vkl_model_build(meta->model, &mc, &er->model, er->err, er->errlen);
  if (st) return st;
  vkl_net_config nc = {.micro_batch = m, .inference = 1};
  vkl_xent_loss_config lc = {.micro_batch = m, .classes = er->model->classes, .inference = 1};
  if ((st = vkl_net_create(er->ctx, er->model, &nc, &er->net)) ||
      (st = vkl_xent_loss_create(er->ctx, &lc, &er->loss))) {
    device_fail(er, st);
    if (st == VKL_ERR_OUT_OF_DEVICE_MEMORY && m > 1) {
      size_t len = strlen(er->err);
      snprintf(er->err + len, er->errlen - len, "; a smaller --micro-batch (%u) takes less", m / 2);
    }
  }
  return st;
}

/* The checkpoint's weights and batch-norm statistics into the net. */
static vkl_status load_weights(eval_run *er) {
  const vkl_model *md = er->model;
  float *p = malloc(md->param_floats * 4),
        *b = malloc((md->buffer_floats ? md->buffer_floats : 1) * 4);
  vkl_status st = VKL_ERR_OUT_OF_HOST_MEMORY;
  if (!p || !b)
    snprintf(er->err, er->errlen, "out of host memory for %s's weights", md->name);
  else if (!(st = vkl_checkpoint_load(er->cfg->checkpoint, md, p, b, er->err, er->errlen)) &&
           (st = vkl_net_upload_state(er->net, p, b)))
    device_fail(er, st);
  free(p);
  free(b);
  return st;
}

static vkl_status run(eval_run *er, vkl_eval_report *rep) {
  const vkl_eval_config *c = er->cfg;
  vkl_status st;
  if ((st = vkl_checkpoint_read_meta(c->checkpoint, er->meta, er->err, er->errlen)) ||
      (st = open_test(er)))
    return st;
  uint64_t count = vkl_dataset_get_info(er->test)->count;
  uint32_t m = c->micro_batch ? c->micro_batch : 256;
  if (count < m) m = (uint32_t)count; /* no padding beyond the whole split */
  const vkl_checkpoint_meta *meta = er->meta;
  if ((st = build_net(er, m)) || (st = load_weights(er))) return st;
  if ((st = vkl_batch_ring_create(er->ctx, vkl_net_input(er->net), vkl_xent_loss_labels(er->loss),
                                  m, (uint64_t)meta->in_c * meta->in_h * meta->in_w, &er->ring)))
    return device_fail(er, st);
  vkl_evaluator_config ec = {.net = er->net,
                             .loss = er->loss,
                             .ring = er->ring,
                             .dataset = er->test,
                             .micro_batch = m,
                             .loader_threads = c->loader_threads,
                             .stop = c->stop,
                             .on_progress = c->on_progress,
                             .user = c->user};
  snprintf(rep->model, sizeof rep->model, "%s", meta->model);
  snprintf(rep->data, sizeof rep->data, "%s", vkl_dataset_get_info(er->test)->name);
  rep->step = meta->step;
  rep->micro_batch = m;
  rep->device_bytes = vkl_net_device_bytes(er->net);
  if ((st = vkl_evaluator_create(er->ctx, &ec, &er->evaluator, er->err, er->errlen))) return st;
  return vkl_evaluator_run(er->evaluator, &rep->result, er->err, er->errlen);
}

vkl_status vkl_eval_checkpoint(vkl_ctx *ctx, const vkl_eval_config *cfg, vkl_eval_report *report,
                               char *err, size_t errlen) {
  memset(report, 0, sizeof *report);
  err[0] = '\0';
  eval_run er = {.ctx = ctx, .cfg = cfg, .err = err, .errlen = errlen};
  er.meta = malloc(sizeof *er.meta);
  vkl_status st = VKL_ERR_OUT_OF_HOST_MEMORY;
  if (er.meta)
    st = run(&er, report);
  else
    snprintf(err, errlen, "out of host memory");
  vkl_wait_all(ctx); /* nothing in flight may use what is destroyed below */
  vkl_evaluator_destroy(er.evaluator);
  vkl_batch_ring_destroy(er.ring);
  vkl_xent_loss_destroy(er.loss);
  vkl_net_destroy(er.net);
  vkl_model_destroy(er.model);
  vkl_dataset_destroy(er.test);
  free(er.meta);
  return st;
}
