/* Reading the run logs (epochs.csv, steps.csv, layers.csv) and a sweep's
 * results.csv: a CSV file with a header row, read whole. Strict: a row with the wrong number of
 * fields, a last line without its newline (a truncated file), an empty file or a missing
 * header is an error naming the file and the 1-based line. Fields are plain (no quotes
 * needed by our own files) but a field in double quotes with "" escapes is accepted.
 *
 * Strict because a report drawn from a half-written log would silently show
 * a shorter run: the trainer writes whole lines, so a line without its
 * newline means the file was cut. A "\r\n" line end is read as "\n"; a NUL
 * byte, an unterminated quoted field and a header naming a column twice are
 * errors too. */
#ifndef VKLARS_REPORT_CSV_H
#define VKLARS_REPORT_CSV_H

#include <stddef.h>

#include "vklars/status.h"

typedef struct vkl_csv vkl_csv;

/* Reads path whole. On failure *out is NULL and err says
 * "<path>:<line>: <what>" (or "cannot read <path>: <why>"): VKL_ERR_IO for
 * a file that cannot be read, VKL_ERR_FORMAT for a malformed one. */
vkl_status vkl_csv_read(const char *path, vkl_csv **out, char *err, size_t errlen);
void vkl_csv_free(vkl_csv *csv);         /* NULL: no-op */
size_t vkl_csv_rows(const vkl_csv *csv); /* data rows, header excluded */
size_t vkl_csv_cols(const vkl_csv *csv);
/* The path the file was read from, for callers' own messages. */
const char *vkl_csv_path(const vkl_csv *csv);
/* The 1-based line of the file where data row `row` starts (row 0: the line
 * after the header). */
size_t vkl_csv_line(const vkl_csv *csv, size_t row);
/* The header's name of column col; NULL when col is out of range. */
const char *vkl_csv_header(const vkl_csv *csv, size_t col);
int vkl_csv_col(const vkl_csv *csv, const char *name); /* -1: no such column */
/* The text of a cell, "" for an empty one; NULL when row or col is out of range. */
const char *vkl_csv_cell(const vkl_csv *csv, size_t row, size_t col);
/* The cell as a double: "nan"/"inf" accepted; an empty or non-numeric cell is an error
 * "<path>:<line>: column <name>: '<text>' is not a number". */
vkl_status vkl_csv_num(const vkl_csv *csv, size_t row, size_t col, double *out, char *err,
                       size_t errlen);
/* vkl_csv_require: the column's index, or an error "<path>: no column '<name>'". */
vkl_status vkl_csv_require(const vkl_csv *csv, const char *name, size_t *col, char *err,
                           size_t errlen);

#endif
