/* Optimizers and learning-rate schedules (TVLARS and its baselines).
 *
 * Every formula follows the method description we implement (Do et al.,
 * "Revisiting LARS for Large Batch Training Generalization of Neural
 * Networks", IEEE TAI 2024, and the authors' PyTorch code, KhoiDOO/tvlars);
 * where the two differ both are offered, named after their source.
 *
 * t counts optimizer steps (one per global batch, never per micro-batch),
 * starting at 0. A zero-initialised vkl_optim_config is not usable: start
 * from vkl_optim_defaults(kind), which fills the published defaults. */
#ifndef VKLARS_OPTIM_H
#define VKLARS_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "vklars/status.h"

typedef enum vkl_opt_kind {
  VKL_OPT_SGD = 0,
  VKL_OPT_LARS,
  VKL_OPT_TVLARS,          /* paper form: alpha, lambda, d_e, gamma_min free */
  VKL_OPT_TVLARS_OFFICIAL, /* authors' code: alpha 0.1, d_e -1, gamma_min 0, norms clamped */
  VKL_OPT_LAMB,
  VKL_OPT_ADAMW, /* LAMB with the trust ratio fixed at 1 */
  VKL_OPT_COUNT
} vkl_opt_kind;

typedef enum vkl_sched_kind {
  VKL_SCHED_CONSTANT = 0, /* "none" */
  VKL_SCHED_LARS_WARM,    /* base = lr*B/256, linear warm-up, cosine to 0.001*base */
  VKL_SCHED_COSINE,       /* cosine from lr to floor*lr over the run */
  VKL_SCHED_STEP,         /* lr * gamma^floor(epoch / step_epochs) */
  VKL_SCHED_COUNT
} vkl_sched_kind;

/* LARS trust-ratio denominator. */
typedef enum vkl_lars_denom {
  VKL_LARS_DENOM_NORM_OF_SUM = 0, /* ||g + wd*w||: Barlow Twins / authors' code */
  VKL_LARS_DENOM_SUM_OF_NORMS     /* ||g|| + wd*||w|| + eps: You et al. */
} vkl_lars_denom;

typedef struct vkl_optim_config {
  vkl_opt_kind kind;
  double lr;           /* base learning rate */
  double momentum;     /* SGD, LARS, TVLARS */
  int nesterov;        /* SGD, LARS, TVLARS */
  double weight_decay; /* L2 (SGD, LARS) or decoupled (LAMB, AdamW) */
  /* Tensors with ndim == 1 (biases, batch-norm) get neither weight decay nor
   * layer-wise adaptation: plain momentum SGD (LARS family, LAMB). */
  int exclude_1d;
  /* Excluded tensors step at excluded_lr_scale * lr (the trust ratio of an
   * excluded tensor is this constant instead of 1). 1 is the papers' and
   * the TVLARS authors' plain SGD at the full rate; the Barlow Twins code
   * gives biases and batch norm 0.0048 / 0.2 = 0.024 of the weights' rate. */
  double excluded_lr_scale;
  /* LARS and TVLARS */
  double eta; /* trust coefficient */
  vkl_lars_denom denominator;
  double lars_eps; /* with VKL_LARS_DENOM_SUM_OF_NORMS */
  int larc_clip;   /* LARC: q = min(q / lr_t, 1) */
  /* TVLARS: phi(t) = 1 / (alpha + exp(lambda * (t - delay))) + gamma_min */
  double tv_alpha, tv_lambda, tv_gamma_min;
  double tv_delay_steps;  /* d_e in optimizer steps */
  double tv_delay_epochs; /* if > 0, d_e = epochs * steps_per_epoch instead */
  double norm_clamp;      /* > 0: ||w|| and ||d|| clamped to [0, norm_clamp] */
  /* LAMB and AdamW */
  double beta1, beta2, eps;
  int bias_correction; /* authors' code: off */
  int decoupled_decay; /* 1: u += wd*w (authors); 0: g += wd*w before moments */
  double lamb_clamp_w; /* > 0: r uses clamp(||w||, 0, lamb_clamp_w); authors: 10 */
  double trust_clip;   /* > 0: r = min(r, trust_clip) */
} vkl_optim_config;

typedef struct vkl_sched_config {
  vkl_sched_kind kind;
  double warmup_epochs; /* lars-warm (authors: 20) */
  double floor;         /* cosine: final lr as a fraction of the base (default 0) */
  double step_epochs;   /* step: decay every this many epochs */
  double step_gamma;    /* step: factor (default 0.1) */
  uint32_t batch;       /* global batch B, for lars-warm's lr*B/256 */
  uint64_t steps_per_epoch;
  uint64_t total_steps;
} vkl_sched_config;

/* The published defaults of each optimizer (see the .c for sources). */
vkl_optim_config vkl_optim_defaults(vkl_opt_kind kind);
/* The default schedule of each optimizer: none for TVLARS (phi is its
 * schedule), lars-warm for LARS and LAMB, constant for the others. */
vkl_sched_kind vkl_optim_default_schedule(vkl_opt_kind kind);

/* Names: "sgd", "lars", "tvlars", "tvlars-official", "lamb", "adamw";
 * "none" (also "constant"), "lars-warm", "cosine", "step". Return -1 when
 * unknown. */
int vkl_opt_kind_parse(const char *name);
const char *vkl_opt_kind_name(vkl_opt_kind kind);
int vkl_sched_kind_parse(const char *name);
const char *vkl_sched_kind_name(vkl_sched_kind kind);

/* Checks settings that cannot work (negative lr, momentum >= 1, ...);
 * writes the reason naming the setting to err. */
vkl_status vkl_optim_validate(const vkl_optim_config *o, const vkl_sched_config *s, char *err,
                              size_t errlen);

/* Learning rate at optimizer step t. */
double vkl_sched_lr(const vkl_sched_config *s, double base_lr, uint64_t t);
/* TVLARS phi(t); 1 for optimizers without one. */
double vkl_optim_phi(const vkl_optim_config *o, uint64_t steps_per_epoch, uint64_t t);

#endif
