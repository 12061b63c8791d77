/* `vklars train` as a process that gets interrupted: SIGINT and SIGTERM
 * checkpoint and exit 130 and 143, --resume then ends bit-identical to a
 * run never interrupted; a second SIGINT quits at once; and SIGKILL at
 * random moments while checkpoints are written never leaves a newest
 * checkpoint that does not load. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_ckpt_state.h"
#include "test_proc.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "vklars/optim.h"

/* small and quick: 64 steps an epoch of ~10 ms */
#define SMALL_RUN                                                                        \
  "--data synthetic --synthetic-images 2048 --image-size 1x12x12 --model cnn --width 4 " \
  "--batch 32 --micro-batch 8 --opt lars --threads 1 --seed 3"

static char *temp_dir(void) {
  return proc_temp_dir("int");
}

/* Starts `vklars train <args>` (its own process group) with its output in log. */
static pid_t spawn(const char *args, const char *log) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "train %s", args);
  return proc_spawn(cmd, log, 0);
}

static int run_to_end(const char *args, const char *log) {
  return proc_wait(spawn(args, log), args);
}

Test(cli_interrupt, sigint_checkpoints_exits_130_and_resume_is_exact) {
  char *straight = temp_dir(), *cut = temp_dir(), args[1024], log[600], text[1 << 14];
  snprintf(log, sizeof log, "%s.log", straight);
  snprintf(args, sizeof args, SMALL_RUN " --epochs 2 --out %s --force", straight);
  cr_assert_eq(run_to_end(args, log), 0);

  snprintf(log, sizeof log, "%s.log", cut);
  snprintf(args, sizeof args, SMALL_RUN " --epochs 2 --out %s --force", cut);
  pid_t pid = spawn(args, log);
  proc_wait_for_steps(cut, 40); /* mid-way through the first epoch's 64 */
  kill(pid, SIGINT);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  proc_slurp(log, text, sizeof text);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %d: %s", status, text);
  cr_assert(strstr(text, "interrupted at step") && strstr(text, "vklars train --resume"), "%s",
            text);

  snprintf(args, sizeof args, "--resume %s", cut);
  int rc = run_to_end(args, log);
  proc_slurp(log, text, sizeof text);
  cr_assert_eq(rc, 0, "%s", text);
  cr_assert(strstr(text, "resuming from"), "%s", text);

  char a[600], b[600];
  vkl_checkpoint_path(straight, 128, a, sizeof a);
  vkl_checkpoint_path(cut, 128, b, sizeof b);
  assert_states_identical(a, b);
  free(straight);
  free(cut);
}

Test(cli_interrupt, sigterm_exits_143_with_a_checkpoint) {
  char *dir = temp_dir(), args[1024], log[600], text[1 << 14];
  snprintf(log, sizeof log, "%s.log", dir);
  snprintf(args, sizeof args, SMALL_RUN " --epochs 3 --out %s --force", dir);
  pid_t pid = spawn(args, log);
  proc_wait_for_steps(dir, 10);
  kill(pid, SIGTERM);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  proc_slurp(log, text, sizeof text);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 143, "status %d: %s", status, text);
  char link[600];
  snprintf(link, sizeof link, "%s/checkpoint.safetensors", dir);
  vkl_model *m;
  vkl_checkpoint_state s = load_all(link, &m);
  free_state(&s, m);
  free(dir);
}

/* One stop request that arrives as several signals at once (timeout and
 * service managers signal the process and its group; they may land on two
 * threads together) is one request: the run still finishes its step and
 * checkpoints it. Before, the repeat counted as "Ctrl-C again" and the
 * process quit with no checkpoint. */
Test(cli_interrupt, one_stop_sent_twice_is_one_request) {
  for (int round = 0; round < 3; round++) {
    char *dir = temp_dir(), args[1024], log[600], text[1 << 14];
    snprintf(log, sizeof log, "%s.log", dir);
    snprintf(args, sizeof args, SMALL_RUN " --epochs 3 --out %s --force", dir);
    pid_t pid = spawn(args, log);
    proc_wait_for_steps(dir, 10 + 7 * round);
    const double gap[3] = {0.0, 0.05, 0.3}; /* coalesced, or each handled before the next */
    kill(pid, SIGTERM);
    proc_sleep(gap[round]);
    kill(-pid, SIGTERM); /* the group: the same process again */
    proc_sleep(gap[round]);
    kill(pid, SIGTERM);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    proc_slurp(log, text, sizeof text);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 143, "status %d: %s", status, text);
    const char *at = strstr(text, "interrupted at step ");
    cr_assert(at, "round %d: no orderly stop: %s", round, text);
    char ckpt[600];
    vkl_checkpoint_path(dir, strtoull(at + strlen("interrupted at step "), NULL, 10), ckpt,
                        sizeof ckpt);
    vkl_model *m;
    vkl_checkpoint_state st = load_all(ckpt, &m);
    free_state(&st, m);
    free(dir);
  }
}

/* Steps of seconds (resnet18 on lavapipe), so that an orderly stop takes
 * longer than the second within which a repeat is the same request. */
#define SLOW_RUN                                                                              \
  "--data synthetic --synthetic-images 256 --image-size 3x32x32 --model resnet18 --batch 16 " \
  "--micro-batch 16 --opt lars --threads 1 --epochs 1 --save-every 1"

/* A second Ctrl-C more than a second after the first quits at once, while
 * the first still waits for its step, and leaves the last checkpoint whole. */
Test(cli_interrupt, second_sigint_quits_at_once_and_keeps_the_checkpoint) {
  char *dir = temp_dir(), args[1024], log[600], text[1 << 14], link[600];
  snprintf(log, sizeof log, "%s.log", dir);
  snprintf(link, sizeof link, "%s/checkpoint.safetensors", dir);
  snprintf(args, sizeof args, SLOW_RUN " --out %s --force", dir);
  pid_t pid = spawn(args, log);
  proc_wait_for_steps(dir, 1); /* step 0 logged, then checkpoint 1 written */
  for (double t0 = proc_now(); access(link, F_OK) != 0; proc_sleep(0.01))
    cr_assert(proc_now() - t0 < 60, "no checkpoint after 60 s");
  proc_sleep(0.3);
  kill(pid, SIGINT);
  proc_sleep(1.3);
  int status;
  cr_assert_eq(waitpid(pid, &status, WNOHANG), 0,
               "the orderly stop ended within 1.3 s: steps too fast for this test");
  double t0 = proc_now();
  kill(pid, SIGINT);
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  proc_slurp(log, text, sizeof text);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %d: %s", status, text);
  cr_assert(proc_now() - t0 < 1.0, "took %.1f s after the second Ctrl-C", proc_now() - t0);
  cr_assert(!strstr(text, "interrupted at step"), "the stop was orderly: %s", text);
  vkl_model *m;
  vkl_checkpoint_state s = load_all(link, &m);
  free_state(&s, m);
  free(dir);
}

/* Whether dir holds a checkpoint being written (its temporary file). */
static int temp_file_in(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int found = 0;
  while (d && !found && (e = readdir(d))) found = strstr(e->d_name, ".safetensors.tmp") != NULL;
  if (d) closedir(d);
  return found;
}

static int checkpoint_in(const char *dir) {
  uint64_t *steps;
  size_t n = 0;
  char err[512];
  if (vkl_checkpoint_list(dir, &steps, &n, err, sizeof err) == VKL_OK) free(steps);
  return n > 0;
}

/* SIGKILL while a checkpoint is written every step (a wide mlp makes each
 * write ~10 MB): whatever the moment, the newest checkpoint and the link
 * load in full, and the run resumes to its end. */
Test(cli_interrupt, sigkill_at_random_moments_leaves_a_loadable_checkpoint) {
  char *dir = temp_dir(), args[1024], log[600], text[1 << 14];
  snprintf(log, sizeof log, "%s.log", dir);
  const char *run =
      "--data synthetic --synthetic-images 4096 --image-size 1x28x28 --model mlp --width 1024 "
      "--batch 64 --micro-batch 64 --opt lamb --threads 1 --save-every 1 --keep 2 --epochs 1";
  srand(12345);
  int with_checkpoint = 0, have = 0, mid_write = 0;
  for (int kill_no = 0; kill_no < 10; kill_no++) {
    if (!have) /* nothing to resume from yet: start over */
      snprintf(args, sizeof args, "%s --out %s --force", run, dir);
    else
      snprintf(args, sizeof args, "--resume %s", dir);
    pid_t pid = spawn(args, log);
    double t0 = proc_now();
    if (!have) { /* a fresh run: once its first checkpoint is there, 0-0.5 s later */
      while (!checkpoint_in(dir)) {
        cr_assert(proc_now() - t0 < 60, "kill %d: no checkpoint written", kill_no);
        proc_sleep(0.001);
      }
      proc_sleep(0.5 * (rand() / (double)RAND_MAX));
    } else if (kill_no % 2 == 0) { /* 0-1.5 s: startup, steps, writes */
      proc_sleep(1.5 * (rand() / (double)RAND_MAX));
    } else { /* inside a write: once its temporary file appears, 0-3 ms later */
      while (!temp_file_in(dir)) {
        cr_assert(proc_now() - t0 < 60, "kill %d: no checkpoint write seen", kill_no);
        proc_sleep(0.0002);
      }
      proc_sleep(0.003 * (rand() / (double)RAND_MAX));
      mid_write++;
    }
    kill(pid, SIGKILL);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    proc_slurp(log, text, sizeof text);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "kill %d: the run ended before the kill: %s", kill_no, text);
    uint64_t *steps;
    size_t n;
    char err[512];
    cr_assert_eq(vkl_checkpoint_list(dir, &steps, &n, err, sizeof err), VKL_OK, "%s", err);
    cr_assert(n > 0 || !have, "kill %d: the checkpoints are gone", kill_no);
    have = n > 0;
    if (n > 0) {
      with_checkpoint++;
      char path[600];
      vkl_checkpoint_path(dir, steps[0], path, sizeof path);
      vkl_model *m;
      vkl_checkpoint_state s = load_all(path, &m);
      free_state(&s, m);
      snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
      s = load_all(path, &m);
      free_state(&s, m);
    }
    free(steps);
  }
  cr_assert(mid_write >= 4, "only %d kills during a write", mid_write);
  cr_assert_eq(with_checkpoint, 10);
  snprintf(args, sizeof args, "--resume %s", dir);
  int rc = run_to_end(args, log);
  proc_slurp(log, text, sizeof text);
  cr_assert_eq(rc, 0, "%s", text);
  free(dir);
}
