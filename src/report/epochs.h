/* A run's epochs.csv as arrays: train and test loss and accuracy per epoch,
 * for the run report's curves and a sweep's test top-1 curves. */
#ifndef VKLARS_REPORT_EPOCHS_H
#define VKLARS_REPORT_EPOCHS_H

#include <stddef.h>

#include "vklars/status.h"

typedef struct vkl_epochs {
  size_t n;
  double *epoch; /* 1-based: the epochs completed (the file's 0-based epoch + 1) */
  /* top-1 and top-5 are fractions. The test columns are NaN where the row
   * says no test image was evaluated (test_images 0: a pretraining run
   * logs zeros there) or the file has NaN. */
  double *train_loss, *train_top1, *test_loss, *test_top1, *test_top5;
} vkl_epochs;

/* Reads path (every number checked: errors name line and column). */
vkl_status vkl_report_read_epochs(const char *path, vkl_epochs *out, char *err, size_t errlen);
void vkl_report_free_epochs(vkl_epochs *e);
/* The row with the highest finite value of v[0..n-1]; -1 when none. */
long vkl_report_argmax(const double *v, size_t n);

#endif
