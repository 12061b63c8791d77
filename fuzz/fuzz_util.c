/* See fuzz_util.h. */
#include "fuzz_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dir[512];

/* Removes everything the harness wrote (files, and one level of
 * subdirectories), then the directory. */
static void remove_dir(const char *path, int depth) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char p[1024];
      snprintf(p, sizeof p, "%s/%s", path, e->d_name);
      if (remove(p) != 0 && depth < 2) remove_dir(p, depth + 1);
    }
    closedir(d);
  }
  rmdir(path);
}

static void cleanup(void) {
  if (dir[0]) remove_dir(dir, 0);
}

const char *fuzz_dir(void) {
  if (dir[0]) return dir;
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/vklars-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    perror("fuzz: mkdtemp");
    abort();
  }
  atexit(cleanup);
  return dir;
}

const char *fuzz_path(int slot, const char *name) {
  static char paths[8][1024];
  snprintf(paths[slot & 7], sizeof paths[0], "%s/%s", fuzz_dir(), name);
  return paths[slot & 7];
}

void fuzz_write(const char *path, const uint8_t *data, size_t len) {
  if (!data) {
    remove(path);
    return;
  }
  FILE *f = fopen(path, "wb");
  if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
    perror(path);
    abort();
  }
}

void fuzz_write_gz(const char *path, const uint8_t *data, size_t len) {
  gzFile f = gzopen(path, "wb");
  if (!f || (len && gzwrite(f, data, (unsigned)len) != (int)len) || gzclose(f) != Z_OK) {
    fprintf(stderr, "fuzz: %s: gzip write failed\n", path);
    abort();
  }
}

int fuzz_split(const uint8_t *data, size_t size, int nfiles, fuzz_parts *out) {
  memset(out, 0, sizeof *out);
  if (size == 0) return 0;
  out->flags = data[0];
  size_t at = 1;
  int n = 0;
  for (int i = 0; i < nfiles && i < 8 && at + 4 <= size; i++) {
    uint32_t len = (uint32_t)data[at] | (uint32_t)data[at + 1] << 8 | (uint32_t)data[at + 2] << 16 |
                   (uint32_t)data[at + 3] << 24;
    at += 4;
    if (len > size - at) len = (uint32_t)(size - at);
    out->part[i] = data + at;
    out->len[i] = len;
    out->present[i] = 1;
    at += len;
    n++;
  }
  return n;
}

void fuzz_report(const char *what, int status, const char *err) {
  static int verbose = -1;
  if (verbose < 0) verbose = getenv("VKLARS_FUZZ_VERBOSE") != NULL;
  if (verbose) fprintf(stderr, "%s: %s\n", what, status ? err : "ok");
}
