/* A growable string (see strbuf.h). */
#include "report/strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for n more bytes and the NUL; 0, or -1 (remembered in failed). */
static int reserve(vkl_strbuf *b, size_t n) {
  if (b->failed) return -1;
  if (n < b->cap - b->len) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len <= n) {
    if (cap > SIZE_MAX / 2) {
      b->failed = 1;
      return -1;
    }
    cap *= 2;
  }
  char *data = realloc(b->data, cap);
  if (!data) {
    b->failed = 1;
    return -1;
  }
  b->data = data;
  b->cap = cap;
  return 0;
}

void vkl_strbuf_addn(vkl_strbuf *b, const char *s, size_t n) {
  if (reserve(b, n)) return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void vkl_strbuf_add(vkl_strbuf *b, const char *s) {
  vkl_strbuf_addn(b, s, strlen(s));
}

void vkl_strbuf_addf(vkl_strbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = 1;
    return;
  }
  if (reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

const char *vkl_strbuf_str(const vkl_strbuf *b) {
  return b->data ? b->data : "";
}

void vkl_strbuf_free(vkl_strbuf *b) {
  free(b->data);
  *b = (vkl_strbuf){0};
}
