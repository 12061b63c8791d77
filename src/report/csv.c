/* Reading a CSV file with a header row (see csv.h): the file is read whole
 * and its fields are cut in place (quotes removed, each field ended by a
 * NUL), so a cell is a pointer into that one buffer. */
#include "report/csv.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/files.h"

struct vkl_csv {
  char *path;
  char *text;    /* the file's bytes, fields NUL-terminated in place */
  char **cells;  /* (rows + 1) * cols, the header first */
  size_t *lines; /* 1-based line where each row starts, the header first */
  size_t rows, cols;
  size_t ncells, cap_cells, cap_lines; /* while reading */
};

/* The parser's position in the text. */
typedef struct csv_parser {
  vkl_csv *csv;
  char *r, *end;
  size_t line;
  char *err;
  size_t errlen;
} csv_parser;

static vkl_status no_memory(const char *path, char *err, size_t errlen) {
  snprintf(err, errlen, "%s: out of host memory", path);
  return VKL_ERR_OUT_OF_HOST_MEMORY;
}

static size_t line_of(const char *text, const char *at) {
  size_t line = 1;
  for (const char *p = text; p < at; p++) line += *p == '\n';
  return line;
}

/* Checks that make the field parser's job simple: no NUL byte (a cell
 * would end early without a word) and a newline at the end. */
static vkl_status check_text(const char *path, const char *text, size_t len, char *err,
                             size_t errlen) {
  if (len == 0) {
    snprintf(err, errlen, "%s:1: empty file (no header row)", path);
    return VKL_ERR_FORMAT;
  }
  const char *nul = memchr(text, '\0', len);
  if (nul) {
    snprintf(err, errlen, "%s:%zu: NUL byte in the file", path, line_of(text, nul));
    return VKL_ERR_FORMAT;
  }
  if (text[len - 1] != '\n') {
    snprintf(err, errlen, "%s:%zu: the last line has no newline (a truncated file?)", path,
             line_of(text, text + len));
    return VKL_ERR_FORMAT;
  }
  return VKL_OK;
}

static vkl_status fail(csv_parser *p, size_t line, const char *what) {
  snprintf(p->err, p->errlen, "%s:%zu: %s", p->csv->path, line, what);
  return VKL_ERR_FORMAT;
}

static int push_cell(vkl_csv *c, char *cell) {
  if (c->ncells == c->cap_cells) {
    size_t ncap = c->cap_cells ? c->cap_cells * 2 : 256;
    char **n = ncap <= SIZE_MAX / sizeof *n ? realloc(c->cells, ncap * sizeof *n) : NULL;
    if (!n) return -1;
    c->cells = n;
    c->cap_cells = ncap;
  }
  c->cells[c->ncells++] = cell;
  return 0;
}

static int push_line(vkl_csv *c, size_t nrows, size_t line) {
  if (nrows == c->cap_lines) {
    size_t ncap = c->cap_lines ? c->cap_lines * 2 : 64;
    size_t *n = ncap <= SIZE_MAX / sizeof *n ? realloc(c->lines, ncap * sizeof *n) : NULL;
    if (!n) return -1;
    c->lines = n;
    c->cap_lines = ncap;
  }
  c->lines[nrows] = line;
  return 0;
}

/* A field in double quotes, p->r just past the opening quote: "" is one
 * quote, and commas and newlines inside are text. Writes the unquoted text
 * at *w (never ahead of p->r, so in place) and leaves p->r on the
 * delimiter after the closing quote. */
static vkl_status quoted_field(csv_parser *p, char **w, size_t start_line) {
  for (;;) {
    if (p->r == p->end) return fail(p, start_line, "a quoted field has no closing quote");
    if (*p->r == '"') {
      if (p->r + 1 < p->end && p->r[1] == '"') {
        *(*w)++ = '"';
        p->r += 2;
        continue;
      }
      p->r++;
      break;
    }
    p->line += *p->r == '\n';
    *(*w)++ = *p->r++;
  }
  if (*p->r == '\r' && p->r + 1 < p->end && p->r[1] == '\n') p->r++;
  if (*p->r != ',' && *p->r != '\n')
    return fail(p, p->line, "text after a quoted field's closing quote");
  return VKL_OK;
}

/* One field: its text NUL-terminated in place, *row_end set when it was the
 * row's last. The text ends with a newline (check_text), so an unquoted
 * field always meets a delimiter. */
static vkl_status field(csv_parser *p, char **out, int *row_end) {
  char *w = p->r;
  *out = w;
  if (*p->r == '"') {
    p->r++;
    vkl_status st = quoted_field(p, &w, p->line);
    if (st) return st;
  } else {
    while (*p->r != ',' && *p->r != '\n') p->r++;
    w = p->r;
    if (*p->r == '\n' && w > *out && w[-1] == '\r') w--; /* "\r\n" ends the line */
  }
  *row_end = *p->r == '\n';
  p->line += *row_end;
  p->r++;
  *w = '\0';
  return VKL_OK;
}

/* One row's fields, appended to the cells; *nfields says how many. */
static vkl_status row(csv_parser *p, size_t *nfields) {
  size_t before = p->csv->ncells;
  for (int row_end = 0; !row_end;) {
    char *cell;
    vkl_status st = field(p, &cell, &row_end);
    if (st) return st;
    if (push_cell(p->csv, cell)) return no_memory(p->csv->path, p->err, p->errlen);
  }
  *nfields = p->csv->ncells - before;
  return VKL_OK;
}

/* The header: at least one named column, no name twice (vkl_csv_col must
 * find one column for a name). */
static vkl_status header(csv_parser *p) {
  vkl_csv *c = p->csv;
  if (*p->r == '\n' || (*p->r == '\r' && p->r[1] == '\n'))
    return fail(p, 1, "missing header (the first line is empty)");
  vkl_status st = row(p, &c->cols);
  if (st) return st;
  if (push_line(c, 0, 1)) return no_memory(c->path, p->err, p->errlen);
  for (size_t i = 0; i < c->cols; i++) {
    char what[256];
    if (!c->cells[i][0]) {
      snprintf(what, sizeof what, "header: column %zu has no name", i + 1);
      return fail(p, 1, what);
    }
    for (size_t j = 0; j < i; j++) {
      if (strcmp(c->cells[i], c->cells[j]) != 0) continue;
      snprintf(what, sizeof what, "header: column '%.200s' named twice", c->cells[i]);
      return fail(p, 1, what);
    }
  }
  return VKL_OK;
}

static vkl_status parse(csv_parser *p) {
  vkl_csv *c = p->csv;
  vkl_status st = header(p);
  if (st) return st;
  while (p->r < p->end) {
    size_t line = p->line, n;
    if ((st = row(p, &n))) return st;
    if (n != c->cols) {
      char what[128];
      snprintf(what, sizeof what, "%zu field%s, but the header has %zu", n, n == 1 ? "" : "s",
               c->cols);
      return fail(p, line, what);
    }
    if (push_line(c, c->rows + 1, line)) return no_memory(c->path, p->err, p->errlen);
    c->rows++;
  }
  return VKL_OK;
}

vkl_status vkl_csv_read(const char *path, vkl_csv **out, char *err, size_t errlen) {
  *out = NULL;
  vkl_csv *c = calloc(1, sizeof *c);
  if (!c || !(c->path = strdup(path))) {
    free(c);
    return no_memory(path, err, errlen);
  }
  size_t len = 0;
  vkl_status st = vkl_report_read_file(path, &c->text, &len, err, errlen);
  if (!st) st = check_text(path, c->text, len, err, errlen);
  if (!st) {
    csv_parser p = {c, c->text, c->text + len, 1, err, errlen};
    st = parse(&p);
  }
  if (st) {
    vkl_csv_free(c);
    return st;
  }
  *out = c;
  return VKL_OK;
}

void vkl_csv_free(vkl_csv *csv) {
  if (!csv) return;
  free(csv->path);
  free(csv->text);
  free(csv->cells);
  free(csv->lines);
  free(csv);
}

size_t vkl_csv_rows(const vkl_csv *csv) {
  return csv->rows;
}
size_t vkl_csv_cols(const vkl_csv *csv) {
  return csv->cols;
}
const char *vkl_csv_path(const vkl_csv *csv) {
  return csv->path;
}

size_t vkl_csv_line(const vkl_csv *csv, size_t row) {
  return row < csv->rows ? csv->lines[row + 1] : 0;
}

const char *vkl_csv_header(const vkl_csv *csv, size_t col) {
  return col < csv->cols ? csv->cells[col] : NULL;
}

int vkl_csv_col(const vkl_csv *csv, const char *name) {
  for (size_t i = 0; i < csv->cols && i <= INT32_MAX; i++)
    if (strcmp(csv->cells[i], name) == 0) return (int)i;
  return -1;
}

const char *vkl_csv_cell(const vkl_csv *csv, size_t row, size_t col) {
  if (row >= csv->rows || col >= csv->cols) return NULL;
  return csv->cells[(row + 1) * csv->cols + col];
}

vkl_status vkl_csv_num(const vkl_csv *csv, size_t row, size_t col, double *out, char *err,
                       size_t errlen) {
  const char *text = vkl_csv_cell(csv, row, col);
  if (!text) {
    snprintf(err, errlen, "%s: no cell at row %zu, column %zu (%zu rows, %zu columns)", csv->path,
             row, col, csv->rows, csv->cols);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  /* strtod would skip leading blanks; a cell " 1" is not what we write */
  char *end = NULL;
  double v = text[0] && !isspace((unsigned char)text[0]) ? strtod(text, &end) : 0.0;
  if (!end || end == text || *end) {
    snprintf(err, errlen, "%s:%zu: column %s: '%.100s' is not a number", csv->path,
             csv->lines[row + 1], csv->cells[col], text);
    return VKL_ERR_FORMAT;
  }
  *out = v; /* "nan", "inf" and an overflow to inf are numbers here */
  return VKL_OK;
}

vkl_status vkl_csv_require(const vkl_csv *csv, const char *name, size_t *col, char *err,
                           size_t errlen) {
  int i = vkl_csv_col(csv, name);
  if (i < 0) {
    snprintf(err, errlen, "%s: no column '%s'", csv->path, name);
    return VKL_ERR_FORMAT;
  }
  *col = (size_t)i;
  return VKL_OK;
}
