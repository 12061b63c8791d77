/* Barlow Twins on the device against the whole-batch double reference: k micro-batches
 * merged (B not a multiple of m, m = 1, 3, 17; d = 1, 5, 33, 67), then the finalize and
 * the per-sample gradients; the Chan merge's statistics, also on data with a large common
 * offset where naive fp32 sums of squares cancel; the reference gradient against central
 * finite differences; first = 1 over garbage; bit-identical reruns; invalid shapes.
 *
 * Tolerances: the standard |d| <= TEST_ATOL + TEST_RTOL*|ref| for each value, and the loss
 * also to 1e-5 relative. The statistics are checked with the atol scaled by their natural
 * size: M2 and X to 1e-5 * sqrt(M2_1,i M2_2,j) (an element of X near zero is still the
 * sum of products of that size), means to 1e-5 * (|mean| + sqrt(M2 / n)). */
#include "ops/barlow.h"
#include "barlow_layout.h"
#include "test_util.h"

/* z1 (B,d) uniform in [-1, 1) plus offset; z2 = 0.6 z1 + 0.8 noise plus offset, so C has
 * a clear diagonal (as a trained twin network's would) and noise off it. Every value is
 * a float. */
static void make_views(test_rng *rng, double **z1, double **z2, uint32_t B, uint32_t d,
                       double offset) {
  size_t n = (size_t)B * d;
  double *a = test_random(rng, n, 1.0), *e = test_random(rng, n, 1.0);
  for (size_t i = 0; i < n; i++) {
    e[i] = (double)(float)(offset + 0.6 * a[i] + 0.8 * e[i]);
    a[i] = (double)(float)(offset + a[i]);
  }
  *z1 = a, *z2 = e;
}

/* One batch on the device: each micro-batch its own pair of tensors (micro-batch offsets
 * into one tensor would not be aligned for every d). */
typedef struct bt_case {
  uint32_t B, m, d, k;
  vkl_barlow_shape sh;
  double *z1, *z2;
  vkl_buf *dz1, *dz2; /* (k) device micro-batches */
  vkl_buf stats, ws, loss;
} bt_case;

static uint32_t micro_m(const bt_case *c, uint32_t j) {
  uint32_t left = c->B - j * c->m;
  return left < c->m ? left : c->m;
}

static bt_case bt_setup(test_dev *d, test_rng *rng, uint32_t B, uint32_t m, uint32_t dim,
                        double offset) {
  bt_case c = {.B = B, .m = m, .d = dim, .k = (B + m - 1) / m};
  c.sh = (vkl_barlow_shape){
      .m = m, .d = dim, .lambda = VKL_BARLOW_LAMBDA_DEFAULT, .eps = VKL_BARLOW_EPS_DEFAULT};
  make_views(rng, &c.z1, &c.z2, B, dim, offset);
  c.dz1 = malloc(c.k * sizeof *c.dz1), c.dz2 = malloc(c.k * sizeof *c.dz2);
  cr_assert(c.dz1 && c.dz2);
  for (uint32_t j = 0; j < c.k; j++) {
    size_t at = (size_t)j * m * dim, n = (size_t)micro_m(&c, j) * dim;
    c.dz1[j] = test_upload(d, c.z1 + at, n);
    c.dz2[j] = test_upload(d, c.z2 + at, n);
  }
  c.stats = test_alloc_poisoned(d, vkl_barlow_stats_floats(dim));
  c.ws = test_alloc_poisoned(d, vkl_barlow_workspace_floats(&c.sh));
  c.loss = test_alloc_poisoned(d, 3);
  return c;
}

static void bt_free(bt_case *c) {
  free(c->z1), free(c->z2), free(c->dz1), free(c->dz2);
}

/* Records the k merges (the first with first = 1) and, if finalize, the finalize. */
static vkl_status record_batch(test_dev *d, bt_case *c, int finalize) {
  vkl_status st = VKL_OK;
  for (uint32_t j = 0; j < c->k && !st; j++) {
    vkl_barlow_shape sh = c->sh;
    sh.m = micro_m(c, j);
    st = vkl_barlow_stats_merge(d->cmd, c->stats, c->dz1[j], c->dz2[j], &sh, j == 0, c->ws);
  }
  if (!st && finalize) st = vkl_barlow_finalize(d->cmd, c->loss, c->stats, &c->sh, c->ws);
  return st;
}

static void download(test_dev *d, float *dst, vkl_buf b, size_t n) {
  TEST_OK(d->ctx, vkl_download(d->ctx, dst, b, n * sizeof(float)));
}

/* The device loss against the reference: each value by the standard rule, and L, the
 * on-diagonal sum and the off-diagonal sum to 1e-5 relative. */
static void check_loss(test_dev *d, bt_case *c, const char *what) {
  double ref[3];
  vkl_barlow_loss_ref(ref, NULL, NULL, c->z1, c->z2, c->B, c->d, c->sh.lambda, c->sh.eps);
  float got[3];
  download(d, got, c->loss, 3);
  char name[160];
  snprintf(name, sizeof name, "%s: B=%u m=%u d=%u loss", what, c->B, c->m, c->d);
  test_assert_close(got, ref, 3, TEST_ATOL, TEST_RTOL, name);
  for (int i = 0; i < 3; i++) {
    if (ref[i] < 1e-3) continue; /* d = 1 has no off-diagonal sum: the atol covers it */
    cr_assert_leq(fabs(got[i] - ref[i]), 1e-5 * ref[i], "%s[%d]: got %.9g, reference %.9g", name, i,
                  (double)got[i], ref[i]);
  }
}

/* {B, m, d}: B not a multiple of m (a smaller last micro-batch), m = 1, single samples. */
static const uint32_t shapes[][3] = {{7, 3, 1},    {4, 1, 5},  {10, 3, 5},   {40, 17, 33},
                                     {39, 17, 67}, {8, 3, 67}, {17, 17, 33}, {5, 1, 33}};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

Test(ops_barlow, loss_matches_whole_batch_reference) {
  test_dev d = test_dev_create(4u << 20);
  test_rng rng = {71};
  for (size_t s = 0; s < NSHAPES; s++) {
    vkl_arena_reset(d.arena);
    bt_case c = bt_setup(&d, &rng, shapes[s][0], shapes[s][1], shapes[s][2], 0.0);
    TEST_RECORD_AND_RUN(&d, record_batch(&d, &c, 1));
    check_loss(&d, &c, "random");
    bt_free(&c);
  }
  /* lambda 0 and 1 weight the two sums differently */
  for (int l = 0; l < 2; l++) {
    vkl_arena_reset(d.arena);
    bt_case c = bt_setup(&d, &rng, 23, 5, 9, 0.0);
    c.sh.lambda = (float)l;
    TEST_RECORD_AND_RUN(&d, record_batch(&d, &c, 1));
    check_loss(&d, &c, l ? "lambda=1" : "lambda=0");
    bt_free(&c);
  }
  test_dev_destroy(&d);
}

/* The merged statistics against the double whole-batch ones (see the tolerance note). */
static void check_stats(test_dev *d, bt_case *c, const char *what) {
  uint32_t dim = c->d;
  size_t n = vkl_barlow_stats_floats(dim);
  double *ref = malloc(n * sizeof *ref);
  float *got = malloc(n * sizeof *got);
  cr_assert(ref && got);
  vkl_barlow_stats_ref(ref, c->z1, c->z2, c->B, dim);
  download(d, got, c->stats, n);
  cr_assert_eq(got[VKL_BARLOW_N], (float)c->B, "%s: n = %g, want %u", what,
               (double)got[VKL_BARLOW_N], c->B);
  for (uint32_t i = 0; i < dim; i++) {
    const uint32_t at_mean[2] = {VKL_BARLOW_MEAN1(dim) + i, VKL_BARLOW_MEAN2(dim) + i};
    const uint32_t at_m2[2] = {VKL_BARLOW_M2_1(dim) + i, VKL_BARLOW_M2_2(dim) + i};
    const uint32_t at_piv[2] = {VKL_BARLOW_PIV1(dim) + i, VKL_BARLOW_PIV2(dim) + i};
    for (int v = 0; v < 2; v++) {
      cr_assert_eq(got[at_piv[v]], (float)ref[at_piv[v]], "%s: pivot%d[%u] %.9g, want %.9g", what,
                   v + 1, i, (double)got[at_piv[v]], ref[at_piv[v]]);
      /* the mean itself, and its part beyond the pivot (what the merge computes) */
      double mu = ref[at_piv[v]] + ref[at_mean[v]], m2 = ref[at_m2[v]];
      double got_mu = (double)got[at_piv[v]] + (double)got[at_mean[v]];
      double tol_mu = 1e-5 * (fabs(mu) + sqrt(m2 / c->B));
      cr_assert_leq(fabs(got_mu - mu), tol_mu, "%s: B=%u m=%u d=%u mean%d[%u]: %.9g vs %.9g", what,
                    c->B, c->m, dim, v + 1, i, got_mu, mu);
      cr_assert_leq(fabs(got[at_mean[v]] - ref[at_mean[v]]), 1e-5 * sqrt(m2 / c->B),
                    "%s: B=%u m=%u d=%u mean%d[%u] - pivot: %.9g vs %.9g", what, c->B, c->m, dim,
                    v + 1, i, (double)got[at_mean[v]], ref[at_mean[v]]);
      cr_assert_leq(fabs(got[at_m2[v]] - m2), 1e-5 * m2 + TEST_RTOL * m2,
                    "%s: B=%u m=%u d=%u M2_%d[%u]: %.9g vs %.9g", what, c->B, c->m, dim, v + 1, i,
                    (double)got[at_m2[v]], m2);
    }
    for (uint32_t j = 0; j < dim; j++) {
      size_t at = VKL_BARLOW_X(dim) + (size_t)i * dim + j;
      double scale = sqrt(ref[VKL_BARLOW_M2_1(dim) + i] * ref[VKL_BARLOW_M2_2(dim) + j]);
      cr_assert_leq(fabs(got[at] - ref[at]), 1e-5 * scale + TEST_RTOL * fabs(ref[at]),
                    "%s: B=%u m=%u d=%u X[%u][%u]: %.9g vs %.9g", what, c->B, c->m, dim, i, j,
                    (double)got[at], ref[at]);
    }
  }
  free(ref), free(got);
}

Test(ops_barlow, chan_merge_matches_whole_batch_statistics) {
  test_dev d = test_dev_create(4u << 20);
  test_rng rng = {72};
  for (size_t s = 0; s < NSHAPES; s++) {
    for (int shifted = 0; shifted < 2; shifted++) {
      vkl_arena_reset(d.arena);
      bt_case c =
          bt_setup(&d, &rng, shapes[s][0], shapes[s][1], shapes[s][2], shifted ? 1000.0 : 0.0);
      TEST_RECORD_AND_RUN(&d, record_batch(&d, &c, 0));
      check_stats(&d, &c, shifted ? "1000 + noise" : "random");
      bt_free(&c);
    }
  }
  test_dev_destroy(&d);
}

/* Records merges of micro-batches j0 .. j1-1 alone (j0 with first = 1). */
static vkl_status record_range(test_dev *d, bt_case *c, uint32_t j0, uint32_t j1) {
  vkl_status st = VKL_OK;
  for (uint32_t j = j0; j < j1 && !st; j++) {
    vkl_barlow_shape sh = c->sh;
    sh.m = micro_m(c, j);
    st = vkl_barlow_stats_merge(d->cmd, c->stats, c->dz1[j], c->dz2[j], &sh, j == j0, c->ws);
  }
  return st;
}

/* Data parallelism's merge: the batch's micro-batches split between two "ranks", each
 * merged on the device about its own pivots, then combined through raw sums about
 * rank 0's pivots on the host, give the whole batch's statistics, and its loss. */
Test(ops_barlow, statistics_of_two_ranks_combine_into_the_whole_batch) {
  test_dev d = test_dev_create(4u << 20);
  test_rng rng = {77};
  for (size_t s = 0; s < NSHAPES; s++) {
    for (int shifted = 0; shifted < 2; shifted++) {
      vkl_arena_reset(d.arena);
      bt_case c =
          bt_setup(&d, &rng, shapes[s][0], shapes[s][1], shapes[s][2], shifted ? 1000.0 : 0.0);
      if (c.k < 2) {
        bt_free(&c);
        continue;
      }
      uint32_t dim = c.d, split = c.k / 2;
      size_t n = vkl_barlow_stats_floats(dim), ns = vkl_barlow_sums_count(dim);
      float *part[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
      double *sums = calloc(ns, sizeof *sums), *one = malloc(ns * sizeof *one);
      double *piv = malloc(2 * dim * sizeof *piv);
      cr_assert(part[0] && part[1] && sums && one && piv);
      TEST_RECORD_AND_RUN(&d, record_range(&d, &c, 0, split));
      download(&d, part[0], c.stats, n);
      TEST_RECORD_AND_RUN(&d, record_range(&d, &c, split, c.k));
      download(&d, part[1], c.stats, n);
      vkl_barlow_stats_pivots(piv, part[0], dim);
      for (int r = 0; r < 2; r++) {
        vkl_barlow_stats_to_sums(one, part[r], piv, dim);
        for (size_t i = 0; i < ns; i++) sums[i] += one[i];
      }
      vkl_barlow_stats_from_sums(part[0], sums, piv, dim);
      TEST_OK(d.ctx, vkl_upload(d.ctx, c.stats, part[0], n * sizeof(float)));
      const char *what = shifted ? "two ranks, 1000 + noise" : "two ranks, random";
      check_stats(&d, &c, what);
      TEST_RECORD_AND_RUN(&d, vkl_barlow_finalize(d.cmd, c.loss, c.stats, &c.sh, c.ws));
      check_loss(&d, &c, what);
      free(part[0]), free(part[1]), free(sums), free(one), free(piv);
      bt_free(&c);
    }
  }
  test_dev_destroy(&d);
}

/* The offset data is the hard case: values 1000 +- 1, spread ~0.6. Naive fp32 sums
 * (sum z^2 - n mean^2) lose the variance entirely; the merge keeps it, and the loss,
 * which BatchNorm makes offset-free, still matches. */
Test(ops_barlow, offset_data_is_stable) {
  test_dev d = test_dev_create(4u << 20);
  test_rng rng = {73};
  bt_case c = bt_setup(&d, &rng, 39, 17, 33, 1000.0);
  /* the naive fp32 variance of feature 0, to show that this data defeats it */
  float s = 0.0f, q = 0.0f;
  for (uint32_t b = 0; b < c.B; b++) {
    float z = (float)c.z1[(size_t)b * c.d];
    s += z, q += z * z;
  }
  double *ref = malloc(vkl_barlow_stats_floats(c.d) * sizeof *ref);
  cr_assert(ref);
  vkl_barlow_stats_ref(ref, c.z1, c.z2, c.B, c.d);
  double m2 = ref[VKL_BARLOW_M2_1(c.d)], naive = (double)(q - s * s / (float)c.B);
  free(ref);
  cr_assert_gt(fabs(naive - m2), 0.1 * m2, "naive fp32 M2 %.6g vs %.6g: the data should cancel",
               naive, m2);
  TEST_RECORD_AND_RUN(&d, record_batch(&d, &c, 0));
  check_stats(&d, &c, "1000 + noise");
  TEST_RECORD_AND_RUN(&d, record_batch(&d, &c, 1));
  check_loss(&d, &c, "1000 + noise");
  bt_free(&c);
  test_dev_destroy(&d);
}

/* vkl_barlow_loss_ref's dz1, dz2 against central differences of its loss, in double:
 * h = 1e-5, relative 1e-6 of the gradient's largest element. */
Test(ops_barlow, reference_gradient_matches_finite_differences) {
  test_rng rng = {74};
  const uint32_t cases[][2] = {{5, 4}, {7, 3}, {3, 1}, {6, 6}};
  for (size_t t = 0; t < 4; t++) {
    uint32_t B = cases[t][0], dim = cases[t][1];
    size_t n = (size_t)B * dim;
    double *z[2];
    make_views(&rng, &z[0], &z[1], B, dim, 0.5);
    double *g[2] = {malloc(n * sizeof(double)), malloc(n * sizeof(double))}, loss[3], lp[3], lm[3];
    cr_assert(g[0] && g[1]);
    const double lambda = 0.3, eps = 1e-3; /* a large lambda: both sums matter */
    vkl_barlow_loss_ref(loss, g[0], g[1], z[0], z[1], B, dim, lambda, eps);
    double gmax = 0.0;
    for (int v = 0; v < 2; v++)
      for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[v][i]));
    for (int v = 0; v < 2; v++)
      for (size_t i = 0; i < n; i++) {
        const double h = 1e-5, z0 = z[v][i];
        z[v][i] = z0 + h;
        vkl_barlow_loss_ref(lp, NULL, NULL, z[0], z[1], B, dim, lambda, eps);
        z[v][i] = z0 - h;
        vkl_barlow_loss_ref(lm, NULL, NULL, z[0], z[1], B, dim, lambda, eps);
        z[v][i] = z0;
        double fd = (lp[0] - lm[0]) / (2 * h);
        cr_assert_leq(fabs(fd - g[v][i]), 1e-6 * gmax + 1e-6 * fabs(fd),
                      "B=%u d=%u dz%d[%zu]: analytic %.12g, finite difference %.12g", B, dim, v + 1,
                      i, g[v][i], fd);
      }
    free(z[0]), free(z[1]), free(g[0]), free(g[1]);
  }
}

/* Pass 2 over every micro-batch against the reference's rows of that micro-batch: scale 1
 * and 0.25, written and added onto a random gradient. */
Test(ops_barlow, backward_matches_reference) {
  test_dev d = test_dev_create(4u << 20);
  test_rng rng = {75};
  for (size_t s = 0; s < NSHAPES; s++) {
    vkl_arena_reset(d.arena);
    bt_case c = bt_setup(&d, &rng, shapes[s][0], shapes[s][1], shapes[s][2], 0.0);
    size_t n = (size_t)c.B * c.d;
    double *ref[2] = {malloc(n * sizeof(double)), malloc(n * sizeof(double))}, loss[3];
    cr_assert(ref[0] && ref[1]);
    vkl_barlow_loss_ref(loss, ref[0], ref[1], c.z1, c.z2, c.B, c.d, c.sh.lambda, c.sh.eps);
    TEST_RECORD_AND_RUN(&d, record_batch(&d, &c, 1));
    const float scales[2] = {1.0f, 0.25f};
    for (int sc = 0; sc < 2; sc++)
      for (int acc = 0; acc < 2; acc++)
        for (uint32_t j = 0; j < c.k; j++) {
          vkl_barlow_shape sh = c.sh;
          sh.m = micro_m(&c, j);
          size_t at = (size_t)j * c.m * c.d, mn = (size_t)sh.m * c.d;
          double *want[2] = {malloc(mn * sizeof(double)), malloc(mn * sizeof(double))};
          double *g0 = test_random(&rng, 2 * mn, 0.01);
          cr_assert(want[0] && want[1]);
          for (int v = 0; v < 2; v++)
            for (size_t i = 0; i < mn; i++)
              want[v][i] = scales[sc] * ref[v][at + i] + (acc ? g0[v * mn + i] : 0.0);
          vkl_buf g1 = acc ? test_upload(&d, g0, mn) : test_alloc_poisoned(&d, mn);
          vkl_buf g2 = acc ? test_upload(&d, g0 + mn, mn) : test_alloc_poisoned(&d, mn);
          TEST_RECORD_AND_RUN(&d, vkl_barlow_backward(d.cmd, g1, g2, c.dz1[j], c.dz2[j], c.stats,
                                                      &sh, scales[sc], acc));
          char name[160];
          snprintf(name, sizeof name, "B=%u m=%u d=%u micro-batch %u scale %g%s dz", c.B, c.m, c.d,
                   j, (double)scales[sc], acc ? " accumulate" : "");
          test_expect_close(&d, g1, want[0], mn, TEST_ATOL, TEST_RTOL, name);
          test_expect_close(&d, g2, want[1], mn, TEST_ATOL, TEST_RTOL, name);
          free(want[0]), free(want[1]), free(g0);
        }
    free(ref[0]), free(ref[1]);
    bt_free(&c);
  }
  test_dev_destroy(&d);
}

/* Everything the ops write: the statistics buffer (G after the finalize) and the loss,
 * then one micro-batch's gradients, as raw floats. */
static float *run_all(test_dev *d, bt_case *c, size_t *count) {
  size_t ns = vkl_barlow_stats_floats(c->d), mn = (size_t)micro_m(c, 0) * c->d;
  size_t n = ns + 3 + 2 * mn;
  float *out = malloc(n * sizeof *out);
  cr_assert(out);
  vkl_buf g1 = test_alloc_poisoned(d, mn), g2 = test_alloc_poisoned(d, mn);
  vkl_barlow_shape sh = c->sh;
  sh.m = micro_m(c, 0);
  TEST_OK(d->ctx, vkl_cmd_begin(d->cmd));
  TEST_OK(d->ctx, record_batch(d, c, 1));
  TEST_OK(d->ctx,
          vkl_barlow_backward(d->cmd, g1, g2, c->dz1[0], c->dz2[0], c->stats, &sh, 1.0f, 0));
  TEST_OK(d->ctx, vkl_cmd_end(d->cmd));
  TEST_OK(d->ctx, vkl_run(d->ctx, d->cmd));
  download(d, out, c->stats, ns);
  download(d, out + ns, c->loss, 3);
  download(d, out + ns + 3, g1, mn);
  download(d, out + ns + 3 + mn, g2, mn);
  *count = n;
  return out;
}

static void fill(test_dev *d, vkl_buf b, size_t n, float value) {
  float *f = malloc(n * sizeof *f);
  cr_assert(f);
  for (size_t i = 0; i < n; i++) f[i] = value;
  TEST_OK(d->ctx, vkl_upload(d->ctx, b, f, n * sizeof *f));
  free(f);
}

/* first = 1 never reads the old statistics: NaN, huge values or a previous batch's
 * statistics all give the same bits. */
Test(ops_barlow, first_merge_overwrites_old_statistics) {
  test_dev d = test_dev_create(4u << 20);
  test_rng rng = {76};
  bt_case c = bt_setup(&d, &rng, 39, 17, 33, 0.0);
  size_t ns = vkl_barlow_stats_floats(c.d), n0, n1, n2;
  fill(&d, c.stats, ns, NAN);
  fill(&d, c.ws, vkl_barlow_workspace_floats(&c.sh), NAN);
  float *a = run_all(&d, &c, &n0); /* over NaN */
  fill(&d, c.stats, ns, 3e38f);
  float *b = run_all(&d, &c, &n1); /* over huge values */
  float *e = run_all(&d, &c, &n2); /* over the finalized statistics of the same batch */
  cr_assert(n0 == n1 && n1 == n2);
  for (size_t i = 0; i < n0; i++) cr_assert(!isnan(a[i]), "NaN leaked into output word %zu", i);
  cr_assert(memcmp(a, b, n0 * sizeof *a) == 0, "garbage statistics changed the result");
  cr_assert(memcmp(a, e, n0 * sizeof *a) == 0, "old statistics changed the result");
  free(a), free(b), free(e);
  bt_free(&c);
  test_dev_destroy(&d);
}

/* Two runs of the same batch: bit-identical statistics, G, loss and gradients. */
Test(ops_barlow, deterministic) {
  test_dev d = test_dev_create(4u << 20);
  test_rng rng = {77};
  bt_case c = bt_setup(&d, &rng, 40, 17, 67, 0.0);
  size_t n0, n1;
  float *a = run_all(&d, &c, &n0);
  float *b = run_all(&d, &c, &n1);
  cr_assert_eq(n0, n1);
  cr_assert(memcmp(a, b, n0 * sizeof *a) == 0, "two runs differ");
  free(a), free(b);
  bt_free(&c);
  test_dev_destroy(&d);
}

/* An error status, recording nothing, with a message that names the op. */
static void expect_error(test_dev *d, vkl_status st, vkl_status want, const char *op,
                         const char *what) {
  cr_assert_eq(st, want, "%s: status %s, want %s", what, vkl_status_str(st), vkl_status_str(want));
  const char *msg = vkl_ctx_errmsg(d->ctx);
  cr_assert(strstr(msg, op), "%s: message '%s' does not name '%s'", what, msg, op);
}

Test(ops_barlow, invalid_shapes_are_errors) {
  test_dev d = test_dev_create(1u << 20);
  vkl_buf big, loss, g;
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, vkl_barlow_stats_floats(5) * sizeof(float), &big));
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 64 * sizeof(float), &loss));
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 64 * sizeof(float), &g));
  const vkl_barlow_shape ok = {.m = 3, .d = 5, .lambda = 0.005f, .eps = 1e-5f};
  /* the smallest d whose statistics exceed one binding */
  uint64_t range = vkl_ctx_device(d.ctx)->max_storage_buffer_range;
  uint32_t huge = 1;
  while (vkl_barlow_stats_floats(huge) * sizeof(float) <= range) huge *= 2;
  struct {
    vkl_barlow_shape sh;
    vkl_status want;
    const char *what;
  } bad[] = {
      {{.m = 3, .d = 0, .lambda = 0.005f, .eps = 1e-5f}, VKL_ERR_INVALID_ARGUMENT, "d = 0"},
      {{.m = 0, .d = 5, .lambda = 0.005f, .eps = 1e-5f}, VKL_ERR_INVALID_ARGUMENT, "m = 0"},
      {{.m = 3, .d = 5, .lambda = 0.005f, .eps = 0.0f}, VKL_ERR_INVALID_ARGUMENT, "eps = 0"},
      {{.m = 3, .d = 5, .lambda = -1.0f, .eps = 1e-5f}, VKL_ERR_INVALID_ARGUMENT, "lambda < 0"},
      {{.m = 1, .d = huge, .lambda = 0.005f, .eps = 1e-5f}, VKL_ERR_UNSUPPORTED, "d*d too large"},
  };
  TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const vkl_barlow_shape *sh = &bad[i].sh;
    expect_error(&d, vkl_barlow_stats_merge(d.cmd, big, g, g, sh, 1, g), bad[i].want,
                 "barlow stats merge", bad[i].what);
    if (sh->m) /* the finalize reads no micro-batch */
      expect_error(&d, vkl_barlow_finalize(d.cmd, loss, big, sh, g), bad[i].want, "barlow finalize",
                   bad[i].what);
    expect_error(&d, vkl_barlow_backward(d.cmd, g, g, g, g, big, sh, 1.0f, 0), bad[i].want,
                 "barlow backward", bad[i].what);
  }
  /* a statistics buffer too small for d */
  vkl_barlow_shape wide = ok;
  wide.d = 6;
  expect_error(&d, vkl_barlow_finalize(d.cmd, loss, big, &wide, g), VKL_ERR_INVALID_ARGUMENT,
               "barlow finalize", "small stats");
  TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
  test_dev_destroy(&d);
}
