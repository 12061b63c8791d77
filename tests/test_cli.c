/* The vklars command line as a user meets it: help, version, usage errors
 * with exit code 2, and `devices --json` that parses. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

typedef struct run_result {
  int code;
  char out[1 << 16];
  char err[1 << 14];
} run_result;

static void slurp(const char *path, char *buf, size_t n) {
  FILE *f = fopen(path, "rb");
  size_t got = f ? fread(buf, 1, n - 1, f) : 0;
  buf[got] = '\0';
  if (f) fclose(f);
}

/* Runs `vklars <args>` and captures exit code, stdout and stderr. */
static run_result *run(const char *args) {
  static run_result r;
  char out[] = "/tmp/vklars-out-XXXXXX", err[] = "/tmp/vklars-err-XXXXXX";
  int fo = mkstemp(out), fe = mkstemp(err);
  cr_assert(fo >= 0 && fe >= 0);
  close(fo);
  close(fe);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", VKLARS_EXE, args, out, err);
  int rc = system(cmd);
  cr_assert(WIFEXITED(rc), "vklars %s did not exit normally", args);
  r.code = WEXITSTATUS(rc);
  slurp(out, r.out, sizeof r.out);
  slurp(err, r.err, sizeof r.err);
  unlink(out);
  unlink(err);
  return &r;
}

Test(cli, help_and_version) {
  run_result *r = run("--help");
  cr_assert_eq(r->code, 0);
  cr_assert(strstr(r->out, "usage: vklars") && strstr(r->out, "devices"), "%s", r->out);
  r = run("--version");
  cr_assert_eq(r->code, 0);
  char want[64];
  snprintf(want, sizeof want, "vklars %s\n", vkl_version());
  cr_assert_str_eq(r->out, want);
  r = run("devices --help");
  cr_assert_eq(r->code, 0);
  cr_assert(strstr(r->out, "--json"), "%s", r->out);
}

Test(cli, usage_errors_exit_2) {
  const char *bad[] = {"",
                       "frobnicate",
                       "--frobnicate",
                       "devices --frobnicate",
                       "devices --device",
                       "devices --json=yes",
                       "devices extra"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    run_result *r = run(bad[i]);
    cr_assert_eq(r->code, 2, "'vklars %s' exited %d", bad[i], r->code);
    cr_assert(strstr(r->err, "vklars: error: "), "'vklars %s' stderr: %s", bad[i], r->err);
    cr_assert(strstr(r->err, "usage") || strstr(r->err, "--help"), "no usage hint: %s", r->err);
    cr_assert_eq(r->out[0], '\0', "usage errors print nothing on stdout");
  }
}

Test(cli, devices_json_parses) {
  unsetenv("VKLARS_DEVICE");
  run_result *r = run("devices --json");
  cr_assert_eq(r->code, 0, "stderr: %s", r->err);
  cJSON *root = cJSON_Parse(r->out);
  cr_assert(root, "not JSON: %s", r->out);
  cJSON *devices = cJSON_GetObjectItem(root, "devices");
  cr_assert(cJSON_IsArray(devices) && cJSON_GetArraySize(devices) >= 1);
  cJSON *selected = cJSON_GetObjectItem(root, "selected");
  cr_assert(cJSON_IsNumber(selected) && selected->valueint >= 0 &&
            selected->valueint < cJSON_GetArraySize(devices));
  cJSON *dev;
  cJSON_ArrayForEach(dev, devices) {
    const char *keys[] = {"name", "vendor", "type", "driver_name", "driver_version", "api_version"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
      cr_assert(cJSON_IsString(cJSON_GetObjectItem(dev, keys[k])), "missing %s", keys[k]);
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(dev, "memory_heaps")));
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(dev, "subgroup_size")));
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(dev, "max_shared_memory")));
    cr_assert(cJSON_GetObjectItem(dev, "max_storage_buffer_range")->valuedouble > 0);
    cJSON *features = cJSON_GetObjectItem(dev, "features");
    cr_assert(cJSON_IsBool(cJSON_GetObjectItem(features, "fp16")));
    cr_assert(cJSON_IsBool(cJSON_GetObjectItem(features, "cooperative_matrix")));
    cr_assert(cJSON_IsBool(cJSON_GetObjectItem(features, "timestamps")));
  }
  /* the text listing names the same devices */
  const char *first = cJSON_GetObjectItem(cJSON_GetArrayItem(devices, 0), "name")->valuestring;
  char name[256];
  snprintf(name, sizeof name, "%s", first);
  cJSON_Delete(root);
  r = run("devices");
  cr_assert_eq(r->code, 0);
  cr_assert(strstr(r->out, name) && strstr(r->out, "(selected)"), "%s", r->out);
}

Test(cli, devices_selector) {
  run_result *r = run("devices --json --device 0");
  cr_assert_eq(r->code, 0);
  cJSON *root = cJSON_Parse(r->out);
  cr_assert(root);
  cr_assert_eq(cJSON_GetObjectItem(root, "selected")->valueint, 0);
  cJSON_Delete(root);
  r = run("devices --device 99");
  cr_assert_eq(r->code, 1);
  cr_assert(strstr(r->err, "vklars: error: devices: --device 99: device 99 does not exist"), "%s",
            r->err);
  r = run("devices --device no-such-gpu");
  cr_assert_eq(r->code, 1);
  cr_assert(strstr(r->err, "no device name contains 'no-such-gpu'"), "%s", r->err);
}

Test(cli, bench_ops_json) {
  run_result *r = run("bench ops --json --batch 2 --repeats 1");
  cr_assert_eq(r->code, 0, "stderr: %s", r->err);
  cJSON *root = cJSON_Parse(r->out);
  cr_assert(root, "not JSON: %s", r->out);
  cr_assert_gt(cJSON_GetObjectItem(root, "baseline_gemm_gflops")->valuedouble, 0);
  cr_assert_gt(cJSON_GetObjectItem(root, "baseline_copy_gbs")->valuedouble, 0);
  cJSON *ops = cJSON_GetObjectItem(root, "ops"), *op;
  cr_assert_gt(cJSON_GetArraySize(ops), 2);
  cJSON_ArrayForEach(op, ops) {
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(op, "name")));
    cr_assert_gt(cJSON_GetObjectItem(op, "median_ms")->valuedouble, 0);
    cr_assert_gt(cJSON_GetObjectItem(op, "rate")->valuedouble, 0);
  }
  cJSON_Delete(root);
  r = run("bench");
  cr_assert_eq(r->code, 2);
  r = run("bench ops --batch 0");
  cr_assert_eq(r->code, 2);
  cr_assert(strstr(r->err, "--batch wants a positive integer"), "%s", r->err);
}

Test(cli, schedule_csv) {
  run_result *r = run("schedule --opt tvlars-official --lmbda 1e-2 --steps 300 --every 100");
  cr_assert_eq(r->code, 0, "%s", r->err);
  cr_assert(strncmp(r->out, "step,epoch,lr,phi,lr_x_phi\n", 27) == 0, "%s", r->out);
  unsigned long step, epoch;
  double lr, phi, prod;
  const char *line = strchr(r->out, '\n') + 1;
  int rows = 0;
  for (; *line; line = strchr(line, '\n') + 1, rows++) {
    cr_assert_eq(sscanf(line, "%lu,%lu,%lf,%lf,%lf", &step, &epoch, &lr, &phi, &prod), 5);
    cr_assert_float_eq(phi, 1.0 / (0.1 + exp(1e-2 * (step + 1.0))), 1e-8);
    cr_assert_float_eq(lr, 1.0, 1e-12);
  }
  cr_assert_eq(rows, 4, "steps 0, 100, 200 and the last, 299");
  cr_assert_eq(step, 299);
  r =
      run("schedule --opt lars --sd lars-warm --bs 1024 --lr 0.5 --steps 100 --epochs 10 "
          "--warmup-epochs 2");
  cr_assert_eq(r->code, 0, "%s", r->err);
  cr_assert(strstr(r->out, "\n20,2,2,1,2\n"), "peak lr*B/256 = 2 at the end of warm-up: %s",
            r->out);
  r = run("schedule --opt adam");
  cr_assert_eq(r->code, 2);
  cr_assert(strstr(r->err, "unknown optimizer 'adam'"), "%s", r->err);
  r = run("schedule --momentum 1.5");
  cr_assert_eq(r->code, 2);
  cr_assert(strstr(r->err, "momentum must be in [0, 1)"), "%s", r->err);
  r = run("schedule --lr abc");
  cr_assert_eq(r->code, 2);
}

Test(cli, train_rejects_bad_settings) {
  const char *bad[][2] = {
      {"train --batch 1024 --micro-batch 300", "does not divide"},
      {"train --opt adam", "unknown optimizer"},
      {"train --epochs 0", "out of range"},
      {"train --lr -1 --max-steps 1", "learning rate"},
      {"train --on-nonfinite ignore", "stop or skip"},
      {"train --label-smoothing 1.5", "label-smoothing"},
      {"train --frobnicate", "unknown option"},
      {"train --config /nonexistent.ini", "cannot read --config"},
      {"train --save-every 0", "--save-every is a number of steps"},
      {"train --save-every often", "--save-every wants a non-negative integer"},
      {"train --keep -1", "--keep wants a non-negative integer"},
      {"train --image-size 3x32", "--image-size wants CxHxW"},
      {"train --synthetic-images 0", "at least 1"},
      {"train --resume /tmp --config x.ini", "not --config"},
      {"train --resume /tmp/a --out /tmp/b", "not --out"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    run_result *r = run(bad[i][0]);
    cr_assert_eq(r->code, 2, "'vklars %s' exited %d: %s", bad[i][0], r->code, r->err);
    cr_assert(strstr(r->err, bad[i][1]), "'vklars %s': %s", bad[i][0], r->err);
  }
  run_result *r = run("train --help");
  cr_assert_eq(r->code, 0);
  cr_assert(strstr(r->out, "--micro-batch") && strstr(r->out, "--lmbda") &&
                strstr(r->out, "--resume") && strstr(r->out, "--save-every"),
            "%s", r->out);
  /* nothing to resume: a plain failure naming the directory */
  r = run("train --resume /nonexistent-run");
  cr_assert_eq(r->code, 1);
  cr_assert(strstr(r->err, "vklars: error: train: cannot open run directory /nonexistent-run"),
            "%s", r->err);
  char dir[] = "/tmp/vklars-noresume-XXXXXX";
  cr_assert(mkdtemp(dir));
  char cmd[128];
  snprintf(cmd, sizeof cmd, "train --resume %s", dir);
  r = run(cmd);
  cr_assert_eq(r->code, 1);
  cr_assert(strstr(r->err, "holds no checkpoint"), "%s", r->err);
}

Test(cli, eval_errors) {
  run_result *r = run("eval");
  cr_assert_eq(r->code, 2);
  cr_assert(strstr(r->err, "name the checkpoint"), "%s", r->err);
  r = run("eval /nonexistent/checkpoint.safetensors");
  cr_assert_eq(r->code, 1);
  cr_assert(strstr(r->err, "vklars: error: eval: cannot open checkpoint /nonexistent/"), "%s",
            r->err);
}

Test(cli, train_config_file) {
  char dir[] = "/tmp/vklars-ini-XXXXXX";
  cr_assert(mkdtemp(dir));
  char ini[300], cmd[700];
  snprintf(ini, sizeof ini, "%s/run.ini", dir);
  FILE *f = fopen(ini, "w");
  cr_assert(f);
  fputs(
      "# a run as a file\n[train]\ndata = synthetic\nmodel = mlp\nbs = 64\n"
      "micro-batch = 32\nepochs = 1\nmax-steps = 2\nlmbda = 0.01\nno-augment = true\n",
      f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "train --config %s --out %s/run --lr 0.5", ini, dir);
  run_result *r = run(cmd);
  cr_assert_eq(r->code, 0, "%s", r->err);
  cr_assert(strstr(r->out, "after 2 steps"), "%s", r->out);
  char path[400];
  snprintf(path, sizeof path, "%s/run/run.json", dir);
  FILE *j = fopen(path, "r");
  cr_assert(j, "no run.json");
  char text[8192];
  size_t n = fread(text, 1, sizeof text - 1, j);
  text[n] = '\0';
  fclose(j);
  cJSON *root = cJSON_Parse(text);
  cr_assert(root);
  cJSON *opt = cJSON_GetObjectItem(root, "optimizer");
  cr_assert_float_eq(cJSON_GetObjectItem(opt, "lambda")->valuedouble, 0.01, 1e-12);
  cr_assert_float_eq(cJSON_GetObjectItem(opt, "lr")->valuedouble, 0.5, 1e-12,
                     "the command line overrides the file");
  cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "run"), "batch")->valueint, 64);
  cJSON_Delete(root);
  /* the same run directory again: refused, unless --force */
  r = run(cmd);
  cr_assert_eq(r->code, 2);
  cr_assert(strstr(r->err, "already holds a run"), "%s", r->err);
  strncat(cmd, " --force", sizeof cmd - strlen(cmd) - 1);
  r = run(cmd);
  cr_assert_eq(r->code, 0, "%s", r->err);
  /* a bad key names the line */
  f = fopen(ini, "w");
  fputs("lr = 1\nfrobnicate = 3\n", f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "train --config %s", ini);
  r = run(cmd);
  cr_assert_eq(r->code, 2);
  cr_assert(strstr(r->err, "run.ini:2: unknown key 'frobnicate'"), "%s", r->err);
}
