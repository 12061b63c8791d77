/*
 * Tests of the double-precision op references in src/ops: forward passes on small
 * hand-computable cases and identities, and every backward reference against central
 * finite differences, plus accumulate = 1 adding into its outputs.
 *
 * Finite differences: for a random upstream gradient dy and each input entry v_i,
 *   numeric_i = (<dy, f(v + h e_i)> - <dy, f(v - h e_i)>) / 2h
 * must match the analytic gradient within |numeric - analytic| <= FD_ATOL +
 * FD_RTOL * max(|numeric|, |analytic|). With h = 1e-5 and O(1) data, the truncation
 * error h^2 f'''/6 is ~1e-11 for the smooth ops (zero for the piecewise-linear ones,
 * whose inputs are kept at least 0.01 from a kink), and the rounding error of the two
 * dot products, ~ny * 1e-16 / 2h with ny <= a few hundred, is below 1e-8. So FD_ATOL =
 * 1e-8 and FD_RTOL = 1e-6 leave one to two orders of margin, while a wrong or missing
 * term of any realistic size (>= 1e-4 relative) fails; test harness.detects_wrong_gradient
 * shows the check does fail.
 *
 * Random data come from a seeded splitmix64, so every run sees the same numbers.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/activation.h"
#include "ops/batchnorm.h"
#include "ops/conv2d.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/pool.h"
#include "ops/softmax_xent.h"
#include "ops/sumsq.h"

#define FD_H 1e-5
#define FD_ATOL 1e-8
#define FD_RTOL 1e-6

/* ---- deterministic data ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static void rng_seed(uint64_t seed) {
  rng_state = seed;
}

/* splitmix64, https://prng.di.unimi.it/splitmix64.c */
static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static double uniform(void) {
  return (double)(rng_next() >> 11) * 0x1.0p-52 - 1.0;
}

static double *new_array(size_t n) {
  double *a = malloc((n ? n : 1) * sizeof *a);
  cr_assert(a != NULL, "out of memory");
  return a;
}

static double *rand_array(size_t n) {
  double *a = new_array(n);
  for (size_t i = 0; i < n; i++) a[i] = uniform();
  return a;
}

static double *copy_array(const double *src, size_t n) {
  double *a = new_array(n);
  memcpy(a, src, n * sizeof *a);
  return a;
}

/* Distinct values: a random permutation of -0.5 + 0.01 i, so no two entries are within
 * 0.01 of each other and a step of FD_H never reorders them (max-pool ties). */
static double *distinct_array(size_t n) {
  double *a = new_array(n);
  for (size_t i = 0; i < n; i++) a[i] = -0.5 + 0.01 * (double)i;
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(rng_next() % i);
    double t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
  return a;
}

/* Values at least 0.1 away from 0, for ReLU's kink. */
static double *away_from_zero_array(size_t n) {
  double *a = rand_array(n);
  for (size_t i = 0; i < n; i++) a[i] = a[i] < 0.0 ? a[i] - 0.1 : a[i] + 0.1;
  return a;
}

static void assert_near(double got, double want, double tol, const char *what) {
  cr_assert(fabs(got - want) <= tol, "%s: got %.17g, want %.17g", what, got, want);
}

/* ---- finite-difference harness ---- */

/* Writes f(inputs held by ctx) into y. */
typedef void (*forward_fn)(const void *ctx, double *y);
/* Writes (accumulate = 0) or adds (1) the gradients of <dy, f> into grads[i], one per
 * checked input, in the order of op_check.in. */
typedef void (*backward_fn)(const void *ctx, const double *dy, double *const *grads,
                            int accumulate);

#define MAX_INPUTS 3

typedef struct op_check {
  const char *op;
  forward_fn forward;
  backward_fn backward;
  const void *ctx;
  size_t ny;
  int n_inputs;
  struct {
    const char *name;
    double *v; /* read by forward through ctx; perturbed in place */
    size_t n;
  } in[MAX_INPUTS];
} op_check;

typedef struct fd_result {
  double worst; /* largest error / allowed error; <= 1 passes */
  size_t at;
  double numeric, analytic;
} fd_result;

static double dot(const double *a, const double *b, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

static fd_result fd_compare(const op_check *c, const double *dy, double *v, size_t nv,
                            const double *grad) {
  double *y = new_array(c->ny);
  fd_result res = {0};
  for (size_t i = 0; i < nv; i++) {
    double saved = v[i];
    v[i] = saved + FD_H;
    c->forward(c->ctx, y);
    double up = dot(dy, y, c->ny);
    v[i] = saved - FD_H;
    c->forward(c->ctx, y);
    double down = dot(dy, y, c->ny);
    v[i] = saved;
    double numeric = (up - down) / (2.0 * FD_H);
    double allowed = FD_ATOL + FD_RTOL * fmax(fabs(numeric), fabs(grad[i]));
    double err = fabs(numeric - grad[i]) / allowed;
    if (err >= res.worst) res = (fd_result){err, i, numeric, grad[i]};
  }
  free(y);
  return res;
}

/* Checks every input's gradient against finite differences, then that accumulate = 1
 * adds the same gradients onto whatever the outputs held. The accumulate = 0 call writes
 * over random contents, so a backward that forgets to clear fails too. */
static void check_backward(const op_check *c) {
  double *dy = rand_array(c->ny);
  double *grads[MAX_INPUTS], *sums[MAX_INPUTS], *before[MAX_INPUTS];
  for (int i = 0; i < c->n_inputs; i++) grads[i] = rand_array(c->in[i].n);
  c->backward(c->ctx, dy, grads, 0);
  for (int i = 0; i < c->n_inputs; i++) {
    fd_result r = fd_compare(c, dy, c->in[i].v, c->in[i].n, grads[i]);
    cr_assert(r.worst <= 1.0, "%s d%s[%zu]: finite difference %.12g, analytic %.12g", c->op,
              c->in[i].name, r.at, r.numeric, r.analytic);
  }
  for (int i = 0; i < c->n_inputs; i++) {
    sums[i] = rand_array(c->in[i].n);
    before[i] = copy_array(sums[i], c->in[i].n);
  }
  c->backward(c->ctx, dy, sums, 1);
  for (int i = 0; i < c->n_inputs; i++) {
    for (size_t j = 0; j < c->in[i].n; j++) {
      double want = before[i][j] + grads[i][j];
      cr_assert(fabs(sums[i][j] - want) <= 1e-12 * (1.0 + fabs(want)),
                "%s d%s[%zu] accumulate: got %.17g, want %.17g", c->op, c->in[i].name, j,
                sums[i][j], want);
    }
    free(grads[i]);
    free(sums[i]);
    free(before[i]);
  }
  free(dy);
}

/* ---- harness self-test ---- */

static void square_forward(const void *ctx, double *y) {
  const double *x = *(double *const *)ctx;
  for (int i = 0; i < 3; i++) y[i] = x[i] * x[i];
}

Test(harness, detects_wrong_gradient) {
  rng_seed(1);
  double *x = rand_array(3);
  op_check c = {.op = "square", .forward = square_forward, .ctx = &x, .ny = 3};
  double dy[3] = {0.3, -0.7, 1.1};
  double grad[3];
  for (int i = 0; i < 3; i++) grad[i] = 2.0 * x[i] * dy[i];
  cr_assert(fd_compare(&c, dy, x, 3, grad).worst <= 1.0, "exact gradient rejected");
  grad[1] *= 1.0 + 1e-4;
  fd_result r = fd_compare(&c, dy, x, 3, grad);
  cr_assert(r.worst > 1.0 && r.at == 1, "gradient off by 1e-4 accepted (worst %g)", r.worst);
  free(x);
}

/* ---- elementwise ---- */

Test(elementwise, add_scale_fill) {
  double a[3] = {1.0, -2.0, 0.5}, b[3] = {0.25, 4.0, -0.5}, y[3];
  vkl_add_forward_ref(y, a, b, 3);
  assert_near(y[0], 1.25, 0.0, "add[0]");
  assert_near(y[1], 2.0, 0.0, "add[1]");
  assert_near(y[2], 0.0, 0.0, "add[2]");
  vkl_scale_forward_ref(y, a, -3.0, 3);
  assert_near(y[0], -3.0, 0.0, "scale[0]");
  assert_near(y[1], 6.0, 0.0, "scale[1]");
  assert_near(y[2], -1.5, 0.0, "scale[2]");
  vkl_fill_ref(y, 7.5, 3);
  for (int i = 0; i < 3; i++) assert_near(y[i], 7.5, 0.0, "fill");
}

typedef struct add_ctx {
  double *a, *b;
  size_t n;
} add_ctx;

static void add_forward(const void *ctx, double *y) {
  const add_ctx *c = ctx;
  vkl_add_forward_ref(y, c->a, c->b, c->n);
}

static void add_backward(const void *ctx, const double *dy, double *const *g, int accumulate) {
  const add_ctx *c = ctx;
  vkl_add_backward_ref(g[0], g[1], dy, c->n, accumulate);
}

Test(elementwise, add_backward_fd) {
  rng_seed(2);
  add_ctx c = {rand_array(7), rand_array(7), 7};
  op_check chk = {"add", add_forward, add_backward, &c, 7, 2, {{"a", c.a, 7}, {"b", c.b, 7}}};
  check_backward(&chk);
  free(c.a);
  free(c.b);
}

Test(elementwise, add_backward_null_skips) {
  double dy[2] = {1.5, -2.0}, db[2] = {9.0, 9.0};
  vkl_add_backward_ref(NULL, db, dy, 2, 1);
  assert_near(db[0], 10.5, 0.0, "db[0]");
  assert_near(db[1], 7.0, 0.0, "db[1]");
}

/* ---- matmul ---- */

Test(matmul, forward_hand_all_transposes) {
  const double a[6] = {1, 2, 3, 4, 5, 6};     /* (2,3) */
  const double at[6] = {1, 4, 2, 5, 3, 6};    /* its transpose, (3,2) */
  const double b[6] = {7, 8, 9, 10, 11, 12};  /* (3,2) */
  const double bt[6] = {7, 9, 11, 8, 10, 12}; /* its transpose, (2,3) */
  const double bias[2] = {1, -1};
  const double want[4] = {59, 63, 140, 153}; /* [[58,64],[139,154]] + bias */
  for (uint32_t ta = 0; ta < 2; ta++)
    for (uint32_t tb = 0; tb < 2; tb++) {
      vkl_matmul_shape sh = {.rows = 2, .cols = 2, .inner = 3, .trans_a = ta, .trans_b = tb};
      double c[4];
      vkl_matmul_forward_ref(c, ta ? at : a, tb ? bt : b, bias, &sh);
      for (int i = 0; i < 4; i++)
        cr_assert(c[i] == want[i], "trans_a %u trans_b %u: c[%d] = %g, want %g", ta, tb, i, c[i],
                  want[i]);
    }
}

typedef struct matmul_ctx {
  vkl_matmul_shape sh;
  double *a, *b, *bias;
} matmul_ctx;

static void matmul_forward(const void *ctx, double *y) {
  const matmul_ctx *c = ctx;
  vkl_matmul_forward_ref(y, c->a, c->b, c->bias, &c->sh);
}

static void matmul_backward(const void *ctx, const double *dy, double *const *g, int accumulate) {
  const matmul_ctx *c = ctx;
  vkl_matmul_backward_ref(g[0], g[1], c->bias ? g[2] : NULL, dy, c->a, c->b, &c->sh, accumulate);
}

static void check_matmul(vkl_matmul_shape sh, int with_bias) {
  size_t na = (size_t)sh.rows * sh.inner, nb = (size_t)sh.inner * sh.cols;
  matmul_ctx c = {sh, rand_array(na), rand_array(nb), with_bias ? rand_array(sh.cols) : NULL};
  op_check chk = {"matmul",
                  matmul_forward,
                  matmul_backward,
                  &c,
                  (size_t)sh.rows * sh.cols,
                  with_bias ? 3 : 2,
                  {{"a", c.a, na}, {"b", c.b, nb}, {"bias", c.bias, sh.cols}}};
  check_backward(&chk);
  free(c.a);
  free(c.b);
  free(c.bias);
}

Test(matmul, backward_fd) {
  rng_seed(3);
  for (uint32_t ta = 0; ta < 2; ta++)
    for (uint32_t tb = 0; tb < 2; tb++) {
      check_matmul((vkl_matmul_shape){3, 5, 4, ta, tb}, 1);
      check_matmul((vkl_matmul_shape){1, 3, 7, ta, tb}, ta != 0);
    }
}

Test(matmul, backward_null_skips) {
  rng_seed(4);
  vkl_matmul_shape sh = {.rows = 2, .cols = 3, .inner = 4, .trans_b = 1};
  double *a = rand_array(8), *b = rand_array(12), *dc = rand_array(6);
  double da[8], db[12], db_only[12];
  vkl_matmul_backward_ref(da, db, NULL, dc, a, b, &sh, 0);
  vkl_matmul_backward_ref(NULL, db_only, NULL, dc, a, b, &sh, 0);
  for (int i = 0; i < 12; i++)
    cr_assert(db_only[i] == db[i], "db[%d] = %g alone, %g with da", i, db_only[i], db[i]);
  free(a);
  free(b);
  free(dc);
}

/* ---- conv2d ---- */

static size_t conv_nx(const vkl_conv2d_shape *s) {
  return (size_t)s->N * s->C * s->H * s->W;
}
static size_t conv_nw(const vkl_conv2d_shape *s) {
  return (size_t)s->K * s->C * s->R * s->S;
}
static size_t conv_ny(const vkl_conv2d_shape *s) {
  return (size_t)s->N * s->K * s->P * s->Q;
}

Test(conv2d, shape_finish) {
  vkl_conv2d_shape sh = {.N = 1,
                         .C = 3,
                         .H = 9,
                         .W = 8,
                         .K = 2,
                         .R = 7,
                         .S = 7,
                         .stride_h = 2,
                         .stride_w = 2,
                         .pad_h = 3,
                         .pad_w = 3};
  cr_assert(vkl_conv2d_shape_finish(&sh) == 0);
  cr_assert(sh.P == 5 && sh.Q == 4, "P %u Q %u, want 5 4", sh.P, sh.Q);
  vkl_conv2d_shape big = {.N = 1,
                          .C = 1,
                          .H = 2,
                          .W = 2,
                          .K = 1,
                          .R = 5,
                          .S = 1,
                          .stride_h = 1,
                          .stride_w = 1,
                          .pad_h = 1};
  cr_assert(vkl_conv2d_shape_finish(&big) == -1, "kernel larger than padded input");
  sh.stride_w = 0;
  cr_assert(vkl_conv2d_shape_finish(&sh) == -1, "stride 0");
}

/* A kernel that is 1 at (r,s) = (0,2) and maps channel c to channel c shifts the image:
 * with pad 1, y[n,k,p,q] = x[n,k,p-1,q+1] (0 outside) + bias[k]. */
Test(conv2d, forward_delta_kernel_shifts) {
  rng_seed(5);
  vkl_conv2d_shape sh = {.N = 2,
                         .C = 2,
                         .H = 4,
                         .W = 5,
                         .K = 2,
                         .R = 3,
                         .S = 3,
                         .stride_h = 1,
                         .stride_w = 1,
                         .pad_h = 1,
                         .pad_w = 1};
  cr_assert(vkl_conv2d_shape_finish(&sh) == 0);
  double *x = rand_array(conv_nx(&sh)), *y = new_array(conv_ny(&sh));
  double w[2 * 2 * 9] = {0}, bias[2] = {0.5, -0.25};
  w[((0 * 2 + 0) * 3 + 0) * 3 + 2] = 1.0;
  w[((1 * 2 + 1) * 3 + 0) * 3 + 2] = 1.0;
  vkl_conv2d_forward_ref(y, x, w, bias, &sh);
  for (uint32_t n = 0; n < 2; n++)
    for (uint32_t k = 0; k < 2; k++)
      for (uint32_t p = 0; p < sh.P; p++)
        for (uint32_t q = 0; q < sh.Q; q++) {
          int h = (int)p - 1, wc = (int)q + 1;
          double want = bias[k];
          if (h >= 0 && wc < (int)sh.W)
            want += x[((n * 2 + k) * sh.H + (uint32_t)h) * sh.W + (uint32_t)wc];
          assert_near(y[((n * 2 + k) * sh.P + p) * sh.Q + q], want, 0.0, "shift");
        }
  free(x);
  free(y);
}

/* A 1x1 convolution is a matrix product per sample: y[n] (K,HW) = w (K,C) x[n] (C,HW),
 * i.e. y[n]^T = x[n]^T w^T, which is matmul with both operands transposed. */
Test(conv2d, forward_1x1_is_matmul) {
  rng_seed(6);
  vkl_conv2d_shape sh = {
      .N = 2, .C = 3, .H = 2, .W = 3, .K = 5, .R = 1, .S = 1, .stride_h = 1, .stride_w = 1};
  cr_assert(vkl_conv2d_shape_finish(&sh) == 0);
  double *x = rand_array(conv_nx(&sh)), *w = rand_array(conv_nw(&sh));
  double *bias = rand_array(5), *y = new_array(conv_ny(&sh)), c[6 * 5];
  vkl_conv2d_forward_ref(y, x, w, bias, &sh);
  vkl_matmul_shape mm = {.rows = 6, .cols = 5, .inner = 3, .trans_a = 1, .trans_b = 1};
  for (uint32_t n = 0; n < 2; n++) {
    vkl_matmul_forward_ref(c, x + n * 18, w, bias, &mm);
    for (uint32_t k = 0; k < 5; k++)
      for (uint32_t i = 0; i < 6; i++)
        assert_near(y[(n * 5 + k) * 6 + i], c[i * 5 + k], 1e-15, "1x1 conv");
  }
  free(x);
  free(w);
  free(bias);
  free(y);
}

/* Unequal strides and pads along the two axes, so a swapped h/w field shows:
 * R x S = 1 x 2, stride (1,2), pad (0,1): y[p,q] = 10 x[p,2q-1] + x[p,2q] (0 outside). */
Test(conv2d, forward_asymmetric_hand) {
  vkl_conv2d_shape sh = {.N = 1,
                         .C = 1,
                         .H = 2,
                         .W = 4,
                         .K = 1,
                         .R = 1,
                         .S = 2,
                         .stride_h = 1,
                         .stride_w = 2,
                         .pad_h = 0,
                         .pad_w = 1};
  cr_assert(vkl_conv2d_shape_finish(&sh) == 0);
  cr_assert(sh.P == 2 && sh.Q == 3, "P %u Q %u, want 2 3", sh.P, sh.Q);
  const double x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, w[2] = {10, 1};
  const double want[6] = {1, 23, 40, 5, 67, 80};
  double y[6];
  vkl_conv2d_forward_ref(y, x, w, NULL, &sh);
  for (int i = 0; i < 6; i++) assert_near(y[i], want[i], 0.0, "asymmetric conv");
}

typedef struct conv_ctx {
  vkl_conv2d_shape sh;
  double *x, *w, *bias;
} conv_ctx;

static void conv_forward(const void *ctx, double *y) {
  const conv_ctx *c = ctx;
  vkl_conv2d_forward_ref(y, c->x, c->w, c->bias, &c->sh);
}

static void conv_backward(const void *ctx, const double *dy, double *const *g, int accumulate) {
  const conv_ctx *c = ctx;
  vkl_conv2d_backward_data_ref(g[0], dy, c->w, &c->sh, accumulate);
  vkl_conv2d_backward_weight_ref(g[1], c->bias ? g[2] : NULL, dy, c->x, &c->sh, accumulate);
}

static void check_conv(vkl_conv2d_shape sh, int with_bias) {
  cr_assert(vkl_conv2d_shape_finish(&sh) == 0);
  conv_ctx c = {sh, rand_array(conv_nx(&sh)), rand_array(conv_nw(&sh)),
                with_bias ? rand_array(sh.K) : NULL};
  op_check chk = {"conv2d",
                  conv_forward,
                  conv_backward,
                  &c,
                  conv_ny(&sh),
                  with_bias ? 3 : 2,
                  {{"x", c.x, conv_nx(&sh)}, {"w", c.w, conv_nw(&sh)}, {"bias", c.bias, sh.K}}};
  check_backward(&chk);
  free(c.x);
  free(c.w);
  free(c.bias);
}

Test(conv2d, backward_fd) {
  rng_seed(7);
  /* N, C, H, W, K, R, S, stride_h, stride_w, pad_h, pad_w */
  check_conv((vkl_conv2d_shape){1, 3, 5, 4, 5, 3, 3, 1, 1, 1, 1, 0, 0}, 1);
  check_conv((vkl_conv2d_shape){2, 3, 7, 5, 3, 3, 3, 2, 2, 1, 1, 0, 0}, 1);
  check_conv((vkl_conv2d_shape){2, 5, 5, 5, 3, 1, 1, 2, 2, 0, 0, 0, 0}, 1);
  check_conv((vkl_conv2d_shape){1, 3, 9, 9, 2, 7, 7, 2, 2, 3, 3, 0, 0}, 1);
  check_conv((vkl_conv2d_shape){2, 1, 6, 5, 1, 3, 1, 2, 1, 1, 0, 0, 0}, 0);
  check_conv((vkl_conv2d_shape){1, 2, 3, 3, 3, 3, 3, 1, 1, 2, 2, 0, 0}, 1);
}

/* ---- batchnorm ---- */

static size_t bn_n(const vkl_batchnorm_shape *s) {
  return (size_t)s->N * s->C * s->H * s->W;
}

Test(batchnorm, shape_check) {
  vkl_batchnorm_shape one = {.N = 1, .C = 4, .H = 1, .W = 1};
  cr_assert(vkl_batchnorm_shape_check(&one, 1) == -1, "one value per channel in training");
  cr_assert(vkl_batchnorm_shape_check(&one, 0) == 0, "evaluation needs one value");
  vkl_batchnorm_shape image = {.N = 1, .C = 4, .H = 1, .W = 2};
  cr_assert(vkl_batchnorm_shape_check(&image, 1) == 0);
  image.C = 0;
  cr_assert(vkl_batchnorm_shape_check(&image, 0) == -1);
}

/* Per channel, the unscaled output has mean 0 and biased variance var / (var + eps);
 * gamma and beta then scale and shift it element by element. */
Test(batchnorm, forward_train_normalizes) {
  rng_seed(8);
  vkl_batchnorm_shape sh = {.N = 2, .C = 3, .H = 3, .W = 5};
  const double eps = 1e-5;
  double *x = rand_array(bn_n(&sh)), *y = new_array(bn_n(&sh)), *ya = new_array(bn_n(&sh));
  for (size_t i = 0; i < bn_n(&sh); i++)
    x[i] = x[i] * (double)(1 + (i / 15) % 3) + 10.0 * (double)((i / 15) % 3);
  double mean[3], invstd[3], gamma[3] = {0.5, -2.0, 1.5}, beta[3] = {1.0, 0.0, -3.0};
  vkl_batchnorm_forward_train_ref(y, mean, invstd, NULL, NULL, x, NULL, NULL, &sh, eps, 0.1);
  for (uint32_t c = 0; c < 3; c++) {
    double xm = 0.0, xv = 0.0, ym = 0.0, yv = 0.0;
    for (uint32_t n = 0; n < 2; n++)
      for (uint32_t i = 0; i < 15; i++) {
        xm += x[(n * 3 + c) * 15 + i] / 30.0;
        ym += y[(n * 3 + c) * 15 + i] / 30.0;
      }
    for (uint32_t n = 0; n < 2; n++)
      for (uint32_t i = 0; i < 15; i++) {
        xv += pow(x[(n * 3 + c) * 15 + i] - xm, 2) / 30.0;
        yv += pow(y[(n * 3 + c) * 15 + i] - ym, 2) / 30.0;
      }
    assert_near(mean[c], xm, 1e-13, "saved mean");
    assert_near(invstd[c], 1.0 / sqrt(xv + eps), 1e-12, "saved invstd");
    assert_near(ym, 0.0, 1e-14, "output mean");
    assert_near(yv, xv / (xv + eps), 1e-13, "output variance");
  }
  vkl_batchnorm_forward_train_ref(ya, mean, invstd, NULL, NULL, x, gamma, beta, &sh, eps, 0.1);
  for (size_t i = 0; i < bn_n(&sh); i++)
    assert_near(ya[i], gamma[(i / 15) % 3] * y[i] + beta[(i / 15) % 3], 1e-13, "affine");
  free(x);
  free(y);
  free(ya);
}

/* x = 1, 2, 3, 4 in one channel: mean 2.5, biased variance 1.25, unbiased 5/3. */
Test(batchnorm, forward_train_running_stats_2d) {
  vkl_batchnorm_shape sh = {.N = 4, .C = 1, .H = 1, .W = 1};
  const double x[4] = {1, 2, 3, 4}, gamma = 2.0, beta = 0.5, eps = 1e-5;
  double y[4], mean, invstd, rm = 0.5, rv = 2.0;
  vkl_batchnorm_forward_train_ref(y, &mean, &invstd, &rm, &rv, x, &gamma, &beta, &sh, eps, 0.1);
  assert_near(mean, 2.5, 0.0, "mean");
  assert_near(invstd, 1.0 / sqrt(1.25 + eps), 1e-15, "invstd");
  assert_near(rm, 0.9 * 0.5 + 0.1 * 2.5, 1e-15, "running mean");
  assert_near(rv, 0.9 * 2.0 + 0.1 * 5.0 / 3.0, 1e-15, "running var (unbiased)");
  for (int i = 0; i < 4; i++)
    assert_near(y[i], 2.0 * (x[i] - 2.5) / sqrt(1.25 + eps) + 0.5, 1e-14, "y");
}

/* Around 1e9 the naive E[x^2] - E[x]^2 loses everything (x^2 ~ 1e18 has ulp 128); the
 * two-pass variance stays exact. */
Test(batchnorm, forward_train_large_mean_is_stable) {
  vkl_batchnorm_shape sh = {.N = 4, .C = 1, .H = 1, .W = 1};
  const double x[4] = {1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4};
  double y[4], mean, invstd;
  vkl_batchnorm_forward_train_ref(y, &mean, &invstd, NULL, NULL, x, NULL, NULL, &sh, 0.0, 0.1);
  assert_near(invstd, 1.0 / sqrt(1.25), 1e-15, "invstd");
  assert_near(y[0], -1.5 / sqrt(1.25), 1e-15, "y[0]");
}

Test(batchnorm, forward_eval) {
  vkl_batchnorm_shape sh = {.N = 2, .C = 2, .H = 1, .W = 1};
  const double x[4] = {1, 2, 3, 4}; /* x[n,c] */
  const double rm[2] = {1, -1}, rv[2] = {3, 0.25}, gamma[2] = {2, -1}, beta[2] = {0.5, 0};
  const double eps = 1e-3;
  double y[4];
  vkl_batchnorm_forward_eval_ref(y, x, rm, rv, gamma, beta, &sh, eps);
  assert_near(y[0], 0.5, 1e-14, "y[0,0]");
  assert_near(y[1], -3.0 / sqrt(0.25 + eps), 1e-14, "y[0,1]");
  assert_near(y[2], 4.0 / sqrt(3.0 + eps) + 0.5, 1e-14, "y[1,0]");
  assert_near(y[3], -5.0 / sqrt(0.25 + eps), 1e-14, "y[1,1]");
}

typedef struct bn_ctx {
  vkl_batchnorm_shape sh;
  double *x, *gamma, *beta;
  double *mean, *invstd; /* scratch the forward fills for the backward */
} bn_ctx;

static void bn_forward(const void *ctx, double *y) {
  const bn_ctx *c = ctx;
  vkl_batchnorm_forward_train_ref(y, c->mean, c->invstd, NULL, NULL, c->x, c->gamma, c->beta,
                                  &c->sh, 1e-5, 0.1);
}

static void bn_backward(const void *ctx, const double *dy, double *const *g, int accumulate) {
  const bn_ctx *c = ctx;
  double *y = new_array(bn_n(&c->sh));
  bn_forward(c, y);
  vkl_batchnorm_backward_ref(g[0], c->gamma ? g[1] : NULL, c->beta ? g[2] : NULL, dy, c->x, c->mean,
                             c->invstd, c->gamma, &c->sh, accumulate);
  free(y);
}

static void check_bn(vkl_batchnorm_shape sh, int affine) {
  cr_assert(vkl_batchnorm_shape_check(&sh, 1) == 0);
  bn_ctx c = {sh,
              rand_array(bn_n(&sh)),
              affine ? rand_array(sh.C) : NULL,
              affine ? rand_array(sh.C) : NULL,
              new_array(sh.C),
              new_array(sh.C)};
  op_check chk = {"batchnorm",
                  bn_forward,
                  bn_backward,
                  &c,
                  bn_n(&sh),
                  affine ? 3 : 1,
                  {{"x", c.x, bn_n(&sh)}, {"gamma", c.gamma, sh.C}, {"beta", c.beta, sh.C}}};
  check_backward(&chk);
  free(c.x);
  free(c.gamma);
  free(c.beta);
  free(c.mean);
  free(c.invstd);
}

Test(batchnorm, backward_fd) {
  rng_seed(9);
  check_bn((vkl_batchnorm_shape){2, 3, 2, 3}, 1);
  check_bn((vkl_batchnorm_shape){1, 3, 3, 3}, 1);
  check_bn((vkl_batchnorm_shape){5, 3, 1, 1}, 1);
  check_bn((vkl_batchnorm_shape){2, 1, 1, 1}, 0);
  check_bn((vkl_batchnorm_shape){2, 5, 1, 3}, 0);
}

/* ---- relu ---- */

Test(relu, forward_and_zero_gradient_at_kink) {
  const double x[4] = {-1.5, 0.0, 2.0, -0.0};
  double y[4], dx[4];
  const double dy[4] = {1, 2, 3, 4};
  vkl_relu_forward_ref(y, x, 4);
  assert_near(y[0], 0.0, 0.0, "relu(-1.5)");
  assert_near(y[1], 0.0, 0.0, "relu(0)");
  assert_near(y[2], 2.0, 0.0, "relu(2)");
  vkl_relu_backward_ref(dx, dy, y, 4, 0);
  assert_near(dx[0], 0.0, 0.0, "dx at -1.5");
  assert_near(dx[1], 0.0, 0.0, "dx at 0");
  assert_near(dx[2], 3.0, 0.0, "dx at 2");
  assert_near(dx[3], 0.0, 0.0, "dx at -0");
}

typedef struct relu_ctx {
  double *x;
  size_t n;
} relu_ctx;

static void relu_forward(const void *ctx, double *y) {
  const relu_ctx *c = ctx;
  vkl_relu_forward_ref(y, c->x, c->n);
}

static void relu_backward(const void *ctx, const double *dy, double *const *g, int accumulate) {
  const relu_ctx *c = ctx;
  double *y = new_array(c->n);
  relu_forward(c, y);
  vkl_relu_backward_ref(g[0], dy, y, c->n, accumulate);
  free(y);
}

Test(relu, backward_fd) {
  rng_seed(10);
  relu_ctx c = {away_from_zero_array(11), 11};
  op_check chk = {"relu", relu_forward, relu_backward, &c, 11, 1, {{"x", c.x, 11}}};
  check_backward(&chk);
  free(c.x);
}

/* ---- pooling ---- */

static size_t pool_nx(const vkl_pool2d_shape *s) {
  return (size_t)s->N * s->C * s->H * s->W;
}
static size_t pool_ny(const vkl_pool2d_shape *s) {
  return (size_t)s->N * s->C * s->P * s->Q;
}

Test(pool, shape_finish) {
  vkl_pool2d_shape sh = {.N = 1,
                         .C = 1,
                         .H = 7,
                         .W = 6,
                         .R = 3,
                         .S = 3,
                         .stride_h = 2,
                         .stride_w = 2,
                         .pad_h = 1,
                         .pad_w = 1};
  cr_assert(vkl_pool2d_shape_finish(&sh) == 0);
  cr_assert(sh.P == 4 && sh.Q == 3, "P %u Q %u, want 4 3", sh.P, sh.Q);
  sh.pad_w = 2;
  cr_assert(vkl_pool2d_shape_finish(&sh) == -1, "pad over half the window");
  sh.pad_w = 1;
  sh.stride_h = 0;
  cr_assert(vkl_pool2d_shape_finish(&sh) == -1, "stride 0");
}

static vkl_pool2d_shape pool_shape(uint32_t N, uint32_t C, uint32_t H, uint32_t W, uint32_t R,
                                   uint32_t stride, uint32_t pad) {
  vkl_pool2d_shape sh = {N, C, H, W, R, R, stride, stride, pad, pad, 0, 0};
  cr_assert(vkl_pool2d_shape_finish(&sh) == 0);
  return sh;
}

Test(pool, maxpool_forward_hand) {
  double x[16], y[4];
  for (int i = 0; i < 16; i++) x[i] = i;
  vkl_pool2d_shape sh = pool_shape(1, 1, 4, 4, 2, 2, 0);
  vkl_maxpool2d_forward_ref(y, x, &sh);
  const double want[4] = {5, 7, 13, 15};
  for (int i = 0; i < 4; i++) assert_near(y[i], want[i], 0.0, "2x2 max");
  /* All negative with padding: a zero pad would win if padding were not -inf. */
  for (int i = 0; i < 16; i++) x[i] = -(i + 1);
  sh = pool_shape(1, 1, 4, 4, 3, 2, 1);
  vkl_maxpool2d_forward_ref(y, x, &sh);
  const double want_pad[4] = {-1, -2, -5, -6};
  for (int i = 0; i < 4; i++) assert_near(y[i], want_pad[i], 0.0, "padded 3x3 max");
}

Test(pool, maxpool_ties_go_to_first_in_scan_order) {
  vkl_pool2d_shape sh = pool_shape(1, 2, 2, 2, 2, 2, 0);
  const double x[8] = {3, 3, 3, 3, 1, 3, 3, 2}, dy[2] = {1.5, -2.0};
  double dx[8];
  vkl_maxpool2d_backward_ref(dx, dy, x, &sh, 0);
  const double want[8] = {1.5, 0, 0, 0, 0, -2.0, 0, 0};
  for (int i = 0; i < 8; i++) assert_near(dx[i], want[i], 0.0, "tie gradient");
}

Test(pool, avgpool_forward_hand) {
  double x[16], y[9];
  for (int i = 0; i < 16; i++) x[i] = i;
  vkl_pool2d_shape sh = pool_shape(1, 1, 4, 4, 2, 2, 0);
  vkl_avgpool2d_forward_ref(y, x, &sh);
  const double want[4] = {2.5, 4.5, 10.5, 12.5};
  for (int i = 0; i < 4; i++) assert_near(y[i], want[i], 1e-15, "2x2 average");
  /* Ones with padding 1: the divisor stays 9, so borders see the zero padding. */
  for (int i = 0; i < 9; i++) x[i] = 1.0;
  sh = pool_shape(1, 1, 3, 3, 3, 1, 1);
  vkl_avgpool2d_forward_ref(y, x, &sh);
  const double want_pad[9] = {4, 6, 4, 6, 9, 6, 4, 6, 4};
  for (int i = 0; i < 9; i++)
    assert_near(y[i], want_pad[i] / 9.0, 1e-15, "count_include_pad average");
}

/* Window 1 x 3, stride (1,2), pad (0,1): unequal along the two axes, so a swapped h/w
 * field shows. Windows cover columns -1..1, 1..3, 3..5 of each row. */
Test(pool, forward_asymmetric_hand) {
  vkl_pool2d_shape sh = {.N = 1,
                         .C = 1,
                         .H = 2,
                         .W = 5,
                         .R = 1,
                         .S = 3,
                         .stride_h = 1,
                         .stride_w = 2,
                         .pad_h = 0,
                         .pad_w = 1};
  cr_assert(vkl_pool2d_shape_finish(&sh) == 0);
  cr_assert(sh.P == 2 && sh.Q == 3, "P %u Q %u, want 2 3", sh.P, sh.Q);
  const double x[10] = {1, 5, 2, 4, 3, -1, -5, -2, -4, -3};
  const double want_max[6] = {5, 5, 4, -1, -2, -3};
  const double want_avg[6] = {6, 11, 7, -6, -11, -7}; /* times 3 */
  double y[6];
  vkl_maxpool2d_forward_ref(y, x, &sh);
  for (int i = 0; i < 6; i++) assert_near(y[i], want_max[i], 0.0, "asymmetric max");
  vkl_avgpool2d_forward_ref(y, x, &sh);
  for (int i = 0; i < 6; i++) assert_near(y[i], want_avg[i] / 3.0, 1e-15, "asymmetric average");
}

Test(pool, global_avgpool_forward_hand) {
  vkl_pool2d_shape sh = {.N = 1, .C = 2, .H = 2, .W = 3};
  double x[12], y[2];
  for (int i = 0; i < 12; i++) x[i] = i;
  vkl_global_avgpool_forward_ref(y, x, &sh);
  assert_near(y[0], 2.5, 1e-15, "channel 0");
  assert_near(y[1], 8.5, 1e-15, "channel 1");
}

typedef struct pool_ctx {
  vkl_pool2d_shape sh;
  double *x;
} pool_ctx;

static void maxpool_forward(const void *ctx, double *y) {
  const pool_ctx *c = ctx;
  vkl_maxpool2d_forward_ref(y, c->x, &c->sh);
}

static void maxpool_backward(const void *ctx, const double *dy, double *const *g, int accumulate) {
  const pool_ctx *c = ctx;
  vkl_maxpool2d_backward_ref(g[0], dy, c->x, &c->sh, accumulate);
}

static void avgpool_forward(const void *ctx, double *y) {
  const pool_ctx *c = ctx;
  vkl_avgpool2d_forward_ref(y, c->x, &c->sh);
}

static void avgpool_backward(const void *ctx, const double *dy, double *const *g, int accumulate) {
  const pool_ctx *c = ctx;
  vkl_avgpool2d_backward_ref(g[0], dy, &c->sh, accumulate);
}

static void global_forward(const void *ctx, double *y) {
  const pool_ctx *c = ctx;
  vkl_global_avgpool_forward_ref(y, c->x, &c->sh);
}

static void global_backward(const void *ctx, const double *dy, double *const *g, int accumulate) {
  const pool_ctx *c = ctx;
  vkl_global_avgpool_backward_ref(g[0], dy, &c->sh, accumulate);
}

static void check_pools(vkl_pool2d_shape sh) {
  pool_ctx c = {sh, distinct_array(pool_nx(&sh))};
  op_check max = {"maxpool2d", maxpool_forward,           maxpool_backward, &c, pool_ny(&sh),
                  1,           {{"x", c.x, pool_nx(&sh)}}};
  check_backward(&max);
  op_check avg = {"avgpool2d", avgpool_forward,           avgpool_backward, &c, pool_ny(&sh),
                  1,           {{"x", c.x, pool_nx(&sh)}}};
  check_backward(&avg);
  op_check global = {
      "global_avgpool",          global_forward, global_backward, &c, (size_t)sh.N * sh.C, 1,
      {{"x", c.x, pool_nx(&sh)}}};
  check_backward(&global);
  free(c.x);
}

Test(pool, backward_fd) {
  rng_seed(11);
  /* N, C, H, W, window, stride, pad */
  check_pools(pool_shape(1, 3, 7, 5, 3, 2, 1));
  check_pools(pool_shape(2, 1, 4, 6, 2, 2, 0));
  check_pools(pool_shape(2, 3, 5, 5, 3, 1, 1));
  check_pools(pool_shape(1, 2, 5, 3, 1, 2, 0));
  check_pools(pool_shape(1, 1, 1, 1, 1, 1, 0));
}

/* ---- softmax cross-entropy ---- */

Test(softmax_xent, uniform_logits_give_log_k) {
  vkl_softmax_xent_shape sh = {.N = 3, .K = 10};
  double z[30];
  for (int i = 0; i < 30; i++) z[i] = 0.7 * (i / 10); /* equal within each row */
  const uint32_t labels[3] = {0, 4, 9};
  double loss;
  vkl_softmax_xent_forward_ref(&loss, NULL, NULL, z, labels, &sh, VKL_REDUCTION_MEAN, 0.0);
  assert_near(loss, log(10.0), 1e-14, "mean");
  vkl_softmax_xent_forward_ref(&loss, NULL, NULL, z, labels, &sh, VKL_REDUCTION_SUM, 0.2);
  assert_near(loss, 3.0 * log(10.0), 1e-13, "sum, smoothed");
}

/* exp(z) = 1, 2, 5, so p = 1/8, 2/8, 5/8. Adding 1000 to every logit changes nothing. */
Test(softmax_xent, forward_hand_smoothing_and_large_logits) {
  vkl_softmax_xent_shape sh = {.N = 1, .K = 3};
  const double z[3] = {0.0, log(2.0), log(5.0)};
  const double zbig[3] = {1000.0, 1000.0 + log(2.0), 1000.0 + log(5.0)};
  const uint32_t label = 2;
  const double eps = 0.3;
  const double want =
      (1 - eps) * -log(5.0 / 8) - eps / 3 * (log(1.0 / 8) + log(2.0 / 8) + log(5.0 / 8));
  double loss;
  vkl_softmax_xent_forward_ref(&loss, NULL, NULL, z, &label, &sh, VKL_REDUCTION_MEAN, 0.0);
  assert_near(loss, -log(5.0 / 8), 1e-15, "plain");
  vkl_softmax_xent_forward_ref(&loss, NULL, NULL, z, &label, &sh, VKL_REDUCTION_MEAN, eps);
  assert_near(loss, want, 1e-15, "smoothed");
  vkl_softmax_xent_forward_ref(&loss, NULL, NULL, zbig, &label, &sh, VKL_REDUCTION_MEAN, eps);
  assert_near(loss, want, 1e-12, "smoothed, shifted by 1000");
}

Test(softmax_xent, topk_counts_and_ties) {
  vkl_softmax_xent_shape sh = {.N = 5, .K = 7};
  double z[35];
  for (int i = 0; i < 21; i++) z[i] = i % 7; /* rows 0-2: 0, 1, ..., 6 */
  const double tie[7] = {5, 5, 0, 0, 0, 0, 0};
  for (int i = 0; i < 7; i++) {
    z[21 + i] = tie[i]; /* row 3: classes 0 and 1 tie */
    z[28 + i] = 1.0;    /* row 4: all tie */
  }
  /* ranks: 0, 3, 6, 1 (class 0 wins the tie), 0 (lowest index wins) */
  const uint32_t labels[5] = {6, 3, 0, 1, 0};
  double loss;
  uint32_t top1 = 99, top5 = 99;
  vkl_softmax_xent_forward_ref(&loss, &top1, &top5, z, labels, &sh, VKL_REDUCTION_MEAN, 0.0);
  cr_assert(top1 == 2 && top5 == 4, "top1 %u top5 %u, want 2 4", top1, top5);
  /* K = 3 < 5: top-5 means top-3, so even the worst-ranked label counts. */
  vkl_softmax_xent_shape small = {.N = 1, .K = 3};
  const double zs[3] = {3, 2, 1};
  const uint32_t last = 2;
  vkl_softmax_xent_forward_ref(&loss, &top1, &top5, zs, &last, &small, VKL_REDUCTION_SUM, 0.0);
  cr_assert(top1 == 0 && top5 == 1, "K=3: top1 %u top5 %u, want 0 1", top1, top5);
}

typedef struct xent_ctx {
  vkl_softmax_xent_shape sh;
  double *z;
  const uint32_t *labels;
  vkl_reduction reduction;
  double smoothing;
} xent_ctx;

static void xent_forward(const void *ctx, double *y) {
  const xent_ctx *c = ctx;
  vkl_softmax_xent_forward_ref(y, NULL, NULL, c->z, c->labels, &c->sh, c->reduction, c->smoothing);
}

/* The upstream gradient of the scalar loss is the backward's scale. */
static void xent_backward(const void *ctx, const double *dy, double *const *g, int accumulate) {
  const xent_ctx *c = ctx;
  vkl_softmax_xent_backward_ref(g[0], c->z, c->labels, &c->sh, c->reduction, c->smoothing, dy[0],
                                accumulate);
}

Test(softmax_xent, backward_fd) {
  rng_seed(12);
  const uint32_t labels[3] = {6, 0, 3};
  for (uint32_t N = 1; N <= 3; N += 2)
    for (int red = 0; red < 2; red++)
      for (int smooth = 0; smooth < 2; smooth++) {
        vkl_softmax_xent_shape sh = {.N = N, .K = 7};
        xent_ctx c = {sh, rand_array(N * 7), labels, red ? VKL_REDUCTION_SUM : VKL_REDUCTION_MEAN,
                      smooth ? 0.1 : 0.0};
        for (uint32_t i = 0; i < N * 7; i++) c.z[i] *= 3.0;
        op_check chk = {"softmax_xent",          xent_forward, xent_backward, &c, 1, 1,
                        {{"logits", c.z, N * 7}}};
        check_backward(&chk);
        free(c.z);
      }
}

/* ---- segmented sum of squares ---- */

Test(sumsq, segments_hand) {
  const double x[6] = {1, -2, 3, -4, 5, -6};
  const vkl_sumsq_segment seg[4] = {{2, 3}, {0, 2}, {5, 0}, {5, 1}};
  double out[4] = {-1, -1, -1, -1};
  vkl_sumsq_forward_ref(out, x, seg, 4);
  assert_near(out[0], 9 + 16 + 25, 0.0, "x[2..4]");
  assert_near(out[1], 1 + 4, 0.0, "x[0..1]");
  assert_near(out[2], 0.0, 0.0, "empty");
  assert_near(out[3], 36.0, 0.0, "x[5]");
}
