/* The communicator's collectives (src/dist) across real ranks: run as
 *   mpiexec -np 3 dist_check
 * (ctest does). Each rank checks what it received; the program exits 1
 * on any rank's failure, naming the check and the rank. Three ranks,
 * since two cannot tell one order of summation from another. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/dist.h"

static int failures;
static uint32_t me;

#define CHECK(cond, ...)                                 \
  do {                                                   \
    if (!(cond)) {                                       \
      fprintf(stderr, "dist_check: rank %u: FAIL ", me); \
      fprintf(stderr, __VA_ARGS__);                      \
      fputc('\n', stderr);                               \
      failures++;                                        \
    }                                                    \
  } while (0)

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t bits_hash(const float *v, uint32_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  const unsigned char *b = (const unsigned char *)v;
  for (size_t i = 0; i < n * sizeof *v; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/* Sums whose value depends on the order of the additions (1e8, -1e8, 1
 * gives 1 or 0 in float) come back the same on every rank and every time. */
static void check_order(vkl_dist *d, uint32_t size) {
  enum { n = 4099 };
  static float v[n];
  uint64_t first = 0;
  for (int rep = 0; rep < 5; rep++) {
    for (uint32_t i = 0; i < n; i++) {
      uint32_t k = (i + me) % 3;
      v[i] = k == 0 ? 1e8f : k == 1 ? -1e8f : 1.0f + (float)(i % 7) * 0.125f;
    }
    CHECK(vkl_dist_sum_f32(d, v, n) == VKL_OK, "sum_f32: %s", vkl_dist_errmsg(d));
    uint64_t h = bits_hash(v, n);
    if (rep == 0) first = h;
    CHECK(h == first, "repetition %d of the same sum gave other bits", rep);
    uint32_t differs;
    CHECK(vkl_dist_agree_u64(d, h, &differs) == VKL_OK, "agree: %s", vkl_dist_errmsg(d));
    CHECK(differs == UINT32_MAX, "rank %u received other bits than rank 0", differs);
  }
  /* exact values sum exactly */
  for (uint32_t i = 0; i < n; i++) v[i] = (float)(me + 1) * (float)(i % 13);
  vkl_dist_sum_f32(d, v, n);
  float ranks_sum = (float)(size * (size + 1) / 2);
  for (uint32_t i = 0; i < n; i++)
    if (v[i] != ranks_sum * (float)(i % 13)) {
      CHECK(0, "sum_f32[%u] = %g, expected %g", i, v[i], ranks_sum * (float)(i % 13));
      break;
    }
  double x[3] = {me + 0.5, 1e-300 * (me + 1), -(double)me};
  CHECK(vkl_dist_sum_f64(d, x, 3) == VKL_OK, "sum_f64: %s", vkl_dist_errmsg(d));
  CHECK(x[0] == size * (size - 1) / 2.0 + 0.5 * size, "sum_f64[0] = %g", x[0]);
  CHECK(x[2] == -(double)(size * (size - 1) / 2), "sum_f64[2] = %g", x[2]);
}

/* Buckets in flight at once, finished in order, each summed right. */
static void check_buckets(vkl_dist *d, uint32_t size) {
  enum { buckets = 12, per = 1000 };
  static float v[buckets * per];
  uint32_t h[buckets];
  for (uint32_t i = 0; i < buckets * per; i++) v[i] = (float)(i % 97) + (float)me;
  for (uint32_t b = 0; b < buckets; b++)
    CHECK(vkl_dist_sum_f32_start(d, v + b * per, per, &h[b]) == VKL_OK, "start %u: %s", b,
          vkl_dist_errmsg(d));
  CHECK(vkl_dist_progress(d) == VKL_OK, "progress: %s", vkl_dist_errmsg(d));
  for (uint32_t b = 0; b < buckets; b++)
    CHECK(vkl_dist_finish(d, h[b]) == VKL_OK, "finish %u: %s", b, vkl_dist_errmsg(d));
  float ranks = (float)(size * (size - 1) / 2);
  for (uint32_t i = 0; i < buckets * per; i++)
    if (v[i] != (float)size * (float)(i % 97) + ranks) {
      CHECK(0, "bucketed sum [%u] = %g", i, v[i]);
      break;
    }
}

static void check_agreement(vkl_dist *d, uint32_t size) {
  uint32_t r;
  CHECK(vkl_dist_agree_u64(d, 42, &r) == VKL_OK && r == UINT32_MAX, "agree: all 42, got %u", r);
  CHECK(vkl_dist_agree_u64(d, me == size - 1 ? 7 : 42, &r) == VKL_OK && r == size - 1,
        "agree: the last rank differs, got %u", r);
  CHECK(vkl_dist_first_failed(d, me >= 1, &r) == VKL_OK && r == 1, "first failed: got %u", r);
  CHECK(vkl_dist_first_failed(d, 0, &r) == VKL_OK && r == UINT32_MAX, "none failed: got %u", r);
  int any;
  CHECK(vkl_dist_any(d, me == size - 1, &any) == VKL_OK && any == 1, "any: one flag, got %d", any);
  CHECK(vkl_dist_any(d, 0, &any) == VKL_OK && any == 0, "any: no flag, got %d", any);
}

/* Rank 0 starts a sum the others join only after two timeouts: it must
 * time out (not hang) within the timeout, and the sum still completes
 * once they join (rank 0 finishes it again half a timeout after they
 * do, inside their own timeout). */
static void check_timeout(vkl_dist *d, double timeout) {
  float v[4] = {1, 2, 3, 4};
  if (me == 0) {
    uint32_t h;
    vkl_dist_sum_f32_start(d, v, 4, &h);
    double t0 = now_s();
    vkl_status st = vkl_dist_finish(d, h);
    double waited = now_s() - t0;
    CHECK(st == VKL_ERR_TIMEOUT, "a sum the others never joined returned %s", vkl_status_name(st));
    CHECK(waited >= timeout * 0.9 && waited < timeout + 2, "timed out after %.2f s, not %.1f",
          waited, timeout);
    CHECK(strstr(vkl_dist_errmsg(d), "rank 0") != NULL, "the message names no rank: %s",
          vkl_dist_errmsg(d));
    struct timespec ts = {1, 500000000};
    nanosleep(&ts, NULL);
    CHECK(vkl_dist_finish(d, h) == VKL_OK, "finishing it after the others joined: %s",
          vkl_dist_errmsg(d));
  } else {
    struct timespec ts = {(time_t)(2 * timeout), 0};
    nanosleep(&ts, NULL);
    CHECK(vkl_dist_sum_f32(d, v, 4) == VKL_OK, "the late sum: %s", vkl_dist_errmsg(d));
  }
}

int main(int argc, char **argv) {
  const double timeout = 1.0; /* check_timeout's sleeps assume 1 s */
  vkl_dist *d;
  char err[600];
  if (vkl_dist_create(&argc, &argv, timeout, &d, err, sizeof err)) {
    fprintf(stderr, "dist_check: %s\n", err);
    return 1;
  }
  me = vkl_dist_rank(d);
  uint32_t size = vkl_dist_size(d);
  CHECK(size >= 3, "run with mpiexec -np 3 (or more): size %u", size);
  if (size >= 3) {
    check_order(d, size);
    check_buckets(d, size);
    check_agreement(d, size);
    check_timeout(d, timeout);
  }
  uint32_t failed;
  vkl_dist_first_failed(d, failures > 0, &failed);
  if (me == 0)
    printf("dist_check: %u ranks (%s): %s\n", size, vkl_dist_library(d),
           failed == UINT32_MAX ? "all checks passed" : "FAILED");
  vkl_dist_destroy(d);
  return failed == UINT32_MAX ? 0 : 1;
}
