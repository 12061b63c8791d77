/* What a sweep knows of one of its runs: the state the sweep recorded in
 * the run directory (sweep-status.json: done or failed, with the exit code
 * and the error; absent: not finished yet) and, for a finished run, its
 * results from the run's own files (epochs.csv, steps.csv, run.json). */
#ifndef VKLARS_SWEEP_RUN_SUMMARY_H
#define VKLARS_SWEEP_RUN_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "vklars/status.h"

#define VKL_SWEEP_STATUS_FILE "sweep-status.json"

typedef enum vkl_sweep_state {
  VKL_SWEEP_PENDING, /* not started, or cut off: it resumes */
  VKL_SWEEP_DONE,
  VKL_SWEEP_FAILED, /* recorded with its error; the sweep went on */
} vkl_sweep_state;

typedef struct vkl_run_summary {
  vkl_sweep_state state;
  int exit_code;
  char error[512];
  int have_results; /* done, and epochs.csv has an epoch */
  double final_top1, final_top5, best_top1, best_top5; /* fractions */
  uint32_t best_epoch;   /* 1-based epoch of best_top1 */
  uint32_t target_epoch; /* 1-based first epoch at or above the target; 0: never */
  uint32_t epochs;
  uint64_t steps;
  double wall_s;       /* the epochs' wall time, summed */
  double images_per_s; /* the median epoch's training throughput */
  char device[128];
} vkl_run_summary;

const char *vkl_sweep_state_name(vkl_sweep_state s); /* "pending", "done", "failed" */

/* Records a finished attempt (done or failed) in run_dir, whole or not at
 * all. */
vkl_status vkl_sweep_status_write(const char *run_dir, vkl_sweep_state state, int exit_code,
                                  const char *error, char *err, size_t errlen);
/* Reads run_dir's state and, when it is done, its results; target <= 0:
 * no target epoch. A missing directory is a pending run; a done run whose
 * logs are missing or malformed is an error naming the file and line. */
vkl_status vkl_run_summary_read(const char *run_dir, double target, vkl_run_summary *out,
                                char *err, size_t errlen);

#endif
