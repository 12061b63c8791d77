/* The optimizer's ring slot layout, in 32-bit words, shared by its kernels
 * (optim.h, optim_guard.h) and src/optim/optim_step.c. */
#ifndef VKLARS_OPTIM_SLOT_H
#define VKLARS_OPTIM_SLOT_H

/* ring slot layout, in 32-bit words: a header the host writes (t, lr, phi,
 * bias corrections, skip) and the kernels' flags, then OPTIM_STAT_FLOATS per
 * tensor written by the norms kernel */
#define OPTIM_SLOT_HEADER 8
#define OPTIM_SLOT_T 0     /* uint: the step this slot was written for */
#define OPTIM_SLOT_FLAGS 1 /* uint: OPTIM_NONFINITE_* set by the kernels */
#define OPTIM_SLOT_LR 2    /* float */
#define OPTIM_SLOT_PHI 3   /* float */
#define OPTIM_SLOT_C1 4    /* float: 1 - beta1^(t+1), or 1 */
#define OPTIM_SLOT_C2 5    /* float: 1 - beta2^(t+1), or 1 */
#define OPTIM_SLOT_SKIP 6  /* uint: 1 leaves w, m, v alone when a norm (or guarded state) is not finite */
#define OPTIM_NONFINITE_NORM 1u   /* a weight or gradient norm is NaN or inf */
#define OPTIM_NONFINITE_UPDATE 2u /* an updated weight is NaN or inf */
#define OPTIM_NONFINITE_BUFFERS 4u /* guarded state (optim_guard.comp) is NaN or inf */

#endif
