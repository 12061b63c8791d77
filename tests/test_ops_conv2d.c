/* conv2d on the device against its double reference: forward (with and
 * without bias), backward-data and backward-weight (write and accumulate),
 * on awkward shapes: N = 1, odd C and K, sizes that are not multiples of the
 * kernels' blocks, stride 2 with odd sizes, the 7x7 stride-2 stem, 1x1 at
 * stride 1 and 2, asymmetric kernels/strides/padding, and a layer larger
 * than one block in every direction. Outputs and the workspace start as NaN
 * so any element left unwritten (or any unwritten scratch that is read)
 * shows. Bad shapes and short tensors must fail with a clear message. The
 * tiled_* tests force the GPU geometry's kernel (conv2d_tiled) and each of its tiles,
 * whatever geometry the suite runs under.
 *
 * Tolerance. Each output is a sum of n products (n = C*R*S forward,
 * K*R*S at most backward-data, N*P*Q backward-weight), accumulated in fp32
 * in a fixed order. Beside the standard |d| <= 1e-5 + 1e-4 |ref|, an output
 * may differ by 4 sqrt(n) u sum|terms| (u = 2^-24), with sum|terms| computed
 * here by running the reference on |inputs|: the probabilistic bound for
 * recursive summation (Higham and Mary, SIAM J. Sci. Comput. 2019) with a
 * margin of 4 (sqrt(n) u is the typical error per unit of sum|terms|; the
 * worst case n u is far looser). This matters only where terms cancel: for
 * the 630-term sums below it is ~1e-4 absolute, while a dropped tap or
 * channel moves an output by ~0.1. */
#include <float.h>

#include "ops/conv2d.h"
#include "ops/conv2d_tiled_record.h"
#include "test_util.h"

typedef struct conv_case {
  uint32_t N, C, H, W, K, R, S, sh, sw, ph, pw;
  int bias;
} conv_case;

static const conv_case cases[] = {
    {1, 3, 13, 11, 5, 3, 3, 1, 1, 1, 1, 1},   /* N = 1, C=3 K=5, 13x11, 3x3 pad 1 */
    {2, 7, 13, 11, 9, 3, 3, 2, 2, 1, 1, 0},   /* stride 2 with odd sizes, no bias */
    {2, 3, 21, 19, 8, 7, 7, 2, 2, 3, 3, 1},   /* 7x7 stride-2 pad-3 stem */
    {2, 16, 9, 7, 12, 1, 1, 1, 1, 0, 0, 0},   /* 1x1 stride 1 */
    {2, 12, 9, 9, 20, 1, 1, 2, 2, 0, 0, 1},   /* 1x1 stride 2 (ResNet downsample) */
    {2, 7, 6, 6, 9, 1, 1, 1, 1, 0, 0, 1},     /* 1x1, x and dy read in place */
    {2, 10, 8, 12, 6, 1, 1, 2, 2, 0, 0, 0},   /* 1x1 stride 2, dy read in place */
    {1, 5, 7, 7, 13, 1, 1, 2, 2, 0, 0, 1},    /* the same with odd sizes */
    {3, 5, 8, 8, 6, 3, 3, 1, 1, 1, 1, 0},     /* 3x3 pad 1, Q % 4 == 0: dy read in place */
    {2, 70, 15, 15, 80, 3, 3, 1, 1, 1, 1, 1}, /* beyond one block in every direction */
    {2, 6, 10, 12, 7, 3, 5, 2, 1, 1, 2, 1},   /* R != S, stride 2x1, pad 1x2 */
    {2, 5, 9, 8, 6, 3, 3, 2, 1, 1, 1, 0},     /* stride 2x1: 3-tap windows along w */
    {2, 9, 12, 16, 10, 3, 3, 1, 1, 1, 1, 1},  /* dy read in place, with dbias */
    {1, 4, 6, 5, 3, 1, 1, 1, 1, 1, 1, 1},     /* pad > kernel - 1: bias-only border */
    {2, 5, 11, 10, 4, 2, 2, 3, 3, 0, 0, 0},   /* stride > kernel: inputs no tap reaches */
    {1, 6, 5, 5, 5, 3, 3, 1, 1, 0, 0, 1},     /* 3 rows: one split, dw written directly */
};
#define NCASES (sizeof cases / sizeof cases[0])

/* Backward-data of few input channels (C <= 4, stride 1, W and Q multiples of 4) runs
 * conv2d_bwd_small.comp, tiles of 4 rows x up to 32 columns. Only that pass is run on
 * these (the others would compile a pipeline each, seconds apiece). */
static const conv_case small_c_cases[] = {
    {1, 3, 8, 12, 5, 3, 3, 1, 1, 1, 1, 1},   /* N = 1, odd K, one tile 12 wide */
    {2, 1, 5, 36, 3, 3, 3, 1, 1, 1, 1, 0},   /* C = 1; partial tiles along h and w */
    {2, 4, 7, 8, 6, 5, 5, 1, 1, 2, 2, 1},    /* C = 4, 5x5 pad 2 */
    {1, 2, 9, 4, 7, 3, 1, 1, 1, 0, 0, 0},    /* 3x1, no padding */
    {2, 3, 6, 8, 4, 7, 7, 1, 1, 3, 3, 1},    /* 7x7 stride 1 pad 3 */
    {1, 3, 6, 8, 5, 3, 3, 1, 1, 0, 1, 0},    /* pad 0x1: P = H - 2 */
    {2, 3, 32, 32, 16, 3, 3, 1, 1, 1, 1, 0}, /* the stem's tile: 4 x 32 */
};

static vkl_conv2d_shape shape_of(const conv_case *c) {
  vkl_conv2d_shape s = {.N = c->N,
                        .C = c->C,
                        .H = c->H,
                        .W = c->W,
                        .K = c->K,
                        .R = c->R,
                        .S = c->S,
                        .stride_h = c->sh,
                        .stride_w = c->sw,
                        .pad_h = c->ph,
                        .pad_w = c->pw};
  cr_assert_eq(vkl_conv2d_shape_finish(&s), 0);
  return s;
}

static double *abs_copy(const double *x, size_t n) {
  double *a = malloc((n ? n : 1) * sizeof *a);
  cr_assert(a);
  for (size_t i = 0; i < n; i++) a[i] = fabs(x[i]);
  return a;
}

/* |got - ref| <= 1e-5 + 1e-4 |ref| + 4 sqrt(n) u sumabs (see the file header). */
static void expect_conv_close(test_dev *d, vkl_buf b, const double *ref, const double *sumabs,
                              size_t count, double nterms, const char *what, const conv_case *c) {
  float *f = malloc((count ? count : 1) * sizeof *f);
  cr_assert(f);
  TEST_OK(d->ctx, vkl_download(d->ctx, f, b, count * sizeof(float)));
  double k = 4.0 * sqrt(nterms) * (FLT_EPSILON / 2);
  for (size_t i = 0; i < count; i++) {
    double diff = fabs((double)f[i] - ref[i]);
    double tol = TEST_ATOL + TEST_RTOL * fabs(ref[i]) + k * sumabs[i];
    if (!(diff <= tol))
      cr_assert_fail(
          "%s, N=%u C=%u %ux%u K=%u %ux%u stride %ux%u pad %ux%u: element %zu: got "
          "%.9g, reference %.9g (|d| = %.3g, tolerance %.3g)",
          what, c->N, c->C, c->H, c->W, c->K, c->R, c->S, c->sh, c->sw, c->ph, c->pw, i,
          (double)f[i], ref[i], diff, tol);
  }
  free(f);
}

/* passes: 1 forward, 2 backward-data, 4 backward-weight */
static void run_case(test_dev *d, test_rng *rng, const conv_case *c, int passes) {
  vkl_conv2d_shape sh = shape_of(c);
  size_t nx = (size_t)sh.N * sh.C * sh.H * sh.W, nw = (size_t)sh.K * sh.C * sh.R * sh.S;
  size_t ny = (size_t)sh.N * sh.K * sh.P * sh.Q, nb = sh.K;
  uint64_t nws = vkl_conv2d_workspace_floats(&sh);
  cr_assert(nws > 0);
  vkl_arena_reset(d->arena);

  double *x = test_random(rng, nx, 1), *w = test_random(rng, nw, 1);
  double *b = test_random(rng, nb, 1), *dy = test_random(rng, ny, 1);
  double *x0 = test_random(rng, nx, 1), *w0 = test_random(rng, nw, 1);
  double *b0 = test_random(rng, nb, 1);
  double *ax = abs_copy(x, nx), *aw = abs_copy(w, nw), *ab = abs_copy(b, nb);
  double *ady = abs_copy(dy, ny), *ax0 = abs_copy(x0, nx), *aw0 = abs_copy(w0, nw);
  double *ab0 = abs_copy(b0, nb);
  vkl_buf gx = test_upload(d, x, nx), gw = test_upload(d, w, nw), gb = test_upload(d, b, nb);
  vkl_buf gdy = test_upload(d, dy, ny);
  vkl_buf ws = test_alloc_poisoned(d, nws);
  const double *bias = c->bias ? b : NULL, *abias = c->bias ? ab : NULL;

  double *ref, *sum;
  if (passes & 1) { /* forward */
    ref = malloc(ny * sizeof *ref), sum = malloc(ny * sizeof *sum);
    vkl_buf gy = test_alloc_poisoned(d, ny);
    TEST_RECORD_AND_RUN(d, vkl_conv2d_forward(d->cmd, gy, gx, gw, c->bias ? &gb : NULL, &sh, ws));
    vkl_conv2d_forward_ref(ref, x, w, bias, &sh);
    vkl_conv2d_forward_ref(sum, ax, aw, abias, &sh);
    expect_conv_close(d, gy, ref, sum, ny, (double)sh.C * sh.R * sh.S, "forward", c);
    free(ref), free(sum);
  }

  if (passes & 2) { /* backward-data: write, then accumulate into x0 */
    ref = malloc(nx * sizeof *ref), sum = malloc(nx * sizeof *sum);
    vkl_buf gdx = test_alloc_poisoned(d, nx), gdx0 = test_upload(d, x0, nx);
    TEST_RECORD_AND_RUN(d, vkl_conv2d_backward_data(d->cmd, gdx, gdy, gw, &sh, 0, ws));
    TEST_RECORD_AND_RUN(d, vkl_conv2d_backward_data(d->cmd, gdx0, gdy, gw, &sh, 1, ws));
    double nterms = (double)sh.K * sh.R * sh.S;
    vkl_conv2d_backward_data_ref(ref, dy, w, &sh, 0);
    vkl_conv2d_backward_data_ref(sum, ady, aw, &sh, 0);
    expect_conv_close(d, gdx, ref, sum, nx, nterms, "backward-data", c);
    memcpy(ref, x0, nx * sizeof *ref);
    memcpy(sum, ax0, nx * sizeof *sum);
    vkl_conv2d_backward_data_ref(ref, dy, w, &sh, 1);
    vkl_conv2d_backward_data_ref(sum, ady, aw, &sh, 1);
    expect_conv_close(d, gdx0, ref, sum, nx, nterms + 1, "backward-data, accumulate", c);
    free(ref), free(sum);
  }

  if (passes & 4) { /* backward-weight (with dbias when the case has a bias): write, then
                       accumulate */
    ref = malloc(nw * sizeof *ref), sum = malloc(nw * sizeof *sum);
    double *rb = malloc(nb * sizeof *rb), *sb = malloc(nb * sizeof *sb);
    vkl_buf gdw = test_alloc_poisoned(d, nw), gdb = test_alloc_poisoned(d, nb);
    vkl_buf gdw0 = test_upload(d, w0, nw), gdb0 = test_upload(d, b0, nb);
    TEST_RECORD_AND_RUN(
        d, vkl_conv2d_backward_weight(d->cmd, gdw, c->bias ? &gdb : NULL, gdy, gx, &sh, 0, ws));
    TEST_RECORD_AND_RUN(
        d, vkl_conv2d_backward_weight(d->cmd, gdw0, c->bias ? &gdb0 : NULL, gdy, gx, &sh, 1, ws));
    double nterms = (double)sh.N * sh.P * sh.Q;
    vkl_conv2d_backward_weight_ref(ref, rb, dy, x, &sh, 0);
    vkl_conv2d_backward_weight_ref(sum, sb, ady, ax, &sh, 0);
    expect_conv_close(d, gdw, ref, sum, nw, nterms, "backward-weight dw", c);
    if (c->bias) expect_conv_close(d, gdb, rb, sb, nb, nterms, "backward-weight dbias", c);
    memcpy(ref, w0, nw * sizeof *ref), memcpy(sum, aw0, nw * sizeof *sum);
    memcpy(rb, b0, nb * sizeof *rb), memcpy(sb, ab0, nb * sizeof *sb);
    vkl_conv2d_backward_weight_ref(ref, rb, dy, x, &sh, 1);
    vkl_conv2d_backward_weight_ref(sum, sb, ady, ax, &sh, 1);
    expect_conv_close(d, gdw0, ref, sum, nw, nterms + 1, "backward-weight dw, accumulate", c);
    if (c->bias)
      expect_conv_close(d, gdb0, rb, sb, nb, nterms + 1, "backward-weight dbias, accumulate", c);
    else /* without dbias the bias gradient is left alone */
      test_expect_close(d, gdb0, b0, nb, 0, 0, "dbias untouched");
    free(ref), free(sum), free(rb), free(sb);
  }

  free(x), free(w), free(b), free(dy), free(x0), free(w0), free(b0);
  free(ax), free(aw), free(ab), free(ady), free(ax0), free(aw0), free(ab0);
}

Test(ops_conv2d, matches_reference_on_awkward_shapes) {
  test_dev d = test_dev_create(64u << 20);
  test_rng rng = {11};
  for (size_t i = 0; i < NCASES; i++) run_case(&d, &rng, &cases[i], 7);
  test_dev_destroy(&d);
}

Test(ops_conv2d, backward_data_few_channels) {
  test_dev d = test_dev_create(64u << 20);
  test_rng rng = {14};
  for (size_t i = 0; i < sizeof small_c_cases / sizeof small_c_cases[0]; i++)
    run_case(&d, &rng, &small_c_cases[i], 2);
  test_dev_destroy(&d);
}

/* The GPU geometry's tiled GEMM (conv2d_tiled.comp), forward and backward-data (write
 * and accumulate), under tables that force each tile: tile_fill=1 takes the largest
 * tile that M fills more than half (128x64 for M > 64, 64x64 for 32 < M <= 64,
 * 32x64 below), tile_fill=2^20 always the smallest (32x64), and 64-invocation
 * workgroups of 64x64, 32x64 and 16x64 tiles (16x4, 8x4, 4x4 outputs each; 4 loads a
 * stage). Shapes: N = 1, odd
 * C and K, pixel counts that are not tile multiples, stride 2, 1x1, 3x3 and 7x7
 * kernels, padding, and the stem's few-channel backward-data (which the CPU geometry
 * runs through conv2d_bwd_small). */
static const conv_case tiled_cases[] = {
    {1, 5, 9, 7, 13, 3, 3, 1, 1, 1, 1, 1},  /* N = 1, C=5 K=13, 3x3 pad 1, 63 pixels */
    {2, 7, 11, 9, 3, 3, 3, 2, 2, 1, 1, 0},  /* stride 2 with odd sizes: 4 phases */
    {1, 3, 15, 13, 7, 7, 7, 2, 2, 3, 3, 1}, /* 7x7 stride-2 pad-3 stem, C = 3 */
    {2, 13, 5, 7, 5, 1, 1, 1, 1, 0, 0, 1},  /* 1x1 stride 1 (in place on the CPU) */
    {1, 5, 9, 9, 7, 1, 1, 2, 2, 0, 0, 0},   /* 1x1 stride 2: folded forward, phases back */
    {1, 37, 7, 6, 45, 3, 3, 1, 1, 1, 1, 1}, /* 32 < M <= 64: 64x64 at tile_fill=1 */
    {1, 67, 6, 5, 71, 3, 3, 1, 1, 1, 1, 0}, /* M > 64: 128x64 at tile_fill=1 */
    {1, 19, 6, 7, 29, 3, 3, 2, 1, 1, 1, 1}, /* 16 < M <= 32: 32x64 in 64 invocations */
    {2, 3, 12, 12, 5, 3, 3, 1, 1, 1, 1, 0}, /* the stem's backward-data, C = 3 */
    {2, 5, 11, 10, 4, 2, 2, 3, 3, 0, 0, 1}, /* stride > kernel: dx pixels no tap reaches */
};

static const char *const tiled_tables[] = {
    "tile_fill=1",
    "tile_fill=1048576",
    "tile_wg=64,tile_m=64,tile_n=64,tile_fill=1",
};

static void run_tiled_table(const char *tune, uint64_t seed) {
  char *tuning = test_env_swap("VKLARS_TUNING", "gpu"),
       *old_tune = test_env_swap("VKLARS_TUNE", tune);
  test_dev d = test_dev_create(16u << 20);
  cr_assert_eq(vkl_ctx_tuning(d.ctx)->geometry, VKL_GEOMETRY_GPU);
  test_rng rng = {seed};
  for (size_t i = 0; i < sizeof tiled_cases / sizeof tiled_cases[0]; i++)
    run_case(&d, &rng, &tiled_cases[i], 3);
  test_dev_destroy(&d);
  test_env_restore("VKLARS_TUNE", old_tune);
  test_env_restore("VKLARS_TUNING", tuning);
}

Test(ops_conv2d, tiled_largest_tiles) {
  run_tiled_table(tiled_tables[0], 21);
}

Test(ops_conv2d, tiled_smallest_tiles) {
  run_tiled_table(tiled_tables[1], 22);
}

Test(ops_conv2d, tiled_64_invocation_workgroups) {
  run_tiled_table(tiled_tables[2], 23);
}

/* The tile choice: the largest tile whose grid reaches tile_fill workgroups. ResNet-18's
 * late layers (512 channels, 4x4 pixels, batch 64) take 32x64 tiles and still fill 256
 * workgroups; the early ones (64 channels, 32x32) take 64x64 tiles, which 64 rows fill.
 * The cases above rely on the tiles named for each table. */
Test(ops_conv2d, tiled_tile_choice) {
  vkl_device_info dev = {.kind = VKL_DEVICE_DISCRETE,
                         .subgroup_size = 64,
                         .min_subgroup_size = 32,
                         .max_subgroup_size = 64,
                         .max_shared_memory = 65536,
                         .max_workgroup_invocations = 1024};
  struct {
    const char *tune;
    uint32_t M, npix, phases, bm, bn, tm, tn;
  } want[] = {
      {"", 512, 64 * 4 * 4, 1, 32, 64, 2, 4},    /* late layer: fill first */
      {"", 512, 64 * 16 * 16, 1, 128, 64, 8, 4}, /* mid layer: the largest tile fills */
      {"", 64, 64 * 32 * 32, 1, 64, 64, 4, 4},   /* 64 rows: half of 128 is waste */
      {"", 3, 64 * 112 * 112, 4, 32, 64, 2, 4},  /* the stem's backward-data */
      {"", 256, 64 * 4 * 4, 4, 64, 64, 4, 4},    /* phases count as workgroups */
      {"tile_fill=1", 71, 30, 1, 128, 64, 8, 4}, /* as tiled_cases */
      {"tile_fill=1", 45, 42, 1, 64, 64, 4, 4},  /* as tiled_cases */
      {"tile_fill=1", 13, 63, 1, 32, 64, 2, 4},  /* as tiled_cases */
      {"tile_fill=1048576", 71, 30, 1, 32, 64, 2, 4},
      {"tile_wg=64,tile_m=64,tile_n=64,tile_fill=1", 45, 42, 1, 64, 64, 16, 4},
      {"tile_wg=64,tile_m=64,tile_n=64,tile_fill=1", 29, 24, 1, 32, 64, 8, 4},
      {"tile_wg=64,tile_m=64,tile_n=64,tile_fill=1", 13, 63, 1, 16, 64, 4, 4},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    vkl_tuning tu;
    char err[512];
    cr_assert_eq(vkl_tuning_compute(&dev, "gpu", want[i].tune, &tu, err, sizeof err), VKL_OK, "%s",
                 err);
    uint32_t bm, bn, tm, tn;
    cr_assert(vkl_conv2d_tiled_tile(&tu, dev.max_shared_memory, want[i].M, want[i].npix,
                                    want[i].phases, &bm, &bn, &tm, &tn));
    cr_assert(bm == want[i].bm && bn == want[i].bn && tm == want[i].tm && tn == want[i].tn,
              "case %zu (%s, M=%u, %u pixels): got %ux%u (%ux%u each)", i, want[i].tune, want[i].M,
              want[i].npix, bm, bn, tm, tn);
  }
  /* a tile that does not split over the workgroup is refused, not run */
  vkl_tuning tu;
  char err[512];
  cr_assert_eq(
      vkl_tuning_compute(&dev, "gpu", "tile_m=8,tile_n=96,tile_wg=256", &tu, err, sizeof err),
      VKL_OK, "%s", err);
  uint32_t bm, bn, tm, tn;
  cr_assert_not(vkl_conv2d_tiled_tile(&tu, 65536, 512, 4096, 1, &bm, &bn, &tm, &tn));
  /* nor one over the device's shared memory: 256x256 (32.9 KB) gives way to 128x256 on
   * 32 KiB (lavapipe's) */
  cr_assert_eq(
      vkl_tuning_compute(&dev, "gpu", "tile_m=256,tile_n=256,tile_wg=1024", &tu, err, sizeof err),
      VKL_OK, "%s", err);
  cr_assert(vkl_conv2d_tiled_tile(&tu, 65536, 512, 1 << 20, 1, &bm, &bn, &tm, &tn));
  cr_assert(bm == 256 && bn == 256, "got %ux%u", bm, bn);
  cr_assert(vkl_conv2d_tiled_tile(&tu, 32768, 512, 1 << 20, 1, &bm, &bn, &tm, &tn));
  cr_assert(bm == 128 && bn == 256, "got %ux%u", bm, bn);
}

/* A workspace sized for one shape serves every pass of that shape, and the
 * passes run back to back in one recording, as in a training step (the
 * barriers between them are the ops' own). */
Test(ops_conv2d, passes_share_one_workspace_in_one_recording) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {12};
  const conv_case *c = &cases[1];
  vkl_conv2d_shape sh = shape_of(c);
  size_t nx = (size_t)sh.N * sh.C * sh.H * sh.W, nw = (size_t)sh.K * sh.C * sh.R * sh.S;
  size_t ny = (size_t)sh.N * sh.K * sh.P * sh.Q;
  double *x = test_random(&rng, nx, 1), *w = test_random(&rng, nw, 1);
  double *dy = test_random(&rng, ny, 1);
  vkl_buf gx = test_upload(&d, x, nx), gw = test_upload(&d, w, nw), gdy = test_upload(&d, dy, ny);
  vkl_buf ws = test_alloc_poisoned(&d, vkl_conv2d_workspace_floats(&sh));
  vkl_buf gy = test_alloc_poisoned(&d, ny), gdx = test_alloc_poisoned(&d, nx);
  vkl_buf gdw = test_alloc_poisoned(&d, nw);
  TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));
  TEST_OK(d.ctx, vkl_conv2d_forward(d.cmd, gy, gx, gw, NULL, &sh, ws));
  TEST_OK(d.ctx, vkl_conv2d_backward_data(d.cmd, gdx, gdy, gw, &sh, 0, ws));
  TEST_OK(d.ctx, vkl_conv2d_backward_weight(d.cmd, gdw, NULL, gdy, gx, &sh, 0, ws));
  TEST_OK(d.ctx, vkl_conv2d_backward_weight(d.cmd, gdw, NULL, gdy, gx, &sh, 1, ws));
  TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
  TEST_OK(d.ctx, vkl_run(d.ctx, d.cmd));
  double *ry = malloc(ny * 8), *rx = malloc(nx * 8), *rw = malloc(nw * 8);
  vkl_conv2d_forward_ref(ry, x, w, NULL, &sh);
  vkl_conv2d_backward_data_ref(rx, dy, w, &sh, 0);
  vkl_conv2d_backward_weight_ref(rw, NULL, dy, x, &sh, 0);
  vkl_conv2d_backward_weight_ref(rw, NULL, dy, x, &sh, 1); /* 2 dw */
  /* short sums (<= 243 terms of O(1)): the standard tolerance holds */
  test_expect_close(&d, gy, ry, ny, TEST_ATOL, TEST_RTOL, "forward");
  test_expect_close(&d, gdx, rx, nx, TEST_ATOL, TEST_RTOL, "backward-data");
  test_expect_close(&d, gdw, rw, nw, TEST_ATOL, TEST_RTOL, "backward-weight twice");
  free(x), free(w), free(dy), free(ry), free(rx), free(rw);
  test_dev_destroy(&d);
}

/* Same inputs, same bits: the fixed summation orders make every pass
 * deterministic, split backward-weight included. */
Test(ops_conv2d, deterministic) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {13};
  const conv_case *c = &cases[6];
  vkl_conv2d_shape sh = shape_of(c);
  size_t nx = (size_t)sh.N * sh.C * sh.H * sh.W, nw = (size_t)sh.K * sh.C * sh.R * sh.S;
  size_t ny = (size_t)sh.N * sh.K * sh.P * sh.Q;
  double *x = test_random(&rng, nx, 1), *dy = test_random(&rng, ny, 1);
  vkl_buf gx = test_upload(&d, x, nx), gdy = test_upload(&d, dy, ny);
  vkl_buf ws = test_alloc_poisoned(&d, vkl_conv2d_workspace_floats(&sh));
  vkl_buf a = test_alloc_poisoned(&d, nw), b = test_alloc_poisoned(&d, nw);
  TEST_RECORD_AND_RUN(&d, vkl_conv2d_backward_weight(d.cmd, a, NULL, gdy, gx, &sh, 0, ws));
  TEST_RECORD_AND_RUN(&d, vkl_conv2d_backward_weight(d.cmd, b, NULL, gdy, gx, &sh, 0, ws));
  float *fa = malloc(nw * sizeof *fa), *fb = malloc(nw * sizeof *fb);
  TEST_OK(d.ctx, vkl_download(d.ctx, fa, a, nw * sizeof(float)));
  TEST_OK(d.ctx, vkl_download(d.ctx, fb, b, nw * sizeof(float)));
  cr_assert(memcmp(fa, fb, nw * sizeof(float)) == 0, "backward-weight differs run to run");
  free(fa), free(fb), free(x), free(dy);
  test_dev_destroy(&d);
}

Test(ops_conv2d, refuses_bad_shapes_and_short_tensors) {
  test_dev d = test_dev_create(1 << 20);
  vkl_buf big, small, tiny;
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 64 << 10, &big));
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, sizeof(float), &tiny));
  TEST_OK(d.ctx, vkl_arena_alloc(d.arena, 100 * sizeof(float), &small));
  TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));

  /* kernel larger than the padded input: no output */
  vkl_conv2d_shape none = {.N = 1,
                           .C = 2,
                           .H = 3,
                           .W = 3,
                           .K = 2,
                           .R = 5,
                           .S = 5,
                           .stride_h = 1,
                           .stride_w = 1,
                           .P = 1,
                           .Q = 1};
  cr_assert_eq(vkl_conv2d_forward(d.cmd, big, big, big, NULL, &none, big),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(d.ctx), "conv2d forward: no output for N=1 C=2 H=3 W=3"), "%s",
            vkl_ctx_errmsg(d.ctx));
  /* stride 0 */
  vkl_conv2d_shape zero = {.N = 1, .C = 2, .H = 3, .W = 3, .K = 2, .R = 1, .S = 1, .P = 3, .Q = 3};
  cr_assert_eq(vkl_conv2d_backward_data(d.cmd, big, big, big, &zero, 0, big),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(d.ctx), "conv2d backward-data: no output"), "%s",
            vkl_ctx_errmsg(d.ctx));
  /* P and Q that the sizes do not give */
  vkl_conv2d_shape stale = {.N = 1,
                            .C = 2,
                            .H = 8,
                            .W = 8,
                            .K = 2,
                            .R = 3,
                            .S = 3,
                            .stride_h = 1,
                            .stride_w = 1,
                            .pad_h = 1,
                            .pad_w = 1,
                            .P = 6,
                            .Q = 6};
  cr_assert_eq(vkl_conv2d_backward_weight(d.cmd, big, NULL, big, big, &stale, 0, big),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "conv2d backward-weight: shape says the output is 6x6 but the sizes give "
                   "8x8 (call vkl_conv2d_shape_finish)");

  /* tensors too small: x needs 2*8*8 = 128 floats */
  vkl_conv2d_shape ok = stale;
  cr_assert_eq(vkl_conv2d_shape_finish(&ok), 0);
  cr_assert_eq(vkl_conv2d_forward(d.cmd, big, small, big, NULL, &ok, big),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "conv2d forward: tensor x holds 100 floats, the shape needs 128");
  cr_assert_eq(vkl_conv2d_backward_weight(d.cmd, big, &tiny, big, big, &ok, 0, big),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "conv2d backward-weight: tensor dbias holds 1 floats, the shape needs 2");
  cr_assert_eq(vkl_conv2d_backward_data(d.cmd, small, big, big, &ok, 1, big),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "conv2d backward-data: tensor dx holds 100 floats, the shape needs 128");
  cr_assert_eq(vkl_conv2d_forward(d.cmd, big, big, big, NULL, &ok, small),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(d.ctx), "conv2d forward: tensor workspace holds 100 floats"),
            "%s", vkl_ctx_errmsg(d.ctx));
  TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
  test_dev_destroy(&d);
}

/* ---- backward-weight under the GPU geometry (conv2d_wgrad_tiled.comp) ----
 * Each tile variant, with one split (dw written directly, also when accumulating) and
 * with the pixels split (partials summed by conv2d_wreduce), on awkward shapes. The
 * plan is checked too, so that each case runs the path it is meant to. */
#include "ops/conv2d_wgrad_gpu.h"
#include "vk/vk_tuning.h"

static const conv_case wgt_cases[] = {
    {1, 3, 17, 16, 5, 3, 3, 1, 1, 1, 1, 1},   /* N = 1, the stem's C = 3: 27 columns */
    {2, 7, 33, 31, 9, 3, 3, 2, 2, 1, 1, 0},   /* odd C and K, stride 2, no dbias */
    {3, 5, 31, 29, 13, 1, 1, 2, 2, 0, 0, 1},  /* 1x1 stride 2: x folded */
    {2, 16, 13, 11, 12, 1, 1, 1, 1, 0, 0, 0}, /* 1x1 stride 1 */
    {2, 3, 31, 27, 6, 7, 7, 2, 2, 3, 3, 1},   /* 7x7 stride-2 stem */
    {2, 70, 12, 12, 67, 3, 3, 1, 1, 1, 1, 1}, /* over one tile in rows and columns */
};
#define NWGT (sizeof wgt_cases / sizeof wgt_cases[0])

/* A device under the GPU geometry with the VKLARS_TUNE overrides in tune; the
 * settings are put back after the context has read them. */
static test_dev wgt_dev(const char *tune) {
  const char *old = getenv("VKLARS_TUNING");
  char saved[32] = "";
  if (old) snprintf(saved, sizeof saved, "%s", old);
  cr_assert_eq(setenv("VKLARS_TUNING", "gpu", 1), 0);
  cr_assert_eq(setenv("VKLARS_TUNE", tune, 1), 0);
  test_dev d = test_dev_create(64u << 20);
  unsetenv("VKLARS_TUNE");
  if (old)
    setenv("VKLARS_TUNING", saved, 1);
  else
    unsetenv("VKLARS_TUNING");
  return d;
}

Test(ops_conv2d, wgrad_gpu_each_tile_with_and_without_splits) {
  for (uint32_t v = 1; v <= 3; v++)
    for (int split = 0; split <= 1; split++) {
      char tune[64];
      snprintf(tune, sizeof tune, "wgrad_tile=%u,tile_fill=%u", v, split ? 1u << 20 : 1u);
      test_dev d = wgt_dev(tune);
      const vkl_tuning *tu = vkl_ctx_tuning(d.ctx);
      test_rng rng = {21 + v};
      for (size_t i = 0; i < NWGT; i++) {
        vkl_conv2d_shape sh = shape_of(&wgt_cases[i]);
        vkl_wgt_plan pl;
        TEST_OK(d.ctx, vkl_wgt_plan_of(d.cmd, &sh, wgt_cases[i].bias, &pl));
        cr_assert_eq(pl.bm, v == 1 ? tu->tile_m : tu->tile_m / 2, "%s: case %zu", tune, i);
        cr_assert_eq(pl.bn, v == 3 ? tu->tile_n / 2 : tu->tile_n, "%s: case %zu", tune, i);
        cr_assert(split ? pl.splits > 1 : pl.splits == 1, "%s: case %zu: %u splits", tune, i,
                  pl.splits);
        cr_assert(pl.splits <= vkl_wgt_max_splits(&sh));
        run_case(&d, &rng, &wgt_cases[i], 4);
      }
      test_dev_destroy(&d);
    }
}

/* Split partials summed in a fixed order: the same bits every run, with dbias. */
Test(ops_conv2d, wgrad_gpu_deterministic_with_splits) {
  test_dev d = wgt_dev("tile_fill=1048576");
  test_rng rng = {27};
  const conv_case *c = &wgt_cases[1];
  vkl_conv2d_shape sh = shape_of(c);
  vkl_wgt_plan pl;
  TEST_OK(d.ctx, vkl_wgt_plan_of(d.cmd, &sh, 1, &pl));
  cr_assert(pl.splits > 2, "%u splits", pl.splits);
  size_t nx = (size_t)sh.N * sh.C * sh.H * sh.W, nw = (size_t)sh.K * sh.C * sh.R * sh.S;
  size_t ny = (size_t)sh.N * sh.K * sh.P * sh.Q;
  double *x = test_random(&rng, nx, 1), *dy = test_random(&rng, ny, 1);
  vkl_buf gx = test_upload(&d, x, nx), gdy = test_upload(&d, dy, ny);
  vkl_buf ws = test_alloc_poisoned(&d, vkl_conv2d_workspace_floats(&sh));
  vkl_buf out[2][2];
  float *host[2][2];
  for (int r = 0; r < 2; r++) {
    out[r][0] = test_alloc_poisoned(&d, nw), out[r][1] = test_alloc_poisoned(&d, sh.K);
    TEST_RECORD_AND_RUN(
        &d, vkl_conv2d_backward_weight(d.cmd, out[r][0], &out[r][1], gdy, gx, &sh, 0, ws));
    host[r][0] = malloc(nw * sizeof(float)), host[r][1] = malloc(sh.K * sizeof(float));
    TEST_OK(d.ctx, vkl_download(d.ctx, host[r][0], out[r][0], nw * sizeof(float)));
    TEST_OK(d.ctx, vkl_download(d.ctx, host[r][1], out[r][1], sh.K * sizeof(float)));
  }
  cr_assert(memcmp(host[0][0], host[1][0], nw * sizeof(float)) == 0, "dw differs run to run");
  cr_assert(memcmp(host[0][1], host[1][1], sh.K * sizeof(float)) == 0, "dbias differs");
  for (int r = 0; r < 2; r++) free(host[r][0]), free(host[r][1]);
  free(x), free(dy);
  test_dev_destroy(&d);
}

/* The default table's plans for ResNet-18 at batch 64 (CIFAR sizes): the layers fill
 * tile_fill workgroups, the stem and the early layers through splits of their long
 * reductions, and the workspace holds every split's partials. Planning only. */
Test(ops_conv2d, wgrad_gpu_plans_fill_the_grid) {
  test_dev d = wgt_dev("");
  const vkl_tuning *tu = vkl_ctx_tuning(d.ctx);
  static const conv_case layers[] = {
      {64, 3, 32, 32, 64, 3, 3, 1, 1, 1, 1, 0},    /* stem: 64 x 27, 65536 pixels */
      {64, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1, 0},   /* layer1 */
      {64, 128, 16, 16, 256, 3, 3, 2, 2, 1, 1, 0}, /* layer3.0.conv1 */
      {64, 128, 16, 16, 256, 1, 1, 2, 2, 0, 0, 0}, /* layer3.0 downsample */
      {64, 512, 4, 4, 512, 3, 3, 1, 1, 1, 1, 0},   /* layer4: 512 x 4608, 1024 pixels */
  };
  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
    vkl_conv2d_shape sh = shape_of(&layers[i]);
    vkl_wgt_plan pl;
    TEST_OK(d.ctx, vkl_wgt_plan_of(d.cmd, &sh, 0, &pl));
    cr_assert_geq((uint64_t)pl.nbm * pl.nbn * pl.splits, tu->tile_fill, "layer %zu", i);
    cr_assert_leq(pl.tm * pl.tn, 64);
    uint64_t part =
        pl.splits > 1
            ? pl.splits * (4ull * sh.K * sh.R * sh.S * ((sh.C + 3) / 4) + 4ull * ((sh.K + 3) / 4))
            : 0;
    cr_assert_geq(vkl_conv2d_workspace_floats(&sh), part, "layer %zu", i);
  }
  vkl_conv2d_shape stem = shape_of(&layers[0]), top = shape_of(&layers[4]);
  vkl_wgt_plan pl;
  TEST_OK(d.ctx, vkl_wgt_plan_of(d.cmd, &stem, 0, &pl));
  cr_assert(pl.bm == 64 && pl.nbm == 1 && pl.nbn == 1 && pl.splits == tu->tile_fill);
  TEST_OK(d.ctx, vkl_wgt_plan_of(d.cmd, &top, 0, &pl));
  cr_assert(pl.bm == tu->tile_m && pl.bn == tu->tile_n && pl.splits == 1);
  test_dev_destroy(&d);
}

/* A forced tile that cannot be spread over the workgroup is refused by name; a table
 * whose tiles give none (24 x 32 over 256: 3 outputs each, not a whole vec4) runs the
 * CPU geometry's kernel instead, and still matches. */
Test(ops_conv2d, wgrad_gpu_refuses_a_forced_tile_and_falls_back_otherwise) {
  test_dev d = wgt_dev("tile_m=8,tile_n=32,wgrad_tile=3"); /* 4 x 16 over 256 */
  vkl_conv2d_shape sh = shape_of(&wgt_cases[0]);
  vkl_wgt_plan pl;
  cr_assert_eq(vkl_wgt_plan_of(d.cmd, &sh, 0, &pl), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(d.ctx),
                   "conv2d backward-weight: no tile of tile_m 8 x tile_n "
                   "32 (wgrad_tile 3)"),
            "%s", vkl_ctx_errmsg(d.ctx));
  test_dev_destroy(&d);

  d = wgt_dev("tile_m=24,tile_n=32");
  cr_assert(!vkl_wgt_usable(vkl_ctx_tuning(d.ctx)));
  test_rng rng = {28};
  run_case(&d, &rng, &wgt_cases[1], 4);
  test_dev_destroy(&d);
}
