/* Batch normalisation on the device against its double references: training
 * forward (affine or not, with and without running statistics), evaluation
 * forward, backward (write and accumulate, NULL outputs skipped), a large-mean
 * input that defeats a one-pass variance, determinism, and errors. Shapes are
 * awkward: N = 1, odd C, 2-D (H = W = 1), planes that are no multiple of the
 * workgroup (scalar kernels) or are (vec4 kernels), several chunks along N. */
#include "ops/batchnorm.h"
#include "test_util.h"

static const vkl_batchnorm_shape shapes[] = {
    {1, 3, 5, 7},    /* N = 1 with H*W > 1, odd C */
    {2, 5, 1, 1},    /* 2-D (N,C), N = 2 */
    {4, 7, 9, 11},   /* H, W not multiples of the workgroup; scalar kernels */
    {2, 33, 7, 7},   /* 7x7 planes (the stem's output size class) */
    {2, 300, 3, 3},  /* many channels: several workgroups along C */
    {3, 6, 8, 8},    /* vec4 kernels */
    {5, 7, 4, 4},    /* vec4, planes of 4 units (an unrolled walk) */
    {37, 3, 16, 12}, /* vec4; 2 chunks, the last with fewer samples than threads */
    {3000, 5, 1, 1}, /* 2-D, 6 chunks along N, the last partial */
    {3, 5, 23, 23},  /* segmented layout: planes of 529 values in segments of 265 and 264 */
    {5, 3, 4, 1037}, /* segmented, vec4: 1037 units in segments of 260 (3) and 257; 2 chunks */
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

static size_t count(const vkl_batchnorm_shape *sh) {
  return (size_t)sh->N * sh->C * sh->H * sh->W;
}

/* Random values around a per-channel offset, so that means are not 0; each
 * exactly a float, as test_random's. */
static double *random_input(test_rng *r, const vkl_batchnorm_shape *sh, double offset,
                            double scale) {
  size_t n = count(sh), hw = (size_t)sh->H * sh->W;
  double *x = test_random(r, n, scale);
  for (size_t i = 0; i < n; i++) {
    size_t c = (i / hw) % sh->C;
    x[i] = (double)(float)(x[i] + offset + 0.5 * (double)(c % 5));
  }
  return x;
}

/* Positive values in [lo, lo + 1), exactly floats. */
static double *random_positive(test_rng *r, size_t n, double lo) {
  double *v = test_random(r, n, 0.5);
  for (size_t i = 0; i < n; i++) v[i] = (double)(float)(v[i] + 0.5 + lo);
  return v;
}

static double *copy_of(const double *a, size_t n) {
  double *b = malloc((n ? n : 1) * sizeof *b);
  cr_assert(b);
  memcpy(b, a, n * sizeof *b);
  return b;
}

/* The float the device would see for a double, back as a double. */
static void round_to_float(double *a, size_t n) {
  for (size_t i = 0; i < n; i++) a[i] = (double)(float)a[i];
}

static vkl_buf workspace(test_dev *d, const vkl_batchnorm_shape *sh) {
  /* poisoned: a partial the combine kernels read but nothing wrote shows */
  return test_alloc_poisoned(d, vkl_batchnorm_workspace_floats(sh));
}

/* One training forward on the device and in the reference; compares y,
 * mean, invstd and (when present) the running statistics. */
static void check_train(test_dev *d, test_rng *rng, const vkl_batchnorm_shape *sh, int affine,
                        int running, const double *x_in, const char *what) {
  vkl_arena_reset(d->arena);
  size_t n = count(sh), C = sh->C;
  const float eps = 1e-5f, momentum = 0.1f;
  double *x = x_in ? copy_of(x_in, n) : random_input(rng, sh, 1.0, 2.0);
  double *gamma = test_random(rng, C, 2), *beta = test_random(rng, C, 1);
  double *rm = test_random(rng, C, 1), *rv = random_positive(rng, C, 0.5);
  double *y = malloc(n * sizeof *y), *mean = malloc(C * sizeof *mean);
  double *invstd = malloc(C * sizeof *invstd);
  vkl_buf dx = test_upload(d, x, n), dg = test_upload(d, gamma, C), db = test_upload(d, beta, C);
  vkl_buf drm = test_upload(d, rm, C), drv = test_upload(d, rv, C);
  vkl_buf dy = test_alloc_poisoned(d, n), dmean = test_alloc_poisoned(d, C);
  vkl_buf dinv = test_alloc_poisoned(d, C), ws = workspace(d, sh);
  TEST_RECORD_AND_RUN(d, vkl_batchnorm_forward_train(d->cmd, dy, dmean, dinv, running ? &drm : NULL,
                                                     running ? &drv : NULL, dx, affine ? &dg : NULL,
                                                     affine ? &db : NULL, sh, eps, momentum, ws));
  vkl_batchnorm_forward_train_ref(y, mean, invstd, running ? rm : NULL, running ? rv : NULL, x,
                                  affine ? gamma : NULL, affine ? beta : NULL, sh, (double)eps,
                                  (double)momentum);
  char pre[128], msg[160];
  snprintf(pre, sizeof pre, "%s (%ux%ux%ux%u, affine %d, running %d)", what, sh->N, sh->C, sh->H,
           sh->W, affine, running);
  snprintf(msg, sizeof msg, "%s: y", pre);
  test_expect_close(d, dy, y, n, TEST_ATOL, TEST_RTOL, msg);
  snprintf(msg, sizeof msg, "%s: mean", pre);
  test_expect_close(d, dmean, mean, C, TEST_ATOL, TEST_RTOL, msg);
  snprintf(msg, sizeof msg, "%s: invstd", pre);
  test_expect_close(d, dinv, invstd, C, TEST_ATOL, TEST_RTOL, msg);
  /* when absent, untouched: the reference left its copies as they were */
  snprintf(msg, sizeof msg, "%s: running_mean", pre);
  test_expect_close(d, drm, rm, C, TEST_ATOL, TEST_RTOL, msg);
  snprintf(msg, sizeof msg, "%s: running_var", pre);
  test_expect_close(d, drv, rv, C, TEST_ATOL, TEST_RTOL, msg);
  free(x), free(gamma), free(beta), free(rm), free(rv), free(y), free(mean), free(invstd);
}

Test(ops_batchnorm, forward_train) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {1};
  for (size_t k = 0; k < NSHAPES; k++) {
    check_train(&d, &rng, &shapes[k], 1, 1, NULL, "train");
    check_train(&d, &rng, &shapes[k], 0, 0, NULL, "train");
    check_train(&d, &rng, &shapes[k], 1, 0, NULL, "train");
    check_train(&d, &rng, &shapes[k], 0, 1, NULL, "train");
  }
  test_dev_destroy(&d);
}

/* x around 1e4 +- 1. In float, E[x^2] - E[x]^2 subtracts two numbers near
 * 1e8 whose ulp is 8 to find a variance of about 1/3: the one-pass formula
 * returns noise (checked below, so this input really is hard). The device
 * must still meet the standard tolerance. */
static void check_train_large_mean(test_dev *d, test_rng *rng, const vkl_batchnorm_shape *sh) {
  size_t n = count(sh), hw = (size_t)sh->H * sh->W;
  double *x = test_random(rng, n, 1.0);
  for (size_t i = 0; i < n; i++) x[i] = (double)(float)(1e4 + x[i]);
  /* the one-pass float variance of channel 0 is far off */
  float s = 0, s2 = 0, m = (float)(sh->N * hw);
  double ref_mean = 0, ref_ssd = 0;
  for (size_t nn = 0; nn < sh->N; nn++)
    for (size_t i = 0; i < hw; i++) {
      float v = (float)x[nn * sh->C * hw + i];
      s += v, s2 += v * v, ref_mean += v;
    }
  ref_mean /= m;
  for (size_t nn = 0; nn < sh->N; nn++)
    for (size_t i = 0; i < hw; i++) ref_ssd += pow(x[nn * sh->C * hw + i] - ref_mean, 2);
  double naive = (double)(s2 / m - (s / m) * (s / m)), var = ref_ssd / m;
  cr_assert(fabs(naive - var) > 0.1 * var, "one-pass variance %g vs %g: the test is too easy",
            naive, var);
  check_train(d, rng, sh, 1, 1, x, "large mean");
  check_train(d, rng, sh, 0, 0, x, "large mean");
  free(x);
}

Test(ops_batchnorm, forward_train_large_mean) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {2};
  const vkl_batchnorm_shape cases[] = {{4, 3, 6, 5}, {2, 3, 8, 8}, {5000, 2, 1, 1}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    check_train_large_mean(&d, &rng, &cases[k]);
  test_dev_destroy(&d);
}

/* One evaluation forward on the device and in the reference. */
static void check_eval(test_dev *d, test_rng *rng, const vkl_batchnorm_shape *sh, int affine,
                       const char *what) {
  vkl_arena_reset(d->arena);
  size_t n = count(sh), C = sh->C;
  double *x = random_input(rng, sh, -1.0, 3.0), *y = malloc(n * sizeof *y);
  double *rm = test_random(rng, C, 2), *rv = random_positive(rng, C, 0.25);
  double *gamma = test_random(rng, C, 2), *beta = test_random(rng, C, 1);
  vkl_buf dx = test_upload(d, x, n), drm = test_upload(d, rm, C);
  vkl_buf drv = test_upload(d, rv, C), dg = test_upload(d, gamma, C);
  vkl_buf db = test_upload(d, beta, C), dy = test_alloc_poisoned(d, n);
  TEST_RECORD_AND_RUN(d, vkl_batchnorm_forward_eval(d->cmd, dy, dx, drm, drv, affine ? &dg : NULL,
                                                    affine ? &db : NULL, sh, 1e-3f));
  vkl_batchnorm_forward_eval_ref(y, x, rm, rv, affine ? gamma : NULL, affine ? beta : NULL, sh,
                                 (double)1e-3f);
  char msg[128];
  snprintf(msg, sizeof msg, "%s %ux%ux%ux%u affine %d", what, sh->N, sh->C, sh->H, sh->W, affine);
  test_expect_close(d, dy, y, n, TEST_ATOL, TEST_RTOL, msg);
  free(x), free(y), free(rm), free(rv), free(gamma), free(beta);
}

Test(ops_batchnorm, forward_eval) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {3};
  const vkl_batchnorm_shape one = {1, 5, 1, 1}; /* evaluation takes a single value */
  for (size_t k = 0; k <= NSHAPES; k++)
    for (int affine = 0; affine < 2; affine++)
      check_eval(&d, &rng, k < NSHAPES ? &shapes[k] : &one, affine, "eval");
  test_dev_destroy(&d);
}

/* Inputs of one backward case: dy, x, and the forward's mean and invstd as
 * the device stores them (rounded to float, so both sides see the same). */
typedef struct bwd_case {
  const vkl_batchnorm_shape *sh;
  double *dy, *x, *mean, *invstd, *gamma;
  vkl_buf ddy, dx, dmean, dinv, dgamma, ws;
} bwd_case;

static bwd_case bwd_case_create(test_dev *d, test_rng *rng, const vkl_batchnorm_shape *sh,
                                double offset) {
  size_t n = count(sh), C = sh->C;
  bwd_case b = {.sh = sh};
  b.dy = test_random(rng, n, 1);
  b.x = random_input(rng, sh, offset, 2.0);
  b.gamma = test_random(rng, C, 2);
  b.mean = malloc(C * sizeof *b.mean), b.invstd = malloc(C * sizeof *b.invstd);
  double *y = malloc(n * sizeof *y);
  vkl_batchnorm_forward_train_ref(y, b.mean, b.invstd, NULL, NULL, b.x, NULL, NULL, sh, 1e-5, 0.1);
  free(y);
  round_to_float(b.mean, C), round_to_float(b.invstd, C);
  b.ddy = test_upload(d, b.dy, n), b.dx = test_upload(d, b.x, n);
  b.dmean = test_upload(d, b.mean, C), b.dinv = test_upload(d, b.invstd, C);
  b.dgamma = test_upload(d, b.gamma, C), b.ws = workspace(d, sh);
  return b;
}

static void bwd_case_destroy(bwd_case *b) {
  free(b->dy), free(b->x), free(b->mean), free(b->invstd), free(b->gamma);
}

/* Runs the backward on the device with the given outputs (NULL: skipped),
 * starting from g0 (accumulate) or poison, and compares with the reference. */
static void check_backward(test_dev *d, test_rng *rng, bwd_case *b, int want_dx, int want_dg,
                           int want_db, int affine, int accumulate) {
  const vkl_batchnorm_shape *sh = b->sh;
  size_t n = count(sh), C = sh->C;
  double *gx = test_random(rng, n, 1), *gg = test_random(rng, C, 1), *gb = test_random(rng, C, 1);
  vkl_buf dx = accumulate ? test_upload(d, gx, n) : test_alloc_poisoned(d, n);
  vkl_buf dg = accumulate ? test_upload(d, gg, C) : test_alloc_poisoned(d, C);
  vkl_buf db = accumulate ? test_upload(d, gb, C) : test_alloc_poisoned(d, C);
  TEST_RECORD_AND_RUN(d,
                      vkl_batchnorm_backward(d->cmd, want_dx ? &dx : NULL, want_dg ? &dg : NULL,
                                             want_db ? &db : NULL, b->ddy, b->dx, b->dmean, b->dinv,
                                             affine ? &b->dgamma : NULL, sh, accumulate, b->ws));
  vkl_batchnorm_backward_ref(want_dx ? gx : NULL, want_dg ? gg : NULL, want_db ? gb : NULL, b->dy,
                             b->x, b->mean, b->invstd, affine ? b->gamma : NULL, sh, accumulate);
  char msg[160];
  int len = snprintf(msg, sizeof msg, "backward %ux%ux%ux%u (affine %d, accumulate %d): ", sh->N,
                     sh->C, sh->H, sh->W, affine, accumulate);
  if (want_dx) {
    snprintf(msg + len, sizeof msg - len, "dx");
    test_expect_close(d, dx, gx, n, TEST_ATOL, TEST_RTOL, msg);
  }
  if (want_dg) {
    snprintf(msg + len, sizeof msg - len, "dgamma");
    test_expect_close(d, dg, gg, C, TEST_ATOL, TEST_RTOL, msg);
  }
  if (want_db) {
    snprintf(msg + len, sizeof msg - len, "dbeta");
    test_expect_close(d, db, gb, C, TEST_ATOL, TEST_RTOL, msg);
  }
  free(gx), free(gg), free(gb);
}

Test(ops_batchnorm, backward_writes_and_accumulates) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {4};
  for (size_t k = 0; k < NSHAPES; k++) {
    vkl_arena_reset(d.arena);
    bwd_case b = bwd_case_create(&d, &rng, &shapes[k], 0.5);
    check_backward(&d, &rng, &b, 1, 1, 1, 1, 0);
    check_backward(&d, &rng, &b, 1, 1, 1, 1, 1);
    check_backward(&d, &rng, &b, 1, 1, 1, 0, 0);
    check_backward(&d, &rng, &b, 1, 1, 1, 0, 1);
    bwd_case_destroy(&b);
  }
  test_dev_destroy(&d);
}

/* Each NULL output is skipped (the others still right), and all NULL
 * records nothing. */
Test(ops_batchnorm, backward_null_outputs) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {5};
  const vkl_batchnorm_shape *sh = &shapes[3];
  bwd_case b = bwd_case_create(&d, &rng, sh, 0.5);
  check_backward(&d, &rng, &b, 1, 0, 0, 1, 0);
  check_backward(&d, &rng, &b, 0, 1, 0, 1, 1);
  check_backward(&d, &rng, &b, 0, 0, 1, 1, 0);
  check_backward(&d, &rng, &b, 0, 1, 1, 0, 0);
  check_backward(&d, &rng, &b, 1, 0, 1, 0, 1);
  TEST_RECORD_AND_RUN(&d, vkl_batchnorm_backward(d.cmd, NULL, NULL, NULL, b.ddy, b.dx, b.dmean,
                                                 b.dinv, &b.dgamma, sh, 0, b.ws));
  bwd_case_destroy(&b);
  test_dev_destroy(&d);
}

/* The backward around a large mean: x - mean is exact in float there, so
 * the standard tolerance holds as well. */
Test(ops_batchnorm, backward_large_mean) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {6};
  const vkl_batchnorm_shape sh = {4, 3, 6, 5};
  bwd_case b = bwd_case_create(&d, &rng, &sh, 1e4);
  check_backward(&d, &rng, &b, 1, 1, 1, 1, 0);
  bwd_case_destroy(&b);
  test_dev_destroy(&d);
}

/* Both thread layouts on this device (the other tests use the device's
 * own: segmented on CPUs, interleaved on GPUs), over every shape. */
static void check_layout(const char *layout) {
  cr_assert_eq(setenv("VKLARS_BN_LAYOUT", layout, 1), 0);
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {8};
  for (size_t k = 0; k < NSHAPES; k++) {
    check_train(&d, &rng, &shapes[k], 1, 1, NULL, layout);
    check_train(&d, &rng, &shapes[k], 0, 0, NULL, layout);
    vkl_arena_reset(d.arena);
    bwd_case b = bwd_case_create(&d, &rng, &shapes[k], 0.5);
    check_backward(&d, &rng, &b, 1, 1, 1, 1, 0);
    check_backward(&d, &rng, &b, 1, 1, 1, 0, 1);
    bwd_case_destroy(&b);
  }
  test_dev_destroy(&d);
  unsetenv("VKLARS_BN_LAYOUT");
}

Test(ops_batchnorm, segmented_layout) {
  check_layout("segmented");
}

Test(ops_batchnorm, interleaved_layout) {
  check_layout("interleaved");
}

/* The fused kernels (one workgroup per channel; the default on CPUs where
 * a shape fits them), forced on shapes that each fit them (checked) and
 * cover their geometry: a single thread (N = 1); a last thread with fewer
 * runs than the others (5x7x4x4, 63x3x2x3); scalar planes of 15 and 6
 * units, and of 9 vec4 units; planes cut into 4 and 2 runs (16x16); the
 * most units per thread (64x3x16x16); 2-D input (planes of 1 unit). */
static const vkl_batchnorm_shape fused_shapes[] = {
    {1, 5, 8, 8},   {5, 7, 4, 4},    {3, 5, 3, 5},    {63, 3, 2, 3}, {9, 17, 6, 6},
    {3, 5, 16, 16}, {20, 3, 16, 16}, {64, 3, 16, 16}, {64, 2, 4, 4}, {40, 20, 1, 1},
};

Test(ops_batchnorm, fused_layout) {
  cr_assert_eq(setenv("VKLARS_BN_LAYOUT", "fused", 1), 0);
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {9};
  uint32_t max_wg = vkl_ctx_device(d.ctx)->max_workgroup_invocations;
  for (size_t k = 0; k < sizeof fused_shapes / sizeof fused_shapes[0]; k++) {
    const vkl_batchnorm_shape *sh = &fused_shapes[k];
    cr_assert(vkl_batchnorm_fused_fits(sh, max_wg), "%ux%ux%ux%u does not fit the fused kernels",
              sh->N, sh->C, sh->H, sh->W);
    check_train(&d, &rng, sh, 1, 1, NULL, "fused");
    check_train(&d, &rng, sh, 0, 0, NULL, "fused");
    check_eval(&d, &rng, sh, 1, "fused eval");
    check_eval(&d, &rng, sh, 0, "fused eval");
    vkl_arena_reset(d.arena);
    bwd_case b = bwd_case_create(&d, &rng, sh, 0.5);
    check_backward(&d, &rng, &b, 1, 1, 1, 1, 0);
    check_backward(&d, &rng, &b, 1, 1, 1, 0, 1);
    check_backward(&d, &rng, &b, 1, 0, 1, 1, 1);
    check_backward(&d, &rng, &b, 1, 1, 0, 0, 0);
    bwd_case_destroy(&b);
  }
  /* large means: the pivot of the statistics, and x - mean in the backward */
  const vkl_batchnorm_shape large[] = {{4, 3, 6, 5}, {2, 3, 8, 8}};
  for (size_t k = 0; k < 2; k++) {
    cr_assert(vkl_batchnorm_fused_fits(&large[k], max_wg));
    check_train_large_mean(&d, &rng, &large[k]);
    vkl_arena_reset(d.arena);
    bwd_case b = bwd_case_create(&d, &rng, &large[k], 1e4);
    check_backward(&d, &rng, &b, 1, 1, 1, 1, 0);
    bwd_case_destroy(&b);
  }
  test_dev_destroy(&d);
  unsetenv("VKLARS_BN_LAYOUT");
}

/* Same inputs, bit-identical outputs: two recordings of forward and backward,
 * with the device's kernels and with the fused ones. */
static void check_deterministic(const char *layout) {
  if (layout) cr_assert_eq(setenv("VKLARS_BN_LAYOUT", layout, 1), 0);
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {7};
  const vkl_batchnorm_shape sh = {37, 3, 16, 12};
  if (layout)
    cr_assert(vkl_batchnorm_fused_fits(&sh, vkl_ctx_device(d.ctx)->max_workgroup_invocations));
  size_t n = count(&sh), C = sh.C;
  double *x = random_input(&rng, &sh, 0.5, 2), *dy = test_random(&rng, n, 1);
  vkl_buf dx = test_upload(&d, x, n), ddy = test_upload(&d, dy, n), ws = workspace(&d, &sh);
  vkl_buf out[2][5];
  for (int r = 0; r < 2; r++) {
    vkl_buf *o = out[r];
    o[0] = test_alloc_poisoned(&d, n), o[1] = test_alloc_poisoned(&d, C);
    o[2] = test_alloc_poisoned(&d, C), o[3] = test_alloc_poisoned(&d, n);
    o[4] = test_alloc_poisoned(&d, C);
    TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));
    TEST_OK(d.ctx, vkl_batchnorm_forward_train(d.cmd, o[0], o[1], o[2], NULL, NULL, dx, NULL, NULL,
                                               &sh, 1e-5f, 0.1f, ws));
    TEST_OK(d.ctx, vkl_batchnorm_backward(d.cmd, &o[3], &o[4], NULL, ddy, dx, o[1], o[2], NULL, &sh,
                                          0, ws));
    TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
    TEST_OK(d.ctx, vkl_run(d.ctx, d.cmd));
  }
  size_t sizes[5] = {n, C, C, n, C};
  float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
  for (int k = 0; k < 5; k++) {
    TEST_OK(d.ctx, vkl_download(d.ctx, a, out[0][k], sizes[k] * sizeof(float)));
    TEST_OK(d.ctx, vkl_download(d.ctx, b, out[1][k], sizes[k] * sizeof(float)));
    cr_assert(memcmp(a, b, sizes[k] * sizeof(float)) == 0, "output %d differs between runs", k);
  }
  free(a), free(b), free(x), free(dy);
  test_dev_destroy(&d);
  unsetenv("VKLARS_BN_LAYOUT");
}

/* The fused backward kernel in 8-lane groups of up to 256 threads, on
 * shapes too large for the training kernels (checked): 32x32 planes (runs
 * of whole planes, 2 per thread), and an odd N (the last group's second
 * run past the last sample) with planes of 16x32. Against the reference,
 * for large means, and bit-identical across runs. */
Test(ops_batchnorm, fused_backward_lane_groups) {
  cr_assert_eq(setenv("VKLARS_BN_LAYOUT", "fused", 1), 0);
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {21};
  uint32_t max_wg = vkl_ctx_device(d.ctx)->max_workgroup_invocations;
  const vkl_batchnorm_shape shapes[] = {{20, 3, 32, 32}, {33, 2, 16, 32}};
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    const vkl_batchnorm_shape *sh = &shapes[k];
    cr_assert(
        !vkl_batchnorm_fused_fits(sh, max_wg) && vkl_batchnorm_fused_backward_fits(sh, max_wg),
        "%ux%ux%ux%u: not the lane-group kernel", sh->N, sh->C, sh->H, sh->W);
    vkl_arena_reset(d.arena);
    bwd_case b = bwd_case_create(&d, &rng, sh, 0.5);
    check_backward(&d, &rng, &b, 1, 1, 1, 1, 0);
    if (k == 0) { /* the flags' variants (each a pipeline to compile: once is enough) */
      check_backward(&d, &rng, &b, 1, 1, 1, 0, 1);
      check_backward(&d, &rng, &b, 1, 0, 1, 1, 1);
      check_backward(&d, &rng, &b, 1, 1, 0, 0, 0);
    }
    /* twice, bit-identical */
    size_t n = count(sh), C = sh->C;
    float *out[2];
    for (int r = 0; r < 2; r++) {
      vkl_buf dx = test_alloc_poisoned(&d, n), dg = test_alloc_poisoned(&d, C),
              db = test_alloc_poisoned(&d, C);
      TEST_RECORD_AND_RUN(&d, vkl_batchnorm_backward(d.cmd, &dx, &dg, &db, b.ddy, b.dx, b.dmean,
                                                     b.dinv, &b.dgamma, sh, 0, b.ws));
      out[r] = malloc(n * sizeof(float));
      TEST_OK(d.ctx, vkl_download(d.ctx, out[r], dx, n * sizeof(float)));
    }
    cr_assert(memcmp(out[0], out[1], n * sizeof(float)) == 0, "dx differs between runs");
    free(out[0]), free(out[1]);
    bwd_case_destroy(&b);
    vkl_arena_reset(d.arena);
    b = bwd_case_create(&d, &rng, sh, 1e4);
    check_backward(&d, &rng, &b, 1, 1, 1, 1, 0);
    bwd_case_destroy(&b);
  }
  test_dev_destroy(&d);
  unsetenv("VKLARS_BN_LAYOUT");
}

Test(ops_batchnorm, deterministic) {
  check_deterministic(NULL);
  check_deterministic("fused");
}

Test(ops_batchnorm, refuses_bad_shapes_and_short_tensors) {
  test_dev d = test_dev_create(1 << 20);
  vkl_buf big, short_buf;
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 4096 * sizeof(float), &big));
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 50 * sizeof(float), &short_buf));
  TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));
  const vkl_batchnorm_shape one = {1, 4, 1, 1}, sh = {2, 4, 3, 3}, empty = {2, 0, 3, 3};

  /* training needs two values per channel; evaluation does not */
  cr_assert_eq(vkl_batchnorm_forward_train(d.cmd, big, big, big, NULL, NULL, big, NULL, NULL, &one,
                                           1e-5f, 0.1f, big),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "batchnorm forward (training): training needs at least 2 values per channel, "
                   "N*H*W = 1 (N=1, H=1, W=1)");
  cr_assert_eq(
      vkl_batchnorm_backward(d.cmd, &big, NULL, NULL, big, big, big, big, NULL, &one, 0, big),
      VKL_ERR_INVALID_ARGUMENT);
  TEST_OK(d.ctx, vkl_batchnorm_forward_eval(d.cmd, big, big, big, big, NULL, NULL, &one, 1e-5f));
  cr_assert_eq(vkl_batchnorm_forward_eval(d.cmd, big, big, big, big, NULL, NULL, &empty, 1e-5f),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "batchnorm forward (evaluation): empty shape (N=2, C=0, H=3, W=3)");

  /* short tensors, each named */
  cr_assert_eq(vkl_batchnorm_forward_train(d.cmd, short_buf, big, big, NULL, NULL, big, NULL, NULL,
                                           &sh, 1e-5f, 0.1f, big),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "batchnorm forward (training): tensor y holds 50 floats, the shape needs 72");
  vkl_buf tiny = vkl_buf_sub(big, 0, 3 * sizeof(float));
  cr_assert_eq(vkl_batchnorm_forward_train(d.cmd, big, big, big, &tiny, NULL, big, NULL, NULL, &sh,
                                           1e-5f, 0.1f, big),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "batchnorm forward (training): tensor running_mean holds 3 floats, the shape "
                   "needs 4");
  vkl_buf ws = vkl_buf_sub(big, 0, (vkl_batchnorm_workspace_floats(&sh) - 1) * sizeof(float));
  cr_assert_eq(vkl_batchnorm_forward_train(d.cmd, big, big, big, NULL, NULL, big, NULL, NULL, &sh,
                                           1e-5f, 0.1f, ws),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(d.ctx), "tensor workspace holds"), "%s", vkl_ctx_errmsg(d.ctx));
  cr_assert_eq(vkl_batchnorm_forward_eval(d.cmd, big, short_buf, big, big, NULL, NULL, &sh, 1e-5f),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "batchnorm forward (evaluation): tensor x holds 50 floats, the shape needs 72");
  cr_assert_eq(
      vkl_batchnorm_backward(d.cmd, NULL, &tiny, NULL, big, big, big, big, NULL, &sh, 0, big),
      VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "batchnorm backward: tensor dgamma holds 3 floats, the shape needs 4");
  cr_assert_eq(
      vkl_batchnorm_backward(d.cmd, &big, NULL, NULL, big, big, big, big, &tiny, &sh, 0, big),
      VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "batchnorm backward: tensor gamma holds 3 floats, the shape needs 4");
  TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
  test_dev_destroy(&d);
}
