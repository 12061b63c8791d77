/* Barlow Twins pretraining through the trainer (src/train/method_barlow.c):
 * the exact whole-batch loss means k micro-batches give the gradient of one
 * pass over the batch, and its memory does not grow with the batch. */
#include <math.h>

#include "data/loader.h"
#include "nn/model.h"
#include "nn/net.h"
#include "nn/net_fit.h"
#include "ops/barlow.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

static const vkl_data_options tiny_data = {
    .channels = 1, .height = 6, .width = 5, .count = 48, .classes = 3};

/* One plain SGD step of Barlow Twins on an mlp whose projector has no batch
 * norm: nothing in the model depends on the micro-batch, so the step is
 * the same whatever m. The lr is large so that the update, lr * g,
 * dominates the weights and w1 - w0 keeps g's digits. */
static vkl_train_config one_step(const char *out, uint32_t m) {
  vkl_train_config c;
  memset(&c, 0, sizeof c);
  c.method = VKL_METHOD_BARLOW_TWINS;
  c.projector[0] = 12;
  c.projector[1] = 10;
  c.projector_layers = 2;
  c.projector_no_bn = 1;
  c.data = "synthetic";
  c.data_options = &tiny_data;
  c.model = "mlp";
  c.model_width = 16;
  c.optim = vkl_optim_defaults(VKL_OPT_SGD);
  c.optim.lr = 1e4;
  c.optim.momentum = 0;
  c.optim.weight_decay = 0;
  c.sched = VKL_SCHED_CONSTANT;
  c.batch = 24;
  c.micro_batch = m;
  c.epochs = 1;
  c.max_steps = 1;
  c.seed = 3;
  c.loader_threads = 1;
  c.out_dir = out;
  return c;
}

static vkl_model *build_like(const vkl_train_config *c) {
  vkl_model_config mc = {.in_c = 1, .in_h = 6, .in_w = 5, .classes = 3, .width = c->model_width};
  memcpy(mc.projector, c->projector, sizeof mc.projector);
  mc.projector_layers = c->projector_layers;
  mc.projector_no_bn = c->projector_no_bn;
  vkl_model *model;
  char err[256];
  cr_assert_eq(vkl_model_build(c->model, &mc, &model, err, sizeof err), VKL_OK, "%s", err);
  return model;
}

/* The update w1 - w0 of a one-step run with micro-batch m. */
static float *one_step_update(vkl_ctx *ctx, const char *dir, uint32_t m, vkl_model **model) {
  char out[300], err[1024];
  snprintf(out, sizeof out, "%s/m%u", dir, m);
  vkl_train_config c = one_step(out, m);
  vkl_train_result r;
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(r.steps, 1);
  *model = build_like(&c);
  uint64_t pf = (*model)->param_floats;
  float *w0 = malloc(pf * 4), *w1 = malloc(pf * 4), b[1];
  vkl_model_init(*model, c.seed, w0, b);
  cr_assert_eq(vkl_checkpoint_load(r.checkpoint, *model, w1, b, err, sizeof err), VKL_OK, "%s",
               err);
  for (uint64_t i = 0; i < pf; i++) w1[i] -= w0[i];
  free(w0);
  return w1;
}

Test(pretrain, micro_batches_give_the_whole_batch_gradient) {
  vkl_ctx *ctx = test_ctx_create();
  char dir[] = "/tmp/vklars-pretrain-XXXXXX";
  cr_assert(mkdtemp(dir));
  vkl_model *model, *again[2];
  float *whole = one_step_update(ctx, dir, 24, &model);
  float *parts = one_step_update(ctx, dir, 6, &again[0]);
  float *odd = one_step_update(ctx, dir, 8, &again[1]); /* 3 micro-batches */
  vkl_model_destroy(again[0]);
  vkl_model_destroy(again[1]);
  cr_assert_gt(model->param_count, 4);
  for (uint32_t t = 0; t < model->param_count; t++) {
    const nn_tensor *p = &model->params[t];
    double num = 0, num3 = 0, den = 0;
    for (uint64_t i = 0; i < p->count; i++) {
      double a = parts[p->offset + i], a3 = odd[p->offset + i], b = whole[p->offset + i];
      num += (a - b) * (a - b);
      num3 += (a3 - b) * (a3 - b);
      den += b * b;
    }
    cr_assert(den > 0, "%s: zero gradient", p->name);
    cr_assert(sqrt(num) <= 1e-5 * sqrt(den) && sqrt(num3) <= 1e-5 * sqrt(den),
              "%s: relative difference %g (4 x 6) and %g (3 x 8) against 1 x 24", p->name,
              sqrt(num / den), sqrt(num3 / den));
  }
  free(whole);
  free(parts);
  free(odd);
  vkl_model_destroy(model);
  test_ctx_destroy(ctx);
}

/* The device memory of a Barlow Twins run is one micro-batch's activations
 * per view and the d x d statistics: B = 1024 and B = 16384 at m = 64 take
 * the same bytes (set up, not trained). */
Test(pretrain, memory_does_not_grow_with_the_batch) {
  vkl_ctx *ctx = test_ctx_create();
  static const vkl_data_options data = {
      .channels = 1, .height = 8, .width = 8, .count = 16384, .classes = 4};
  uint64_t bytes[2];
  const uint32_t batches[2] = {1024, 16384};
  for (int i = 0; i < 2; i++) {
    vkl_train_config c = one_step(NULL, 64);
    c.data_options = &data;
    c.model = "cnn";
    c.model_width = 4;
    c.projector_no_bn = 0;
    c.batch = batches[i];
    c.pipelines_only = 1;
    vkl_train_result r;
    char err[1024];
    cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_OK, "%s", err);
    bytes[i] = r.device_bytes;
  }
  cr_assert_gt(bytes[0], 0);
  cr_assert_eq(bytes[0], bytes[1], "B = 1024: %llu bytes, B = 16384: %llu bytes",
               (unsigned long long)bytes[0], (unsigned long long)bytes[1]);
  test_ctx_destroy(ctx);
}

/* A pretraining run stopped mid-epoch (after step 3 of 4) and resumed ends
 * with the same weights, bit for bit, as one never stopped: both passes
 * re-read the same views, and the loss's statistics start afresh each step. */
Test(pretrain, resume_is_bit_exact) {
  vkl_ctx *ctx = test_ctx_create();
  char dir[] = "/tmp/vklars-pretrain-XXXXXX";
  cr_assert(mkdtemp(dir));
  static const vkl_data_options data = {
      .channels = 1, .height = 8, .width = 8, .count = 96, .classes = 3};
  char out[2][300], err[1024];
  vkl_train_result r[2];
  for (int i = 0; i < 2; i++) {
    snprintf(out[i], sizeof out[i], "%s/run%d", dir, i);
    vkl_train_config c = one_step(out[i], 8);
    c.data_options = &data;
    c.model = "cnn";
    c.model_width = 4;
    c.projector_no_bn = 0;
    c.optim = vkl_optim_defaults(VKL_OPT_LARS);
    c.optim.lr = 0.5;
    c.batch = 24;
    c.epochs = 2;
    c.max_steps = i == 0 ? 0 : 3; /* run 1 stops after 3 of the first epoch's 4 steps */
    cr_assert_eq(vkl_train(ctx, &c, &r[i], err, sizeof err), VKL_OK, "%s", err);
    if (i == 1) {
      cr_assert_eq(r[1].steps, 3);
      c.max_steps = 0;
      char ckpt[1100]; /* vkl_train clears its result, which holds the path */
      snprintf(ckpt, sizeof ckpt, "%s", r[1].checkpoint);
      c.resume = ckpt;
      cr_assert_eq(vkl_train(ctx, &c, &r[1], err, sizeof err), VKL_OK, "%s", err);
    }
  }
  cr_assert_eq(r[0].steps, 8);
  cr_assert_eq(r[1].steps, 8);
  vkl_train_config c = one_step(NULL, 8);
  c.model = "cnn";
  c.model_width = 4;
  c.projector_no_bn = 0;
  vkl_model_config mc = {.in_c = 1, .in_h = 8, .in_w = 8, .classes = 3, .width = 4};
  memcpy(mc.projector, c.projector, sizeof mc.projector);
  mc.projector_layers = c.projector_layers;
  vkl_model *model;
  cr_assert_eq(vkl_model_build("cnn", &mc, &model, err, sizeof err), VKL_OK, "%s", err);
  float *w[2], *b[2];
  for (int i = 0; i < 2; i++) {
    w[i] = malloc(model->param_floats * 4);
    b[i] = malloc(model->buffer_floats * 4);
    cr_assert_eq(vkl_checkpoint_load(r[i].checkpoint, model, w[i], b[i], err, sizeof err), VKL_OK,
                 "%s", err);
  }
  cr_assert(memcmp(w[0], w[1], model->param_floats * 4) == 0, "weights differ after resuming");
  cr_assert(memcmp(b[0], b[1], model->buffer_floats * 4) == 0, "batch-norm statistics differ");
  for (int i = 0; i < 2; i++) free(w[i]), free(b[i]);
  vkl_model_destroy(model);
  test_ctx_destroy(ctx);
}

/* With batch norm in the backbone and the projector, one micro-batch (k =
 * 1) of the two-pass step gives the gradient of a direct computation over
 * the batch: both views forward, dL/dz of the official loss in double
 * (vkl_barlow_loss_ref), both backward passes. The trainer's SGD update
 * (lr * g) is compared with the direct one. */
static void two_passes_equal_the_direct_gradient(int grey_jitter) {
  vkl_ctx *ctx = test_ctx_create();
  char dir[] = "/tmp/vklars-pretrain-XXXXXX", out[300], err[1024];
  cr_assert(mkdtemp(dir));
  snprintf(out, sizeof out, "%s/run", dir);
  static const vkl_data_options data = {
      .channels = 1, .height = 8, .width = 8, .count = 24, .classes = 3, .seed = 3};
  const uint32_t B = 12, d = 8;
  vkl_train_config c = one_step(out, B);
  c.data_options = &data;
  c.model = "cnn";
  c.model_width = 4;
  c.projector[0] = 16;
  c.projector[1] = d;
  c.projector_no_bn = 0;
  c.batch = B;
  c.no_shuffle = 1;
  c.knn_k = 0;
  c.optim.lr = 1e3;
  c.ssl_grey_jitter = grey_jitter;
  vkl_train_result r;
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_OK, "%s", err);

  vkl_model_config mc = {.in_c = 1, .in_h = 8, .in_w = 8, .classes = 3, .width = 4};
  memcpy(mc.projector, c.projector, sizeof mc.projector);
  mc.projector_layers = 2;
  vkl_model *model;
  cr_assert_eq(vkl_model_build("cnn", &mc, &model, err, sizeof err), VKL_OK, "%s", err);
  cr_assert(vkl_model_has_batchnorm(model));
  uint64_t pf = model->param_floats;
  float *w0 = malloc(pf * 4), *w1 = malloc(pf * 4), *g = malloc(pf * 4);
  float *b0 = malloc(model->buffer_floats * 4), *b1 = malloc(model->buffer_floats * 4);
  vkl_model_init(model, c.seed, w0, b0);
  cr_assert_eq(vkl_checkpoint_load(r.checkpoint, model, w1, b1, err, sizeof err), VKL_OK, "%s",
               err);

  /* the views the trainer saw: batch 0 of epoch 0, in order */
  vkl_dataset *ds;
  cr_assert_eq(vkl_dataset_open("synthetic", VKL_SPLIT_TRAIN, &data, &ds, err, sizeof err), VKL_OK,
               "%s", err);
  vkl_loader_config lc = {.dataset = ds,
                          .batch = B,
                          .channels = 1,
                          .height = 8,
                          .width = 8,
                          .classes = 3,
                          .threads = 1,
                          .seed = c.seed,
                          .no_shuffle = 1,
                          .drop_last = 1,
                          .views = 2};
  for (uint32_t v = 0; v < 2; v++) {
    lc.ssl[v] = vkl_augment_ssl_barlow("synthetic", v);
    lc.ssl[v].grey_jitter = grey_jitter;
  }
  vkl_loader *ld;
  cr_assert_eq(vkl_loader_create(&lc, &ld, err, sizeof err), VKL_OK, "%s", err);
  float views[2 * 12 * 64];
  uint32_t labels[12];
  TEST_OK(ctx, vkl_loader_start_epoch(ld, 0));
  TEST_OK(ctx, vkl_loader_submit(ld, 0, 0, views, labels));
  TEST_OK(ctx, vkl_loader_wait(ld, 0, NULL));
  vkl_loader_destroy(ld);

  /* direct: both views forward, the loss's gradient in double, both backward */
  vkl_net *net[2];
  vkl_net_config nc = {.micro_batch = B};
  TEST_OK(ctx, vkl_net_create(ctx, model, &nc, &net[0]));
  nc.share_state = net[0];
  TEST_OK(ctx, vkl_net_create(ctx, model, &nc, &net[1]));
  TEST_OK(ctx, vkl_net_upload_state(net[0], w0, b0));
  vkl_cmd *cmd;
  TEST_OK(ctx, vkl_cmd_create(ctx, &cmd));
  TEST_OK(ctx, vkl_cmd_begin(cmd));
  for (int v = 0; v < 2; v++) {
    TEST_OK(ctx, vkl_upload(ctx, vkl_net_input(net[v]), views + v * B * 64, B * 64 * 4));
    TEST_OK(ctx, vkl_net_record_forward(net[v], cmd, VKL_NET_TRAIN));
  }
  TEST_OK(ctx, vkl_cmd_end(cmd));
  TEST_OK(ctx, vkl_run(ctx, cmd));
  float z[2][12 * 8], dzf[2][12 * 8];
  double zd[2][12 * 8], dz[2][12 * 8], loss[3];
  for (int v = 0; v < 2; v++) {
    TEST_OK(ctx, vkl_download(ctx, z[v], vkl_net_output(net[v]), sizeof z[v]));
    for (uint32_t i = 0; i < B * d; i++) zd[v][i] = z[v][i];
  }
  vkl_barlow_loss_ref(loss, dz[0], dz[1], zd[0], zd[1], B, d, 0.005, 1e-5);
  for (int v = 0; v < 2; v++) {
    for (uint32_t i = 0; i < B * d; i++) dzf[v][i] = (float)dz[v][i];
    TEST_OK(ctx, vkl_upload(ctx, vkl_net_output_grad(net[v]), dzf[v], sizeof dzf[v]));
  }
  TEST_OK(ctx, vkl_cmd_begin(cmd));
  TEST_OK(ctx, vkl_net_record_backward(net[0], cmd, 1));
  TEST_OK(ctx, vkl_net_record_backward(net[1], cmd, 0));
  TEST_OK(ctx, vkl_cmd_end(cmd));
  TEST_OK(ctx, vkl_run(ctx, cmd));
  TEST_OK(ctx, vkl_download(ctx, g, vkl_net_grads(net[0]), pf * 4));
  for (uint32_t t = 0; t < model->param_count; t++) {
    const nn_tensor *p = &model->params[t];
    double num = 0, den = 0;
    for (uint64_t i = 0; i < p->count; i++) {
      double got = (double)w1[p->offset + i] - w0[p->offset + i];
      double want = -c.optim.lr * g[p->offset + i];
      num += (got - want) * (got - want);
      den += want * want;
    }
    cr_assert(den > 0, "%s: zero gradient", p->name);
    cr_assert(sqrt(num) <= 1e-5 * sqrt(den), "%s: relative difference %g", p->name,
              sqrt(num / den));
  }
  vkl_cmd_destroy(cmd);
  vkl_net_destroy(net[1]);
  vkl_net_destroy(net[0]);
  vkl_dataset_destroy(ds);
  free(w0), free(w1), free(g), free(b0), free(b1);
  vkl_model_destroy(model);
  test_ctx_destroy(ctx);
}

Test(pretrain, two_passes_with_batch_norm_equal_the_direct_gradient) {
  two_passes_equal_the_direct_gradient(0);
}

/* --grey-jitter reaches the trainer's views: the direct computation on
 * views with grey brightness and contrast gives the trainer's step, and
 * one without would not (the views differ in ~80% of the samples). */
Test(pretrain, grey_jitter_views_equal_the_direct_gradient) {
  two_passes_equal_the_direct_gradient(1);
}

/* --micro-batch auto counts what pretraining adds: the second view's
 * activations and the d x d statistics. Under a 48 MiB device the chosen
 * micro-batch fits (the run sets up), takes no more than the estimate,
 * and is smaller than the one a single net would have been given. */
Test(pretrain, auto_micro_batch_counts_both_views) {
  vkl_ctx_config cc = {.validation = VKLARS_TEST_VALIDATION,
                       .on_validation = test_on_validation,
                       .device_memory_limit = 48ull << 20};
  vkl_ctx *ctx = NULL;
  cr_assert_eq(vkl_ctx_create(&cc, &ctx), VKL_OK, "%s", vkl_ctx_errmsg(ctx));
  static const vkl_data_options data = {
      .channels = 1, .height = 28, .width = 28, .count = 1024, .classes = 10};
  vkl_train_config c = one_step(NULL, 0);
  c.data_options = &data;
  c.model = "cnn-gap";
  c.model_width = 8;
  c.projector[0] = c.projector[1] = 1024;
  c.projector_no_bn = 0;
  c.batch = 1024;
  c.pipelines_only = 1;
  vkl_train_result r;
  char err[1024];
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_OK, "%s", err);
  uint32_t m = r.micro_batch;
  cr_assert(m >= 2 && 1024 % m == 0, "micro-batch %u", m);
  vkl_model_config mc = {.in_c = 1, .in_h = 28, .in_w = 28, .classes = 10, .width = 8};
  memcpy(mc.projector, c.projector, sizeof mc.projector);
  mc.projector_layers = 2;
  vkl_model *model;
  cr_assert_eq(vkl_model_build("cnn-gap", &mc, &model, err, sizeof err), VKL_OK, "%s", err);
  const vkl_device_info *d = vkl_ctx_device(ctx);
  vkl_net_fit one = {.model = model, .views = 1};
  vkl_net_fit two = {.model = model,
                     .views = 2,
                     .extra_bytes = vkl_barlow_stats_floats(1024) * 4,
                     .extra_largest = vkl_barlow_stats_floats(1024) * 4};
  uint64_t largest, estimate = vkl_net_fit_bytes(&two, m, &largest);
  cr_assert_leq(r.device_bytes, estimate + (1 << 16), "%llu bytes on the device, %llu estimated",
                (unsigned long long)r.device_bytes, (unsigned long long)estimate);
  cr_assert_leq(estimate, vkl_net_budget(d));
  uint32_t alone = vkl_net_fit_divisor(d, &one, 1024, 1025);
  cr_assert_gt(alone, m, "one net alone would get %u, the run got %u", alone, m);
  vkl_model_destroy(model);
  test_ctx_destroy(ctx);
}
