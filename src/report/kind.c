/* What a directory given to `vklars report` holds (see report.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "report/files.h"
#include "report/report.h"

vkl_status vkl_report_kind_of(const char *dir, vkl_report_kind *kind, char *err, size_t errlen) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    snprintf(err, errlen, "cannot open %s: %s", dir, strerror(errno));
    return VKL_ERR_IO;
  }
  if (!S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "%s is not a directory", dir);
    return VKL_ERR_IO;
  }
  char path[VKL_REPORT_PATH_MAX];
  /* results.csv first: a sweep directory is never also a run */
  vkl_status s = vkl_report_join(path, sizeof path, dir, "results.csv", err, errlen);
  if (s) return s;
  if (vkl_report_is_file(path)) {
    *kind = VKL_REPORT_SWEEP;
    return VKL_OK;
  }
  if ((s = vkl_report_join(path, sizeof path, dir, "run.json", err, errlen))) return s;
  *kind = vkl_report_is_file(path) ? VKL_REPORT_RUN : VKL_REPORT_NONE;
  return VKL_OK;
}
