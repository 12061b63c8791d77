/* The ranks of one data-parallel run and what they say to each other: the
 * sums of their gradients and statistics, and agreement on when to stop.
 * No Vulkan, no networking of our own: MPI carries everything.
 *
 * One rank per process. A process that mpirun (or mpiexec, srun) started
 * is one rank of a communicator of N; any other process is the only rank
 * of a communicator of one, and MPI is never initialised in it. A build
 * without MPI (VKLARS_WITH_MPI off) has only the second kind, and refuses
 * to start under a launcher of N > 1 (N copies of one run would otherwise
 * train side by side and write the same files).
 *
 * Every collective below must be called by every rank, in the same order:
 * the trainer's control flow is the same on every rank (its decisions to
 * stop go through vkl_dist_any first). Each waits at most the timeout
 * given at create: a rank that stopped calling (it died, or failed) makes
 * the others return VKL_ERR_TIMEOUT instead of hanging. MPI's own errors
 * come back as statuses (MPI_ERRORS_RETURN), with MPI's text in errmsg.
 *
 * Sums keep a fixed order: the operation is declared non-commutative, so
 * MPI combines the ranks' values in rank order (it may group them as a
 * tree, but never reorders them), and the result every rank receives is
 * the same, bit for bit, on every run. A commutative sum would let the
 * library pick an order by message size or topology. */
#ifndef VKLARS_DIST_DIST_H
#define VKLARS_DIST_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "vklars/status.h"

typedef struct vkl_dist vkl_dist;

/* Summations in flight at once (vkl_dist_sum_f32_start). */
#define VKL_DIST_MAX_PENDING 64
/* The timeout when create gets 0: long enough for a peer's evaluation or
 * checkpoint write, short enough that a dead peer is noticed. */
#define VKL_DIST_TIMEOUT_DEFAULT_S 300.0

/* Whether this process was started by an MPI launcher (its environment
 * names a world of more than one process). */
int vkl_dist_launched(void);

/* The communicator of this process. argc/argv may be NULL. timeout_s: how
 * long a collective waits for the others (0: the default). With MPI,
 * initialises it (MPI_THREAD_FUNNELED: only the calling thread talks). */
vkl_status vkl_dist_create(int *argc, char ***argv, double timeout_s, vkl_dist **out, char *err,
                           size_t errlen);
/* Finalises MPI where create initialised it; NULL is a no-op. */
void vkl_dist_destroy(vkl_dist *d);
/* Ends every rank of the run at once with exit code `code` (MPI_Abort);
 * returns only in a communicator of one. For the CLI's error path: a rank
 * that fails must not leave the others waiting. */
void vkl_dist_abort(vkl_dist *d, int code);

uint32_t vkl_dist_rank(const vkl_dist *d);       /* 0 .. size-1; 0 for NULL */
uint32_t vkl_dist_size(const vkl_dist *d);       /* N; 1 for NULL */
uint32_t vkl_dist_local_rank(const vkl_dist *d); /* among the ranks of this node */
/* "Open MPI 4.1.4", "MPICH 4.0.2", or "none" */
const char *vkl_dist_library(const vkl_dist *d);
const char *vkl_dist_errmsg(const vkl_dist *d);

/* Starts summing buf (n floats) across the ranks in place; *handle names
 * it for vkl_dist_finish. At most VKL_DIST_MAX_PENDING at once; buf must
 * stay untouched until finished. */
vkl_status vkl_dist_sum_f32_start(vkl_dist *d, float *buf, uint64_t n, uint32_t *handle);
/* Waits (at most the timeout) for that summation. After VKL_ERR_TIMEOUT
 * it is still in flight, and may be finished again. */
vkl_status vkl_dist_finish(vkl_dist *d, uint32_t handle);
/* Lets the summations in flight progress (MPI moves a non-blocking
 * collective only inside its calls); for a caller waiting on something
 * else meanwhile. */
vkl_status vkl_dist_progress(vkl_dist *d);
/* The pause between two polls of a wait on other ranks (or on work they
 * wait for): a yield for the first thousand polls, then 50 us asleep, so a
 * long wait leaves the cores to the device (lavapipe: the CPU) and the
 * loader while a short one stays quick. */
void vkl_dist_pause(uint32_t polls);
/* Blocking sums, in place. */
vkl_status vkl_dist_sum_f32(vkl_dist *d, float *buf, uint64_t n);
vkl_status vkl_dist_sum_f64(vkl_dist *d, double *buf, uint64_t n);
/* *any = whether flag is non-zero on some rank. */
vkl_status vkl_dist_any(vkl_dist *d, int flag, int *any);
/* *first_rank = the lowest rank whose value differs from rank 0's, or
 * UINT32_MAX where all agree. */
vkl_status vkl_dist_agree_u64(vkl_dist *d, uint64_t value, uint32_t *first_rank);
/* *first_rank = the lowest rank with failed != 0, or UINT32_MAX. */
vkl_status vkl_dist_first_failed(vkl_dist *d, int failed, uint32_t *first_rank);

#endif
