/* The fused optimizer step on the device against the CPU reference:
 * 50-step trajectories of every optimizer over tensors of mixed shapes
 * (ndim 1, 2 and 4; one spanning several chunks), per-step statistics,
 * and the edge cases (zero norms, lr 0, NaN gradients, skipped steps). */
#include <math.h>

#include "optim/optim_step.h"
#include "test_util.h"
#include "vk/vk_tuning.h"

/* Weights start near 0.5 and move by float updates: each step may round by
 * 2^-24 * 0.5 = 3e-8, so after 50 steps a weight that cancelled towards 0
 * keeps up to 1.5e-6 of absolute error that no relative bound can absorb. */
#define W_ATOL 1.5e-6

typedef struct layout {
  uint32_t count;
  vkl_param_desc p[8];
  uint64_t floats; /* arena size, with gaps between tensors */
} layout;

static layout mixed_layout(void) {
  /* tails of 0..3 elements past whole vec4s; 140001 spans three norm chunks */
  static const uint64_t sizes[] = {218, 8, 9, 1151, 140001, 16, 5000, 1};
  static const uint32_t ndims[] = {4, 1, 1, 4, 2, 1, 4, 1};
  layout l = {.count = 8};
  uint64_t off = 4; /* gaps show that offsets are honoured */
  for (uint32_t i = 0; i < l.count; i++) {
    l.p[i] = (vkl_param_desc){off, sizes[i], ndims[i]};
    off += (sizes[i] + 5 + 3) / 4 * 4;
  }
  l.floats = off;
  return l;
}

typedef struct trajectory {
  test_dev d;
  layout l;
  vkl_buf w, g;
  vkl_optimizer *opt;
  vkl_cmd *step;
  double *hw, *hm, *hv, *hg; /* reference state over the whole arena */
} trajectory;

static void upload_doubles(trajectory *tr, vkl_buf b, const double *x) {
  float *f = malloc(tr->l.floats * sizeof *f);
  cr_assert(f);
  for (uint64_t i = 0; i < tr->l.floats; i++) f[i] = (float)x[i];
  TEST_OK(tr->d.ctx, vkl_upload(tr->d.ctx, b, f, tr->l.floats * sizeof *f));
  free(f);
}

static void trajectory_init(trajectory *tr, const vkl_optim_config *cfg, uint64_t seed) {
  tr->d = test_dev_create(8u << 20);
  tr->l = mixed_layout();
  uint64_t n = tr->l.floats;
  TEST_OK(tr->d.ctx, vkl_arena_alloc(tr->d.arena, n * 4, &tr->w));
  TEST_OK(tr->d.ctx, vkl_arena_alloc(tr->d.arena, n * 4, &tr->g));
  test_rng rng = {seed};
  tr->hw = test_random(&rng, n, 0.5);
  tr->hm = calloc(n, sizeof(double));
  tr->hv = calloc(n, sizeof(double));
  tr->hg = calloc(n, sizeof(double));
  cr_assert(tr->hm && tr->hv && tr->hg);
  upload_doubles(tr, tr->w, tr->hw);
  TEST_OK(tr->d.ctx,
          vkl_optimizer_create(tr->d.ctx, cfg, tr->l.p, tr->l.count, tr->w, tr->g, &tr->opt));
  TEST_OK(tr->d.ctx, vkl_cmd_create(tr->d.ctx, &tr->step));
  TEST_OK(tr->d.ctx, vkl_cmd_begin(tr->step));
  TEST_OK(tr->d.ctx, vkl_optimizer_record(tr->opt, tr->step));
  TEST_OK(tr->d.ctx, vkl_cmd_end(tr->step));
}

static void trajectory_free(trajectory *tr) {
  vkl_cmd_destroy(tr->step);
  vkl_optimizer_destroy(tr->opt);
  free(tr->hw), free(tr->hm), free(tr->hv), free(tr->hg);
  test_dev_destroy(&tr->d);
}

/* One step on both sides with gradient hg; returns the reference stats. */
static void both_step(trajectory *tr, const vkl_optim_config *cfg, uint64_t t, double lr,
                      double phi, vkl_optim_stats *ref_stats, vkl_optim_stats *dev_stats,
                      vkl_optim_step_info *info) {
  upload_doubles(tr, tr->g, tr->hg);
  TEST_OK(tr->d.ctx, vkl_optimizer_prepare(tr->opt, t, lr, phi, 0));
  TEST_OK(tr->d.ctx, vkl_run(tr->d.ctx, tr->step)); /* the same recording every step */
  TEST_OK(tr->d.ctx, vkl_optimizer_read(tr->opt, t, info, dev_stats));
  vkl_optim_tensor_ref refs[8];
  for (uint32_t i = 0; i < tr->l.count; i++) {
    uint64_t o = tr->l.p[i].offset;
    refs[i] = (vkl_optim_tensor_ref){tr->hw + o, tr->hg + o,       tr->hm + o,
                                     tr->hv + o, tr->l.p[i].count, (int)tr->l.p[i].ndim};
  }
  vkl_optim_step_ref(cfg, lr, phi, t, refs, tr->l.count, ref_stats);
}

static double rel(double a, double b) {
  return fabs(a - b) / fmax(fabs(b), 1e-30);
}

static void check_trajectory(const char *what, vkl_optim_config cfg, const vkl_sched_config *s,
                             uint64_t seed) {
  /* Per-step statistics: relative 1e-5, except the Adam family's ||u||
   * and trust ratio, 1e-4: u = mhat / sqrt(vhat) divides two moving
   * averages of zero-mean gradients, and their cancellation magnifies the
   * float rounding of m and v (seen: 1.2e-5 on a one-element tensor after
   * 41 steps). The weights themselves are held to 1e-5 below. */
  double stol = cfg.kind == VKL_OPT_LAMB || cfg.kind == VKL_OPT_ADAMW ? 1e-4 : 1e-5;
  trajectory tr;
  trajectory_init(&tr, &cfg, seed);
  test_rng rng = {seed ^ 0xabcdef};
  vkl_optim_stats ref[8], dev[8];
  vkl_optim_step_info info;
  for (uint64_t t = 0; t < 50; t++) {
    for (uint32_t i = 0; i < tr.l.count; i++)
      for (uint64_t k = 0; k < tr.l.p[i].count; k++)
        tr.hg[tr.l.p[i].offset + k] = (double)(float)(0.05 * test_rng_float(&rng));
    double lr = vkl_sched_lr(s, cfg.lr, t), phi = vkl_optim_phi(&cfg, s->steps_per_epoch, t);
    both_step(&tr, &cfg, t, lr, phi, ref, dev, &info);
    cr_assert(!info.nonfinite_norm && !info.nonfinite_update);
    cr_assert_eq(info.t, t);
    for (uint32_t i = 0; i < tr.l.count; i++) {
      cr_assert(fabs(dev[i].wnorm - ref[i].wnorm) <= 1e-5 * ref[i].wnorm + W_ATOL,
                "%s t=%llu tensor %u: wnorm %g vs %g", what, (unsigned long long)t, i, dev[i].wnorm,
                ref[i].wnorm);
      cr_assert(rel(dev[i].dnorm, ref[i].dnorm) < stol, "%s t=%llu tensor %u: dnorm %g vs %g", what,
                (unsigned long long)t, i, dev[i].dnorm, ref[i].dnorm);
      cr_assert(rel(dev[i].trust, ref[i].trust) < stol, "%s t=%llu tensor %u: trust %g vs %g", what,
                (unsigned long long)t, i, dev[i].trust, ref[i].trust);
      cr_assert(rel(dev[i].eff_lr, ref[i].eff_lr) < stol || ref[i].eff_lr == 0.0);
      cr_assert(fabs(dev[i].lnr - ref[i].lnr) <= stol * ref[i].lnr + W_ATOL / ref[i].dnorm ||
                ref[i].lnr == 0.0);
    }
  }
  float *w = malloc(tr.l.floats * sizeof *w);
  cr_assert(w);
  TEST_OK(tr.d.ctx, vkl_download(tr.d.ctx, w, tr.w, tr.l.floats * 4));
  for (uint32_t i = 0; i < tr.l.count; i++) {
    double num = 0, den = 0;
    for (uint64_t k = 0; k < tr.l.p[i].count; k++) {
      uint64_t j = tr.l.p[i].offset + k;
      num += (w[j] - tr.hw[j]) * (w[j] - tr.hw[j]);
      den += tr.hw[j] * tr.hw[j];
    }
    cr_assert(sqrt(num) <= 1e-5 * sqrt(den) + W_ATOL,
              "%s: tensor %u after 50 steps: relative error %g", what, i, sqrt(num / den));
  }
  /* the gaps between tensors are untouched */
  for (uint32_t i = 0; i + 1 < tr.l.count; i++) {
    uint64_t gap = tr.l.p[i].offset + tr.l.p[i].count;
    cr_assert_eq(w[gap], (float)tr.hw[gap], "%s: gap after tensor %u was written", what, i);
  }
  free(w);
  trajectory_free(&tr);
}

static const vkl_sched_config constant = {
    .kind = VKL_SCHED_CONSTANT, .steps_per_epoch = 10, .total_steps = 50};
static const vkl_sched_config warm = {.kind = VKL_SCHED_LARS_WARM,
                                      .warmup_epochs = 1,
                                      .batch = 512,
                                      .steps_per_epoch = 10,
                                      .total_steps = 50};

Test(optim_device, sgd_trajectories) {
  vkl_optim_config o = vkl_optim_defaults(VKL_OPT_SGD);
  check_trajectory("sgd", o, &constant, 1);
  o.nesterov = 1;
  check_trajectory("sgd nesterov", o, &warm, 2);
}

Test(optim_device, lars_trajectories) {
  vkl_optim_config o = vkl_optim_defaults(VKL_OPT_LARS);
  check_trajectory("lars", o, &warm, 3);
  o.denominator = VKL_LARS_DENOM_SUM_OF_NORMS;
  o.larc_clip = 1;
  o.nesterov = 1;
  o.excluded_lr_scale = 0.024;
  check_trajectory("lars you+larc+nesterov, excluded at 0.024 lr", o, &constant, 4);
}

Test(optim_device, tvlars_trajectories) {
  vkl_optim_config o = vkl_optim_defaults(VKL_OPT_TVLARS);
  o.lr = 5.0;
  o.tv_lambda = 0.05;
  o.tv_delay_steps = 10;
  o.tv_gamma_min = 0.05;
  o.tv_alpha = 0.5;
  check_trajectory("tvlars paper", o, &constant, 5);
  vkl_optim_config off = vkl_optim_defaults(VKL_OPT_TVLARS_OFFICIAL);
  off.lr = 5.0;
  off.norm_clamp = 2.0; /* small enough that the clamp acts on these tensors */
  check_trajectory("tvlars official", off, &constant, 6);
}

Test(optim_device, lamb_and_adamw_trajectories) {
  vkl_optim_config o = vkl_optim_defaults(VKL_OPT_LAMB);
  o.lamb_clamp_w = 5.0;
  check_trajectory("lamb", o, &warm, 7);
  o.bias_correction = 1;
  o.decoupled_decay = 0;
  o.trust_clip = 2.0;
  o.exclude_1d = 1;
  o.excluded_lr_scale = 0.3;
  check_trajectory("lamb bias-corrected, coupled, clipped, excluded at 0.3 lr", o, &constant, 8);
  check_trajectory("adamw", vkl_optim_defaults(VKL_OPT_ADAMW), &constant, 9);
}

/* Every way optim_norms finishes a tensor of several chunks (test_reduce_path_at:
 * the memory model's acquire/release or a second dispatch, subgroup arithmetic or
 * a shared-memory tree): the same trajectories as the reference, for the three
 * families whose trust ratio needs the norms. mixed_layout's 140001-element
 * tensor spans three norm chunks. */
Test(optim_device, every_reduction_path_trajectories) {
  for (int i = 0; i < 4; i++) {
    test_reduce_path path = test_reduce_path_at(i);
    char *saved = test_env_swap("VKLARS_TUNE", path.tune);
    test_dev probe = test_dev_create(1 << 20);
    const vkl_tuning *t = vkl_ctx_tuning(probe.ctx);
    cr_assert(t->memory_model == path.memory_model && t->subgroup_reduce == path.subgroup_reduce,
              "VKLARS_TUNE=%s not in effect", path.tune);
    test_dev_destroy(&probe);
    char what[96];
    vkl_optim_config o = vkl_optim_defaults(VKL_OPT_LARS);
    snprintf(what, sizeof what, "lars, %s", path.tune);
    check_trajectory(what, o, &warm, 40 + i);
    o = vkl_optim_defaults(VKL_OPT_TVLARS);
    o.lr = 5.0;
    o.tv_lambda = 0.05;
    snprintf(what, sizeof what, "tvlars, %s", path.tune);
    check_trajectory(what, o, &constant, 50 + i);
    o = vkl_optim_defaults(VKL_OPT_LAMB);
    snprintf(what, sizeof what, "lamb, %s", path.tune);
    check_trajectory(what, o, &constant, 60 + i);
    test_env_restore("VKLARS_TUNE", saved);
  }
}

/* The GPU layout (runs strided across invocations) on this device too: the
 * default there is contiguous runs, so the strided one would go untested. */
Test(optim_device, strided_layout_trajectories) {
  setenv("VKLARS_OPTIM_LAYOUT", "strided", 1);
  vkl_optim_config o = vkl_optim_defaults(VKL_OPT_TVLARS);
  o.lr = 5.0;
  o.tv_lambda = 0.05;
  check_trajectory("tvlars, strided", o, &constant, 13);
  vkl_optim_config l = vkl_optim_defaults(VKL_OPT_LAMB);
  l.bias_correction = 1;
  check_trajectory("lamb, strided", l, &warm, 14);
  check_trajectory("sgd nesterov, strided", vkl_optim_defaults(VKL_OPT_SGD), &constant, 15);
}

Test(optim_device, edge_cases_and_nonfinite_flag) {
  vkl_optim_config cfg = vkl_optim_defaults(VKL_OPT_LARS);
  cfg.weight_decay = 0;
  trajectory tr;
  trajectory_init(&tr, &cfg, 11);
  vkl_optim_stats ref[8], dev[8];
  vkl_optim_step_info info;
  /* tensor 0 zero weights, tensor 3 zero gradient: trust ratio 1; lr 0 */
  for (uint64_t k = 0; k < tr.l.p[0].count; k++) tr.hw[tr.l.p[0].offset + k] = 0;
  upload_doubles(&tr, tr.w, tr.hw);
  test_rng rng = {5};
  for (uint64_t j = 0; j < tr.l.floats; j++) tr.hg[j] = (double)(float)test_rng_float(&rng);
  for (uint64_t k = 0; k < tr.l.p[3].count; k++) tr.hg[tr.l.p[3].offset + k] = 0;
  both_step(&tr, &cfg, 0, 0.0, 1.0, ref, dev, &info);
  cr_assert_eq(dev[0].trust, 1.0f);
  cr_assert_eq(dev[3].trust, 1.0f);
  cr_assert_eq(dev[1].trust, 1.0f, "ndim-1 tensors are not adapted");
  cr_assert_float_eq(dev[4].trust, ref[4].trust, 1e-5 * ref[4].trust);
  float *w = malloc(tr.l.floats * 4);
  TEST_OK(tr.d.ctx, vkl_download(tr.d.ctx, w, tr.w, tr.l.floats * 4));
  for (uint64_t j = 0; j < tr.l.floats; j++)
    cr_assert_eq(w[j], (float)tr.hw[j], "lr 0 changed weight %llu", (unsigned long long)j);
  /* a NaN gradient raises the flag; skipping leaves the weights alone */
  tr.hg[tr.l.p[4].offset + 17] = NAN;
  upload_doubles(&tr, tr.g, tr.hg);
  TEST_OK(tr.d.ctx, vkl_optimizer_prepare(tr.opt, 1, 0.5, 1.0, 1));
  TEST_OK(tr.d.ctx, vkl_run(tr.d.ctx, tr.step));
  TEST_OK(tr.d.ctx, vkl_optimizer_read(tr.opt, 1, &info, dev));
  cr_assert(info.nonfinite_norm, "NaN gradient not flagged");
  cr_assert(isnan(dev[4].dnorm));
  TEST_OK(tr.d.ctx, vkl_download(tr.d.ctx, w, tr.w, tr.l.floats * 4));
  for (uint64_t j = 0; j < tr.l.floats; j++)
    cr_assert_eq(w[j], (float)tr.hw[j], "a skipped step changed weight %llu",
                 (unsigned long long)j);
  /* without skipping, the update goes non-finite too and says so */
  TEST_OK(tr.d.ctx, vkl_optimizer_prepare(tr.opt, 2, 0.5, 1.0, 0));
  TEST_OK(tr.d.ctx, vkl_run(tr.d.ctx, tr.step));
  TEST_OK(tr.d.ctx, vkl_optimizer_read(tr.opt, 2, &info, dev));
  cr_assert(info.nonfinite_norm && info.nonfinite_update);
  /* the ring keeps the last RING steps only */
  cr_assert_eq(vkl_optimizer_read(tr.opt, 2 + VKL_OPTIM_RING, &info, NULL),
               VKL_ERR_INVALID_ARGUMENT);
  free(w);
  trajectory_free(&tr);
}

Test(optim_device, resumes_at_a_given_step) {
  vkl_optim_config cfg = vkl_optim_defaults(VKL_OPT_TVLARS);
  trajectory tr;
  trajectory_init(&tr, &cfg, 12);
  TEST_OK(tr.d.ctx, vkl_optimizer_set_step(tr.opt, 1001));
  vkl_param_desc odd = {2, 8, 1};
  vkl_optimizer *bad = NULL;
  cr_assert_eq(vkl_optimizer_create(tr.d.ctx, &cfg, &odd, 1, tr.w, tr.g, &bad),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(tr.d.ctx), "4-float boundaries"), "%s", vkl_ctx_errmsg(tr.d.ctx));
  vkl_optim_stats ref[8], dev[8];
  vkl_optim_step_info info;
  test_rng rng = {6};
  for (uint64_t j = 0; j < tr.l.floats; j++) tr.hg[j] = (double)(float)(0.1 * test_rng_float(&rng));
  both_step(&tr, &cfg, 1001, 1.0, vkl_optim_phi(&cfg, 1, 1001), ref, dev, &info);
  cr_assert_eq(info.t, 1001);
  cr_assert(rel(dev[0].trust, ref[0].trust) < 1e-5);
  trajectory_free(&tr);
}

/* The guard (batch norm's running statistics): a NaN or inf in the guarded
 * state makes the step non-finite and skipped, and a skipped step (for that
 * or for a NaN gradient) restores the state from its saved copy; an applied
 * step leaves it alone. 1001 guarded floats: vec4s and a tail. */
Test(optim_device, guarded_state_is_checked_and_rolled_back) {
  vkl_optim_config cfg = vkl_optim_defaults(VKL_OPT_SGD);
  trajectory tr;
  trajectory_init(&tr, &cfg, 13);
  enum { N = 1001 };
  vkl_buf live, saved;
  TEST_OK(tr.d.ctx, vkl_arena_alloc(tr.d.arena, N * 4, &live));
  TEST_OK(tr.d.ctx, vkl_arena_alloc(tr.d.arena, N * 4, &saved));
  TEST_OK(tr.d.ctx, vkl_optimizer_guard(tr.opt, live, saved));
  TEST_OK(tr.d.ctx, vkl_cmd_begin(tr.step)); /* re-record the step with the guard */
  TEST_OK(tr.d.ctx, vkl_optimizer_record(tr.opt, tr.step));
  TEST_OK(tr.d.ctx, vkl_cmd_end(tr.step));
  float s[N], l[N], got[N], *w0 = malloc(tr.l.floats * 4), *w1 = malloc(tr.l.floats * 4);
  cr_assert(w0 && w1);
  for (int i = 0; i < N; i++) s[i] = (float)i, l[i] = (float)(2 * i + 1);
  TEST_OK(tr.d.ctx, vkl_upload(tr.d.ctx, saved, s, sizeof s));
  test_rng rng = {7};
  for (uint64_t j = 0; j < tr.l.floats; j++) tr.hg[j] = (double)(float)(0.1 * test_rng_float(&rng));
  upload_doubles(&tr, tr.g, tr.hg);
  const float bad[3] = {NAN, INFINITY, -INFINITY};
  const int where[3] = {0, 500, N - 1}; /* first vec4, middle, the tail */
  vkl_optim_step_info info;
  for (uint64_t t = 0; t < 8; t++) {
    /* even steps: finite state, applied; odd steps: one bad value, skipped */
    int poison = t % 2 == 1;
    float lt[N];
    memcpy(lt, l, sizeof l);
    if (poison) lt[where[t / 2 % 3]] = bad[t / 2 % 3];
    TEST_OK(tr.d.ctx, vkl_upload(tr.d.ctx, live, lt, sizeof lt));
    TEST_OK(tr.d.ctx, vkl_download(tr.d.ctx, w0, tr.w, tr.l.floats * 4));
    TEST_OK(tr.d.ctx, vkl_optimizer_prepare(tr.opt, t, 0.1, 1.0, 1));
    TEST_OK(tr.d.ctx, vkl_run(tr.d.ctx, tr.step));
    TEST_OK(tr.d.ctx, vkl_optimizer_read(tr.opt, t, &info, NULL));
    TEST_OK(tr.d.ctx, vkl_download(tr.d.ctx, got, live, sizeof got));
    TEST_OK(tr.d.ctx, vkl_download(tr.d.ctx, w1, tr.w, tr.l.floats * 4));
    cr_assert_eq(info.nonfinite_buffers, poison, "step %llu", (unsigned long long)t);
    cr_assert(!info.nonfinite_norm);
    int moved = memcmp(w0, w1, tr.l.floats * 4) != 0;
    cr_assert_eq(moved, !poison, "step %llu: weights %s", (unsigned long long)t,
                 moved ? "moved" : "stayed");
    cr_assert(memcmp(got, poison ? s : lt, sizeof got) == 0, "step %llu: guarded state %s",
              (unsigned long long)t, poison ? "not restored" : "changed");
  }
  /* a NaN gradient (finite state) skips the step and restores the state too */
  tr.hg[tr.l.p[4].offset + 3] = NAN;
  upload_doubles(&tr, tr.g, tr.hg);
  TEST_OK(tr.d.ctx, vkl_upload(tr.d.ctx, live, l, sizeof l));
  TEST_OK(tr.d.ctx, vkl_optimizer_prepare(tr.opt, 8, 0.1, 1.0, 1));
  TEST_OK(tr.d.ctx, vkl_run(tr.d.ctx, tr.step));
  TEST_OK(tr.d.ctx, vkl_optimizer_read(tr.opt, 8, &info, NULL));
  TEST_OK(tr.d.ctx, vkl_download(tr.d.ctx, got, live, sizeof got));
  cr_assert(info.nonfinite_norm && !info.nonfinite_buffers);
  cr_assert(memcmp(got, s, sizeof got) == 0, "a skipped step kept the batch's state");
  free(w0);
  free(w1);
  trajectory_free(&tr);
}
