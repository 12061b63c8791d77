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

/* Runs `env <env> vklars <args>` (env: NAME=VALUE words, or "") and
 * captures exit code, stdout and stderr. A run past 60 s is killed and
 * exits 124: a command that never ends fails its test, not the suite. */
static run_result *run_env(const char *env, const char *args) {
  static run_result r;
  char out[] = "/tmp/vklars-out-XXXXXX", err[] = "/tmp/vklars-err-XXXXXX";
  int fo = mkstemp(out), fe = mkstemp(err);
  cr_assert(fo >= 0 && fe >= 0);
  close(fo);
  close(fe);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "env %s timeout 60 '%s' %s >'%s' 2>'%s'", env, VKLARS_EXE, args, out,
           err);
  int rc = system(cmd);
  cr_assert(WIFEXITED(rc), "vklars %s did not exit normally", args);
  r.code = WEXITSTATUS(rc);
  slurp(out, r.out, sizeof r.out);
  slurp(err, r.err, sizeof r.err);
  unlink(out);
  unlink(err);
  return &r;
}

static run_result *run(const char *args) {
  return run_env("", args);
}

/* A tiny training run (64 8x8 images, an mlp of width 16): the options
 * the train tests add, so that a setting the command wrongly accepts ends
 * the test in a second instead of a default run's minutes. */
#define TINY "--data synthetic --synthetic-images 64 --image-size 1x8x8 --model mlp --width 16 "

/* Exit code 2 and each of the texts in stderr. */
static void expect_usage_error(const char *env, const char *args, const char *const *texts) {
  run_result *r = run_env(env, args);
  cr_assert_eq(r->code, 2, "'%s vklars %s' exited %d: %s", env, args, r->code, r->err);
  cr_assert(strstr(r->err, "vklars: error: "), "'vklars %s': %s", args, r->err);
  for (; *texts; texts++)
    cr_assert(strstr(r->err, *texts), "'%s vklars %s': no '%s' in: %s", env, args, *texts, r->err);
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
}

/* A selector that matches no device, from --device or VKLARS_DEVICE, is a
 * usage error that lists the devices there are, in every command. */
Test(cli, device_selector_matching_nothing_is_usage_error) {
  const char *index[] = {"device 99 does not exist", "[0] ", NULL};
  const char *name[] = {"no device name contains 'no-such-gpu'", "[0] ", NULL};
  const char *env[] = {"VKLARS_DEVICE=99: device 99 does not exist", "[0] ", NULL};
  const char *empty[] = {"device selector is empty", NULL};
  expect_usage_error("", "devices --device 99", index);
  expect_usage_error("", "devices --device no-such-gpu", name);
  expect_usage_error("VKLARS_DEVICE=99", "devices", env);
  expect_usage_error("", "train " TINY "--max-steps 1 --out /tmp/vklars-nodev --device 99", index);
  expect_usage_error("", "train " TINY "--max-steps 1 --out /tmp/vklars-nodev --device ''", empty);
  expect_usage_error("VKLARS_DEVICE=99", "train " TINY "--max-steps 1 --out /tmp/vklars-nodev",
                     env);
  expect_usage_error("", "bench ops --device no-such-gpu", name);
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
  cr_assert(strstr(r->err, "--batch 0 is out of range [1, 1048576]"), "%s", r->err);
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
      {"train --epochs 0", "--epochs 0 is out of range [1, 4294967295]"},
      {"train --lr -1 --max-steps 1", "learning rate"},
      {"train --on-nonfinite ignore", "stop or skip"},
      {"train --label-smoothing 1.5", "label-smoothing"},
      {"train --frobnicate", "unknown option"},
      {"train --config /nonexistent.ini", "cannot read --config"},
      {"train --save-every 0", "--save-every 0 is out of range [1, 18446744073709551615]"},
      {"train --save-every often", "--save-every wants N (steps"},
      {"train --keep -1", "--keep wants an integer in [0, 4294967295], not '-1'"},
      {"train --image-size 3x32", "--image-size wants CxHxW"},
      {"train --synthetic-images 0", "--synthetic-images 0 is out of range [1, "},
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

/* Zero or absurd counts are usage errors naming the value and the range,
 * never replaced by a default (--batch 0 trained at 1024, --max-steps 0
 * meant no limit) nor read in part (" 5", "+5", "-1" wrapping). */
Test(cli, zero_and_absurd_counts_are_usage_errors) {
  static const char *const bad[][2] = {
      {"train " TINY "--batch 0", "--batch 0 is out of range [1, 4294967295]"},
      {"train " TINY "--bs 0", "--batch 0 is out of range [1, 4294967295]"},
      {"train " TINY "--max-steps 0", "--max-steps 0 is out of range [1, 18446744073709551615]"},
      {"train " TINY "--micro-batch 0", "--micro-batch 0 is out of range [1, 4294967295]"},
      {"train " TINY "--epochs 99999999999",
       "--epochs 99999999999 is out of range [1, 4294967295]"},
      {"train " TINY "--threads 0", "--threads 0 is out of range [1, 1024]"},
      {"train " TINY "--threads 5000", "--threads 5000 is out of range [1, 1024]"},
      {"train " TINY "--width 0", "--width 0 is out of range [1, 65536]"},
      {"train " TINY "--seed 18446744073709551616",
       "--seed 18446744073709551616 is out of range [0, 18446744073709551615]"},
      {"train " TINY "--max-steps ' 5'", "--max-steps wants an integer in [1, "},
      {"train " TINY "--max-steps +5", "--max-steps wants an integer in [1, "},
      {"train " TINY "--image-size 1x-8x8", "--image-size wants CxHxW"},
      {"train " TINY "--label-smoothing 1", "--label-smoothing 1 is out of range [0, 1)"},
      {"train " TINY "--lr ' 1'", "--lr wants a number, not ' 1'"},
      {"schedule --opt lars --batch 0", "--batch 0 is out of range [1, 4294967295]"},
      {"schedule --steps 0", "--steps 0 is out of range [1, 18446744073709551615]"},
      {"schedule --every 0", "--every 0 is out of range [1, 18446744073709551615]"},
      {"bench ops --repeats 0", "--repeats 0 is out of range [1, 1000]"},
      {"bench ops --repeats 100000", "--repeats 100000 is out of range [1, 1000]"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char args[512];
    snprintf(args, sizeof args, "%s --out /tmp/vklars-counts-run", bad[i][0]);
    if (strncmp(bad[i][0], "train", 5) != 0) snprintf(args, sizeof args, "%s", bad[i][0]);
    const char *texts[] = {bad[i][1], NULL};
    expect_usage_error("", args, texts);
  }
}

/* `schedule` prints a row per --every steps; the rows are bounded (a
 * mistyped --steps printed for ever) and the work follows the rows, not
 * --steps. */
Test(cli, schedule_rows_are_bounded) {
  const char *too_many[] = {
      "--steps 18446744073709551615 with --every 1 prints "
      "18446744073709551615 rows, more than the 10000000 allowed",
      "--every 1844674591839 or more", NULL};
  expect_usage_error("", "schedule --steps 18446744073709551615", too_many);
  run_result *r = run("schedule --steps 18446744073709551615 --every 4611686018427387904");
  cr_assert_eq(r->code, 0, "%s", r->err);
  const char *last = strstr(r->out, "\n18446744073709551614,");
  cr_assert(last && strstr(r->out, "\n13835058055282163712,"), "%s", r->out);
  int rows = 0;
  for (const char *c = r->out; *c; c++) rows += *c == '\n';
  cr_assert_eq(rows, 1 + 5, "header, 0, 2^62, 2^63, 3*2^62 and the last: %s", r->out);
}

/* A message names only the options the user gave: a default is called one. */
Test(cli, messages_name_only_options_given) {
  const char *batch[] = {"the default micro-batch 256 does not divide --batch 300",
                         "150 is the largest up to 256", NULL};
  expect_usage_error("", "train " TINY "--batch 300 --out /tmp/vklars-msg-run", batch);
  run_result *r = run_env("", "train " TINY "--batch 300 --out /tmp/vklars-msg-run");
  cr_assert(!strstr(r->err, "--micro-batch 256"), "%s", r->err);
  const char *micro[] = {"--micro-batch 48 does not divide the default --batch 1024", NULL};
  expect_usage_error("", "train " TINY "--micro-batch 48 --out /tmp/vklars-msg-run", micro);
  /* a batch beyond the data names the batch, not the default micro-batch */
  const char *larger[] = {"batch 128 is larger than the 64 training images", NULL};
  expect_usage_error("", "train " TINY "--batch 128 --out /tmp/vklars-msg-run --force", larger);
  expect_usage_error("",
                     "train " TINY
                     "--batch 128 --micro-batch auto --out /tmp/vklars-msg-run "
                     "--force",
                     larger);
}

/* Every INI problem is a usage error naming the file and the line. */
Test(cli, config_file_problems_name_file_and_line) {
  char dir[] = "/tmp/vklars-inibad-XXXXXX";
  cr_assert(mkdtemp(dir));
  static const char *const cases[][2] = {
      {"lr = 1\nlr = 2\n", "bad.ini:2: key 'lr' sets --lr again (line 1 set it first)"},
      {"batch = 64\nlr = 1\nbs = 32\n",
       "bad.ini:3: key 'bs' sets --batch again (line 1 set it "
       "first)"},
      {"no-augment = true\nno-augment = false\n",
       "bad.ini:2: key 'no-augment' sets --no-augment "
       "again"},
      {"[train]\n  lr = 1\n  epochs = 2\n",
       "bad.ini:3: an indented line continues key 'lr' of "
       "line 2"},
      {"config = other.ini\n", "bad.ini:1: key 'config'"},
      {"resume = /tmp\n", "bad.ini:1: key 'resume' belongs on the command line"},
      {"zzz = 1\nyyy = 2\n", "bad.ini:1: unknown key 'zzz'"},
      {"lr = 1\nnot a pair\n", "bad.ini:2: not 'key = value'"},
  };
  char ini[300], cmd[700];
  snprintf(ini, sizeof ini, "%s/bad.ini", dir);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    FILE *f = fopen(ini, "w");
    cr_assert(f);
    fputs(cases[i][0], f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "train " TINY "--max-steps 1 --out %s/run --force --config %s", dir,
             ini);
    const char *texts[] = {cases[i][1], NULL};
    expect_usage_error("", cmd, texts);
  }
  /* a directory is not an empty file */
  snprintf(cmd, sizeof cmd, "train " TINY "--max-steps 1 --out %s/run --force --config %s", dir,
           dir);
  char want[400];
  snprintf(want, sizeof want, "--config %s is a directory, not an INI file", dir);
  const char *texts[] = {want, NULL};
  expect_usage_error("", cmd, texts);
}

/* Malformed VKLARS_* variables are usage errors naming the variable and the
 * value, before any device work; none is read in part or ignored. */
Test(cli, environment_errors_are_usage_errors) {
  static const char *const bad[] = {
      "VKLARS_DEVICE_MEMORY_LIMIT=64MB", "VKLARS_DEVICE_MEMORY_LIMIT=1.5G",
      "VKLARS_DEVICE_MEMORY_LIMIT=0",    "VKLARS_FAULT_DEVICE_LOST=abc",
      "VKLARS_VALIDATION=yes",           "VKLARS_VALIDATION_PRINT=true",
      "VKLARS_BN_LAYOUT=fast",           "VKLARS_OPTIM_LAYOUT=fast",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char want[128];
    snprintf(want, sizeof want, "%s: ", bad[i]);
    const char *texts[] = {want, NULL};
    expect_usage_error(bad[i], "train " TINY "--max-steps 1 --out /tmp/vklars-env-run --force",
                       texts);
    expect_usage_error(bad[i], "devices", texts);
  }
  /* the accepted forms train */
  run_result *r =
      run_env("VKLARS_DEVICE_MEMORY_LIMIT=2G VKLARS_VALIDATION=0",
              "train " TINY "--batch 8 --max-steps 1 --out /tmp/vklars-env-run --force");
  cr_assert_eq(r->code, 0, "%s", r->err);
}

static cJSON *read_json(const char *path) {
  FILE *f = fopen(path, "r");
  cr_assert(f, "no %s", path);
  static char text[16384];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  cJSON *root = cJSON_Parse(text);
  cr_assert(root, "%s is not JSON", path);
  return root;
}

static const char *run_batch_norm(cJSON *root) {
  return cJSON_GetObjectItem(cJSON_GetObjectItem(root, "run"), "batch_norm")->valuestring;
}

/* Batch norm's rule (2 samples per micro-batch for its statistics) binds
 * only models with batch norm, and its message names the layer; run.json
 * says whether the model has any. */
Test(cli, batch_norm_rules_bind_only_batch_norm) {
  char dir[] = "/tmp/vklars-bn-XXXXXX";
  cr_assert(mkdtemp(dir));
  char cmd[600], path[400];
  snprintf(cmd, sizeof cmd, "train " TINY "--batch 1 --max-steps 2 --out %s/mlp", dir);
  run_result *r = run(cmd);
  cr_assert_eq(r->code, 0, "the mlp has no batch norm: %s", r->err);
  cr_assert(!strstr(r->err, "batch norm"), "%s", r->err);
  snprintf(path, sizeof path, "%s/mlp/run.json", dir);
  cJSON *root = read_json(path);
  cr_assert_str_eq(run_batch_norm(root), "none (the model has no batch norm)");
  cJSON_Delete(root);
  snprintf(cmd, sizeof cmd,
           "train --data synthetic --synthetic-images 64 --image-size 1x8x8 --model cnn --width 4 "
           "--batch 8 --micro-batch 2 --max-steps 1 --out %s/cnn",
           dir);
  r = run(cmd);
  cr_assert_eq(r->code, 0, "%s", r->err);
  snprintf(path, sizeof path, "%s/cnn/run.json", dir);
  root = read_json(path);
  cr_assert(strstr(run_batch_norm(root), "per micro-batch statistics"), "%s", run_batch_norm(root));
  cJSON_Delete(root);
  snprintf(cmd, sizeof cmd,
           "train --data synthetic --synthetic-images 64 --image-size 1x8x8 --model cnn --width 4 "
           "--batch 8 --micro-batch 1 --max-steps 1 --out %s/cnn1",
           dir);
  const char *texts[] = {"micro-batch 1: the cnn's batch norm (bn1 first) needs at least 2 samples",
                         NULL};
  expect_usage_error("", cmd, texts);
}

/* The width is checked against its limit before any size is computed from
 * it (2 * 2^31 channels wrapped to 0 and read as an empty layer). */
Test(cli, width_overflow_names_the_limit) {
  const char *max[] = {"--width 4294967295 is out of range [1, 65536]", NULL};
  expect_usage_error("", "train " TINY "--model cnn --width 4294967295 --out /tmp/vklars-w", max);
  const char *half[] = {"--width 2147483648 is out of range [1, 65536]", NULL};
  expect_usage_error("", "train " TINY "--model cnn --width 2147483648 --out /tmp/vklars-w", half);
}

/* The word after "loss " in every line of out: at most 10 characters, a
 * number strtod reads whole, or nan, inf, -inf. Returns how many were >= 1e6
 * or not finite. */
static int check_losses(const char *out) {
  int large = 0;
  for (const char *p = strstr(out, "loss "); p; p = strstr(p + 5, "loss ")) {
    char word[64];
    cr_assert_eq(sscanf(p + 5, "%63s", word), 1);
    cr_assert_leq(strlen(word), 10, "a loss printed as '%s'", word);
    if (!strcmp(word, "-")) continue; /* no step's loss known yet */
    if (!strcmp(word, "nan") || !strcmp(word, "inf") || !strcmp(word, "-inf")) {
      large++;
      continue;
    }
    char *end;
    double v = strtod(word, &end);
    cr_assert(*end == '\0' && isfinite(v), "a loss printed as '%s'", word);
    large += fabs(v) >= 1e6;
  }
  return large;
}

/* A diverging run's loss (1e26 here, then nan) prints short on the progress
 * and epoch lines. */
Test(cli, huge_loss_prints_short) {
  run_result *r = run("train " TINY
                      "--batch 8 --epochs 2 --opt sgd --lr 1e3 --on-nonfinite skip "
                      "--out /tmp/vklars-loss-run --force");
  cr_assert_eq(r->code, 0, "%s", r->err);
  cr_assert_gt(check_losses(r->out), 0, "no large loss to print: %s", r->out);
  cr_assert_gt(check_losses(r->err), 0, "no large loss in the progress: %s", r->err);
}

/* schedule --steps alone keeps 10 steps an epoch (it used to refuse
 * --steps 50 against the default 100 epochs); given epochs still count. */
Test(cli, schedule_epochs_follow_the_steps) {
  run_result *r = run("schedule --steps 50");
  cr_assert_eq(r->code, 0, "%s", r->err);
  cr_assert(strstr(r->out, "\n49,4,"), "step 49 is not in epoch 4 of 5: %s", r->out);
  r = run("schedule --steps 5");
  cr_assert_eq(r->code, 0, "%s", r->err);
  cr_assert(strstr(r->out, "\n4,0,"), "%s", r->out);
  const char *too_many[] = {"60 epochs cannot span only 50 steps", NULL};
  expect_usage_error("", "schedule --steps 50 --epochs 60", too_many);
}

/* LARS's default lars-warm schedule warms up over 20 epochs: a shorter run
 * is told so at start-up, with the rate its last step reaches. */
Test(cli, warmup_longer_than_the_run_is_said) {
  run_result *r =
      run("train " TINY "--opt lars --batch 32 --epochs 1 --out /tmp/vklars-warm --force");
  cr_assert_eq(r->code, 0, "%s", r->err);
  cr_assert(strstr(r->err, "warm-up (20 epochs, 40 steps) is longer than the run (2 steps)") &&
                strstr(r->err, "learning rate is 2.5% of its base"),
            "%s", r->err);
  r = run("train " TINY
          "--opt lars --warmup-epochs 0.5 --batch 32 --epochs 1 --out "
          "/tmp/vklars-warm --force");
  cr_assert_eq(r->code, 0, "%s", r->err);
  cr_assert(!strstr(r->err, "longer than the run"), "%s", r->err);
}

/* Before any step's loss is read (they are read a step late), the
 * progress line says so instead of showing a loss of 0, and shows no
 * throughput or ETA until two steps are done. */
Test(cli, progress_shows_no_loss_before_one_is_known) {
  run_result *r = run("train " TINY "--batch 8 --max-steps 1 --out /tmp/vklars-loss-first --force");
  cr_assert_eq(r->code, 0, "%s", r->err);
  cr_assert(strstr(r->err, "step 1/1  micro 1/1  loss -  "), "%s", r->err);
  /* nor a throughput: a step just submitted is not done, so its rate would be absurd */
  cr_assert(strstr(r->err, "loss -  - img/s  ETA -"), "%s", r->err);
  cr_assert(!strstr(r->err, "loss 0  "), "%s", r->err);
}

/* --delay-epochs 0 is a delay of 0, not the optimizer's default (-1 step
 * for tvlars-official); a negative one is refused, not ignored. */
Test(cli, delay_in_epochs_is_taken_as_given) {
  run_result *r = run("schedule --opt tvlars-official --delay-epochs 0 --steps 2 --epochs 1");
  cr_assert_eq(r->code, 0, "%s", r->err);
  double phi;
  cr_assert_eq(sscanf(strchr(r->out, '\n') + 1, "0,0,%*f,%lf", &phi), 1, "%s", r->out);
  cr_assert_float_eq(phi, 1.0 / (0.1 + 1.0), 1e-8, "phi(0) with d_e = 0: %s", r->out);
  const char *negative[] = {"delay in epochs must be in [0, inf) (got -1)", NULL};
  expect_usage_error("", "schedule --opt tvlars --delay-epochs -1", negative);
}

/* --excluded-lr-scale without excluded tensors would do nothing: refused;
 * a negative scale names its range. */
Test(cli, excluded_lr_scale_needs_excluded_tensors) {
  const char *none[] = {"--excluded-lr-scale", "no tensor is excluded", NULL};
  expect_usage_error("", "schedule --opt tvlars --no-exclude-1d --excluded-lr-scale 0.1 --steps 2",
                     none);
  expect_usage_error("", "schedule --opt sgd --excluded-lr-scale 0.1 --steps 2", none);
  const char *negative[] = {"excluded tensors' lr scale must be in [0, inf) (got -1)", NULL};
  expect_usage_error("", "schedule --opt lars --excluded-lr-scale -1 --steps 2", negative);
  run_result *r = run("schedule --opt lars --excluded-lr-scale 0.024 --steps 2 --epochs 1");
  cr_assert_eq(r->code, 0, "%s", r->err);
}

/* The test rows of epochs.csv, "top1,images" per epoch, into buf. */
static void test_columns(const char *dir, char *buf, size_t n) {
  char path[256], text[4096];
  snprintf(path, sizeof path, "%s/epochs.csv", dir);
  slurp(path, text, sizeof text);
  buf[0] = '\0';
  char *line = strchr(text, '\n');
  while (line && line[1]) {
    line++;
    double v[11];
    char nan_or[16];
    int epoch;
    /* epoch,train_loss,train_top1,test_loss,test_top1,test_top5,test_images,... */
    cr_assert_eq(sscanf(line, "%d,%lf,%lf,%15[^,],%lf,%*[^,],%lf", &epoch, &v[0], &v[1], nan_or,
                        &v[2], &v[3]),
                 5 + 1, "%s", line);
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, "%s%s:%g", len ? " " : "", isnan(v[2]) ? "nan" : "x", v[3]);
    line = strchr(line, '\n');
  }
}

/* --eval-every: N epochs and the last, the end only, or never; an epoch
 * not evaluated logs NaN and 0 images, and says so. */
Test(cli, eval_every_chooses_the_evaluated_epochs) {
  const char *dir = "/tmp/vklars-eval-every";
  char cols[256], args[512];
  const char *modes[] = {"2", "end", "never", "epoch"};
  const char *want[] = {"nan:0 x:64 nan:0 x:64 x:64", "nan:0 nan:0 nan:0 nan:0 x:64",
                        "nan:0 nan:0 nan:0 nan:0 nan:0", "x:64 x:64 x:64 x:64 x:64"};
  for (int i = 0; i < 4; i++) {
    snprintf(args, sizeof args, "train " TINY "--batch 32 --epochs 5 --eval-every %s --out %s --force",
             modes[i], dir);
    run_result *r = run(args);
    cr_assert_eq(r->code, 0, "%s", r->err);
    test_columns(dir, cols, sizeof cols);
    cr_assert_str_eq(cols, want[i], "--eval-every %s", modes[i]);
    cr_assert_eq(strstr(r->out, "not evaluated") != NULL, i != 3, "%s", r->out);
  }
  run_result *r = run("train " TINY "--batch 32 --max-steps 1 --eval-every never --out "
                      "/tmp/vklars-eval-every --force");
  cr_assert(strstr(r->out, "trained 1 step in") && strstr(r->out, "not evaluated"), "%s", r->out);
  const char *bad[] = {"--eval-every wants N (epochs", "not 'sometimes'", NULL};
  expect_usage_error("", "train " TINY "--eval-every sometimes", bad);
  const char *zero[] = {"--eval-every", NULL};
  expect_usage_error("", "train " TINY "--eval-every 0", zero);
}

#ifndef VKLARS_WITH_MPI
/* A build without MPI that an MPI launcher starts as one of N ranks would
 * otherwise train N copies of one run into the same files: it refuses,
 * and says how to get MPI (tests/mpi covers the build with it). */
Test(cli, a_build_without_mpi_refuses_to_be_one_of_several_ranks) {
  static const char *const envs[] = {"OMPI_COMM_WORLD_SIZE=2", "PMI_SIZE=4"};
  for (size_t i = 0; i < 2; i++) {
    run_result *r = run_env(envs[i], "train " TINY "--batch 16 --epochs 1");
    cr_assert_eq(r->code, 1, "%s: exit %d: %s", envs[i], r->code, r->err);
    cr_assert(strstr(r->err, "vklars: error: train: started as one of") &&
                  strstr(r->err, "built without MPI") && strstr(r->err, "VKLARS_WITH_MPI=ON"),
              "%s: %s", envs[i], r->err);
  }
  /* a launcher's world of one is one process */
  run_result *r = run_env("OMPI_COMM_WORLD_SIZE=1", "train " TINY "--batch 16 --epochs 1");
  cr_assert_eq(r->code, 0, "%s", r->err);
}
#endif

/* Under an MPI launcher (its environment names a world of several), the
 * commands that write files or start their own runs refuse: N copies would
 * race on the same files. devices and inspect, which only read, still run. */
Test(cli, commands_other_than_training_refuse_to_be_one_of_several_ranks) {
  static const char *const alone[] = {"sweep --preset fmnist-paper-small --dry-run",
                                      "schedule --opt tvlars", "report /nonexistent",
                                      "linear-eval /nonexistent", "eval /nonexistent",
                                      "bench ops", "kernels"};
  for (size_t i = 0; i < sizeof alone / sizeof alone[0]; i++) {
    run_result *r = run_env("OMPI_COMM_WORLD_SIZE=2", alone[i]);
    cr_assert_eq(r->code, 2, "%s: exit %d: %s", alone[i], r->code, r->err);
    cr_assert(strstr(r->err, "only train and pretrain"), "%s: %s", alone[i], r->err);
  }
  run_result *r = run_env("PMI_SIZE=3", "devices");
  cr_assert_eq(r->code, 0, "devices: %s", r->err);
}
