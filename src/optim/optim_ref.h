/* CPU reference of one optimizer step over a set of tensors, in double.
 *
 * The oracle for the fused device update (optim_step.c): it follows
 * PAPER.md's formulas literally, one tensor at a time, with no fusion. */
#ifndef VKLARS_OPTIM_REF_H
#define VKLARS_OPTIM_REF_H

#include <stddef.h>
#include <stdint.h>

#include "vklars/optim.h"

typedef struct vkl_optim_tensor_ref {
  double *w;       /* (n) parameters, updated in place */
  const double *g; /* (n) gradient of the loss (the batch mean) */
  double *m;       /* (n) momentum buffer, or LAMB/AdamW first moment */
  double *v;       /* (n) LAMB/AdamW second moment; unused otherwise */
  size_t n;
  int ndim;
} vkl_optim_tensor_ref;

/* What the paper studies, per tensor and step (PAPER.md "Quantities"). */
typedef struct vkl_optim_stats {
  double wnorm;  /* LWN ||w|| before the update */
  double dnorm;  /* LGN: ||g + wd*w|| (SGD, LARS family), ||u|| (LAMB, AdamW) */
  double lnr;    /* ||w|| / ||d||; 0 when ||d|| = 0 */
  double trust;  /* trust ratio applied (times phi(t) for TVLARS); 1 when none */
  double eff_lr; /* lr_t * trust */
} vkl_optim_stats;

/* Whether a tensor is excluded from weight decay and adaptation. */
int vkl_optim_excluded(const vkl_optim_config *o, int ndim);

/* One step at optimizer step t with learning rate lr_t and phi_t (from
 * vkl_sched_lr and vkl_optim_phi). stats may be NULL. */
void vkl_optim_step_ref(const vkl_optim_config *o, double lr_t, double phi_t, uint64_t t,
                        vkl_optim_tensor_ref *tensors, size_t count, vkl_optim_stats *stats);

#endif
