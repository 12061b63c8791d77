/* Reading a sweep's results.csv and choosing the best lr (see sweep_results.h). */
#include "report/sweep_results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/strbuf.h"

typedef struct sweep_cols {
  size_t run, status, first, end, best; /* settings: [first, end) */
  int batch, lr; /* -1: none */
} sweep_cols;

/* Settings that vary within an optimizer line (the x axis, the searched lr
 * and TVLARS lambda, the repeats) or do not change the result (micro-batch
 * emulates batch). */
static int outside_line(const char *name) {
  static const char *const names[] = {"batch",       "lr",          "seed",  "lambda",
                                      "micro-batch", "micro_batch", "microbatch"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i]) == 0) return 1;
  return 0;
}

static int setting_col(const vkl_csv *csv, const sweep_cols *c, const char *name) {
  int i = vkl_csv_col(csv, name);
  return i >= (int)c->first && i < (int)c->end ? i : -1;
}

static vkl_status find_columns(const vkl_csv *csv, sweep_cols *c, char *err, size_t errlen) {
  size_t final = 0;
  vkl_status st;
  if ((st = vkl_csv_require(csv, "run", &c->run, err, errlen)) ||
      (st = vkl_csv_require(csv, "status", &c->status, err, errlen)) ||
      (st = vkl_csv_require(csv, "final_top1", &final, err, errlen)) ||
      (st = vkl_csv_require(csv, "best_top1", &c->best, err, errlen)))
    return st;
  c->first = c->status + 1;
  c->end = final;
  if (c->end < c->first) {
    snprintf(err, errlen, "%s:1: the setting columns must come between status and final_top1",
             vkl_csv_path(csv));
    return VKL_ERR_FORMAT;
  }
  c->batch = setting_col(csv, c, "batch"); /* -1: every run at the default batch */
  c->lr = setting_col(csv, c, "lr");
  return VKL_OK;
}

/* Whether rows differ in column k. */
static int column_varies(const vkl_csv *csv, size_t k) {
  for (size_t r = 1; r < vkl_csv_rows(csv); r++)
    if (strcmp(vkl_csv_cell(csv, r, k), vkl_csv_cell(csv, 0, k)) != 0) return 1;
  return 0;
}

/* Appends a copy of text (NULL: the text could not be built) to s->lines. */
static int add_line(vkl_results *s, const char *text) {
  char **grown = text ? realloc(s->lines, (s->nlines + 1) * sizeof *grown) : NULL;
  if (!grown) return -1;
  s->lines = grown;
  if (!(s->lines[s->nlines] = strdup(text))) return -1;
  s->nlines++;
  return 0;
}

/* The index of row r's optimizer line, added to s->lines when new. */
static vkl_status line_of(vkl_results *s, size_t r, const sweep_cols *c, size_t *line, char *err,
                          size_t errlen) {
  vkl_strbuf b = {0};
  for (size_t k = c->first; k < c->end; k++) {
    const char *name = vkl_csv_header(s->csv, k);
    if (outside_line(name) || !column_varies(s->csv, k) || !vkl_csv_cell(s->csv, r, k)[0])
      continue; /* a setting every run shares, or one this run does not set */
    vkl_strbuf_addf(&b, "%s%s=%s", b.len ? " " : "", name, vkl_csv_cell(s->csv, r, k));
  }
  const char *text = b.len ? vkl_strbuf_str(&b) : "all runs"; /* no setting but those four */
  for (*line = 0; *line < s->nlines; ++*line)
    if (strcmp(s->lines[*line], text) == 0) break;
  int failed = *line == s->nlines && add_line(s, b.failed ? NULL : text) != 0;
  vkl_strbuf_free(&b);
  if (!failed) return VKL_OK;
  snprintf(err, errlen, "%s: out of host memory", vkl_csv_path(s->csv));
  return VKL_ERR_OUT_OF_HOST_MEMORY;
}

static vkl_status status_of(const vkl_csv *csv, size_t r, size_t col, int *done, char *err,
                            size_t errlen) {
  const char *s = vkl_csv_cell(csv, r, col);
  *done = strcmp(s, "done") == 0;
  if (*done || strcmp(s, "failed") == 0 || strcmp(s, "pending") == 0) return VKL_OK;
  snprintf(err, errlen, "%s:%zu: status '%.100s' is not done, failed or pending", vkl_csv_path(csv),
           vkl_csv_line(csv, r), s);
  return VKL_ERR_FORMAT;
}

/* A top-1 cell: a fraction, so a file written in percent is refused, not
 * drawn 100 times too high. */
static vkl_status fraction(const vkl_csv *csv, size_t r, size_t col, double *v, char *err,
                           size_t errlen) {
  vkl_status st = vkl_csv_num(csv, r, col, v, err, errlen);
  if (st || (*v >= 0 && *v <= 1)) return st;
  snprintf(err, errlen, "%s:%zu: column %s: %s is not a fraction in [0, 1]", vkl_csv_path(csv),
           vkl_csv_line(csv, r), vkl_csv_header(csv, col), vkl_csv_cell(csv, r, col));
  return VKL_ERR_FORMAT;
}

/* The batch b among s->batches, kept ascending and distinct. */
static void add_batch(vkl_results *s, double b) {
  size_t i = 0;
  while (i < s->nbatches && s->batches[i] < b) i++;
  if (i < s->nbatches && s->batches[i] == b) return;
  memmove(s->batches + i + 1, s->batches + i, (s->nbatches - i) * sizeof *s->batches);
  s->batches[i] = b;
  s->nbatches++;
}

/* The first row with row r's settings but for the seed: r's configuration. */
static size_t config_of(const vkl_csv *csv, const sweep_cols *c, size_t r) {
  for (size_t q = 0; q < r; q++) {
    size_t k = c->first;
    while (k < c->end && (strcmp(vkl_csv_header(csv, k), "seed") == 0 ||
                          strcmp(vkl_csv_cell(csv, q, k), vkl_csv_cell(csv, r, k)) == 0))
      k++;
    if (k == c->end) return q;
  }
  return r;
}

static vkl_status read_run(vkl_results *s, size_t r, const sweep_cols *c, char *err, size_t errlen) {
  vkl_result_run *run = &s->runs[r];
  run->config = config_of(s->csv, c, r);
  run->name = vkl_csv_cell(s->csv, r, c->run);
  run->best_top1 = NAN;
  vkl_status st;
  if ((st = status_of(s->csv, r, c->status, &run->done, err, errlen)) ||
      (st = line_of(s, r, c, &run->line, err, errlen)) ||
      (c->batch >= 0 && (st = vkl_csv_num(s->csv, r, (size_t)c->batch, &run->batch, err, errlen))) ||
      (c->lr >= 0 && (st = vkl_csv_num(s->csv, r, (size_t)c->lr, &run->lr, err, errlen))) ||
      (run->done && (st = fraction(s->csv, r, c->best, &run->best_top1, err, errlen))))
    return st;
  if (!run->name[0]) {
    snprintf(err, errlen, "%s:%zu: the run column is empty", vkl_csv_path(s->csv),
             vkl_csv_line(s->csv, r));
    return VKL_ERR_FORMAT;
  }
  add_batch(s, run->batch);
  return VKL_OK;
}

vkl_status vkl_results_read(const char *path, vkl_results *out, char *err, size_t errlen) {
  *out = (vkl_results){0};
  vkl_status st = vkl_csv_read(path, &out->csv, err, errlen);
  if (st) return st;
  sweep_cols c;
  size_t n = vkl_csv_rows(out->csv);
  if (!(st = find_columns(out->csv, &c, err, errlen))) {
    out->runs = calloc(n ? n : 1, sizeof *out->runs);
    out->batches = malloc((n ? n : 1) * sizeof *out->batches);
    if (!out->runs || !out->batches) {
      snprintf(err, errlen, "%s: out of host memory", path);
      st = VKL_ERR_OUT_OF_HOST_MEMORY;
    }
  }
  out->has_batch = !st && c.batch >= 0;
  for (size_t r = 0; !st && r < n; r++) st = read_run(out, r, &c, err, errlen);
  out->nruns = n;
  if (st) vkl_results_free(out);
  return st;
}

void vkl_results_free(vkl_results *s) {
  for (size_t i = 0; i < s->nlines; i++) free(s->lines[i]);
  free(s->lines);
  free(s->runs);
  free(s->batches);
  vkl_csv_free(s->csv);
  *s = (vkl_results){0};
}

static int counts(const vkl_result_run *r, size_t line, double batch) {
  return r->done && r->line == line && r->batch == batch && isfinite(r->best_top1);
}

/* The mean best_top1 of the counted runs of run i's configuration (its lr
 * and every other setting but the seed), their number, the best of them. */
static double mean_at(const vkl_result_run *runs, size_t nruns, size_t line, double batch, size_t i,
                      size_t *seeds, size_t *best) {
  double sum = 0;
  *seeds = 0;
  for (size_t j = 0; j < nruns; j++) {
    if (!counts(&runs[j], line, batch) || runs[j].lr != runs[i].lr ||
        runs[j].config != runs[i].config)
      continue;
    if (*seeds == 0 || runs[j].best_top1 > runs[*best].best_top1) *best = j;
    sum += runs[j].best_top1;
    ++*seeds;
  }
  return sum / (double)*seeds;
}

int vkl_results_best_lr(const vkl_result_run *runs, size_t nruns, size_t line, double batch,
                      vkl_results_pick *pick) {
  int found = 0;
  for (size_t i = 0; i < nruns; i++) {
    if (!counts(&runs[i], line, batch)) continue;
    vkl_results_pick p = {.lr = runs[i].lr};
    p.mean_best_top1 = mean_at(runs, nruns, line, batch, i, &p.seeds, &p.best_run);
    int better = !found || p.mean_best_top1 > pick->mean_best_top1 ||
                 (p.mean_best_top1 == pick->mean_best_top1 && p.lr < pick->lr);
    if (better) *pick = p;
    found = 1;
  }
  return found ? 0 : -1;
}
