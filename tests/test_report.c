/* vklars report and its library (src/report): the strict CSV reader's
 * errors (file and line), the run report on a real tiny run (every PNG
 * decodes at the size asked for, report.html names each), a sweep report
 * on a hand-made sweep directory and its best-lr choice, the cross-device
 * bench comparison, schedule --plot, and the errors a user meets: a
 * truncated log, a directory that is no run, gnuplot missing or failing. */
#include <sys/stat.h>

#include "report/csv.h"
#include "report/layers.h"
#include "report/sweep_results.h"
#include "test_proc.h"
#include "test_tree.h"
#include "test_util.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wshift-negative-value"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

static char out[1 << 16];

static void setup(void) {
  test_tree_setup("vklars-report-");
}

TestSuite(report, .init = setup, .fini = test_tree_teardown);

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  cr_assert(f, "cannot write %s", path);
  cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
  cr_assert_eq(fclose(f), 0);
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot read %s", path);
  cr_assert_eq(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  rewind(f);
  char *text = malloc((size_t)n + 1);
  cr_assert(text);
  cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
  text[n] = '\0';
  fclose(f);
  return text;
}

static size_t count_of(const char *text, const char *what) {
  size_t n = 0;
  for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) n++;
  return n;
}

/* The PNG at path decodes, w x h pixels. */
static void assert_png(const char *path, int w, int h) {
  int gw = 0, gh = 0, channels = 0;
  unsigned char *pixels = stbi_load(path, &gw, &gh, &channels, 0);
  cr_assert(pixels, "%s does not decode: %s", path, stbi_failure_reason());
  stbi_image_free(pixels);
  cr_assert(gw == w && gh == h, "%s is %dx%d, not %dx%d", path, gw, gh, w, h);
}

static vkl_csv *csv_ok(const char *path) {
  vkl_csv *csv = NULL;
  char err[512];
  vkl_status st = vkl_csv_read(path, &csv, err, sizeof err);
  cr_assert_eq(st, VKL_OK, "%s: %s", path, err);
  return csv;
}

/* vkl_csv_read fails with VKL_ERR_FORMAT and a message holding want. */
static void csv_fails(const char *text, const char *want) {
  write_text(P("bad.csv"), text);
  vkl_csv *csv = NULL;
  char err[512] = "";
  cr_assert_eq(vkl_csv_read(P("bad.csv"), &csv, err, sizeof err), VKL_ERR_FORMAT, "%s", text);
  cr_assert_null(csv);
  char full[1024];
  snprintf(full, sizeof full, "%s%s", P("bad.csv"), want);
  cr_assert(strstr(err, full), "'%s': got '%s', want '%s'", text, err, full);
}

/* ---- csv ------------------------------------------------------------ */

Test(report, csv_reads_a_good_file_with_quoted_fields_and_crlf) {
  write_text(P("good.csv"), "step,name,loss\n0,\"fc1,\"\"w\"\"\",1.5\r\n1,fc2,nan\n2,,-inf\n");
  vkl_csv *csv = csv_ok(P("good.csv"));
  cr_assert_eq(vkl_csv_rows(csv), 3);
  cr_assert_eq(vkl_csv_cols(csv), 3);
  cr_assert_str_eq(vkl_csv_header(csv, 2), "loss");
  cr_assert_eq(vkl_csv_col(csv, "name"), 1);
  cr_assert_eq(vkl_csv_col(csv, "lr"), -1);
  cr_assert_str_eq(vkl_csv_cell(csv, 0, 1), "fc1,\"w\"");
  cr_assert_str_eq(vkl_csv_cell(csv, 0, 2), "1.5", "the \\r of \\r\\n is no part of the cell");
  cr_assert_str_eq(vkl_csv_cell(csv, 2, 1), "");
  cr_assert_null(vkl_csv_cell(csv, 3, 0));
  cr_assert_eq(vkl_csv_line(csv, 2), 4);
  double v;
  char err[512];
  cr_assert_eq(vkl_csv_num(csv, 0, 2, &v, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(v, 1.5);
  cr_assert_eq(vkl_csv_num(csv, 1, 2, &v, err, sizeof err), VKL_OK, "%s", err);
  cr_assert(isnan(v));
  cr_assert_eq(vkl_csv_num(csv, 2, 2, &v, err, sizeof err), VKL_OK, "%s", err);
  cr_assert(isinf(v) && v < 0);
  size_t col = 9;
  cr_assert_eq(vkl_csv_require(csv, "step", &col, err, sizeof err), VKL_OK);
  cr_assert_eq(col, 0);
  cr_assert_eq(vkl_csv_require(csv, "lr", &col, err, sizeof err), VKL_ERR_FORMAT);
  char want[600];
  snprintf(want, sizeof want, "%s: no column 'lr'", P("good.csv"));
  cr_assert_str_eq(err, want);
  vkl_csv_free(csv);
  vkl_csv_free(NULL);
}

Test(report, csv_row_with_the_wrong_field_count_names_file_and_line) {
  csv_fails("a,b,c\n1,2,3\n4,5\n6,7,8\n", ":3: 2 fields, but the header has 3");
  csv_fails("a,b\n1,2,3\n", ":2: 3 fields, but the header has 2");
}

Test(report, csv_truncated_last_line_names_its_line) {
  csv_fails("a,b\n1,2\n3,4", ":3: the last line has no newline (a truncated file?)");
  csv_fails("a,b\n1,\"2\n", ":2: a quoted field has no closing quote");
}

Test(report, csv_empty_file_and_missing_header_are_errors) {
  csv_fails("", ":1: empty file (no header row)");
  csv_fails("\n1,2\n", ":1: missing header (the first line is empty)");
  csv_fails("a,b,a\n", ":1: header: column 'a' named twice");
}

Test(report, csv_cell_that_is_no_number_names_line_and_column) {
  write_text(P("n.csv"), "step,loss\n0,1.5\n1,abc\n2,\n3, 4\n");
  vkl_csv *csv = csv_ok(P("n.csv"));
  const char *cells[] = {"abc", "", " 4"};
  for (size_t r = 1; r <= 3; r++) {
    double v;
    char err[512], want[600];
    cr_assert_eq(vkl_csv_num(csv, r, 1, &v, err, sizeof err), VKL_ERR_FORMAT);
    snprintf(want, sizeof want, "%s:%zu: column loss: '%s' is not a number", P("n.csv"), r + 2,
             cells[r - 1]);
    cr_assert_str_eq(err, want);
  }
  vkl_csv_free(csv);
}

/* ---- layers.csv thinning ------------------------------------------- */

Test(report, layers_are_thinned_evenly_keeping_the_first_and_last_step) {
  FILE *f = fopen(P("layers.csv"), "w");
  cr_assert(f);
  fputs("step,layer,lwn,lgn,lnr,trust_ratio,effective_lr\n", f);
  for (int s = 0; s < 5000; s++) {
    fprintf(f, "%d,fc1.weight,%d,1,%d,1,0\n", s, s + 1, s + 1);
    fprintf(f, "%d,fc1.bias,2,%d,0.5,1,0\n", s, s + 1);
  }
  fclose(f);
  vkl_layer_set set;
  char err[512];
  cr_assert_eq(vkl_report_read_layers(P("layers.csv"), 2000, &set, err, sizeof err), VKL_OK, "%s",
               err);
  cr_assert_eq(set.steps, 5000);
  cr_assert_eq(set.stride, 3);
  cr_assert_eq(set.nlayers, 2);
  cr_assert_str_eq(set.layers[0].name, "fc1.weight");
  cr_assert_str_eq(set.layers[1].name, "fc1.bias");
  for (size_t i = 0; i < 2; i++) {
    const vkl_layer_series *l = &set.layers[i];
    cr_assert_eq(l->n, 1668, "steps 0, 3, ..., 4998 and the last, 4999");
    cr_assert_eq(l->step[0], 0);
    cr_assert_eq(l->step[1], 3);
    cr_assert_eq(l->step[l->n - 1], 4999);
  }
  cr_assert_eq(set.layers[0].lwn[1], 4);
  cr_assert_eq(set.layers[1].lgn[set.layers[1].n - 1], 5000);
  vkl_report_free_layers(&set);
}

/* ---- the sweep's best lr -------------------------------------------- */

static vkl_result_run run(size_t line, double batch, double lr, double best, int done) {
  return (vkl_result_run){"r", done, line, batch, lr, done ? best : NAN, 0};
}

Test(report, best_lr_is_the_highest_mean_over_seeds_not_the_best_single_run) {
  const vkl_result_run runs[] = {
      run(0, 256, 0.1, 0.60, 1), run(0, 256, 0.1, 0.62, 1), /* mean 0.61: chosen */
      run(0, 256, 0.2, 0.70, 1), run(0, 256, 0.2, 0.50, 1), /* the best run, mean 0.60 */
      run(0, 256, 0.4, 0.00, 0),                            /* failed: not counted */
      run(1, 256, 0.8, 0.95, 1),                            /* another optimizer line */
      run(0, 512, 0.8, 0.99, 1),                            /* another batch */
  };
  vkl_results_pick p;
  cr_assert_eq(vkl_results_best_lr(runs, 7, 0, 256, &p), 0);
  cr_assert_eq(p.lr, 0.1);
  cr_assert_float_eq(p.mean_best_top1, 0.61, 1e-12);
  cr_assert_eq(p.seeds, 2);
  cr_assert_eq(p.best_run, 1, "the better seed of the chosen lr");
  cr_assert_eq(vkl_results_best_lr(runs, 7, 1, 256, &p), 0);
  cr_assert_eq(p.lr, 0.8);
  cr_assert_eq(p.best_run, 5);
  cr_assert_eq(vkl_results_best_lr(runs, 7, 1, 512, &p), -1, "no run of line 1 at 512");
}

Test(report, best_lr_tie_goes_to_the_smaller_lr_and_failed_runs_never_count) {
  const vkl_result_run runs[] = {
      run(0, 64, 0.4, 0.5, 1), run(0, 64, 0.2, 0.5, 1), run(0, 64, 0.3, 0.9, 0),
      run(0, 32, 0.1, 0.9, 0), /* only failed runs at batch 32 */
  };
  vkl_results_pick p;
  cr_assert_eq(vkl_results_best_lr(runs, 4, 0, 64, &p), 0);
  cr_assert_eq(p.lr, 0.2);
  cr_assert_eq(p.best_run, 1);
  cr_assert_eq(vkl_results_best_lr(runs, 4, 0, 32, &p), -1);
}

/* Runs with the same lr but another free setting (TVLARS lambda: another
 * configuration) are not averaged together: each is a candidate. */
Test(report, best_setting_keeps_configurations_with_one_lr_apart) {
  vkl_result_run runs[] = {
      run(0, 256, 0.1, 0.60, 1), run(0, 256, 0.1, 0.62, 1), /* lambda A: mean 0.61 */
      run(0, 256, 0.1, 0.90, 1), run(0, 256, 0.1, 0.80, 1), /* lambda B: mean 0.85 */
  };
  runs[1].config = 0;
  runs[2].config = runs[3].config = 2;
  vkl_results_pick p;
  cr_assert_eq(vkl_results_best_lr(runs, 4, 0, 256, &p), 0);
  cr_assert_float_eq(p.mean_best_top1, 0.85, 1e-12);
  cr_assert_eq(p.seeds, 2);
  cr_assert_eq(p.best_run, 2);
}

/* ---- the run report ------------------------------------------------- */

static const char *const RUN_PNGS[] = {"loss.png", "top1.png", "schedule.png",
                                       "lwn.png",  "lgn.png",  "lnr.png"};

/* A real tiny run (2 epochs) in dir. */
static void tiny_run(const char *dir) {
  char args[1024];
  snprintf(args, sizeof args, "train " TINY_RUN " --epochs 2 --out %s", dir);
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 0, "train: exit %d: %s", rc, out);
}

/* The last test_top1 of dir/epochs.csv, as report.html prints it. */
static void final_top1_text(const char *dir, char *text, size_t n) {
  char path[600];
  snprintf(path, sizeof path, "%s/epochs.csv", dir);
  vkl_csv *csv = csv_ok(path);
  size_t col;
  double v;
  char err[512];
  cr_assert_eq(vkl_csv_require(csv, "test_top1", &col, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(vkl_csv_rows(csv), 2);
  cr_assert_eq(vkl_csv_num(csv, 1, col, &v, err, sizeof err), VKL_OK, "%s", err);
  snprintf(text, n, "<td>final test top-1</td><td>%.2f%% (epoch 2)</td>", 100 * v);
  vkl_csv_free(csv);
}

Test(report, run_report_draws_every_png_at_the_size_asked_and_the_page_shows_them) {
  const char *dir = P("run");
  tiny_run(dir);
  char args[1024];
  snprintf(args, sizeof args, "report %s --size 640x400", dir);
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 0, "report: exit %d: %s", rc, out);
  char html_path[600];
  snprintf(html_path, sizeof html_path, "%s/report/report.html", dir);
  cr_assert(strstr(out, html_path), "the path of report.html is printed: %s", out);
  char *html = read_text(html_path);
  for (size_t i = 0; i < sizeof RUN_PNGS / sizeof RUN_PNGS[0]; i++) {
    char png[600], src[64];
    snprintf(png, sizeof png, "%s/report/%s", dir, RUN_PNGS[i]);
    assert_png(png, 640, 400);
    snprintf(src, sizeof src, "<img src=\"%s\"", RUN_PNGS[i]);
    cr_assert(strstr(html, src), "report.html has no %s", src);
  }
  char final[128];
  final_top1_text(dir, final, sizeof final);
  cr_assert(strstr(html, final), "report.html lacks '%s'", final);
  cr_assert(strstr(html, "<td>best test top-5</td>"));
  cr_assert(strstr(html, "--model mlp --width 16"), "the command from run.json");
  cr_assert(strstr(html, "<td>optimizer.name</td><td>lars</td>"), "the options from run.json");
  free(html);
}

Test(report, a_truncated_epochs_csv_fails_naming_the_file_and_line) {
  const char *dir = P("run");
  tiny_run(dir);
  char path[600];
  snprintf(path, sizeof path, "%s/epochs.csv", dir);
  char *text = read_text(path);
  text[strlen(text) - 1] = '\0'; /* the last row loses its newline */
  write_text(path, text);
  free(text);
  char args[1024], want[700];
  snprintf(args, sizeof args, "report %s", dir);
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
  snprintf(want, sizeof want,
           "vklars: error: report: %s:3: the last line has no newline (a truncated file?)", path);
  cr_assert(strstr(out, want), "got: %s\nwant: %s", out, want);
}

/* A run directory written by hand: what the report reads, nothing more. */
static void fake_run(const char *dir, const char *command) {
  cr_assert_eq(mkdir(dir, 0755), 0);
  char path[600], json[1024];
  snprintf(json, sizeof json,
           "{\"command\": \"%s\", \"device\": {\"name\": \"Test GPU\"}, "
           "\"optimizer\": {\"name\": \"tvlars\", \"lr\": 1}}\n",
           command);
  snprintf(path, sizeof path, "%s/run.json", dir);
  write_text(path, json);
  snprintf(path, sizeof path, "%s/epochs.csv", dir);
  write_text(path,
             "epoch,train_loss,train_top1,test_loss,test_top1,test_top5,test_images,wall_s,"
             "images_per_s,loader_images_per_s,nonfinite_steps\n"
             "0,2.0,0.30,nan,0,0,0,1,1,1,0\n1,1.5,0.50,1.6,0.45,0.80,100,1,1,1,0\n");
  snprintf(path, sizeof path, "%s/steps.csv", dir);
  write_text(path, "step,epoch,loss,lr,phi,top1\n0,0,2,0.1,1,0.1\n1,0,1.9,0.1,0.9,0.2\n");
  snprintf(path, sizeof path, "%s/layers.csv", dir);
  write_text(path,
             "step,layer,lwn,lgn,lnr,trust_ratio,effective_lr\n"
             "0,conv1.weight,1,2,0.5,1,0.1\n1,conv1.weight,1.1,1.5,0.7,1,0.1\n");
}

Test(report, run_page_escapes_html_and_leaves_untested_epochs_out) {
  fake_run(P("run"), "vklars train --out <x>&'y'");
  char args[1024];
  snprintf(args, sizeof args, "report %s --out %s", P("run"), P("elsewhere/deep"));
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
  char *html = read_text(P("elsewhere/deep/report.html"));
  cr_assert(strstr(html, "--out &lt;x&gt;&amp;&#39;y&#39;"), "%s", html);
  cr_assert_null(strstr(html, "<x>"));
  cr_assert(strstr(html, "<p>Device: Test GPU</p>"));
  /* epoch 1 has test_images 0: the best top-1 is epoch 2's, not its 0 */
  cr_assert(strstr(html, "<td>best test top-1</td><td>45.00% (epoch 2)</td>"), "%s", html);
  free(html);
}

Test(report, a_run_that_has_only_just_started_gets_empty_charts_not_an_error) {
  fake_run(P("run"), "vklars train");
  const char *logs[][2] = {
      {"run/epochs.csv",
       "epoch,train_loss,train_top1,test_loss,test_top1,test_top5,test_images,wall_s,"
       "images_per_s,loader_images_per_s,nonfinite_steps\n"},
      {"run/steps.csv", "step,epoch,loss,lr,phi,top1\n"},
      {"run/layers.csv", "step,layer,lwn,lgn,lnr,trust_ratio,effective_lr\n"},
  };
  for (size_t i = 0; i < 3; i++) write_text(P("%s", logs[i][0]), logs[i][1]);
  char args[1024];
  snprintf(args, sizeof args, "report %s --size 320x200", P("run"));
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
  for (size_t i = 0; i < sizeof RUN_PNGS / sizeof RUN_PNGS[0]; i++)
    assert_png(P("run/report/%s", RUN_PNGS[i]), 320, 200);
  char *html = read_text(P("run/report/report.html"));
  cr_assert(strstr(html, "<td>final test top-1</td><td>not evaluated</td>") &&
                strstr(html, "<p>0 epochs logged.</p>"),
            "%s", html);
  free(html);
}

/* ---- errors --------------------------------------------------------- */

Test(report, a_missing_dir_and_a_dir_that_is_no_run_are_errors) {
  char args[1024];
  snprintf(args, sizeof args, "report %s", P("nothing"));
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
  cr_assert(strstr(out, "vklars: error: report: cannot open ") && strstr(out, P("nothing")), "%s",
            out);
  cr_assert_eq(mkdir(P("empty"), 0755), 0);
  snprintf(args, sizeof args, "report %s", P("empty"));
  rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
  cr_assert(strstr(out, "is neither a run directory (no run.json) nor a sweep directory"), "%s",
            out);
  rc = proc_run("report", out, sizeof out);
  cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
  snprintf(args, sizeof args, "report %s --size 640", P("empty"));
  rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
  cr_assert(strstr(out, "--size wants WIDTHxHEIGHT"), "%s", out);
}

Test(report, help_names_the_inputs_and_the_gnuplot_package) {
  int rc = proc_run("report --help", out, sizeof out);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
  cr_assert(strstr(out, "usage: vklars report RUNDIR | SWEEPDIR | BENCH.json...") &&
                strstr(out, "gnuplot-nox") && strstr(out, "--size"),
            "%s", out);
  rc = proc_run("--help", out, sizeof out);
  cr_assert_eq(rc, 0);
  cr_assert(strstr(out, "\n  report "), "the command list names report: %s", out);
}

Test(report, missing_gnuplot_names_the_debian_package) {
  fake_run(P("run"), "vklars train");
  char args[1024];
  snprintf(args, sizeof args, "report %s", P("run"));
  char *saved = test_env_swap("VKLARS_GNUPLOT", "/nonexistent/gnuplot");
  int rc = proc_run(args, out, sizeof out);
  test_env_restore("VKLARS_GNUPLOT", saved);
  cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
  cr_assert(strstr(out,
                   "vklars: error: report: gnuplot not found: VKLARS_GNUPLOT is "
                   "'/nonexistent/gnuplot'") &&
                strstr(out, "apt-get install gnuplot-nox"),
            "%s", out);
  saved = test_env_swap("PATH", "/nonexistent");
  rc = proc_run(args, out, sizeof out);
  test_env_restore("PATH", saved);
  cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
  cr_assert(strstr(out,
                   "vklars: error: report: gnuplot not found on PATH; install Debian's "
                   "gnuplot-nox (apt-get install gnuplot-nox)"),
            "%s", out);
}

Test(report, a_failing_gnuplot_is_an_error_with_its_first_stderr_line) {
  fake_run(P("run"), "vklars train");
  write_text(P("fake-gnuplot"),
             "#!/bin/sh\necho 'Warning: first a warning' >&2\n"
             "echo '\"x.gp\" line 3: something broke' >&2\necho more >&2\n"
             "exit 3\n");
  cr_assert_eq(chmod(P("fake-gnuplot"), 0755), 0);
  char args[1024];
  snprintf(args, sizeof args, "report %s", P("run"));
  char *saved = test_env_swap("VKLARS_GNUPLOT", P("fake-gnuplot"));
  int rc = proc_run(args, out, sizeof out);
  test_env_restore("VKLARS_GNUPLOT", saved);
  cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
  cr_assert(strstr(out,
                   "loss.png: exit status 3: Warning: first a warning | \"x.gp\" line 3: "
                   "something broke"),
            "%s", out);
  DIR *d = opendir(P("run/report"));
  cr_assert(d, "the report directory was made before the plot");
  for (struct dirent *de; (de = readdir(d));)
    cr_assert(de->d_name[0] == '.', "%s is left in the report directory", de->d_name);
  closedir(d);
}

/* ---- the sweep report ----------------------------------------------- */

#define RESULTS_HEADER                                                               \
  "run,status,opt,schedule,batch,lr,seed,final_top1,final_top5,best_top1,best_top5," \
  "best_epoch,target_epoch,epochs,steps,wall_s,images_per_s,device,error\n"

/* A sweep row: 2 optimizers x 2 batches x 2 lrs x 2 seeds, done, and two
 * that are not. best is the run's best test top-1. */
typedef struct sweep_row {
  const char *name, *status, *opt, *sched;
  int batch;
  double lr;
  int seed;
  double best;
} sweep_row;

static const sweep_row SWEEP[] = {
    /* lars at 256: lr 0.1 has the higher mean (0.61) though lr 0.2 has the best run */
    {"lars-b256-lr0.1-s1", "done", "lars", "lars-warm", 256, 0.1, 1, 0.60},
    {"lars-b256-lr0.1-s2", "done", "lars", "lars-warm", 256, 0.1, 2, 0.62},
    {"lars-b256-lr0.2-s1", "done", "lars", "lars-warm", 256, 0.2, 1, 0.70},
    {"lars-b256-lr0.2-s2", "done", "lars", "lars-warm", 256, 0.2, 2, 0.50},
    {"lars-b1024-lr0.1-s1", "done", "lars", "lars-warm", 1024, 0.1, 1, 0.40},
    {"lars-b1024-lr0.1-s2", "done", "lars", "lars-warm", 1024, 0.1, 2, 0.42},
    {"lars-b1024-lr0.2-s1", "done", "lars", "lars-warm", 1024, 0.2, 1, 0.55},
    {"lars-b1024-lr0.2-s2", "done", "lars", "lars-warm", 1024, 0.2, 2, 0.57},
    {"tvlars-b256-lr1-s1", "done", "tvlars", "none", 256, 1, 1, 0.66},
    {"tvlars-b256-lr1-s2", "done", "tvlars", "none", 256, 1, 2, 0.64},
    {"tvlars-b256-lr2-s1", "done", "tvlars", "none", 256, 2, 1, 0.30},
    {"tvlars-b256-lr2-s2", "done", "tvlars", "none", 256, 2, 2, 0.32},
    {"tvlars-b1024-lr1-s1", "done", "tvlars", "none", 1024, 1, 1, 0.61},
    {"tvlars-b1024-lr1-s2", "done", "tvlars", "none", 1024, 1, 2, 0.63},
    {"tvlars-b1024-lr2-s1", "done", "tvlars", "none", 1024, 2, 1, 0.20},
    {"tvlars-b1024-lr2-s2", "done", "tvlars", "none", 1024, 2, 2, 0.22},
    /* not done: their lr (which would win on its numbers) never counts */
    {"tvlars-b1024-lr4-s1", "failed", "tvlars", "none", 1024, 4, 1, 0},
    {"tvlars-b1024-lr4-s2", "pending", "tvlars", "none", 1024, 4, 2, 0},
};
#define SWEEP_ROWS (sizeof SWEEP / sizeof SWEEP[0])

/* runs/<name>/epochs.csv: 3 epochs rising to the run's best top-1. */
static void write_sweep_run(const char *sweep, const sweep_row *r) {
  char path[700], text[1024];
  snprintf(path, sizeof path, "%s/runs/%s", sweep, r->name);
  cr_assert_eq(mkdir(path, 0755), 0);
  snprintf(path, sizeof path, "%s/runs/%s/epochs.csv", sweep, r->name);
  snprintf(text, sizeof text,
           "epoch,train_loss,train_top1,test_loss,test_top1,test_top5,test_images,wall_s,"
           "images_per_s,loader_images_per_s,nonfinite_steps\n"
           "0,2,0.1,2,%.4f,0.5,100,1,1,1,0\n1,1.5,0.2,1.6,%.4f,0.6,100,1,1,1,0\n"
           "2,1.2,0.3,1.4,%.4f,0.7,100,1,1,1,0\n",
           r->best / 3, r->best / 2, r->best);
  write_text(path, text);
}

static void write_sweep(const char *sweep) {
  char path[700];
  cr_assert_eq(mkdir(sweep, 0755), 0);
  snprintf(path, sizeof path, "%s/runs", sweep);
  cr_assert_eq(mkdir(path, 0755), 0);
  FILE *f = fopen(strcat(strcpy(path, sweep), "/results.csv"), "w");
  cr_assert(f);
  fputs(RESULTS_HEADER, f);
  for (size_t i = 0; i < SWEEP_ROWS; i++) {
    const sweep_row *r = &SWEEP[i];
    fprintf(f, "%s,%s,%s,%s,%d,%g,%d,", r->name, r->status, r->opt, r->sched, r->batch, r->lr,
            r->seed);
    if (strcmp(r->status, "done") == 0) {
      fprintf(f, "%.4f,0.9,%.4f,0.95,3,,3,96,10,100,Test GPU,\n", r->best, r->best);
      write_sweep_run(sweep, r);
    } else {
      fprintf(f, ",,,,,,3,,,,,%s\n", r->status[0] == 'f' ? "\"diverged, loss nan\"" : "");
    }
  }
  cr_assert_eq(fclose(f), 0);
}

Test(report, sweep_report_plots_each_batch_and_tabulates_every_run) {
  const char *sweep = P("sweep");
  write_sweep(sweep);
  char args[1024];
  snprintf(args, sizeof args, "report %s --size 500x300", sweep);
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
  const char *pngs[] = {"acc_vs_batch.png", "curves_B256.png", "curves_B1024.png"};
  char *html = read_text(P("sweep/report/report.html"));
  for (size_t i = 0; i < 3; i++) {
    assert_png(P("sweep/report/%s", pngs[i]), 500, 300);
    char src[64];
    snprintf(src, sizeof src, "<img src=\"%s\"", pngs[i]);
    cr_assert(strstr(html, src), "report.html has no %s", src);
  }
  /* results.csv whole: the header and every row, the quoted error unquoted */
  const char *table = strstr(html, "<h2>results.csv</h2>");
  cr_assert(table);
  cr_assert_eq(count_of(table, "<tr>"), SWEEP_ROWS + 1);
  for (size_t i = 0; i < SWEEP_ROWS; i++) {
    char cell[128];
    snprintf(cell, sizeof cell, "<tr><td>%s</td><td>%s</td>", SWEEP[i].name, SWEEP[i].status);
    cr_assert(strstr(table, cell), "no row %s", cell);
  }
  cr_assert(strstr(table, "<td>diverged, loss nan</td>"));
  /* the choices: the best lr by mean, the curve its best seed's */
  const char *picks[] = {
      "<td>opt=lars schedule=lars-warm</td><td>256</td><td>0.1</td><td>61.00%</td><td>2</td>"
      "<td>lars-b256-lr0.1-s2</td>",
      "<td>opt=lars schedule=lars-warm</td><td>1024</td><td>0.2</td><td>56.00%</td><td>2</td>"
      "<td>lars-b1024-lr0.2-s2</td>",
      "<td>opt=tvlars schedule=none</td><td>256</td><td>1</td><td>65.00%</td><td>2</td>"
      "<td>tvlars-b256-lr1-s1</td>",
      "<td>opt=tvlars schedule=none</td><td>1024</td><td>1</td><td>62.00%</td><td>2</td>"
      "<td>tvlars-b1024-lr1-s2</td>",
  };
  for (size_t i = 0; i < 4; i++) cr_assert(strstr(html, picks[i]), "no choice %s", picks[i]);
  free(html);
}

Test(report, sweep_results_in_percent_are_refused_naming_the_line) {
  const char *sweep = P("sweep");
  cr_assert_eq(mkdir(sweep, 0755), 0);
  write_text(P("sweep/results.csv"), RESULTS_HEADER
             "a,done,lars,lars-warm,256,0.1,1,0.5,0.9,0.5,0.9,1,,1,1,1,1,gpu,\n"
             "b,done,lars,lars-warm,256,0.1,2,61.5,90,61.5,90,1,,1,1,1,1,gpu,\n");
  char args[1024];
  snprintf(args, sizeof args, "report %s", sweep);
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
  cr_assert(strstr(out, "results.csv:3: column best_top1: 61.5 is not a fraction in [0, 1]"), "%s",
            out);
}

/* ---- bench comparison ----------------------------------------------- */

static void write_bench(const char *path, const char *device, double ratio, int with_relu) {
  char text[2048];
  snprintf(text, sizeof text,
           "{\"device\": \"%s\", \"driver\": \"test\", \"geometry\": \"gpu\", \"batch\": 64,\n"
           " \"baseline_gemm_gflops\": 1000, \"baseline_copy_gbs\": 500,\n"
           " \"ops\": [\n"
           "  {\"name\": \"baseline gemm 1024x1024x1024\", \"median_ms\": 2, \"rate\": 1000,\n"
           "   \"unit\": \"GFLOP/s\", \"vs_baseline\": 1},\n"
           "  {\"name\": \"baseline copy vec4 128 MiB\", \"median_ms\": 0.5, \"rate\": 500,\n"
           "   \"unit\": \"GB/s\", \"vs_baseline\": 1},\n"
           "  {\"name\": \"matmul fc 64x512 -> 10\", \"median_ms\": 0.25, \"rate\": %g,\n"
           "   \"unit\": \"GFLOP/s\", \"vs_baseline\": %g}%s\n"
           " ]}\n",
           device, 1000 * ratio, ratio,
           with_relu ? ",\n  {\"name\": \"relu 64x64x32x32\", \"median_ms\": 0.125, \"rate\": 250,"
                       " \"unit\": \"GB/s\", \"vs_baseline\": 0.5}"
                     : "");
  write_text(path, text);
}

Test(report, bench_files_are_compared_op_by_op_as_ratios_to_their_own_baselines) {
  write_bench(P("a.json"), "Vendor A <GPU>", 0.25, 1);
  write_bench(P("b.json"), "Vendor B", 0.75, 0);
  char args[1024];
  snprintf(args, sizeof args, "report %s %s --out %s --size 700x450", P("a.json"), P("b.json"),
           P("cmp"));
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
  assert_png(P("cmp/bench_ratios.png"), 700, 450);
  char *html = read_text(P("cmp/report.html"));
  cr_assert(strstr(html, "<img src=\"bench_ratios.png\""));
  cr_assert(strstr(html,
                   "<th>op</th><th>baseline</th><th>Vendor A &lt;GPU&gt;</th>"
                   "<th>Vendor B</th>"),
            "%s", html);
  cr_assert(strstr(html,
                   "<tr><td>matmul fc 64x512 -&gt; 10</td><td>GEMM</td>"
                   "<td>0.250 (0.25 ms)</td><td>0.750 (0.25 ms)</td></tr>"),
            "%s", html);
  cr_assert(strstr(html,
                   "<tr><td>relu 64x64x32x32</td><td>copy</td><td>0.500 (0.125 ms)</td>"
                   "<td>-</td></tr>"),
            "an op one file lacks: %s", html);
  cr_assert_null(strstr(html, "<td>baseline gemm"), "the baselines are no ops of the table");
  cr_assert(strstr(html, "against that device&#39;s GEMM"), "the page says which baseline");
  free(html);
}

Test(report, bench_file_without_ops_is_refused) {
  write_text(P("x.json"), "{\"device\": \"X\"}\n");
  char args[1024];
  snprintf(args, sizeof args, "report %s --out %s", P("x.json"), P("cmp"));
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
  cr_assert(strstr(out, "x.json: no \"ops\" array"), "%s", out);
}

/* ---- schedule --plot ------------------------------------------------ */

Test(report, schedule_plot_draws_phi_for_each_lambda_and_csv_is_unchanged) {
  char args[1024];
  snprintf(args, sizeof args, "schedule --plot %s --steps 500 --lambdas 1e-3,1e-2,5e-2",
           P("phi.png"));
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
  assert_png(P("phi.png"), 900, 560);
  rc = proc_run("schedule --steps 3", out, sizeof out);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
  cr_assert(strncmp(out, "step,epoch,lr,phi,lr_x_phi\n0,0,", 31) == 0, "%s", out);
  cr_assert_eq(count_of(out, "\n"), 4, "%s", out);
  snprintf(args, sizeof args, "schedule --opt lars --plot %s", P("lars.png"));
  rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
  cr_assert(strstr(out, "--plot draws TVLARS's phi(t): --opt lars has none"), "%s", out);
  rc = proc_run("schedule --lambdas 1e-3", out, sizeof out);
  cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
}
