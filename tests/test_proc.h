/* Helpers for tests that run the real `vklars` (VKLARS_EXE) as a process:
 * spawning it with its output in a file, optionally under a file-size
 * limit, waiting for it, and reading the files it writes. */
#ifndef VKLARS_TEST_PROC_H
#define VKLARS_TEST_PROC_H

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A tiny training run: an mlp on 8x8 synthetic images, 32 steps an epoch. */
#define TINY_RUN                                                                        \
  "--data synthetic --synthetic-images 1024 --image-size 1x8x8 --model mlp --width 16 " \
  "--batch 32 --micro-batch 32 --threads 1 --opt lars --lr 0.1"

static inline char *proc_temp_dir(const char *tag) {
  char *dir = malloc(128);
  cr_assert(dir);
  snprintf(dir, 128, "/tmp/vklars-%s-XXXXXX", tag);
  cr_assert(mkdtemp(dir));
  return dir;
}

static inline void proc_sleep(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

static inline double proc_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Starts `vklars <args>`, in a process group of its own, with stdout and
 * stderr to log. file_limit > 0:
 * under RLIMIT_FSIZE of that many bytes, SIGXFSZ ignored, so a write past
 * it fails with EFBIG as a full disk fails with ENOSPC. */
static inline pid_t proc_spawn(const char *args, const char *log, long file_limit) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "exec '%s' %s >'%s' 2>&1", VKLARS_EXE, args, log);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    setpgid(0, 0); /* its own group: a test may signal the group, as timeout(1) does */
    if (file_limit > 0) {
      struct rlimit r = {(rlim_t)file_limit, (rlim_t)file_limit};
      signal(SIGXFSZ, SIG_IGN);
      if (setrlimit(RLIMIT_FSIZE, &r) != 0) _exit(126);
    }
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  return pid;
}

static inline void proc_slurp(const char *path, char *buf, size_t n) {
  FILE *f = fopen(path, "rb");
  size_t got = f ? fread(buf, 1, n - 1, f) : 0;
  buf[got] = '\0';
  if (f) fclose(f);
}

/* Waits for pid; its exit code (a signal fails the test). */
static inline int proc_wait(pid_t pid, const char *what) {
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status), "%s did not exit normally (status %d)", what, status);
  return WEXITSTATUS(status);
}

/* Runs `vklars <args>` to its end; its exit code, its output in out. */
static inline int proc_run(const char *args, char *out, size_t n) {
  char log[] = "/tmp/vklars-log-XXXXXX";
  int fd = mkstemp(log);
  cr_assert(fd >= 0);
  close(fd);
  int rc = proc_wait(proc_spawn(args, log, 0), args);
  proc_slurp(log, out, n);
  unlink(log);
  return rc;
}

static inline long proc_count_lines(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  long n = 0;
  for (int c; (c = fgetc(f)) != EOF;) n += c == '\n';
  fclose(f);
  return n;
}

/* Waits until dir/steps.csv logs `steps` steps (or 60 s pass). */
static inline void proc_wait_for_steps(const char *dir, long steps) {
  char path[512];
  snprintf(path, sizeof path, "%s/steps.csv", dir);
  double t0 = proc_now();
  while (proc_count_lines(path) < steps + 1) {
    cr_assert(proc_now() - t0 < 60, "%s never reached %ld steps", dir, steps);
    proc_sleep(0.005);
  }
}

/* The first column of a CSV log's rows, once per value (layers.csv has a
 * row per tensor), into keys; how many. */
static inline size_t proc_log_keys(const char *path, long *keys, size_t max) {
  FILE *f = fopen(path, "r");
  cr_assert(f, "%s missing", path);
  char line[512];
  size_t n = 0;
  for (int first = 1; fgets(line, sizeof line, f); first = 0) {
    if (first) continue;
    long k = atol(line);
    if (n == 0 || keys[n - 1] != k) {
      cr_assert(n < max);
      keys[n++] = k;
    }
  }
  fclose(f);
  return n;
}

/* The steps a log holds rise one at a time from 0 to last: every step once. */
static inline void proc_assert_every_step_once(const char *path, long last) {
  long keys[4096];
  size_t n = proc_log_keys(path, keys, 4096);
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(keys[i], (long)i, "%s: row %zu is step %ld", path, i, keys[i]);
  cr_assert_eq((long)n, last + 1, "%s holds %zu steps, not %ld", path, n, last + 1);
}

#endif
