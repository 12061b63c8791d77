/* Flags of the batchnorm_*.comp kernels (push constants of the
 * multi-pass kernels, specialization constants of the fused ones). */
#ifndef VKLARS_BATCHNORM_FLAGS_H
#define VKLARS_BATCHNORM_FLAGS_H

/* flags */
#define BN_HAS_GAMMA 1u
#define BN_HAS_BETA 2u
#define BN_HAS_RUNNING_MEAN 4u
#define BN_HAS_RUNNING_VAR 8u
#define BN_EVAL 16u       /* apply: coefficients from running stats, not the workspace */
#define BN_ACCUMULATE 32u /* backward: add into the gradients */
#define BN_HAS_DGAMMA 64u
#define BN_HAS_DBETA 128u
#define BN_SEG4 256u /* every thread's run of a plane is exactly 4 units (see BN_WALK) */

#endif
