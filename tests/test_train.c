/* Training end to end: micro-batch accumulation equals one large batch, a
 * small CNN learns a generated data set, runs are deterministic, and bad
 * settings are refused. */
#include <math.h>
#include <sys/stat.h>

#include "nn/classify.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/eval_checkpoint.h"
#include "train/trainer.h"

/* A net with its classification loss, as the trainer pairs them. */
typedef struct clf {
  vkl_net *net;
  vkl_xent_loss *loss;
} clf;

static clf clf_create(vkl_ctx *ctx, const vkl_model *model, uint32_t m) {
  clf c;
  vkl_net_config nc = {.micro_batch = m};
  vkl_xent_loss_config lc = {.micro_batch = m, .classes = model->classes};
  TEST_OK(ctx, vkl_net_create(ctx, model, &nc, &c.net));
  TEST_OK(ctx, vkl_xent_loss_create(ctx, &lc, &c.loss));
  return c;
}

static void clf_destroy(clf c) {
  vkl_xent_loss_destroy(c.loss);
  vkl_net_destroy(c.net);
}

/* Uploads samples [first, first+count) of x (n,in) and labels to the net. */
static void feed(vkl_ctx *ctx, clf c, const float *x, const uint32_t *y, uint32_t in,
                 uint32_t first, uint32_t count) {
  TEST_OK(ctx, vkl_upload(ctx, vkl_net_input(c.net), x + (size_t)first * in,
                          (size_t)count * in * sizeof(float)));
  TEST_OK(ctx, vkl_upload(ctx, vkl_xent_loss_labels(c.loss), y + first, count * sizeof(uint32_t)));
}

static void run_train(vkl_ctx *ctx, clf c, vkl_cmd *cmd, int first, float scale) {
  TEST_OK(ctx, vkl_cmd_begin(cmd));
  TEST_OK(ctx, vkl_classify_record_train(cmd, c.net, c.loss, first, scale));
  TEST_OK(ctx, vkl_cmd_end(cmd));
  TEST_OK(ctx, vkl_run(ctx, cmd));
}

/* A model without batch norm: k micro-batches of m give the gradient of one
 * batch of k*m (the loss gradient is scaled by 1/B, parameter gradients
 * are written by the first micro-step and added to by the others). */
Test(train, accumulation_equals_one_large_batch) {
  test_dev d = test_dev_create(1 << 20);
  vkl_model_config mc = {.in_c = 1, .in_h = 5, .in_w = 3, .classes = 7, .width = 24};
  vkl_model *model;
  char err[256];
  cr_assert_eq(vkl_model_build("mlp", &mc, &model, err, sizeof err), VKL_OK, "%s", err);
  const uint32_t m = 6, k = 4, B = m * k, in = 15;
  clf small = clf_create(d.ctx, model, m), big = clf_create(d.ctx, model, B);
  float *params = malloc(model->param_floats * 4), *bufs = malloc(4);
  vkl_model_init(model, 3, params, bufs);
  TEST_OK(d.ctx, vkl_net_upload_state(small.net, params, bufs));
  TEST_OK(d.ctx, vkl_net_upload_state(big.net, params, bufs));
  test_rng rng = {9};
  float x[24 * 15];
  uint32_t y[24];
  for (uint32_t i = 0; i < B * in; i++) x[i] = test_rng_float(&rng);
  for (uint32_t i = 0; i < B; i++) y[i] = (uint32_t)(test_rng_next(&rng) % 7);
  for (uint32_t j = 0; j < k; j++) {
    feed(d.ctx, small, x, y, in, j * m, m);
    run_train(d.ctx, small, d.cmd, j == 0, 1.0f / B);
  }
  feed(d.ctx, big, x, y, in, 0, B);
  run_train(d.ctx, big, d.cmd, 1, 1.0f / B);
  float *ga = malloc(model->param_floats * 4), *gb = malloc(model->param_floats * 4);
  TEST_OK(d.ctx, vkl_download(d.ctx, ga, vkl_net_grads(small.net), model->param_floats * 4));
  TEST_OK(d.ctx, vkl_download(d.ctx, gb, vkl_net_grads(big.net), model->param_floats * 4));
  for (uint32_t t = 0; t < model->param_count; t++) {
    const nn_tensor *p = &model->params[t];
    double num = 0, den = 0;
    for (uint64_t i = 0; i < p->count; i++) {
      double a = ga[p->offset + i], b = gb[p->offset + i];
      num += (a - b) * (a - b);
      den += b * b;
    }
    cr_assert(den > 0, "%s: zero gradient", p->name);
    cr_assert(sqrt(num) <= 1e-5 * sqrt(den), "%s: relative difference %g", p->name,
              sqrt(num / den));
  }
  float la, lb;
  TEST_OK(d.ctx, vkl_download(d.ctx, &la, vkl_xent_loss_sum(small.loss), 4));
  TEST_OK(d.ctx, vkl_download(d.ctx, &lb, vkl_xent_loss_sum(big.loss), 4));
  cr_assert(fabsf(la - lb) <= 1e-5f * fabsf(lb), "loss sums %g vs %g", la, lb);
  free(params), free(bufs), free(ga), free(gb);
  clf_destroy(small);
  clf_destroy(big);
  vkl_model_destroy(model);
  test_dev_destroy(&d);
}

static vkl_train_config small_run(const char *out) {
  static vkl_data_options data = {
      .channels = 1, .height = 12, .width = 12, .count = 1536, .classes = 4};
  vkl_train_config c;
  memset(&c, 0, sizeof c);
  c.data = "synthetic";
  c.data_options = &data;
  c.model = "cnn";
  c.model_width = 8;
  c.optim = vkl_optim_defaults(VKL_OPT_TVLARS);
  c.optim.lr = 5.0;
  c.optim.tv_delay_steps = 0;
  c.sched = VKL_SCHED_CONSTANT;
  c.batch = 128;
  c.micro_batch = 32;
  c.epochs = 4;
  c.seed = 5;
  c.no_augment = 1;
  c.loader_threads = 1;
  c.out_dir = out;
  return c;
}

Test(train, small_cnn_learns_synthetic_data) {
  vkl_ctx *ctx = test_ctx_create();
  char dir[] = "/tmp/vklars-train-XXXXXX";
  cr_assert(mkdtemp(dir));
  char out[300];
  snprintf(out, sizeof out, "%s/run", dir);
  vkl_train_config c = small_run(out);
  vkl_train_result r;
  char err[512];
  vkl_status st = vkl_train(ctx, &c, &r, err, sizeof err);
  cr_assert_eq(st, VKL_OK, "%s", err);
  cr_assert_eq(r.steps, 4 * (1536 / 128));
  /* ln 4 = 1.386 at chance; the classes are learnable patterns */
  cr_assert_lt(r.last.train_loss, 0.5, "train loss %g", r.last.train_loss);
  cr_assert_gt(r.last.test_top1, 0.9, "test top-1 %g", r.last.test_top1);
  /* every test image is evaluated: the last partial batch is padded */
  vkl_dataset *test;
  cr_assert_eq(
      vkl_dataset_open("synthetic", VKL_SPLIT_TEST, c.data_options, &test, err, sizeof err), VKL_OK,
      "%s", err);
  uint64_t test_count = vkl_dataset_get_info(test)->count;
  vkl_dataset_destroy(test);
  cr_assert_eq(r.last.test_images, test_count);
  char path[400];
  struct stat sb;
  const char *files[] = {"run.json", "epochs.csv", "steps.csv", "layers.csv"};
  for (int i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "%s/%s", out, files[i]);
    cr_assert_eq(stat(path, &sb), 0, "%s missing", path);
    cr_assert_gt(sb.st_size, 40, "%s empty", path);
  }
  /* the same directory again is refused: a finished run is never overwritten */
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "already holds a run"), "%s", err);
  test_ctx_destroy(ctx);
}

Test(train, same_seed_same_run) {
  vkl_ctx *ctx = test_ctx_create();
  vkl_train_config c = small_run(NULL);
  c.epochs = 1;
  c.loader_threads = 2;
  vkl_train_result a, b;
  char err[512];
  cr_assert_eq(vkl_train(ctx, &c, &a, err, sizeof err), VKL_OK, "%s", err);
  c.loader_threads = 1; /* the thread count must not matter */
  cr_assert_eq(vkl_train(ctx, &c, &b, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(a.last.test_loss, b.last.test_loss, "%.9g vs %.9g", a.last.test_loss,
               b.last.test_loss);
  cr_assert_eq(a.last.train_loss, b.last.train_loss);
  test_ctx_destroy(ctx);
}

Test(train, auto_micro_batch_picks_a_divisor_that_fits) {
  vkl_ctx *ctx = test_ctx_create();
  vkl_train_config c = small_run(NULL);
  c.micro_batch = 0; /* auto */
  c.max_steps = 1;
  vkl_train_result r;
  char err[512];
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_OK, "%s", err);
  /* a 12x12 CNN fits whole: the largest divisor of 128 is 128 itself */
  cr_assert_eq(r.micro_batch, 128);
  cr_assert_eq(r.steps, 1);
  test_ctx_destroy(ctx);
}

Test(train, refuses_bad_settings) {
  vkl_ctx *ctx = test_ctx_create();
  vkl_train_config c = small_run(NULL);
  vkl_train_result r;
  char err[512];
  c.micro_batch = 48; /* does not divide 128 */
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "must divide"), "%s", err);
  c = small_run(NULL);
  c.optim.momentum = 2;
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "momentum"), "%s", err);
  c = small_run(NULL);
  c.model = "vgg";
  cr_assert_neq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_OK);
  cr_assert(strstr(err, "unknown model 'vgg'"), "%s", err);
  c = small_run(NULL);
  c.batch = 4096; /* more than the 1536 images */
  c.micro_batch = 32;
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "larger than"), "%s", err);
  test_ctx_destroy(ctx);
}

/* ResNet-18 on the device: each tensor's gradient against a central finite
 * difference of the loss along that gradient's direction, for tensors
 * before, inside and after residual joins (a missed accumulation at a join
 * shows as an O(1) error). Single elements are too weak a signal for float
 * forward passes through 20 layers; along its own direction a tensor's
 * loss changes by 2*eps*||g||. Measured, the difference converges to ||g||
 * as eps shrinks (conv1: 15.06, 15.77, 16.08 at eps 1e-2, 3e-3, 1e-3
 * against 16.24): eps = 1e-3 leaves under 1% of truncation error, and the
 * 2% tolerance is far below the O(1) error of a wrong join. */
Test(train, resnet18_gradients_match_finite_differences) {
  test_dev d = test_dev_create(1 << 20);
  vkl_model_config mc = {.in_c = 3, .in_h = 12, .in_w = 12, .classes = 5};
  vkl_model *model;
  char err[256];
  cr_assert_eq(vkl_model_build("resnet18", &mc, &model, err, sizeof err), VKL_OK, "%s", err);
  const uint32_t m = 4, in = 3 * 12 * 12;
  clf net = clf_create(d.ctx, model, m);
  float *p = malloc(model->param_floats * 4), *b = malloc(model->buffer_floats * 4);
  float *g = malloc(model->param_floats * 4), *q = malloc(model->param_floats * 4);
  vkl_model_init(model, 11, p, b);
  test_rng rng = {4};
  float x[4 * 3 * 12 * 12];
  uint32_t y[4] = {0, 3, 1, 4};
  for (uint32_t i = 0; i < m * in; i++) x[i] = test_rng_float(&rng);
  feed(d.ctx, net, x, y, in, 0, m);
  TEST_OK(d.ctx, vkl_net_upload_state(net.net, p, b));
  run_train(d.ctx, net, d.cmd, 1, 1.0f / m);
  TEST_OK(d.ctx, vkl_download(d.ctx, g, vkl_net_grads(net.net), model->param_floats * 4));
  const char *names[] = {"conv1.weight",
                         "layer1.0.bn2.bias",
                         "layer1.1.conv1.weight",
                         "layer2.0.downsample.1.weight",
                         "layer3.0.conv2.weight",
                         "layer4.1.bn2.weight",
                         "fc.weight",
                         "fc.bias"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    const nn_tensor *t = NULL;
    for (uint32_t i = 0; i < model->param_count; i++)
      if (strcmp(model->params[i].name, names[k]) == 0) t = &model->params[i];
    cr_assert(t, "%s", names[k]);
    double gn = 0;
    for (uint64_t i = 0; i < t->count; i++) gn += (double)g[t->offset + i] * g[t->offset + i];
    gn = sqrt(gn);
    cr_assert_gt(gn, 0, "%s has a zero gradient", names[k]);
    const double eps = 1e-3;
    float loss[2];
    for (int s = 0; s < 2; s++) {
      memcpy(q, p, model->param_floats * 4);
      for (uint64_t i = 0; i < t->count; i++)
        q[t->offset + i] += (float)((s ? -eps : eps) * g[t->offset + i] / gn);
      TEST_OK(d.ctx, vkl_net_upload_state(net.net, q, b));
      run_train(d.ctx, net, d.cmd, 1, 1.0f / m);
      TEST_OK(d.ctx, vkl_download(d.ctx, &loss[s], vkl_xent_loss_sum(net.loss), 4));
    }
    double fd = ((double)loss[0] - loss[1]) / (2.0 * eps) / m; /* of the mean loss */
    cr_assert(fabs(fd - gn) <= 0.02 * gn, "%s: ||g|| %g, finite difference along g %g", names[k],
              gn, fd);
  }
  free(p), free(b), free(g), free(q);
  clf_destroy(net);
  vkl_model_destroy(model);
  test_dev_destroy(&d);
}

/* The run directory's checkpoint restarts training (--init) and evaluates
 * to the run's own last test metrics. */
Test(train, checkpoint_init_and_eval) {
  vkl_ctx *ctx = test_ctx_create();
  char dir[] = "/tmp/vklars-init-XXXXXX";
  cr_assert(mkdtemp(dir));
  char out[300], ckpt[340];
  snprintf(out, sizeof out, "%s/run", dir);
  snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out);
  vkl_train_config c = small_run(out);
  c.epochs = 1;
  vkl_train_result r;
  char err[512];
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_OK, "%s", err);
  /* an inference net of the same micro-batch sums in the same order: bit-identical */
  vkl_data_options data = *c.data_options;
  data.seed = c.seed;
  vkl_eval_config ev = {.checkpoint = ckpt,
                        .data = "synthetic",
                        .data_options = &data,
                        .micro_batch = c.micro_batch,
                        .loader_threads = 1};
  vkl_eval_report e;
  cr_assert_eq(vkl_eval_checkpoint(ctx, &ev, &e, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(e.result.images, r.last.test_images);
  cr_assert_eq(e.result.loss, r.last.test_loss, "%.9g vs %.9g", e.result.loss, r.last.test_loss);
  cr_assert_eq(e.result.top1, r.last.test_top1);
  cr_assert_eq(e.result.top5, r.last.test_top5);
  cr_assert_eq(e.micro_batch, c.micro_batch);
  /* another batch size (a partial last batch): the same counts, the loss to rounding */
  ev.micro_batch = 7;
  cr_assert_eq(vkl_eval_checkpoint(ctx, &ev, &e, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(e.result.images, r.last.test_images);
  cr_assert_eq(e.result.top1, r.last.test_top1);
  cr_assert(fabs(e.result.loss - r.last.test_loss) <= 1e-5 * fabs(r.last.test_loss), "%.9g vs %.9g",
            e.result.loss, r.last.test_loss);
  /* starting from it, a second epoch goes on learning */
  vkl_train_config again = small_run(NULL);
  again.epochs = 1;
  again.init_checkpoint = ckpt;
  vkl_train_result a;
  cr_assert_eq(vkl_train(ctx, &again, &a, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_lt(a.last.train_loss, r.last.train_loss);
  test_ctx_destroy(ctx);
}

/* A blown-up run (lr 1e10): the first huge update leaves finite weights
 * whose activations overflow, so batch norm's running variance goes inf
 * while the gradients may stay finite. Such steps are non-finite, dropped,
 * and roll batch norm's statistics back: with --on-nonfinite skip the epoch
 * still checkpoints (it used to be refused as holding inf), and with stop
 * the run ends naming the step and saves the last finite state. */
static vkl_train_config blown_up_run(const char *out, int skip) {
  static vkl_data_options data = {
      .channels = 1, .height = 10, .width = 10, .count = 256, .classes = 4};
  vkl_train_config c = small_run(out);
  c.data_options = &data;
  c.model_width = 4;
  c.optim = vkl_optim_defaults(VKL_OPT_SGD);
  c.optim.momentum = 0;
  c.optim.lr = 1e10;
  c.batch = c.micro_batch = 32;
  c.epochs = 1;
  c.skip_nonfinite = skip;
  return c;
}

/* Every tensor of the checkpoint is finite. */
static void expect_finite_checkpoint(const char *path) {
  vkl_model_config mc = {.in_c = 1, .in_h = 10, .in_w = 10, .classes = 4, .width = 4};
  vkl_model *m;
  char err[1024];
  cr_assert_eq(vkl_model_build("cnn", &mc, &m, err, sizeof err), VKL_OK, "%s", err);
  float *p = calloc(m->param_floats, 4), *b = calloc(m->buffer_floats, 4);
  cr_assert_eq(vkl_checkpoint_load(path, m, p, b, err, sizeof err), VKL_OK, "%s", err);
  for (uint64_t i = 0; i < m->param_floats; i++)
    cr_assert(isfinite(p[i]), "weight %llu", (unsigned long long)i);
  for (uint64_t i = 0; i < m->buffer_floats; i++)
    cr_assert(isfinite(b[i]), "buffer %llu", (unsigned long long)i);
  free(p);
  free(b);
  vkl_model_destroy(m);
}

Test(train, nonfinite_steps_roll_back_batch_norm) {
  vkl_ctx *ctx = test_ctx_create();
  char dir[] = "/tmp/vklars-nonfinite-XXXXXX";
  cr_assert(mkdtemp(dir));
  char out[300], link[340], err[4096];
  vkl_train_result r;
  /* skip: the epoch's checkpoint is written, finite */
  snprintf(out, sizeof out, "%s/skip", dir);
  vkl_train_config c = blown_up_run(out, 1);
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_gt(r.last.nonfinite_steps, 0);
  snprintf(link, sizeof link, "%s/checkpoint.safetensors", out);
  expect_finite_checkpoint(link);
  /* stop: the error names the step and where the last finite state went */
  snprintf(out, sizeof out, "%s/stop", dir);
  c = blown_up_run(out, 0);
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_ERR_FORMAT, "%s", err);
  cr_assert(strstr(err, "went non-finite") && strstr(err, "The last finite state is saved in "),
            "%s", err);
  cr_assert(r.checkpoint[0], "no checkpoint: %s", err);
  expect_finite_checkpoint(r.checkpoint);
  vkl_checkpoint_meta *meta = malloc(sizeof *meta);
  cr_assert_eq(vkl_checkpoint_read_meta(r.checkpoint, meta, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(meta->step, r.steps, "saved at step %llu, the run stopped at %llu",
               (unsigned long long)meta->step, (unsigned long long)r.steps);
  free(meta);
  test_ctx_destroy(ctx);
}
