/* Optimizer host math: schedules, phi(t) against closed forms, the CPU
 * references' edge cases (PAPER.md), and settings validation. */
#include <math.h>

#include "optim/optim_ref.h"
#include "test_util.h"
#include "vklars/optim.h"

#define PI 3.14159265358979323846

Test(optim, phi_matches_closed_form) {
  const double params[][4] = {/* alpha, lambda, d_e, gamma_min */
                              {0.1, 1e-3, -1, 0},
                              {1.0, 1e-2, 50, 0.05},
                              {0.5, 5e-2, 0, 0.1},
                              {2.0, 1e-6, 1000, 0}};
  for (size_t k = 0; k < sizeof params / sizeof params[0]; k++) {
    vkl_optim_config o = vkl_optim_defaults(VKL_OPT_TVLARS);
    o.tv_alpha = params[k][0];
    o.tv_lambda = params[k][1];
    o.tv_delay_steps = params[k][2];
    o.tv_gamma_min = params[k][3];
    const uint64_t ts[] = {0, 1, 7, 100, 12345};
    for (size_t i = 0; i < 5; i++) {
      double t = (double)ts[i];
      double want = 1.0 / (params[k][0] + exp(params[k][1] * (t - params[k][2]))) + params[k][3];
      cr_assert_float_eq(vkl_optim_phi(&o, 10, ts[i]), want, 1e-15 * want + 1e-300,
                         "params %zu, t=%g", k, t);
    }
  }
  /* hand values: alpha 1, lambda ln(2)/10, d_e 10 -> phi(10) = 1/2, phi(20) = 1/3 */
  vkl_optim_config o = vkl_optim_defaults(VKL_OPT_TVLARS);
  o.tv_alpha = 1;
  o.tv_lambda = log(2.0) / 10;
  o.tv_delay_steps = 10;
  cr_assert_float_eq(vkl_optim_phi(&o, 1, 10), 0.5, 1e-15);
  cr_assert_float_eq(vkl_optim_phi(&o, 1, 20), 1.0 / 3.0, 1e-15);
  /* the delay in epochs: 2 epochs of 5 steps = 10 steps */
  o.tv_delay_steps = 0;
  o.tv_delay_epochs = 2;
  cr_assert_float_eq(vkl_optim_phi(&o, 5, 20), 1.0 / 3.0, 1e-15);
  /* other optimizers have no phi */
  vkl_optim_config lars = vkl_optim_defaults(VKL_OPT_LARS);
  cr_assert_eq(vkl_optim_phi(&lars, 10, 5), 1.0);
}

Test(optim, authors_preset_reproduces_their_formula) {
  vkl_optim_config o = vkl_optim_defaults(VKL_OPT_TVLARS_OFFICIAL);
  cr_assert_eq(o.tv_alpha, 0.1);
  cr_assert_eq(o.tv_delay_steps, -1);
  cr_assert_eq(o.tv_gamma_min, 0);
  cr_assert_eq(o.norm_clamp, 10);
  cr_assert_eq(o.eta, 1e-3);
  cr_assert_eq(o.momentum, 0.9);
  cr_assert_eq(o.weight_decay, 5e-4);
  cr_assert_eq(o.tv_lambda, 1e-3);
  for (uint64_t t = 0; t < 2000; t += 97)
    cr_assert_float_eq(vkl_optim_phi(&o, 3, t), 1.0 / (0.1 + exp(1e-3 * ((double)t + 1))), 1e-15);
  /* the clamp: ||w|| = 20 and ||d|| = 40 are read as 10 and 10 -> q = eta*phi */
  double w[1] = {20}, g[1] = {40 - 5e-4 * 20}, m[1] = {0};
  vkl_optim_tensor_ref t = {w, g, m, NULL, 1, 4};
  vkl_optim_stats st;
  double phi = vkl_optim_phi(&o, 1, 0);
  vkl_optim_step_ref(&o, 1.0, phi, 0, &t, 1, &st);
  cr_assert_float_eq(st.trust, 1e-3 * phi, 1e-15);
  cr_assert_float_eq(st.dnorm, 40, 1e-12);
}

Test(optim, schedules) {
  vkl_sched_config s = {.kind = VKL_SCHED_LARS_WARM,
                        .warmup_epochs = 2,
                        .batch = 1024,
                        .steps_per_epoch = 10,
                        .total_steps = 120};
  double base = 0.5 * 1024 / 256.0;
  cr_assert_float_eq(vkl_sched_lr(&s, 0.5, 0), 0, 1e-15);
  cr_assert_float_eq(vkl_sched_lr(&s, 0.5, 5), base * 5 / 20, 1e-15);
  cr_assert_float_eq(vkl_sched_lr(&s, 0.5, 20), base, 1e-15);
  double q = 0.5 * (1 + cos(PI * 50 / 100));
  cr_assert_float_eq(vkl_sched_lr(&s, 0.5, 70), base * q + 0.001 * base * (1 - q), 1e-14);
  cr_assert_float_eq(vkl_sched_lr(&s, 0.5, 120), 0.001 * base, 1e-15);
  s = (vkl_sched_config){
      .kind = VKL_SCHED_COSINE, .floor = 0.1, .steps_per_epoch = 1, .total_steps = 100};
  cr_assert_float_eq(vkl_sched_lr(&s, 2.0, 0), 2.0, 1e-15);
  cr_assert_float_eq(vkl_sched_lr(&s, 2.0, 50), 0.5 * 2.0 + 0.5 * 0.2, 1e-14);
  cr_assert_float_eq(vkl_sched_lr(&s, 2.0, 100), 0.2, 1e-15);
  s = (vkl_sched_config){.kind = VKL_SCHED_STEP,
                         .step_epochs = 3,
                         .step_gamma = 0.1,
                         .steps_per_epoch = 4,
                         .total_steps = 100};
  cr_assert_float_eq(vkl_sched_lr(&s, 1.0, 11), 1.0, 1e-15);  /* epoch 2 */
  cr_assert_float_eq(vkl_sched_lr(&s, 1.0, 12), 0.1, 1e-15);  /* epoch 3 */
  cr_assert_float_eq(vkl_sched_lr(&s, 1.0, 24), 0.01, 1e-15); /* epoch 6 */
  s = (vkl_sched_config){.kind = VKL_SCHED_CONSTANT};
  cr_assert_eq(vkl_sched_lr(&s, 0.3, 999), 0.3);
}

/* A 2x2 "conv" tensor and its bias, for the edge cases. */
static void one_step(const vkl_optim_config *o, double lr, double *w, const double *g, double *m,
                     double *v, size_t n, int ndim, vkl_optim_stats *st) {
  vkl_optim_tensor_ref t = {w, g, m, v, n, ndim};
  vkl_optim_step_ref(o, lr, vkl_optim_phi(o, 1, 0), 0, &t, 1, st);
}

Test(optim, zero_weights_or_gradient_give_ratio_one) {
  const vkl_opt_kind kinds[] = {VKL_OPT_LARS, VKL_OPT_TVLARS, VKL_OPT_TVLARS_OFFICIAL,
                                VKL_OPT_LAMB};
  for (size_t k = 0; k < 4; k++) {
    vkl_optim_config o = vkl_optim_defaults(kinds[k]);
    o.weight_decay = 0; /* so that a zero gradient is a zero direction */
    double w[4] = {0, 0, 0, 0}, g[4] = {1, -2, 3, 0.5}, m[4] = {0}, v[4] = {0};
    vkl_optim_stats st;
    one_step(&o, 0.1, w, g, m, v, 4, 4, &st);
    cr_assert_eq(st.trust, 1.0, "%s: zero weights", vkl_opt_kind_name(kinds[k]));
    double w2[4] = {1, 2, 3, 4}, g2[4] = {0}, m2[4] = {0}, v2[4] = {0};
    one_step(&o, 0.1, w2, g2, m2, v2, 4, 4, &st);
    cr_assert_eq(st.trust, 1.0, "%s: zero gradient", vkl_opt_kind_name(kinds[k]));
    cr_assert_eq(w2[3], 4.0);
  }
}

Test(optim, excluded_tensors_get_plain_momentum_sgd) {
  vkl_optim_config o = vkl_optim_defaults(VKL_OPT_TVLARS);
  double w[3] = {1, -2, 3}, g[3] = {0.5, 0.25, -1}, m[3] = {0.1, 0.2, 0.3};
  double want[3];
  for (int i = 0; i < 3; i++) want[i] = w[i] - 0.7 * (0.9 * m[i] + g[i]);
  vkl_optim_stats st;
  one_step(&o, 0.7, w, g, m, NULL, 3, 1, &st);
  for (int i = 0; i < 3; i++) cr_assert_float_eq(w[i], want[i], 1e-15);
  cr_assert_eq(st.trust, 1.0);
  cr_assert_float_eq(st.eff_lr, 0.7, 1e-15);
}

/* --excluded-lr-scale s: the excluded tensor's direction is s*g, in the
 * momentum family (m = mu*m + s*g) and in LAMB (w -= lr*s*u); adapted
 * tensors are untouched by it. */
Test(optim, excluded_lr_scale_scales_only_excluded_tensors) {
  vkl_optim_config o = vkl_optim_defaults(VKL_OPT_LARS);
  o.excluded_lr_scale = 0.024;
  double w[3] = {1, -2, 3}, g[3] = {0.5, 0.25, -1}, m[3] = {0.1, 0.2, 0.3}, want[3];
  for (int i = 0; i < 3; i++) want[i] = w[i] - 0.7 * (0.9 * m[i] + 0.024 * g[i]);
  vkl_optim_stats st;
  one_step(&o, 0.7, w, g, m, NULL, 3, 1, &st);
  for (int i = 0; i < 3; i++) cr_assert_float_eq(w[i], want[i], 1e-15);
  cr_assert_float_eq(st.trust, 0.024, 1e-15);
  cr_assert_float_eq(st.eff_lr, 0.7 * 0.024, 1e-15);
  /* the same step of an adapted tensor: the LARS trust ratio, as at scale 1 */
  double wa[2] = {3, 4}, ga[2] = {0.6, 0.8}, ma[2] = {0}, wb[2] = {3, 4}, mb[2] = {0};
  vkl_optim_stats sa, sb;
  one_step(&o, 0.7, wa, ga, ma, NULL, 2, 2, &sa);
  o.excluded_lr_scale = 1;
  one_step(&o, 0.7, wb, ga, mb, NULL, 2, 2, &sb);
  cr_assert_eq(sa.trust, sb.trust);
  cr_assert_eq(wa[0], wb[0]);
  /* LAMB: the first step's u is g/(|g|+eps) per element, r = s */
  vkl_optim_config l = vkl_optim_defaults(VKL_OPT_LAMB);
  l.excluded_lr_scale = 0.5;
  l.exclude_1d = 1;
  double lw[2] = {1, 2}, lg[2] = {0.3, -0.4}, lm[2] = {0}, lv[2] = {0};
  one_step(&l, 0.1, lw, lg, lm, lv, 2, 1, &st);
  for (int i = 0; i < 2; i++) {
    double u = (0.1 * lg[i]) / (sqrt(0.001 * lg[i] * lg[i]) + 1e-6);
    cr_assert_float_eq(lw[i], (i ? 2.0 : 1.0) - 0.1 * 0.5 * u, 1e-12);
  }
  cr_assert_float_eq(st.trust, 0.5, 1e-15);
}

Test(optim, lars_trust_ratio_and_lr_zero) {
  vkl_optim_config o = vkl_optim_defaults(VKL_OPT_LARS);
  double w[2] = {3, 4}, g[2] = {0.6 - 5e-4 * 3, 0.8 - 5e-4 * 4}, m[2] = {0};
  vkl_optim_stats st;
  one_step(&o, 0.0, w, g, m, NULL, 2, 2, &st);
  cr_assert_eq(w[0], 3.0, "lr 0 leaves weights unchanged");
  cr_assert_eq(w[1], 4.0);
  cr_assert_float_eq(st.wnorm, 5, 1e-12);
  cr_assert_float_eq(st.dnorm, 1, 1e-12);
  cr_assert_float_eq(st.lnr, 5, 1e-12);
  cr_assert_float_eq(st.trust, 1e-3 * 5, 1e-15);
  /* You et al.'s denominator and LARC clipping */
  o.denominator = VKL_LARS_DENOM_SUM_OF_NORMS;
  o.larc_clip = 1;
  double gn = sqrt(g[0] * g[0] + g[1] * g[1]);
  double q = 1e-3 * 5 / (gn + 5e-4 * 5 + o.lars_eps);
  one_step(&o, 0.001, w, g, m, NULL, 2, 2, &st);
  cr_assert_float_eq(st.trust, fmin(q / 0.001, 1.0), 1e-12);
}

Test(optim, lamb_clamp_and_adamw) {
  vkl_optim_config o = vkl_optim_defaults(VKL_OPT_LAMB);
  double w[2] = {30, 40}, g[2] = {1, 1}, m[2] = {0}, v[2] = {0};
  vkl_optim_stats st;
  one_step(&o, 0.01, w, g, m, v, 2, 2, &st);
  /* m = 0.1, v = 0.001: u_i = 0.1/(sqrt(0.001)+1e-6) + wd*w_i */
  double u0 = 0.1 / (sqrt(0.001) + 1e-6) + 5e-4 * 30, u1 = 0.1 / (sqrt(0.001) + 1e-6) + 5e-4 * 40;
  double un = sqrt(u0 * u0 + u1 * u1);
  cr_assert_float_eq(st.trust, 10 / un, 1e-12, "||w|| = 50 is clamped to 10");
  cr_assert_float_eq(w[0], 30 - 0.01 * (10 / un) * u0, 1e-12);
  vkl_optim_config a = vkl_optim_defaults(VKL_OPT_ADAMW);
  double w2[1] = {2}, g2[1] = {0.5}, m2[1] = {0}, v2[1] = {0};
  one_step(&a, 0.1, w2, g2, m2, v2, 1, 2, &st);
  /* bias-corrected first step: mhat = g, vhat = g^2 -> u = g/(|g|+eps) + wd*w */
  cr_assert_eq(st.trust, 1.0);
  cr_assert_float_eq(w2[0], 2 - 0.1 * (0.5 / (0.5 + 1e-8) + 1e-2 * 2), 1e-12);
}

Test(optim, validation_names_the_setting) {
  char err[256];
  vkl_optim_config o = vkl_optim_defaults(VKL_OPT_LARS);
  o.momentum = 1.0;
  cr_assert_eq(vkl_optim_validate(&o, NULL, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "momentum must be in [0, 1)"), "%s", err);
  o = vkl_optim_defaults(VKL_OPT_LARS);
  o.lr = -1;
  cr_assert_eq(vkl_optim_validate(&o, NULL, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "learning rate"), "%s", err);
  o = vkl_optim_defaults(VKL_OPT_LARS);
  vkl_sched_config s = {.kind = VKL_SCHED_LARS_WARM, .total_steps = 10, .steps_per_epoch = 1};
  cr_assert_eq(vkl_optim_validate(&o, &s, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "B/256"), "%s", err);
  s.batch = 512;
  cr_assert_eq(vkl_optim_validate(&o, &s, err, sizeof err), VKL_OK, "%s", err);
  for (int k = 0; k < VKL_OPT_COUNT; k++) {
    vkl_optim_config d = vkl_optim_defaults((vkl_opt_kind)k);
    cr_assert_eq(vkl_optim_validate(&d, NULL, err, sizeof err), VKL_OK, "%s: %s",
                 vkl_opt_kind_name((vkl_opt_kind)k), err);
    cr_assert_eq(vkl_opt_kind_parse(vkl_opt_kind_name((vkl_opt_kind)k)), k);
  }
  cr_assert_eq(vkl_opt_kind_parse("adam"), -1);
  cr_assert_eq(vkl_sched_kind_parse("constant"), VKL_SCHED_CONSTANT);
}

/* Each message names the setting, its range and the value; a negative
 * delay in epochs (which fell back to the delay in steps) is refused. */
Test(optim, validation_states_range_and_value) {
  char err[256];
  vkl_optim_config o = vkl_optim_defaults(VKL_OPT_TVLARS);
  o.norm_clamp = -1;
  cr_assert_eq(vkl_optim_validate(&o, NULL, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "norm clamp must be in [0, inf), 0 for none (got -1)"), "%s", err);
  o = vkl_optim_defaults(VKL_OPT_TVLARS);
  o.tv_delay_epochs = -2;
  cr_assert_eq(vkl_optim_validate(&o, NULL, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "delay in epochs must be in [0, inf) (got -2)"), "%s", err);
  o = vkl_optim_defaults(VKL_OPT_TVLARS);
  o.tv_gamma_min = INFINITY;
  cr_assert_eq(vkl_optim_validate(&o, NULL, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "gamma-min must be in [0, inf) (got inf)"), "%s", err);
  o = vkl_optim_defaults(VKL_OPT_LAMB);
  o.trust_clip = -0.5;
  cr_assert_eq(vkl_optim_validate(&o, NULL, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "trust clip must be in [0, inf), 0 for none (got -0.5)"), "%s", err);
  o = vkl_optim_defaults(VKL_OPT_LARS);
  o.excluded_lr_scale = -0.1;
  cr_assert_eq(vkl_optim_validate(&o, NULL, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "excluded tensors' lr scale must be in [0, inf) (got -0.1)"), "%s", err);
  o = vkl_optim_defaults(VKL_OPT_SGD);
  vkl_sched_config s = {.kind = VKL_SCHED_STEP,
                        .step_epochs = 0,
                        .step_gamma = 0.1,
                        .total_steps = 10,
                        .steps_per_epoch = 1};
  cr_assert_eq(vkl_optim_validate(&o, &s, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "(got 0 and 0.1)"), "%s", err);
}
