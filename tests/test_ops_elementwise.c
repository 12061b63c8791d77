/* Element-wise ops on the device against their references: add, its
 * backward (write and accumulate), scale, fill; awkward lengths. */
#include "ops/elementwise.h"
#include "test_util.h"

static const size_t lengths[] = {1, 7, 255, 257, 1000003};
#define NLEN (sizeof lengths / sizeof lengths[0])

Test(ops_elementwise, add_forward) {
  test_dev d = test_dev_create(64u << 20);
  test_rng rng = {1};
  for (size_t k = 0; k < NLEN; k++) {
    size_t n = lengths[k];
    vkl_arena_reset(d.arena);
    double *a = test_random(&rng, n, 3), *b = test_random(&rng, n, 3), *ref = malloc(n * 8);
    vkl_buf da = test_upload(&d, a, n), db = test_upload(&d, b, n);
    vkl_buf y = test_alloc_poisoned(&d, n);
    TEST_RECORD_AND_RUN(&d, vkl_add_forward(d.cmd, y, da, db, n));
    vkl_add_forward_ref(ref, a, b, n);
    test_expect_close(&d, y, ref, n, TEST_ATOL, TEST_RTOL, "add");
    free(a), free(b), free(ref);
  }
  test_dev_destroy(&d);
}

Test(ops_elementwise, add_backward_writes_and_accumulates) {
  test_dev d = test_dev_create(64u << 20);
  test_rng rng = {2};
  for (size_t k = 0; k < NLEN; k++) {
    size_t n = lengths[k];
    vkl_arena_reset(d.arena);
    double *dy = test_random(&rng, n, 1), *g0 = test_random(&rng, n, 1);
    double *ra = malloc(n * 8), *rb = malloc(n * 8);
    memcpy(rb, g0, n * 8);
    vkl_buf ddy = test_upload(&d, dy, n), gb = test_upload(&d, g0, n);
    vkl_buf ga = test_alloc_poisoned(&d, n);
    TEST_RECORD_AND_RUN(&d, vkl_add_backward(d.cmd, &ga, NULL, ddy, n, 0));
    TEST_RECORD_AND_RUN(&d, vkl_add_backward(d.cmd, NULL, &gb, ddy, n, 1));
    vkl_add_backward_ref(ra, NULL, dy, n, 0); /* ra = dy */
    vkl_add_backward_ref(NULL, rb, dy, n, 1); /* rb = g0 + dy */
    test_expect_close(&d, ga, ra, n, TEST_ATOL, TEST_RTOL, "add backward, write");
    test_expect_close(&d, gb, rb, n, TEST_ATOL, TEST_RTOL, "add backward, accumulate");
    free(dy), free(g0), free(ra), free(rb);
  }
  test_dev_destroy(&d);
}

Test(ops_elementwise, scale_and_fill) {
  test_dev d = test_dev_create(64u << 20);
  test_rng rng = {3};
  for (size_t k = 0; k < NLEN; k++) {
    size_t n = lengths[k];
    vkl_arena_reset(d.arena);
    double *x = test_random(&rng, n, 10), *ref = malloc(n * 8);
    vkl_buf dx = test_upload(&d, x, n), y = test_alloc_poisoned(&d, n);
    TEST_RECORD_AND_RUN(&d, vkl_scale_forward(d.cmd, y, dx, -0.375f, n, 0));
    vkl_scale_forward_ref(ref, x, -0.375, n);
    test_expect_close(&d, y, ref, n, TEST_ATOL, TEST_RTOL, "scale");
    TEST_RECORD_AND_RUN(&d, vkl_scale_forward(d.cmd, dx, dx, 2.0f, n, 0)); /* in place */
    vkl_scale_forward_ref(ref, x, 2.0, n);
    test_expect_close(&d, dx, ref, n, TEST_ATOL, TEST_RTOL, "scale in place");
    TEST_RECORD_AND_RUN(&d, vkl_fill(d.cmd, y, 0.25f, n));
    vkl_fill_ref(ref, 0.25, n);
    test_expect_close(&d, y, ref, n, 0, 0, "fill");
    free(x), free(ref);
  }
  test_dev_destroy(&d);
}

Test(ops_elementwise, refuses_short_tensors) {
  test_dev d = test_dev_create(1 << 20);
  vkl_buf a, y;
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 100 * sizeof(float), &a));
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 50 * sizeof(float), &y));
  TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));
  cr_assert_eq(vkl_add_forward(d.cmd, y, a, a, 100), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx), "add: tensor y holds 50 floats, the shape needs 100");
  TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
  test_dev_destroy(&d);
}
