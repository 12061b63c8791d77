/* A frozen backbone's features of a data set (see features.h). */
#include "train/features.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/loader.h"

#define FEATURE_SLOTS 2 /* the loader fills one batch while the device runs the other */

typedef struct extractor {
  vkl_ctx *ctx;
  const vkl_features_config *cfg;
  vkl_loader *ld;
  vkl_cmd *forward;
  float *images[FEATURE_SLOTS];
  uint32_t *labels[FEATURE_SLOTS];
  char *err;
  size_t errlen;
} extractor;

static vkl_status device_fail(extractor *x, vkl_status st) {
  snprintf(x->err, x->errlen, "features: %s", vkl_ctx_errmsg(x->ctx));
  return st;
}

static vkl_status open_loader(extractor *x, uint32_t m) {
  const vkl_dataset_info *d = vkl_dataset_get_info(x->cfg->dataset);
  uint64_t chw = (uint64_t)d->channels * d->height * d->width;
  vkl_loader_config lc = {.dataset = x->cfg->dataset,
                          .batch = m,
                          .channels = d->channels,
                          .height = d->height,
                          .width = d->width,
                          .classes = d->classes,
                          .threads = x->cfg->loader_threads,
                          .slots = FEATURE_SLOTS,
                          .no_shuffle = 1,
                          .augment = vkl_augment_eval(d->name)};
  for (int s = 0; s < FEATURE_SLOTS; s++) {
    x->images[s] = malloc(m * chw * sizeof(float));
    x->labels[s] = malloc(m * sizeof(uint32_t));
    if (!x->images[s] || !x->labels[s]) {
      snprintf(x->err, x->errlen, "features: out of host memory for %u images", m);
      return VKL_ERR_OUT_OF_HOST_MEMORY;
    }
  }
  vkl_status st = vkl_loader_create(&lc, &x->ld, x->err, x->errlen);
  if (!st) st = vkl_loader_start_epoch(x->ld, 0);
  return st;
}

static vkl_status record_forward(extractor *x) {
  vkl_status st;
  if ((st = vkl_cmd_create(x->ctx, &x->forward)) || (st = vkl_cmd_begin(x->forward)) ||
      (st = vkl_net_record_forward(x->cfg->net, x->forward, VKL_NET_EVAL)) ||
      (st = vkl_cmd_end(x->forward)))
    return device_fail(x, st);
  return VKL_OK;
}

/* Batch b (in slot s, count images) through the net into features. */
static vkl_status run_batch(extractor *x, uint64_t b, uint32_t s, uint32_t count, uint64_t total,
                            float *features, uint32_t *labels) {
  vkl_net *net = x->cfg->net;
  uint32_t m = vkl_net_micro_batch(net), F = vkl_net_output_floats(net);
  uint64_t first = b * m;
  if (first + count > total) count = (uint32_t)(total - first);
  const vkl_dataset_info *d = vkl_dataset_get_info(x->cfg->dataset);
  uint64_t chw = (uint64_t)d->channels * d->height * d->width;
  vkl_status st;
  /* a partial batch leaves the rest of the input as it was: its outputs are dropped */
  if ((st = vkl_upload(x->ctx, vkl_net_input(net), x->images[s], count * chw * sizeof(float))) ||
      (st = vkl_run(x->ctx, x->forward)) ||
      (st = vkl_download(x->ctx, features + first * F, vkl_net_output(net),
                         (uint64_t)count * F * sizeof(float))))
    return device_fail(x, st);
  memcpy(labels + first, x->labels[s], count * sizeof(uint32_t));
  return VKL_OK;
}

static vkl_status extract(extractor *x, float *features, uint32_t *labels) {
  const vkl_features_config *c = x->cfg;
  uint32_t m = vkl_net_micro_batch(c->net);
  uint64_t images = vkl_dataset_get_info(c->dataset)->count;
  uint64_t total = c->count && c->count < images ? c->count : images;
  vkl_status st;
  if ((st = open_loader(x, m)) || (st = record_forward(x))) return st;
  uint64_t nb = (total + m - 1) / m;
  for (uint64_t b = 0; b < FEATURE_SLOTS && b < nb; b++)
    if ((st = vkl_loader_submit(x->ld, (uint32_t)b, b, x->images[b], x->labels[b]))) break;
  for (uint64_t b = 0; !st && b < nb; b++) {
    uint32_t s = (uint32_t)(b % FEATURE_SLOTS), count = 0;
    if ((st = vkl_loader_wait(x->ld, s, &count))) break;
    if ((st = run_batch(x, b, s, count, total, features, labels))) return st;
    if (c->on_progress) c->on_progress(c->user, b + 1 == nb ? total : (b + 1) * m, total);
    if (c->stop && *c->stop) {
      for (uint64_t q = b + 1; q < b + FEATURE_SLOTS && q < nb; q++)
        vkl_loader_wait(x->ld, (uint32_t)(q % FEATURE_SLOTS), NULL);
      snprintf(x->err, x->errlen, "features: interrupted after %llu of %llu images",
               (unsigned long long)((b + 1) * m), (unsigned long long)total);
      return VKL_ERR_INTERRUPTED;
    }
    if (b + FEATURE_SLOTS < nb)
      st = vkl_loader_submit(x->ld, s, b + FEATURE_SLOTS, x->images[s], x->labels[s]);
  }
  if (st && !x->err[0]) snprintf(x->err, x->errlen, "%s", vkl_loader_errmsg(x->ld));
  return st;
}

vkl_status vkl_features_extract(vkl_ctx *ctx, const vkl_features_config *cfg, float *features,
                                uint32_t *labels, char *err, size_t errlen) {
  err[0] = '\0';
  extractor x = {.ctx = ctx, .cfg = cfg, .err = err, .errlen = errlen};
  vkl_status st = extract(&x, features, labels);
  vkl_loader_destroy(x.ld);
  vkl_cmd_destroy(x.forward);
  for (int s = 0; s < FEATURE_SLOTS; s++) {
    free(x.images[s]);
    free(x.labels[s]);
  }
  return st;
}
