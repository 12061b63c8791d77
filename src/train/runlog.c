/* Run directory files (see runlog.h). */
#include "train/runlog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct vkl_runlog {
  char dir[512];
  FILE *epochs, *steps, *layers;
};

static int mkdirs(const char *path) {
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static FILE *open_csv(const char *dir, const char *name, const char *header, char *err,
                      size_t errlen) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return NULL;
  }
  fputs(header, f);
  fflush(f);
  return f;
}

static const char *const EPOCHS_HEADER =
    "epoch,train_loss,train_top1,test_loss,test_top1,test_top5,test_images,"
    "wall_s,images_per_s,loader_images_per_s,nonfinite_steps\n";
static const char *const STEPS_HEADER = "step,epoch,loss,lr,phi,top1\n";
static const char *const LAYERS_HEADER = "step,layer,lwn,lgn,lnr,trust_ratio,effective_lr\n";

/* Keeps the header and the rows whose first field is below `limit` (rows a
 * resumed run will write again, and a torn last line, go), then reopens the
 * file for appending. */
static FILE *reopen_csv(const char *dir, const char *name, const char *header, uint64_t limit,
                        char *err, size_t errlen) {
  char path[600], tmp[620];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *in = fopen(path, "r"), *out = fopen(tmp, "w");
  int ok = out && fputs(header, out) >= 0;
  char line[4096];
  for (int first = 1; ok && in && fgets(line, sizeof line, in); first = 0) {
    size_t n = strlen(line);
    if (first || n == 0 || line[n - 1] != '\n') continue; /* header, torn line */
    char *end;
    unsigned long long key = strtoull(line, &end, 10);
    if (end != line && *end == ',' && key < limit) ok = fputs(line, out) >= 0;
  }
  if (in) fclose(in);
  if (out) ok = (fclose(out) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    snprintf(err, errlen, "cannot rewrite %s for the resumed run: %s", path, strerror(errno));
    remove(tmp);
    return NULL;
  }
  FILE *f = fopen(path, "a");
  if (!f) snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
  return f;
}

vkl_status vkl_runlog_reopen(const char *dir, uint64_t step, uint32_t epoch, vkl_runlog **out,
                             char *err, size_t errlen) {
  *out = NULL;
  vkl_runlog *log = calloc(1, sizeof *log);
  if (!log) {
    snprintf(err, errlen, "out of host memory");
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  snprintf(log->dir, sizeof log->dir, "%s", dir);
  log->epochs = reopen_csv(dir, "epochs.csv", EPOCHS_HEADER, epoch, err, errlen);
  log->steps = log->epochs ? reopen_csv(dir, "steps.csv", STEPS_HEADER, step, err, errlen) : NULL;
  log->layers = log->steps ? reopen_csv(dir, "layers.csv", LAYERS_HEADER, step, err, errlen) : NULL;
  if (!log->layers) {
    vkl_runlog_close(log);
    return VKL_ERR_IO;
  }
  *out = log;
  return VKL_OK;
}

vkl_status vkl_runlog_open(const char *dir, int force, vkl_runlog **out, char *err, size_t errlen) {
  *out = NULL;
  if (strlen(dir) >= 480) {
    snprintf(err, errlen, "run directory path too long: %s", dir);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  char run[600];
  snprintf(run, sizeof run, "%s/run.json", dir);
  struct stat sb;
  if (!force && stat(run, &sb) == 0) {
    snprintf(err, errlen, "%s already holds a run (run.json); choose another --out or pass --force",
             dir);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  if (mkdirs(dir) != 0) {
    snprintf(err, errlen, "cannot create run directory %s: %s", dir, strerror(errno));
    return VKL_ERR_IO;
  }
  vkl_runlog *log = calloc(1, sizeof *log);
  if (!log) {
    snprintf(err, errlen, "out of host memory");
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  snprintf(log->dir, sizeof log->dir, "%s", dir);
  log->epochs = open_csv(dir, "epochs.csv", EPOCHS_HEADER, err, errlen);
  log->steps = log->epochs ? open_csv(dir, "steps.csv", STEPS_HEADER, err, errlen) : NULL;
  log->layers = log->steps ? open_csv(dir, "layers.csv", LAYERS_HEADER, err, errlen) : NULL;
  if (!log->layers) {
    vkl_runlog_close(log);
    return VKL_ERR_IO;
  }
  *out = log;
  return VKL_OK;
}

void vkl_runlog_close(vkl_runlog *log) {
  if (!log) return;
  if (log->epochs) fclose(log->epochs);
  if (log->steps) fclose(log->steps);
  if (log->layers) fclose(log->layers);
  free(log);
}

vkl_status vkl_runlog_write_run(vkl_runlog *log, const char *json_text, char *err, size_t errlen) {
  char path[600], tmp[620];
  snprintf(path, sizeof path, "%s/run.json", log->dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  int ok = f && fputs(json_text, f) >= 0 && fputc('\n', f) != EOF;
  if (f) ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    remove(tmp);
    return VKL_ERR_IO;
  }
  return VKL_OK;
}

void vkl_runlog_step(vkl_runlog *log, uint64_t step, uint32_t epoch, double loss, double lr,
                     double phi, double top1) {
  fprintf(log->steps, "%llu,%u,%.7g,%.7g,%.7g,%.5f\n", (unsigned long long)step, epoch, loss, lr,
          phi, top1);
  fflush(log->steps);
}

void vkl_runlog_layers(vkl_runlog *log, uint64_t step, const char *const *names,
                       const vkl_optim_stats *s, uint32_t count) {
  for (uint32_t i = 0; i < count; i++)
    fprintf(log->layers, "%llu,%s,%.7g,%.7g,%.7g,%.7g,%.7g\n", (unsigned long long)step, names[i],
            s[i].wnorm, s[i].dnorm, s[i].lnr, s[i].trust, s[i].eff_lr);
  fflush(log->layers);
}

void vkl_runlog_epoch(vkl_runlog *log, const vkl_epoch_result *r) {
  fprintf(log->epochs, "%u,%.6g,%.5f,%.6g,%.5f,%.5f,%llu,%.2f,%.1f,%.1f,%llu\n", r->epoch,
          r->train_loss, r->train_top1, r->test_loss, r->test_top1, r->test_top5,
          (unsigned long long)r->test_images, r->wall_s, r->images_per_s, r->loader_images_per_s,
          (unsigned long long)r->nonfinite_steps);
  fflush(log->epochs);
}
