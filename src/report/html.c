/* The HTML pages of the reports (see html.h). */
#include "report/html.h"

#include <stdio.h>
#include <string.h>

#include "train/atomic_file.h"

/* A small inline style: the page is one file beside its images. */
static const char STYLE[] =
    "body{font-family:sans-serif;margin:2em;max-width:1200px}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #bbb;padding:2px 8px;text-align:left;font-size:90%}"
    "th{background:#eee}figure{margin:1em 0}img{max-width:100%}"
    "code{background:#f4f4f4;padding:1px 4px}";

void vkl_html_escape(vkl_strbuf *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
      case '&': vkl_strbuf_add(b, "&amp;"); break;
      case '<': vkl_strbuf_add(b, "&lt;"); break;
      case '>': vkl_strbuf_add(b, "&gt;"); break;
      case '"': vkl_strbuf_add(b, "&quot;"); break;
      case '\'': vkl_strbuf_add(b, "&#39;"); break;
      default: vkl_strbuf_addn(b, s, 1);
    }
  }
}

void vkl_html_begin(vkl_strbuf *b, const char *title) {
  vkl_strbuf_add(b,
                 "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
  vkl_html_escape(b, title);
  vkl_strbuf_addf(b, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", STYLE);
  vkl_html_escape(b, title);
  vkl_strbuf_add(b, "</h1>\n");
}

void vkl_html_end(vkl_strbuf *b) {
  vkl_strbuf_add(b, "</body>\n</html>\n");
}

void vkl_html_heading(vkl_strbuf *b, const char *heading) {
  vkl_strbuf_add(b, "<h2>");
  vkl_html_escape(b, heading);
  vkl_strbuf_add(b, "</h2>\n");
}

void vkl_html_para(vkl_strbuf *b, const char *text) {
  vkl_strbuf_add(b, "<p>");
  vkl_html_escape(b, text);
  vkl_strbuf_add(b, "</p>\n");
}

void vkl_html_figure(vkl_strbuf *b, const char *png_name, const char *caption) {
  vkl_strbuf_add(b, "<figure><img src=\"");
  vkl_html_escape(b, png_name);
  vkl_strbuf_add(b, "\" alt=\"");
  vkl_html_escape(b, caption);
  vkl_strbuf_add(b, "\"><figcaption>");
  vkl_html_escape(b, caption);
  vkl_strbuf_add(b, "</figcaption></figure>\n");
}

void vkl_html_table_begin(vkl_strbuf *b) {
  vkl_strbuf_add(b, "<table>\n");
}
void vkl_html_table_end(vkl_strbuf *b) {
  vkl_strbuf_add(b, "</table>\n");
}

void vkl_html_row(vkl_strbuf *b, const char *const *cells, size_t n, int header) {
  const char *open = header ? "<th>" : "<td>", *close = header ? "</th>" : "</td>";
  vkl_strbuf_add(b, "<tr>");
  for (size_t i = 0; i < n; i++) {
    vkl_strbuf_add(b, open);
    vkl_html_escape(b, cells[i] ? cells[i] : "");
    vkl_strbuf_add(b, close);
  }
  vkl_strbuf_add(b, "</tr>\n");
}

vkl_status vkl_html_save(const vkl_strbuf *b, const char *path, char *err, size_t errlen) {
  if (b->failed) {
    snprintf(err, errlen, "%s: out of host memory while building the page", path);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  vkl_atomic_file a;
  vkl_status st = vkl_atomic_begin(&a, path, err, errlen);
  if (st) return st;
  vkl_atomic_write(&a, vkl_strbuf_str(b), b->len);
  return vkl_atomic_commit(&a, NULL, err, errlen);
}
