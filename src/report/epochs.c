/* Reading epochs.csv (see epochs.h). */
#include "report/epochs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "report/csv.h"

enum { EPOCH, TRAIN_LOSS, TRAIN_TOP1, TEST_LOSS, TEST_TOP1, TEST_TOP5, NCOLS };
static const char *const COLUMNS[NCOLS] = {"epoch",     "train_loss", "train_top1",
                                           "test_loss", "test_top1",  "test_top5"};

static double **column_array(vkl_epochs *e, int c) {
  double **a[NCOLS] = {&e->epoch,     &e->train_loss, &e->train_top1,
                       &e->test_loss, &e->test_top1,  &e->test_top5};
  return a[c];
}

static vkl_status read_rows(const vkl_csv *csv, vkl_epochs *e, char *err, size_t errlen) {
  size_t col[NCOLS];
  for (int c = 0; c < NCOLS; c++) {
    vkl_status st = vkl_csv_require(csv, COLUMNS[c], &col[c], err, errlen);
    if (st) return st;
  }
  int images = vkl_csv_col(csv, "test_images"); /* optional: without it, all were tested */
  for (size_t r = 0; r < e->n; r++) {
    for (int c = 0; c < NCOLS; c++) {
      vkl_status st = vkl_csv_num(csv, r, col[c], &(*column_array(e, c))[r], err, errlen);
      if (st) return st;
    }
    double tested = 1;
    vkl_status st = images < 0 ? VKL_OK : vkl_csv_num(csv, r, (size_t)images, &tested, err, errlen);
    if (st) return st;
    if (tested == 0) e->test_loss[r] = e->test_top1[r] = e->test_top5[r] = NAN;
    e->epoch[r] += 1;
  }
  return VKL_OK;
}

vkl_status vkl_report_read_epochs(const char *path, vkl_epochs *out, char *err, size_t errlen) {
  *out = (vkl_epochs){0};
  vkl_csv *csv = NULL;
  vkl_status st = vkl_csv_read(path, &csv, err, errlen);
  if (st) return st;
  out->n = vkl_csv_rows(csv);
  for (int c = 0; c < NCOLS; c++) {
    *column_array(out, c) = malloc((out->n ? out->n : 1) * sizeof(double));
    if (!*column_array(out, c)) st = VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  if (st)
    snprintf(err, errlen, "%s: out of host memory", path);
  else
    st = read_rows(csv, out, err, errlen);
  vkl_csv_free(csv);
  if (st) vkl_report_free_epochs(out);
  return st;
}

void vkl_report_free_epochs(vkl_epochs *e) {
  for (int c = 0; c < NCOLS; c++) free(*column_array(e, c));
  *e = (vkl_epochs){0};
}

long vkl_report_argmax(const double *v, size_t n) {
  long best = -1;
  for (size_t i = 0; i < n; i++)
    if (isfinite(v[i]) && (best < 0 || v[i] > v[best])) best = (long)i;
  return best;
}
