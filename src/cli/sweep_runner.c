/* A sweep's runs as child processes (see sweep_runner.h). */
#define _GNU_SOURCE /* prctl's PR_SET_PDEATHSIG */
#include "cli/sweep_runner.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sweep/results.h"
#include "train/atomic_file.h"
#include "train/checkpoint.h"
#include "train/rundir_lock.h"

#define MAX_ARGS (2 * VKL_GRID_MAX_KEYS + 16)

static volatile sig_atomic_t stop_signal, stop_count;

static void on_stop(int sig) {
  stop_signal = sig;
  stop_count++;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Copies src into dst[n], cut to fit (messages are for reading). */
static void set_text(char *dst, size_t n, const char *src) {
  size_t len = strlen(src);
  if (len >= n) len = n - 1;
  memcpy(dst, src, len);
  dst[len] = '\0';
}

static const char *duration(double s, char buf[32]) {
  unsigned t = s > 0 && s < 1e8 ? (unsigned)s : 0;
  snprintf(buf, 32, "%u:%02u:%02u", t / 3600, t / 60 % 60, t % 60);
  return buf;
}

void sweep_run_dir(const sweep_plan *p, size_t i, char *out, size_t n) {
  snprintf(out, n, "%s/runs/%s", p->dir, p->runs[i].name);
}

static int is_flag(const sweep_plan *p, const char *key) {
  for (const char *const *f = p->flags; f && *f; f++)
    if (strcmp(*f, key) == 0) return 1;
  return 0;
}

static int exists(const char *dir, const char *name) {
  char path[2 * VKL_PATH_MAX];
  struct stat sb;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return lstat(path, &sb) == 0;
}

/* A run that left a checkpoint continues from it; one that left only its
 * run.json (cut off before its first checkpoint) starts again. */
static int has_checkpoint(const char *dir) {
  uint64_t *steps = NULL;
  size_t n = 0;
  char ignored[256];
  if (vkl_checkpoint_list(dir, &steps, &n, ignored, sizeof ignored) == VKL_OK) free(steps);
  return n > 0 || exists(dir, VKL_CKPT_LINK);
}

typedef struct child_args {
  char *argv[MAX_ARGS];
  int argc;
  char opt[MAX_ARGS][80]; /* "--key" */
  int resumes;
} child_args;

static void build_args(const sweep_plan *p, size_t i, const char *dir, const char *exe,
                       const char *device, child_args *a) {
  const vkl_sweep_run *r = &p->runs[i];
  a->argc = 0;
  a->argv[a->argc++] = (char *)exe;
  a->argv[a->argc++] = (char *)p->command;
  a->resumes = has_checkpoint(dir);
  if (a->resumes) {
    a->argv[a->argc++] = "--resume";
    a->argv[a->argc++] = (char *)dir;
  } else {
    for (int k = 0; k < r->n; k++) {
      int flag = is_flag(p, r->key[k]);
      if (flag && strcmp(r->value[k], "true") != 0 && strcmp(r->value[k], "yes") != 0 &&
          strcmp(r->value[k], "1") != 0)
        continue; /* a flag set false */
      snprintf(a->opt[a->argc], sizeof a->opt[0], "--%s", r->key[k]);
      a->argv[a->argc] = a->opt[a->argc];
      a->argc++;
      if (!flag) a->argv[a->argc++] = r->value[k];
    }
    a->argv[a->argc++] = "--out";
    a->argv[a->argc++] = (char *)dir;
    if (exists(dir, "run.json")) a->argv[a->argc++] = "--force";
  }
  if (device) {
    a->argv[a->argc++] = "--device";
    a->argv[a->argc++] = (char *)device;
  }
  a->argv[a->argc] = NULL;
}

typedef struct slot {
  pid_t pid; /* 0: free */
  size_t run;
  off_t log_offset; /* where this attempt's output starts in sweep.log */
  double start;
} slot;

static void log_header(int fd, const child_args *a) {
  char line[4096];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  size_t len = strftime(line, sizeof line, "== vklars sweep %Y-%m-%dT%H:%M:%SZ:", &tm);
  for (int i = 1; i < a->argc && len < sizeof line; i++)
    len += (size_t)snprintf(line + len, sizeof line - len, " %s", a->argv[i]);
  if (len >= sizeof line - 1) len = sizeof line - 2;
  line[len++] = '\n';
  if (write(fd, line, len) < 0) { /* the run's own output still goes there */
  }
}

/* A run cut off by the sweep's own death stops on its own (it checkpoints
 * first), and may still hold its directory when the sweep starts again:
 * wait for it rather than fail the run. 0: free; 1: still held. */
static int wait_for_lock(const sweep_plan *p, size_t i, const char *dir) {
  char err[600];
  for (int tries = 0;; tries++) {
    if (vkl_rundir_lock_check(dir, err, sizeof err) == VKL_OK) return 0;
    if (stop_count) return 1;
    if (tries == 0)
      printf("sweep: run %zu/%zu %s: waiting for the process still in it to stop (%s)\n", i + 1,
             p->n, p->runs[i].name, err);
    if (tries == 1200) { /* 2 minutes */
      cli_error("sweep: run %s: %s; left for the next start", p->runs[i].name, err);
      return 1;
    }
    fflush(stdout);
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

/* Starts run i in slot s; returns 0 (started, or not after a stop: the
 * slot stays free), -1 (not now: it stays pending), or 1 after the message. */
static int launch(const sweep_plan *p, size_t i, const char *exe, int s, slot *sl) {
  char dir[VKL_PATH_MAX], log[VKL_PATH_MAX + 16];
  sweep_run_dir(p, i, dir, sizeof dir);
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    cli_error("sweep: cannot create %s: %s", dir, strerror(errno));
    return 1;
  }
  if (wait_for_lock(p, i, dir)) return stop_count ? 0 : -1;
  snprintf(log, sizeof log, "%s/sweep.log", dir);
  int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    cli_error("sweep: cannot open %s: %s", log, strerror(errno));
    return 1;
  }
  child_args *a = malloc(sizeof *a);
  if (!a) {
    close(fd);
    cli_error("sweep: out of host memory");
    return 1;
  }
  build_args(p, i, dir, exe, p->ndevices ? p->devices[s] : NULL, a);
  sl->log_offset = lseek(fd, 0, SEEK_END);
  log_header(fd, a);
  fflush(NULL);
  pid_t parent = getpid(), pid = fork();
  if (pid == 0) {
    /* the run checkpoints and stops when the sweep dies, even by SIGKILL */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(143);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    execv(exe, a->argv);
    dprintf(STDERR_FILENO, "vklars: error: sweep: cannot run %s: %s\n", exe, strerror(errno));
    _exit(127);
  }
  close(fd);
  if (pid < 0) {
    cli_error("sweep: cannot start a run: %s", strerror(errno));
    free(a);
    return 1;
  }
  sl->pid = pid;
  sl->run = i;
  sl->start = now_s();
  char d[80] = "";
  if (p->ndevices) snprintf(d, sizeof d, " on device %s", p->devices[s]);
  printf("sweep: run %zu/%zu %s: %s%s\n", i + 1, p->n, p->runs[i].name,
         a->resumes ? "resuming from its checkpoint" : "started", d);
  fflush(stdout);
  free(a);
  return 0;
}

/* The last "vklars: error: " line the attempt wrote, or its last line. */
static void attempt_error(const char *dir, off_t offset, char *out, size_t n) {
  char path[VKL_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/sweep.log", dir);
  set_text(out, n, "no message (see its sweep.log)");
  FILE *f = fopen(path, "r");
  if (!f) return;
  if (fseeko(f, offset, SEEK_SET) == 0) {
    char line[1024];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\r\n")] = '\0';
      const char *msg = strncmp(line, "vklars: error: ", 15) == 0 ? line + 15 : NULL;
      if (msg) {
        set_text(out, n, msg);
        found = 1;
      } else if (!found && line[0] && strncmp(line, "== vklars sweep", 15) != 0) {
        set_text(out, n, line);
      }
    }
  }
  fclose(f);
}

/* Records how run's attempt ended; returns 1 for a failure recorded. */
static int finish(const sweep_plan *p, const slot *sl, int status, double *done_wall, int *ndone) {
  char dir[VKL_PATH_MAX], err[1024], msg[600], t[32];
  sweep_run_dir(p, sl->run, dir, sizeof dir);
  const char *name = p->runs[sl->run].name;
  double wall = now_s() - sl->start;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (WIFEXITED(status) && (code == 130 || code == 143)) {
    printf("sweep: run %zu/%zu %s: stopped after %s; it resumes from its checkpoint next time\n",
           sl->run + 1, p->n, name, duration(wall, t));
    return 0;
  }
  vkl_sweep_state state = code == 0 ? VKL_SWEEP_DONE : VKL_SWEEP_FAILED;
  if (state == VKL_SWEEP_FAILED && WIFSIGNALED(status))
    snprintf(msg, sizeof msg, "killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  else if (state == VKL_SWEEP_FAILED)
    attempt_error(dir, sl->log_offset, msg, sizeof msg);
  else
    msg[0] = '\0';
  if (vkl_sweep_status_write(dir, state, code, msg, err, sizeof err)) {
    cli_error("sweep: %s", err);
    return 1;
  }
  if (state == VKL_SWEEP_FAILED) {
    printf("sweep: run %zu/%zu %s: failed (exit %d): %s\n", sl->run + 1, p->n, name, code, msg);
    return 1;
  }
  vkl_run_summary s;
  if (vkl_run_summary_read(dir, p->target, &s, err, sizeof err) == VKL_OK && s.have_results)
    printf("sweep: run %zu/%zu %s: done in %s, test top-1 %.2f%% (best %.2f%%, epoch %u)\n",
           sl->run + 1, p->n, name, duration(wall, t), 100 * s.final_top1, 100 * s.best_top1,
           s.best_epoch);
  else
    printf("sweep: run %zu/%zu %s: done in %s\n", sl->run + 1, p->n, name, duration(wall, t));
  *done_wall += wall;
  ++*ndone;
  return 0;
}

int sweep_write_results(const sweep_plan *p) {
  vkl_run_summary *sum = calloc(p->n ? p->n : 1, sizeof *sum);
  if (!sum) {
    cli_error("sweep: out of host memory");
    return 1;
  }
  char dir[VKL_PATH_MAX], err[1200];
  for (size_t i = 0; i < p->n; i++) {
    sweep_run_dir(p, i, dir, sizeof dir);
    if (vkl_run_summary_read(dir, p->target, &sum[i], err, sizeof err) != VKL_OK) {
      cli_note("sweep: run %s: %s", p->runs[i].name, err);
      sum[i].have_results = 0;
      set_text(sum[i].error, sizeof sum[i].error, err);
    }
  }
  int rc = 0;
  if (vkl_sweep_results_write(p->dir, p->runs, sum, p->n, p->target, err, sizeof err)) {
    cli_error("sweep: %s", err);
    rc = 1;
  }
  free(sum);
  return rc;
}

/* A long run shows it is alive: its own last progress line, every minute
 * (VKLARS_SWEEP_HEARTBEAT seconds, if set). */
static double heartbeat_s(void) {
  const char *env = getenv("VKLARS_SWEEP_HEARTBEAT");
  double v = env ? atof(env) : 0;
  return v > 0 ? v : 60.0;
}

static void heartbeat(const sweep_plan *p, const slot *sl) {
  char dir[VKL_PATH_MAX], path[VKL_PATH_MAX + 16], buf[2048];
  sweep_run_dir(p, sl->run, dir, sizeof dir);
  snprintf(path, sizeof path, "%s/sweep.log", dir);
  FILE *f = fopen(path, "rb");
  if (!f) return;
  size_t n = 0;
  if (fseeko(f, 0, SEEK_END) == 0) {
    off_t end = ftello(f), from = end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0;
    if (from < sl->log_offset) from = sl->log_offset; /* this attempt's lines only */
    if (fseeko(f, from, SEEK_SET) == 0) n = fread(buf, 1, sizeof buf - 1, f);
  }
  fclose(f);
  buf[n] = '\0';
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
  char *line = buf + n;
  while (line > buf && line[-1] != '\n' && line[-1] != '\r') line--;
  if (!*line || strncmp(line, "== vklars sweep", 15) == 0) return;
  char t[32];
  printf("sweep: run %zu/%zu %s (%s): %s\n", sl->run + 1, p->n, p->runs[sl->run].name,
         duration(now_s() - sl->start, t), line);
  fflush(stdout);
}

/* What the run's directory says of it before this start. */
static vkl_sweep_state prior_state(const sweep_plan *p, size_t i) {
  char dir[VKL_PATH_MAX], err[600];
  vkl_run_summary s;
  sweep_run_dir(p, i, dir, sizeof dir);
  /* an unreadable status is not run again unasked: --retry-failed does */
  if (vkl_run_summary_read(dir, 0, &s, err, sizeof err) != VKL_OK) return VKL_SWEEP_FAILED;
  return s.state;
}

static void install_handlers(struct sigaction *old_int, struct sigaction *old_term) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, old_int);
  sigaction(SIGTERM, &sa, old_term);
}

/* A stop reaches every run: a Ctrl-C at the terminal reaches them already
 * (one process group), a SIGTERM sent to the sweep alone does not. */
static void forward_stop(const slot *slots, int nslots) {
  for (int s = 0; s < nslots; s++)
    if (slots[s].pid) kill(slots[s].pid, SIGTERM);
}

int sweep_execute(const sweep_plan *p) {
  char exe[VKL_PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) {
    cli_error("sweep: cannot find this program (/proc/self/exe): %s", strerror(errno));
    return 1;
  }
  exe[len] = '\0';
  char err[600];
  vkl_rundir_lock *lock = NULL; /* one sweep at a time in a directory */
  if (vkl_rundir_lock_take(p->dir, 1, &lock, err, sizeof err)) {
    cli_error("sweep: %s", err);
    return 1;
  }
  int nslots = p->ndevices ? p->ndevices : 1;
  slot slots[SWEEP_MAX_DEVICES];
  memset(slots, 0, sizeof slots);
  size_t skipped_done = 0, skipped_failed = 0, todo = 0;
  char *pending = calloc(p->n ? p->n : 1, 1);
  if (!pending) {
    vkl_rundir_lock_release(lock);
    cli_error("sweep: out of host memory");
    return 1;
  }
  for (size_t i = 0; i < p->n; i++) {
    vkl_sweep_state st = prior_state(p, i);
    pending[i] = st == VKL_SWEEP_PENDING || (st == VKL_SWEEP_FAILED && p->retry_failed);
    skipped_done += st == VKL_SWEEP_DONE;
    skipped_failed += st == VKL_SWEEP_FAILED && !p->retry_failed;
    todo += (size_t)pending[i];
  }
  if (skipped_done || skipped_failed)
    printf("sweep: %zu runs done and %zu failed before; %zu to run%s\n", skipped_done,
           skipped_failed, todo, skipped_failed ? " (--retry-failed runs the failed again)" : "");
  struct sigaction old_int, old_term;
  stop_signal = 0;
  stop_count = 0;
  install_handlers(&old_int, &old_term);
  int failures = 0, running = 0, ndone = 0, forwarded = 0, rc = sweep_write_results(p);
  size_t next = 0, left = todo;
  double done_wall = 0, last_heartbeat = now_s(), every = heartbeat_s();
  for (;;) {
    for (int s = 0; s < nslots && !stop_count && !rc; s++) {
      if (slots[s].pid) continue;
      while (next < p->n && !pending[next]) next++;
      if (next == p->n) break;
      int started = launch(p, next++, exe, s, &slots[s]);
      if (started > 0) {
        rc = 1;
        break;
      }
      if (slots[s].pid) running++;
    }
    if (!running) break;
    if (stop_count > forwarded) {
      forward_stop(slots, nslots);
      forwarded = stop_count;
    }
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      if (now_s() - last_heartbeat >= every) {
        last_heartbeat = now_s();
        for (int s = 0; s < nslots; s++)
          if (slots[s].pid) heartbeat(p, &slots[s]);
      }
      struct timespec ts = {0, 100 * 1000 * 1000}; /* polling keeps a stop from racing waitpid */
      nanosleep(&ts, NULL);
      continue;
    }
    for (int s = 0; s < nslots; s++) {
      if (slots[s].pid != pid) continue;
      failures += finish(p, &slots[s], status, &done_wall, &ndone);
      slots[s].pid = 0;
      running--;
      left--;
      if (sweep_write_results(p)) rc = 1;
      if (ndone && left && !stop_count) {
        char t[32];
        printf("sweep: %zu run%s left, about %s\n", left, left == 1 ? "" : "s",
               duration(done_wall / ndone * (double)left / nslots, t));
      }
      fflush(stdout);
    }
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  free(pending);
  vkl_rundir_lock_release(lock);
  if (stop_count) {
    fprintf(stderr, "vklars: sweep stopped by %s; continue with: %s\n",
            stop_signal == SIGINT ? "SIGINT" : "SIGTERM", p->again);
    return 128 + stop_signal;
  }
  printf("sweep: results in %s/results.csv and %s/results.md\n", p->dir, p->dir);
  if (failures) cli_error("sweep: %d runs failed (their errors are in results.csv)", failures);
  return rc ? rc : failures ? 1 : 0;
}
