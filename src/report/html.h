/* Building the self-contained HTML pages of the reports: escaping text,
 * the page's frame and style, tables, figures, and writing the page whole
 * (train/atomic_file.h: a reader never sees half a page). */
#ifndef VKLARS_REPORT_HTML_H
#define VKLARS_REPORT_HTML_H

#include <stddef.h>

#include "report/strbuf.h"
#include "vklars/status.h"

/* s with &, <, >, " and ' escaped: safe as element text and as a quoted
 * attribute value. */
void vkl_html_escape(vkl_strbuf *b, const char *s);
/* The doctype, head (title, style) and an <h1> of the title. */
void vkl_html_begin(vkl_strbuf *b, const char *title);
void vkl_html_end(vkl_strbuf *b);
/* <h2>heading</h2> */
void vkl_html_heading(vkl_strbuf *b, const char *heading);
/* <p>text</p>, escaped */
void vkl_html_para(vkl_strbuf *b, const char *text);
/* A figure: the image by its file name relative to the page, its caption. */
void vkl_html_figure(vkl_strbuf *b, const char *png_name, const char *caption);
/* A table row of n cells, escaped; header: <th> cells. Between
 * vkl_html_table_begin and vkl_html_table_end. */
void vkl_html_table_begin(vkl_strbuf *b);
void vkl_html_row(vkl_strbuf *b, const char *const *cells, size_t n, int header);
void vkl_html_table_end(vkl_strbuf *b);
/* Writes the page to path; an allocation failure while building it is an
 * error here. */
vkl_status vkl_html_save(const vkl_strbuf *b, const char *path, char *err, size_t errlen);

#endif
