/* A run directory's checkpoints (see checkpoint.h): their names, the link
 * to the newest, pruning, and clearing them for a replaced run. The run
 * directory's lock (rundir_lock.h) is held around every change here. */
#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "train/atomic_file.h"

#define CKPT_PREFIX "ckpt-step"
#define CKPT_SUFFIX ".safetensors"

static vkl_status fail_errno(char *err, size_t n, const char *what, const char *path) {
  snprintf(err, n, "%s %s: %s", what, path, strerror(errno));
  return VKL_ERR_IO;
}

void vkl_checkpoint_path(const char *dir, uint64_t step, char *path, size_t n) {
  snprintf(path, n, "%s/" CKPT_PREFIX "%llu" CKPT_SUFFIX, dir, (unsigned long long)step);
}

int vkl_checkpoint_parse_name(const char *name, uint64_t *step) {
  size_t lp = strlen(CKPT_PREFIX), ls = strlen(CKPT_SUFFIX), ln = strlen(name);
  if (ln <= lp + ls || strncmp(name, CKPT_PREFIX, lp) != 0 ||
      strcmp(name + ln - ls, CKPT_SUFFIX) != 0)
    return 0;
  uint64_t v = 0;
  for (size_t i = lp; i < ln - ls; i++) {
    if (name[i] < '0' || name[i] > '9' || v > UINT64_MAX / 10 - 1) return 0;
    v = v * 10 + (uint64_t)(name[i] - '0');
  }
  *step = v;
  return 1;
}

/* A temporary file of a checkpoint's write (ckpt-step<N>.safetensors.tmp.XXXXXX). */
static int is_checkpoint_temp(const char *name) {
  size_t n = vkl_atomic_temp_target_len(name);
  char target[256];
  uint64_t step;
  if (!n || n >= sizeof target) return 0;
  memcpy(target, name, n);
  target[n] = '\0';
  return vkl_checkpoint_parse_name(target, &step);
}

static int newest_first(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

vkl_status vkl_checkpoint_list(const char *dir, uint64_t **steps, size_t *count, char *err,
                               size_t errlen) {
  *steps = NULL;
  *count = 0;
  DIR *d = opendir(dir);
  if (!d) return fail_errno(err, errlen, "cannot open run directory", dir);
  size_t cap = 0;
  struct dirent *e;
  vkl_status st = VKL_OK;
  while ((e = readdir(d))) {
    uint64_t step;
    if (!vkl_checkpoint_parse_name(e->d_name, &step)) continue;
    if (*count == cap) {
      cap = cap ? 2 * cap : 16;
      uint64_t *p = realloc(*steps, cap * sizeof *p);
      if (!p) {
        snprintf(err, errlen, "out of host memory listing %s", dir);
        st = VKL_ERR_OUT_OF_HOST_MEMORY;
        break;
      }
      *steps = p;
    }
    (*steps)[(*count)++] = step;
  }
  closedir(d);
  if (*count) qsort(*steps, *count, sizeof **steps, newest_first);
  return st;
}

int vkl_checkpoint_linked(const char *dir, uint64_t *step, char *err, size_t errlen) {
  char link[VKL_PATH_MAX], target[256];
  snprintf(link, sizeof link, "%s/" VKL_CKPT_LINK, dir);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0 && (errno == ENOENT || errno == ENOTDIR)) return 0;
  if (n < 0) {
    snprintf(err, errlen, "%s is not the link vklars writes: %s", link,
             errno == EINVAL ? "not a symbolic link" : strerror(errno));
    return -1;
  }
  target[n] = '\0';
  if (!vkl_checkpoint_parse_name(target, step)) {
    snprintf(err, errlen, "%s points at %s, not at a checkpoint of %s", link, target, dir);
    return -1;
  }
  return 1;
}

void vkl_checkpoint_new_run_id(char *id, size_t n) {
  /* unique among the runs one directory sees: the time in ns and the pid,
   * mixed (splitmix64) */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t z =
      ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40);
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  snprintf(id, n, "%016llx", (unsigned long long)(z ^ (z >> 31)));
}

/* DIR/checkpoint.safetensors -> ckpt-step<step>.safetensors, replacing the
 * old link in one rename. The new link is made under a name of this
 * process's; symlink() never follows (it fails on any existing name), so a
 * leftover there is removed and the link made again. */
static vkl_status point_link(const char *dir, uint64_t step, char *err, size_t errlen) {
  char target[64], link_path[VKL_PATH_MAX], tmp[VKL_PATH_MAX + 32];
  snprintf(target, sizeof target, CKPT_PREFIX "%llu" CKPT_SUFFIX, (unsigned long long)step);
  snprintf(link_path, sizeof link_path, "%s/" VKL_CKPT_LINK, dir);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", link_path, (long)getpid());
  int ok = symlink(target, tmp) == 0 ||
           (errno == EEXIST && unlink(tmp) == 0 && symlink(target, tmp) == 0);
  ok = ok && rename(tmp, link_path) == 0;
  if (!ok) {
    int e = errno;
    unlink(tmp);
    snprintf(err, errlen, "cannot point %s at the new checkpoint: %s", link_path, strerror(e));
    return VKL_ERR_IO;
  }
  if (vkl_sync_dir_of(link_path) != 0) return fail_errno(err, errlen, "cannot write", link_path);
  return VKL_OK;
}

/* Whether the checkpoint of `step` was written by run run_id (an unreadable
 * one is nobody's: it stays). */
static int of_run(const char *dir, uint64_t step, const char *run_id, vkl_checkpoint_meta *meta) {
  char path[VKL_PATH_MAX], why[512];
  vkl_checkpoint_path(dir, step, path, sizeof path);
  return vkl_checkpoint_read_meta(path, meta, why, sizeof why) == VKL_OK &&
         strcmp(meta->run_id, run_id) == 0;
}

static vkl_status prune(const char *dir, uint64_t step, uint32_t keep, const char *run_id,
                        char *err, size_t errlen) {
  uint64_t *steps;
  size_t n;
  vkl_status st = vkl_checkpoint_list(dir, &steps, &n, err, errlen);
  vkl_checkpoint_meta *meta = st ? NULL : malloc(sizeof *meta);
  if (!st && !meta) st = VKL_ERR_OUT_OF_HOST_MEMORY;
  uint32_t kept = 0;
  for (size_t i = 0; !st && i < n; i++) {
    if (steps[i] > step || !of_run(dir, steps[i], run_id, meta) || ++kept <= keep) continue;
    char path[VKL_PATH_MAX];
    vkl_checkpoint_path(dir, steps[i], path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT) st = fail_errno(err, errlen, "cannot remove", path);
  }
  free(meta);
  free(steps);
  return st;
}

/* A link being made by point_link (checkpoint.safetensors.tmp.<pid>). */
static int is_link_temp(const char *name) {
  return strncmp(name, VKL_CKPT_LINK ".tmp.", strlen(VKL_CKPT_LINK ".tmp.")) == 0;
}

/* Removes the temporary files killed checkpoint writes left (and, with
 * everything, the checkpoints and the link). */
static vkl_status remove_matching(const char *dir, int everything, char *err, size_t errlen) {
  DIR *d = opendir(dir);
  if (!d) return fail_errno(err, errlen, "cannot open run directory", dir);
  struct dirent *e;
  vkl_status st = VKL_OK;
  while (!st && (e = readdir(d))) {
    uint64_t step;
    int ours = is_checkpoint_temp(e->d_name) || is_link_temp(e->d_name) ||
               (everything && (vkl_checkpoint_parse_name(e->d_name, &step) ||
                               strcmp(e->d_name, VKL_CKPT_LINK) == 0));
    if (!ours) continue;
    char path[VKL_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (unlink(path) != 0 && errno != ENOENT) st = fail_errno(err, errlen, "cannot remove", path);
  }
  closedir(d);
  return st;
}

vkl_status vkl_checkpoint_publish(const char *dir, uint64_t step, uint32_t keep, const char *run_id,
                                  char *err, size_t errlen) {
  vkl_status st = point_link(dir, step, err, errlen);
  if (!st && keep) st = prune(dir, step, keep, run_id, err, errlen);
  return st ? st : remove_matching(dir, 0, err, errlen);
}

vkl_status vkl_checkpoint_clear(const char *dir, char *err, size_t errlen) {
  vkl_status st = remove_matching(dir, 1, err, errlen);
  char inside[VKL_PATH_MAX];
  snprintf(inside, sizeof inside, "%s/" VKL_CKPT_LINK, dir);
  if (!st && vkl_sync_dir_of(inside) != 0) st = fail_errno(err, errlen, "cannot write", dir);
  return st;
}
