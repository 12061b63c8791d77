/* Whole-or-nothing file writes (see atomic_file.h). */
#include "train/atomic_file.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEMP_SUFFIX ".tmp.XXXXXX"

/* The process's umask, read where reading it changes nothing
 * (umask() itself sets it, racing with files other threads create); 022
 * where /proc is not there. */
static mode_t process_umask(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[128];
  unsigned mask = 022;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "Umask: %o", &mask) == 1) break;
  if (f) fclose(f);
  return (mode_t)mask;
}

vkl_status vkl_atomic_begin(vkl_atomic_file *a, const char *path, char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  if (strlen(path) >= sizeof a->path) {
    snprintf(err, errlen, "path too long: %s", path);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  snprintf(a->path, sizeof a->path, "%s", path);
  snprintf(a->tmp, sizeof a->tmp, "%s" TEMP_SUFFIX, path);
  int fd = mkstemp(a->tmp);
  /* mkstemp makes 0600; the file gets the mode fopen would have given it */
  if (fd < 0 || fchmod(fd, 0666 & ~process_umask()) != 0 || !(a->f = fdopen(fd, "w"))) {
    int e = errno;
    if (fd >= 0) {
      close(fd);
      unlink(a->tmp);
    }
    snprintf(err, errlen, "cannot write %s: cannot create a temporary file there: %s", path,
             strerror(e));
    return VKL_ERR_IO;
  }
  return VKL_OK;
}

int vkl_atomic_write(vkl_atomic_file *a, const void *p, size_t n) {
  if (a->error) return 0;
  if (n && fwrite(p, 1, n, a->f) != n) a->error = errno ? errno : EIO;
  return !a->error;
}

int vkl_sync_dir_of(const char *path) {
  char dir[VKL_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == dir)
    dir[1] = '\0';
  else if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

vkl_status vkl_atomic_commit(vkl_atomic_file *a, FILE **out, char *err, size_t errlen) {
  if (out) *out = NULL;
  if (!a->error && (fflush(a->f) != 0 || fsync(fileno(a->f)) != 0)) a->error = errno ? errno : EIO;
  if (a->error || !out) { /* the stream is not wanted after this */
    if (fclose(a->f) != 0 && !a->error) a->error = errno ? errno : EIO;
    a->f = NULL;
  }
  if (!a->error && rename(a->tmp, a->path) != 0) a->error = errno;
  if (!a->error && vkl_sync_dir_of(a->path) != 0) a->error = errno;
  if (a->error) {
    vkl_atomic_abort(a);
    snprintf(err, errlen, "cannot write %s: %s", a->path, strerror(a->error));
    return VKL_ERR_IO;
  }
  if (out) *out = a->f;
  a->f = NULL;
  return VKL_OK;
}

void vkl_atomic_abort(vkl_atomic_file *a) {
  if (a->f) fclose(a->f);
  a->f = NULL;
  unlink(a->tmp);
}

size_t vkl_atomic_temp_target_len(const char *name) {
  size_t n = strlen(name), suffix = strlen(TEMP_SUFFIX);
  if (n <= suffix || strncmp(name + n - suffix, TEMP_SUFFIX, 5) != 0) return 0;
  for (size_t i = n - 6; i < n; i++) /* mkstemp's letters */
    if (!isalnum((unsigned char)name[i])) return 0;
  return n - suffix;
}
