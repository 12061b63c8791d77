/* Helpers shared by the Criterion tests: a validated context whose every
 * validation message fails the test, a seeded RNG, and tolerance checks. */
#ifndef VKLARS_TEST_UTIL_H
#define VKLARS_TEST_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "vk/vk.h"

static atomic_uint test_validation_count;
static char test_validation_first[2048];

static void test_on_validation(void *user, const char *message) {
  (void)user;
  if (atomic_fetch_add(&test_validation_count, 1) == 0)
    snprintf(test_validation_first, sizeof test_validation_first, "%s", message);
  fprintf(stderr, "validation: %s\n", message);
}

/* A context on the default device (or VKLARS_DEVICE), validation on. A
 * missing device fails the test: CI never skips. */
static inline vkl_ctx *test_ctx_create(void) {
  vkl_ctx_config cfg = {
      .validation = VKLARS_TEST_VALIDATION,
      .on_validation = test_on_validation,
  };
  vkl_ctx *ctx = NULL;
  vkl_status st = vkl_ctx_create(&cfg, &ctx);
  cr_assert_eq(st, VKL_OK, "vkl_ctx_create: %s: %s", vkl_status_str(st), vkl_ctx_errmsg(ctx));
  return ctx;
}

/* Destroys the context, then fails if any validation message arrived,
 * including those reported during teardown (leaked objects). */
static inline void test_ctx_destroy(vkl_ctx *ctx) {
  vkl_ctx_destroy(ctx);
  unsigned n = atomic_load(&test_validation_count);
  cr_assert_eq(n, 0, "%u validation message(s); first: %s", n, test_validation_first);
}

/* Forgets the messages seen so far (for tests that provoke them). */
static inline unsigned test_validation_take(void) {
  return atomic_exchange(&test_validation_count, 0);
}

#define TEST_OK(ctx, expr)                                                        \
  do {                                                                            \
    vkl_status test_st_ = (expr);                                                 \
    cr_assert_eq(test_st_, VKL_OK, "%s: %s: %s", #expr, vkl_status_str(test_st_), \
                 vkl_ctx_errmsg(ctx));                                            \
  } while (0)

/* splitmix64: small, seedable, good enough for test data */
typedef struct test_rng {
  uint64_t s;
} test_rng;

static inline uint64_t test_rng_next(test_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* uniform in [-1, 1) */
static inline float test_rng_float(test_rng *r) {
  return (float)((double)(test_rng_next(r) >> 11) * 0x1.0p-52 - 1.0);
}

/* |got - ref| <= atol + rtol * |ref|, reporting the first failure. */
static inline void test_assert_close(const float *got, const double *ref, size_t n, double atol,
                                     double rtol, const char *what) {
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - ref[i]);
    if (!(d <= atol + rtol * fabs(ref[i])))
      cr_assert_fail("%s: element %zu: got %.9g, reference %.9g (|d| = %.3g)", what, i,
                     (double)got[i], ref[i], d);
  }
}

/* ---- device tensors for op tests ------------------------------------- */

/* A validated context with one arena and one command buffer. */
typedef struct test_dev {
  vkl_ctx *ctx;
  vkl_arena *arena;
  vkl_cmd *cmd;
} test_dev;

static inline test_dev test_dev_create(size_t arena_bytes) {
  test_dev d;
  d.ctx = test_ctx_create();
  TEST_OK(d.ctx, vkl_arena_create(d.ctx, VKL_MEM_DEVICE, arena_bytes, "test", &d.arena));
  TEST_OK(d.ctx, vkl_cmd_create(d.ctx, &d.cmd));
  return d;
}

static inline void test_dev_destroy(test_dev *d) {
  vkl_cmd_destroy(d->cmd);
  vkl_arena_destroy(d->arena);
  test_ctx_destroy(d->ctx);
}

/* n doubles in [-scale, scale), each exactly representable as a float, so
 * the reference and the device see identical inputs. malloc'ed. */
static inline double *test_random(test_rng *r, size_t n, double scale) {
  double *x = malloc((n ? n : 1) * sizeof *x);
  cr_assert(x);
  for (size_t i = 0; i < n; i++) x[i] = (double)(float)(scale * test_rng_float(r));
  return x;
}

/* A device tensor holding x (converted to float). */
static inline vkl_buf test_upload(test_dev *d, const double *x, size_t n) {
  vkl_buf b;
  TEST_OK(d->ctx, vkl_arena_alloc(d->arena, (n ? n : 1) * sizeof(float), &b));
  float *f = malloc((n ? n : 1) * sizeof *f);
  cr_assert(f);
  for (size_t i = 0; i < n; i++) f[i] = (float)x[i];
  TEST_OK(d->ctx, vkl_upload(d->ctx, b, f, n * sizeof(float)));
  free(f);
  return b;
}

/* A device buffer holding n uint32 values (labels, tables), and the way back. */
static inline vkl_buf test_upload_u32(test_dev *d, const uint32_t *v, size_t n) {
  vkl_buf b;
  TEST_OK(d->ctx, vkl_arena_alloc(d->arena, (n ? n : 1) * sizeof(uint32_t), &b));
  TEST_OK(d->ctx, vkl_upload(d->ctx, b, v, n * sizeof(uint32_t)));
  return b;
}

static inline void test_download_u32(test_dev *d, uint32_t *dst, vkl_buf b, size_t n) {
  TEST_OK(d->ctx, vkl_download(d->ctx, dst, b, n * sizeof(uint32_t)));
}

/* A device tensor of n floats, poisoned with NaN so unwritten elements show. */
static inline vkl_buf test_alloc_poisoned(test_dev *d, size_t n) {
  double *nan = malloc((n ? n : 1) * sizeof *nan);
  cr_assert(nan);
  for (size_t i = 0; i < n; i++) nan[i] = NAN;
  vkl_buf b = test_upload(d, nan, n);
  free(nan);
  return b;
}

/* Runs the recording made by `record`, between begin/end, and waits. */
#define TEST_RECORD_AND_RUN(d, record)              \
  do {                                              \
    TEST_OK((d)->ctx, vkl_cmd_begin((d)->cmd));     \
    TEST_OK((d)->ctx, (record));                    \
    TEST_OK((d)->ctx, vkl_cmd_end((d)->cmd));       \
    TEST_OK((d)->ctx, vkl_run((d)->ctx, (d)->cmd)); \
  } while (0)

/* Downloads n floats and compares them with ref (see test_assert_close). */
static inline void test_expect_close(test_dev *d, vkl_buf b, const double *ref, size_t n,
                                     double atol, double rtol, const char *what) {
  float *f = malloc((n ? n : 1) * sizeof *f);
  cr_assert(f);
  TEST_OK(d->ctx, vkl_download(d->ctx, f, b, n * sizeof(float)));
  test_assert_close(f, ref, n, atol, rtol, what);
  free(f);
}

/* The standard fp32 tolerance: |d| <= 1e-5 + 1e-4*|ref|. */
#define TEST_ATOL 1e-5
#define TEST_RTOL 1e-4

/* Sets (value != NULL) or clears an environment variable (VKLARS_TUNING,
 * VKLARS_TUNE: read when a context is created); returns the old value,
 * malloc'ed, or NULL, for test_env_restore. */
static inline char *test_env_swap(const char *name, const char *value) {
  const char *old = getenv(name);
  char *saved = old ? strdup(old) : NULL;
  if (value)
    cr_assert_eq(setenv(name, value, 1), 0);
  else
    unsetenv(name);
  return saved;
}

static inline void test_env_restore(const char *name, char *saved) {
  if (saved)
    cr_assert_eq(setenv(name, saved, 1), 0);
  else
    unsetenv(name);
  free(saved);
}

/* The four ways a reduction finishes across workgroups
 * (shaders/common/reduce_sync.h): one dispatch under the Vulkan memory model
 * or two, subgroup arithmetic or a shared-memory tree within the workgroup;
 * path i of 4, as a VKLARS_TUNE setting and the table fields it gives. */
typedef struct test_reduce_path {
  const char *tune;
  uint32_t memory_model, subgroup_reduce;
} test_reduce_path;

static inline test_reduce_path test_reduce_path_at(int i) {
  static const test_reduce_path paths[4] = {
      {"memory_model=1,subgroup_reduce=0", 1, 0},
      {"memory_model=1,subgroup_reduce=1", 1, 1},
      {"memory_model=0,subgroup_reduce=0", 0, 0},
      {"memory_model=0,subgroup_reduce=1", 0, 1},
  };
  return paths[i];
}

#endif
