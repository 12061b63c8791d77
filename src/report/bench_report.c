/* The cross-device report of `vklars bench ops --json` files (see
 * report.h): each op's ratio to its own file's baseline, side by side, in a
 * table and one grouped bar chart (bench_ratios.png). A ratio cancels the
 * device's raw speed, so the columns compare how well each kernel uses its
 * device rather than which device is faster. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "report/files.h"
#include "report/html.h"
#include "report/plot.h"
#include "report/report.h"
#include "report/run_json.h"

typedef struct bench_file {
  const char *path;
  cJSON *json;
  const cJSON *ops; /* the "ops" array, checked */
  char label[160];  /* the device's name, or the file's */
} bench_file;

typedef struct bench_ctx {
  bench_file *files;
  size_t nfiles;
  const char **ops; /* the op names of all files, first seen first, baselines left out */
  size_t nops;
  char *err;
  size_t errlen;
} bench_ctx;

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static int is_baseline(const char *name) {
  return strncmp(name, "baseline", 8) == 0;
}

/* Each op needs a name, a unit and its ratio: the report shows nothing else. */
static vkl_status check_ops(const bench_file *f, char *err, size_t errlen) {
  size_t i = 0;
  const cJSON *op;
  cJSON_ArrayForEach(op, f->ops) {
    const char *missing = !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(op, "name"))   ? "name"
                          : !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(op, "unit")) ? "unit"
                          : !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(op, "vs_baseline"))
                              ? "vs_baseline"
                              : NULL;
    if (missing) {
      snprintf(err, errlen, "%s: ops[%zu] has no '%s'", f->path, i, missing);
      return VKL_ERR_FORMAT;
    }
    i++;
  }
  return VKL_OK;
}

static vkl_status load_file(bench_file *f, const char *path, char *err, size_t errlen) {
  f->path = path;
  vkl_status st = vkl_report_load_json(path, &f->json, err, errlen);
  if (st == VKL_ERR_FORMAT) { /* results.csv given for its sweep, say */
    size_t n = strlen(err);
    snprintf(err + n, errlen > n ? errlen - n : 0,
             ": not `vklars bench ops --json` output (a run or sweep is given as its directory)");
  }
  if (st) return st;
  f->ops = cJSON_GetObjectItemCaseSensitive(f->json, "ops");
  if (!cJSON_IsArray(f->ops)) {
    snprintf(err, errlen, "%s: no \"ops\" array: not the output of `vklars bench ops --json`",
             path);
    return VKL_ERR_FORMAT;
  }
  const cJSON *dev = cJSON_GetObjectItemCaseSensitive(f->json, "device");
  snprintf(f->label, sizeof f->label, "%s",
           cJSON_IsString(dev) && dev->valuestring[0] ? dev->valuestring : base_name(path));
  return check_ops(f, err, errlen);
}

/* Two files of one device get their file names added, or the chart's
 * legend could not tell them apart. */
static void distinct_labels(bench_ctx *c) {
  for (size_t i = 0; i < c->nfiles; i++) {
    int dup = 0;
    for (size_t j = 0; j < c->nfiles; j++)
      dup |= j != i && strcmp(c->files[i].label, c->files[j].label) == 0;
    if (!dup) continue;
    char label[sizeof c->files[i].label];
    snprintf(label, sizeof label, "%.100s (%.50s)", c->files[i].label, base_name(c->files[i].path));
    memcpy(c->files[i].label, label, sizeof label);
  }
}

static const cJSON *find_op(const bench_file *f, const char *name) {
  const cJSON *op;
  cJSON_ArrayForEach(op, f->ops) {
    if (strcmp(cJSON_GetObjectItemCaseSensitive(op, "name")->valuestring, name) == 0) return op;
  }
  return NULL;
}

static vkl_status collect_ops(bench_ctx *c) {
  size_t cap = 0;
  for (size_t i = 0; i < c->nfiles; i++) cap += (size_t)cJSON_GetArraySize(c->files[i].ops);
  c->ops = malloc((cap ? cap : 1) * sizeof *c->ops);
  if (!c->ops) {
    snprintf(c->err, c->errlen, "bench report: out of host memory");
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  for (size_t i = 0; i < c->nfiles; i++) {
    const cJSON *op;
    cJSON_ArrayForEach(op, c->files[i].ops) {
      const char *name = cJSON_GetObjectItemCaseSensitive(op, "name")->valuestring;
      int seen = is_baseline(name);
      for (size_t k = 0; !seen && k < c->nops; k++) seen = strcmp(c->ops[k], name) == 0;
      if (!seen) c->ops[c->nops++] = name;
    }
  }
  return VKL_OK;
}

static double ratio_of(const bench_file *f, const char *name) {
  const cJSON *op = find_op(f, name);
  return op ? cJSON_GetObjectItemCaseSensitive(op, "vs_baseline")->valuedouble : NAN;
}

static vkl_status plot_ratios(const bench_ctx *c, const vkl_report_config *cfg) {
  size_t cells = c->nops * c->nfiles;
  double *v = malloc((cells ? cells : 1) * sizeof *v);
  const char **groups = malloc((c->nfiles ? c->nfiles : 1) * sizeof *groups);
  char png[VKL_REPORT_PATH_MAX];
  vkl_status st =
      vkl_report_join(png, sizeof png, cfg->out_dir, "bench_ratios.png", c->err, c->errlen);
  if (!st && (!v || !groups)) {
    snprintf(c->err, c->errlen, "%s: out of host memory", png);
    st = VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  if (!st) {
    for (size_t g = 0; g < c->nfiles; g++) groups[g] = c->files[g].label;
    for (size_t k = 0; k < c->nops; k++)
      for (size_t g = 0; g < c->nfiles; g++)
        v[k * c->nfiles + g] = ratio_of(&c->files[g], c->ops[k]);
    vkl_plot_bars p = {"Each op's rate over its own device's baseline (GEMM or copy)",
                       "ratio to the device's baseline",
                       cfg->width ? cfg->width : VKL_REPORT_WIDTH,
                       cfg->height ? cfg->height : VKL_REPORT_HEIGHT,
                       c->ops,
                       c->nops,
                       groups,
                       c->nfiles,
                       v};
    st = vkl_plot_bar_chart(&p, png, c->err, c->errlen);
  }
  free(v);
  free(groups);
  return st;
}

/* "GEMM" or "copy": the baseline `bench ops` divides this unit's rate by. */
static const char *baseline_of(const char *unit) {
  return strcmp(unit, "GFLOP/s") == 0 ? "GEMM" : "copy";
}

static void number_cell(char *out, size_t n, const cJSON *obj, const char *key, const char *fmt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (cJSON_IsNumber(v))
    snprintf(out, n, fmt, v->valuedouble);
  else
    snprintf(out, n, "-");
}

static void baselines_html(vkl_strbuf *h, const bench_ctx *c) {
  const char *head[] = {"file", "device", "driver", "GEMM GFLOP/s", "copy GB/s"};
  vkl_html_heading(h, "Baselines");
  vkl_html_table_begin(h);
  vkl_html_row(h, head, 5, 1);
  for (size_t i = 0; i < c->nfiles; i++) {
    const cJSON *j = c->files[i].json, *drv = cJSON_GetObjectItemCaseSensitive(j, "driver");
    char gemm[32], copy[32];
    number_cell(gemm, sizeof gemm, j, "baseline_gemm_gflops", "%.2f");
    number_cell(copy, sizeof copy, j, "baseline_copy_gbs", "%.2f");
    const char *cells[] = {base_name(c->files[i].path), c->files[i].label,
                           cJSON_IsString(drv) ? drv->valuestring : "-", gemm, copy};
    vkl_html_row(h, cells, 5, 0);
  }
  vkl_html_table_end(h);
}

/* A file's cell for one op: "0.536 (0.271 ms)", or "-" when it lacks the op. */
static void op_cell(char *out, size_t n, const bench_file *f, const char *name) {
  const cJSON *op = find_op(f, name);
  const cJSON *ms = op ? cJSON_GetObjectItemCaseSensitive(op, "median_ms") : NULL;
  if (!op)
    snprintf(out, n, "-");
  else if (cJSON_IsNumber(ms))
    snprintf(out, n, "%.3f (%.3g ms)", ratio_of(f, name), ms->valuedouble);
  else
    snprintf(out, n, "%.3f", ratio_of(f, name));
}

static vkl_status ops_html(vkl_strbuf *h, const bench_ctx *c) {
  size_t ncols = c->nfiles + 2;
  const char **cells = malloc(ncols * sizeof *cells);
  char(*text)[64] = malloc((c->nfiles ? c->nfiles : 1) * sizeof *text);
  if (!cells || !text) {
    free(cells);
    free(text);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  vkl_html_heading(h, "Ops");
  vkl_html_table_begin(h);
  cells[0] = "op";
  cells[1] = "baseline";
  for (size_t i = 0; i < c->nfiles; i++) cells[i + 2] = c->files[i].label;
  vkl_html_row(h, cells, ncols, 1);
  for (size_t k = 0; k < c->nops; k++) {
    const char *unit = NULL;
    for (size_t i = 0; i < c->nfiles; i++) {
      op_cell(text[i], sizeof text[i], &c->files[i], c->ops[k]);
      const cJSON *op = find_op(&c->files[i], c->ops[k]);
      if (op && !unit) unit = cJSON_GetObjectItemCaseSensitive(op, "unit")->valuestring;
      cells[i + 2] = text[i];
    }
    cells[0] = c->ops[k];
    cells[1] = baseline_of(unit ? unit : "");
    vkl_html_row(h, cells, ncols, 0);
  }
  vkl_html_table_end(h);
  free(cells);
  free(text);
  return VKL_OK;
}

static const char EXPLANATION[] =
    "Each cell is the op's rate divided by the baseline of the same unit timed in the same "
    "file's run (the vs_baseline field of vklars bench ops --json): an op counted in GFLOP/s "
    "against that device's GEMM (1024x1024x1024), an op counted in GB/s against its vec4 copy "
    "(128 MiB). 1.0 runs as fast as the baseline on that device. The median time of the op "
    "follows in parentheses. The ratio cancels each device's raw speed, so a column shows how "
    "well each kernel uses its own device.";

static vkl_status write_page(const bench_ctx *c, const vkl_report_config *cfg, char *html,
                             size_t htmllen) {
  vkl_strbuf h = {0};
  vkl_html_begin(&h, "vklars bench comparison");
  vkl_html_para(&h, EXPLANATION);
  vkl_html_figure(&h, "bench_ratios.png",
                  "Each op's ratio to its own device's baseline, one bar per file.");
  baselines_html(&h, c);
  vkl_status st = ops_html(&h, c);
  vkl_html_end(&h);
  if (st) {
    snprintf(c->err, c->errlen, "report.html: out of host memory");
  } else {
    st = vkl_report_join(html, htmllen, cfg->out_dir, "report.html", c->err, c->errlen);
    if (!st) st = vkl_html_save(&h, html, c->err, c->errlen);
  }
  vkl_strbuf_free(&h);
  return st;
}

vkl_status vkl_report_bench(const char *const *json_files, size_t nfiles,
                            const vkl_report_config *cfg, char *html, size_t htmllen, char *err,
                            size_t errlen) {
  bench_ctx c = {calloc(nfiles ? nfiles : 1, sizeof *c.files), nfiles, NULL, 0, err, errlen};
  vkl_status st = VKL_OK;
  if (!c.files) {
    snprintf(err, errlen, "bench report: out of host memory");
    st = VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  for (size_t i = 0; !st && i < nfiles; i++)
    st = load_file(&c.files[i], json_files[i], err, errlen);
  if (!st) {
    distinct_labels(&c);
    st = collect_ops(&c);
  }
  if (!st) st = vkl_report_mkdirs(cfg->out_dir, err, errlen);
  if (!st) st = plot_ratios(&c, cfg);
  if (!st) st = write_page(&c, cfg, html, htmllen);
  for (size_t i = 0; c.files && i < nfiles; i++) cJSON_Delete(c.files[i].json);
  free(c.files);
  free(c.ops);
  return st;
}
