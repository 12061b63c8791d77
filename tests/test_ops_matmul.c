/* Matrix product on the device against its double reference: every
 * transpose combination, sizes of 1, odd sizes, sizes off the 128x128
 * workgroup tile and the 4-float vector width, the fc layer (64x512 -> 10,
 * 100), a cross-correlation (512x512 from inner 64), tall-skinny and
 * short-wide outputs; bias on and off; each gradient written and
 * accumulated, alone or with the others NULL; determinism; size errors.
 * Each tile of the GPU geometry's tiled kernel is also forced (VKLARS_TUNING=gpu,
 * VKLARS_TUNE=matmul_tile=N) on shapes off its tile, its 16-deep inner step and the vec4
 * width, with every transpose, bias and accumulation, under the default table and others
 * (other workgroup sizes and tiles); run twice for bit-identical results; refused where it
 * cannot split or fit shared memory. The bench's GPU GEMM baseline meets the reference too.
 *
 * Tolerance. The kernel sums `inner` products in fp32 in a fixed order, so
 * an output's rounding error grows with the sum of its terms' magnitudes,
 * S = sum_k |op(A)[i][k] op(B)[k][j]| (+ |bias|, + |old value| when
 * accumulating), not with |ref|: where terms cancel, |ref| is small and
 * 1e-5 + 1e-4*|ref| can fall below fp32's own rounding of a long sum. Each
 * element is allowed TEST_ATOL + TEST_RTOL*|ref| + 2u sqrt(n) S (u = 2^-24,
 * n the length of the sum): on random data a sum's rounding error grows like
 * sqrt(n) u S (Higham & Mary, SIAM J. Sci. Comput. 41(5), 2019), and the
 * factor 2 covers the rounding of each product. The worst-case bound, n u S,
 * would be sqrt(n) times looser. Measured here: at most 0.17 sqrt(n) u S, and
 * up to 0.75 of the standard tolerance alone in the 512-long sums, so the
 * extra term is margin against reordering, not slack the kernel needs today.
 * S comes from the same reference run on absolute values. */
#include "gemm_baseline_tiled.h"
#include "matmul_tiled.h"
#include "ops/matmul.h"
#include "ops/op_util.h"
#include "test_util.h"
#include "vk/vk_tuning.h"

#define MM_ERR_PER_TERM (2.0 * 0x1.0p-24)

typedef struct mm_case {
  uint32_t rows, cols, inner;
  uint32_t modes; /* bit t: trans_a = t & 1, trans_b = t >> 1 is tested */
} mm_case;

#define MODES_ALL 15u
#define MODE_TN 2u /* trans_a only: the cross-correlation Z1^T Z2 */

static const mm_case cases[] = {
    {1, 1, 1, MODES_ALL},      {1, 7, 5, MODES_ALL},    {5, 1, 9, MODES_ALL},
    {3, 4, 1, MODES_ALL},      {7, 9, 13, MODES_ALL},   {8, 12, 16, MODES_ALL},
    {12, 8, 6, MODES_ALL},     {17, 33, 35, MODES_ALL}, {65, 130, 67, MODES_ALL},
    {300, 2, 40, MODES_ALL},   {2, 300, 40, MODES_ALL}, {64, 10, 512, MODES_ALL},
    {64, 100, 512, MODES_ALL}, {512, 512, 64, MODE_TN},
};
#define NCASES (sizeof cases / sizeof cases[0])

static double *absolute(const double *x, size_t n) {
  double *y = malloc((n ? n : 1) * sizeof *y);
  cr_assert(y);
  for (size_t i = 0; i < n; i++) y[i] = fabs(x[i]);
  return y;
}

/* |got - ref| <= atol + rtol*|ref| + MM_ERR_PER_TERM*sqrt(inner)*s (see the file header) */
static void expect_matmul_close(test_dev *d, vkl_buf b, const double *ref, const double *s,
                                size_t n, uint32_t inner, const char *what,
                                const vkl_matmul_shape *sh) {
  float *f = malloc((n ? n : 1) * sizeof *f);
  cr_assert(f);
  TEST_OK(d->ctx, vkl_download(d->ctx, f, b, n * sizeof(float)));
  double grow = MM_ERR_PER_TERM * sqrt((double)inner);
  for (size_t i = 0; i < n; i++) {
    double diff = fabs((double)f[i] - ref[i]);
    if (!(diff <= TEST_ATOL + TEST_RTOL * fabs(ref[i]) + grow * s[i]))
      cr_assert_fail(
          "%s (rows %u cols %u inner %u trans_a %u trans_b %u): element %zu: got %.9g, "
          "reference %.9g (|d| = %.3g, sum of |terms| %.3g)",
          what, sh->rows, sh->cols, sh->inner, sh->trans_a, sh->trans_b, i, (double)f[i], ref[i],
          diff, s[i]);
  }
  free(f);
}

static void check_forward(test_dev *d, test_rng *rng, vkl_matmul_shape sh, int with_bias) {
  size_t na = (size_t)sh.rows * sh.inner, nb = (size_t)sh.inner * sh.cols;
  size_t nc = (size_t)sh.rows * sh.cols;
  vkl_arena_reset(d->arena);
  double *a = test_random(rng, na, 1), *b = test_random(rng, nb, 1);
  double *bias = test_random(rng, sh.cols, 1);
  double *aa = absolute(a, na), *ab = absolute(b, nb), *abias = absolute(bias, sh.cols);
  double *ref = malloc(nc * sizeof *ref), *s = malloc(nc * sizeof *s);
  vkl_buf da = test_upload(d, a, na), db = test_upload(d, b, nb);
  vkl_buf dbias = test_upload(d, bias, sh.cols), dc = test_alloc_poisoned(d, nc);
  TEST_RECORD_AND_RUN(d, vkl_matmul_forward(d->cmd, dc, da, db, with_bias ? &dbias : NULL, &sh));
  vkl_matmul_forward_ref(ref, a, b, with_bias ? bias : NULL, &sh);
  vkl_matmul_forward_ref(s, aa, ab, with_bias ? abias : NULL, &sh);
  expect_matmul_close(d, dc, ref, s, nc, sh.inner, with_bias ? "forward, bias" : "forward", &sh);
  free(a), free(b), free(bias), free(aa), free(ab), free(abias), free(ref), free(s);
}

Test(ops_matmul, forward_all_transposes_and_shapes) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {1};
  for (size_t k = 0; k < NCASES; k++)
    for (uint32_t t = 0; t < 4; t++) {
      if (!(cases[k].modes >> t & 1)) continue;
      vkl_matmul_shape sh = {cases[k].rows, cases[k].cols, cases[k].inner, t & 1, t >> 1};
      check_forward(&d, &rng, sh, (int)((k + t) & 1));
    }
  test_dev_destroy(&d);
}

Test(ops_matmul, forward_bias_on_and_off) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {2};
  for (int with_bias = 0; with_bias < 2; with_bias++) {
    check_forward(&d, &rng, (vkl_matmul_shape){64, 10, 512, 0, 1}, with_bias); /* fc */
    check_forward(&d, &rng, (vkl_matmul_shape){7, 9, 13, 1, 0}, with_bias);
  }
  test_dev_destroy(&d);
}

/* Which gradients a backward call asks for. */
enum { G_A = 1, G_B = 2, G_BIAS = 4 };

/* Runs the backward for the gradients in `want` (the others NULL), writing
 * (accumulate 0, into NaN-poisoned tensors) or adding (accumulate 1, into
 * random ones), and checks every gradient against the reference; gradients
 * not asked for must keep their contents. */
static void check_backward(test_dev *d, test_rng *rng, vkl_matmul_shape sh, int want,
                           int accumulate) {
  size_t na = (size_t)sh.rows * sh.inner, nb = (size_t)sh.inner * sh.cols;
  size_t nc = (size_t)sh.rows * sh.cols, n[3] = {na, nb, sh.cols};
  vkl_arena_reset(d->arena);
  double *a = test_random(rng, na, 1), *b = test_random(rng, nb, 1);
  double *dc = test_random(rng, nc, 1);
  double *aa = absolute(a, na), *ab = absolute(b, nb), *adc = absolute(dc, nc);
  vkl_buf ga = test_upload(d, a, na), gb = test_upload(d, b, nb), gdc = test_upload(d, dc, nc);
  double *ref[3], *s[3];
  vkl_buf out[3];
  for (int g = 0; g < 3; g++) {
    ref[g] = test_random(rng, n[g], 1); /* the old gradient, kept or added to */
    s[g] = absolute(ref[g], n[g]);
    out[g] = (want & (1 << g)) && !accumulate ? test_alloc_poisoned(d, n[g])
                                              : test_upload(d, ref[g], n[g]);
  }
  TEST_RECORD_AND_RUN(
      d, vkl_matmul_backward(d->cmd, want & G_A ? &out[0] : NULL, want & G_B ? &out[1] : NULL,
                             want & G_BIAS ? &out[2] : NULL, gdc, ga, gb, &sh, accumulate));
  vkl_matmul_backward_ref(want & G_A ? ref[0] : NULL, want & G_B ? ref[1] : NULL,
                          want & G_BIAS ? ref[2] : NULL, dc, a, b, &sh, accumulate);
  /* s = |old| (if accumulating) + the sum of |terms|, the reference on absolute values */
  for (int g = 0; g < 3; g++)
    if (!accumulate) memset(s[g], 0, n[g] * sizeof(double));
  vkl_matmul_backward_ref(want & G_A ? s[0] : NULL, want & G_B ? s[1] : NULL,
                          want & G_BIAS ? s[2] : NULL, adc, aa, ab, &sh, 1);
  /* the length of each gradient's sum: dA sums over cols, dB and dbias over rows */
  const uint32_t len[3] = {sh.cols, sh.rows, sh.rows};
  const char *names[2][3] = {{"da, write", "db, write", "dbias, write"},
                             {"da, accumulate", "db, accumulate", "dbias, accumulate"}};
  for (int g = 0; g < 3; g++) {
    if (want & (1 << g))
      expect_matmul_close(d, out[g], ref[g], s[g], n[g], len[g], names[accumulate][g], &sh);
    else /* NULL: untouched */
      test_expect_close(d, out[g], ref[g], n[g], 0, 0, "gradient not asked for");
  }
  free(a), free(b), free(dc), free(aa), free(ab), free(adc);
  for (int g = 0; g < 3; g++) free(ref[g]), free(s[g]);
}

Test(ops_matmul, backward_all_transposes_and_shapes) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {3};
  for (size_t k = 0; k < NCASES; k++)
    for (uint32_t t = 0; t < 4; t++) {
      if (!(cases[k].modes >> t & 1)) continue;
      vkl_matmul_shape sh = {cases[k].rows, cases[k].cols, cases[k].inner, t & 1, t >> 1};
      check_backward(&d, &rng, sh, G_A | G_B | G_BIAS, (int)((k + t) & 1));
    }
  test_dev_destroy(&d);
}

Test(ops_matmul, backward_each_gradient_alone_writes_and_accumulates) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {4};
  const vkl_matmul_shape shapes[] = {{64, 10, 512, 0, 1}, {17, 33, 35, 1, 0}, {5, 1, 9, 1, 1}};
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
    for (int want = 1; want < 8; want <<= 1)
      for (int accumulate = 0; accumulate < 2; accumulate++)
        check_backward(&d, &rng, shapes[k], want, accumulate);
  test_dev_destroy(&d);
}

Test(ops_matmul, backward_with_every_gradient_null_succeeds) {
  test_dev d = test_dev_create(1 << 20);
  vkl_buf x;
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 64 * sizeof(float), &x));
  vkl_matmul_shape sh = {4, 4, 4, 0, 0};
  TEST_RECORD_AND_RUN(&d, vkl_matmul_backward(d.cmd, NULL, NULL, NULL, x, x, x, &sh, 0));
  test_dev_destroy(&d);
}

Test(ops_matmul, results_are_bit_identical_run_to_run) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {5};
  vkl_matmul_shape sh = {65, 130, 67, 1, 0};
  size_t na = (size_t)sh.rows * sh.inner, nb = (size_t)sh.inner * sh.cols, nc = 65 * 130;
  double *a = test_random(&rng, na, 1), *b = test_random(&rng, nb, 1);
  vkl_buf da = test_upload(&d, a, na), db = test_upload(&d, b, nb);
  vkl_buf c0 = test_alloc_poisoned(&d, nc), c1 = test_alloc_poisoned(&d, nc);
  TEST_RECORD_AND_RUN(&d, vkl_matmul_forward(d.cmd, c0, da, db, NULL, &sh));
  TEST_RECORD_AND_RUN(&d, vkl_matmul_forward(d.cmd, c1, da, db, NULL, &sh));
  float *f0 = malloc(nc * sizeof *f0), *f1 = malloc(nc * sizeof *f1);
  TEST_OK(d.ctx, vkl_download(d.ctx, f0, c0, nc * sizeof(float)));
  TEST_OK(d.ctx, vkl_download(d.ctx, f1, c1, nc * sizeof(float)));
  cr_assert(memcmp(f0, f1, nc * sizeof(float)) == 0, "two runs differ");
  free(a), free(b), free(f0), free(f1);
  test_dev_destroy(&d);
}

/* Records op and expects VKL_ERR_INVALID_ARGUMENT with message msg. */
#define EXPECT_REFUSED(d, op, msg)                           \
  do {                                                       \
    TEST_OK((d).ctx, vkl_cmd_begin((d).cmd));                \
    cr_assert_eq((op), VKL_ERR_INVALID_ARGUMENT, "%s", #op); \
    cr_assert_str_eq(vkl_ctx_errmsg((d).ctx), msg);          \
    TEST_OK((d).ctx, vkl_cmd_end((d).cmd));                  \
  } while (0)

Test(ops_matmul, refuses_short_tensors_and_empty_shapes) {
  test_dev d = test_dev_create(1 << 20);
  /* rows 3, cols 5, inner 4: a 12, b 20, c 15, bias 5 */
  vkl_matmul_shape sh = {3, 5, 4, 0, 1};
  vkl_buf big, small;
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 100 * sizeof(float), &big));
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 4 * sizeof(float), &small));
  EXPECT_REFUSED(d, vkl_matmul_forward(d.cmd, small, big, big, NULL, &sh),
                 "matmul: tensor c holds 4 floats, the shape needs 15");
  EXPECT_REFUSED(d, vkl_matmul_forward(d.cmd, big, small, big, NULL, &sh),
                 "matmul: tensor a holds 4 floats, the shape needs 12");
  EXPECT_REFUSED(d, vkl_matmul_forward(d.cmd, big, big, small, NULL, &sh),
                 "matmul: tensor b holds 4 floats, the shape needs 20");
  EXPECT_REFUSED(d, vkl_matmul_forward(d.cmd, big, big, big, &small, &sh),
                 "matmul: tensor bias holds 4 floats, the shape needs 5");
  EXPECT_REFUSED(d, vkl_matmul_backward(d.cmd, &big, NULL, NULL, small, big, big, &sh, 0),
                 "matmul backward: tensor dc holds 4 floats, the shape needs 15");
  EXPECT_REFUSED(d, vkl_matmul_backward(d.cmd, &small, NULL, NULL, big, big, big, &sh, 0),
                 "matmul backward: tensor da holds 4 floats, the shape needs 12");
  EXPECT_REFUSED(d, vkl_matmul_backward(d.cmd, NULL, &small, NULL, big, big, big, &sh, 1),
                 "matmul backward: tensor db holds 4 floats, the shape needs 20");
  EXPECT_REFUSED(d, vkl_matmul_backward(d.cmd, NULL, NULL, &small, big, big, big, &sh, 0),
                 "matmul backward: tensor dbias holds 4 floats, the shape needs 5");
  /* da reads b, db reads a */
  EXPECT_REFUSED(d, vkl_matmul_backward(d.cmd, &big, NULL, NULL, big, big, small, &sh, 0),
                 "matmul backward: tensor b holds 4 floats, the shape needs 20");
  EXPECT_REFUSED(d, vkl_matmul_backward(d.cmd, NULL, &big, NULL, big, small, big, &sh, 0),
                 "matmul backward: tensor a holds 4 floats, the shape needs 12");
  vkl_matmul_shape empty = {3, 0, 4, 0, 0};
  EXPECT_REFUSED(d, vkl_matmul_forward(d.cmd, big, big, big, NULL, &empty),
                 "matmul: empty shape (rows 3, cols 0, inner 4)");
  test_dev_destroy(&d);
}

/* ---- the GPU geometry's tiles, each forced ---- */

/* A device under the GPU geometry with matmul tile `tile` forced (1 large, 2 medium, 3 small;
 * see matmul.c); the caller's VKLARS_TUNING and VKLARS_TUNE come back afterwards. */
typedef struct forced_dev {
  test_dev d;
  char *tuning, *tune; /* the caller's settings, or NULL */
} forced_dev;

static forced_dev forced_dev_create_in(uint32_t tile, const char *table) {
  char tune[128];
  snprintf(tune, sizeof tune, "matmul_tile=%u%s%s", tile, *table ? "," : "", table);
  forced_dev f = {.tuning = test_env_swap("VKLARS_TUNING", "gpu"),
                  .tune = test_env_swap("VKLARS_TUNE", tune)};
  f.d = test_dev_create(16u << 20);
  const vkl_tuning *tu = vkl_ctx_tuning(f.d.ctx);
  cr_assert_eq(tu->geometry, VKL_GEOMETRY_GPU);
  cr_assert_eq(tu->matmul_tile, tile);
  return f;
}

static forced_dev forced_dev_create(uint32_t tile) {
  return forced_dev_create_in(tile, "");
}

static void forced_dev_destroy(forced_dev *f) {
  test_dev_destroy(&f->d);
  test_env_restore("VKLARS_TUNING", f->tuning);
  test_env_restore("VKLARS_TUNE", f->tune);
}

/* Off every tile (128x64, 64x64, 16x16), the 16-deep step and the vec4 width, or exactly on
 * them: sizes of 1, odd, multiples of 4 that are not tile multiples (the vec4 paths with
 * partial tiles), whole tiles, and the fc layer's products. */
static const mm_case tile_cases[] = {
    {1, 1, 1, MODES_ALL},     {1, 130, 17, MODES_ALL},  {129, 1, 33, MODES_ALL},
    {130, 66, 1, MODES_ALL},  {19, 21, 23, MODES_ALL},  {129, 65, 47, MODES_ALL},
    {132, 68, 36, MODES_ALL}, {128, 64, 32, MODES_ALL}, {20, 12, 16, MODES_ALL},
    {64, 10, 512, MODES_ALL}, {10, 512, 64, MODES_ALL}, {3, 5, 200, MODES_ALL},
};
#define NTILE_CASES (sizeof tile_cases / sizeof tile_cases[0])

static void check_forced_tile_in(uint32_t tile, const char *table) {
  forced_dev f = forced_dev_create_in(tile, table);
  test_rng rng = {10 + tile};
  for (size_t k = 0; k < NTILE_CASES; k++)
    for (uint32_t t = 0; t < 4; t++) {
      vkl_matmul_shape sh = {tile_cases[k].rows, tile_cases[k].cols, tile_cases[k].inner, t & 1,
                             t >> 1};
      check_forward(&f.d, &rng, sh, (int)((k + t) & 1));
      check_backward(&f.d, &rng, sh, G_A | G_B | G_BIAS, (int)((k + t + 1) & 1));
    }
  forced_dev_destroy(&f);
}

static void check_forced_tile(uint32_t tile) {
  check_forced_tile_in(tile, "");
}

Test(ops_matmul, gpu_large_tile_on_awkward_shapes) {
  check_forced_tile(1);
}

Test(ops_matmul, gpu_medium_tile_on_awkward_shapes) {
  check_forced_tile(2);
}

Test(ops_matmul, gpu_small_tile_on_awkward_shapes) {
  check_forced_tile(3);
}

/* Other tables' splits of the tiles: 8x8 (64 accumulators) and 2x1 blocks at 128
 * invocations; a 256x32 tile, wider than the workgroup along rows, so a load's row is
 * not the same for all its loads (the general load path); 4x2 blocks at 512 invocations;
 * 2x2 blocks of the small tile at 64. */
Test(ops_matmul, gpu_tiles_under_other_tables) {
  static const struct {
    const char *table;
    uint32_t tiles; /* bit t: tile t splits under this table */
  } tables[] = {
      {"tile_wg=128", 0xe},
      {"tile_m=256,tile_n=32,tile_wg=128", 0xe},
      {"tile_wg=512,reduce_wg=512", 0x6},
      {"tile_m=64,tile_n=64,tile_wg=64,reduce_wg=64", 0xe},
  };
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
    for (uint32_t tile = 1; tile <= 3; tile++)
      if (tables[i].tiles >> tile & 1) check_forced_tile_in(tile, tables[i].table);
}

/* Forward with bias and an accumulating backward (all three gradients), twice each: the
 * outputs must match bit for bit. */
static void check_forced_tile_repeats(uint32_t tile) {
  forced_dev f = forced_dev_create(tile);
  test_dev *d = &f.d;
  test_rng rng = {20 + tile};
  vkl_matmul_shape sh = {129, 67, 45, 1, 1};
  size_t na = (size_t)sh.rows * sh.inner, nb = (size_t)sh.inner * sh.cols;
  size_t nc = (size_t)sh.rows * sh.cols, n[4] = {nc, na, nb, sh.cols};
  double *a = test_random(&rng, na, 1), *b = test_random(&rng, nb, 1);
  double *bias = test_random(&rng, sh.cols, 1), *dc = test_random(&rng, nc, 1);
  vkl_buf ga = test_upload(d, a, na), gb = test_upload(d, b, nb);
  vkl_buf gbias = test_upload(d, bias, sh.cols), gdc = test_upload(d, dc, nc);
  float *first[4] = {0};
  for (int run = 0; run < 2; run++) {
    /* outputs: c, then da, db, dbias accumulated onto dc's first values */
    vkl_buf out[4] = {test_alloc_poisoned(d, nc), test_upload(d, dc, na), test_upload(d, dc, nb),
                      test_upload(d, dc, sh.cols)};
    TEST_RECORD_AND_RUN(d, vkl_matmul_forward(d->cmd, out[0], ga, gb, &gbias, &sh));
    TEST_RECORD_AND_RUN(
        d, vkl_matmul_backward(d->cmd, &out[1], &out[2], &out[3], gdc, ga, gb, &sh, 1));
    for (int g = 0; g < 4; g++) {
      float *h = malloc(n[g] * sizeof *h);
      cr_assert(h);
      TEST_OK(d->ctx, vkl_download(d->ctx, h, out[g], n[g] * sizeof(float)));
      if (run == 0) {
        first[g] = h;
        continue;
      }
      cr_assert(memcmp(first[g], h, n[g] * sizeof(float)) == 0, "tile %u: output %d differs", tile,
                g);
      free(h);
    }
  }
  for (int g = 0; g < 4; g++) free(first[g]);
  free(a), free(b), free(bias), free(dc);
  forced_dev_destroy(&f);
}

Test(ops_matmul, gpu_tiles_are_bit_identical_run_to_run) {
  for (uint32_t tile = 1; tile <= 3; tile++) check_forced_tile_repeats(tile);
}

/* A tile that cannot split over the workgroup is an error naming the setting: the small
 * tile's 256 outputs over 512 invocations. */
Test(ops_matmul, gpu_tile_that_does_not_split_is_refused) {
  char *tuning = test_env_swap("VKLARS_TUNING", "gpu");
  char *tune = test_env_swap("VKLARS_TUNE", "matmul_tile=3,tile_wg=512,reduce_wg=512");
  test_dev d = test_dev_create(1 << 20);
  vkl_buf x;
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 64 * sizeof(float), &x));
  vkl_matmul_shape sh = {4, 4, 4, 0, 0};
  char want[256];
  snprintf(want, sizeof want,
           "matmul: no tile (matmul_tile 3) splits over tile_wg 512 invocations with at most 64 "
           "outputs each and fits %u bytes of shared memory",
           vkl_ctx_device(d.ctx)->max_shared_memory);
  EXPECT_REFUSED(d, vkl_matmul_forward(d.cmd, x, x, x, NULL, &sh), want);
  test_dev_destroy(&d);
  test_env_restore("VKLARS_TUNING", tuning);
  test_env_restore("VKLARS_TUNE", tune);
}

/* The pipelines a forward of shape sh builds on a fresh context under geometry `geometry`
 * and the default table: *shader is the only matmul pipeline's shader, bm/bn its tile. */
static void tile_chosen(const char *geometry, vkl_matmul_shape sh, vkl_shader_id *shader,
                        uint32_t *bm, uint32_t *bn) {
  char *tuning = test_env_swap("VKLARS_TUNING", geometry);
  char *tune = test_env_swap("VKLARS_TUNE", NULL);
  test_dev d = test_dev_create(16u << 20);
  vkl_buf a, b, c;
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, (size_t)sh.rows * sh.inner * sizeof(float), &a));
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, (size_t)sh.inner * sh.cols * sizeof(float), &b));
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, (size_t)sh.rows * sh.cols * sizeof(float), &c));
  TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));
  TEST_OK(d.ctx, vkl_matmul_forward(d.cmd, c, a, b, NULL, &sh));
  TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
  cr_assert_eq(vkl_ctx_pipeline_count(d.ctx), 1, "one pipeline per product");
  const vkl_pipeline *p = vkl_ctx_pipeline(d.ctx, 0);
  *shader = p->shader;
  *bm = p->spec[1], *bn = p->spec[2]; /* matmul_tiled.h's bm, bn */
  test_dev_destroy(&d);
  test_env_restore("VKLARS_TUNING", tuning);
  test_env_restore("VKLARS_TUNE", tune);
}

/* The tile follows the shape under the default table (tile_fill 256, so 128 units): the fc
 * layer's thin products take the small tile, a 512x512 product the medium one (64
 * workgroups where the large tile makes 32), a 2048x1024 one the large (256 workgroups).
 * The CPU geometry keeps matmul_gemm. */
Test(ops_matmul, gpu_tile_follows_the_shape) {
  static const struct {
    vkl_matmul_shape sh;
    uint32_t bm, bn;
  } want[] = {
      {{64, 10, 512, 0, 1}, 16, 16},   /* fc forward at batch 64 */
      {{10, 512, 256, 1, 0}, 16, 16},  /* its weight gradient at batch 256 */
      {{512, 512, 8, 1, 0}, 64, 64},   /* cross-correlation */
      {{256, 512, 8, 0, 1}, 64, 64},   /* its gradient: one round of 32 medium tiles costs
                                          4 rounds of 512 small ones; ties take the larger */
      {{2048, 1024, 4, 0, 0}, 128, 64} /* large */
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    vkl_shader_id shader;
    uint32_t bm, bn;
    tile_chosen("gpu", want[i].sh, &shader, &bm, &bn);
    cr_assert_eq(shader, VKL_SHADER_matmul_tiled, "shape %zu: not matmul_tiled", i);
    cr_assert(bm == want[i].bm && bn == want[i].bn, "shape %zu: tile %ux%u, want %ux%u", i, bm, bn,
              want[i].bm, want[i].bn);
    tile_chosen("cpu", want[i].sh, &shader, &bm, &bn);
    cr_assert_eq(shader, VKL_SHADER_matmul_gemm, "shape %zu: the CPU geometry's kernel", i);
  }
}

/* ---- the benchmark's GPU GEMM baseline ---- */

static vkl_status record_baseline_tiled(vkl_cmd *cmd, vkl_buf c, vkl_buf a, vkl_buf b,
                                        const vkl_matmul_shape *sh) {
  vkl_gemm_baseline_tiled_spec spec = {.wg_x = 16, .wg_y = 16};
  const vkl_pipeline *p;
  vkl_status st = vkl_op_pipeline(cmd, VKL_SHADER_gemm_baseline_tiled, &spec, sizeof spec, &p);
  if (st) return st;
  vkl_gemm_baseline_tiled_push push = {sh->rows, sh->cols, sh->inner};
  vkl_buf bufs[3] = {a, b, c};
  return vkl_cmd_dispatch(cmd, p, bufs, 3, &push, sizeof push,
                          vkl_div_up(sh->cols, 16 * GEMM_TILED_TN),
                          vkl_div_up(sh->rows, 16 * GEMM_TILED_TM), 1);
}

/* `vklars bench ops` rates compute-bound ops against gemm_baseline_tiled.comp on the GPU
 * geometry, so it must compute the product it is credited with: C = A B, here off its 64x64
 * tile and 16-deep step, and on them. */
Test(ops_matmul, gpu_bench_baseline_matches_the_reference) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {30};
  const vkl_matmul_shape shapes[] = {{1, 1, 1, 0, 0}, {70, 130, 33, 0, 0}, {128, 64, 32, 0, 0}};
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    const vkl_matmul_shape *sh = &shapes[k];
    size_t na = (size_t)sh->rows * sh->inner, nb = (size_t)sh->inner * sh->cols;
    size_t nc = (size_t)sh->rows * sh->cols;
    vkl_arena_reset(d.arena);
    double *a = test_random(&rng, na, 1), *b = test_random(&rng, nb, 1);
    double *aa = absolute(a, na), *ab = absolute(b, nb);
    double *ref = malloc(nc * sizeof *ref), *s = malloc(nc * sizeof *s);
    vkl_buf ga = test_upload(&d, a, na), gb = test_upload(&d, b, nb);
    vkl_buf gc = test_alloc_poisoned(&d, nc);
    TEST_RECORD_AND_RUN(&d, record_baseline_tiled(d.cmd, gc, ga, gb, sh));
    vkl_matmul_forward_ref(ref, a, b, NULL, sh);
    vkl_matmul_forward_ref(s, aa, ab, NULL, sh);
    expect_matmul_close(&d, gc, ref, s, nc, sh->inner, "gemm_baseline_tiled", sh);
    free(a), free(b), free(aa), free(ab), free(ref), free(s);
  }
  test_dev_destroy(&d);
}

/* A tile whose slices do not fit the device's shared memory is refused, one that does runs:
 * a 256x256 tile's 16-deep slices take 33,280 bytes (lavapipe has 32 KiB). */
Test(ops_matmul, gpu_tile_over_shared_memory_is_refused) {
  forced_dev f = forced_dev_create_in(1, "tile_m=256,tile_n=256,tile_wg=1024,reduce_wg=1024");
  test_dev *d = &f.d;
  const vkl_device_info *info = vkl_ctx_device(d->ctx);
  const uint32_t need = 4 * MATMUL_TILED_BK * (256 + 4 + 256 + 4);
  vkl_matmul_shape sh = {300, 260, 20, 0, 0};
  if (info->max_shared_memory < need) {
    vkl_buf x;
    TEST_OK(d->ctx, vkl_arena_alloc(d->arena, 300 * 260 * sizeof(float), &x));
    char want[256];
    snprintf(want, sizeof want,
             "matmul: no tile (matmul_tile 1) splits over tile_wg 1024 invocations with at most "
             "64 outputs each and fits %u bytes of shared memory",
             info->max_shared_memory);
    EXPECT_REFUSED(*d, vkl_matmul_forward(d->cmd, x, x, x, NULL, &sh), want);
  } else {
    test_rng rng = {40};
    check_forward(d, &rng, sh, 1);
  }
  forced_dev_destroy(&f);
}
