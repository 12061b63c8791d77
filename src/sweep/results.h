/* A sweep's tables, rewritten whole after every run:
 *
 * results.csv, one row per run:
 *   run,status,<settings...>,final_top1,final_top5,best_top1,best_top5,
 *   best_epoch,target_epoch,epochs_done,steps_done,wall_s,images_per_s,device,error
 * The settings are every key the grid sets (seed included), in its order; a
 * run that does not set a key has an empty cell. Top-1 and top-5 are
 * fractions; the metric cells of a run that is not done are empty.
 *
 * results.md, laid out like the paper's tables: one row per optimizer line
 * (the settings other than batch, lr, lambda, seed and micro-batch), one
 * column per batch size, and in each cell the best top-1 over epochs, mean
 * +- std over seeds, of the lr (and lambda) whose mean is highest; then every
 * configuration with its seeds, final top-1 and target epoch. */
#ifndef VKLARS_SWEEP_RESULTS_H
#define VKLARS_SWEEP_RESULTS_H

#include <stddef.h>

#include "sweep/grid.h"
#include "sweep/run_summary.h"
#include "vklars/status.h"

/* A setting that sets the optimizer line apart: not batch, not what is
 * searched for each line and batch (lr, TVLARS lambda), not seed or
 * micro-batch. */
int vkl_sweep_is_line_key(const char *key);

/* Writes dir/results.csv and dir/results.md; target <= 0: no target. */
vkl_status vkl_sweep_results_write(const char *dir, const vkl_sweep_run *runs,
                                   const vkl_run_summary *sum, size_t n, double target, char *err,
                                   size_t errlen);

#endif
