/* Learning-rate schedules and TVLARS's phi(t) (host math, in double).
 *
 * lars-warm, the baselines' schedule (PAPER.md "Warm-up schedule"; the
 * Barlow Twins code's adjust_learning_rate): base = lr*B/256, linear from 0
 * to base over W epochs, then cosine from base to 0.001*base:
 *   t < w:  lr_t = base * t / w
 *   else:   q = 0.5 * (1 + cos(pi * (t - w) / (T - w)))
 *           lr_t = base * q + 0.001 * base * (1 - q)
 * TVLARS (PAPER.md "TVLARS"): phi(t) = 1 / (alpha + exp(lambda*(t - d_e)))
 * + gamma_min, with d_e given in steps or epochs. */
#include <math.h>

#include "vklars/optim.h"

#define PI 3.14159265358979323846

static double cosine(double from, double to, double step, double steps) {
  double q = steps > 0 ? 0.5 * (1.0 + cos(PI * fmin(step / steps, 1.0))) : 0.0;
  return from * q + to * (1.0 - q);
}

double vkl_sched_lr(const vkl_sched_config *s, double base_lr, uint64_t t) {
  double spe = s->steps_per_epoch ? (double)s->steps_per_epoch : 1.0;
  switch (s->kind) {
    case VKL_SCHED_LARS_WARM: {
      double base = base_lr * s->batch / 256.0;
      double w = floor(s->warmup_epochs * spe);
      if ((double)t < w) return base * (double)t / w;
      return cosine(base, 0.001 * base, (double)t - w, (double)s->total_steps - w);
    }
    case VKL_SCHED_COSINE:
      return cosine(base_lr, s->floor * base_lr, (double)t, (double)s->total_steps);
    case VKL_SCHED_STEP: {
      double epoch = floor((double)t / spe);
      return base_lr * pow(s->step_gamma, floor(epoch / s->step_epochs));
    }
    default: return base_lr;
  }
}

double vkl_optim_phi(const vkl_optim_config *o, uint64_t steps_per_epoch, uint64_t t) {
  if (o->kind != VKL_OPT_TVLARS && o->kind != VKL_OPT_TVLARS_OFFICIAL) return 1.0;
  double delay =
      o->tv_delay_epochs > 0 ? o->tv_delay_epochs * (double)steps_per_epoch : o->tv_delay_steps;
  return 1.0 / (o->tv_alpha + exp(o->tv_lambda * ((double)t - delay))) + o->tv_gamma_min;
}
