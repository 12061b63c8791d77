/* File-system helpers of the report writers (see files.h). */
#include "report/files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

vkl_status vkl_report_read_file(const char *path, char **text, size_t *len, char *err,
                                size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    return VKL_ERR_IO;
  }
  size_t n = 0, cap = 0;
  char *buf = NULL;
  for (;;) {
    if (cap - n < 4096) {
      size_t ncap = cap ? cap * 2 : 65536;
      char *nbuf = ncap > cap ? realloc(buf, ncap + 1) : NULL;
      if (!nbuf) {
        free(buf);
        fclose(f);
        snprintf(err, errlen, "%s: out of host memory", path);
        return VKL_ERR_OUT_OF_HOST_MEMORY;
      }
      buf = nbuf;
      cap = ncap;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  int bad = ferror(f); /* a directory opens, then fails here with EISDIR */
  int saved = errno;
  fclose(f);
  if (bad) {
    free(buf);
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(saved ? saved : EIO));
    return VKL_ERR_IO;
  }
  buf[n] = '\0';
  *text = buf;
  *len = n;
  return VKL_OK;
}

vkl_status vkl_report_join(char *out, size_t outlen, const char *dir, const char *name, char *err,
                           size_t errlen) {
  size_t n = strlen(dir);
  int slash = n > 0 && dir[n - 1] == '/';
  int w = snprintf(out, outlen, "%s%s%s", dir, slash ? "" : "/", name);
  if (w >= 0 && (size_t)w < outlen) return VKL_OK;
  snprintf(err, errlen, "path too long: %s/%s", dir, name);
  return VKL_ERR_INVALID_ARGUMENT;
}

int vkl_report_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int vkl_report_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static vkl_status mkdir_one(const char *path, char *err, size_t errlen) {
  if (mkdir(path, 0755) == 0 || (errno == EEXIST && vkl_report_is_dir(path))) return VKL_OK;
  int e = errno == EEXIST ? ENOTDIR : errno; /* EEXIST here: a file of that name */
  snprintf(err, errlen, "cannot create directory %s: %s", path, strerror(e));
  return VKL_ERR_IO;
}

vkl_status vkl_report_mkdirs(const char *dir, char *err, size_t errlen) {
  char path[VKL_REPORT_PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s", dir) >= sizeof path) {
    snprintf(err, errlen, "path too long: %s", dir);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  /* each parent in turn: cut the path at every '/' after the first byte */
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    vkl_status st = mkdir_one(path, err, errlen);
    *p = '/';
    if (st) return st;
  }
  return mkdir_one(path, err, errlen);
}
