/* The report of a sweep directory (see report.h): best test top-1 against
 * the batch size per optimizer line, the test top-1 curves of each line's
 * best run at every batch, and report.html with the choices made and
 * results.csv as a table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "report/epochs.h"
#include "report/files.h"
#include "report/html.h"
#include "report/plot.h"
#include "report/report.h"
#include "report/sweep_results.h"

typedef struct sweep_ctx {
  const char *dir, *out;
  unsigned width, height;
  const vkl_results *s;
  vkl_results_pick *picks; /* [line * nbatches + batch] */
  int *picked;           /* 1 where picks[] holds a choice */
  char *err;
  size_t errlen;
} sweep_ctx;

static vkl_status no_memory(const sweep_ctx *c, const char *what) {
  snprintf(c->err, c->errlen, "%s: out of host memory", what);
  return VKL_ERR_OUT_OF_HOST_MEMORY;
}

static vkl_status draw(const sweep_ctx *c, vkl_plot *p, const char *png_name) {
  char png[VKL_REPORT_PATH_MAX];
  vkl_status st = vkl_report_join(png, sizeof png, c->out, png_name, c->err, c->errlen);
  p->width = c->width;
  p->height = c->height;
  return st ? st : vkl_plot_lines(p, png, c->err, c->errlen);
}

/* One series per optimizer line: its best lr's mean best top-1 (in %) at
 * each batch where a run is done. */
static vkl_status plot_acc_vs_batch(const sweep_ctx *c) {
  const vkl_results *s = c->s;
  size_t nl = s->nlines, nb = s->nbatches;
  vkl_plot_series *series = calloc(nl ? nl : 1, sizeof *series);
  size_t cells = nl * nb;
  if (!cells) cells = 1;
  double *x = malloc(cells * sizeof *x), *y = malloc(cells * sizeof *y);
  vkl_status st = VKL_OK;
  if (!series || !x || !y) st = no_memory(c, "acc_vs_batch.png");
  for (size_t l = 0; !st && l < nl; l++) {
    series[l] = (vkl_plot_series){s->lines[l], x + l * nb, y + l * nb, 0, 0};
    for (size_t b = 0; b < nb; b++) {
      if (!c->picked[l * nb + b]) continue;
      x[l * nb + series[l].n] = s->batches[b];
      y[l * nb + series[l].n++] = 100 * c->picks[l * nb + b].mean_best_top1;
    }
  }
  if (!st) {
    vkl_plot p = {.title = "Best test top-1 against the batch size (best lr, mean over seeds)",
                  .xlabel = "batch size",
                  .ylabel = "best test top-1 (%)",
                  .log2_x = 1,
                  .series = series,
                  .nseries = nl};
    st = draw(c, &p, "acc_vs_batch.png");
  }
  free(series);
  free(x);
  free(y);
  return st;
}

/* curves_B<batch>.png, or curves.png when the sweep has no batch column. */
static void curves_name(const vkl_results *s, char *out, size_t n, double batch) {
  if (s->has_batch)
    snprintf(out, n, "curves_B%.0f.png", batch);
  else
    snprintf(out, n, "curves.png");
}

/* The test top-1 curve (in %) of run `run` from runs/<name>/epochs.csv;
 * its epochs in e (the caller frees them). */
static vkl_status load_curve(const sweep_ctx *c, const vkl_result_run *run, vkl_epochs *e) {
  char dir[VKL_REPORT_PATH_MAX], runs[VKL_REPORT_PATH_MAX], path[VKL_REPORT_PATH_MAX];
  vkl_status st = vkl_report_join(runs, sizeof runs, c->dir, "runs", c->err, c->errlen);
  if (!st) st = vkl_report_join(dir, sizeof dir, runs, run->name, c->err, c->errlen);
  if (!st) st = vkl_report_join(path, sizeof path, dir, "epochs.csv", c->err, c->errlen);
  if (!st) st = vkl_report_read_epochs(path, e, c->err, c->errlen);
  for (size_t i = 0; !st && i < e->n; i++) e->test_top1[i] *= 100;
  return st;
}

/* curves_B<batch>.png: the best run of every line at batch index b. */
static vkl_status plot_curves(const sweep_ctx *c, size_t b) {
  const vkl_results *s = c->s;
  size_t nl = s->nlines, nb = s->nbatches, n = 0;
  vkl_epochs *e = calloc(nl ? nl : 1, sizeof *e);
  vkl_plot_series *series = calloc(nl ? nl : 1, sizeof *series);
  char png[64], title[96];
  curves_name(s, png, sizeof png, s->batches[b]);
  vkl_status st = !e || !series ? no_memory(c, png) : VKL_OK;
  for (size_t l = 0; !st && l < nl; l++) {
    if (!c->picked[l * nb + b]) continue;
    st = load_curve(c, &s->runs[c->picks[l * nb + b].best_run], &e[n]);
    if (!st) series[n] = (vkl_plot_series){s->lines[l], e[n].epoch, e[n].test_top1, e[n].n, 0};
    n += !st;
  }
  if (!st) {
    if (s->has_batch)
      snprintf(title, sizeof title, "Test top-1 of each optimizer's best run, batch %.0f",
               s->batches[b]);
    else
      snprintf(title, sizeof title, "Test top-1 of each optimizer's best run");
    vkl_plot p = {.title = title,
                  .xlabel = "epoch",
                  .ylabel = "test top-1 (%)",
                  .series = series,
                  .nseries = n};
    st = draw(c, &p, png);
  }
  for (size_t i = 0; e && i < n; i++) vkl_report_free_epochs(&e[i]);
  free(e);
  free(series);
  return st;
}

/* The choices: line, batch, lr, mean best top-1, seeds, the best run. */
static void picks_html(vkl_strbuf *h, const sweep_ctx *c) {
  const vkl_results *s = c->s;
  const char *head[] = {"optimizer line",  "batch",          "best lr",
                        "mean best top-1", "seeds averaged", "best run (curve)"};
  vkl_html_heading(h, "Best lr per optimizer line and batch");
  vkl_html_para(h,
                "For each optimizer line and batch size: the lr whose done runs have the "
                "highest mean best test top-1 over their seeds (a tie goes to the smaller "
                "lr). Failed and pending runs are not counted.");
  vkl_html_table_begin(h);
  vkl_html_row(h, head, 6, 1);
  for (size_t l = 0; l < s->nlines; l++) {
    for (size_t b = 0; b < s->nbatches; b++) {
      if (!c->picked[l * s->nbatches + b]) continue;
      const vkl_results_pick *p = &c->picks[l * s->nbatches + b];
      char batch[32], lr[32], mean[32], seeds[32];
      snprintf(batch, sizeof batch, "%.0f", s->batches[b]);
      snprintf(lr, sizeof lr, "%g", p->lr);
      snprintf(mean, sizeof mean, "%.2f%%", 100 * p->mean_best_top1);
      snprintf(seeds, sizeof seeds, "%zu", p->seeds);
      const char *cells[] = {s->lines[l], batch, lr, mean, seeds, s->runs[p->best_run].name};
      vkl_html_row(h, cells, 6, 0);
    }
  }
  vkl_html_table_end(h);
}

/* results.csv whole, header first. */
static vkl_status results_html(vkl_strbuf *h, const vkl_csv *csv) {
  size_t cols = vkl_csv_cols(csv);
  const char **cells = malloc((cols ? cols : 1) * sizeof *cells);
  if (!cells) return VKL_ERR_OUT_OF_HOST_MEMORY;
  vkl_html_heading(h, "results.csv");
  vkl_html_table_begin(h);
  for (size_t k = 0; k < cols; k++) cells[k] = vkl_csv_header(csv, k);
  vkl_html_row(h, cells, cols, 1);
  for (size_t r = 0; r < vkl_csv_rows(csv); r++) {
    for (size_t k = 0; k < cols; k++) cells[k] = vkl_csv_cell(csv, r, k);
    vkl_html_row(h, cells, cols, 0);
  }
  vkl_html_table_end(h);
  free(cells);
  return VKL_OK;
}

static vkl_status write_page(const sweep_ctx *c, char *html_path, size_t htmllen) {
  vkl_strbuf h = {0};
  char title[VKL_REPORT_PATH_MAX + 32], png[64], caption[96];
  snprintf(title, sizeof title, "vklars sweep report: %s", c->dir);
  vkl_html_begin(&h, title);
  vkl_html_heading(&h, "Plots");
  if (c->s->has_batch)
    vkl_html_figure(&h, "acc_vs_batch.png",
                    "Best test top-1 against the batch size (log2), one line per optimizer: the "
                    "mean over seeds of the best lr's best top-1.");
  for (size_t b = 0; b < c->s->nbatches; b++) {
    curves_name(c->s, png, sizeof png, c->s->batches[b]);
    if (c->s->has_batch)
      snprintf(caption, sizeof caption,
               "Test top-1 against the epoch at batch %.0f: each optimizer line's best run.",
               c->s->batches[b]);
    else
      snprintf(caption, sizeof caption, "Test top-1 against the epoch: each optimizer line's best run.");
    vkl_html_figure(&h, png, caption);
  }
  picks_html(&h, c);
  vkl_status st = results_html(&h, c->s->csv);
  vkl_html_end(&h);
  if (st) st = no_memory(c, "report.html");
  if (!st) st = vkl_report_join(html_path, htmllen, c->out, "report.html", c->err, c->errlen);
  if (!st) st = vkl_html_save(&h, html_path, c->err, c->errlen);
  vkl_strbuf_free(&h);
  return st;
}

static void choose(sweep_ctx *c) {
  const vkl_results *s = c->s;
  for (size_t l = 0; l < s->nlines; l++)
    for (size_t b = 0; b < s->nbatches; b++)
      c->picked[l * s->nbatches + b] = vkl_results_best_lr(s->runs, s->nruns, l, s->batches[b],
                                                         &c->picks[l * s->nbatches + b]) == 0;
}

vkl_status vkl_report_sweep(const char *sweep_dir, const vkl_report_config *cfg, char *html,
                            size_t htmllen, char *err, size_t errlen) {
  sweep_ctx c = {sweep_dir,
                 cfg->out_dir,
                 cfg->width ? cfg->width : VKL_REPORT_WIDTH,
                 cfg->height ? cfg->height : VKL_REPORT_HEIGHT,
                 NULL,
                 NULL,
                 NULL,
                 err,
                 errlen};
  char path[VKL_REPORT_PATH_MAX];
  vkl_results s;
  vkl_status st = vkl_report_join(path, sizeof path, sweep_dir, "results.csv", err, errlen);
  if (!st) st = vkl_results_read(path, &s, err, errlen);
  if (st) return st;
  c.s = &s;
  size_t cells = s.nlines * s.nbatches;
  c.picks = calloc(cells ? cells : 1, sizeof *c.picks);
  c.picked = calloc(cells ? cells : 1, sizeof *c.picked);
  if (!c.picks || !c.picked) st = no_memory(&c, path);
  if (!st) {
    choose(&c);
    st = vkl_report_mkdirs(c.out, err, errlen);
  }
  if (!st && s.has_batch) st = plot_acc_vs_batch(&c); /* one batch: no x axis to draw */
  for (size_t b = 0; !st && b < s.nbatches; b++) st = plot_curves(&c, b);
  if (!st) st = write_page(&c, html, htmllen);
  free(c.picks);
  free(c.picked);
  vkl_results_free(&s);
  return st;
}
