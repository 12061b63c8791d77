/* A sweep's results.csv as runs grouped for its report: each run's batch,
 * lr and best test top-1, its "optimizer line" (the values of every setting
 * column except batch, lr, lambda, seed and micro-batch that varies across
 * the sweep, e.g. "opt=lars schedule=lars-warm"), and the choice of the best
 * setting (lr, lambda) of a line at a batch.
 *
 * results.csv's columns: run,status,<settings...>,final_top1,...; the
 * setting columns are exactly those between status and final_top1. status
 * is done, failed or pending; only done runs count, and their metric cells
 * must be numbers (top-1 a fraction in [0, 1]). */
#ifndef VKLARS_REPORT_SWEEP_RESULTS_H
#define VKLARS_REPORT_SWEEP_RESULTS_H

#include <stddef.h>

#include "report/csv.h"
#include "vklars/status.h"

typedef struct vkl_result_run {
  const char *name; /* the run column: runs/<name>/ holds the run */
  int done;
  size_t line;      /* index into vkl_results.lines */
  double batch, lr; /* 0 for every run when there is no such column */
  double best_top1; /* a fraction; NaN unless done */
  size_t config;    /* the first run with its settings but for the seed: seeds of one
                       setting share it (0 for all: lr alone tells them apart) */
} vkl_result_run;

typedef struct vkl_results {
  vkl_csv *csv;        /* results.csv, for the report's table */
  vkl_result_run *runs; /* one per row, in the file's order */
  size_t nruns;
  char **lines; /* the optimizer lines, in the order first seen */
  size_t nlines;
  double *batches; /* the distinct batch sizes, ascending */
  size_t nbatches;
  int has_batch; /* 0: no batch column, every run at the default (batch 0 here) */
} vkl_results;

/* Reads and checks results.csv; errors name the file and line. */
vkl_status vkl_results_read(const char *path, vkl_results *out, char *err, size_t errlen);
void vkl_results_free(vkl_results *s);

typedef struct vkl_results_pick {
  double lr;             /* the lr whose done runs have the highest mean best_top1 */
  double mean_best_top1; /* that mean over its seeds */
  size_t seeds;          /* the done runs averaged */
  size_t best_run;       /* index into runs: the best of those runs (its curve is drawn) */
} vkl_results_pick;

/* The best setting of optimizer line `line` at batch `batch` among the done
 * runs: the configuration (lr, lambda: what the line leaves free) with the
 * highest mean (over seeds) of best_top1; a tie goes to the smaller lr. Returns 0 with *pick, or -1 when no run there is done. */
int vkl_results_best_lr(const vkl_result_run *runs, size_t nruns, size_t line, double batch,
                      vkl_results_pick *pick);

#endif
