/* A sweep's results.csv and results.md (see results.h). */
#include "sweep/results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/atomic_file.h"

#define MAX_COLUMNS (VKL_GRID_MAX_KEYS + 1)

int vkl_sweep_is_line_key(const char *key) {
  static const char *const free_keys[] = {"batch", "lr", "lambda", "seed", "micro-batch"};
  for (size_t i = 0; i < sizeof free_keys / sizeof free_keys[0]; i++)
    if (strcmp(key, free_keys[i]) == 0) return 0;
  return 1;
}

static const char *value_of(const vkl_sweep_run *r, const char *key) {
  for (int i = 0; i < r->n; i++)
    if (strcmp(r->key[i], key) == 0) return r->value[i];
  return NULL;
}

/* Every key some run sets, in the grid's order: a key first met in a later
 * run goes after the key it follows there. */
static int setting_columns(const vkl_sweep_run *runs, size_t n, const char **cols) {
  int nc = 0;
  for (size_t i = 0; i < n; i++) {
    int at = 0;
    for (int j = 0; j < runs[i].n; j++) {
      int found = -1;
      for (int c = 0; c < nc; c++)
        if (strcmp(cols[c], runs[i].key[j]) == 0) found = c;
      if (found >= 0) {
        at = found + 1;
        continue;
      }
      if (nc == MAX_COLUMNS) continue;
      memmove(&cols[at + 1], &cols[at], (size_t)(nc - at) * sizeof *cols);
      cols[at] = runs[i].key[j];
      nc++;
      at++;
    }
  }
  return nc;
}

/* A CSV field, quoted when it holds a comma, a quote or a line break. */
static void put_field(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\n\r")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
  }
  fputc('"', f);
}

static void put_num(FILE *f, double v, int have) {
  if (have && !isnan(v)) fprintf(f, ",%.6g", v);
  else fputc(',', f);
}

static void write_csv(FILE *f, const vkl_sweep_run *runs, const vkl_run_summary *sum, size_t n,
                      const char **cols, int nc) {
  fputs("run,status", f);
  for (int c = 0; c < nc; c++) fprintf(f, ",%s", cols[c]);
  fputs(",final_top1,final_top5,best_top1,best_top5,best_epoch,target_epoch,epochs_done,"
        "steps_done,wall_s,images_per_s,device,error\n",
        f);
  for (size_t i = 0; i < n; i++) {
    const vkl_run_summary *s = &sum[i];
    int have = s->have_results;
    put_field(f, runs[i].name);
    fprintf(f, ",%s", vkl_sweep_state_name(s->state));
    for (int c = 0; c < nc; c++) {
      const char *v = value_of(&runs[i], cols[c]);
      fputc(',', f);
      put_field(f, v ? v : "");
    }
    put_num(f, s->final_top1, have);
    put_num(f, s->final_top5, have);
    put_num(f, s->best_top1, have);
    put_num(f, s->best_top5, have);
    put_num(f, s->best_epoch, have);
    put_num(f, s->target_epoch, have && s->target_epoch);
    put_num(f, s->epochs, have);
    put_num(f, (double)s->steps, have);
    put_num(f, s->wall_s, have);
    put_num(f, s->images_per_s, have);
    fputc(',', f);
    put_field(f, s->device);
    fputc(',', f);
    put_field(f, s->error);
    fputc('\n', f);
  }
}

/* ---- results.md ------------------------------------------------------------ */

/* The runs that differ only in their seed. */
typedef struct config {
  size_t first; /* a run of it, for its settings */
  int runs, done, failed, reached;
  double best_sum, best_sq, final_sum, final_sq, target_sum, speed_sum;
} config;

static int same_settings(const vkl_sweep_run *a, const vkl_sweep_run *b, int line_only) {
  for (int pass = 0; pass < 2; pass++) { /* a's keys in b, then b's in a */
    const vkl_sweep_run *x = pass ? b : a, *y = pass ? a : b;
    for (int i = 0; i < x->n; i++) {
      if (strcmp(x->key[i], "seed") == 0 || (line_only && !vkl_sweep_is_line_key(x->key[i])))
        continue;
      const char *v = value_of(y, x->key[i]);
      if (!v || strcmp(v, x->value[i]) != 0) return 0;
    }
  }
  return 1;
}

static double mean(double sum, int n) {
  return n ? sum / n : NAN;
}

static double std_dev(double sum, double sq, int n) { /* the sample's, over seeds */
  if (n < 2) return NAN;
  double m = sum / n, var = (sq - n * m * m) / (n - 1);
  return var > 0 ? sqrt(var) : 0;
}

static void put_pct(FILE *f, double sum, double sq, int n) {
  if (!n) {
    fputs("-", f);
    return;
  }
  fprintf(f, "%.2f", 100 * mean(sum, n));
  if (n > 1) fprintf(f, " ± %.2f", 100 * std_dev(sum, sq, n));
}

static size_t group_configs(const vkl_sweep_run *runs, const vkl_run_summary *sum, size_t n,
                            config *cf) {
  size_t nc = 0;
  for (size_t i = 0; i < n; i++) {
    size_t c = 0;
    while (c < nc && !same_settings(&runs[cf[c].first], &runs[i], 0)) c++;
    if (c == nc) memset(&cf[nc++], 0, sizeof *cf), cf[c].first = i;
    config *g = &cf[c];
    const vkl_run_summary *s = &sum[i];
    g->runs++;
    g->failed += s->state == VKL_SWEEP_FAILED;
    if (!s->have_results || isnan(s->best_top1)) continue;
    g->done++;
    g->best_sum += s->best_top1;
    g->best_sq += s->best_top1 * s->best_top1;
    g->final_sum += s->final_top1;
    g->final_sq += s->final_top1 * s->final_top1;
    g->speed_sum += s->images_per_s;
    if (s->target_epoch) g->reached++, g->target_sum += s->target_epoch;
  }
  return nc;
}

/* Whether runs differ in key (a value, or its absence). */
static int key_varies(const vkl_sweep_run *runs, size_t n, const char *key) {
  const char *first = n ? value_of(&runs[0], key) : NULL;
  for (size_t i = 1; i < n; i++) {
    const char *v = value_of(&runs[i], key);
    if ((v == NULL) != (first == NULL) || (v && strcmp(v, first) != 0)) return 1;
  }
  return 0;
}

/* The settings of r that vary across the sweep (the others are listed
 * once, above the tables); line_only: only those of its optimizer line. */
static void put_settings(FILE *f, const vkl_sweep_run *runs, size_t n, const vkl_sweep_run *r,
                         int line_only) {
  int any = 0;
  for (int i = 0; i < r->n; i++)
    if (strcmp(r->key[i], "seed") != 0 && (!line_only || vkl_sweep_is_line_key(r->key[i])) &&
        key_varies(runs, n, r->key[i]))
      fprintf(f, "%s%s=%s", any++ ? " " : "", r->key[i], r->value[i]);
  if (!any) fputs("(all runs)", f);
}

static int compare_batches(const void *a, const void *b) {
  const char *x = *(const char *const *)a, *y = *(const char *const *)b;
  double u = x ? atof(x) : 0, v = y ? atof(y) : 0;
  return (u > v) - (u < v);
}

/* The main table: optimizer lines by batch sizes. */
static void write_best_table(FILE *f, const vkl_sweep_run *runs, size_t n, const config *cf,
                             size_t nc) {
  const char **batches = calloc(nc + 1, sizeof *batches);
  size_t *lines = calloc(nc + 1, sizeof *lines);
  if (!batches || !lines) goto done;
  size_t nb = 0, nl = 0;
  for (size_t c = 0; c < nc; c++) {
    const vkl_sweep_run *r = &runs[cf[c].first];
    const char *b = value_of(r, "batch");
    size_t i = 0;
    while (i < nb && !((b == NULL && batches[i] == NULL) ||
                       (b && batches[i] && strcmp(b, batches[i]) == 0)))
      i++;
    if (i == nb) batches[nb++] = b;
    for (i = 0; i < nl && !same_settings(&runs[cf[lines[i]].first], r, 1); i++) continue;
    if (i == nl) lines[nl++] = c;
  }
  qsort(batches, nb, sizeof *batches, compare_batches);
  fputs("| optimizer |", f);
  for (size_t b = 0; b < nb; b++) fprintf(f, " B = %s |", batches[b] ? batches[b] : "default");
  fputs("\n|---|", f);
  for (size_t b = 0; b < nb; b++) fputs("---|", f);
  fputc('\n', f);
  for (size_t l = 0; l < nl; l++) {
    const vkl_sweep_run *lr = &runs[cf[lines[l]].first];
    fputs("| ", f);
    put_settings(f, runs, n, lr, 1);
    fputs(" |", f);
    for (size_t b = 0; b < nb; b++) {
      const config *best = NULL;
      for (size_t c = 0; c < nc; c++) {
        const vkl_sweep_run *r = &runs[cf[c].first];
        const char *rb = value_of(r, "batch");
        if (!same_settings(r, lr, 1) || !((rb == NULL && batches[b] == NULL) ||
                                          (rb && batches[b] && strcmp(rb, batches[b]) == 0)))
          continue;
        if (cf[c].done && (!best || mean(cf[c].best_sum, cf[c].done) >
                                        mean(best->best_sum, best->done)))
          best = &cf[c];
      }
      fputc(' ', f);
      if (best) {
        put_pct(f, best->best_sum, best->best_sq, best->done);
        const char *lrv = value_of(&runs[best->first], "lr");
        const char *lambda = value_of(&runs[best->first], "lambda");
        if (lrv && lambda)
          fprintf(f, " (lr %s, λ %s)", lrv, lambda);
        else if (lrv || lambda)
          fprintf(f, " (%s %s)", lrv ? "lr" : "λ", lrv ? lrv : lambda);
      } else {
        fputs("-", f);
      }
      fputs(" |", f);
    }
    fputc('\n', f);
  }
done:
  free(batches);
  free(lines);
}

static void write_configs_table(FILE *f, const vkl_sweep_run *runs, size_t n, const config *cf,
                                size_t nc, double target) {
  fputs("| settings | runs | best top-1 (%) | final top-1 (%) |", f);
  if (target > 0) fprintf(f, " epochs to %.4g%% |", 100 * target);
  fputs(" img/s |\n|---|---|---|---|", f);
  if (target > 0) fputs("---|", f);
  fputs("---|\n", f);
  for (size_t c = 0; c < nc; c++) {
    const config *g = &cf[c];
    const vkl_sweep_run *r = &runs[g->first];
    fputs("| ", f);
    put_settings(f, runs, n, r, 0);
    fprintf(f, " | %d done", g->done);
    if (g->failed) fprintf(f, ", %d failed", g->failed);
    if (g->runs - g->done - g->failed) fprintf(f, ", %d pending", g->runs - g->done - g->failed);
    fputs(" | ", f);
    put_pct(f, g->best_sum, g->best_sq, g->done);
    fputs(" | ", f);
    put_pct(f, g->final_sum, g->final_sq, g->done);
    if (target > 0) {
      if (g->reached)
        fprintf(f, " | %.1f (%d of %d)", g->target_sum / g->reached, g->reached, g->done);
      else
        fputs(" | never", f);
    }
    if (g->done)
      fprintf(f, " | %.0f |\n", g->speed_sum / g->done);
    else
      fputs(" | - |\n", f);
  }
}

static void write_failures(FILE *f, const vkl_sweep_run *runs, const vkl_run_summary *sum,
                           size_t n) {
  int any = 0;
  for (size_t i = 0; i < n; i++) {
    if (sum[i].state != VKL_SWEEP_FAILED) continue;
    if (!any++) fputs("\n## Failed runs\n\n", f);
    fprintf(f, "- %s (exit %d): %s\n", runs[i].name, sum[i].exit_code, sum[i].error);
  }
}

static void write_md(FILE *f, const char *dir, const vkl_sweep_run *runs,
                     const vkl_run_summary *sum, size_t n, double target, config *cf) {
  size_t nc = group_configs(runs, sum, n, cf);
  int done = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    done += sum[i].state == VKL_SWEEP_DONE;
    failed += sum[i].state == VKL_SWEEP_FAILED;
  }
  fprintf(f, "# Sweep %s\n\n", dir);
  fprintf(f, "%zu runs: %d done, %d failed, %zu pending.\n\n", n, done, failed,
          n - (size_t)done - (size_t)failed);
  if (n) { /* the settings every run shares */
    int any = 0;
    for (int i = 0; i < runs[0].n; i++)
      if (!key_varies(runs, n, runs[0].key[i]))
        fprintf(f, "%s`%s=%s`", any++ ? ", " : "Every run: ", runs[0].key[i], runs[0].value[i]);
    if (any) fputs(".\n\n", f);
  }
  fputs("## Best test top-1 (%) per optimizer and batch size\n\n"
        "Each cell: the best test top-1 over a run's epochs, mean ± standard deviation over\n"
        "seeds, for the learning rate (and TVLARS λ) whose mean is highest (in brackets).\n\n",
        f);
  write_best_table(f, runs, n, cf, nc);
  fputs("\n## Every configuration\n\n", f);
  write_configs_table(f, runs, n, cf, nc, target);
  write_failures(f, runs, sum, n);
}

static vkl_status write_whole(const char *path, const char *text, size_t len, char *err,
                              size_t errlen) {
  vkl_atomic_file a;
  vkl_status st = vkl_atomic_begin(&a, path, err, errlen);
  if (st) return st;
  vkl_atomic_write(&a, text, len);
  return vkl_atomic_commit(&a, NULL, err, errlen);
}

vkl_status vkl_sweep_results_write(const char *dir, const vkl_sweep_run *runs,
                                   const vkl_run_summary *sum, size_t n, double target, char *err,
                                   size_t errlen) {
  const char *cols[MAX_COLUMNS];
  int ncols = setting_columns(runs, n, cols);
  config *cf = calloc(n + 1, sizeof *cf);
  char *csv = NULL, *md = NULL;
  size_t csv_len = 0, md_len = 0;
  FILE *fc = cf ? open_memstream(&csv, &csv_len) : NULL;
  FILE *fm = fc ? open_memstream(&md, &md_len) : NULL;
  vkl_status st = VKL_OK;
  if (!fm) {
    snprintf(err, errlen, "%s: out of host memory", dir);
    st = VKL_ERR_OUT_OF_HOST_MEMORY;
  } else {
    write_csv(fc, runs, sum, n, cols, ncols);
    write_md(fm, dir, runs, sum, n, target, cf);
  }
  if (fc) fclose(fc);
  if (fm) fclose(fm);
  char path[VKL_PATH_MAX];
  if (!st) {
    snprintf(path, sizeof path, "%s/results.csv", dir);
    st = write_whole(path, csv, csv_len, err, errlen);
  }
  if (!st) {
    snprintf(path, sizeof path, "%s/results.md", dir);
    st = write_whole(path, md, md_len, err, errlen);
  }
  free(csv);
  free(md);
  free(cf);
  return st;
}
