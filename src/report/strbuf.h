/* A growable string for building text in memory (gnuplot scripts, HTML
 * pages) before writing it whole. An allocation failure is remembered, not
 * reported at each append: the builder checks once, at the end, so the many
 * small appends stay one line each. */
#ifndef VKLARS_REPORT_STRBUF_H
#define VKLARS_REPORT_STRBUF_H

#include <stddef.h>

typedef struct vkl_strbuf {
  char *data; /* NUL-terminated; NULL until the first append */
  size_t len, cap;
  int failed; /* an append ran out of memory; the text is incomplete */
} vkl_strbuf;

void vkl_strbuf_add(vkl_strbuf *b, const char *s);
void vkl_strbuf_addn(vkl_strbuf *b, const char *s, size_t n);
void vkl_strbuf_addf(vkl_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text so far; "" when nothing was appended. */
const char *vkl_strbuf_str(const vkl_strbuf *b);
void vkl_strbuf_free(vkl_strbuf *b);

#endif
