/* A model on the device (nn/net.c): out-of-memory messages that keep their
 * reason and blame the right arena, the micro-batch rules (batch norm's two
 * samples only for models that have it) and inference nets (no gradients,
 * the same evaluation as a training net). */
#include "nn/classify.h"
#include "test_util.h"

static vkl_model *build(const char *name, uint32_t width) {
  vkl_model_config mc = {.in_c = 1, .in_h = 8, .in_w = 8, .classes = 5, .width = width};
  vkl_model *m;
  char err[512];
  cr_assert_eq(vkl_model_build(name, &mc, &m, err, sizeof err), VKL_OK, "%s", err);
  return m;
}

static vkl_ctx *ctx_with_limit(uint64_t limit) {
  vkl_ctx_config cfg = {.validation = VKLARS_TEST_VALIDATION,
                        .on_validation = test_on_validation,
                        .device_memory_limit = limit};
  vkl_ctx *ctx = NULL;
  cr_assert_eq(vkl_ctx_create(&cfg, &ctx), VKL_OK, "%s", vkl_ctx_errmsg(ctx));
  return ctx;
}

/* The arena's own reason ("arena 'parameters': cannot allocate ...") stays at
 * the front of the message (it used to be formatted into itself, undefined
 * behaviour that garbled it), and the blame goes to what did not fit. */
Test(nn_net, out_of_memory_keeps_the_reason_and_names_the_arena) {
  vkl_model *m = build("cnn", 64);
  uint64_t bytes, largest;
  vkl_net_estimate(m, 64, &bytes, &largest);
  uint64_t params = m->param_floats * 4;
  const struct {
    uint64_t limit;
    const char *reason, *blame, *not_blamed;
  } cases[] = {
      {params, "arena 'parameters': cannot allocate", "for its parameters, their gradients",
       "activations"},
      {bytes - 4096, "arena 'activations': cannot allocate", "at micro-batch 64 needs", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    vkl_ctx *ctx = ctx_with_limit(cases[i].limit);
    vkl_net_config nc = {.micro_batch = 64};
    vkl_net *net = NULL;
    cr_assert_eq(vkl_net_create(ctx, m, &nc, &net), VKL_ERR_OUT_OF_DEVICE_MEMORY);
    const char *msg = vkl_ctx_errmsg(ctx);
    cr_assert(strncmp(msg, cases[i].reason, strlen(cases[i].reason)) == 0, "the reason is lost: %s",
              msg);
    cr_assert(strstr(msg, "of the ") && strstr(msg, " MiB limit)"), "%s", msg);
    cr_assert(strstr(msg, cases[i].blame), "%s", msg);
    if (cases[i].not_blamed) cr_assert(!strstr(msg, cases[i].not_blamed), "%s", msg);
    test_ctx_destroy(ctx);
  }
  vkl_model_destroy(m);
}

/* Batch norm's statistics need two samples; an mlp has none and trains with one. */
Test(nn_net, micro_batch_one_only_without_batch_norm) {
  vkl_ctx *ctx = test_ctx_create();
  vkl_model *mlp = build("mlp", 16), *cnn = build("cnn", 4);
  vkl_net_config nc = {.micro_batch = 1};
  vkl_net *net = NULL;
  TEST_OK(ctx, vkl_net_create(ctx, mlp, &nc, &net));
  vkl_cmd *cmd;
  TEST_OK(ctx, vkl_cmd_create(ctx, &cmd));
  TEST_OK(ctx, vkl_cmd_begin(cmd));
  vkl_xent_loss_config lc = {.micro_batch = 1, .classes = mlp->classes};
  vkl_xent_loss *loss;
  TEST_OK(ctx, vkl_xent_loss_create(ctx, &lc, &loss));
  TEST_OK(ctx, vkl_classify_record_train(cmd, net, loss, 1, 1.0f));
  TEST_OK(ctx, vkl_cmd_end(cmd));
  vkl_xent_loss_destroy(loss);
  vkl_net_destroy(net);
  net = NULL;
  cr_assert_eq(vkl_net_create(ctx, cnn, &nc, &net), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(ctx), "batch norm") && strstr(vkl_ctx_errmsg(ctx), "at least 2"),
            "%s", vkl_ctx_errmsg(ctx));
  nc.inference = 1; /* evaluation uses running statistics: one sample is fine */
  TEST_OK(ctx, vkl_net_create(ctx, cnn, &nc, &net));
  vkl_net_destroy(net);
  vkl_cmd_destroy(cmd);
  vkl_model_destroy(mlp);
  vkl_model_destroy(cnn);
  test_ctx_destroy(ctx);
}

/* An inference net holds no gradients, takes less memory than the estimate of a
 * training net, refuses a training step, and evaluates exactly as a training net. */
Test(nn_net, inference_net_evaluates_like_a_training_net) {
  vkl_ctx *ctx = test_ctx_create();
  vkl_model *m = build("cnn", 8);
  const uint32_t mb = 6;
  vkl_net_config tc = {.micro_batch = mb}, ic = {.micro_batch = mb, .inference = 1};
  vkl_net *train, *infer;
  TEST_OK(ctx, vkl_net_create(ctx, m, &tc, &train));
  TEST_OK(ctx, vkl_net_create(ctx, m, &ic, &infer));
  uint64_t est_train, est_infer, largest;
  vkl_net_estimate_for(m, &tc, &est_train, &largest);
  vkl_net_estimate_for(m, &ic, &est_infer, &largest);
  cr_assert_eq(vkl_net_device_bytes(infer), est_infer);
  cr_assert(est_infer < est_train - m->param_floats * 4, "inference %llu, training %llu bytes",
            (unsigned long long)est_infer, (unsigned long long)est_train);
  cr_assert_eq(vkl_net_grads(infer).size, 0);

  float *params = malloc(m->param_floats * 4), *bufs = malloc(m->buffer_floats * 4);
  cr_assert(params && bufs);
  vkl_model_init(m, 5, params, bufs);
  for (uint64_t i = 0; i < m->buffer_floats; i++) bufs[i] = 0.5f + 0.01f * (float)(i % 7);
  TEST_OK(ctx, vkl_net_upload_state(train, params, bufs));
  TEST_OK(ctx, vkl_net_upload_state(infer, params, bufs));
  test_rng rng = {31};
  float x[6 * 64];
  uint32_t y[6];
  for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = test_rng_float(&rng);
  for (uint32_t i = 0; i < mb; i++) y[i] = (uint32_t)(test_rng_next(&rng) % 5);
  vkl_cmd *cmd;
  TEST_OK(ctx, vkl_cmd_create(ctx, &cmd));
  float loss[2], logits[2][6 * 5];
  uint32_t correct[2][2];
  vkl_net *nets[2] = {train, infer};
  vkl_xent_loss *losses[2];
  for (int k = 0; k < 2; k++) {
    vkl_xent_loss_config lc = {.micro_batch = mb, .classes = 5, .inference = k};
    TEST_OK(ctx, vkl_xent_loss_create(ctx, &lc, &losses[k]));
    TEST_OK(ctx, vkl_upload(ctx, vkl_net_input(nets[k]), x, sizeof x));
    TEST_OK(ctx, vkl_upload(ctx, vkl_xent_loss_labels(losses[k]), y, sizeof y));
    TEST_OK(ctx, vkl_cmd_begin(cmd));
    TEST_OK(ctx, vkl_classify_record_eval(cmd, nets[k], losses[k], 1));
    TEST_OK(ctx, vkl_cmd_end(cmd));
    TEST_OK(ctx, vkl_run(ctx, cmd));
    TEST_OK(ctx, vkl_download(ctx, &loss[k], vkl_xent_loss_sum(losses[k]), 4));
    TEST_OK(ctx, vkl_download(ctx, correct[k], vkl_xent_loss_correct(losses[k]), 8));
    TEST_OK(ctx, vkl_download(ctx, logits[k], vkl_net_output(nets[k]), sizeof logits[k]));
  }
  cr_assert(isfinite(loss[0]) && loss[0] == loss[1], "loss %g vs %g", (double)loss[0],
            (double)loss[1]);
  cr_assert(memcmp(logits[0], logits[1], sizeof logits[0]) == 0, "logits differ");
  cr_assert(correct[0][0] == correct[1][0] && correct[0][1] == correct[1][1]);
  TEST_OK(ctx, vkl_cmd_begin(cmd));
  cr_assert_eq(vkl_net_record_forward(infer, cmd, VKL_NET_TRAIN), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(ctx), "inference net"), "%s", vkl_ctx_errmsg(ctx));
  cr_assert_eq(vkl_net_record_backward(infer, cmd, 1), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_eq(vkl_classify_record_train(cmd, infer, losses[1], 1, 1.0f), VKL_ERR_INVALID_ARGUMENT);
  vkl_xent_loss_destroy(losses[0]);
  vkl_xent_loss_destroy(losses[1]);
  TEST_OK(ctx, vkl_cmd_end(cmd));
  vkl_cmd_destroy(cmd);
  free(params);
  free(bufs);
  vkl_net_destroy(train);
  vkl_net_destroy(infer);
  vkl_model_destroy(m);
  test_ctx_destroy(ctx);
}
