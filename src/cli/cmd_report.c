/* vklars report: PNG plots and a report.html from a run directory, a sweep
 * directory, or `vklars bench ops --json` files of several devices. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "report/files.h"
#include "report/report.h"

/* At most this many bench files side by side: the chart has a bar each. */
#define MAX_FILES 32
/* A PNG's side in pixels: below 64 nothing is legible, above 8192 the
 * image is only memory. */
#define MIN_SIDE 64u
#define MAX_SIDE 8192u

static int parse_size(const char *text, vkl_report_config *cfg) {
  if (!text) return 0;
  const char *x = strchr(text, 'x');
  char w[16], h[16];
  size_t wn = x ? (size_t)(x - text) : 0;
  if (!x || wn == 0 || wn >= sizeof w || strlen(x + 1) >= sizeof h)
    return cli_usage_error("report", "--size wants WIDTHxHEIGHT in pixels, not '%s'", text);
  memcpy(w, text, wn);
  w[wn] = '\0';
  snprintf(h, sizeof h, "%s", x + 1);
  int rc = cli_parse_u32("report", "--size (width)", w, MIN_SIDE, MAX_SIDE, &cfg->width);
  return rc ? rc : cli_parse_u32("report", "--size (height)", h, MIN_SIDE, MAX_SIDE, &cfg->height);
}

/* Bench files are files (or named .json); a run or sweep is a directory. */
static int is_bench_file(const char *path) {
  size_t n = strlen(path);
  return vkl_report_is_file(path) || (n > 5 && strcmp(path + n - 5, ".json") == 0);
}

static int report_dir(const char *dir, vkl_report_config *cfg, char *html, size_t htmllen) {
  char err[2048], out[VKL_REPORT_PATH_MAX];
  vkl_report_kind kind;
  vkl_status st = vkl_report_kind_of(dir, &kind, err, sizeof err);
  if (st) return cli_status_error("report", st, err);
  if (kind == VKL_REPORT_NONE) {
    cli_error(
        "report: %s is neither a run directory (no run.json) nor a sweep directory (no "
        "results.csv)",
        dir);
    return VKL_EXIT_FAILURE;
  }
  if (!cfg->out_dir) {
    if ((st = vkl_report_join(out, sizeof out, dir, "report", err, sizeof err)))
      return cli_status_error("report", st, err);
    cfg->out_dir = out;
  }
  st = kind == VKL_REPORT_RUN ? vkl_report_run(dir, cfg, html, htmllen, err, sizeof err)
                              : vkl_report_sweep(dir, cfg, html, htmllen, err, sizeof err);
  return st ? cli_status_error("report", st, err) : VKL_EXIT_OK;
}

static int report_bench(const char **files, int n, vkl_report_config *cfg, char *html,
                        size_t htmllen) {
  char err[2048];
  for (int i = 0; i < n; i++)
    if (!is_bench_file(files[i]))
      return cli_usage_error("report",
                             "'%s' is no bench JSON file: give bench files only, or one run or "
                             "sweep directory",
                             files[i]);
  if (!cfg->out_dir) cfg->out_dir = "report";
  vkl_status st = vkl_report_bench(files, (size_t)n, cfg, html, htmllen, err, sizeof err);
  return st ? cli_status_error("report", st, err) : VKL_EXIT_OK;
}

static void print_help(const cli_opt *opts, int nopts) {
  cli_print_help("report", "RUNDIR | SWEEPDIR | BENCH.json... [--out DIR] [--size WxH]",
                 "Draws PNG plots with gnuplot (Debian: gnuplot-nox; VKLARS_GNUPLOT names\n"
                 "another program) and writes report.html beside them, then prints its path.\n"
                 "RUNDIR (holds run.json): loss, top-1, lr and phi, and each layer's weight\n"
                 "norm, gradient norm and their ratio against the step, with the settings\n"
                 "and the final and best test top-1 and top-5.\n"
                 "SWEEPDIR (holds results.csv): best test top-1 against the batch size per\n"
                 "optimizer line (the best lr's mean over seeds), each line's best test top-1\n"
                 "curve at every batch, and results.csv as a table.\n"
                 "BENCH.json...: `vklars bench ops --json` files of several devices, each op\n"
                 "as a ratio to its own file's GEMM or copy baseline, side by side.",
                 opts, nopts);
}

int cmd_report(int argc, char **argv) {
  const char *out = NULL, *size_s = NULL;
  int help = 0;
  const cli_opt opts[] = {
      {"--out", NULL, "DIR",
       "where the PNGs and report.html go (default: RUNDIR/report or SWEEPDIR/report; "
       "./report for bench files)",
       &out, NULL},
      {"--size", NULL, "WxH", "each PNG's size in pixels (default 900x560; 64 to 8192 a side)",
       &size_s, NULL},
  };
  int nopts = (int)(sizeof opts / sizeof opts[0]);
  const char *pos[MAX_FILES];
  int npos = 0;
  int rc = cli_parse("report", argc, argv, opts, nopts, pos, MAX_FILES, &npos, &help);
  if (rc) return rc;
  if (help) {
    print_help(opts, nopts);
    return VKL_EXIT_OK;
  }
  vkl_report_config cfg = {.out_dir = out};
  if ((rc = parse_size(size_s, &cfg))) return rc;
  if (npos == 0)
    return cli_usage_error("report",
                           "say what to report on: a run directory, a sweep "
                           "directory or bench JSON files");
  char html[VKL_REPORT_PATH_MAX];
  if (is_bench_file(pos[0]))
    rc = report_bench(pos, npos, &cfg, html, sizeof html);
  else if (npos > 1)
    return cli_usage_error("report", "give one run or sweep directory, not %d", npos);
  else
    rc = report_dir(pos[0], &cfg, html, sizeof html);
  if (rc == VKL_EXIT_OK) printf("%s\n", html);
  return rc;
}
