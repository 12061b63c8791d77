/* The run directory's lock (see rundir_lock.h). */
#include "train/rundir_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct vkl_rundir_lock {
  int fd;
};

static int mkdirs(const char *path) {
  char tmp[1024];
  if (strlen(path) >= sizeof tmp) {
    errno = ENAMETOOLONG;
    return -1;
  }
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* The refusal: the pid the holder wrote (it writes it right after locking,
 * so a holder caught in between shows none). */
static vkl_status held_by_another(int fd, const char *dir, const char *path, char *err,
                                  size_t errlen) {
  char text[32] = "";
  ssize_t n = pread(fd, text, sizeof text - 1, 0);
  text[n > 0 ? n : 0] = '\0';
  long pid = strtol(text, NULL, 10);
  if (pid > 0)
    snprintf(err, errlen,
             "%s is in use by another vklars process (pid %ld holds %s): wait for it to end, or "
             "stop it",
             dir, pid, path);
  else
    snprintf(err, errlen, "%s is in use by another vklars process (it holds %s)", dir, path);
  return VKL_ERR_IO;
}

static void lock_path(const char *dir, char *path, size_t n) {
  snprintf(path, n, "%s/" VKL_RUNDIR_LOCK_NAME, dir);
}

vkl_status vkl_rundir_lock_take(const char *dir, int create, vkl_rundir_lock **out, char *err,
                                size_t errlen) {
  *out = NULL;
  struct stat sb;
  if (!create && stat(dir, &sb) != 0 && errno == ENOENT) return VKL_OK;
  if (create && mkdirs(dir) != 0) {
    snprintf(err, errlen, "cannot create run directory %s: %s", dir, strerror(errno));
    return VKL_ERR_IO;
  }
  char path[1100];
  lock_path(dir, path, sizeof path);
  /* O_NOFOLLOW: a link planted at the lock's name is not written through */
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open the run directory's lock %s: %s", path, strerror(errno));
    return VKL_ERR_IO;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    vkl_status st = e == EWOULDBLOCK ? held_by_another(fd, dir, path, err, errlen) : VKL_ERR_IO;
    if (e != EWOULDBLOCK) snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
    close(fd);
    return st;
  }
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  vkl_rundir_lock *lock = malloc(sizeof *lock);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len || !lock) {
    snprintf(err, errlen, "cannot write %s: %s", path, lock ? strerror(errno) : "out of memory");
    free(lock);
    close(fd); /* unlocks */
    return lock ? VKL_ERR_IO : VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  lock->fd = fd;
  *out = lock;
  return VKL_OK;
}

void vkl_rundir_lock_release(vkl_rundir_lock *lock) {
  if (!lock) return;
  close(lock->fd); /* the lock goes with the last descriptor of the open file */
  free(lock);
}

vkl_status vkl_rundir_lock_check(const char *dir, char *err, size_t errlen) {
  char path[1100];
  lock_path(dir, path, sizeof path);
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return VKL_OK; /* never locked, or not ours to read: the trainer's take decides */
  vkl_status st = VKL_OK;
  /* a shared lock conflicts with the holder's exclusive one, and is dropped at once */
  if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK)
    st = held_by_another(fd, dir, path, err, errlen);
  close(fd);
  return st;
}
