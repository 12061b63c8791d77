/*
 * Batch normalisation reference for 4-D (N,C,H,W) and 2-D (N,C) inputs; a 2-D input is
 * the 4-D case with H = W = 1. Statistics are per channel c over the M = N*H*W values
 * x[:,c,:,:].
 *
 * Training: mean and biased variance of the batch normalise x; the running statistics
 * move towards the batch's mean and UNBIASED variance, as PyTorch does:
 *   running = (1 - momentum) running + momentum batch.
 * Evaluation: the running statistics normalise x.
 * gamma and beta may be NULL (affine=False): gamma = 1, beta = 0.
 * https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html
 * https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm1d.html
 * Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167
 */
#ifndef VKLARS_OPS_BATCHNORM_H
#define VKLARS_OPS_BATCHNORM_H

#include <stdint.h>

#include "vk/vk.h"

typedef struct vkl_batchnorm_shape {
  uint32_t N, C, H, W; /* H = W = 1 for a 2-D (N,C) input */
} vkl_batchnorm_shape;

/* Returns 0, or -1 when a size is 0 or, with training nonzero, when N*H*W < 2 (the
 * unbiased variance needs two values per channel; PyTorch refuses this case too). */
int vkl_batchnorm_shape_check(const vkl_batchnorm_shape *sh, int training);

/* mean = E[x], var = E[(x - mean)^2] (biased), invstd = 1 / sqrt(var + eps),
 * y = gamma (x - mean) invstd + beta.
 * mean and invstd are saved for the backward pass. running_mean and running_var are
 * updated in place (may be NULL: track_running_stats=False). */
void vkl_batchnorm_forward_train_ref(double *y /* (N,C,H,W) */, double *mean /* (C) */,
                                     double *invstd /* (C) */,
                                     double *running_mean /* (C) or NULL */,
                                     double *running_var /* (C) or NULL */,
                                     const double *x /* (N,C,H,W) */,
                                     const double *gamma /* (C) or NULL */,
                                     const double *beta /* (C) or NULL */,
                                     const vkl_batchnorm_shape *sh, double eps, double momentum);

/* y = gamma (x - running_mean) / sqrt(running_var + eps) + beta. */
void vkl_batchnorm_forward_eval_ref(double *y /* (N,C,H,W) */, const double *x /* (N,C,H,W) */,
                                    const double *running_mean /* (C) */,
                                    const double *running_var /* (C) */,
                                    const double *gamma /* (C) or NULL */,
                                    const double *beta /* (C) or NULL */,
                                    const vkl_batchnorm_shape *sh, double eps);

/* Training-mode gradients given dy and the mean and invstd saved by the training forward.
 * dx, dgamma, dbeta may each be NULL to skip; accumulate = 1 adds into them. */
void vkl_batchnorm_backward_ref(double *dx /* (N,C,H,W) or NULL */,
                                double *dgamma /* (C) or NULL */, double *dbeta /* (C) or NULL */,
                                const double *dy /* (N,C,H,W) */, const double *x /* (N,C,H,W) */,
                                const double *mean /* (C) */, const double *invstd /* (C) */,
                                const double *gamma /* (C) or NULL */,
                                const vkl_batchnorm_shape *sh, int accumulate);

/* ---- device recording (see ops/op_util.h for the conventions) ----
 *
 * Per-channel statistics are reduced over N*H*W by a handful of dispatches,
 * never one per channel: every thread of a partial-sum kernel writes its
 * partial (of a segment of planes of a chunk of samples) to the workspace,
 * one thread per channel merges them in a fixed order, then an element-wise
 * pass. No atomics, fixed orders: the same inputs give bit-identical
 * outputs on every run. fp32 throughout. The variance is stable: values are
 * shifted by a pivot value of each channel (exactly, for values within a
 * factor 2 of it), each thread runs Welford's update, and threads are merged
 * with Chan's formula, so inputs with |mean| >> std (1e4 +- 1) keep full
 * precision where E[x^2] - E[x]^2 would lose all of it.
 * The shaders and their thread geometry: shaders/common/batchnorm_iface.h.
 * On CPU devices, shapes whose channels each fit a workgroup (ResNet layers
 * with planes of 16x16 and smaller) take fused kernels instead: one dispatch
 * per pass, a workgroup per channel holding its values in registers, an
 * exact two-pass variance of the pivot-shifted values
 * (shaders/common/batchnorm_fused.h); the workspace is then unused. The
 * backward pass also takes them for larger channels, up to 256 threads in
 * groups of 8 that walk runs lane by lane (ResNet-18's layer1, 32x32). */

/* 1 when the fused kernels (one workgroup per channel, see batchnorm.c) can
 * take the shape on a device with this many invocations per workgroup;
 * VKLARS_BN_LAYOUT=fused forces them there (tests). */
int vkl_batchnorm_fused_fits(const vkl_batchnorm_shape *sh, uint32_t max_workgroup_invocations);
/* The same for the backward kernel, which fits more shapes. */
int vkl_batchnorm_fused_backward_fits(const vkl_batchnorm_shape *sh,
                                      uint32_t max_workgroup_invocations);

/* Floats of scratch memory that forward_train and backward need for sh. */
uint64_t vkl_batchnorm_workspace_floats(const vkl_batchnorm_shape *sh);

/* Training forward: 3 dispatches (partial statistics, combine, normalise);
 * x is read twice.
 * mean and invstd receive the batch statistics (saved for the backward).
 * running_mean and running_var, each optional, are updated in place with
 * the unbiased variance. gamma and beta are optional (affine=False).
 * Fails when N*H*W < 2. */
vkl_status vkl_batchnorm_forward_train(
    vkl_cmd *cmd, vkl_buf y /* (N,C,H,W) */, vkl_buf mean /* (C) */, vkl_buf invstd /* (C) */,
    const vkl_buf *running_mean /* (C) or NULL */, const vkl_buf *running_var /* (C) or NULL */,
    vkl_buf x /* (N,C,H,W) */, const vkl_buf *gamma /* (C) or NULL */,
    const vkl_buf *beta /* (C) or NULL */, const vkl_batchnorm_shape *sh, float eps, float momentum,
    vkl_buf workspace /* (workspace_floats) */);

/* Evaluation forward: one element-wise dispatch, no workspace. */
vkl_status vkl_batchnorm_forward_eval(vkl_cmd *cmd, vkl_buf y /* (N,C,H,W) */,
                                      vkl_buf x /* (N,C,H,W) */, vkl_buf running_mean /* (C) */,
                                      vkl_buf running_var /* (C) */,
                                      const vkl_buf *gamma /* (C) or NULL */,
                                      const vkl_buf *beta /* (C) or NULL */,
                                      const vkl_batchnorm_shape *sh, float eps);

/* Training backward from the mean and invstd of forward_train. dx, dgamma,
 * dbeta may each be NULL to skip; accumulate = 1 adds into all three (so
 * micro-batches accumulate dx, dgamma and dbeta alike). Up to 3 dispatches
 * (partial sums, combine, dx; dy and x are read twice when dx is wanted);
 * none when all three are NULL. */
vkl_status vkl_batchnorm_backward(vkl_cmd *cmd, const vkl_buf *dx /* (N,C,H,W) or NULL */,
                                  const vkl_buf *dgamma /* (C) or NULL */,
                                  const vkl_buf *dbeta /* (C) or NULL */,
                                  vkl_buf dy /* (N,C,H,W) */, vkl_buf x /* (N,C,H,W) */,
                                  vkl_buf mean /* (C) */, vkl_buf invstd /* (C) */,
                                  const vkl_buf *gamma /* (C) or NULL */,
                                  const vkl_batchnorm_shape *sh, int accumulate,
                                  vkl_buf workspace /* (workspace_floats) */);

#endif
