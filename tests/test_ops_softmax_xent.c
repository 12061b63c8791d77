/* Softmax cross-entropy on the device against its reference: N = 1, odd K (7, 10,
 * 100, 1000) and K < 5, N not a multiple of a workgroup's rows, mean and sum, label
 * smoothing 0 and 0.1, extreme logits (+-80, a +1000 shift), top-1/top-5 with ties,
 * accumulation over micro-batches, backward with scale and accumulate, flagged labels.
 *
 * Tolerance: the standard |d| <= TEST_ATOL + TEST_RTOL*|ref| also for the batch loss,
 * a long reduction. Each sample's loss is log S + keep (M - z_y) + (eps/K) sum_k (M - z_k)
 * (M the row max), three non-negative terms, and the batch loss sums non-negative
 * sample losses, so |ref| equals the sum of |terms| and rtol*|ref| is the scaled
 * tolerance. The device's fp32 path adds at most ~16 serial terms per invocation and
 * a tree of <= 7 levels per row, then a tree of <= 7 levels per workgroup and a serial
 * sum of <= 17 partials with another 7-level tree: below 60 roundings of u = 2^-24 on
 * non-negative sums, ~4e-6 relative, well inside 1e-4. */
#include "ops/softmax_xent.h"
#include "test_util.h"
#include "vk/vk_tuning.h"

typedef enum logit_kind { LOGITS_RANDOM, LOGITS_EXTREME, LOGITS_SHIFTED, LOGITS_TIED } logit_kind;

/* N*K logits, each exactly a float: uniform [-3, 3); +-80 at random; uniform [-1, 1)
 * plus 1000; or integers in {-1, 0, 1} (many ties). */
static double *make_logits(test_rng *rng, size_t n, logit_kind kind) {
  double *z = test_random(rng, n, 3.0);
  for (size_t i = 0; i < n; i++) {
    double u = test_rng_float(rng);
    switch (kind) {
      case LOGITS_RANDOM: break;
      case LOGITS_EXTREME: z[i] = u < 0 ? -80.0 : 80.0 * (double)(float)(0.5 + 0.5 * u); break;
      case LOGITS_SHIFTED: z[i] = (double)(float)(1000.0 + u); break;
      case LOGITS_TIED: z[i] = floor(1.5 * u + 0.5); break;
    }
  }
  return z;
}

static uint32_t *make_labels(test_rng *rng, uint32_t N, uint32_t K) {
  uint32_t *y = malloc(N * sizeof *y);
  cr_assert(y);
  for (uint32_t i = 0; i < N; i++) y[i] = (uint32_t)(test_rng_next(rng) % K);
  return y;
}

/* One batch on the device: logits, labels, outputs (poisoned), workspace (poisoned). */
typedef struct xent_case {
  vkl_softmax_xent_shape sh;
  double *z;
  uint32_t *y;
  vkl_buf dz, dy, loss, correct, ws, grad, stats;
} xent_case;

static xent_case xent_setup(test_dev *d, test_rng *rng, uint32_t N, uint32_t K, logit_kind kind) {
  xent_case c = {.sh = {.N = N, .K = K}};
  c.z = make_logits(rng, (size_t)N * K, kind);
  c.y = make_labels(rng, N, K);
  c.dz = test_upload(d, c.z, (size_t)N * K);
  c.dy = test_upload_u32(d, c.y, N);
  c.loss = test_alloc_poisoned(d, 1);
  c.correct = test_alloc_poisoned(d, 2);
  /* room for the most workgroups any lanes setting makes (8 lanes a row) */
  vkl_softmax_xent_shape most = {.N = N, .K = K, .lanes = 8};
  c.ws = test_alloc_poisoned(d, vkl_softmax_xent_workspace_floats(&most));
  c.grad = test_alloc_poisoned(d, (size_t)N * K);
  c.stats = test_alloc_poisoned(d, 2ull * N);
  return c;
}

static void xent_free(xent_case *c) {
  free(c->z), free(c->y);
}

static vkl_status xent_forward(test_dev *d, xent_case *c, vkl_reduction red, float eps, int acc) {
  return vkl_softmax_xent_forward(d->cmd, c->loss, &c->correct, &c->stats, c->dz, c->dy, &c->sh,
                                  red, eps, acc, c->ws);
}

/* Forward on the device against the reference: loss within tolerance, counts exact. */
static void check_forward(test_dev *d, xent_case *c, vkl_reduction red, float eps,
                          const char *what) {
  TEST_RECORD_AND_RUN(d, xent_forward(d, c, red, eps, 0));
  double ref;
  uint32_t top1, top5, got[2];
  vkl_softmax_xent_forward_ref(&ref, &top1, &top5, c->z, c->y, &c->sh, red, (double)eps);
  char name[160];
  snprintf(name, sizeof name, "%s: N=%u K=%u lanes=%u %s eps=%g loss", what, c->sh.N, c->sh.K,
           c->sh.lanes, red == VKL_REDUCTION_MEAN ? "mean" : "sum", (double)eps);
  test_expect_close(d, c->loss, &ref, 1, TEST_ATOL, TEST_RTOL, name);
  test_download_u32(d, got, c->correct, 2);
  cr_assert_eq(got[0], top1, "%s: top-1 %u, reference %u", name, got[0], top1);
  cr_assert_eq(got[1], top5, "%s: top-5 %u, reference %u", name, got[1], top5);
  /* row statistics: M_i exactly (a max of floats), S_i = sum exp(z - M_i) */
  double *ref_stats = malloc(2ull * c->sh.N * sizeof *ref_stats);
  cr_assert(ref_stats);
  for (uint32_t i = 0; i < c->sh.N; i++) {
    const double *z = c->z + (size_t)i * c->sh.K;
    double m = z[0], sum = 0;
    for (uint32_t k = 1; k < c->sh.K; k++) m = z[k] > m ? z[k] : m;
    for (uint32_t k = 0; k < c->sh.K; k++) sum += exp(z[k] - m);
    ref_stats[2 * i] = m, ref_stats[2 * i + 1] = sum;
  }
  strncat(name, " row stats", sizeof name - strlen(name) - 1);
  test_expect_close(d, c->stats, ref_stats, 2ull * c->sh.N, TEST_ATOL, TEST_RTOL, name);
  free(ref_stats);
}

/* Backward on the device, recomputing the row statistics and with those the forward
 * saved: write, then accumulate onto a random gradient. */
static void check_backward(test_dev *d, test_rng *rng, xent_case *c, vkl_reduction red, float eps,
                           float scale, const char *what) {
  size_t nk = (size_t)c->sh.N * c->sh.K;
  double *ref = malloc(nk * sizeof *ref);
  cr_assert(ref);
  vkl_softmax_xent_backward_ref(ref, c->z, c->y, &c->sh, red, eps, scale, 0);
  TEST_RECORD_AND_RUN(d, xent_forward(d, c, red, eps, 0)); /* fills c->stats */
  for (int saved = 0; saved < 2; saved++) {
    const vkl_buf *stats = saved ? &c->stats : NULL;
    char name[160];
    snprintf(name, sizeof name, "%s: N=%u K=%u lanes=%u %s eps=%g scale=%g %s dlogits", what,
             c->sh.N, c->sh.K, c->sh.lanes, red == VKL_REDUCTION_MEAN ? "mean" : "sum", (double)eps,
             (double)scale, saved ? "saved stats" : "recomputed");
    vkl_buf grad = test_alloc_poisoned(d, nk);
    TEST_RECORD_AND_RUN(d, vkl_softmax_xent_backward(d->cmd, grad, c->dz, c->dy, stats, &c->sh, red,
                                                     eps, scale, 0));
    test_expect_close(d, grad, ref, nk, TEST_ATOL, TEST_RTOL, name);

    double *g0 = test_random(rng, nk, 0.01);
    vkl_buf acc = test_upload(d, g0, nk);
    TEST_RECORD_AND_RUN(
        d, vkl_softmax_xent_backward(d->cmd, acc, c->dz, c->dy, stats, &c->sh, red, eps, scale, 1));
    vkl_softmax_xent_backward_ref(g0, c->z, c->y, &c->sh, red, eps, scale, 1);
    strncat(name, " (accumulate)", sizeof name - strlen(name) - 1);
    test_expect_close(d, acc, g0, nk, TEST_ATOL, TEST_RTOL, name);
    free(g0);
  }
  free(ref);
}

/* Rows per workgroup: 64 with one invocation a row, 8 with eight, so N = 130,
 * 300, 257, 33 span several workgroups with a partial last one. */
static const uint32_t shapes[][2] = {{1, 10},    {1, 7},     {1, 1000}, {130, 10}, {300, 7},
                                     {257, 100}, {33, 1000}, {64, 3},   {5, 1}};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

/* Invocations per row: automatic (1 on lavapipe), and the split-row paths. */
static const uint32_t lanes[] = {0, 2, 8};
#define NLANES (sizeof lanes / sizeof lanes[0])

Test(ops_softmax_xent, forward_shapes_reductions_smoothing) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {21};
  for (size_t l = 0; l < NLANES; l++) {
    for (size_t s = 0; s < NSHAPES; s++) {
      vkl_arena_reset(d.arena);
      xent_case c = xent_setup(&d, &rng, shapes[s][0], shapes[s][1], LOGITS_RANDOM);
      c.sh.lanes = lanes[l];
      check_forward(&d, &c, VKL_REDUCTION_MEAN, 0.0f, "random");
      check_forward(&d, &c, VKL_REDUCTION_SUM, 0.0f, "random");
      check_forward(&d, &c, VKL_REDUCTION_MEAN, 0.1f, "random");
      check_forward(&d, &c, VKL_REDUCTION_SUM, 0.1f, "random");
      xent_free(&c);
    }
  }
  test_dev_destroy(&d);
}

Test(ops_softmax_xent, forward_extreme_and_tied_logits) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {22};
  const logit_kind kinds[] = {LOGITS_EXTREME, LOGITS_SHIFTED, LOGITS_TIED};
  const char *names[] = {"+-80", "+1000", "tied"};
  for (size_t k = 0; k < 3; k++) {
    for (size_t s = 0; s < NSHAPES; s++) {
      vkl_arena_reset(d.arena);
      xent_case c = xent_setup(&d, &rng, shapes[s][0], shapes[s][1], kinds[k]);
      for (size_t l = 0; l < NLANES; l++) {
        c.sh.lanes = lanes[l];
        check_forward(&d, &c, VKL_REDUCTION_MEAN, 0.0f, names[k]);
        check_forward(&d, &c, VKL_REDUCTION_SUM, 0.1f, names[k]);
      }
      xent_free(&c);
    }
  }
  test_dev_destroy(&d);
}

/* Ties go to the lower class index; with K < 5 every label is in the top 5. */
Test(ops_softmax_xent, topk_hand_cases) {
  test_dev d = test_dev_create(1u << 20);
  /* row 0: label 2 ties the max with class 0 ahead of it -> top-5 only
   * row 1: label 0 ties the max, no lower index -> top-1
   * row 2: label 6 has the lowest logit of 7 -> neither
   * row 3: label 3 is the 5th: 4 classes strictly above -> top-5 only */
  const double z[4 * 7] = {
      5, 1, 5, 0, 0, 0, 0,  /* */
      2, 2, 2, 2, 2, 2, 2,  /* */
      1, 1, 1, 1, 1, 1, -1, /* */
      9, 8, 7, 3, 6, 2, 1,
  };
  uint32_t y[4] = {2, 0, 6, 3};
  vkl_softmax_xent_shape sh = {.N = 4, .K = 7};
  vkl_buf dz = test_upload(&d, z, 28), dy = test_upload_u32(&d, y, 4);
  vkl_buf loss = test_alloc_poisoned(&d, 1), correct = test_alloc_poisoned(&d, 2);
  vkl_buf ws = test_alloc_poisoned(&d, vkl_softmax_xent_workspace_floats(&sh));
  TEST_RECORD_AND_RUN(&d, vkl_softmax_xent_forward(d.cmd, loss, &correct, NULL, dz, dy, &sh,
                                                   VKL_REDUCTION_SUM, 0.0f, 0, ws));
  uint32_t got[2];
  test_download_u32(&d, got, correct, 2);
  cr_assert_eq(got[0], 1, "top-1 %u", got[0]);
  cr_assert_eq(got[1], 3, "top-5 %u", got[1]);
  /* K = 3: every label is in the top 5, only the max in the top 1 */
  sh = (vkl_softmax_xent_shape){.N = 2, .K = 3};
  const double z3[6] = {0, 1, 2, 4, 4, 4};
  uint32_t y3[2] = {0, 1};
  dz = test_upload(&d, z3, 6), dy = test_upload_u32(&d, y3, 2);
  TEST_RECORD_AND_RUN(&d, vkl_softmax_xent_forward(d.cmd, loss, &correct, NULL, dz, dy, &sh,
                                                   VKL_REDUCTION_SUM, 0.0f, 0, ws));
  test_download_u32(&d, got, correct, 2);
  cr_assert_eq(got[0], 0, "K=3 top-1 %u", got[0]);
  cr_assert_eq(got[1], 2, "K=3 top-5 %u", got[1]);
  test_dev_destroy(&d);
}

/* Two micro-batches: write on the first, accumulate on the second, no host reads
 * between; the loss and counts are the sums of the two references. Also NULL correct. */
Test(ops_softmax_xent, forward_accumulates_micro_batches) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {23};
  const uint32_t mb[][2] = {{64, 10}, {130, 100}, {33, 1000}};
  for (size_t s = 0; s < 3; s++) {
    vkl_arena_reset(d.arena);
    uint32_t N = mb[s][0], K = mb[s][1];
    xent_case a = xent_setup(&d, &rng, N, K, LOGITS_RANDOM);
    xent_case b = xent_setup(&d, &rng, N, K, LOGITS_TIED);
    b.loss = a.loss, b.correct = a.correct, b.ws = a.ws; /* shared outputs */
    for (int smooth = 0; smooth < 2; smooth++) {
      float eps = smooth ? 0.1f : 0.0f;
      TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));
      TEST_OK(d.ctx, xent_forward(&d, &a, VKL_REDUCTION_SUM, eps, 0));
      TEST_OK(d.ctx, xent_forward(&d, &b, VKL_REDUCTION_SUM, eps, 1));
      TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
      TEST_OK(d.ctx, vkl_run(d.ctx, d.cmd));
      double la, lb;
      uint32_t a1, a5, b1, b5, got[2];
      vkl_softmax_xent_forward_ref(&la, &a1, &a5, a.z, a.y, &a.sh, VKL_REDUCTION_SUM, eps);
      vkl_softmax_xent_forward_ref(&lb, &b1, &b5, b.z, b.y, &b.sh, VKL_REDUCTION_SUM, eps);
      double ref = la + lb;
      test_expect_close(&d, a.loss, &ref, 1, TEST_ATOL, TEST_RTOL, "accumulated loss");
      test_download_u32(&d, got, a.correct, 2);
      cr_assert_eq(got[0], a1 + b1, "accumulated top-1 %u, reference %u", got[0], a1 + b1);
      cr_assert_eq(got[1], a5 + b5, "accumulated top-5 %u, reference %u", got[1], a5 + b5);
    }
    /* no counts wanted: the loss alone, the count buffer untouched */
    uint32_t before[2], after[2];
    test_download_u32(&d, before, a.correct, 2);
    TEST_RECORD_AND_RUN(&d, vkl_softmax_xent_forward(d.cmd, a.loss, NULL, NULL, a.dz, a.dy, &a.sh,
                                                     VKL_REDUCTION_MEAN, 0.0f, 0, a.ws));
    double ref;
    vkl_softmax_xent_forward_ref(&ref, NULL, NULL, a.z, a.y, &a.sh, VKL_REDUCTION_MEAN, 0.0);
    test_expect_close(&d, a.loss, &ref, 1, TEST_ATOL, TEST_RTOL, "loss without counts");
    test_download_u32(&d, after, a.correct, 2);
    cr_assert(before[0] == after[0] && before[1] == after[1], "counts written without correct");
    xent_free(&a), xent_free(&b);
  }
  test_dev_destroy(&d);
}

/* Each of the four ways the forward finishes its batch sum (test_reduce_path_at,
 * set with VKLARS_TUNE before the context is created): bit-identical loss run to run, and loss,
 * counts and row statistics against the reference (a path that skipped its last step leaves the
 * poisoned loss), for every lanes setting. */
Test(ops_softmax_xent, forward_is_deterministic) {
  for (int path = 0; path < 4; path++) {
    test_reduce_path path_ = test_reduce_path_at(path);
    const test_reduce_path *pp = &path_;
    cr_assert_eq(setenv("VKLARS_TUNE", pp->tune, 1), 0);
    test_dev d = test_dev_create(16u << 20);
    unsetenv("VKLARS_TUNE");
    const vkl_tuning *t = vkl_ctx_tuning(d.ctx);
    cr_assert(t->memory_model == pp->memory_model && t->subgroup_reduce == pp->subgroup_reduce,
              "VKLARS_TUNE=%s not in effect", pp->tune);
    test_rng rng = {24};
    xent_case c = xent_setup(&d, &rng, 1000, 100, LOGITS_RANDOM); /* 16 to 250 workgroups */
    for (size_t l = 0; l < NLANES; l++) {
      c.sh.lanes = lanes[l];
      uint32_t first, again;
      TEST_RECORD_AND_RUN(&d, xent_forward(&d, &c, VKL_REDUCTION_MEAN, 0.1f, 0));
      test_download_u32(&d, &first, c.loss, 1);
      for (int i = 0; i < 3; i++) {
        TEST_RECORD_AND_RUN(&d, xent_forward(&d, &c, VKL_REDUCTION_MEAN, 0.1f, 0));
        test_download_u32(&d, &again, c.loss, 1);
        cr_assert_eq(first, again, "%s, lanes %u: loss bits %08x then %08x", pp->tune, lanes[l],
                     first, again);
      }
      check_forward(&d, &c, VKL_REDUCTION_MEAN, 0.1f, pp->tune);
    }
    xent_free(&c);
    test_dev_destroy(&d);
  }
}

Test(ops_softmax_xent, backward_scale_accumulate) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {25};
  for (size_t l = 0; l < NLANES; l++) {
    for (size_t s = 0; s < NSHAPES; s++) {
      vkl_arena_reset(d.arena);
      xent_case c = xent_setup(&d, &rng, shapes[s][0], shapes[s][1], LOGITS_RANDOM);
      c.sh.lanes = lanes[l];
      check_backward(&d, &rng, &c, VKL_REDUCTION_MEAN, 0.0f, 1.0f, "random");
      check_backward(&d, &rng, &c, VKL_REDUCTION_SUM, 0.1f, 0.37f, "random");
      xent_free(&c);
    }
    const logit_kind kinds[] = {LOGITS_EXTREME, LOGITS_SHIFTED, LOGITS_TIED};
    for (size_t k = 0; k < 3; k++) {
      vkl_arena_reset(d.arena);
      xent_case c = xent_setup(&d, &rng, 33, 1000, kinds[k]);
      c.sh.lanes = lanes[l];
      check_backward(&d, &rng, &c, VKL_REDUCTION_MEAN, 0.1f, 2.5f, "extreme");
      xent_free(&c);
    }
  }
  test_dev_destroy(&d);
}

/* Labels >= K are flagged: NaN loss, not counted, NaN gradient row; other rows intact. */
Test(ops_softmax_xent, out_of_range_labels_are_flagged) {
  test_dev d = test_dev_create(4u << 20);
  test_rng rng = {26};
  xent_case c = xent_setup(&d, &rng, 6, 10, LOGITS_RANDOM);
  c.y[1] = 10, c.y[4] = 0xfffffffeu; /* 0xffffffff is VKL_XENT_IGNORE, padding */
  uint32_t good[6] = {c.y[0], 0, c.y[2], c.y[3], 0, c.y[5]};
  vkl_buf dy = test_upload_u32(&d, c.y, 6);
  c.dy = dy;
  TEST_RECORD_AND_RUN(&d, xent_forward(&d, &c, VKL_REDUCTION_SUM, 0.0f, 0));
  float loss;
  uint32_t got[2];
  TEST_OK(d.ctx, vkl_download(d.ctx, &loss, c.loss, sizeof loss));
  cr_assert(isnan(loss), "loss %g with out-of-range labels", (double)loss);
  test_download_u32(&d, got, c.correct, 2);
  /* the counts are those of the valid rows only */
  uint32_t t1 = 0, t5 = 0;
  for (uint32_t i = 0; i < 6; i++) {
    if (i == 1 || i == 4) continue;
    vkl_softmax_xent_shape one = {.N = 1, .K = 10};
    double l;
    uint32_t h1, h5;
    vkl_softmax_xent_forward_ref(&l, &h1, &h5, c.z + i * 10, &good[i], &one, VKL_REDUCTION_SUM, 0);
    t1 += h1, t5 += h5;
  }
  cr_assert(got[0] == t1 && got[1] == t5, "counts %u %u, valid rows give %u %u", got[0], got[1], t1,
            t5);
  for (int saved = 0; saved < 2; saved++) {
    TEST_RECORD_AND_RUN(
        &d, vkl_softmax_xent_backward(d.cmd, c.grad, c.dz, c.dy, saved ? &c.stats : NULL, &c.sh,
                                      VKL_REDUCTION_SUM, 0.0f, 1.0f, 0));
    float g[60];
    TEST_OK(d.ctx, vkl_download(d.ctx, g, c.grad, sizeof g));
    double ref[10];
    for (uint32_t i = 0; i < 6; i++) {
      if (i == 1 || i == 4) {
        for (int k = 0; k < 10; k++)
          cr_assert(isnan(g[i * 10 + k]), "row %u not flagged (saved %d)", i, saved);
        continue;
      }
      vkl_softmax_xent_shape one = {.N = 1, .K = 10};
      vkl_softmax_xent_backward_ref(ref, c.z + i * 10, &good[i], &one, VKL_REDUCTION_SUM, 0, 1, 0);
      test_assert_close(g + i * 10, ref, 10, TEST_ATOL, TEST_RTOL, "valid row");
    }
  }
  xent_free(&c);
  test_dev_destroy(&d);
}

Test(ops_softmax_xent, refuses_bad_arguments) {
  test_dev d = test_dev_create(1u << 20);
  test_rng rng = {27};
  xent_case c = xent_setup(&d, &rng, 200, 10, LOGITS_RANDOM); /* 4 workgroups */
  TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));
  vkl_buf short_ws = vkl_buf_sub(c.ws, 0, 4 * sizeof(float));
  cr_assert_eq(vkl_softmax_xent_forward(d.cmd, c.loss, NULL, NULL, c.dz, c.dy, &c.sh,
                                        VKL_REDUCTION_MEAN, 0.0f, 0, short_ws),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "softmax_xent forward: tensor workspace holds 4 floats, the shape needs 13");
  vkl_buf odd_ws = vkl_buf_sub(c.ws, 4, 13 * sizeof(float)); /* misaligned binding */
  cr_assert_eq(vkl_softmax_xent_forward(d.cmd, c.loss, NULL, NULL, c.dz, c.dy, &c.sh,
                                        VKL_REDUCTION_MEAN, 0.0f, 0, odd_ws),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(d.ctx), "softmax_xent forward: workspace offset"), "%s",
            vkl_ctx_errmsg(d.ctx));
  vkl_softmax_xent_shape odd_lanes = {.N = 200, .K = 10, .lanes = 3};
  cr_assert_eq(vkl_softmax_xent_backward(d.cmd, c.grad, c.dz, c.dy, NULL, &odd_lanes,
                                         VKL_REDUCTION_MEAN, 0.0f, 1.0f, 0),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx), "softmax_xent backward: lanes = 3, not 0, 1, 2, 4 or 8");
  cr_assert_eq(vkl_softmax_xent_backward(d.cmd, c.grad, c.dz, c.dy, NULL, &c.sh, VKL_REDUCTION_MEAN,
                                         1.5f, 1.0f, 0),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "softmax_xent backward: label_smoothing 1.5 is outside [0, 1]");
  vkl_softmax_xent_shape big = {.N = 201, .K = 10};
  cr_assert_eq(vkl_softmax_xent_backward(d.cmd, c.grad, c.dz, c.dy, NULL, &big, VKL_REDUCTION_MEAN,
                                         0.0f, 1.0f, 0),
               VKL_ERR_INVALID_ARGUMENT);
  TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
  xent_free(&c);
  test_dev_destroy(&d);
}

/* Padding samples (VKL_XENT_IGNORE) add no loss, are not counted and get a
 * zero gradient: a partial last batch filled up to the micro-batch size. */
Test(ops_softmax_xent, ignored_labels_are_padding) {
  test_dev d = test_dev_create(8u << 20);
  test_rng rng = {77};
  for (size_t l = 0; l < sizeof lanes / sizeof lanes[0]; l++) {
    vkl_arena_reset(d.arena);
    xent_case c = xent_setup(&d, &rng, 130, 10, LOGITS_RANDOM);
    c.sh.lanes = lanes[l];
    for (uint32_t i = 100; i < 130; i++) c.y[i] = VKL_XENT_IGNORE; /* the padded tail */
    c.y[7] = VKL_XENT_IGNORE;
    c.dy = test_upload_u32(&d, c.y, 130);
    check_forward(&d, &c, VKL_REDUCTION_SUM, 0.1f, "ignored labels");
    check_backward(&d, &rng, &c, VKL_REDUCTION_SUM, 0.1f, 0.5f, "ignored labels");
    /* the padding rows' gradient is exactly zero */
    float g[10];
    vkl_buf grad = test_alloc_poisoned(&d, 1300);
    TEST_RECORD_AND_RUN(&d, vkl_softmax_xent_backward(d.cmd, grad, c.dz, c.dy, NULL, &c.sh,
                                                      VKL_REDUCTION_SUM, 0.1f, 1.0f, 0));
    TEST_OK(d.ctx, vkl_download(d.ctx, g, vkl_buf_sub(grad, 120 * 10 * 4, 40), 40));
    for (int k = 0; k < 10; k++) cr_assert_eq(g[k], 0.0f);
    xent_free(&c);
  }
  test_dev_destroy(&d);
}

/* A row holding a NaN or an infinity is never a hit, wherever the value sits (the
 * row's scalar head, its vec4 middle, its tail, the label's own logit). Every
 * label is its row's maximum, so each row would otherwise be a top-1 hit: NaN
 * compares false with everything and used to rank the label first. */
Test(ops_softmax_xent, nonfinite_rows_are_never_hits) {
  test_dev d = test_dev_create(8u << 20);
  test_rng rng = {78};
  const uint32_t Ks[] = {10, 100};
  const double bad[] = {NAN, INFINITY, -INFINITY};
  const uint32_t N = 40, poisoned = 24;
  for (size_t ki = 0; ki < 2; ki++) {
    for (size_t l = 0; l < sizeof lanes / sizeof lanes[0]; l++) {
      vkl_arena_reset(d.arena);
      uint32_t K = Ks[ki];
      xent_case c = xent_setup(&d, &rng, N, K, LOGITS_RANDOM);
      c.sh.lanes = lanes[l];
      for (uint32_t i = 0; i < N; i++) c.z[(size_t)i * K + c.y[i]] = 10.0;
      for (uint32_t i = 0; i < poisoned; i++) {
        uint32_t where[4] = {0, c.y[i], K / 2, K - 1};
        c.z[(size_t)i * K + where[i % 4]] = bad[i / 4 % 3];
      }
      c.dz = test_upload(&d, c.z, (size_t)N * K);
      TEST_RECORD_AND_RUN(&d, xent_forward(&d, &c, VKL_REDUCTION_SUM, 0.0f, 0));
      double loss;
      uint32_t top1, top5, got[2];
      vkl_softmax_xent_forward_ref(&loss, &top1, &top5, c.z, c.y, &c.sh, VKL_REDUCTION_SUM, 0.0);
      cr_assert(top1 == N - poisoned && top5 == N - poisoned,
                "reference K=%u: top-1 %u top-5 %u, want %u (the finite rows)", K, top1, top5,
                N - poisoned);
      test_download_u32(&d, got, c.correct, 2);
      cr_assert(got[0] == top1 && got[1] == top5, "K=%u lanes=%u: top-1 %u top-5 %u, want %u", K,
                c.sh.lanes, got[0], got[1], top1);
      xent_free(&c);
    }
  }
  test_dev_destroy(&d);
}
