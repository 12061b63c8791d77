/* One sweep run's state and results (see run_summary.h). */
#include "sweep/run_summary.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/csv.h"
#include "train/atomic_file.h"

#define MAX_JSON_BYTES (1 << 20)

const char *vkl_sweep_state_name(vkl_sweep_state s) {
  return s == VKL_SWEEP_DONE ? "done" : s == VKL_SWEEP_FAILED ? "failed" : "pending";
}

/* path's text (at most MAX_JSON_BYTES), or NULL with errno (ENOENT: no file). */
static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(MAX_JSON_BYTES + 1);
  size_t n = buf ? fread(buf, 1, MAX_JSON_BYTES, f) : 0;
  int bad = !buf || ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    errno = buf ? EIO : ENOMEM;
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

vkl_status vkl_sweep_status_write(const char *run_dir, vkl_sweep_state state, int exit_code,
                                  const char *error, char *err, size_t errlen) {
  char path[VKL_PATH_MAX];
  snprintf(path, sizeof path, "%s/" VKL_SWEEP_STATUS_FILE, run_dir);
  cJSON *o = cJSON_CreateObject();
  char *text = NULL;
  if (o && cJSON_AddStringToObject(o, "status", vkl_sweep_state_name(state)) &&
      cJSON_AddNumberToObject(o, "exit_code", exit_code) &&
      cJSON_AddStringToObject(o, "error", error ? error : ""))
    text = cJSON_Print(o);
  cJSON_Delete(o);
  if (!text) {
    snprintf(err, errlen, "%s: out of host memory", path);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  vkl_atomic_file a;
  vkl_status st = vkl_atomic_begin(&a, path, err, errlen);
  if (!st) {
    vkl_atomic_write(&a, text, strlen(text));
    vkl_atomic_write(&a, "\n", 1);
    st = vkl_atomic_commit(&a, NULL, err, errlen);
  }
  cJSON_free(text);
  return st;
}

static vkl_status read_status(const char *run_dir, vkl_run_summary *s, char *err, size_t errlen) {
  char path[VKL_PATH_MAX];
  snprintf(path, sizeof path, "%s/" VKL_SWEEP_STATUS_FILE, run_dir);
  char *text = read_text(path);
  if (!text) {
    if (errno == ENOENT) return VKL_OK; /* pending */
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    return VKL_ERR_IO;
  }
  cJSON *o = cJSON_Parse(text);
  free(text);
  const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
  const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "exit_code");
  const cJSON *error = cJSON_GetObjectItemCaseSensitive(o, "error");
  vkl_status st = VKL_OK;
  if (!cJSON_IsString(status) || !cJSON_IsNumber(code) || !cJSON_IsString(error)) {
    snprintf(err, errlen, "%s: not a sweep status (status, exit_code, error)", path);
    st = VKL_ERR_FORMAT;
  } else if (strcmp(status->valuestring, "done") == 0 ||
             strcmp(status->valuestring, "failed") == 0) {
    s->state = status->valuestring[0] == 'd' ? VKL_SWEEP_DONE : VKL_SWEEP_FAILED;
    s->exit_code = code->valueint;
    snprintf(s->error, sizeof s->error, "%s", error->valuestring);
  } else {
    snprintf(err, errlen, "%s: status '%s' is neither done nor failed", path, status->valuestring);
    st = VKL_ERR_FORMAT;
  }
  cJSON_Delete(o);
  return st;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* epochs.csv: final and best top-1, the target epoch, wall time, speed. */
static vkl_status read_epochs(const char *run_dir, double target, vkl_run_summary *s, char *err,
                              size_t errlen) {
  char path[VKL_PATH_MAX];
  snprintf(path, sizeof path, "%s/epochs.csv", run_dir);
  vkl_csv *csv;
  vkl_status st = vkl_csv_read(path, &csv, err, errlen);
  if (st) return st;
  size_t c1, c5, cw, cs, rows = vkl_csv_rows(csv);
  double *speed = calloc(rows ? rows : 1, sizeof *speed);
  if (!speed) st = VKL_ERR_OUT_OF_HOST_MEMORY, snprintf(err, errlen, "out of host memory");
  if (!st) st = vkl_csv_require(csv, "test_top1", &c1, err, errlen);
  if (!st) st = vkl_csv_require(csv, "test_top5", &c5, err, errlen);
  if (!st) st = vkl_csv_require(csv, "wall_s", &cw, err, errlen);
  if (!st) st = vkl_csv_require(csv, "images_per_s", &cs, err, errlen);
  s->best_top1 = -1;
  for (size_t r = 0; !st && r < rows; r++) {
    double t1, t5, w;
    if ((st = vkl_csv_num(csv, r, c1, &t1, err, errlen)) ||
        (st = vkl_csv_num(csv, r, c5, &t5, err, errlen)) ||
        (st = vkl_csv_num(csv, r, cw, &w, err, errlen)) ||
        (st = vkl_csv_num(csv, r, cs, &speed[r], err, errlen)))
      break;
    s->final_top1 = t1;
    s->final_top5 = t5;
    if (t1 > s->best_top1) { /* NaN (no evaluation that epoch) never wins */
      s->best_top1 = t1;
      s->best_top5 = t5;
      s->best_epoch = (uint32_t)r + 1;
    }
    if (target > 0 && !s->target_epoch && t1 >= target) s->target_epoch = (uint32_t)r + 1;
    s->wall_s += w;
  }
  if (!st && rows) {
    qsort(speed, rows, sizeof *speed, compare_doubles);
    s->images_per_s = speed[rows / 2];
    s->epochs = (uint32_t)rows;
    s->have_results = 1;
  }
  if (s->best_top1 < 0) s->best_top1 = NAN, s->best_top5 = NAN;
  free(speed);
  vkl_csv_free(csv);
  return st;
}

static vkl_status read_steps(const char *run_dir, vkl_run_summary *s, char *err, size_t errlen) {
  char path[VKL_PATH_MAX];
  snprintf(path, sizeof path, "%s/steps.csv", run_dir);
  vkl_csv *csv;
  vkl_status st = vkl_csv_read(path, &csv, err, errlen);
  size_t col;
  double step = 0;
  if (!st) st = vkl_csv_require(csv, "step", &col, err, errlen);
  if (!st && vkl_csv_rows(csv))
    st = vkl_csv_num(csv, vkl_csv_rows(csv) - 1, col, &step, err, errlen);
  s->steps = vkl_csv_rows(csv) ? (uint64_t)step + 1 : 0; /* steps count from 0 */
  vkl_csv_free(csv);
  return st;
}

/* run.json's device name; a run.json without one leaves it empty. */
static void read_device(const char *run_dir, vkl_run_summary *s) {
  char path[VKL_PATH_MAX];
  snprintf(path, sizeof path, "%s/run.json", run_dir);
  char *text = read_text(path);
  cJSON *o = text ? cJSON_Parse(text) : NULL;
  free(text);
  const cJSON *name =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "device"), "name");
  if (cJSON_IsString(name)) snprintf(s->device, sizeof s->device, "%s", name->valuestring);
  cJSON_Delete(o);
}

vkl_status vkl_run_summary_read(const char *run_dir, double target, vkl_run_summary *out,
                                char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  out->final_top1 = out->final_top5 = out->best_top1 = out->best_top5 = NAN;
  vkl_status st = read_status(run_dir, out, err, errlen);
  if (st || out->state != VKL_SWEEP_DONE) return st;
  if ((st = read_epochs(run_dir, target, out, err, errlen)) ||
      (st = read_steps(run_dir, out, err, errlen)))
    return st;
  read_device(run_dir, out);
  return VKL_OK;
}
