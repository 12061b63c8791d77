/* Pooling on the device against the references: max-pool (output, argmax
 * through the backward pass, ties), average-pool and global average pool,
 * forward and backward (write and accumulate), on awkward shapes that take
 * both the vec4 and the scalar paths of the kernels; determinism; refused
 * shapes and tensors; and the host side of fastdiv. */
#include "fastdiv.h"
#include "ops/pool.h"
#include "test_util.h"

typedef struct pool_case {
  uint32_t N, C, H, W, R, S, sh, sw, ph, pw;
} pool_case;

/* Each line names what it exercises; "vec" = W % 4 == 0 (vec4 reads of x,
 * writes of dx), "vec y" = Q % 4 == 0 (vec4 writes of y, reads of dy). */
static const pool_case cases[] = {
    {1, 3, 13, 11, 3, 3, 2, 2, 1, 1}, /* ImageNet stem max-pool, odd sizes, N = 1 */
    {2, 5, 7, 7, 2, 2, 2, 2, 0, 0},   /* 2x2 s2 on odd sizes: the last row/column unused */
    {1, 3, 32, 32, 3, 3, 2, 2, 1, 1}, /* stem on CIFAR size: vec, vec y, lead 3 */
    {2, 3, 16, 12, 2, 2, 2, 2, 0, 0}, /* vec, Q = 6 */
    {1, 7, 8, 8, 2, 2, 2, 2, 0, 0},   /* vec, vec y, Q = 4 (4-wide tiles) */
    {1, 3, 9, 10, 3, 3, 1, 1, 1, 1},  /* window > stride, padding, scalar */
    {2, 3, 16, 16, 3, 3, 1, 1, 1, 1}, /* window > stride: vec, vec y, dy lead 3 */
    {1, 5, 14, 14, 3, 3, 1, 1, 0, 0}, /* Q = 12: vec y, dy lead 2, scalar x */
    {1, 3, 9, 13, 4, 4, 1, 1, 1, 1},  /* even window with padding, Q = 12 */
    {1, 3, 11, 9, 3, 2, 2, 1, 1, 0},  /* R != S, SH != SW */
    {1, 3, 7, 8, 1, 1, 2, 2, 0, 0},   /* 1x1 stride 2: rows and columns skipped */
    {1, 3, 17, 20, 5, 5, 3, 3, 2, 2}, /* stride 3: 12-wide backward tiles, lead 2 */
    {3, 1, 4, 4, 4, 4, 1, 1, 0, 0},   /* one window covering the input */
    {1, 1, 1, 1, 1, 1, 1, 1, 0, 0},   /* 1x1 */
};
#define NCASES (sizeof cases / sizeof cases[0])

static vkl_pool2d_shape case_shape(const pool_case *c) {
  vkl_pool2d_shape s = {c->N, c->C, c->H, c->W, c->R, c->S, c->sh, c->sw, c->ph, c->pw, 0, 0};
  cr_assert_eq(vkl_pool2d_shape_finish(&s), 0);
  return s;
}

static size_t n_in(const vkl_pool2d_shape *s) {
  return (size_t)s->N * s->C * s->H * s->W;
}

static size_t n_out(const vkl_pool2d_shape *s) {
  return (size_t)s->N * s->C * s->P * s->Q;
}

/* Inputs with many ties: small integers, and every 7th plane constant. */
static double *tied_input(test_rng *rng, const vkl_pool2d_shape *s) {
  double *x = malloc(n_in(s) * sizeof *x);
  cr_assert(x);
  size_t plane = (size_t)s->H * s->W;
  for (size_t i = 0; i < n_in(s); i++)
    x[i] = (i / plane) % 7 == 3 ? 1.0 : (double)(int)(test_rng_next(rng) % 4) - 2.0;
  return x;
}

static const char *what(char *buf, size_t len, const char *op, const pool_case *c) {
  snprintf(buf, len, "%s, N%u C%u %ux%u, window %ux%u stride %ux%u pad %ux%u", op, c->N, c->C, c->H,
           c->W, c->R, c->S, c->sh, c->sw, c->ph, c->pw);
  return buf;
}

/* The variants that differ from the write form by one specialization constant
 * (accumulate, no argmax) are tested on a subset that takes every load/store
 * path (scalar, vec4, vec4 with each lead): each new pipeline costs ~0.1-0.3 s
 * of LLVM on a cold shader cache. */
static int all_variants(size_t k) {
  return k == 0 || k == 2 || k == 6 || k == 7 || k == 11;
}

/* Max-pool forward and backward for one case and input x. */
static void check_maxpool(test_dev *d, test_rng *rng, const pool_case *c, const double *x,
                          int variants) {
  char msg[160];
  vkl_pool2d_shape s = case_shape(c);
  size_t nx = n_in(&s), ny = n_out(&s);
  vkl_arena_reset(d->arena);
  double *y = malloc(ny * sizeof *y), *dy = test_random(rng, ny, 1);
  double *g0 = test_random(rng, nx, 1), *rw = malloc(nx * sizeof *rw);
  double *ra = malloc(nx * sizeof *ra);
  vkl_maxpool2d_forward_ref(y, x, &s);
  vkl_maxpool2d_backward_ref(rw, dy, x, &s, 0);
  memcpy(ra, g0, nx * sizeof *ra);
  vkl_maxpool2d_backward_ref(ra, dy, x, &s, 1);

  vkl_buf bx = test_upload(d, x, nx), by = test_alloc_poisoned(d, ny);
  vkl_buf by2 = test_alloc_poisoned(d, ny), bam = test_alloc_poisoned(d, ny);
  vkl_buf bdy = test_upload(d, dy, ny), bgw = test_alloc_poisoned(d, nx);
  vkl_buf bga = test_upload(d, g0, nx);
  TEST_RECORD_AND_RUN(d, vkl_maxpool2d_forward(d->cmd, by, &bam, bx, &s));
  TEST_RECORD_AND_RUN(d, vkl_maxpool2d_backward(d->cmd, bgw, bdy, bam, &s, 0));
  /* a maximum is one of the inputs: exact */
  test_expect_close(d, by, y, ny, 0, 0, what(msg, sizeof msg, "maxpool forward", c));
  test_expect_close(d, bgw, rw, nx, TEST_ATOL, TEST_RTOL,
                    what(msg, sizeof msg, "maxpool backward, write", c));
  if (variants) {
    TEST_RECORD_AND_RUN(d, vkl_maxpool2d_forward(d->cmd, by2, NULL, bx, &s));
    TEST_RECORD_AND_RUN(d, vkl_maxpool2d_backward(d->cmd, bga, bdy, bam, &s, 1));
    test_expect_close(d, by2, y, ny, 0, 0, what(msg, sizeof msg, "maxpool forward, no argmax", c));
    test_expect_close(d, bga, ra, nx, TEST_ATOL, TEST_RTOL,
                      what(msg, sizeof msg, "maxpool backward, accumulate", c));
  }
  free(y), free(dy), free(g0), free(rw), free(ra);
}

Test(ops_pool, maxpool_random) {
  test_dev d = test_dev_create(8u << 20);
  test_rng rng = {21};
  for (size_t k = 0; k < NCASES; k++) {
    vkl_pool2d_shape s = case_shape(&cases[k]);
    double *x = test_random(&rng, n_in(&s), 2);
    check_maxpool(&d, &rng, &cases[k], x, all_variants(k));
    free(x);
  }
  test_dev_destroy(&d);
}

/* With ties, the gradient shows which maximum was selected: it must be the
 * first in scan order (r outer, s inner), as in the reference. */
Test(ops_pool, maxpool_ties_follow_the_reference) {
  test_dev d = test_dev_create(8u << 20);
  test_rng rng = {22};
  for (size_t k = 0; k < NCASES; k++) {
    vkl_pool2d_shape s = case_shape(&cases[k]);
    double *x = tied_input(&rng, &s);
    check_maxpool(&d, &rng, &cases[k], x, all_variants(k));
    free(x);
  }
  test_dev_destroy(&d);
}

/* All inputs negative with padding: a pad would win if it counted as 0. */
Test(ops_pool, maxpool_padding_never_wins) {
  test_dev d = test_dev_create(8u << 20);
  test_rng rng = {23};
  for (size_t k = 0; k < NCASES; k++) {
    vkl_pool2d_shape s = case_shape(&cases[k]);
    double *x = test_random(&rng, n_in(&s), 1);
    for (size_t i = 0; i < n_in(&s); i++) x[i] = (double)(float)(-2.0 - fabs(x[i]));
    check_maxpool(&d, &rng, &cases[k], x, all_variants(k));
    free(x);
  }
  test_dev_destroy(&d);
}

Test(ops_pool, avgpool_random) {
  test_dev d = test_dev_create(8u << 20);
  test_rng rng = {24};
  char msg[160];
  for (size_t k = 0; k < NCASES; k++) {
    const pool_case *c = &cases[k];
    vkl_pool2d_shape s = case_shape(c);
    size_t nx = n_in(&s), ny = n_out(&s);
    vkl_arena_reset(d.arena);
    double *x = test_random(&rng, nx, 2), *dy = test_random(&rng, ny, 1);
    double *g0 = test_random(&rng, nx, 1), *y = malloc(ny * sizeof *y);
    double *rw = malloc(nx * sizeof *rw), *ra = malloc(nx * sizeof *ra);
    vkl_avgpool2d_forward_ref(y, x, &s);
    vkl_avgpool2d_backward_ref(rw, dy, &s, 0);
    memcpy(ra, g0, nx * sizeof *ra);
    vkl_avgpool2d_backward_ref(ra, dy, &s, 1);
    vkl_buf bx = test_upload(&d, x, nx), by = test_alloc_poisoned(&d, ny);
    vkl_buf bdy = test_upload(&d, dy, ny), bgw = test_alloc_poisoned(&d, nx);
    vkl_buf bga = test_upload(&d, g0, nx);
    TEST_RECORD_AND_RUN(&d, vkl_avgpool2d_forward(d.cmd, by, bx, &s));
    TEST_RECORD_AND_RUN(&d, vkl_avgpool2d_backward(d.cmd, bgw, bdy, &s, 0));
    test_expect_close(&d, by, y, ny, TEST_ATOL, TEST_RTOL,
                      what(msg, sizeof msg, "avgpool forward", c));
    test_expect_close(&d, bgw, rw, nx, TEST_ATOL, TEST_RTOL,
                      what(msg, sizeof msg, "avgpool backward, write", c));
    if (all_variants(k)) {
      TEST_RECORD_AND_RUN(&d, vkl_avgpool2d_backward(d.cmd, bga, bdy, &s, 1));
      test_expect_close(&d, bga, ra, nx, TEST_ATOL, TEST_RTOL,
                        what(msg, sizeof msg, "avgpool backward, accumulate", c));
    }
    free(x), free(dy), free(g0), free(y), free(rw), free(ra);
  }
  test_dev_destroy(&d);
}

/* Forward and backward recorded together: the ops' own barriers order the
 * argmax and y writes before their reads (synchronization validation would
 * report a miss); and the gathers are deterministic, bit for bit. */
Test(ops_pool, one_recording_and_deterministic) {
  test_dev d = test_dev_create(8u << 20);
  test_rng rng = {25};
  vkl_pool2d_shape s = case_shape(&cases[6]); /* overlapping windows */
  size_t nx = n_in(&s), ny = n_out(&s);
  double *x = tied_input(&rng, &s), *dy = test_random(&rng, ny, 1);
  double *rw = malloc(nx * sizeof *rw);
  vkl_maxpool2d_backward_ref(rw, dy, x, &s, 0);
  vkl_avgpool2d_backward_ref(rw, dy, &s, 1); /* max, then avg added */
  vkl_buf bx = test_upload(&d, x, nx), by = test_alloc_poisoned(&d, ny);
  vkl_buf bam = test_alloc_poisoned(&d, ny), bdy = test_upload(&d, dy, ny);
  vkl_buf g1 = test_alloc_poisoned(&d, nx), g2 = test_alloc_poisoned(&d, nx);
  TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));
  for (int rep = 0; rep < 2; rep++) {
    vkl_buf g = rep ? g2 : g1;
    TEST_OK(d.ctx, vkl_maxpool2d_forward(d.cmd, by, &bam, bx, &s));
    TEST_OK(d.ctx, vkl_maxpool2d_backward(d.cmd, g, bdy, bam, &s, 0));
    TEST_OK(d.ctx, vkl_avgpool2d_backward(d.cmd, g, bdy, &s, 1));
  }
  TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
  TEST_OK(d.ctx, vkl_run(d.ctx, d.cmd));
  test_expect_close(&d, g1, rw, nx, TEST_ATOL, TEST_RTOL, "max then avg backward");
  float *a = malloc(nx * sizeof *a), *b = malloc(nx * sizeof *b);
  TEST_OK(d.ctx, vkl_download(d.ctx, a, g1, nx * sizeof *a));
  TEST_OK(d.ctx, vkl_download(d.ctx, b, g2, nx * sizeof *b));
  cr_assert(memcmp(a, b, nx * sizeof *a) == 0, "two runs differ");
  free(a), free(b), free(x), free(dy), free(rw);
  test_dev_destroy(&d);
}

Test(ops_pool, global_avgpool) {
  static const uint32_t shapes[][4] = {{1, 3, 4, 4},   {2, 5, 1, 1}, {3, 7, 7, 7},
                                       {1, 1, 13, 11}, {2, 6, 8, 8}, {5, 13, 2, 6}};
  test_dev d = test_dev_create(4u << 20);
  test_rng rng = {26};
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    vkl_pool2d_shape s = {
        .N = shapes[k][0], .C = shapes[k][1], .H = shapes[k][2], .W = shapes[k][3]};
    size_t planes = (size_t)s.N * s.C, nx = planes * s.H * s.W;
    vkl_arena_reset(d.arena);
    double *x = test_random(&rng, nx, 2), *dy = test_random(&rng, planes, 1);
    double *g0 = test_random(&rng, nx, 1), *y = malloc(planes * sizeof *y);
    double *rw = malloc(nx * sizeof *rw), *ra = malloc(nx * sizeof *ra);
    vkl_global_avgpool_forward_ref(y, x, &s);
    vkl_global_avgpool_backward_ref(rw, dy, &s, 0);
    memcpy(ra, g0, nx * sizeof *ra);
    vkl_global_avgpool_backward_ref(ra, dy, &s, 1);
    vkl_buf bx = test_upload(&d, x, nx), by = test_alloc_poisoned(&d, planes);
    vkl_buf bdy = test_upload(&d, dy, planes), bgw = test_alloc_poisoned(&d, nx);
    vkl_buf bga = test_upload(&d, g0, nx);
    TEST_RECORD_AND_RUN(&d, vkl_global_avgpool_forward(d.cmd, by, bx, &s));
    TEST_RECORD_AND_RUN(&d, vkl_global_avgpool_backward(d.cmd, bgw, bdy, &s, 0));
    TEST_RECORD_AND_RUN(&d, vkl_global_avgpool_backward(d.cmd, bga, bdy, &s, 1));
    char msg[96];
    snprintf(msg, sizeof msg, "global avgpool %ux%ux%ux%u", s.N, s.C, s.H, s.W);
    test_expect_close(&d, by, y, planes, TEST_ATOL, TEST_RTOL, msg);
    test_expect_close(&d, bgw, rw, nx, TEST_ATOL, TEST_RTOL, "global avgpool backward, write");
    test_expect_close(&d, bga, ra, nx, TEST_ATOL, TEST_RTOL, "global avgpool backward, accumulate");
    free(x), free(dy), free(g0), free(y), free(rw), free(ra);
  }
  test_dev_destroy(&d);
}

Test(ops_pool, refuses_bad_shapes_and_tensors) {
  test_dev d = test_dev_create(1 << 20);
  vkl_buf big, small;
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 4096 * sizeof(float), &big));
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 3 * sizeof(float), &small));
  TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));
  vkl_pool2d_shape s = {
      .N = 1, .C = 2, .H = 8, .W = 8, .R = 2, .S = 2, .stride_h = 2, .stride_w = 2};
  /* not completed: P = Q = 0 */
  cr_assert_eq(vkl_maxpool2d_forward(d.cmd, big, NULL, big, &s), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "maxpool2d: output size 0x0, the shape gives 4x4 (complete it with "
                   "vkl_pool2d_shape_finish)");
  cr_assert_eq(vkl_pool2d_shape_finish(&s), 0);
  vkl_pool2d_shape bad = s;
  bad.stride_w = 0;
  cr_assert_eq(vkl_avgpool2d_forward(d.cmd, big, big, &bad), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(d.ctx),
                   "avgpool2d: invalid shape: N=1 C=2 H=8 W=8, window "
                   "2x2, stride 2x0, pad 0x0"),
            "%s", vkl_ctx_errmsg(d.ctx));
  bad = s;
  bad.pad_h = 2; /* more than half the window */
  cr_assert_eq(vkl_maxpool2d_backward(d.cmd, big, big, big, &bad, 0), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(d.ctx), "maxpool2d backward: invalid shape"), "%s",
            vkl_ctx_errmsg(d.ctx));
  bad = (vkl_pool2d_shape){
      .N = 1, .C = 1, .H = 40, .W = 40, .R = 17, .S = 3, .stride_h = 1, .stride_w = 1};
  cr_assert_eq(vkl_pool2d_shape_finish(&bad), 0);
  cr_assert_eq(vkl_avgpool2d_backward(d.cmd, big, big, &bad, 1), VKL_ERR_UNSUPPORTED);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "avgpool2d backward: window 17x3, stride 1x1: at most 16 each is supported");
  /* tensors: argmax too short, dy too short, missing */
  cr_assert_eq(vkl_maxpool2d_forward(d.cmd, big, &small, big, &s), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "maxpool2d: tensor argmax holds 3 floats, the shape needs 32");
  cr_assert_eq(vkl_maxpool2d_backward(d.cmd, big, small, big, &s, 0), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "maxpool2d backward: tensor dy holds 3 floats, the shape needs 32");
  cr_assert_eq(vkl_avgpool2d_forward(d.cmd, (vkl_buf){0}, big, &s), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx), "avgpool2d: tensor y is missing");
  /* global average pool */
  vkl_pool2d_shape g = {.N = 2, .C = 3, .H = 0, .W = 4};
  cr_assert_eq(vkl_global_avgpool_forward(d.cmd, big, big, &g), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "global_avgpool: invalid shape: N=2 C=3 H=0 W=4 (all must be positive)");
  g.H = 4;
  cr_assert_eq(vkl_global_avgpool_backward(d.cmd, big, small, &g, 0), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "global_avgpool backward: tensor dy holds 3 floats, the shape needs 6");
  TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
  test_dev_destroy(&d);
}

/* The host twin of the kernels' fastdiv against plain division. */
Test(ops_pool, fastdiv_matches_division) {
  test_rng rng = {27};
  for (uint32_t d = 1; d < 5000; d++) {
    uint32_t mul, shr;
    vkl_fastdiv_init(d, &mul, &shr);
    const uint32_t edges[] = {0, 1, d - 1, d, d + 1, 2 * d - 1, 0x7fffffffu, 0x7fffffffu - d};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
      cr_assert_eq(vkl_fastdiv(edges[i], mul, shr), edges[i] / d, "%u / %u", edges[i], d);
    for (int i = 0; i < 200; i++) {
      uint32_t a = (uint32_t)(test_rng_next(&rng) >> 33);
      cr_assert_eq(vkl_fastdiv(a, mul, shr), a / d, "%u / %u", a, d);
    }
  }
  for (int i = 0; i < 100000; i++) {
    uint32_t d = (uint32_t)(test_rng_next(&rng) >> 33) | 1u, mul, shr;
    uint32_t a = (uint32_t)(test_rng_next(&rng) >> 33);
    vkl_fastdiv_init(d, &mul, &shr);
    cr_assert_eq(vkl_fastdiv(a, mul, shr), a / d, "%u / %u", a, d);
  }
}
