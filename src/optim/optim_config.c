/* Optimizer and schedule settings: published defaults, names, validation.
 *
 * Defaults (PAPER.md, "LARS", "TVLARS", "LAMB"): LARS as in the Barlow Twins
 * code the authors copied (eta 1e-3, momentum 0.9, wd 5e-4, ndim-1 tensors
 * excluded); TVLARS's authors' preset alpha 0.1, d_e -1, gamma_min 0,
 * lambda 1e-3 with norms clamped to [0, 10]; the paper form starts from the
 * same values with d_e 0 and no clamp; LAMB as in cybertronai/pytorch-lamb
 * (b1 0.9, b2 0.999, eps 1e-6, no bias correction, ||w|| clamped to 10);
 * SGD and AdamW as PyTorch's. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vklars/optim.h"

static const char *const opt_names[VKL_OPT_COUNT] = {"sgd",  "lars", "tvlars", "tvlars-official",
                                                     "lamb", "adamw"};
static const char *const sched_names[VKL_SCHED_COUNT] = {"none", "lars-warm", "cosine", "step"};

vkl_optim_config vkl_optim_defaults(vkl_opt_kind kind) {
  vkl_optim_config o;
  memset(&o, 0, sizeof o);
  o.kind = kind;
  o.momentum = 0.9;
  o.weight_decay = 5e-4;
  o.eta = 1e-3;
  o.lars_eps = 1e-9;
  o.beta1 = 0.9;
  o.beta2 = 0.999;
  o.eps = 1e-6;
  o.decoupled_decay = 1;
  o.excluded_lr_scale = 1.0;
  switch (kind) {
    case VKL_OPT_SGD: o.lr = 0.1; break;
    case VKL_OPT_LARS:
      o.lr = 1.0;
      o.exclude_1d = 1;
      break;
    case VKL_OPT_TVLARS:
    case VKL_OPT_TVLARS_OFFICIAL:
      o.lr = 1.0;
      o.exclude_1d = 1;
      o.tv_alpha = 0.1;
      o.tv_lambda = 1e-3;
      o.tv_gamma_min = 0.0;
      o.tv_delay_steps = kind == VKL_OPT_TVLARS_OFFICIAL ? -1.0 : 0.0;
      o.norm_clamp = kind == VKL_OPT_TVLARS_OFFICIAL ? 10.0 : 0.0;
      break;
    case VKL_OPT_LAMB:
      o.lr = 1e-3;
      o.lamb_clamp_w = 10.0;
      break;
    case VKL_OPT_ADAMW:
      o.lr = 1e-3;
      o.momentum = 0.0;
      o.weight_decay = 1e-2;
      o.eps = 1e-8;
      o.bias_correction = 1;
      break;
    default: break;
  }
  return o;
}

vkl_sched_kind vkl_optim_default_schedule(vkl_opt_kind kind) {
  return kind == VKL_OPT_LARS || kind == VKL_OPT_LAMB ? VKL_SCHED_LARS_WARM : VKL_SCHED_CONSTANT;
}

int vkl_opt_kind_parse(const char *name) {
  for (int i = 0; i < VKL_OPT_COUNT; i++)
    if (strcmp(name, opt_names[i]) == 0) return i;
  return -1;
}

const char *vkl_opt_kind_name(vkl_opt_kind kind) {
  return (unsigned)kind < VKL_OPT_COUNT ? opt_names[kind] : "?";
}

int vkl_sched_kind_parse(const char *name) {
  if (strcmp(name, "constant") == 0) return VKL_SCHED_CONSTANT;
  for (int i = 0; i < VKL_SCHED_COUNT; i++)
    if (strcmp(name, sched_names[i]) == 0) return i;
  return -1;
}

const char *vkl_sched_kind_name(vkl_sched_kind kind) {
  return (unsigned)kind < VKL_SCHED_COUNT ? sched_names[kind] : "?";
}

#define CHECK(cond, ...)                  \
  do {                                    \
    if (!(cond)) {                        \
      snprintf(err, errlen, __VA_ARGS__); \
      return VKL_ERR_INVALID_ARGUMENT;    \
    }                                     \
  } while (0)

/* Every message names the setting, its range and the value given. */
vkl_status vkl_optim_validate(const vkl_optim_config *o, const vkl_sched_config *s, char *err,
                              size_t errlen) {
  CHECK((unsigned)o->kind < VKL_OPT_COUNT, "unknown optimizer %d", (int)o->kind);
  CHECK(isfinite(o->lr) && o->lr >= 0, "learning rate must be in [0, inf) (got %g)", o->lr);
  CHECK(o->momentum >= 0 && o->momentum < 1, "momentum must be in [0, 1) (got %g)", o->momentum);
  CHECK(o->weight_decay >= 0 && isfinite(o->weight_decay),
        "weight decay must be in [0, inf) (got %g)", o->weight_decay);
  CHECK(o->eta > 0 && isfinite(o->eta), "eta must be in (0, inf) (got %g)", o->eta);
  CHECK(o->excluded_lr_scale >= 0 && isfinite(o->excluded_lr_scale),
        "excluded tensors' lr scale must be in [0, inf) (got %g)", o->excluded_lr_scale);
  CHECK(o->lars_eps >= 0 && isfinite(o->lars_eps), "LARS epsilon must be in [0, inf) (got %g)",
        o->lars_eps);
  CHECK(o->norm_clamp >= 0 && isfinite(o->norm_clamp),
        "norm clamp must be in [0, inf), 0 for none (got %g)", o->norm_clamp);
  CHECK(o->lamb_clamp_w >= 0 && isfinite(o->lamb_clamp_w),
        "LAMB weight-norm clamp must be in [0, inf), 0 for none (got %g)", o->lamb_clamp_w);
  CHECK(o->trust_clip >= 0 && isfinite(o->trust_clip),
        "trust clip must be in [0, inf), 0 for none (got %g)", o->trust_clip);
  if (o->kind == VKL_OPT_TVLARS || o->kind == VKL_OPT_TVLARS_OFFICIAL) {
    CHECK(o->tv_lambda >= 0 && isfinite(o->tv_lambda), "lambda must be in [0, inf) (got %g)",
          o->tv_lambda);
    CHECK(o->tv_alpha >= 0 && isfinite(o->tv_alpha), "alpha must be in [0, inf) (got %g)",
          o->tv_alpha);
    CHECK(o->tv_gamma_min >= 0 && isfinite(o->tv_gamma_min),
          "gamma-min must be in [0, inf) (got %g)", o->tv_gamma_min);
    CHECK(isfinite(o->tv_delay_steps), "delay in steps must be finite (got %g)", o->tv_delay_steps);
    /* a negative delay in epochs would fall back to the delay in steps */
    CHECK(o->tv_delay_epochs >= 0 && isfinite(o->tv_delay_epochs),
          "delay in epochs must be in [0, inf) (got %g); a negative delay is given in steps",
          o->tv_delay_epochs);
  }
  if (o->kind == VKL_OPT_LAMB || o->kind == VKL_OPT_ADAMW) {
    CHECK(o->beta1 >= 0 && o->beta1 < 1, "beta1 must be in [0, 1) (got %g)", o->beta1);
    CHECK(o->beta2 >= 0 && o->beta2 < 1, "beta2 must be in [0, 1) (got %g)", o->beta2);
    CHECK(o->eps > 0 && isfinite(o->eps), "eps must be in (0, inf) (got %g)", o->eps);
  }
  if (s) {
    CHECK((unsigned)s->kind < VKL_SCHED_COUNT, "unknown schedule %d", (int)s->kind);
    CHECK(s->warmup_epochs >= 0 && isfinite(s->warmup_epochs),
          "warm-up epochs must be in [0, inf) (got %g)", s->warmup_epochs);
    CHECK(s->floor >= 0 && s->floor <= 1, "cosine floor must be in [0, 1] (got %g)", s->floor);
    if (s->kind == VKL_SCHED_LARS_WARM)
      CHECK(s->batch > 0, "lars-warm scales the learning rate by B/256: batch must be set");
    if (s->kind == VKL_SCHED_STEP)
      CHECK(s->step_epochs > 0 && isfinite(s->step_epochs) && s->step_gamma > 0 &&
                isfinite(s->step_gamma),
            "step schedule needs step epochs and gamma in (0, inf) (got %g and %g)", s->step_epochs,
            s->step_gamma);
    if (s->kind != VKL_SCHED_CONSTANT)
      CHECK(s->total_steps > 0 && s->steps_per_epoch > 0,
            "schedule '%s' needs the run's total steps and steps per epoch",
            vkl_sched_kind_name(s->kind));
  }
  return VKL_OK;
}
