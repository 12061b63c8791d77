/* The kNN monitor of a pretraining run (see trainer_internal.h): after
 * each epoch the backbone's current weights go into an inference net of
 * the model without its projector, which computes the features of the
 * first knn_bank training images (the bank) and of the test split; each
 * test image then gets its neighbours' vote (train/knn.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/features.h"
#include "train/knn.h"
#include "train/trainer_internal.h"

/* Whether tensors a[0..na) are b's first na, by name and offset. */
static int is_prefix(const nn_tensor *a, uint32_t na, const nn_tensor *b, uint32_t nb) {
  if (na > nb) return 0;
  for (uint32_t i = 0; i < na; i++)
    if (strcmp(a[i].name, b[i].name) != 0 || a[i].offset != b[i].offset) return 0;
  return 1;
}

/* The backbone model: the run's model without a head. Its tensors are the
 * first ones of the run's model, at the same offsets (the head is built
 * last), which is checked here for parameters and batch-norm buffers alike,
 * so both copy over as a prefix. */
static vkl_status build_backbone(trainer *tr) {
  const vkl_model *full = tr->model;
  vkl_model_config mc = {.in_c = full->in_c,
                         .in_h = full->in_h,
                         .in_w = full->in_w,
                         .classes = full->classes,
                         .imagenet_stem = tr->cfg->imagenet_stem,
                         .width = tr->cfg->model_width,
                         .no_head = 1};
  vkl_status st = vkl_model_build(full->name, &mc, &tr->knn_model, tr->err, tr->errlen);
  if (st) return st;
  const vkl_model *bb = tr->knn_model;
  if (!is_prefix(bb->params, bb->param_count, full->params, full->param_count) ||
      !is_prefix(bb->buffers, bb->buffer_count, full->buffers, full->buffer_count)) {
    snprintf(tr->err, tr->errlen, "kNN monitor: %s's backbone is not a prefix of the model",
             full->name);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  return VKL_OK;
}

vkl_status trainer_knn_create(trainer *tr) {
  if (!tr->cfg->knn_k) return VKL_OK;
  vkl_status st = build_backbone(tr);
  if (st) return st;
  vkl_net_config nc = {.micro_batch = tr->m, .inference = 1};
  if ((st = vkl_net_create(tr->ctx, tr->knn_model, &nc, &tr->knn_net))) return vk_fail(tr, st);
  return VKL_OK;
}

void trainer_knn_destroy(trainer *tr) {
  vkl_net_destroy(tr->knn_net);
  vkl_model_destroy(tr->knn_model);
}

/* The training net's weights and running statistics into the kNN net. */
static vkl_status copy_weights(trainer *tr) {
  const vkl_model *full = tr->model;
  float *p = malloc(full->param_floats * 4), *b = malloc((full->buffer_floats + 1) * 4);
  vkl_status st = VKL_ERR_OUT_OF_HOST_MEMORY;
  if (p && b && !(st = vkl_net_download_state(tr->net, p, b)))
    st = vkl_net_upload_state(tr->knn_net, p, b); /* the backbone's are the prefix */
  if (st == VKL_ERR_OUT_OF_HOST_MEMORY)
    snprintf(tr->err, tr->errlen, "kNN monitor: out of host memory for the weights");
  else if (st)
    vk_fail(tr, st);
  free(p);
  free(b);
  return st;
}

static vkl_status features(trainer *tr, const vkl_dataset *ds, uint64_t count, float **x,
                           uint32_t **y, uint64_t *n) {
  uint64_t all = vkl_dataset_get_info(ds)->count;
  *n = count && count < all ? count : all;
  uint32_t F = vkl_net_output_floats(tr->knn_net);
  *x = malloc(*n * F * sizeof **x);
  *y = malloc(*n * sizeof **y);
  if (!*x || !*y) {
    snprintf(tr->err, tr->errlen, "kNN monitor: out of host memory for %llu features",
             (unsigned long long)*n);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  vkl_features_config fc = {.net = tr->knn_net,
                            .dataset = ds,
                            .count = *n,
                            .loader_threads = tr->cfg->loader_threads,
                            .stop = tr->cfg->stop};
  return vkl_features_extract(tr->ctx, &fc, *x, *y, tr->err, tr->errlen);
}

vkl_status trainer_knn_run(trainer *tr, vkl_epoch_result *r) {
  float *bank = NULL, *test = NULL;
  uint32_t *bank_y = NULL, *test_y = NULL;
  uint64_t nb = 0, nt = 0;
  vkl_status st;
  if (!(st = copy_weights(tr)) &&
      !(st = features(tr, tr->train_ds, tr->cfg->knn_bank ? tr->cfg->knn_bank : 10000, &bank,
                      &bank_y, &nb)) &&
      !(st = features(tr, tr->test_ds, 0, &test, &test_y, &nt))) {
    vkl_knn_config kc = {.k = tr->cfg->knn_k};
    double top1;
    st = vkl_knn_top1(&kc, bank, bank_y, nb, test, test_y, nt, vkl_net_output_floats(tr->knn_net),
                      tr->model->classes, &top1, tr->err, tr->errlen);
    if (!st) {
      r->test_top1 = top1;
      r->test_top5 = NAN; /* a vote has no ranking to speak of */
      r->test_loss = NAN;
      r->test_images = nt;
    }
  }
  free(bank), free(test), free(bank_y), free(test_y);
  return st;
}
