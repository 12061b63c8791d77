/* The sweep's grid (src/sweep/grid.c): lists, ranges, conditional sections,
 * seeds, run names, and the errors that name the line. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "sweep/grid.h"

static vkl_sweep_run *expand(const char *text, uint32_t seeds, size_t *n) {
  vkl_grid *g;
  char err[512];
  cr_assert_eq(vkl_grid_parse(text, "g.ini", &g, err, sizeof err), VKL_OK, "%s", err);
  vkl_sweep_run *runs;
  cr_assert_eq(vkl_grid_expand(g, seeds, &runs, n, err, sizeof err), VKL_OK, "%s", err);
  vkl_grid_destroy(g);
  return runs;
}

static const char *value_of(const vkl_sweep_run *r, const char *key) {
  for (int i = 0; i < r->n; i++)
    if (strcmp(r->key[i], key) == 0) return r->value[i];
  return NULL;
}

/* The parse or the expansion fails with a message containing want. */
static void expect_error(const char *text, uint32_t seeds, const char *want) {
  vkl_grid *g;
  char err[512] = "";
  vkl_status st = vkl_grid_parse(text, "g.ini", &g, err, sizeof err);
  if (st == VKL_OK) {
    vkl_sweep_run *runs;
    size_t n;
    st = vkl_grid_expand(g, seeds, &runs, &n, err, sizeof err);
    if (st == VKL_OK) vkl_sweep_runs_free(runs, n);
    vkl_grid_destroy(g);
  }
  cr_assert_neq(st, VKL_OK, "no error for:\n%s", text);
  cr_assert(strstr(err, want), "error '%s' lacks '%s'", err, want);
}

Test(sweep_grid, product_in_file_order_named_by_varying_keys) {
  size_t n;
  vkl_sweep_run *r = expand("model = mlp\nopt = tvlars, lars\nbatch = 64,128 , 256\n", 0, &n);
  cr_assert_eq(n, 6);
  cr_assert_str_eq(value_of(&r[0], "opt"), "tvlars");
  cr_assert_str_eq(value_of(&r[0], "batch"), "64");
  cr_assert_str_eq(value_of(&r[2], "batch"), "256");
  cr_assert_str_eq(value_of(&r[3], "opt"), "lars");
  cr_assert_str_eq(value_of(&r[5], "model"), "mlp");
  cr_assert_str_eq(r[0].name, "opt-tvlars_batch-64"); /* model is the same in every run */
  cr_assert_str_eq(r[5].name, "opt-lars_batch-256");
  vkl_sweep_runs_free(r, n);
}

Test(sweep_grid, ranges_add_or_multiply_and_keep_integers) {
  size_t n;
  vkl_sweep_run *r = expand("[grid]\nepochs = 2..6 +2\n", 0, &n);
  cr_assert_eq(n, 3);
  cr_assert_str_eq(value_of(&r[2], "epochs"), "6");
  vkl_sweep_runs_free(r, n);
  r = expand("lambda = 1e-4..1e-2 *10\n", 0, &n);
  cr_assert_eq(n, 3);
  cr_assert_str_eq(value_of(&r[0], "lambda"), "0.0001");
  cr_assert_str_eq(value_of(&r[1], "lambda"), "0.001");
  cr_assert_str_eq(value_of(&r[2], "lambda"), "0.01");
  vkl_sweep_runs_free(r, n);
  r = expand("lr = 0.1..0.3 +0.1, 1, 2..3\ndata-dir = ../data\n", 0, &n);
  cr_assert_eq(n, 6);
  cr_assert_str_eq(value_of(&r[2], "lr"), "0.3"); /* 0.1 + 2*0.1 printed as written */
  cr_assert_str_eq(value_of(&r[3], "lr"), "1");
  cr_assert_str_eq(value_of(&r[5], "lr"), "3");
  cr_assert_str_eq(value_of(&r[0], "data-dir"), "../data"); /* not a range */
  vkl_sweep_runs_free(r, n);
}

Test(sweep_grid, conditional_sections_set_keys_per_batch) {
  size_t n;
  vkl_sweep_run *r = expand("opt = tvlars, lars\nbatch = 1024, 4096\nlr = 1\n"
                            "[batch=4096]\nlr = 12, 16\n"
                            "[opt=lars batch=1e3]\nschedule = lars-warm\n",
                            0, &n);
  /* tvlars: 1024 lr 1, 4096 lr 12 16; lars the same */
  cr_assert_eq(n, 6);
  cr_assert_str_eq(value_of(&r[0], "lr"), "1");
  cr_assert_str_eq(value_of(&r[1], "lr"), "12");
  cr_assert_str_eq(value_of(&r[2], "lr"), "16");
  cr_assert_null(value_of(&r[0], "schedule")); /* batch=1e3 is not 1024 */
  vkl_sweep_runs_free(r, n);
  r = expand("opt = tvlars, lars\nbatch = 1000, 4096\n[opt=lars batch=1e3]\nschedule = lars-warm\n",
             0, &n);
  cr_assert_eq(n, 4);
  cr_assert_str_eq(value_of(&r[2], "schedule"), "lars-warm"); /* numbers match as numbers */
  cr_assert_null(value_of(&r[3], "schedule"));
  cr_assert_str_eq(r[2].name, "opt-lars_batch-1000_schedule-lars-warm");
  vkl_sweep_runs_free(r, n);
}

Test(sweep_grid, seeds_add_a_last_key) {
  size_t n;
  vkl_sweep_run *r = expand("opt = sgd\n", 3, &n);
  cr_assert_eq(n, 3);
  cr_assert_str_eq(value_of(&r[2], "seed"), "3");
  cr_assert_str_eq(r[0].name, "seed-1");
  vkl_sweep_runs_free(r, n);
  r = expand("opt = sgd\n", 1, &n);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(r[0].name, "run");
  vkl_sweep_runs_free(r, n);
}

Test(sweep_grid, sweep_section_holds_its_own_settings) {
  vkl_grid *g;
  char err[256];
  cr_assert_eq(vkl_grid_parse("[sweep]\ncommand = pretrain\ntarget = 0.8\n[grid]\nlr = 1,2\n",
                              "g.ini", &g, err, sizeof err),
               VKL_OK, "%s", err);
  cr_assert_str_eq(vkl_grid_sweep_setting(g, "command"), "pretrain");
  cr_assert_str_eq(vkl_grid_sweep_setting(g, "target"), "0.8");
  cr_assert_null(vkl_grid_sweep_setting(g, "seeds"));
  cr_assert_eq(vkl_grid_entries(g), 3);
  vkl_grid_entry e = vkl_grid_entry_at(g, 2);
  cr_assert_str_eq(e.key, "lr");
  cr_assert_eq(e.line, 5);
  cr_assert_eq(e.nvalues, 2);
  cr_assert_not(e.sweep);
  cr_assert(vkl_grid_entry_at(g, 0).sweep);
  vkl_grid_destroy(g);
}

Test(sweep_grid, errors_name_the_line) {
  expect_error("lr = 1\nlr = 2\n", 0, "g.ini:2: key 'lr' is set again (line 1 set it first)");
  expect_error("lr = 1, 1.0\n", 0, "g.ini:1: key 'lr' lists 1.0 twice");
  expect_error("lr = 1,,2\n", 0, "g.ini:1: key 'lr' has an empty value");
  expect_error("lr = 1..x\n", 0, "g.ini:1: key 'lr': '1..x' is not a range");
  expect_error("lr = 4..1\n", 0, "ends below its start");
  expect_error("lr = 1..4 *1\n", 0, "never reaches its end");
  expect_error("lr = 1..100000\n", 0, "more than 1000 values");
  expect_error("lr = 1\n[warm]\nepochs = 2\n", 0, "g.ini:3: section [warm] is neither");
  expect_error("lr = 1\n[batch=2]\nepochs = 2\n", 0, "names a key no line sets");
  expect_error("lr = 1\n[batch=2]\nbatch = 4\n", 0, "its own section's condition");
  expect_error("lr = 1, 2\nbatch = 4\n[batch=4]\nlr = 3\n", 0,
               "g.ini:4: key 'lr' depends on batch, which the grid lists after it");
  expect_error("batch = 4\nopt = sgd\n[batch=4]\nlr = 3\n[opt=sgd]\nlr = 5\n", 0,
               "key 'lr' is set for the same runs by line 4 too");
  expect_error("seed = 1, 2\n", 2, "the grid sets seed");
  expect_error("[sweep]\ncommand = train\n", 0, "no key sets an option of the runs");
  expect_error("lr = 1\nthis line has no equals sign\n", 0, "g.ini:2: not 'key = value'");
  expect_error("lr = 1\n  2\n", 0, "g.ini:2: an indented line continues key 'lr'");
  expect_error("model = a/b, a_b\n", 0, "would share the directory name model-a_b");
}

Test(sweep_grid, load_names_the_file) {
  vkl_grid *g;
  char err[512];
  cr_assert_neq(vkl_grid_load("/nonexistent/grid.ini", &g, err, sizeof err), VKL_OK);
  cr_assert(strstr(err, "cannot read the grid /nonexistent/grid.ini"), "%s", err);
  char path[] = "/tmp/vklars-grid-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs("opt = lars\nlr = 2, 4\nlr = 8\n", f);
  fclose(f);
  cr_assert_neq(vkl_grid_load(path, &g, err, sizeof err), VKL_OK);
  char want[600];
  snprintf(want, sizeof want, "%s:3: key 'lr' is set again", path);
  cr_assert(strstr(err, want), "%s", err);
  f = fopen(path, "w");
  fputs("opt = lars\nlr = 2, 4\n", f);
  fclose(f);
  cr_assert_eq(vkl_grid_load(path, &g, err, sizeof err), VKL_OK, "%s", err);
  vkl_sweep_run *runs;
  size_t n;
  cr_assert_eq(vkl_grid_expand(g, 2, &runs, &n, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(n, 4);
  cr_assert_str_eq(runs[3].name, "lr-4_seed-2");
  vkl_sweep_runs_free(runs, n);
  vkl_grid_destroy(g);
  remove(path);
}
