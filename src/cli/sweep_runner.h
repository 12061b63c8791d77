/* Running a sweep's runs as child processes of this vklars: one at a time,
 * or one per device in parallel. Each run's output goes to its directory's
 * sweep.log. A run that ends is recorded in its directory (done, or failed
 * with its error) and the tables are rewritten; a run that was cut off (a
 * stop, a kill, the sweep's own death) is left pending and resumes from its
 * checkpoint the next time. SIGINT or SIGTERM stops every run with a
 * checkpoint and says how to continue. */
#ifndef VKLARS_CLI_SWEEP_RUNNER_H
#define VKLARS_CLI_SWEEP_RUNNER_H

#include <stddef.h>

#include "sweep/grid.h"

#define SWEEP_MAX_DEVICES 16

typedef struct sweep_plan {
  const char *command; /* train or pretrain */
  const char *dir;     /* the sweep directory; runs go to dir/runs/<name> */
  const vkl_sweep_run *runs;
  size_t n;
  const char *devices[SWEEP_MAX_DEVICES]; /* --device of each slot; none: one slot, no --device */
  int ndevices;
  const char *const *flags; /* keys that are flags (true/false), NULL-terminated */
  double target;            /* <= 0: none */
  int retry_failed;
  const char *again; /* the command that continues the sweep, for the messages */
} sweep_plan;

/* The run's directory, dir/runs/<name>. */
void sweep_run_dir(const sweep_plan *p, size_t i, char *out, size_t n);
/* Runs what is left; returns the exit code (0: every run done; 1: some
 * failed or the tables could not be written; 130/143: stopped). */
int sweep_execute(const sweep_plan *p);
/* Rewrites results.csv and results.md from the run directories; 0 or 1
 * after the message. */
int sweep_write_results(const sweep_plan *p);

#endif
