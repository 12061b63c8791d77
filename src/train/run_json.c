/* run.json: what a run is, for people and for --resume (see
 * trainer_internal.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer_internal.h"

/* Tells on_note of each image skipped (--skip-bad-images) since the last
 * call, in each split; returns how many were skipped in all. */
uint64_t trainer_note_skipped_images(trainer *tr) {
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

/* "method": supervised, or Barlow Twins with its projector, lambda, views
 * and monitor. */
static void add_method(const trainer *tr, cJSON *o) {
  const vkl_train_config *c = tr->cfg;
  cJSON *mj = cJSON_AddObjectToObject(o, "method");
  if (c->method != VKL_METHOD_BARLOW_TWINS) {
    cJSON_AddStringToObject(mj, "name", "supervised");
    return;
  }
  cJSON_AddStringToObject(mj, "name", "barlow-twins");
  int sizes[VKL_MODEL_MAX_PROJECTOR];
  for (uint32_t i = 0; i < c->projector_layers; i++) sizes[i] = (int)c->projector[i];
  cJSON_AddItemToObject(mj, "projector", cJSON_CreateIntArray(sizes, (int)c->projector_layers));
  cJSON_AddBoolToObject(mj, "projector_batch_norm", !c->projector_no_bn);
  char lambda[32]; /* the float's shortest decimal, not its binary expansion */
  snprintf(lambda, sizeof lambda, "%.7g", c->bt_lambda > 0 ? c->bt_lambda : 0.005);
  cJSON_AddNumberToObject(mj, "lambda", strtod(lambda, NULL));
  cJSON_AddStringToObject(mj, "views", c->ssl_small ? "small" : "official");
  cJSON_AddBoolToObject(mj, "grey_jitter", c->ssl_grey_jitter);
  cJSON_AddNumberToObject(mj, "knn_k", c->knn_k);
  cJSON_AddNumberToObject(mj, "knn_bank", (double)c->knn_bank);
  cJSON_AddStringToObject(mj, "loss",
                          "exact over the whole batch: a statistics pass, then a gradient pass");
}

char *trainer_run_json(trainer *tr) {
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
  cJSON_AddNumberToObject(oj, "excluded_lr_scale", op->excluded_lr_scale);
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
  add_method(tr, o);
  cJSON *rj = cJSON_AddObjectToObject(o, "run");
  cJSON_AddNumberToObject(rj, "batch", tr->B);
  cJSON_AddNumberToObject(rj, "micro_batch", tr->m);
  cJSON_AddNumberToObject(rj, "micro_steps", tr->k); /* a rank's */
  cJSON_AddNumberToObject(rj, "ranks", tr->ranks);
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
vkl_status trainer_record_skipped_images(trainer *tr) {
  uint64_t n = trainer_note_skipped_images(tr);
  if (n == tr->skipped_in_json) return VKL_OK;
  char *text = trainer_run_json(tr);
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
