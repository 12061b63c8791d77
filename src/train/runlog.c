/* Run directory files (see runlog.h). */
#include "train/runlog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "train/atomic_file.h"
#include "train/checkpoint.h"

enum { EPOCHS, STEPS, LAYERS, LOGS };

static const char *const NAMES[LOGS] = {"epochs.csv", "steps.csv", "layers.csv"};
static const char *const HEADERS[LOGS] = {
    ("epoch,train_loss,train_top1,test_loss,test_top1,test_top5,test_images,"
     "wall_s,images_per_s,loader_images_per_s,nonfinite_steps\n"),
    "step,epoch,loss,lr,phi,top1\n",
    "step,layer,lwn,lgn,lnr,trust_ratio,effective_lr\n",
};

struct vkl_runlog {
  char dir[512];
  FILE *f[LOGS];
  char path[LOGS][600];
  /* A log whose write failed is never written again: its last line may be
   * torn, and a row after it would be glued to it. The others go on. */
  int failed[LOGS];
};

static vkl_status write_failed(const char *path, char *err, size_t errlen) {
  snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
  return VKL_ERR_IO;
}

/* The rows a reopened log keeps: those whose first field is below `limit`
 * (a torn last line goes too). */
static vkl_status copy_rows(const char *path, uint64_t limit, vkl_atomic_file *out, char *err,
                            size_t errlen) {
  FILE *in = fopen(path, "r");
  if (!in && errno == ENOENT) return VKL_OK; /* nothing logged yet */
  if (!in) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    return VKL_ERR_IO;
  }
  char line[4096];
  for (int first = 1; fgets(line, sizeof line, in); first = 0) {
    size_t n = strlen(line);
    if (first || n == 0 || line[n - 1] != '\n') continue; /* header, torn line */
    char *end;
    unsigned long long key = strtoull(line, &end, 10);
    if (end != line && *end == ',' && key < limit) vkl_atomic_write(out, line, n);
  }
  int bad = ferror(in);
  fclose(in);
  if (bad) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno ? errno : EIO));
    return VKL_ERR_IO;
  }
  return VKL_OK;
}

/* (Re)writes log i: its header and, for a resumed run (limit > 0), the
 * rows kept, then leaves it open for appending. */
static vkl_status start_log(vkl_runlog *log, const char *dir, int i, int keep_rows, uint64_t limit,
                            char *err, size_t errlen) {
  snprintf(log->path[i], sizeof log->path[i], "%s/%s", dir, NAMES[i]);
  vkl_atomic_file a;
  vkl_status st = vkl_atomic_begin(&a, log->path[i], err, errlen);
  if (st) return st;
  vkl_atomic_write(&a, HEADERS[i], strlen(HEADERS[i]));
  if (keep_rows && (st = copy_rows(log->path[i], limit, &a, err, errlen))) {
    vkl_atomic_abort(&a);
    return st;
  }
  return vkl_atomic_commit(&a, &log->f[i], err, errlen);
}

static vkl_status open_logs(const char *dir, int keep_rows, uint64_t step, uint32_t epoch,
                            vkl_runlog **out, char *err, size_t errlen) {
  *out = NULL;
  if (strlen(dir) >= 480) {
    snprintf(err, errlen, "run directory path too long: %s", dir);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  vkl_runlog *log = calloc(1, sizeof *log);
  if (!log) {
    snprintf(err, errlen, "out of host memory");
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  snprintf(log->dir, sizeof log->dir, "%s", dir);
  const uint64_t limits[LOGS] = {epoch, step, step};
  vkl_status st = VKL_OK;
  for (int i = 0; i < LOGS && !st; i++)
    st = start_log(log, dir, i, keep_rows, limits[i], err, errlen);
  if (st) {
    char ignored[64];
    vkl_runlog_close(log, ignored, sizeof ignored);
    return st;
  }
  *out = log;
  return VKL_OK;
}

vkl_status vkl_runlog_reopen(const char *dir, uint64_t step, uint32_t epoch, vkl_runlog **out,
                             char *err, size_t errlen) {
  return open_logs(dir, 1, step, epoch, out, err, errlen);
}

/* What of an earlier run dir holds; NULL: nothing. */
static const char *earlier_run(const char *dir) {
  char path[600];
  struct stat sb;
  snprintf(path, sizeof path, "%s/run.json", dir);
  if (lstat(path, &sb) == 0) return "run.json";
  snprintf(path, sizeof path, "%s/" VKL_CKPT_LINK, dir);
  if (lstat(path, &sb) == 0) return VKL_CKPT_LINK;
  uint64_t *steps;
  size_t n = 0;
  char ignored[256];
  if (vkl_checkpoint_list(dir, &steps, &n, ignored, sizeof ignored) == VKL_OK) free(steps);
  return n ? "checkpoints" : NULL;
}

vkl_status vkl_runlog_open(const char *dir, int force, vkl_runlog **out, char *err, size_t errlen) {
  *out = NULL;
  const char *held = earlier_run(dir);
  if (held && !force) {
    snprintf(err, errlen,
             "%s already holds a run (%s); choose another --out, continue it with --resume %s, or "
             "pass --force to replace it (its checkpoints are deleted)",
             dir, held, dir);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  vkl_status st = held ? vkl_checkpoint_clear(dir, err, errlen) : VKL_OK;
  return st ? st : open_logs(dir, 0, 0, 0, out, err, errlen);
}

vkl_status vkl_runlog_close(vkl_runlog *log, char *err, size_t errlen) {
  if (!log) return VKL_OK;
  vkl_status st = VKL_OK;
  for (int i = 0; i < LOGS; i++)
    if (log->f[i] && fclose(log->f[i]) != 0 && !st) st = write_failed(log->path[i], err, errlen);
  free(log);
  return st;
}

vkl_status vkl_runlog_write_run(vkl_runlog *log, const char *json_text, char *err, size_t errlen) {
  char path[600];
  snprintf(path, sizeof path, "%s/run.json", log->dir);
  vkl_atomic_file a;
  vkl_status st = vkl_atomic_begin(&a, path, err, errlen);
  if (st) return st;
  vkl_atomic_write(&a, json_text, strlen(json_text));
  vkl_atomic_write(&a, "\n", 1);
  return vkl_atomic_commit(&a, NULL, err, errlen);
}

/* DIR/run.json parsed into *doc (a new object when there is none); a file
 * that does not read as a JSON object is an error, never replaced. */
static vkl_status read_run_json(const vkl_runlog *log, cJSON **doc, char *err, size_t errlen) {
  char path[600];
  snprintf(path, sizeof path, "%s/run.json", log->dir);
  *doc = NULL;
  FILE *f = fopen(path, "rb");
  if (!f && errno == ENOENT) {
    *doc = cJSON_CreateObject();
    return *doc ? VKL_OK : VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  char *text = NULL;
  size_t len = 0, cap = 0;
  int ok = f != NULL;
  while (ok) {
    if (cap - len < 4097) {
      char *p = realloc(text, cap = 2 * cap + 8192);
      if (!(ok = p != NULL)) break;
      text = p;
    }
    size_t got = fread(text + len, 1, cap - len - 1, f);
    len += got;
    if (got == 0) ok = !ferror(f);
    if (got == 0) break;
  }
  if (f) fclose(f);
  if (ok) {
    text[len] = '\0';
    *doc = cJSON_Parse(text);
  }
  free(text);
  if (*doc && cJSON_IsObject(*doc)) return VKL_OK;
  cJSON_Delete(*doc);
  *doc = NULL;
  snprintf(err, errlen, "%s does not read as the JSON object vklars wrote (%s); left as it is",
           path, ok ? "malformed" : strerror(errno ? errno : EIO));
  return VKL_ERR_FORMAT;
}

static int listed(const cJSON *list, const char *s) {
  const cJSON *item;
  cJSON_ArrayForEach(item,
                     list) if (cJSON_IsString(item) && !strcmp(item->valuestring, s)) return 1;
  return 0;
}

vkl_status vkl_runlog_record_skipped(vkl_runlog *log, const char *const *files, size_t n, char *err,
                                     size_t errlen) {
  cJSON *doc;
  vkl_status st = read_run_json(log, &doc, err, errlen);
  if (st) return st;
  cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
  if (!cJSON_IsObject(data)) {
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "data");
    data = cJSON_AddObjectToObject(doc, "data");
  }
  cJSON *list = cJSON_GetObjectItemCaseSensitive(data, "skipped");
  if (!cJSON_IsArray(list)) {
    cJSON_DeleteItemFromObjectCaseSensitive(data, "skipped");
    list = cJSON_AddArrayToObject(data, "skipped");
  }
  for (size_t i = 0; list && i < n; i++)
    if (!listed(list, files[i])) cJSON_AddItemToArray(list, cJSON_CreateString(files[i]));
  cJSON_DeleteItemFromObjectCaseSensitive(data, "skipped_images");
  cJSON_AddNumberToObject(data, "skipped_images", list ? cJSON_GetArraySize(list) : 0);
  char *text = list ? cJSON_Print(doc) : NULL;
  cJSON_Delete(doc);
  if (!text) {
    snprintf(err, errlen, "out of host memory recording the skipped images in %s/run.json",
             log->dir);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  st = vkl_runlog_write_run(log, text, err, errlen);
  cJSON_free(text);
  return st;
}

/* The rows of log i for `key` (a step, or an epoch) written: the
 * stream's state after its flush. */
static vkl_status flushed(vkl_runlog *log, int i, int ok, uint64_t key, char *err, size_t errlen) {
  if (ok && fflush(log->f[i]) == 0) return VKL_OK;
  log->failed[i] = 1;
  snprintf(err, errlen, "cannot write %s: %s (it lacks rows from %s %llu on)", log->path[i],
           strerror(errno ? errno : EIO), i == EPOCHS ? "epoch" : "step", (unsigned long long)key);
  return VKL_ERR_IO;
}

/* A log that failed before: refused without a word (its first failure said it). */
static vkl_status refused(vkl_runlog *log, int i, char *err, size_t errlen) {
  snprintf(err, errlen, "%s failed before", log->path[i]);
  return VKL_ERR_IO;
}

vkl_status vkl_runlog_step(vkl_runlog *log, uint64_t step, uint32_t epoch, double loss, double lr,
                           double phi, double top1, char *err, size_t errlen) {
  if (log->failed[STEPS]) return refused(log, STEPS, err, errlen);
  errno = 0;
  int ok = fprintf(log->f[STEPS], "%llu,%u,%.7g,%.7g,%.7g,%.5f\n", (unsigned long long)step, epoch,
                   loss, lr, phi, top1) >= 0;
  return flushed(log, STEPS, ok, step, err, errlen);
}

vkl_status vkl_runlog_layers(vkl_runlog *log, uint64_t step, const char *const *names,
                             const vkl_optim_stats *s, uint32_t count, char *err, size_t errlen) {
  if (log->failed[LAYERS]) return refused(log, LAYERS, err, errlen);
  errno = 0;
  int ok = 1;
  for (uint32_t i = 0; ok && i < count; i++)
    ok = fprintf(log->f[LAYERS], "%llu,%s,%.7g,%.7g,%.7g,%.7g,%.7g\n", (unsigned long long)step,
                 names[i], s[i].wnorm, s[i].dnorm, s[i].lnr, s[i].trust, s[i].eff_lr) >= 0;
  return flushed(log, LAYERS, ok, step, err, errlen);
}

vkl_status vkl_runlog_epoch(vkl_runlog *log, const vkl_epoch_result *r, char *err, size_t errlen) {
  if (log->failed[EPOCHS]) return refused(log, EPOCHS, err, errlen);
  errno = 0;
  int ok = fprintf(log->f[EPOCHS], "%u,%.6g,%.5f,%.6g,%.5f,%.5f,%llu,%.2f,%.1f,%.1f,%llu\n",
                   r->epoch, r->train_loss, r->train_top1, r->test_loss, r->test_top1, r->test_top5,
                   (unsigned long long)r->test_images, r->wall_s, r->images_per_s,
                   r->loader_images_per_s, (unsigned long long)r->nonfinite_steps) >= 0;
  return flushed(log, EPOCHS, ok, r->epoch, err, errlen);
}
