/* Linear evaluation of a pretrained backbone (see linear_eval.h). */
#include "train/linear_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/net.h"
#include "train/checkpoint.h"
#include "train/feature_rank.h"
#include "train/features.h"

typedef struct lin_eval {
  vkl_ctx *ctx;
  const vkl_linear_eval_config *cfg;
  char *err;
  size_t errlen;
  vkl_checkpoint_meta *meta;
  vkl_dataset *split[2]; /* train, test */
  vkl_model *model;
  vkl_net *net;
  float *x[2];
  uint32_t *y[2];
  uint64_t n[2];
} lin_eval;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Both splits, shaped like the checkpoint's input. */
static vkl_status open_splits(lin_eval *le) {
  const vkl_checkpoint_meta *m = le->meta;
  vkl_data_options opt = {0};
  if (le->cfg->data_options) opt = *le->cfg->data_options;
  const char *name = le->cfg->data ? le->cfg->data : m->data[0] ? m->data : "fashion-mnist";
  vkl_dataset_like like = {m->in_c, m->in_h, m->in_w, m->classes, "the checkpoint's model's"};
  vkl_status st =
      vkl_dataset_open_like(name, VKL_SPLIT_TRAIN, &opt, &like, &le->split[0], le->err, le->errlen);
  if (!st)
    st = vkl_dataset_open_like(name, VKL_SPLIT_TEST, &opt, &like, &le->split[1], le->err,
                               le->errlen);
  return st;
}

/* The backbone alone (no classifier, no projector), with the checkpoint's
 * weights or freshly initialised ones, in an inference net. */
static vkl_status build_backbone(lin_eval *le, uint32_t m) {
  const vkl_checkpoint_meta *meta = le->meta;
  vkl_model_config mc = {.in_c = meta->in_c,
                         .in_h = meta->in_h,
                         .in_w = meta->in_w,
                         .classes = meta->classes,
                         .imagenet_stem = meta->imagenet_stem,
                         .width = meta->width,
                         .no_head = 1};
  vkl_status st = vkl_model_build(meta->model, &mc, &le->model, le->err, le->errlen);
  if (st) return st;
  const vkl_model *md = le->model;
  float *p = malloc(md->param_floats * 4), *b = malloc((md->buffer_floats + 1) * 4);
  st = VKL_ERR_OUT_OF_HOST_MEMORY;
  if (!p || !b) {
    snprintf(le->err, le->errlen, "linear evaluation: out of host memory for %s's weights",
             md->name);
  } else {
    vkl_model_init(md, meta->seed, p, b);
    st = le->cfg->random_init
             ? VKL_OK
             : vkl_checkpoint_load(le->cfg->checkpoint, md, p, b, le->err, le->errlen);
    vkl_net_config nc = {.micro_batch = m, .inference = 1};
    if (!st && ((st = vkl_net_create(le->ctx, md, &nc, &le->net)) ||
                (st = vkl_net_upload_state(le->net, p, b))))
      snprintf(le->err, le->errlen, "linear evaluation: %s", vkl_ctx_errmsg(le->ctx));
  }
  free(p);
  free(b);
  return st;
}

typedef struct split_progress {
  const vkl_linear_eval_config *cfg;
  const char *split;
} split_progress;

static void on_features(void *user, uint64_t done, uint64_t total) {
  const split_progress *sp = user;
  sp->cfg->on_progress(sp->cfg->user, sp->split, done, total);
}

static vkl_status features_of(lin_eval *le, int s) {
  static const char *names[2] = {"train", "test"};
  uint64_t all = vkl_dataset_get_info(le->split[s])->count;
  uint64_t want = s ? le->cfg->test_images : le->cfg->train_images;
  le->n[s] = want && want < all ? want : all;
  uint64_t F = vkl_net_output_floats(le->net);
  le->x[s] = malloc(le->n[s] * F * sizeof(float));
  le->y[s] = malloc(le->n[s] * sizeof(uint32_t));
  if (!le->x[s] || !le->y[s]) {
    snprintf(le->err, le->errlen, "linear evaluation: out of host memory for %llu x %llu features",
             (unsigned long long)le->n[s], (unsigned long long)F);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  split_progress sp = {le->cfg, names[s]};
  vkl_features_config fc = {.net = le->net,
                            .dataset = le->split[s],
                            .count = le->n[s],
                            .loader_threads = le->cfg->loader_threads,
                            .stop = le->cfg->stop,
                            .on_progress = le->cfg->on_progress ? on_features : NULL,
                            .user = &sp};
  return vkl_features_extract(le->ctx, &fc, le->x[s], le->y[s], le->err, le->errlen);
}

/* Standardizes every feature with the train split's mean and standard
 * deviation (both splits; a constant feature becomes 0), as a batch norm
 * without affine before the classifier would (MAE's linear probe): the
 * classifier's step size then does not depend on the features' scale,
 * which differs by orders of magnitude between a trained and a freshly
 * initialised backbone, and lr 0.3 is stable for both. */
static void standardize(lin_eval *le, uint32_t F) {
  for (uint32_t f = 0; f < F; f++) {
    double sum = 0, sq = 0;
    for (uint64_t i = 0; i < le->n[0]; i++) sum += le->x[0][i * F + f];
    double mean = sum / le->n[0];
    for (uint64_t i = 0; i < le->n[0]; i++) {
      double d = le->x[0][i * F + f] - mean;
      sq += d * d;
    }
    double sd = sqrt(sq / le->n[0]), inv = sd > 1e-12 ? 1.0 / sd : 0.0;
    for (int s = 0; s < 2; s++)
      for (uint64_t i = 0; i < le->n[s]; i++)
        le->x[s][i * F + f] = (float)((le->x[s][i * F + f] - mean) * inv);
  }
}

static vkl_status run(lin_eval *le, vkl_linear_eval_report *rep) {
  const vkl_linear_eval_config *c = le->cfg;
  vkl_status st;
  if ((st = vkl_checkpoint_read_meta(c->checkpoint, le->meta, le->err, le->errlen)) ||
      (st = open_splits(le)) || (st = build_backbone(le, c->micro_batch ? c->micro_batch : 256)))
    return st;
  double t0 = now_s();
  if ((st = features_of(le, 0)) || (st = features_of(le, 1))) return st;
  double t1 = now_s();
  uint32_t F = vkl_net_output_floats(le->net);
  standardize(le, F);
  /* on the standardized features, as the classifier sees them: a raw
   * feature's scale would weigh it, and scales differ by orders of
   * magnitude between a trained and a freshly initialised backbone */
  rep->feature_rank = NAN;
  if (F <= VKL_FEATURE_RANK_MAX &&
      (st = vkl_feature_rank(le->x[0], le->n[0], F, &rep->feature_rank, le->err, le->errlen)))
    return st;
  vkl_probe_data train = {le->x[0], le->y[0], le->n[0]}, test = {le->x[1], le->y[1], le->n[1]};
  vkl_probe_config pc = c->probe;
  pc.stop = c->stop;
  if (!pc.seed) pc.seed = le->meta->seed;
  st = vkl_probe_train(&pc, &train, &test, F, le->meta->classes, &rep->probe, le->err, le->errlen);
  snprintf(rep->model, sizeof rep->model, "%s", le->meta->model);
  snprintf(rep->data, sizeof rep->data, "%s", vkl_dataset_get_info(le->split[1])->name);
  rep->step = le->meta->step;
  rep->features = F;
  rep->train_images = le->n[0];
  rep->features_s = t1 - t0;
  rep->probe_s = now_s() - t1;
  return st;
}

vkl_status vkl_linear_eval(vkl_ctx *ctx, const vkl_linear_eval_config *cfg,
                           vkl_linear_eval_report *report, char *err, size_t errlen) {
  memset(report, 0, sizeof *report);
  err[0] = '\0';
  lin_eval le = {.ctx = ctx, .cfg = cfg, .err = err, .errlen = errlen};
  le.meta = calloc(1, sizeof *le.meta);
  vkl_status st = VKL_ERR_OUT_OF_HOST_MEMORY;
  if (le.meta)
    st = run(&le, report);
  else
    snprintf(err, errlen, "linear evaluation: out of host memory");
  vkl_wait_all(ctx);
  vkl_net_destroy(le.net);
  vkl_model_destroy(le.model);
  for (int s = 0; s < 2; s++) {
    vkl_dataset_destroy(le.split[s]);
    free(le.x[s]);
    free(le.y[s]);
  }
  free(le.meta);
  return st;
}
