/* Data parallelism's part of an optimizer step: after each rank's last
 * micro-batch, the gradient arena summed over the ranks, and batch norm's
 * running statistics merged into those a one-process run would have.
 *
 * The gradient goes through host-visible staging in buckets (a few MiB,
 * grad_buckets.h), each downloaded as soon as the backward pass has
 * finished it: the trainer submits the last micro-batch's backward in
 * segments, each followed by its bucket's download, and each bucket's
 * MPI_Iallreduce starts as soon as its download lands, while the later
 * segments still compute. The step's optimizer program starts with the upload of
 * the sums (vkl_grad_allreduce_record_upload), so the optimizer sees the
 * same gradient on every rank and every rank applies the same update: the
 * trust ratios of LARS, TVLARS and LAMB need nothing more.
 *
 * Running statistics. Rank r runs micro-batches r k .. r k + k - 1 of the
 * global batch (each its own batch-norm statistics, as per-GPU batch norm
 * does), and each of its U = k u updates (u per micro-batch) is
 *   R <- a R + (1 - a) s_i, a = 1 - momentum,
 * so from the step's start R0 (the same on every rank) rank r ends at
 *   R_r = a^U R0 + D_r, D_r = sum_i a^(U-1-i) (1 - a) s_ri.
 * One process running all N k micro-batches in rank order would end at
 *   R = a^(NU) R0 + sum_r a^((N-1-r) U) D_r
 *     = sum_r w_r R_r + (a^(NU) - a^U sum_r w_r) R0,  w_r = a^((N-1-r) U),
 * a weighted sum over the ranks (in double) plus a multiple of R0. So the
 * merged statistics are the one-process run's, up to rounding, and the
 * same on every rank. */
#ifndef VKLARS_TRAIN_GRAD_ALLREDUCE_H
#define VKLARS_TRAIN_GRAD_ALLREDUCE_H

#include "dist/dist.h"
#include "train/grad_buckets.h"
#include "vk/vk.h"

#define VKL_ALLREDUCE_BUCKET_DEFAULT (4ull << 20)
#define VKL_ALLREDUCE_MAX_BUCKETS 64 /* VKL_DIST_MAX_PENDING */

typedef struct vkl_grad_allreduce vkl_grad_allreduce;

typedef struct vkl_grad_allreduce_config {
  vkl_ctx *ctx;
  vkl_dist *dist;
  vkl_buf grads;    /* (param floats) the summed gradient arena */
  vkl_buf bn_live;  /* (buffer floats) running statistics; size 0: none */
  vkl_buf bn_start; /* (buffer floats) their copy at the step's start (R0) */
  float bn_momentum;
  uint32_t bn_updates; /* U: running-statistics updates per rank per step */
  /* the buckets in the order they are finished (their ranges tile grads;
   * at most VKL_ALLREDUCE_MAX_BUCKETS) */
  const vkl_grad_bucket *buckets;
  uint32_t bucket_count;
} vkl_grad_allreduce_config;

/* What the last step's reduction cost, for the logs and the benchmark. */
typedef struct vkl_grad_allreduce_stats {
  uint64_t bytes; /* per rank, each way */
  uint32_t buckets;
  /* From the end of the step's compute (the last micro-batch's program)
   * to the merged statistics: what the step waits beyond its own compute
   * (the downloads still queued, the sums, a slower peer). */
  double exposed_s;
} vkl_grad_allreduce_stats;

/* Errors: the message is in err. */
vkl_status vkl_grad_allreduce_create(const vkl_grad_allreduce_config *cfg, vkl_grad_allreduce **out,
                                     char *err, size_t errlen);
void vkl_grad_allreduce_destroy(vkl_grad_allreduce *g);
/* Submits bucket b's download: after the program (segment) that finishes
 * it, in bucket order. */
vkl_status vkl_grad_allreduce_submit(vkl_grad_allreduce *g, uint32_t b, char *err, size_t errlen);
/* Once every bucket is submitted (compute: the ticket of the step's last
 * compute submission): each bucket's sum as its download lands, and the
 * merge, into the staging the upload reads. */
vkl_status vkl_grad_allreduce_finish(vkl_grad_allreduce *g, uint64_t compute, char *err,
                                     size_t errlen);
/* Records the upload of the sums and the merged statistics (for the start
 * of the optimizer's program; it records its own barriers). */
void vkl_grad_allreduce_record_upload(const vkl_grad_allreduce *g, vkl_cmd *c);
void vkl_grad_allreduce_get_stats(const vkl_grad_allreduce *g, vkl_grad_allreduce_stats *s);

/* The merge on the host (see above): out = sum_r w_r R_r + c R0 given
 * weighted = sum_r w_r R_r, for rank weights of N ranks and U updates. */
double vkl_bn_merge_weight(double a, uint32_t U, uint32_t N, uint32_t rank);
double vkl_bn_merge_start_coef(double a, uint32_t U, uint32_t N);

#endif
