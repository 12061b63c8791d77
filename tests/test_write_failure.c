/* Outputs that cannot be written stop the run, never silently: on a full
 * disk (a small tmpfs the test mounts; CI runs as root) and past a
 * file-size limit (RLIMIT_FSIZE, so a log fails while a checkpoint still
 * fits), `vklars train` exits 1 naming the file, the rows it lost, and the
 * last checkpoint, which loads, and from which --resume finishes the run
 * once there is room. */
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "test_proc.h"
#include "train/checkpoint.h"

static char out[1 << 16];
static char mnt[64];

static void mount_tmpfs(const char *size) {
  snprintf(mnt, sizeof mnt, "/tmp/vklars-full-XXXXXX");
  cr_assert(mkdtemp(mnt));
  char opts[32];
  snprintf(opts, sizeof opts, "size=%s", size);
  if (mount("tmpfs", mnt, "tmpfs", 0, opts) != 0)
    cr_assert_fail("cannot mount a %s tmpfs at %s: %s (the test needs root, as CI runs it)", size,
                   mnt, strerror(errno));
}

static void grow_tmpfs(const char *size) {
  char opts[32];
  snprintf(opts, sizeof opts, "size=%s", size);
  cr_assert_eq(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT, opts), 0, "remount: %s", strerror(errno));
}

static void unmount_tmpfs(void) {
  if (mnt[0] && umount2(mnt, MNT_DETACH) == 0) rmdir(mnt);
}

/* The checkpoint the message names ("the last checkpoint is P (step N)"):
 * it is the link's, and it passes its CRC check. Returns N. */
static uint64_t named_checkpoint_loads(const char *msg, const char *dir) {
  char want[512], path[512], link[512], target[256];
  snprintf(want, sizeof want, "the last checkpoint is %s/", dir);
  const char *at = strstr(msg, want);
  cr_assert(at, "no last checkpoint named: %s", msg);
  unsigned long long step;
  cr_assert_eq(sscanf(at + strlen(want) - 1, "/ckpt-step%llu.safetensors (step", &step), 1, "%s",
               msg);
  vkl_checkpoint_path(dir, step, path, sizeof path);
  char err[1024];
  vkl_checkpoint_integrity in;
  cr_assert_eq(vkl_checkpoint_verify(path, &in, err, sizeof err), VKL_OK, "%s", err);
  cr_assert(in.has_crc);
  snprintf(link, sizeof link, "%s/checkpoint.safetensors", dir);
  ssize_t n = readlink(link, target, sizeof target - 1);
  cr_assert(n > 0);
  target[n] = '\0';
  cr_assert_str_eq(target, strrchr(path, '/') + 1);
  return step;
}

/* The step a message says a log's rows are missing from; -1 when it names
 * no rows of that log. */
static long missing_from(const char *msg, const char *dir, const char *log) {
  char want[512];
  snprintf(want, sizeof want, "cannot write %s/%s: ", dir, log);
  const char *at = strstr(msg, want);
  const char *rows = at ? strstr(at, "(it lacks rows from step ") : NULL;
  return rows ? atol(rows + strlen("(it lacks rows from step ")) : -1;
}

/* A log after the resumed run: every step once, except those the message
 * said it lacks, [from, to) (step `from` may be there in part: layers.csv
 * has a row per tensor, and the write that failed may have ended between
 * them). */
static void assert_log_whole_but(const char *dir, const char *log, long from, long to, long last) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, log);
  long keys[4096];
  size_t n = proc_log_keys(path, keys, 4096);
  long expect = 0;
  for (size_t i = 0; i < n; i++, expect++) {
    if (from >= 0 && expect == from && keys[i] != from) expect = to;
    if (from >= 0 && expect == from + 1) expect = to;
    cr_assert_eq(keys[i], expect, "%s: row %zu is step %ld, not %ld", path, i, keys[i], expect);
  }
  cr_assert_eq(expect, last + 1, "%s ends at step %ld, not %ld", path, expect - 1, last);
}

/* No checkpoint saved: the logs fill the disk, the run stops at the
 * first write that fails, and the checkpoint it then tries fails too. */
Test(write_failure, a_full_disk_stops_the_run_naming_the_log, .fini = unmount_tmpfs) {
  mount_tmpfs("32k");
  char dir[128], args[1024];
  snprintf(dir, sizeof dir, "%s/run", mnt);
  snprintf(args, sizeof args, "train " TINY_RUN " --epochs 4 --save-every end --out %s", dir);
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
  const char *logs[] = {"layers.csv", "steps.csv", "epochs.csv"};
  int named = 0;
  for (int i = 0; i < 3; i++) named |= missing_from(out, dir, logs[i]) >= 0;
  cr_assert(named && strstr(out, "No space left on device (it lacks rows from step"), "%s", out);
  cr_assert(strstr(out, "; saving a checkpoint failed too: cannot write ") &&
                strstr(out, "; no checkpoint was written yet"),
            "%s", out);
  /* the failed checkpoint left no temporary file filling the disk */
  char cmd[256];
  snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp", dir);
  cr_assert_neq(system(cmd), 0, "a temporary file was left in %s", dir);
}

/* Checkpoints every 10 steps: whichever write fails first, the message
 * names the last checkpoint, which is whole, and --resume, with room
 * again, finishes the run with logs that lost only the rows named. */
Test(write_failure, a_full_disk_keeps_the_last_checkpoint_to_resume_from, .fini = unmount_tmpfs) {
  mount_tmpfs("64k");
  char dir[128], args[1024];
  snprintf(dir, sizeof dir, "%s/run", mnt);
  snprintf(args, sizeof args, "train " TINY_RUN " --epochs 4 --save-every 10 --keep 1 --out %s",
           dir);
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
  cr_assert(strstr(out, "vklars: error: train: cannot write ") &&
                strstr(out, ": No space left on device"),
            "%s", out);
  long step = (long)named_checkpoint_loads(out, dir);
  long lost_steps = missing_from(out, dir, "steps.csv");
  grow_tmpfs("2m");
  snprintf(args, sizeof args, "train --resume %s", dir);
  rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 0, "%s", out);
  assert_log_whole_but(dir, "steps.csv", lost_steps, step, 4 * 32 - 1);
}

/* A log past the file-size limit (EFBIG) while checkpoints still fit: the
 * run stops at the step's end with a checkpoint of it. */
Test(write_failure, a_log_that_cannot_grow_stops_the_run_with_a_checkpoint) {
  char *dir = proc_temp_dir("fsize"), args[1024], log[256];
  snprintf(log, sizeof log, "%s.log", dir);
  snprintf(args, sizeof args, "train " TINY_RUN " --epochs 4 --save-every end --out %s", dir);
  int rc = proc_wait(proc_spawn(args, log, 40000), args);
  proc_slurp(log, out, sizeof out);
  cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
  long from = missing_from(out, dir, "layers.csv");
  cr_assert(from > 0 && strstr(out, "layers.csv: File too large (it lacks rows from step"), "%s",
            out);
  long step = (long)named_checkpoint_loads(out, dir);
  cr_assert(step > from && step <= from + 2, "checkpoint at %ld, rows lost from %ld", step, from);
  snprintf(args, sizeof args, "train --resume %s", dir);
  rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 0, "%s", out);
  assert_log_whole_but(dir, "steps.csv", -1, 0, 4 * 32 - 1);
  assert_log_whole_but(dir, "layers.csv", from, step, 4 * 32 - 1);
  free(dir);
}
