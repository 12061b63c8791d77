/* Data-parallel training as users launch it: `mpiexec -n 2 vklars train`
 * on lavapipe (both ranks share the one device). Two ranks end where one
 * process with the same batch and micro-batch ends, to 1e-6 in every
 * tensor; a run interrupted and resumed across two ranks ends bit-identical
 * to one never interrupted; a rank killed mid-run ends the run within 30 s
 * with its last checkpoint intact; a batch that does not split over the
 * ranks is a usage error. (That every rank holds the same bits is checked
 * by the run itself at every checkpoint; tests/mpi/dist_check.c proves the
 * collectives behind it.) Built only with MPI (VKLARS_WITH_MPI). */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_ckpt_state.h"
#include "test_proc.h"

/* 1024 images: 16 steps an epoch at B = 64 */
#define TINY "--data synthetic --synthetic-images 1024 --image-size 1x8x8 --threads 1 --seed 5"

/* Starts `<mpiexec> -n <ranks> vklars <args>` (its own process group),
 * output to log; ranks 0: vklars alone. */
static const char *spawn_env = ""; /* variables for the next spawn ("A=1 B=2") */

static pid_t spawn_ranks(int ranks, const char *args, const char *log) {
  char cmd[4096];
  if (ranks)
    snprintf(cmd, sizeof cmd, "%s exec %s -n %d %s '%s' %s >'%s' 2>&1", spawn_env, VKLARS_MPIEXEC,
             ranks, VKLARS_MPIEXEC_FLAGS, VKLARS_EXE, args, log);
  else
    snprintf(cmd, sizeof cmd, "exec '%s' %s >'%s' 2>&1", VKLARS_EXE, args, log);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  return pid;
}

/* Runs to the end; the exit code (a signal is -signal), the output in out. */
static int run_ranks(int ranks, const char *args, char *out, size_t n) {
  char log[] = "/tmp/vklars-mpi-log-XXXXXX";
  int fd = mkstemp(log);
  cr_assert(fd >= 0);
  close(fd);
  int status;
  pid_t pid = spawn_ranks(ranks, args, log);
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  proc_slurp(log, out, n);
  unlink(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

/* ||a - b|| / ||b|| over one tensor (0 when both are 0). */
static double rel_l2(const float *a, const float *b, uint64_t n) {
  double d = 0, r = 0;
  for (uint64_t i = 0; i < n; i++) {
    d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    r += (double)b[i] * b[i];
  }
  return r > 0 ? sqrt(d / r) : sqrt(d);
}

/* Every tensor of the two checkpoints (weights, running statistics and
 * the optimizer's moments) agrees to rel; the worst ratio. */
static double assert_states_close(const char *a, const char *b, double rel,
                                  const uint32_t *projector, uint32_t layers) {
  vkl_model *ma, *mb;
  vkl_checkpoint_state sa = load_all_projected(a, &ma, projector, layers),
                       sb = load_all_projected(b, &mb, projector, layers);
  double worst = 0;
  for (uint32_t i = 0; i < ma->param_count; i++) {
    const nn_tensor *p = &ma->params[i];
    for (int k = 0; k < 3; k++) {
      const float *x = k == 0 ? sa.params : sa.moments[k - 1];
      const float *y = k == 0 ? sb.params : sb.moments[k - 1];
      if (!x) continue;
      double r = rel_l2(x + p->offset, y + p->offset, p->count);
      if (r > worst) worst = r;
      cr_assert(r <= rel, "%s (%s): relative difference %g", p->name,
                k == 0 ? "weight" : sa.moment_names[k - 1], r);
    }
  }
  for (uint32_t i = 0; i < ma->buffer_count; i++) {
    const nn_tensor *t = &ma->buffers[i];
    double r = rel_l2(sa.buffers + t->offset, sb.buffers + t->offset, t->count);
    if (r > worst) worst = r;
    cr_assert(r <= rel, "%s: relative difference %g", t->name, r);
  }
  free_state(&sa, ma);
  free_state(&sb, mb);
  return worst;
}

/* Runs `args --out one` as one process and `args --out two` on 2 ranks,
 * each to a successful end. */
static void run_one_and_two(const char *args, const char *one, const char *two) {
  char cmd[1024], text[1 << 15];
  snprintf(cmd, sizeof cmd, "%s --out %s", args, one);
  cr_assert_eq(run_ranks(0, cmd, text, sizeof text), 0, "%s: %s", cmd, text);
  snprintf(cmd, sizeof cmd, "%s --out %s", args, two);
  cr_assert_eq(run_ranks(2, cmd, text, sizeof text), 0, "%s: %s", cmd, text);
}

Test(mpi, two_ranks_equal_one_process_mlp_cnn_lars_lamb, .timeout = 600) {
  /* the last two in 1 KiB buckets: the last micro-batch's backward in many
   * segments, each bucket summed while the next computes */
  static const char *const runs[][3] = {
      {"--model mlp --width 16", "--opt lars --lr 0.5 --schedule constant", ""},
      {"--model mlp --width 16", "--opt lamb --lr 0.01 --schedule constant", ""},
      {"--model cnn --width 4", "--opt lars --lr 0.5 --schedule constant", ""},
      {"--model cnn --width 4", "--opt lamb --lr 0.01 --schedule constant", ""},
      {"--model cnn --width 4", "--opt lars --lr 0.5 --schedule constant",
       "VKLARS_ALLREDUCE_BUCKET_MIB=0.001"},
      {"--model mlp --width 16", "--opt lamb --lr 0.01 --schedule constant",
       "VKLARS_ALLREDUCE_BUCKET_MIB=0.001"}};
  char text[1 << 15];
  for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
    char *one = proc_temp_dir("mpi1"), *two = proc_temp_dir("mpi2"), args[1024];
    /* 6 steps of B = 64 from micro-batches of 16: 4 on one process, 2 a rank */
    snprintf(args, sizeof args,
             "train " TINY
             " %s %s --batch 64 --micro-batch 16 --max-steps 6 "
             "--eval-every never --force --out %s",
             runs[i][0], runs[i][1], one);
    int rc = run_ranks(0, args, text, sizeof text);
    cr_assert_eq(rc, 0, "%s: %s", args, text);
    snprintf(args, sizeof args,
             "train " TINY
             " %s %s --batch 64 --micro-batch 16 --max-steps 6 "
             "--eval-every never --force --out %s",
             runs[i][0], runs[i][1], two);
    spawn_env = runs[i][2];
    rc = run_ranks(2, args, text, sizeof text);
    spawn_env = "";
    cr_assert_eq(rc, 0, "%s: %s", args, text);
    cr_assert(strstr(text, "2 ranks x 2 micro-batches of 16"), "%s", text);
    if (runs[i][2][0]) /* many buckets */
      cr_assert(!strstr(text, " in 1 bucket;"), "%s", text);
    cr_assert(strstr(text, "vklars: all-reduce:"), "%s", text);
    char a[600], b[600];
    vkl_checkpoint_path(one, 6, a, sizeof a);
    vkl_checkpoint_path(two, 6, b, sizeof b);
    double worst = assert_states_close(b, a, 1e-6, NULL, 0);
    cr_log_info("%s %s %s: worst relative difference %g", runs[i][0], runs[i][1], runs[i][2],
                worst);
    /* only rank 0 wrote, and the logs hold each step once */
    snprintf(a, sizeof a, "%s/steps.csv", two);
    proc_assert_every_step_once(a, 5);
    snprintf(a, sizeof a, "%s/run.json", two);
    proc_slurp(a, text, sizeof text);
    cr_assert(strstr(text, "\"ranks\":\t2"), "run.json: %s", text);
    free(one);
    free(two);
  }
}

/* 2048 images at B = 32 (m = 8, 2 a rank): 64 steps an epoch of ~10 ms */
#define SMALL                                                                            \
  "--data synthetic --synthetic-images 2048 --image-size 1x12x12 --model cnn --width 4 " \
  "--batch 32 --micro-batch 8 --opt lars --threads 1 --seed 3"

Test(mpi, two_ranks_interrupted_and_resumed_end_bit_identical, .timeout = 600) {
  char *straight = proc_temp_dir("mpis"), *cut = proc_temp_dir("mpic"), args[1024], log[600];
  char text[1 << 15];
  /* 6 epochs (~2 s): the launcher takes a while to pass the signal on */
  snprintf(args, sizeof args, "train " SMALL " --epochs 6 --out %s --force", straight);
  cr_assert_eq(run_ranks(2, args, text, sizeof text), 0, "%s", text);

  snprintf(log, sizeof log, "%s.log", cut);
  snprintf(args, sizeof args, "train " SMALL " --epochs 6 --out %s --force", cut);
  pid_t pid = spawn_ranks(2, args, log);
  proc_wait_for_steps(cut, 40); /* mid-way through the first epoch's 64 */
  kill(pid, SIGTERM);           /* to the launcher, which passes it on */
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  proc_slurp(log, text, sizeof text);
  cr_assert(strstr(text, "interrupted at step") && strstr(text, "vklars train --resume"), "%s",
            text);
  cr_assert(!strstr(text, "rank 1 of 2: "), "rank 1 reported an error: %s", text);

  snprintf(args, sizeof args, "train --resume %s", cut);
  int rc = run_ranks(2, args, text, sizeof text);
  cr_assert_eq(rc, 0, "%s", text);
  cr_assert(strstr(text, "resuming from"), "%s", text);
  char a[600], b[600];
  vkl_checkpoint_path(straight, 384, a, sizeof a);
  vkl_checkpoint_path(cut, 384, b, sizeof b);
  assert_states_identical(a, b);
  free(straight);
  free(cut);
}

/* The pid of a rank of the run writing out (argv[0] is vklars and its
 * arguments name out), or 0. */
static pid_t find_rank(const char *out) {
  DIR *d = opendir("/proc");
  cr_assert(d);
  pid_t found = 0;
  for (struct dirent *e; !found && (e = readdir(d));) {
    char path[300], cmd[4096];
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    cmd[n] = '\0';
    if (strcmp(cmd, VKLARS_EXE) != 0) continue; /* argv[0], up to its NUL */
    for (size_t i = 0; i < n; i++)
      if (cmd[i] == '\0') cmd[i] = ' ';
    if (strstr(cmd, out)) found = (pid_t)atoi(e->d_name);
  }
  closedir(d);
  return found;
}

Test(mpi, a_killed_rank_ends_the_run_within_30_s_with_its_checkpoint, .timeout = 600) {
  char *dir = proc_temp_dir("mpik"), args[1024], log[600], text[1 << 15];
  snprintf(log, sizeof log, "%s.log", dir);
  snprintf(args, sizeof args, "train " SMALL " --epochs 50 --save-every 10 --out %s --force", dir);
  pid_t pid = spawn_ranks(2, args, log);
  proc_wait_for_steps(dir, 35); /* past three checkpoints */
  pid_t rank = find_rank(dir);
  cr_assert(rank > 0, "no rank of the run found");
  double t0 = proc_now();
  kill(rank, SIGKILL);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  double waited = proc_now() - t0;
  proc_slurp(log, text, sizeof text);
  cr_assert(!(WIFEXITED(status) && WEXITSTATUS(status) == 0), "the launcher exited 0: %s", text);
  cr_assert(waited < 30, "the run took %.1f s to end after a rank died", waited);
  cr_log_info("the run ended %.2f s after a rank was killed", waited);
  snprintf(args, sizeof args, "inspect %s", dir);
  int rc = run_ranks(0, args, text, sizeof text);
  cr_assert_eq(rc, 0, "the last checkpoint does not load: %s", text);
  cr_assert(strstr(text, "integrity: ok"), "%s", text);
  free(dir);
}

Test(mpi, a_batch_that_does_not_split_over_the_ranks_is_a_usage_error, .timeout = 120) {
  char *dir = proc_temp_dir("mpiu"), args[1024], text[1 << 15];
  snprintf(args, sizeof args, "train " TINY " --model mlp --batch 48 --micro-batch 16 --out %s",
           dir);
  int rc = run_ranks(2, args, text, sizeof text);
  cr_assert_eq(rc, 2, "exit %d: %s", rc, text);
  const char *msg = strstr(text, "must be a multiple of 32 (ranks x micro-batch)");
  cr_assert(msg, "%s", text);
  cr_assert(!strstr(msg + 1, "must be a multiple of 32"), "said more than once: %s", text);
  cr_assert(strstr(text, "batch 48 over 2 ranks is 24 samples a rank"), "%s", text);
  free(dir);
}

/* The losses of steps.csv (step,epoch,loss,...), up to max; how many. */
static size_t read_losses(const char *dir, double *loss, size_t max) {
  char path[600], line[1024];
  snprintf(path, sizeof path, "%s/steps.csv", dir);
  FILE *f = fopen(path, "r");
  cr_assert(f, "%s missing", path);
  size_t n = 0;
  for (int first = 1; fgets(line, sizeof line, f); first = 0) {
    const char *c = strchr(line, ',');
    c = c ? strchr(c + 1, ',') : NULL;
    if (first || !c || n == max) continue;
    loss[n++] = atof(c + 1);
  }
  fclose(f);
  return n;
}

/* Barlow Twins across two ranks: the statistics pass's sums are exchanged
 * between the passes, so each step's loss is the whole batch's (to the
 * digits steps.csv keeps) and the state follows one process's. The
 * tolerance is wider than classification's: C = X / (n s1 s2^T) goes
 * through fp32 by two routes (one device merge, or two merges and a sum in
 * double), and G = 2 (C_ii - 1) amplifies the last bits of C_ii ~ 1. */
Test(mpi, two_ranks_pretrain_equals_one_process, .timeout = 600) {
  char *one = proc_temp_dir("mpip1"), *two = proc_temp_dir("mpip2");
  const char *p = "pretrain " TINY
                  " --model cnn --width 4 --projector 16-16 --knn 0 --batch 64 "
                  "--micro-batch 16 --max-steps 4 --opt lars --lr 0.5 --schedule constant "
                  "--eval-every never --force";
  run_one_and_two(p, one, two);
  double la[8], lb[8];
  size_t na = read_losses(one, la, 8), nb = read_losses(two, lb, 8);
  cr_assert(na == 4 && nb == 4, "%zu and %zu steps logged", na, nb);
  for (size_t i = 0; i < na; i++)
    cr_assert_leq(fabs(la[i] - lb[i]), 1e-6 * fabs(la[i]), "step %zu's loss: %.9g vs %.9g", i,
                  lb[i], la[i]);
  char a[600], b[600];
  vkl_checkpoint_path(one, 4, a, sizeof a);
  vkl_checkpoint_path(two, 4, b, sizeof b);
  const uint32_t projector[2] = {16, 16};
  double worst = assert_states_close(b, a, 2e-5, projector, 2);
  cr_log_info("pretrain: worst relative difference %g", worst);
  free(one);
  free(two);
}

/* Ranks whose runs would differ (here their data: MPMD launch, one
 * argument list per rank) stop before the first step with one message,
 * instead of collectives that never match. */
Test(mpi, ranks_with_different_data_stop_at_once_with_one_message, .timeout = 120) {
  char *dir = proc_temp_dir("mpid"), cmd[4096], log[600], text[1 << 15];
  snprintf(log, sizeof log, "%s.log", dir);
  const char *run =
      "train --data synthetic --image-size 1x8x8 --model mlp --batch 32 "
      "--micro-batch 16 --threads 1 --epochs 1";
  snprintf(cmd, sizeof cmd,
           "exec %s %s -n 1 '%s' %s --synthetic-images 1024 --out %s : -n 1 '%s' %s "
           "--synthetic-images 2048 --out %s >'%s' 2>&1",
           VKLARS_MPIEXEC, VKLARS_MPIEXEC_FLAGS, VKLARS_EXE, run, dir, VKLARS_EXE, run, dir, log);
  double t0 = proc_now();
  int rc = system(cmd);
  proc_slurp(log, text, sizeof text);
  cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "status %d: %s", rc, text);
  cr_assert_lt(proc_now() - t0, 60, "took %.0f s", proc_now() - t0);
  const char *msg = strstr(text, "rank 1's run differs from rank 0's");
  cr_assert(msg, "%s", text);
  cr_assert(!strstr(msg + 1, "rank 1's run differs"), "said more than once: %s", text);
  cr_assert(strstr(text, "steps an epoch"), "%s", text);
  free(dir);
}

/* Field `col` (0-based) of the last row of dir/epochs.csv. */
static double last_epoch_field(const char *dir, int col) {
  char path[600], line[1024], last[1024] = "";
  snprintf(path, sizeof path, "%s/epochs.csv", dir);
  FILE *f = fopen(path, "r");
  cr_assert(f, "%s missing", path);
  while (fgets(line, sizeof line, f)) memcpy(last, line, sizeof last);
  fclose(f);
  const char *c = last;
  for (int i = 0; i < col && c; i++) c = strchr(c, ',') ? strchr(c, ',') + 1 : NULL;
  cr_assert(c, "%s: no field %d in %s", path, col, last);
  return atof(c);
}

/* The ranks split the test split's batches between them (an odd count:
 * 1000 images in 63 batches of 16, the last one partial) and sum the
 * counts: the same images, loss and accuracy as one process. */
Test(mpi, two_ranks_evaluate_the_test_split_together, .timeout = 300) {
  char *one = proc_temp_dir("mpie1"), *two = proc_temp_dir("mpie2");
  const char *run =
      "train --data synthetic --synthetic-images 1000 --image-size 1x8x8 --threads 1 "
      "--model cnn --width 4 --batch 64 --micro-batch 16 --epochs 1 --opt lars "
      "--lr 0.5 --schedule constant --force";
  run_one_and_two(run, one, two);
  /* epochs.csv: ..., test_loss (3), test_top1 (4), test_top5 (5), test_images (6) */
  double images = last_epoch_field(one, 6);
  cr_assert_gt(images, 0);
  cr_assert_eq(last_epoch_field(two, 6), images, "test images: %g vs %g", last_epoch_field(two, 6),
               images);
  for (int col = 4; col <= 5; col++) /* a prediction may flip on a near tie: one image */
    cr_assert_leq(fabs(last_epoch_field(two, col) - last_epoch_field(one, col)), 1.0 / images,
                  "column %d: %g vs %g", col, last_epoch_field(two, col),
                  last_epoch_field(one, col));
  double l1 = last_epoch_field(one, 3), l2 = last_epoch_field(two, 3);
  cr_assert_leq(fabs(l1 - l2), 1e-5 * fabs(l1), "test loss %.9g vs %.9g", l2, l1);
  free(one);
  free(two);
}
