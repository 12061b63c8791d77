/* CPU reference of every optimizer (PAPER.md "LARS", "TVLARS", "LAMB").
 *
 * SGD (PyTorch): d = g + wd*w; m = mu*m + d; w -= lr * (nesterov ? d + mu*m : m).
 * LARS (Barlow Twins code): for adapted tensors d = g + wd*w,
 *   q = eta * ||w|| / ||d||  (or ||w|| / (||g|| + wd*||w|| + eps), You et al.),
 *   q = 1 if either norm is 0; excluded tensors: d = g, q = excluded_lr_scale;
 *   LARC clipping q = min(q / lr, 1); m = mu*m + q*d; w -= lr * m
 *   (Nesterov: w -= lr * (q*d + mu*m)).
 * TVLARS: q is multiplied by phi(t); norms optionally clamped to [0, c].
 * LAMB (cybertronai/pytorch-lamb): m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2
 *   (with bias correction m/(1-b1^(t+1)), v/(1-b2^(t+1)) if asked);
 *   u = m/(sqrt(v)+eps) + wd*w (decoupled; else g += wd*w first);
 *   r = clamp(||w||, 0, c) / ||u|| (1 if either is 0), r = min(r, clip);
 *   w -= lr * r * u. AdamW: r = 1. Excluded tensors: r = excluded_lr_scale. */
#include "optim/optim_ref.h"

#include <math.h>

int vkl_optim_excluded(const vkl_optim_config *o, int ndim) {
  return o->exclude_1d && ndim == 1;
}

static double norm(const double *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += x[i] * x[i];
  return sqrt(s);
}

static double clamp_norm(double x, double c) {
  return c > 0 && x > c ? c : x;
}

static int is_lars(vkl_opt_kind k) {
  return k == VKL_OPT_LARS || k == VKL_OPT_TVLARS || k == VKL_OPT_TVLARS_OFFICIAL;
}

/* SGD and the LARS family share the momentum update; q = 1 for SGD. */
static void momentum_step(const vkl_optim_config *o, double lr, double phi, vkl_optim_tensor_ref *t,
                          vkl_optim_stats *st) {
  int excluded = vkl_optim_excluded(o, t->ndim);
  double wd = excluded ? 0.0 : o->weight_decay;
  double wn = norm(t->w, t->n), sg = 0, sd = 0;
  for (size_t i = 0; i < t->n; i++) {
    double d = t->g[i] + wd * t->w[i];
    sg += t->g[i] * t->g[i];
    sd += d * d;
  }
  double gn = sqrt(sg), dn = sqrt(sd), q = excluded ? o->excluded_lr_scale : 1.0;
  if (is_lars(o->kind) && !excluded) {
    double wc = clamp_norm(wn, o->norm_clamp);
    double den = o->denominator == VKL_LARS_DENOM_SUM_OF_NORMS
                     ? clamp_norm(gn, o->norm_clamp) + wd * wc + o->lars_eps
                     : clamp_norm(dn, o->norm_clamp);
    q = wc > 0 && den > 0 ? o->eta * phi * wc / den : 1.0;
    if (o->larc_clip) q = lr > 0 ? fmin(q / lr, 1.0) : 1.0;
  }
  for (size_t i = 0; i < t->n; i++) {
    double d = q * (t->g[i] + wd * t->w[i]);
    t->m[i] = o->momentum * t->m[i] + d;
    t->w[i] -= lr * (o->nesterov ? d + o->momentum * t->m[i] : t->m[i]);
  }
  if (st) *st = (vkl_optim_stats){wn, dn, dn > 0 ? wn / dn : 0.0, q, lr * q};
}

static void lamb_step(const vkl_optim_config *o, double lr, uint64_t step, vkl_optim_tensor_ref *t,
                      vkl_optim_stats *st) {
  int excluded = vkl_optim_excluded(o, t->ndim);
  double wd = excluded ? 0.0 : o->weight_decay;
  double c1 = 1.0, c2 = 1.0;
  if (o->bias_correction) {
    c1 = 1.0 - pow(o->beta1, (double)step + 1);
    c2 = 1.0 - pow(o->beta2, (double)step + 1);
  }
  double wn = norm(t->w, t->n), su = 0;
  /* moments first; u is kept in g's place only conceptually: recomputed */
  for (size_t i = 0; i < t->n; i++) {
    double g = t->g[i] + (o->decoupled_decay ? 0.0 : wd * t->w[i]);
    t->m[i] = o->beta1 * t->m[i] + (1 - o->beta1) * g;
    t->v[i] = o->beta2 * t->v[i] + (1 - o->beta2) * g * g;
    double u =
        (t->m[i] / c1) / (sqrt(t->v[i] / c2) + o->eps) + (o->decoupled_decay ? wd * t->w[i] : 0.0);
    su += u * u;
  }
  double un = sqrt(su), r = excluded ? o->excluded_lr_scale : 1.0;
  if (o->kind == VKL_OPT_LAMB && !excluded) {
    double wc = clamp_norm(wn, o->lamb_clamp_w);
    r = wc > 0 && un > 0 ? wc / un : 1.0;
    if (o->trust_clip > 0) r = fmin(r, o->trust_clip);
  }
  for (size_t i = 0; i < t->n; i++) {
    double u =
        (t->m[i] / c1) / (sqrt(t->v[i] / c2) + o->eps) + (o->decoupled_decay ? wd * t->w[i] : 0.0);
    t->w[i] -= lr * r * u;
  }
  if (st) *st = (vkl_optim_stats){wn, un, un > 0 ? wn / un : 0.0, r, lr * r};
}

void vkl_optim_step_ref(const vkl_optim_config *o, double lr_t, double phi_t, uint64_t t,
                        vkl_optim_tensor_ref *tensors, size_t count, vkl_optim_stats *stats) {
  for (size_t i = 0; i < count; i++) {
    vkl_optim_stats *st = stats ? &stats[i] : NULL;
    if (o->kind == VKL_OPT_LAMB || o->kind == VKL_OPT_ADAMW)
      lamb_step(o, lr_t, t, &tensors[i], st);
    else
      momentum_step(o, lr_t, phi_t, &tensors[i], st);
  }
}
