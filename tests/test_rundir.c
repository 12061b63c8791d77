/* The run directory as processes share it: one vklars at a time (the
 * lock, which names its holder and goes with it, SIGKILL included),
 * --force replacing a run's checkpoints, --resume following the link,
 * skipping (and naming) checkpoints that do not read, taking a checkpoint
 * file, pruning only the run's own checkpoints, and no symbolic link
 * planted in the directory ever written through. */
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "test_proc.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

static char out[1 << 16];

static int exists(const char *dir, const char *name) {
  char path[512];
  struct stat sb;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return lstat(path, &sb) == 0;
}

static void link_target(const char *dir, char *target, size_t n) {
  char link[512];
  snprintf(link, sizeof link, "%s/checkpoint.safetensors", dir);
  ssize_t len = readlink(link, target, n - 1);
  cr_assert(len > 0, "%s is no link", link);
  target[len] = '\0';
}

/* Flips one bit of the byte `from_end` bytes before the end of path. */
static void flip_byte(const char *path, long from_end) {
  FILE *f = fopen(path, "r+b");
  cr_assert(f);
  cr_assert_eq(fseek(f, -from_end, SEEK_END), 0);
  int c = fgetc(f);
  cr_assert_eq(fseek(f, -from_end, SEEK_END), 0);
  fputc(c ^ 0x10, f);
  fclose(f);
}

Test(rundir, a_second_process_is_refused_with_the_holders_pid) {
  char *dir = proc_temp_dir("lock"), args[1024], log[256], text[1 << 14];
  snprintf(log, sizeof log, "%s.log", dir);
  snprintf(args, sizeof args, "train " TINY_RUN " --epochs 30 --out %s", dir);
  pid_t holder = proc_spawn(args, log, 0);
  proc_wait_for_steps(dir, 40); /* past the first checkpoint (step 32): there is a run to resume */
  char pid[64];
  snprintf(pid, sizeof pid, "(pid %ld holds %s/run.lock)", (long)holder, dir);
  const char *others[] = {"train --resume %s", "train " TINY_RUN " --epochs 1 --out %s --force"};
  for (int i = 0; i < 2; i++) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, others[i], dir);
    double t0 = proc_now();
    int rc = proc_run(cmd, out, sizeof out);
    cr_assert_eq(rc, 1, "%s: exit %d: %s", cmd, rc, out);
    cr_assert(strstr(out, "is in use by another vklars process") && strstr(out, pid), "%s: %s", cmd,
              out);
    cr_assert(proc_now() - t0 < 20, "%s took %.1f s to give up", cmd, proc_now() - t0);
  }
  int rc = proc_wait(holder, "the holder");
  proc_slurp(log, text, sizeof text);
  cr_assert_eq(rc, 0, "%s", text);
  char steps[512];
  snprintf(steps, sizeof steps, "%s/steps.csv", dir);
  proc_assert_every_step_once(steps, 30 * 32 - 1); /* nobody truncated or renamed over it */
  free(dir);
}

Test(rundir, the_lock_goes_with_a_killed_holder) {
  char *dir = proc_temp_dir("kill"), args[1024], log[256];
  snprintf(log, sizeof log, "%s.log", dir);
  snprintf(args, sizeof args, "train " TINY_RUN " --epochs 30 --save-every 10 --out %s", dir);
  pid_t holder = proc_spawn(args, log, 0);
  proc_wait_for_steps(dir, 25);
  kill(holder, SIGKILL);
  int status;
  cr_assert_eq(waitpid(holder, &status, 0), holder);
  cr_assert(WIFSIGNALED(status));
  snprintf(args, sizeof args, "train --resume %s --epochs 2", dir);
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 0, "%s", out);
  free(dir);
}

/* The trainer itself (not only the command line) refuses a directory
 * another process has locked, before it reads or changes anything. */
Test(rundir, the_trainer_refuses_a_locked_directory_and_changes_nothing) {
  char *dir = proc_temp_dir("tlock"), args[1024];
  snprintf(args, sizeof args, "train " TINY_RUN " --max-steps 4 --out %s", dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  char lock[512], steps[512], before[1 << 14], after[1 << 14];
  snprintf(lock, sizeof lock, "%s/run.lock", dir);
  snprintf(steps, sizeof steps, "%s/steps.csv", dir);
  proc_slurp(steps, before, sizeof before);
  int fd = open(lock, O_RDWR | O_CREAT, 0644); /* another open file: another holder */
  cr_assert(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  cr_assert(ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) == len);

  vkl_data_options data = {.channels = 1, .height = 8, .width = 8, .count = 1024};
  vkl_train_config c;
  memset(&c, 0, sizeof c);
  c.data = "synthetic";
  c.data_options = &data;
  c.model = "mlp";
  c.model_width = 16;
  c.optim = vkl_optim_defaults(VKL_OPT_LARS);
  c.sched = VKL_SCHED_CONSTANT;
  c.batch = c.micro_batch = 32;
  c.epochs = 1;
  c.loader_threads = 1;
  c.out_dir = dir;
  char ckpt[512], err[2048], want[128];
  vkl_checkpoint_path(dir, 4, ckpt, sizeof ckpt);
  snprintf(want, sizeof want, "(pid %ld holds", (long)getpid());
  vkl_ctx *ctx = test_ctx_create();
  vkl_train_result r;
  for (int force = 0; force < 2; force++) { /* a resume, and a run replacing this one */
    c.resume = force ? NULL : ckpt;
    c.force = force;
    vkl_status st = vkl_train(ctx, &c, &r, err, sizeof err);
    cr_assert_eq(st, VKL_ERR_IO, "%s: %s", vkl_status_str(st), err);
    cr_assert(strstr(err, want), "%s", err);
    proc_slurp(steps, after, sizeof after);
    cr_assert_str_eq(after, before, "steps.csv changed");
    cr_assert(exists(dir, "ckpt-step4.safetensors"));
  }
  close(fd); /* and once it is free, the run goes on */
  c.resume = ckpt;
  c.max_steps = 8;
  cr_assert_eq(vkl_train(ctx, &c, &r, err, sizeof err), VKL_OK, "%s", err);
  test_ctx_destroy(ctx);
  free(dir);
}

Test(rundir, force_replaces_the_old_run_and_resume_continues_the_new_one) {
  char *dir = proc_temp_dir("force"), args[1024];
  snprintf(args, sizeof args, "train " TINY_RUN " --epochs 2 --keep 0 --out %s", dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  cr_assert(exists(dir, "ckpt-step64.safetensors"));
  /* without --force the old run is refused, and stays */
  snprintf(args, sizeof args, "train " TINY_RUN " --max-steps 5 --out %s", dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 2, "%s", out);
  cr_assert(strstr(out, "already holds a run") && strstr(out, "--force"), "%s", out);
  cr_assert(exists(dir, "ckpt-step64.safetensors"));
  /* --force: the new run's checkpoints only */
  snprintf(args, sizeof args,
           "train " TINY_RUN " --epochs 2 --max-steps 5 --save-every end --keep 0 --out %s --force",
           dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  cr_assert(!exists(dir, "ckpt-step64.safetensors") && !exists(dir, "ckpt-step32.safetensors"),
            "the old run's checkpoints are still there");
  uint64_t *steps;
  size_t n;
  char err[512], target[256];
  cr_assert_eq(vkl_checkpoint_list(dir, &steps, &n, err, sizeof err), VKL_OK, "%s", err);
  cr_assert(n == 1 && steps[0] == 5);
  free(steps);
  /* --resume continues the new run, from its step 5 */
  snprintf(args, sizeof args, "train --resume %s --max-steps 10", dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  char want[512];
  snprintf(want, sizeof want, "resuming from %s/ckpt-step5.safetensors", dir);
  cr_assert(strstr(out, want), "%s", out);
  link_target(dir, target, sizeof target);
  cr_assert_str_eq(target, "ckpt-step10.safetensors");
  cr_assert(!exists(dir, "ckpt-step64.safetensors"));
  free(dir);
}

Test(rundir, resume_follows_the_link_and_pruning_spares_other_runs_files) {
  char *dir = proc_temp_dir("link"), *other = proc_temp_dir("other"), args[1024];
  snprintf(args, sizeof args, "train " TINY_RUN " --max-steps 40 --save-every end --out %s", other);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  snprintf(args, sizeof args, "train " TINY_RUN " --max-steps 6 --save-every 2 --keep 2 --out %s",
           dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  /* a checkpoint of another run, numbered above this run's */
  char cmd[1024], foreign[512];
  snprintf(foreign, sizeof foreign, "%s/ckpt-step99.safetensors", dir);
  snprintf(cmd, sizeof cmd, "cp %s/ckpt-step40.safetensors %s", other, foreign);
  cr_assert_eq(system(cmd), 0);
  snprintf(args, sizeof args, "train --resume %s --max-steps 12", dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  char want[512], target[256];
  snprintf(want, sizeof want, "resuming from %s/ckpt-step6.safetensors", dir);
  cr_assert(strstr(out, want), "%s", out);
  link_target(dir, target, sizeof target);
  cr_assert_str_eq(target, "ckpt-step12.safetensors");
  /* keep 2 kept this run's newest two; the other run's file is untouched */
  cr_assert(exists(dir, "ckpt-step12.safetensors") && exists(dir, "ckpt-step10.safetensors"));
  cr_assert(!exists(dir, "ckpt-step8.safetensors") && !exists(dir, "ckpt-step6.safetensors"));
  snprintf(cmd, sizeof cmd, "cmp -s %s/ckpt-step40.safetensors %s", other, foreign);
  cr_assert_eq(system(cmd), 0, "the other run's checkpoint was changed or removed");
  free(dir);
  free(other);
}

Test(rundir, resume_names_each_checkpoint_it_skips) {
  char *dir = proc_temp_dir("skip"), args[1024], path[512];
  snprintf(args, sizeof args, "train " TINY_RUN " --max-steps 6 --save-every 2 --keep 0 --out %s",
           dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  vkl_checkpoint_path(dir, 6, path, sizeof path);
  flip_byte(path, 100); /* inside the last tensor's data */
  vkl_checkpoint_path(dir, 4, path, sizeof path);
  cr_assert_eq(truncate(path, 4000), 0);
  snprintf(args, sizeof args, "train --resume %s --max-steps 8", dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  char want[512];
  snprintf(want, sizeof want, "skipping a checkpoint that does not read: %s/ckpt-step6.safetensors",
           dir);
  const char *six = strstr(out, want);
  cr_assert(six && strstr(six, "fails its CRC32 check"), "%s", out);
  snprintf(want, sizeof want, "skipping a checkpoint that does not read: %s/ckpt-step4.safetensors",
           dir);
  cr_assert(strstr(out, want), "%s", out);
  snprintf(want, sizeof want, "resuming from %s/ckpt-step2.safetensors", dir);
  cr_assert(strstr(out, want), "%s", out);
  char steps[512];
  snprintf(steps, sizeof steps, "%s/steps.csv", dir);
  proc_assert_every_step_once(steps, 7);
  free(dir);
}

Test(rundir, resume_takes_a_checkpoint_file) {
  char *dir = proc_temp_dir("file"), args[1024];
  snprintf(args, sizeof args, "train " TINY_RUN " --max-steps 6 --save-every 2 --keep 0 --out %s",
           dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  snprintf(args, sizeof args, "train --resume %s/ckpt-step4.safetensors --max-steps 8", dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  char want[512], steps[512];
  snprintf(want, sizeof want, "resuming from %s/ckpt-step4.safetensors", dir);
  cr_assert(strstr(out, want), "%s", out);
  snprintf(want, sizeof want, "run directory %s\n", dir);
  cr_assert(strstr(out, want), "%s", out);
  snprintf(steps, sizeof steps, "%s/steps.csv", dir);
  proc_assert_every_step_once(steps, 7);
  /* the link stands for the checkpoint it points at */
  snprintf(args, sizeof args, "train --resume %s/checkpoint.safetensors --max-steps 9", dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  snprintf(want, sizeof want, "resuming from %s/ckpt-step8.safetensors", dir);
  cr_assert(strstr(out, want), "%s", out);
  /* it writes into the file's directory, no other */
  snprintf(args, sizeof args, "train --resume %s/ckpt-step4.safetensors --out %s.elsewhere", dir,
           dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 2, "%s", out);
  cr_assert(strstr(out, "writes into") && strstr(out, ".elsewhere"), "%s", out);
  /* a file that does not read is refused, not skipped */
  snprintf(args, sizeof args, "train --resume %s/ckpt-step404.safetensors", dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "cannot resume from") && strstr(out, "ckpt-step404"), "%s", out);
  free(dir);
}

/* Links planted under the names of temporary files (the predictable ones
 * vklars once used) and of the logs: every write goes to a new file of the
 * run directory, none through a link, and the link's target is intact. */
Test(rundir, planted_symlinks_are_never_written_through) {
  char *dir = proc_temp_dir("plant"), victim[512], path[512], args[1024], text[256];
  snprintf(victim, sizeof victim, "%s.victim", dir);
  FILE *f = fopen(victim, "w");
  cr_assert(f);
  fputs("precious\n", f);
  fclose(f);
  const char *names[] = {"run.json.tmp",  "epochs.csv",     "checkpoint.safetensors.tmp",
                         "steps.csv.tmp", "layers.csv.tmp", "epochs.csv.tmp"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    cr_assert_eq(symlink(victim, path), 0);
  }
  for (int step = 1; step <= 12; step++) {
    snprintf(path, sizeof path, "%s/ckpt-step%d.safetensors.tmp", dir, step);
    cr_assert_eq(symlink(victim, path), 0);
  }
  snprintf(args, sizeof args, "train " TINY_RUN " --max-steps 6 --save-every 1 --out %s", dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  /* a resumed run rewrites the logs */
  snprintf(args, sizeof args, "train --resume %s --max-steps 12", dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  proc_slurp(victim, text, sizeof text);
  cr_assert_str_eq(text, "precious\n", "a link was written through");
  struct stat sb;
  snprintf(path, sizeof path, "%s/epochs.csv", dir);
  cr_assert(lstat(path, &sb) == 0 && S_ISREG(sb.st_mode), "epochs.csv is still the link");
  snprintf(path, sizeof path, "%s/steps.csv", dir);
  proc_assert_every_step_once(path, 11);
  free(dir);
}
