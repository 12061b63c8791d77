/* Never lose a run: full-state checkpoints, bit-exact resume (at an epoch's
 * end and mid-epoch), --save-every/--keep, a stop request (what SIGINT
 * does), out of device memory naming a micro-batch that fits, and a lost
 * device naming the last checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"
#include "nn/net.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

static vkl_data_options data = {
    .channels = 1, .height = 10, .width = 10, .count = 384, .classes = 4};

/* A cnn with batch norm (running statistics are state too), 12 steps per
 * epoch of 4 micro-batches. */
static vkl_train_config run_config(const char *out, vkl_opt_kind opt) {
  vkl_train_config c;
  memset(&c, 0, sizeof c);
  c.data = "synthetic";
  c.data_options = &data;
  c.model = "cnn";
  c.model_width = 4;
  c.optim = vkl_optim_defaults(opt);
  c.optim.lr = opt == VKL_OPT_LAMB ? 0.01 : 0.5;
  c.optim.weight_decay = 1e-4;
  c.sched = VKL_SCHED_COSINE; /* lr depends on the step: a wrong step shows */
  c.batch = 32;
  c.micro_batch = 8;
  c.epochs = 2;
  c.seed = 11;
  c.loader_threads = 1; /* augmentation on: its randomness must resume too */
  c.out_dir = out;
  c.keep = 0;
  return c;
}

static char *temp_dir(void) {
  char *dir = strdup("/tmp/vklars-resume-XXXXXX");
  cr_assert(mkdtemp(dir));
  return dir;
}

static void path_in(char *buf, size_t n, const char *dir, const char *name) {
  snprintf(buf, n, "%s/%s", dir, name);
}

static void train_ok(vkl_ctx *ctx, const vkl_train_config *c, vkl_train_result *r) {
  char err[2048];
  vkl_status st = vkl_train(ctx, c, r, err, sizeof err);
  cr_assert_eq(st, VKL_OK, "%s: %s", vkl_status_str(st), err);
}

/* Every tensor of two checkpoints (weights, batch-norm buffers, optimizer
 * state) must be bit-identical. */
static void assert_same_state(const char *a, const char *b, vkl_opt_kind opt) {
  vkl_checkpoint_meta *ma = calloc(1, sizeof *ma), *mb = calloc(1, sizeof *mb);
  char err[512];
  cr_assert_eq(vkl_checkpoint_read_meta(a, ma, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(vkl_checkpoint_read_meta(b, mb, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(ma->step, mb->step);
  vkl_model_config mc = {.in_c = ma->in_c,
                         .in_h = ma->in_h,
                         .in_w = ma->in_w,
                         .classes = ma->classes,
                         .width = ma->width};
  vkl_model *m;
  cr_assert_eq(vkl_model_build(ma->model, &mc, &m, err, sizeof err), VKL_OK, "%s", err);
  vkl_checkpoint_state s[2];
  for (int k = 0; k < 2; k++) {
    memset(&s[k], 0, sizeof s[k]);
    vkl_checkpoint_moment_names(opt, s[k].moment_names);
    s[k].params = calloc(m->param_floats, 4);
    s[k].buffers = calloc(m->buffer_floats + 1, 4);
    s[k].moments[0] = calloc(m->param_floats, 4);
    s[k].moments[1] = s[k].moment_names[1] ? calloc(m->param_floats, 4) : NULL;
    cr_assert_eq(vkl_checkpoint_load_state(k ? b : a, m, &s[k], err, sizeof err), VKL_OK, "%s",
                 err);
  }
  for (uint32_t i = 0; i < m->param_count; i++) {
    const nn_tensor *t = &m->params[i];
    cr_assert(memcmp(s[0].params + t->offset, s[1].params + t->offset, t->count * 4) == 0,
              "%s differs", t->name);
    cr_assert(memcmp(s[0].moments[0] + t->offset, s[1].moments[0] + t->offset, t->count * 4) == 0,
              "optimizer state of %s differs", t->name);
    if (s[0].moments[1])
      cr_assert(memcmp(s[0].moments[1] + t->offset, s[1].moments[1] + t->offset, t->count * 4) == 0,
                "second moment of %s differs", t->name);
  }
  for (uint32_t i = 0; i < m->buffer_count; i++) {
    const nn_tensor *t = &m->buffers[i];
    cr_assert(memcmp(s[0].buffers + t->offset, s[1].buffers + t->offset, t->count * 4) == 0,
              "%s differs", t->name);
  }
  /* the state moved: a run that did nothing would pass the checks above */
  float *init = calloc(m->param_floats, 4), *binit = calloc(m->buffer_floats + 1, 4);
  vkl_model_init(m, 11, init, binit);
  cr_assert(memcmp(init, s[0].params, m->param_floats * 4) != 0);
  free(init);
  free(binit);
  for (int k = 0; k < 2; k++) {
    free(s[k].params);
    free(s[k].buffers);
    free(s[k].moments[0]);
    free(s[k].moments[1]);
  }
  vkl_model_destroy(m);
  free(ma);
  free(mb);
}

static void resume_after_one_epoch(vkl_opt_kind opt) {
  vkl_ctx *ctx = test_ctx_create();
  char *straight = temp_dir(), *split = temp_dir();
  vkl_train_result r;
  vkl_train_config c = run_config(straight, opt);
  train_ok(ctx, &c, &r);
  cr_assert_eq(r.steps, 24);

  c = run_config(split, opt);
  c.max_steps = 12; /* one epoch, as if the run had stopped there */
  train_ok(ctx, &c, &r);
  cr_assert_eq(r.epoch, 1);
  cr_assert_eq(r.epoch_step, 0);
  char ckpt[1100];
  vkl_checkpoint_path(split, 12, ckpt, sizeof ckpt);
  cr_assert_str_eq(r.checkpoint, ckpt);
  c = run_config(split, opt);
  c.resume = ckpt;
  train_ok(ctx, &c, &r);
  cr_assert_eq(r.steps, 24);

  char a[1100], b[1100];
  vkl_checkpoint_path(straight, 24, a, sizeof a);
  vkl_checkpoint_path(split, 24, b, sizeof b);
  assert_same_state(a, b, opt);
  test_ctx_destroy(ctx);
  free(straight);
  free(split);
}

Test(resume, one_epoch_plus_one_equals_two_lars) {
  resume_after_one_epoch(VKL_OPT_LARS);
}

Test(resume, one_epoch_plus_one_equals_two_lamb) {
  resume_after_one_epoch(VKL_OPT_LAMB);
}

/* The stop request SIGINT raises, seen from the trainer: set after step 5. */
typedef struct stopper {
  volatile sig_atomic_t flag;
  uint64_t at;
} stopper;

static void stop_at(void *user, const vkl_train_progress *p) {
  stopper *s = user;
  if (p->step >= s->at) s->flag = 1;
}

Test(resume, interrupted_mid_epoch_resumes_bit_exact) {
  vkl_ctx *ctx = test_ctx_create();
  char *straight = temp_dir(), *split = temp_dir();
  vkl_train_result r;
  vkl_train_config c = run_config(straight, VKL_OPT_TVLARS);
  c.optim.tv_delay_steps = 0;
  c.sched = VKL_SCHED_CONSTANT;
  train_ok(ctx, &c, &r);

  c.out_dir = split;
  stopper s = {0, 17};
  c.stop = &s.flag;
  c.on_progress = stop_at;
  c.user = &s;
  char err[2048];
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_ERR_INTERRUPTED, "%s", err);
  cr_assert_eq(r.steps, 17, "the step in flight is finished, no more");
  cr_assert_eq(r.epoch, 1);
  cr_assert_eq(r.epoch_step, 5);
  cr_assert(strstr(err, "interrupted at step 17") && strstr(err, "ckpt-step17.safetensors"), "%s",
            err);
  vkl_checkpoint_meta *meta = calloc(1, sizeof *meta);
  cr_assert_eq(vkl_checkpoint_read_meta(r.checkpoint, meta, err, sizeof err), VKL_OK, "%s", err);
  cr_assert(meta->step == 17 && meta->epoch == 1 && meta->epoch_step == 5 && meta->seed == 11);
  cr_assert_str_eq(meta->optimizer, "tvlars");
  free(meta);

  char ckpt[1100];
  snprintf(ckpt, sizeof ckpt, "%s", r.checkpoint);
  c.stop = NULL;
  c.on_progress = NULL;
  c.resume = ckpt;
  train_ok(ctx, &c, &r);
  cr_assert_eq(r.steps, 24);
  char a[1100], b[1100];
  vkl_checkpoint_path(straight, 24, a, sizeof a);
  vkl_checkpoint_path(split, 24, b, sizeof b);
  assert_same_state(a, b, VKL_OPT_TVLARS);

  /* the logs read as one run: every step once, in order */
  char steps[1100];
  path_in(steps, sizeof steps, split, "steps.csv");
  FILE *f = fopen(steps, "r");
  char line[512];
  long expect = -1;
  while (fgets(line, sizeof line, f)) {
    if (expect >= 0) cr_assert_eq(atol(line), expect, "steps.csv: %s", line);
    expect++;
  }
  fclose(f);
  cr_assert_eq(expect, 24);
  test_ctx_destroy(ctx);
  free(straight);
  free(split);
}

static void stop_in_eval(void *user, uint32_t epoch, uint64_t done, uint64_t total) {
  (void)done, (void)total;
  stopper *s = user;
  if (epoch >= s->at) s->flag = 1;
}

/* The test columns of epochs.csv's row for epoch e (loss, top-1, top-5, images). */
static void test_columns(const char *dir, uint32_t e, char *out, size_t n) {
  char path[1100], line[512];
  path_in(path, sizeof path, dir, "epochs.csv");
  FILE *f = fopen(path, "r");
  cr_assert(f, "%s", path);
  int rows = 0;
  out[0] = '\0';
  while (fgets(line, sizeof line, f)) {
    char *comma = strchr(line, ',');
    if (rows++ == 0 || !comma || (uint32_t)atol(line) != e) continue;
    cr_assert_eq(out[0], '\0', "epoch %u logged twice", e);
    /* epoch,train_loss,train_top1,test_loss,test_top1,test_top5,test_images,... */
    char *p = line;
    for (int k = 0; k < 3; k++) p = strchr(p, ',') + 1;
    char *q = p;
    for (int k = 0; k < 4; k++) q = strchr(q, ',') + 1;
    snprintf(out, n, "%.*s", (int)(q - p), p);
  }
  fclose(f);
  cr_assert(out[0], "epoch %u not in %s", e, path);
}

/* A stop during an epoch's evaluation ends at once (it used to wait out the
 * whole evaluation): the checkpoint holds the trained epoch with its
 * evaluation pending, and the resumed run evaluates it first, logs it once,
 * and ends bit-identical to a run never interrupted. */
Test(resume, interrupted_evaluation_runs_again_on_resuming) {
  vkl_ctx *ctx = test_ctx_create();
  char *straight = temp_dir(), *split = temp_dir();
  vkl_train_result r;
  vkl_train_config c = run_config(straight, VKL_OPT_LARS);
  train_ok(ctx, &c, &r);

  c.out_dir = split;
  stopper s = {0, 0}; /* in epoch 0's evaluation */
  c.stop = &s.flag;
  c.on_eval_progress = stop_in_eval;
  c.user = &s;
  char err[2048];
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_ERR_INTERRUPTED, "%s", err);
  cr_assert(strstr(err, "during epoch 1's evaluation"), "%s", err);
  cr_assert_eq(r.steps, 12);
  vkl_checkpoint_meta *meta = calloc(1, sizeof *meta);
  cr_assert_eq(vkl_checkpoint_read_meta(r.checkpoint, meta, err, sizeof err), VKL_OK, "%s", err);
  cr_assert(meta->eval_pending && meta->epoch == 0 && meta->epoch_step == 12,
            "pending %d, epoch %u, step %llu in it", meta->eval_pending, meta->epoch,
            (unsigned long long)meta->epoch_step);
  free(meta);
  char line[512];
  path_in(line, sizeof line, split, "epochs.csv");
  FILE *f = fopen(line, "r");
  int rows = 0;
  while (f && fgets(line, sizeof line, f)) rows++;
  if (f) fclose(f);
  cr_assert_eq(rows, 1, "an epoch row was written for an unfinished evaluation");

  char ckpt[1100];
  snprintf(ckpt, sizeof ckpt, "%s", r.checkpoint);
  c.stop = NULL;
  c.on_eval_progress = NULL;
  c.resume = ckpt;
  train_ok(ctx, &c, &r);
  cr_assert_eq(r.steps, 24);
  char a[1100], b[1100];
  vkl_checkpoint_path(straight, 24, a, sizeof a);
  vkl_checkpoint_path(split, 24, b, sizeof b);
  assert_same_state(a, b, VKL_OPT_LARS);
  for (uint32_t e = 0; e < 2; e++) {
    test_columns(straight, e, a, sizeof a);
    test_columns(split, e, b, sizeof b);
    cr_assert_str_eq(b, a, "epoch %u's evaluation", e);
  }
  test_ctx_destroy(ctx);
  free(straight);
  free(split);
}

Test(resume, save_every_and_keep) {
  vkl_ctx *ctx = test_ctx_create();
  char *dir = temp_dir();
  vkl_train_config c = run_config(dir, VKL_OPT_SGD);
  c.save_every = 5;
  c.keep = 2;
  vkl_train_result r;
  train_ok(ctx, &c, &r);
  /* saves at 5, 10, 15, 20 and the end (24): the newest two stay */
  uint64_t *steps;
  size_t n;
  char err[512];
  cr_assert_eq(vkl_checkpoint_list(dir, &steps, &n, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(n, 2);
  cr_assert(steps[0] == 24 && steps[1] == 20, "kept %llu, %llu", (unsigned long long)steps[0],
            (unsigned long long)steps[1]);
  free(steps);
  char link[1100], target[256];
  path_in(link, sizeof link, dir, "checkpoint.safetensors");
  ssize_t len = readlink(link, target, sizeof target - 1);
  cr_assert(len > 0);
  target[len] = '\0';
  cr_assert_str_eq(target, "ckpt-step24.safetensors");

  /* end only: one checkpoint, at the end */
  char *dir2 = temp_dir();
  c = run_config(dir2, VKL_OPT_SGD);
  c.save_at_end = 1;
  train_ok(ctx, &c, &r);
  cr_assert_eq(vkl_checkpoint_list(dir2, &steps, &n, err, sizeof err), VKL_OK, "%s", err);
  cr_assert(n == 1 && steps[0] == 24);
  free(steps);
  test_ctx_destroy(ctx);
  free(dir);
  free(dir2);
}

Test(resume, refuses_another_optimizer_or_model) {
  vkl_ctx *ctx = test_ctx_create();
  char *dir = temp_dir();
  vkl_train_config c = run_config(dir, VKL_OPT_SGD);
  c.max_steps = 3;
  vkl_train_result r;
  train_ok(ctx, &c, &r);
  char ckpt[1100], err[2048];
  snprintf(ckpt, sizeof ckpt, "%s", r.checkpoint);
  c = run_config(dir, VKL_OPT_LAMB);
  c.resume = ckpt;
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "sgd optimizer state") && strstr(err, "lamb"), "%s", err);
  c = run_config(dir, VKL_OPT_SGD);
  c.model = "mlp";
  c.resume = ckpt;
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "holds a cnn, not a mlp"), "%s", err);
  c = run_config(dir, VKL_OPT_SGD);
  c.batch = 64; /* positions count in global batches */
  c.micro_batch = 8;
  c.resume = ckpt;
  c.max_steps = 0;
  c.epochs = 2;
  vkl_status st = vkl_train(ctx, &c, &r, err, sizeof err);
  cr_assert_eq(st, VKL_ERR_INVALID_ARGUMENT, "%s", err);
  cr_assert(strstr(err, "trained with --batch 32"), "%s", err);
  test_ctx_destroy(ctx);
  free(dir);
}

Test(resume, out_of_device_memory_names_a_micro_batch_that_fits) {
  /* a device with 90% of what the net for m = 32 needs */
  vkl_model_config mc = {.in_c = 1, .in_h = 10, .in_w = 10, .classes = 4, .width = 4};
  vkl_model *m;
  char err[2048];
  cr_assert_eq(vkl_model_build("cnn", &mc, &m, err, sizeof err), VKL_OK, "%s", err);
  uint64_t need, largest;
  vkl_net_estimate(m, 32, &need, &largest);
  vkl_model_destroy(m);
  vkl_ctx_config cfg = {.validation = VKLARS_TEST_VALIDATION,
                        .on_validation = test_on_validation,
                        .device_memory_limit = need / 10 * 9};
  vkl_ctx *ctx = NULL;
  cr_assert_eq(vkl_ctx_create(&cfg, &ctx), VKL_OK, "%s", vkl_ctx_errmsg(ctx));
  vkl_train_config c = run_config(NULL, VKL_OPT_SGD);
  vkl_train_result r;
  c.max_steps = 1;
  c.batch = c.micro_batch = 32;
  vkl_status st = vkl_train(ctx, &c, &r, err, sizeof err);
  cr_assert_eq(st, VKL_ERR_OUT_OF_DEVICE_MEMORY, "%s: %s", vkl_status_str(st), err);
  const char *hint = strstr(err, "--micro-batch ");
  cr_assert(hint, "no micro-batch named: %s", err);
  unsigned fit = (unsigned)atoi(hint + strlen("--micro-batch "));
  cr_assert(fit >= 2 && fit < 32 && 32 % fit == 0, "%s", err);
  c.micro_batch = fit; /* and the one named does fit */
  train_ok(ctx, &c, &r);
  test_ctx_destroy(ctx);
}

Test(resume, lost_device_names_the_last_checkpoint) {
  char *dir = temp_dir();
  vkl_train_config c = run_config(dir, VKL_OPT_SGD);
  c.save_every = 4;
  vkl_train_result r;
  char err[2048];
  /* early: nothing saved yet */
  setenv("VKLARS_FAULT_DEVICE_LOST", "5", 1);
  vkl_ctx *ctx = test_ctx_create();
  vkl_status st = vkl_train(ctx, &c, &r, err, sizeof err);
  cr_assert_eq(st, VKL_ERR_DEVICE_LOST, "%s: %s", vkl_status_str(st), err);
  cr_assert(strstr(err, "no checkpoint was written yet"), "%s", err);
  test_ctx_destroy(ctx);
  /* later: ~9 submits a step (4 copies, 4 micro-steps, the step), so the
   * 120th falls after the checkpoint of step 4 and before the end */
  char *dir2 = temp_dir();
  setenv("VKLARS_FAULT_DEVICE_LOST", "120", 1);
  ctx = test_ctx_create();
  unsetenv("VKLARS_FAULT_DEVICE_LOST");
  c.out_dir = dir2;
  st = vkl_train(ctx, &c, &r, err, sizeof err);
  cr_assert_eq(st, VKL_ERR_DEVICE_LOST, "%s: %s", vkl_status_str(st), err);
  char prefix[1100];
  snprintf(prefix, sizeof prefix, "the last checkpoint is %s/ckpt-step", dir2);
  const char *named = strstr(err, prefix);
  cr_assert(named && strstr(err, "VK_ERROR_DEVICE_LOST") && strstr(err, "--resume"), "%s", err);
  test_ctx_destroy(ctx);
  /* and it is there and continues the run */
  char ckpt[1100];
  snprintf(ckpt, sizeof ckpt, "%s", named + strlen("the last checkpoint is "));
  *strchr(ckpt, ' ') = '\0';
  ctx = test_ctx_create();
  c.resume = ckpt;
  train_ok(ctx, &c, &r);
  cr_assert_eq(r.steps, 24);
  test_ctx_destroy(ctx);
  free(dir);
  free(dir2);
}

/* A step whose update itself overflows (finite norms, so it was applied:
 * lr 3e38 with weight decay 10) leaves non-finite weights that cannot be
 * dropped: the run stops, that state is never written, and the last good
 * checkpoint stays the newest, whole and finite. */
Test(resume, a_nan_state_never_replaces_a_good_checkpoint) {
  vkl_ctx *ctx = test_ctx_create();
  char *dir = temp_dir();
  vkl_train_config c = run_config(dir, VKL_OPT_SGD);
  c.epochs = 1;
  vkl_train_result r;
  train_ok(ctx, &c, &r);
  char good[1100], link[1100], err[4096];
  snprintf(good, sizeof good, "%s", r.checkpoint);
  c.resume = good;
  c.epochs = 2;
  c.optim.lr = 3e38;
  c.optim.momentum = 0;
  c.optim.weight_decay = 10;
  c.sched = VKL_SCHED_CONSTANT;
  c.skip_nonfinite = 1;
  c.save_every = 1;
  vkl_status st = vkl_train(ctx, &c, &r, err, sizeof err);
  cr_assert_eq(st, VKL_ERR_FORMAT, "%s: %s", vkl_status_str(st), err);
  cr_assert(strstr(err, "made the weights non-finite"), "%s", err);
  cr_assert(strstr(err, "holds NaN or inf, so no checkpoint was written"), "%s", err);
  uint64_t *steps;
  size_t n;
  cr_assert_eq(vkl_checkpoint_list(dir, &steps, &n, err, sizeof err), VKL_OK, "%s", err);
  cr_assert(n >= 1);
  char newest[1100];
  vkl_checkpoint_path(dir, steps[0], newest, sizeof newest);
  cr_assert_str_eq(newest, good);
  free(steps);
  /* the newest (and the link) load, and hold only finite numbers */
  path_in(link, sizeof link, dir, "checkpoint.safetensors");
  vkl_model_config mc = {.in_c = 1, .in_h = 10, .in_w = 10, .classes = 4, .width = 4};
  vkl_model *m;
  cr_assert_eq(vkl_model_build("cnn", &mc, &m, err, sizeof err), VKL_OK, "%s", err);
  float *p = calloc(m->param_floats, 4), *b = calloc(m->buffer_floats, 4);
  cr_assert_eq(vkl_checkpoint_load(link, m, p, b, err, sizeof err), VKL_OK, "%s", err);
  for (uint64_t i = 0; i < m->param_floats; i++) cr_assert(isfinite(p[i]));
  for (uint64_t i = 0; i < m->buffer_floats; i++) cr_assert(isfinite(b[i]));
  free(p);
  free(b);
  vkl_model_destroy(m);
  test_ctx_destroy(ctx);
  free(dir);
}
