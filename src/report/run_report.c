/* The report of one run directory (see report.h): loss, top-1, schedule
 * and per-layer norm plots, and report.html with the settings and the
 * final and best test accuracy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "report/csv.h"
#include "report/epochs.h"
#include "report/files.h"
#include "report/html.h"
#include "report/layers.h"
#include "report/plot.h"
#include "report/report.h"
#include "report/run_json.h"

/* Points per curve against the step: a chart is ~1000 pixels wide, so more
 * only cost gnuplot time on a long run. */
#define MAX_STEP_POINTS 2000

typedef struct run_ctx {
  const char *dir, *out;
  unsigned width, height;
  char *err;
  size_t errlen;
} run_ctx;

static vkl_status in_dir(const run_ctx *c, const char *dir, const char *name, char *path) {
  return vkl_report_join(path, VKL_REPORT_PATH_MAX, dir, name, c->err, c->errlen);
}

static vkl_status draw(const run_ctx *c, vkl_plot *p, const char *png_name) {
  char png[VKL_REPORT_PATH_MAX];
  vkl_status st = in_dir(c, c->out, png_name, png);
  p->width = c->width;
  p->height = c->height;
  return st ? st : vkl_plot_lines(p, png, c->err, c->errlen);
}

/* v * 100 (fractions as percent), malloc'ed; NULL: out of memory. */
static double *percent(const double *v, size_t n) {
  double *p = malloc((n ? n : 1) * sizeof *p);
  for (size_t i = 0; p && i < n; i++) p[i] = 100 * v[i];
  return p;
}

static vkl_status plot_epochs(const run_ctx *c, const vkl_epochs *e) {
  vkl_plot_series loss[] = {{"train loss", e->epoch, e->train_loss, e->n, 0},
                            {"test loss", e->epoch, e->test_loss, e->n, 0}};
  vkl_plot p = {.title = "Loss", .xlabel = "epoch", .ylabel = "loss", .series = loss, .nseries = 2};
  vkl_status st = draw(c, &p, "loss.png");
  if (st) return st;
  double *train = percent(e->train_top1, e->n), *test = percent(e->test_top1, e->n);
  if (!train || !test) {
    snprintf(c->err, c->errlen, "top1.png: out of host memory");
    st = VKL_ERR_OUT_OF_HOST_MEMORY;
  } else {
    vkl_plot_series top1[] = {{"train top-1", e->epoch, train, e->n, 0},
                              {"test top-1", e->epoch, test, e->n, 0}};
    p = (vkl_plot){.title = "Top-1 accuracy",
                   .xlabel = "epoch",
                   .ylabel = "top-1 (%)",
                   .series = top1,
                   .nseries = 2};
    st = draw(c, &p, "top1.png");
  }
  free(train);
  free(test);
  return st;
}

/* steps.csv's step, lr and phi, every stride-th row (and the last). */
typedef struct step_series {
  double *step, *lr, *phi;
  size_t n;
} step_series;

static vkl_status read_step_rows(const vkl_csv *csv, step_series *s, char *err, size_t errlen) {
  const char *names[3] = {"step", "lr", "phi"};
  double *dst[3] = {s->step, s->lr, s->phi};
  size_t col[3], rows = vkl_csv_rows(csv);
  size_t stride = rows > MAX_STEP_POINTS ? (rows + MAX_STEP_POINTS - 1) / MAX_STEP_POINTS : 1;
  for (int k = 0; k < 3; k++) {
    vkl_status st = vkl_csv_require(csv, names[k], &col[k], err, errlen);
    if (st) return st;
  }
  for (size_t r = 0; r < rows; r++) {
    double v[3];
    for (int k = 0; k < 3; k++) { /* every row checked, kept or not */
      vkl_status st = vkl_csv_num(csv, r, col[k], &v[k], err, errlen);
      if (st) return st;
    }
    if (r % stride != 0 && r != rows - 1) continue;
    for (int k = 0; k < 3; k++) dst[k][s->n] = v[k];
    s->n++;
  }
  return VKL_OK;
}

static vkl_status plot_schedule(const run_ctx *c) {
  char path[VKL_REPORT_PATH_MAX];
  vkl_csv *csv = NULL;
  vkl_status st = in_dir(c, c->dir, "steps.csv", path);
  if (!st) st = vkl_csv_read(path, &csv, c->err, c->errlen);
  if (st) return st;
  size_t cap = (vkl_csv_rows(csv) < MAX_STEP_POINTS ? vkl_csv_rows(csv) : MAX_STEP_POINTS) + 2;
  step_series s = {malloc(cap * sizeof(double)), malloc(cap * sizeof(double)),
                   malloc(cap * sizeof(double)), 0};
  if (!s.step || !s.lr || !s.phi) {
    snprintf(c->err, c->errlen, "%s: out of host memory", path);
    st = VKL_ERR_OUT_OF_HOST_MEMORY;
  } else {
    st = read_step_rows(csv, &s, c->err, c->errlen);
  }
  if (!st) {
    vkl_plot_series series[] = {{"lr", s.step, s.lr, s.n, 0}, {"phi", s.step, s.phi, s.n, 1}};
    vkl_plot p = {.title = "Learning rate and TVLARS phi(t)",
                  .xlabel = "step",
                  .ylabel = "lr",
                  .y2label = "phi",
                  .series = series,
                  .nseries = 2};
    st = draw(c, &p, "schedule.png");
  }
  free(s.step);
  free(s.lr);
  free(s.phi);
  vkl_csv_free(csv);
  return st;
}

/* One of the Figure 3 plots: the quantity `which` of every layer. */
static vkl_status plot_layer_quantity(const run_ctx *c, const vkl_layer_set *set, int which,
                                      const char *png_name, const char *title) {
  vkl_plot_series *series = calloc(set->nlayers ? set->nlayers : 1, sizeof *series);
  if (!series) {
    snprintf(c->err, c->errlen, "%s: out of host memory", png_name);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  for (size_t i = 0; i < set->nlayers; i++) {
    const vkl_layer_series *l = &set->layers[i];
    const double *y = which == 0 ? l->lwn : which == 1 ? l->lgn : l->lnr;
    series[i] = (vkl_plot_series){l->name, l->step, y, l->n, 0};
  }
  vkl_plot p = {.title = title,
                .xlabel = "step",
                .ylabel = title,
                .log_y = 1,
                .series = series,
                .nseries = set->nlayers};
  vkl_status st = draw(c, &p, png_name);
  free(series);
  return st;
}

static vkl_status plot_layers(const run_ctx *c) {
  char path[VKL_REPORT_PATH_MAX];
  vkl_layer_set set;
  vkl_status st = in_dir(c, c->dir, "layers.csv", path);
  if (!st) st = vkl_report_read_layers(path, MAX_STEP_POINTS, &set, c->err, c->errlen);
  if (st) return st;
  if (!(st = plot_layer_quantity(c, &set, 0, "lwn.png", "layer weight norm ||w||")) &&
      !(st = plot_layer_quantity(c, &set, 1, "lgn.png", "layer gradient norm ||g||")))
    st = plot_layer_quantity(c, &set, 2, "lnr.png", "layer norm ratio ||w||/||g|| (LNR)");
  vkl_report_free_layers(&set);
  return st;
}

/* "87.70% (epoch 4)", or "not evaluated". */
static void metric_text(char *out, size_t n, const vkl_epochs *e, const double *v, long row) {
  if (row < 0 || !isfinite(v[row]))
    snprintf(out, n, "not evaluated");
  else
    snprintf(out, n, "%.2f%% (epoch %.0f)", 100 * v[row], e->epoch[row]);
}

static void results_html(vkl_strbuf *h, const vkl_epochs *e) {
  vkl_html_heading(h, "Results");
  long last = e->n ? (long)e->n - 1 : -1;
  char text[4][64];
  metric_text(text[0], sizeof text[0], e, e->test_top1, last);
  metric_text(text[1], sizeof text[1], e, e->test_top5, last);
  metric_text(text[2], sizeof text[2], e, e->test_top1, vkl_report_argmax(e->test_top1, e->n));
  metric_text(text[3], sizeof text[3], e, e->test_top5, vkl_report_argmax(e->test_top5, e->n));
  const char *labels[4] = {"final test top-1", "final test top-5", "best test top-1",
                           "best test top-5"};
  vkl_html_table_begin(h);
  for (int i = 0; i < 4; i++) {
    const char *cells[] = {labels[i], text[i]};
    vkl_html_row(h, cells, 2, 0);
  }
  vkl_html_table_end(h);
  vkl_strbuf_addf(h, "<p>%zu epoch%s logged.</p>\n", e->n, e->n == 1 ? "" : "s");
}

static const char *const FIGURES[][2] = {
    {"loss.png", "Train and test loss against the epoch."},
    {"top1.png", "Train and test top-1 accuracy against the epoch."},
    {"schedule.png", "Learning rate (left axis) and TVLARS phi(t) (right axis) against the step."},
    {"lwn.png", "Weight norm of every layer against the step (log scale)."},
    {"lgn.png", "Gradient norm of every layer against the step (log scale)."},
    {"lnr.png", "Layer-wise norm ratio LNR = ||w||/||g|| of every layer (log scale)."},
};

static vkl_status write_page(const run_ctx *c, const cJSON *run, const vkl_epochs *e,
                             char *html_path, size_t htmllen) {
  vkl_strbuf h = {0};
  char title[VKL_REPORT_PATH_MAX + 32];
  snprintf(title, sizeof title, "vklars run report: %s", c->dir);
  vkl_html_begin(&h, title);
  const char *device = vkl_report_device_name(run);
  if (device) {
    vkl_strbuf_add(&h, "<p>Device: ");
    vkl_html_escape(&h, device);
    vkl_strbuf_add(&h, "</p>\n");
  }
  results_html(&h, e);
  vkl_html_heading(&h, "Plots");
  for (size_t i = 0; i < sizeof FIGURES / sizeof FIGURES[0]; i++)
    vkl_html_figure(&h, FIGURES[i][0], FIGURES[i][1]);
  vkl_report_settings_html(&h, run);
  vkl_html_end(&h);
  vkl_status st = vkl_report_join(html_path, htmllen, c->out, "report.html", c->err, c->errlen);
  if (!st) st = vkl_html_save(&h, html_path, c->err, c->errlen);
  vkl_strbuf_free(&h);
  return st;
}

vkl_status vkl_report_run(const char *run_dir, const vkl_report_config *cfg, char *html,
                          size_t htmllen, char *err, size_t errlen) {
  run_ctx c = {run_dir,
               cfg->out_dir,
               cfg->width ? cfg->width : VKL_REPORT_WIDTH,
               cfg->height ? cfg->height : VKL_REPORT_HEIGHT,
               err,
               errlen};
  char path[VKL_REPORT_PATH_MAX];
  cJSON *run = NULL;
  vkl_epochs e = {0};
  /* run.json and epochs.csv are checked before anything is written; the
   * other logs as their plots are drawn, and report.html comes last */
  vkl_status st = in_dir(&c, run_dir, "run.json", path);
  if (!st) st = vkl_report_load_json(path, &run, err, errlen);
  if (!st) st = in_dir(&c, run_dir, "epochs.csv", path);
  if (!st) st = vkl_report_read_epochs(path, &e, err, errlen);
  if (!st) st = vkl_report_mkdirs(c.out, err, errlen);
  if (!st) st = plot_epochs(&c, &e);
  if (!st) st = plot_schedule(&c);
  if (!st) st = plot_layers(&c);
  if (!st) st = write_page(&c, run, &e, html, htmllen);
  vkl_report_free_epochs(&e);
  cJSON_Delete(run);
  return st;
}
