/* `vklars sweep` end to end on tiny synthetic runs: the run directories and
 * results.csv, a sweep killed and restarted, a failing run recorded, Ctrl-C,
 * parallel slots and the grid's usage errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "report/csv.h"
#include "sweep/run_summary.h"
#include "test_proc.h"

/* Tiny runs: an mlp on 8x8 synthetic images, 16 steps an epoch. */
#define TINY_GRID                                                                  \
  "[grid]\ndata = synthetic\nsynthetic-images = 512\nimage-size = 1x8x8\nmodel = mlp\n" \
  "width = 16\nthreads = 1\nbatch = 32\nmicro-batch = 32\nschedule = none\n"

static char *write_grid(const char *dir, const char *text) {
  char *path = malloc(600);
  cr_assert(path);
  snprintf(path, 600, "%s/grid.ini", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static vkl_csv *read_results(const char *out) {
  char path[700], err[1200];
  snprintf(path, sizeof path, "%s/results.csv", out);
  vkl_csv *csv;
  cr_assert_eq(vkl_csv_read(path, &csv, err, sizeof err), VKL_OK, "%s", err);
  return csv;
}

static const char *cell(const vkl_csv *csv, size_t row, const char *col) {
  int c = vkl_csv_col(csv, col);
  cr_assert(c >= 0, "results.csv has no column %s", col);
  return vkl_csv_cell(csv, row, (size_t)c);
}

/* The row of results.csv whose run is name. */
static size_t row_of(const vkl_csv *csv, const char *name) {
  for (size_t r = 0; r < vkl_csv_rows(csv); r++)
    if (strcmp(cell(csv, r, "run"), name) == 0) return r;
  cr_assert_fail("results.csv has no run %s", name);
  return 0;
}

/* The last epoch's test top-1 and the best one, from the run's own log. */
static void epochs_top1(const char *run_dir, double *final, double *best) {
  char path[1000], err[1200];
  snprintf(path, sizeof path, "%s/epochs.csv", run_dir);
  vkl_csv *csv;
  cr_assert_eq(vkl_csv_read(path, &csv, err, sizeof err), VKL_OK, "%s", err);
  int c = vkl_csv_col(csv, "test_top1");
  *best = -1;
  for (size_t r = 0; r < vkl_csv_rows(csv); r++) {
    *final = atof(vkl_csv_cell(csv, r, (size_t)c));
    if (*final > *best) *best = *final;
  }
  vkl_csv_free(csv);
}

static long count_in_file(const char *path, const char *needle) {
  char *text = malloc(1 << 20);
  cr_assert(text);
  proc_slurp(path, text, 1 << 20);
  long n = 0;
  for (const char *p = text; (p = strstr(p, needle)); p++) n++;
  free(text);
  return n;
}

Test(sweep, grid_of_four_writes_four_runs_and_their_results) {
  char *dir = proc_temp_dir("sweep"), args[2048], out[700], *text = malloc(1 << 16);
  char *grid = write_grid(dir, "[sweep]\ntarget = 0.05\n" TINY_GRID
                               "epochs = 2\nopt = lars, sgd\nlr = 0.05, 0.1\n");
  snprintf(out, sizeof out, "%s/sw", dir);
  snprintf(args, sizeof args, "sweep %s --out %s", grid, out);
  int rc = proc_run(args, text, 1 << 16);
  cr_assert_eq(rc, 0, "%s", text);
  vkl_csv *csv = read_results(out);
  cr_assert_eq(vkl_csv_rows(csv), 4);
  const char *names[4] = {"opt-lars_lr-0.05", "opt-lars_lr-0.1", "opt-sgd_lr-0.05", "opt-sgd_lr-0.1"};
  for (int i = 0; i < 4; i++) {
    char run_dir[800];
    snprintf(run_dir, sizeof run_dir, "%s/runs/%s", out, names[i]);
    struct stat sb;
    cr_assert_eq(stat(run_dir, &sb), 0, "%s missing", run_dir);
    size_t r = row_of(csv, names[i]);
    cr_assert_eq(r, (size_t)i, "rows follow the grid's order");
    cr_assert_str_eq(cell(csv, r, "status"), "done");
    cr_assert_str_eq(cell(csv, r, "opt"), i < 2 ? "lars" : "sgd");
    cr_assert_str_eq(cell(csv, r, "lr"), i % 2 ? "0.1" : "0.05");
    cr_assert_str_eq(cell(csv, r, "epochs"), "2"); /* a setting, not the metric */
    cr_assert_str_eq(cell(csv, r, "epochs_done"), "2");
    cr_assert_str_eq(cell(csv, r, "steps_done"), "32");
    double final, best;
    epochs_top1(run_dir, &final, &best);
    cr_assert_float_eq(atof(cell(csv, r, "final_top1")), final, 1e-5);
    cr_assert_float_eq(atof(cell(csv, r, "best_top1")), best, 1e-5);
    cr_assert(atof(cell(csv, r, "wall_s")) > 0);
    cr_assert(strstr(cell(csv, r, "device"), "llvmpipe") || strlen(cell(csv, r, "device")) > 0);
    const char *target = cell(csv, r, "target_epoch");
    cr_assert(best >= 0.05 ? strcmp(target, "") != 0 : strcmp(target, "") == 0,
              "target epoch '%s' for best %g", target, best);
  }
  vkl_csv_free(csv);
  char md[800];
  snprintf(md, sizeof md, "%s/results.md", out);
  cr_assert_eq(count_in_file(md, "| opt=lars |"), 1);
  cr_assert_eq(count_in_file(md, "| opt=sgd |"), 1);
  /* vklars report reads what the sweep wrote */
  snprintf(args, sizeof args, "report %s", out);
  rc = proc_run(args, text, 1 << 16);
  cr_assert_eq(rc, 0, "%s", text);
  char html[800];
  snprintf(html, sizeof html, "%s/report/report.html", out);
  cr_assert_eq(count_in_file(html, "acc_vs_batch.png"), 1, "%s", text);
  cr_assert(count_in_file(html, "opt-sgd_lr-0.1") >= 1);
  free(grid);
  free(text);
  free(dir);
}

Test(sweep, killed_after_its_first_run_skips_it_when_restarted) {
  char *dir = proc_temp_dir("sweep"), args[2048], out[700], log[800], status[900];
  char *text = malloc(1 << 16);
  char *grid = write_grid(dir, TINY_GRID "epochs = 30\nopt = sgd\nlr = 0.05, 0.1\n");
  snprintf(out, sizeof out, "%s/sw", dir);
  snprintf(log, sizeof log, "%s/sweep1.log", dir);
  snprintf(args, sizeof args, "sweep %s --out %s", grid, out);
  pid_t pid = proc_spawn(args, log, 0);
  snprintf(status, sizeof status, "%s/runs/lr-0.05/" VKL_SWEEP_STATUS_FILE, out);
  struct stat sb;
  double t0 = proc_now();
  while (stat(status, &sb) != 0) {
    cr_assert(proc_now() - t0 < 120, "the first run never finished");
    proc_sleep(0.01);
  }
  kill(pid, SIGKILL); /* the second run gets SIGTERM from the kernel and checkpoints */
  int st;
  waitpid(pid, &st, 0);
  cr_assert(WIFSIGNALED(st));

  int rc = proc_run(args, text, 1 << 16);
  cr_assert_eq(rc, 0, "%s", text);
  cr_assert(strstr(text, "1 runs done and 0 failed before; 1 to run"), "%s", text);
  char first_log[900];
  snprintf(first_log, sizeof first_log, "%s/runs/lr-0.05/sweep.log", out);
  cr_assert_eq(count_in_file(first_log, "== vklars sweep"), 1, "the first run ran again");
  vkl_csv *csv = read_results(out);
  cr_assert_eq(vkl_csv_rows(csv), 2);
  for (size_t r = 0; r < 2; r++) {
    cr_assert_str_eq(cell(csv, r, "status"), "done");
    cr_assert_str_eq(cell(csv, r, "epochs_done"), "30");
  }
  vkl_csv_free(csv);
  /* a third start has nothing to do */
  rc = proc_run(args, text, 1 << 16);
  cr_assert_eq(rc, 0, "%s", text);
  cr_assert(strstr(text, "2 runs done and 0 failed before; 0 to run"), "%s", text);
  free(grid);
  free(text);
  free(dir);
}

Test(sweep, failing_run_is_recorded_and_the_sweep_goes_on) {
  char *dir = proc_temp_dir("sweep"), args[2048], out[700], *text = malloc(1 << 16);
  /* micro-batch 32 does not divide batch 48: that run cannot start */
  char *grid = write_grid(dir,
                          "[grid]\ndata = synthetic\nsynthetic-images = 512\nimage-size = 1x8x8\n"
                          "model = mlp\nwidth = 16\nthreads = 1\nmicro-batch = 32\nopt = sgd\n"
                          "lr = 0.1\nepochs = 1\nbatch = 48, 32\n");
  snprintf(out, sizeof out, "%s/sw", dir);
  snprintf(args, sizeof args, "sweep %s --out %s", grid, out);
  int rc = proc_run(args, text, 1 << 16);
  cr_assert_eq(rc, 1, "a failed run makes the exit status 1: %s", text);
  cr_assert(strstr(text, "batch-48: failed (exit 2)"), "%s", text);
  cr_assert(strstr(text, "batch-32: done"), "the sweep went on: %s", text);
  vkl_csv *csv = read_results(out);
  size_t bad = row_of(csv, "batch-48"), good = row_of(csv, "batch-32");
  cr_assert_str_eq(cell(csv, bad, "status"), "failed");
  cr_assert(strstr(cell(csv, bad, "error"), "does not divide"), "%s", cell(csv, bad, "error"));
  cr_assert_str_eq(cell(csv, bad, "final_top1"), "");
  cr_assert_str_eq(cell(csv, good, "status"), "done");
  vkl_csv_free(csv);
  /* a restart leaves it failed; --retry-failed runs it again (and it fails again) */
  rc = proc_run(args, text, 1 << 16);
  cr_assert_eq(rc, 0, "%s", text);
  cr_assert(strstr(text, "1 runs done and 1 failed before; 0 to run"), "%s", text);
  snprintf(args, sizeof args, "sweep %s --out %s --retry-failed", grid, out);
  rc = proc_run(args, text, 1 << 16);
  cr_assert_eq(rc, 1, "%s", text);
  cr_assert(strstr(text, "batch-48: failed"), "%s", text);
  free(grid);
  free(text);
  free(dir);
}

Test(sweep, sigint_stops_every_run_with_a_checkpoint_and_says_how_to_continue) {
  char *dir = proc_temp_dir("sweep"), args[2048], out[300], log[800], *text = malloc(1 << 16);
  char *grid = write_grid(dir, TINY_GRID "epochs = 400\nopt = sgd\nlr = 0.05, 0.1\n");
  snprintf(out, sizeof out, "%s/sw", dir);
  snprintf(log, sizeof log, "%s/sweep1.log", dir);
  snprintf(args, sizeof args, "sweep %s --out %s --devices 0,0", grid, out);
  setenv("VKLARS_SWEEP_HEARTBEAT", "0.3", 1); /* a running run's progress, shown */
  pid_t pid = proc_spawn(args, log, 0);
  unsetenv("VKLARS_SWEEP_HEARTBEAT");
  char run_dir[400];
  snprintf(run_dir, sizeof run_dir, "%s/runs/lr-0.1", out);
  proc_wait_for_steps(run_dir, 20); /* both runs are going: two slots */
  proc_sleep(1.0);                   /* long enough for a heartbeat */
  kill(-pid, SIGINT);               /* the terminal's Ctrl-C reaches the whole group */
  int rc = proc_wait(pid, "sweep");
  proc_slurp(log, text, 1 << 16);
  cr_assert_eq(rc, 130, "%s", text);
  cr_assert(strstr(text, "sweep stopped by SIGINT; continue with: vklars sweep"), "%s", text);
  cr_assert(strstr(text, "sweep: run 2/2 lr-0.1 (0:00:0") && strstr(text, "): epoch "),
            "no heartbeat with the run's progress: %s", text);
  cr_assert_eq(strstr(text, "failed") != NULL, 0, "%s", text);
  vkl_csv *csv = read_results(out);
  for (size_t r = 0; r < 2; r++) cr_assert_str_eq(cell(csv, r, "status"), "pending");
  vkl_csv_free(csv);
  char ckpt[900];
  snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", run_dir);
  struct stat sb;
  cr_assert_eq(lstat(ckpt, &sb), 0, "no checkpoint at the stop");
  free(grid);
  free(text);
  free(dir);
}

Test(sweep, grid_errors_name_the_file_and_line) {
  char *dir = proc_temp_dir("sweep"), args[2048], *text = malloc(1 << 16);
  char *grid = write_grid(dir, "opt = sgd\nwarp = 9\n");
  snprintf(args, sizeof args, "sweep %s --out %s/sw", grid, dir);
  cr_assert_eq(proc_run(args, text, 1 << 16), 2);
  cr_assert(strstr(text, "grid.ini:2: key 'warp' is not an option of vklars train"), "%s", text);
  free(grid);
  grid = write_grid(dir, "opt = sgd\nout = x\n");
  cr_assert_eq(proc_run(args, text, 1 << 16), 2);
  cr_assert(strstr(text, "grid.ini:2: key 'out' has no place in a grid"), "%s", text);
  free(grid);
  grid = write_grid(dir, "opt = sgd\nno-augment = maybe\n");
  cr_assert_eq(proc_run(args, text, 1 << 16), 2);
  cr_assert(strstr(text, "grid.ini:2: key 'no-augment' is a flag: true or false"), "%s", text);
  free(grid);
  grid = write_grid(dir, "[sweep]\ncommand = infer\n[grid]\nopt = sgd\n");
  cr_assert_eq(proc_run(args, text, 1 << 16), 2);
  cr_assert(strstr(text, "command is train or pretrain, not 'infer'"), "%s", text);
  free(grid);
  cr_assert_eq(proc_run("sweep --preset nope", text, 1 << 16), 2);
  cr_assert(strstr(text, "no preset 'nope'") && strstr(text, "fmnist-paper"), "%s", text);
  cr_assert_eq(proc_run("sweep --preset fmnist-paper --dry-run --out /tmp/x", text, 1 << 16), 0);
  cr_assert(strstr(text, "cost:") && strstr(text, "--opt tvlars"), "%s", text);
  free(text);
  free(dir);
}

/* A sweep that never sets batch (every run at the default) still gets its
 * report: the curves, and no batch axis to draw. */
Test(sweep, report_of_a_sweep_without_a_batch_key) {
  char *dir = proc_temp_dir("sweep"), args[2048], out[700], *text = malloc(1 << 16);
  char *grid = write_grid(dir,
                          "[grid]\ndata = synthetic\nsynthetic-images = 2048\nimage-size = 1x8x8\n"
                          "model = mlp\nwidth = 8\nthreads = 1\nepochs = 1\nopt = sgd\n"
                          "lr = 0.05, 0.1\n");
  snprintf(out, sizeof out, "%s/sw", dir);
  snprintf(args, sizeof args, "sweep %s --out %s", grid, out);
  cr_assert_eq(proc_run(args, text, 1 << 16), 0, "%s", text);
  snprintf(args, sizeof args, "report %s", out);
  cr_assert_eq(proc_run(args, text, 1 << 16), 0, "%s", text);
  char path[800];
  struct stat sb;
  snprintf(path, sizeof path, "%s/report/curves.png", out);
  cr_assert_eq(stat(path, &sb), 0, "no %s: %s", path, text);
  snprintf(path, sizeof path, "%s/report/acc_vs_batch.png", out);
  cr_assert_neq(stat(path, &sb), 0, "a batch plot with no batch");
  snprintf(path, sizeof path, "%s/report/report.html", out);
  cr_assert_eq(count_in_file(path, "curves.png"), 1);
  free(grid);
  free(text);
  free(dir);
}
