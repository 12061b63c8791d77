/* A temporary directory tree per test, for the suites that write data
 * files: test_tree_setup makes a fresh directory (under $TMPDIR or /tmp),
 * P() names paths in it, test_tree_teardown removes it whole. */
#ifndef VKLARS_TEST_TREE_H
#define VKLARS_TEST_TREE_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char test_tree_root[512];

static void rm_rf(const char *path) {
  struct stat sb;
  if (lstat(path, &sb)) return;
  if (S_ISDIR(sb.st_mode)) {
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d))) {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
      char sub[1024];
      snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
      rm_rf(sub);
    }
    if (d) closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

/* A fresh /tmp/<tag>XXXXXX (or under $TMPDIR) as the tree's root. */
static inline void test_tree_setup(const char *tag) {
  const char *t = getenv("TMPDIR");
  snprintf(test_tree_root, sizeof test_tree_root, "%s/%sXXXXXX", t && *t ? t : "/tmp", tag);
  cr_assert(mkdtemp(test_tree_root), "mkdtemp %s", test_tree_root);
}

static inline void test_tree_teardown(void) {
  rm_rf(test_tree_root);
}

/* test_tree_root/<formatted>, in one of 8 rotating buffers */
static inline const char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline const char *P(const char *fmt, ...) {
  static char bufs[8][1024];
  static int next;
  char *b = bufs[next++ & 7];
  int n = snprintf(b, sizeof bufs[0], "%s/", test_tree_root);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b + n, sizeof bufs[0] - (size_t)n, fmt, ap);
  va_end(ap);
  return b;
}

static inline void mkdirs(const char *path) {
  char p[1024];
  snprintf(p, sizeof p, "%s", path);
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = 0;
      mkdir(p, 0755);
      *s = '/';
    }
  mkdir(p, 0755);
}

static inline void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert(f, "cannot write %s", path);
  cr_assert_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

#endif
