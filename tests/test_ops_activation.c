/* ReLU on the device against its reference: forward (fresh output and in
 * place), backward (write and accumulate, and dx in place of dy), exact
 * zeros (gradient 0 at the kink), awkward lengths around the vec4 and
 * workgroup sizes, and refused short tensors. */
#include "ops/activation.h"
#include "test_util.h"

/* 4096 floats is one workgroup of the vec4 grid; the others straddle it, or
 * are activation sizes (1x3x13x11, 2x5x7x7), or have a scalar tail. */
static const size_t lengths[] = {1, 3, 4, 7, 429, 490, 4095, 4097, 16384, 100003};
#define NLEN (sizeof lengths / sizeof lengths[0])

/* Random values with about a tenth exactly zero, so the kink is exercised. */
static double *random_with_zeros(test_rng *rng, size_t n) {
  double *x = test_random(rng, n, 2);
  for (size_t i = 0; i < n; i++)
    if (test_rng_next(rng) % 10 == 0) x[i] = (test_rng_next(rng) & 1) ? 0.0 : -0.0;
  return x;
}

Test(ops_activation, relu_forward_and_in_place) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {11};
  for (size_t k = 0; k < NLEN; k++) {
    size_t n = lengths[k];
    vkl_arena_reset(d.arena);
    double *x = random_with_zeros(&rng, n), *ref = malloc(n * sizeof *ref);
    vkl_buf dx = test_upload(&d, x, n), y = test_alloc_poisoned(&d, n);
    vkl_relu_forward_ref(ref, x, n);
    TEST_RECORD_AND_RUN(&d, vkl_relu_forward(d.cmd, y, dx, n));
    test_expect_close(&d, y, ref, n, 0, 0, "relu forward");
    TEST_RECORD_AND_RUN(&d, vkl_relu_forward(d.cmd, dx, dx, n)); /* in place */
    test_expect_close(&d, dx, ref, n, 0, 0, "relu forward in place");
    free(x), free(ref);
  }
  test_dev_destroy(&d);
}

Test(ops_activation, relu_backward_writes_and_accumulates) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {12};
  for (size_t k = 0; k < NLEN; k++) {
    size_t n = lengths[k];
    vkl_arena_reset(d.arena);
    double *x = random_with_zeros(&rng, n), *dy = test_random(&rng, n, 1);
    double *g0 = test_random(&rng, n, 1), *y = malloc(n * sizeof *y);
    double *rw = malloc(n * sizeof *rw), *ra = malloc(n * sizeof *ra);
    vkl_relu_forward_ref(y, x, n);
    memcpy(ra, g0, n * sizeof *ra);
    vkl_relu_backward_ref(rw, dy, y, n, 0);
    vkl_relu_backward_ref(ra, dy, y, n, 1);
    vkl_buf by = test_upload(&d, y, n), bdy = test_upload(&d, dy, n);
    vkl_buf gw = test_alloc_poisoned(&d, n), ga = test_upload(&d, g0, n);
    TEST_RECORD_AND_RUN(&d, vkl_relu_backward(d.cmd, gw, bdy, by, n, 0));
    TEST_RECORD_AND_RUN(&d, vkl_relu_backward(d.cmd, ga, bdy, by, n, 1));
    test_expect_close(&d, gw, rw, n, 0, 0, "relu backward, write");
    test_expect_close(&d, ga, ra, n, TEST_ATOL, TEST_RTOL, "relu backward, accumulate");
    TEST_RECORD_AND_RUN(&d, vkl_relu_backward(d.cmd, bdy, bdy, by, n, 0)); /* dx = dy */
    test_expect_close(&d, bdy, rw, n, 0, 0, "relu backward in place");
    free(x), free(dy), free(g0), free(y), free(rw), free(ra);
  }
  test_dev_destroy(&d);
}

/* The forward followed by the backward in one recording: the op's own
 * barriers order them (synchronization validation would report a miss). */
Test(ops_activation, relu_chain_in_one_recording) {
  test_dev d = test_dev_create(4u << 20);
  test_rng rng = {13};
  size_t n = 4097;
  double *x = random_with_zeros(&rng, n), *dy = test_random(&rng, n, 1);
  double *y = malloc(n * sizeof *y), *g = malloc(n * sizeof *g);
  vkl_relu_forward_ref(y, x, n);
  vkl_relu_backward_ref(g, dy, y, n, 0);
  vkl_relu_backward_ref(g, dy, y, n, 1); /* twice: 2 dy where y > 0 */
  vkl_buf bx = test_upload(&d, x, n), bdy = test_upload(&d, dy, n);
  vkl_buf bg = test_alloc_poisoned(&d, n);
  TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));
  TEST_OK(d.ctx, vkl_relu_forward(d.cmd, bx, bx, n));
  TEST_OK(d.ctx, vkl_relu_backward(d.cmd, bg, bdy, bx, n, 0));
  TEST_OK(d.ctx, vkl_relu_backward(d.cmd, bg, bdy, bx, n, 1));
  TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
  TEST_OK(d.ctx, vkl_run(d.ctx, d.cmd));
  test_expect_close(&d, bg, g, n, TEST_ATOL, TEST_RTOL, "relu forward then backward twice");
  free(x), free(dy), free(y), free(g);
  test_dev_destroy(&d);
}

Test(ops_activation, refuses_short_tensors) {
  test_dev d = test_dev_create(1 << 20);
  vkl_buf a, b;
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 100 * sizeof(float), &a));
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 99 * sizeof(float), &b));
  TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));
  cr_assert_eq(vkl_relu_forward(d.cmd, b, a, 100), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx), "relu: tensor y holds 99 floats, the shape needs 100");
  cr_assert_eq(vkl_relu_backward(d.cmd, a, a, b, 100, 0), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "relu backward: tensor y holds 99 floats, the shape needs 100");
  vkl_buf none = {0};
  cr_assert_eq(vkl_relu_backward(d.cmd, a, none, a, 100, 1), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx), "relu backward: tensor dy is missing");
  TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
  test_dev_destroy(&d);
}
