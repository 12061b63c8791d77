/* Synthetic data, augmentation and the loader: the generator is
 * deterministic and learnable; flips, crops and rotations have their
 * identities and their statistics; normalization is the formula; the
 * loader's batches are bit-identical for any thread count, hold every
 * sample once per epoch in a per-epoch order, and count their throughput. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/loader.h"

static vkl_dataset *synth(uint64_t n, uint32_t c, uint32_t h, uint32_t w, uint32_t k, uint64_t seed,
                          vkl_split split) {
  vkl_synthetic_config sc = {.count = n,
                             .channels = c,
                             .height = h,
                             .width = w,
                             .classes = k,
                             .seed = seed,
                             .split = split};
  vkl_dataset *ds;
  char err[512];
  cr_assert_eq(vkl_dataset_synthetic(&sc, &ds, err, sizeof err), VKL_OK, "%s", err);
  return ds;
}

/* A loader config for ds, batches of m, whose slots are sized for ds. */
static vkl_loader_config loader_config(const vkl_dataset *ds, uint32_t m) {
  const vkl_dataset_info *in = vkl_dataset_get_info(ds);
  vkl_loader_config cfg = {.dataset = ds,
                           .batch = m,
                           .channels = in->channels,
                           .height = in->height,
                           .width = in->width,
                           .classes = in->classes};
  return cfg;
}

static uint64_t rng_state = 99;
static uint32_t rnd(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* ---- synthetic --------------------------------------------------------- */

Test(synthetic, deterministic_and_seeded) {
  vkl_dataset *a = synth(300, 3, 8, 8, 10, 5, VKL_SPLIT_TRAIN),
              *b = synth(300, 3, 8, 8, 10, 5, VKL_SPLIT_TRAIN),
              *c = synth(300, 3, 8, 8, 10, 6, VKL_SPLIT_TRAIN),
              *t = synth(300, 3, 8, 8, 10, 5, VKL_SPLIT_TEST);
  size_t n = 300 * 3 * 8 * 8;
  cr_assert_eq(memcmp(vkl_dataset_pixels(a), vkl_dataset_pixels(b), n), 0);
  cr_assert_eq(memcmp(vkl_dataset_labels(a), vkl_dataset_labels(b), 300 * 4), 0);
  cr_assert_neq(memcmp(vkl_dataset_pixels(a), vkl_dataset_pixels(c), n), 0);
  cr_assert_neq(memcmp(vkl_dataset_pixels(a), vkl_dataset_pixels(t), n), 0);
  const vkl_dataset_info *in = vkl_dataset_get_info(a);
  cr_assert(in->count == 300 && in->channels == 3 && in->height == 8 && in->classes == 10);
  cr_assert_str_eq(in->name, "synthetic/train");
  for (int i = 0; i < 300; i++) cr_assert_eq(vkl_dataset_labels(a)[i], (uint32_t)i % 10);
  vkl_dataset_destroy(a);
  vkl_dataset_destroy(b);
  vkl_dataset_destroy(c);
  vkl_dataset_destroy(t);
  char err[512];
  vkl_synthetic_config bad = {.count = 10, .channels = 5, .height = 4, .width = 4, .classes = 2};
  vkl_dataset *ds;
  cr_assert_eq(vkl_dataset_synthetic(&bad, &ds, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "synthetic"), "%s", err);
}

/* Learnable: the nearest class mean of the train split classifies the test
 * split (same seed, other samples). */
Test(synthetic, learnable) {
  const uint32_t K = 10, C = 3, H = 16, W = 16, D = C * H * W;
  vkl_dataset *tr = synth(1000, C, H, W, K, 11, VKL_SPLIT_TRAIN),
              *te = synth(300, C, H, W, K, 11, VKL_SPLIT_TEST);
  double *mean = calloc((size_t)K * D, sizeof(double));
  for (uint32_t i = 0; i < 1000; i++) {
    uint32_t k = vkl_dataset_labels(tr)[i];
    for (uint32_t p = 0; p < D; p++) mean[k * D + p] += vkl_dataset_pixels(tr)[i * D + p] / 100.0;
  }
  int right = 0;
  for (uint32_t i = 0; i < 300; i++) {
    double best = INFINITY;
    uint32_t arg = 0;
    for (uint32_t k = 0; k < K; k++) {
      double d = 0;
      for (uint32_t p = 0; p < D; p++) {
        double e = vkl_dataset_pixels(te)[i * D + p] - mean[k * D + p];
        d += e * e;
      }
      if (d < best) best = d, arg = k;
    }
    right += arg == vkl_dataset_labels(te)[i];
  }
  cr_assert_geq(right, 285, "nearest class mean: %d of 300", right);
  free(mean);
  vkl_dataset_destroy(tr);
  vkl_dataset_destroy(te);
}

/* ---- augmentation ------------------------------------------------------ */

static uint8_t *random_image(size_t n) {
  uint8_t *p = malloc(n);
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
  return p;
}

Test(augment, identities) {
  const uint32_t C = 3, H = 5, W = 7;
  const size_t n = C * H * W;
  uint8_t *x = random_image(n), *y = malloc(n), *z = malloc(n);
  /* flip twice */
  vkl_augment_params flip = {0, 0, 1, 0};
  vkl_augment_geometry(y, x, C, H, W, 0, &flip);
  cr_assert_neq(memcmp(x, y, n), 0);
  for (uint32_t c = 0; c < C; c++)
    for (uint32_t r = 0; r < H; r++)
      for (uint32_t q = 0; q < W; q++)
        cr_assert_eq(y[(c * H + r) * W + q], x[(c * H + r) * W + (W - 1 - q)]);
  vkl_augment_geometry(z, y, C, H, W, 0, &flip);
  cr_assert_eq(memcmp(x, z, n), 0, "flip twice");
  /* crop at offset 0 without padding; crop at the centre of a padding */
  vkl_augment_params none = {0, 0, 0, 0};
  vkl_augment_geometry(y, x, C, H, W, 0, &none);
  cr_assert_eq(memcmp(x, y, n), 0, "crop offset 0, no padding");
  vkl_augment_params centre = {4, 4, 0, 0};
  vkl_augment_geometry(y, x, C, H, W, 4, &centre);
  cr_assert_eq(memcmp(x, y, n), 0, "crop offset 4 of padding 4");
  /* rotation by 0, and by an angle too small to move anything (the
   * bilinear path) */
  vkl_augment_params rot0 = {0, 0, 0, 0.0f};
  vkl_augment_geometry(y, x, C, H, W, 0, &rot0);
  cr_assert_eq(memcmp(x, y, n), 0, "rotation by 0");
  vkl_augment_params rot_tiny = {0, 0, 0, 1e-30f};
  vkl_augment_geometry(y, x, C, H, W, 0, &rot_tiny);
  cr_assert_eq(memcmp(x, y, n), 0, "rotation by 1e-30 degrees");
  free(x);
  free(y);
  free(z);
}

Test(augment, crop_and_rotation_geometry) {
  const uint32_t C = 2, S = 7;
  const size_t n = C * S * S;
  uint8_t *x = random_image(n), *y = malloc(n);
  for (size_t i = 0; i < n; i++) x[i] |= 1; /* no zero pixels: fills are visible */
  /* offset (0,0) of padding 4: out(r,q) = x(r-4, q-4), zero outside */
  vkl_augment_params corner = {0, 0, 0, 0};
  vkl_augment_geometry(y, x, C, S, S, 4, &corner);
  for (uint32_t c = 0; c < C; c++)
    for (uint32_t r = 0; r < S; r++)
      for (uint32_t q = 0; q < S; q++) {
        uint8_t want = r >= 4 && q >= 4 ? x[(c * S + r - 4) * S + q - 4] : 0;
        cr_assert_eq(y[(c * S + r) * S + q], want, "c%u (%u,%u)", c, r, q);
      }
  /* offset (5,2) of padding 3, flipped: out(r,q) = x(r+2, (S-1-q)-1) */
  vkl_augment_params shifted = {5, 2, 1, 0};
  vkl_augment_geometry(y, x, C, S, S, 3, &shifted);
  for (uint32_t c = 0; c < C; c++)
    for (uint32_t r = 0; r < S; r++)
      for (uint32_t q = 0; q < S; q++) {
        int sr = (int)r + 2, sq = (int)(S - 1 - q) - 1;
        uint8_t want = sr < (int)S && sq >= 0 ? x[(c * S + sr) * S + sq] : 0;
        cr_assert_eq(y[(c * S + r) * S + q], want, "c%u (%u,%u)", c, r, q);
      }
  /* 90 degrees counter-clockwise: out(r,q) = x(q, S-1-r); the right edge's
   * middle goes to the top's middle */
  vkl_augment_params r90 = {0, 0, 0, 90.0f};
  vkl_augment_geometry(y, x, C, S, S, 0, &r90);
  for (uint32_t c = 0; c < C; c++)
    for (uint32_t r = 0; r < S; r++)
      for (uint32_t q = 0; q < S; q++)
        cr_assert_eq(y[(c * S + r) * S + q], x[(c * S + q) * S + (S - 1 - r)], "c%u (%u,%u)", c, r,
                     q);
  /* 45 degrees of a white image: the centre stays, the corners are filled
   * with zero, bilinear edges lie between */
  memset(x, 255, n);
  vkl_augment_params r45 = {0, 0, 0, 45.0f};
  vkl_augment_geometry(y, x, C, S, S, 0, &r45);
  cr_assert_eq(y[3 * S + 3], 255);
  cr_assert_eq(y[0], 0);
  cr_assert_eq(y[S * S - 1], 0);
  free(x);
  free(y);
}

Test(augment, normalization_math) {
  const uint32_t C = 3, H = 4, W = 5;
  const size_t n = C * H * W;
  uint8_t *x = random_image(n);
  x[0] = 0;
  x[1] = 255;
  float *y = malloc(n * sizeof(float));
  vkl_augment_config cfg = vkl_augment_eval("cifar10");
  cr_assert_eq(cfg.normalize, 1);
  vkl_augment_normalize(y, x, C, H, W, &cfg);
  for (uint32_t c = 0; c < C; c++)
    for (uint32_t i = 0; i < H * W; i++) {
      double want = (x[c * H * W + i] / 255.0 - cfg.mean[c]) / cfg.std[c];
      cr_assert_float_eq(y[c * H * W + i], want, 1e-6 * fabs(want) + 1e-7, "c%u i%u", c, i);
    }
  cr_assert_float_eq(y[0], -0.4914 / 0.2470, 1e-5);
  cr_assert_float_eq(y[1], (1 - 0.4914) / 0.2470, 1e-5);
  /* without normalize: x / 255 */
  vkl_augment_config plain = {0};
  vkl_augment_normalize(y, x, C, H, W, &plain);
  for (size_t i = 0; i < n; i++) cr_assert_float_eq(y[i], x[i] / 255.0, 1e-7);
  /* apply = geometry then normalize */
  vkl_augment_config flipn = cfg;
  flipn.flip = 1;
  vkl_augment_params p = {0, 0, 1, 0};
  uint8_t *scratch = malloc(n), *flipped = malloc(n);
  float *z = malloc(n * sizeof(float));
  vkl_augment_apply(y, x, scratch, C, H, W, &flipn, &p);
  vkl_augment_geometry(flipped, x, C, H, W, 0, &p);
  vkl_augment_normalize(z, flipped, C, H, W, &cfg);
  cr_assert_eq(memcmp(y, z, n * sizeof(float)), 0);
  free(x);
  free(y);
  free(z);
  free(scratch);
  free(flipped);
}

Test(augment, presets_and_validation) {
  vkl_augment_config a = vkl_augment_paper("cifar10/train");
  cr_assert(a.crop_pad == 4 && a.flip == 1 && a.rotate_deg == 15.0f && a.normalize == 1);
  cr_assert_float_eq(a.mean[0], 0.4914f, 1e-7);
  cr_assert_float_eq(a.std[2], 0.2616f, 1e-7);
  a = vkl_augment_paper("fashion-mnist");
  cr_assert_float_eq(a.mean[0], 0.2860f, 1e-7);
  cr_assert_float_eq(a.std[0], 0.3530f, 1e-7);
  a = vkl_augment_eval("mnist");
  cr_assert(a.crop_pad == 0 && !a.flip && a.rotate_deg == 0 && a.normalize);
  cr_assert_float_eq(a.mean[0], 0.1307f, 1e-7);
  a = vkl_augment_paper("cifar100");
  cr_assert_float_eq(a.mean[1], 0.4865f, 1e-7);
  a = vkl_augment_paper("something-else"); /* the authors' choice: ImageNet's */
  cr_assert_float_eq(a.mean[0], 0.485f, 1e-7);
  cr_assert_float_eq(a.std[2], 0.225f, 1e-7);
  float m[4], s[4];
  cr_assert_eq(vkl_norm_defaults("nope", m, s), -1);
  char err[256];
  a.std[1] = 0;
  cr_assert_eq(vkl_augment_validate(&a, 3, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "channel 1"), "%s", err);
  cr_assert_eq(vkl_augment_validate(&a, 1, err, sizeof err), VKL_OK);
  a.rotate_deg = NAN;
  cr_assert_eq(vkl_augment_validate(&a, 1, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
}

/* The draws cover every crop offset, flip half the time, and spread the
 * angle over +-15 degrees; they depend on (seed, epoch, index) only. */
Test(augment, draw_statistics) {
  vkl_augment_config cfg = vkl_augment_paper("cifar10");
  int seen[9][9] = {{0}};
  int flips = 0, neg = 0;
  float lo = 0, hi = 0;
  const int N = 20000;
  for (int i = 0; i < N; i++) {
    vkl_augment_params p;
    vkl_augment_draw(&cfg, 42, 3, (uint64_t)i, &p);
    cr_assert(p.crop_y <= 8 && p.crop_x <= 8);
    seen[p.crop_y][p.crop_x]++;
    flips += p.flip;
    cr_assert(p.angle_deg >= -15 && p.angle_deg <= 15, "%g", (double)p.angle_deg);
    neg += p.angle_deg < 0;
    lo = fminf(lo, p.angle_deg);
    hi = fmaxf(hi, p.angle_deg);
  }
  for (int y = 0; y < 9; y++)
    for (int x = 0; x < 9; x++)
      cr_assert(seen[y][x] > N / 81 / 2, "offset (%d,%d) drawn %d times", y, x, seen[y][x]);
  cr_assert(flips > N * 0.47 && flips < N * 0.53, "%d flips", flips);
  cr_assert(neg > N * 0.47 && neg < N * 0.53, "%d negative angles", neg);
  cr_assert(lo < -14.9f && hi > 14.9f, "angles in [%g, %g]", (double)lo, (double)hi);
  vkl_augment_params a, b, c;
  vkl_augment_draw(&cfg, 42, 3, 17, &a);
  vkl_augment_draw(&cfg, 42, 3, 17, &b);
  cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
  vkl_augment_draw(&cfg, 42, 4, 17, &c);
  cr_assert_neq(memcmp(&a, &c, sizeof a), 0);
  /* switched off: nothing drawn moves */
  vkl_augment_config off = {0};
  vkl_augment_draw(&off, 42, 3, 17, &a);
  cr_assert(a.crop_y == 0 && a.crop_x == 0 && a.flip == 0 && a.angle_deg == 0);
}

/* ---- loader -------------------------------------------------------------- */

typedef struct run_out {
  float *images;
  uint32_t *labels;
  uint32_t *counts;
  uint64_t batches;
} run_out;

/* Runs `epochs` epochs with `threads` workers, keeping 3 batches in flight,
 * and returns every batch's bytes. */
static run_out run_loader(const vkl_dataset *ds, uint32_t m, uint32_t threads, uint64_t seed,
                          int drop_last, const vkl_augment_config *aug, uint64_t epochs) {
  vkl_loader_config cfg = loader_config(ds, m);
  cfg.threads = threads;
  cfg.slots = 3;
  cfg.seed = seed;
  cfg.drop_last = drop_last;
  cfg.augment = *aug;
  vkl_loader *ld;
  char err[512];
  cr_assert_eq(vkl_loader_create(&cfg, &ld, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(vkl_loader_threads(ld), threads);
  const vkl_dataset_info *in = vkl_dataset_get_info(ds);
  size_t chw = (size_t)in->channels * in->height * in->width;
  uint64_t nb = vkl_loader_batches_per_epoch(ld);
  run_out r = {calloc(epochs * nb * m * chw, sizeof(float)), calloc(epochs * nb * m, 4),
               calloc(epochs * nb, 4), nb};
  for (uint64_t e = 0; e < epochs; e++) {
    cr_assert_eq(vkl_loader_start_epoch(ld, e), VKL_OK, "%s", vkl_loader_errmsg(ld));
    for (uint64_t b = 0; b < nb + 3; b++) {
      if (b >= 3) { /* wait for batch b-3 */
        uint64_t g = e * nb + b - 3;
        cr_assert_eq(vkl_loader_wait(ld, (uint32_t)((b - 3) % 3), &r.counts[g]), VKL_OK, "%s",
                     vkl_loader_errmsg(ld));
      }
      if (b < nb) {
        uint64_t g = e * nb + b;
        cr_assert_eq(
            vkl_loader_submit(ld, (uint32_t)(b % 3), b, r.images + g * m * chw, r.labels + g * m),
            VKL_OK, "%s", vkl_loader_errmsg(ld));
      }
    }
  }
  vkl_loader_destroy(ld);
  return r;
}

static void run_free(run_out *r) {
  free(r->images);
  free(r->labels);
  free(r->counts);
}

Test(loader, same_seed_same_batches_for_1_and_3_threads) {
  vkl_dataset *ds = synth(100, 3, 32, 32, 10, 1, VKL_SPLIT_TRAIN);
  vkl_augment_config aug = vkl_augment_paper("synthetic");
  const uint32_t m = 16;
  run_out a = run_loader(ds, m, 1, 7, 0, &aug, 2), b = run_loader(ds, m, 3, 7, 0, &aug, 2);
  cr_assert_eq(a.batches, 7); /* 6 full and one of 4 */
  size_t chw = 3 * 32 * 32;
  for (uint64_t g = 0; g < 14; g++)
    cr_assert_eq(a.counts[g], g % 7 == 6 ? 4u : m, "batch %llu", (unsigned long long)g);
  cr_assert_eq(memcmp(a.images, b.images, 14 * m * chw * sizeof(float)), 0);
  cr_assert_eq(memcmp(a.labels, b.labels, 14 * m * 4), 0);
  /* the epochs differ, and another seed differs */
  cr_assert_neq(memcmp(a.images, a.images + 7 * m * chw, 6 * m * chw * sizeof(float)), 0);
  run_out c = run_loader(ds, m, 2, 8, 0, &aug, 1);
  cr_assert_neq(memcmp(a.images, c.images, 6 * m * chw * sizeof(float)), 0);
  /* each sample is the augmentation drawn from (seed, epoch, index) */
  uint64_t *perm = malloc(100 * sizeof *perm);
  vkl_data_permutation(7, 1, 100, perm);
  float *want = malloc(chw * sizeof(float));
  uint8_t *scratch = malloc(chw);
  for (uint64_t pos = 0; pos < 100; pos += 9) {
    vkl_augment_params p;
    vkl_augment_draw(&aug, 7, 1, perm[pos], &p);
    vkl_augment_apply(want, vkl_dataset_pixels(ds) + perm[pos] * chw, scratch, 3, 32, 32, &aug, &p);
    uint64_t slot = 7 * m + pos; /* epoch 1 starts after 7 batches of m slots */
    cr_assert_eq(memcmp(a.images + slot * chw, want, chw * sizeof(float)), 0, "position %llu",
                 (unsigned long long)pos);
    cr_assert_eq(a.labels[slot], vkl_dataset_labels(ds)[perm[pos]]);
  }
  free(perm);
  free(want);
  free(scratch);
  run_free(&a);
  run_free(&b);
  run_free(&c);
  vkl_dataset_destroy(ds);
}

/* Every sample once per epoch, in an order that changes with the epoch. */
Test(loader, epochs_are_permutations) {
  const uint64_t N = 250;
  const uint32_t m = 32, D = 2 * 6 * 6;
  vkl_dataset *ds = synth(N, 2, 6, 6, 5, 3, VKL_SPLIT_TRAIN);
  vkl_augment_config aug = {0}; /* x/255: each image identifies its sample */
  run_out r = run_loader(ds, m, 2, 5, 0, &aug, 3);
  cr_assert_eq(r.batches, 8);
  uint64_t order[3][250];
  for (uint64_t e = 0; e < 3; e++) {
    uint8_t seen[250] = {0};
    for (uint64_t pos = 0; pos < N; pos++) {
      uint64_t g = e * 8 * m + pos; /* batch pos/m, row pos%m */
      const float *img = r.images + g * D;
      uint64_t found = N;
      for (uint64_t i = 0; i < N && found == N; i++) {
        const uint8_t *px = vkl_dataset_pixels(ds) + i * D;
        uint32_t d = 0;
        while (d < D && img[d] == (float)(px[d] / 255.0)) d++;
        if (d == D) found = i;
      }
      cr_assert_lt(found, N, "epoch %llu position %llu matches no sample", (unsigned long long)e,
                   (unsigned long long)pos);
      cr_assert_eq(seen[found]++, 0, "sample %llu twice in epoch %llu", (unsigned long long)found,
                   (unsigned long long)e);
      cr_assert_eq(r.labels[g], vkl_dataset_labels(ds)[found]);
      order[e][pos] = found;
    }
    uint64_t perm[250];
    vkl_data_permutation(5, e, N, perm);
    cr_assert_eq(memcmp(order[e], perm, sizeof perm), 0);
  }
  cr_assert_neq(memcmp(order[0], order[1], sizeof order[0]), 0);
  cr_assert_neq(memcmp(order[1], order[2], sizeof order[0]), 0);
  run_free(&r);
  /* drop_last: 7 batches of 32, all distinct samples */
  r = run_loader(ds, m, 2, 5, 1, &aug, 1);
  cr_assert_eq(r.batches, 7);
  for (uint64_t b = 0; b < 7; b++) cr_assert_eq(r.counts[b], m);
  run_free(&r);
  vkl_dataset_destroy(ds);
}

Test(loader, no_shuffle_throughput_and_misuse) {
  vkl_dataset *ds = synth(40, 1, 4, 4, 4, 9, VKL_SPLIT_TEST);
  vkl_loader_config cfg = loader_config(ds, 8);
  cfg.threads = 2;
  cfg.slots = 2;
  cfg.no_shuffle = 1;
  vkl_loader *ld;
  char err[512];
  cr_assert_eq(vkl_loader_create(&cfg, &ld, err, sizeof err), VKL_OK, "%s", err);
  float img[8 * 16];
  uint32_t lab[8], count;
  /* misuse */
  cr_assert_eq(vkl_loader_submit(ld, 0, 0, img, lab), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_loader_errmsg(ld), "start_epoch"), "%s", vkl_loader_errmsg(ld));
  cr_assert_eq(vkl_loader_start_epoch(ld, 0), VKL_OK);
  cr_assert_eq(vkl_loader_submit(ld, 2, 0, img, lab), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_eq(vkl_loader_submit(ld, 0, 5, img, lab), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_eq(vkl_loader_wait(ld, 1, &count), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_eq(vkl_loader_submit(ld, 0, 0, img, lab), VKL_OK);
  cr_assert_eq(vkl_loader_submit(ld, 0, 1, img, lab), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_loader_errmsg(ld), "slot 0"), "%s", vkl_loader_errmsg(ld));
  cr_assert_eq(vkl_loader_start_epoch(ld, 1), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_eq(vkl_loader_wait(ld, 0, &count), VKL_OK);
  cr_assert_eq(count, 8);
  /* dataset order: batch b holds samples 8b .. 8b+7 */
  for (uint64_t b = 0; b < vkl_loader_batches_per_epoch(ld); b++) {
    cr_assert_eq(vkl_loader_submit(ld, 1, b, img, lab), VKL_OK);
    cr_assert_eq(vkl_loader_wait(ld, 1, &count), VKL_OK);
    for (uint32_t j = 0; j < 8; j++) {
      cr_assert_eq(lab[j], vkl_dataset_labels(ds)[b * 8 + j]);
      cr_assert_eq(vkl_loader_sample_index(ld, b * 8 + j), b * 8 + j);
      cr_assert_float_eq(img[j * 16 + 5], vkl_dataset_pixels(ds)[(b * 8 + j) * 16 + 5] / 255.0,
                         1e-7);
    }
  }
  cr_assert_eq(vkl_loader_start_epoch(ld, 1), VKL_OK);
  vkl_loader_stats last, cur;
  vkl_loader_get_stats(ld, &last, &cur);
  cr_assert_eq(last.epoch, 0);
  cr_assert_eq(last.images, 48); /* batch 0 twice, then the 5 batches */
  cr_assert_gt(last.images_per_s, 0);
  cr_assert_gt(last.capacity_per_s, 0);
  cr_assert_gt(last.wall_s, 0);
  cr_assert_eq(cur.images, 0);
  cr_assert_gt(vkl_loader_images_per_second(ld), 0);
  vkl_loader_destroy(ld);
  /* bad configs */
  vkl_loader_config big = loader_config(ds, 41);
  big.drop_last = 1;
  cr_assert_eq(vkl_loader_create(&big, &ld, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "drop_last"), "%s", err);
  vkl_loader_config zero = loader_config(ds, 0);
  cr_assert_eq(vkl_loader_create(&zero, &ld, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "batch size 0"), "%s", err);
  vkl_loader_config badstd = loader_config(ds, 4);
  badstd.augment = (vkl_augment_config){.normalize = 1};
  cr_assert_eq(vkl_loader_create(&badstd, &ld, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "std"), "%s", err);
  /* default threads: cores - 1, at least 1 */
  vkl_loader_config dflt = loader_config(ds, 4);
  cr_assert_eq(vkl_loader_create(&dflt, &ld, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_geq(vkl_loader_threads(ld), 1);
  vkl_loader_destroy(ld);
  vkl_loader_destroy(NULL);
  vkl_dataset_destroy(ds);
}

/* The caller's slots were sized for one shape and class count: a dataset
 * of another (the test split beside the train split the slots were sized
 * from) is refused at create, before a batch could write past a slot. */
Test(loader, refuses_a_dataset_unlike_its_slots) {
  vkl_dataset *ds = synth(16, 1, 28, 28, 10, 1, VKL_SPLIT_TEST);
  vkl_loader_config cfg = loader_config(ds, 8);
  cfg.height = cfg.width = 1;
  vkl_loader *ld = NULL;
  char err[1024];
  cr_assert_eq(vkl_loader_create(&cfg, &ld, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert_null(ld);
  cr_assert(strstr(err, "images are 1x28x28, the loader's slots' 1x1x1"), "%s", err);
  cfg = loader_config(ds, 8);
  cfg.classes = 5;
  cr_assert_eq(vkl_loader_create(&cfg, &ld, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "it has 10 classes, the loader's slots' 5"), "%s", err);
  vkl_dataset_destroy(ds);
}
