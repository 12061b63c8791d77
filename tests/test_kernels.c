/* vklars kernels: the pipelines a run builds, reported without running them,
 * on lavapipe and on Mesa's RADV null device (a real GPU compiler, no GPU),
 * and the context failures that device provokes elsewhere. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "test_proc.h"
#include "test_util.h"

#define OUT_BYTES (1 << 20)

/* `vklars kernels <args> --json`, parsed; exit code 0 asserted. */
static cJSON *kernels_json(const char *args) {
  char *out = malloc(OUT_BYTES);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "kernels %s --json", args);
  int rc = proc_run(cmd, out, OUT_BYTES);
  cr_assert_eq(rc, 0, "vklars %s: exit %d: %.2000s", cmd, rc, out);
  const char *start = strchr(out, '{');
  cJSON *root = start ? cJSON_Parse(start) : NULL;
  cr_assert(root, "vklars %s printed no JSON: %.2000s", cmd, out);
  free(out);
  return root;
}

/* A pipeline of the shader, or of one of its variants (softmax_xent_fwd_mm). */
static int has_shader(const cJSON *root, const char *name) {
  const cJSON *p;
  cJSON_ArrayForEach(p, cJSON_GetObjectItem(root, "pipelines")) {
    if (strncmp(cJSON_GetObjectItem(p, "shader")->valuestring, name, strlen(name)) == 0) return 1;
  }
  return 0;
}

/* A training step, an evaluation and an optimizer step: convolutions in all
 * three directions, the loss, the optimizer; each with its workgroup and
 * named specialization constants. */
Test(kernels, lists_every_pipeline_of_a_run_on_lavapipe) {
  unsetenv("VKLARS_TUNING");
  cJSON *root = kernels_json("--model cnn --batch 64 --opt tvlars");
  cr_assert_str_eq(cJSON_GetObjectItem(root, "geometry")->valuestring, "cpu");
  static const char *const want[] = {"conv2d_igemm",     "conv2d_wgrad", "softmax_xent_fwd",
                                     "softmax_xent_bwd", "optim_norms",  "optim_update",
                                     "batchnorm_apply4", "matmul_gemm"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    cr_assert(has_shader(root, want[i]), "no %s pipeline", want[i]);
  const cJSON *p;
  cJSON_ArrayForEach(p, cJSON_GetObjectItem(root, "pipelines")) {
    const cJSON *wg = cJSON_GetObjectItem(p, "workgroup");
    cr_assert_eq(cJSON_GetArraySize(wg), 3);
    cr_assert(cJSON_GetArrayItem(wg, 0)->valueint >= 1);
    if (strcmp(cJSON_GetObjectItem(p, "shader")->valuestring, "conv2d_igemm") == 0) {
      const cJSON *spec = cJSON_GetObjectItem(p, "spec");
      cr_assert_eq(cJSON_GetObjectItem(spec, "lx")->valueint, 8);
      cr_assert_eq(cJSON_GetArrayItem(wg, 0)->valueint, 8, "workgroup x is the lx constant");
    }
  }
  cJSON_Delete(root);
  /* the GPU geometry forced on lavapipe: the report says so */
  setenv("VKLARS_TUNING", "gpu", 1);
  root = kernels_json("--model cnn --batch 64");
  cr_assert_str_eq(cJSON_GetObjectItem(root, "geometry")->valuestring, "gpu");
  cJSON_Delete(root);
  unsetenv("VKLARS_TUNING");
}

/* Options are train's, checked as train checks them, named as kernels'. */
Test(kernels, refuses_bad_options) {
  char out[4096];
  cr_assert_eq(proc_run("kernels --bogus", out, sizeof out), 2, "%s", out);
  cr_assert(strstr(out, "Try 'vklars kernels --help'"), "%s", out);
  cr_assert_eq(proc_run("kernels --model nosuch", out, sizeof out), 2, "%s", out);
  cr_assert_eq(proc_run("kernels --batch 64 --micro-batch 7", out, sizeof out), 2, "%s", out);
  cr_assert_eq(proc_run("kernels --help", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "runs none of them") && strstr(out, "--json"), "%s", out);
}

/* A context that cannot come up fails cleanly: RADV's null device cannot
 * create a timeline semaphore, and the clean-up after that error crashed. */
Test(kernels, context_failure_on_a_device_that_cannot_run_is_an_error_not_a_crash) {
  setenv("RADV_FORCE_FAMILY", "navi21", 1);
  char out[8192];
  int rc = proc_run("bench ops --only relu --device RADV", out, sizeof out);
  cr_assert_eq(rc, 1, "%s", out);
  cr_assert(strstr(out, "vklars: error: bench:") && strstr(out, "vkCreateSemaphore"), "%s", out);
  rc = proc_run("train --device RADV --data synthetic --max-steps 1", out, sizeof out);
  cr_assert_eq(rc, 1, "%s", out);
  unsetenv("RADV_FORCE_FAMILY");
}

/* Checks one report from the RADV null device: statistics for every
 * pipeline, no spilled register anywhere, and at most 128 VGPRs in every
 * convolution and matrix product (so at least 8 waves of 64 fit a SIMD). */
static void assert_no_spills(const char *family, const char *args) {
  setenv("RADV_FORCE_FAMILY", family, 1);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "--device RADV %s", args);
  cJSON *root = kernels_json(cmd);
  unsetenv("RADV_FORCE_FAMILY");
  cr_assert_str_eq(cJSON_GetObjectItem(root, "geometry")->valuestring, "gpu");
  const cJSON *p;
  int n = 0;
  cJSON_ArrayForEach(p, cJSON_GetObjectItem(root, "pipelines")) {
    const char *shader = cJSON_GetObjectItem(p, "shader")->valuestring;
    const cJSON *exes = cJSON_GetObjectItem(p, "executables");
    cr_assert_gt(cJSON_GetArraySize(exes), 0, "%s %s: %s has no statistics", family, args, shader);
    const cJSON *e;
    cJSON_ArrayForEach(e, exes) {
      const cJSON *s = cJSON_GetObjectItem(e, "statistics");
      const cJSON *v = cJSON_GetObjectItem(s, "VGPRs");
      const cJSON *sv = cJSON_GetObjectItem(s, "Spilled VGPRs");
      const cJSON *ss = cJSON_GetObjectItem(s, "Spilled SGPRs");
      cr_assert(v && sv && ss, "%s: %s: the driver names no VGPRs/spills", family, shader);
      char *spec = cJSON_PrintUnformatted(cJSON_GetObjectItem(p, "spec"));
      cr_expect(sv->valueint == 0 && ss->valueint == 0, "%s %s: %s %s spills %d VGPRs and %d SGPRs",
                family, args, shader, spec, sv->valueint, ss->valueint);
      int heavy = strncmp(shader, "conv2d", 6) == 0 || strncmp(shader, "matmul", 6) == 0 ||
                  strncmp(shader, "barlow", 6) == 0;
      cr_expect(!heavy || v->valueint <= 128, "%s %s: %s %s uses %d VGPRs (at most 128)", family,
                args, shader, spec, v->valueint);
      free(spec);
    }
    n++;
  }
  cr_assert_gt(n, 20, "%s %s: only %d pipelines", family, args, n);
  cJSON_Delete(root);
}

/* Every pipeline of a ResNet-18 step (batch 64, CIFAR shape) and of the cnn, compiled by
 * AMD's ACO for RDNA2 and RDNA3: the GPU geometry compiles without spills. */
Test(kernels, gpu_geometry_compiles_without_spills_on_radv, .timeout = 600) {
  static const char *const families[] = {"navi21", "gfx1100"};
  for (int f = 0; f < 2; f++) {
    assert_no_spills(families[f],
                     "--model resnet18 --batch 64 --data synthetic --image-size 3x32x32");
    assert_no_spills(families[f], "--model cnn --batch 256");
    /* Barlow Twins' statistics, cross-correlation and gradient kernels at d = 4096 */
    assert_no_spills(families[f], "--pretrain --model cnn-gap --width 32 --projector "
                                  "4096-4096-4096 --batch 256 --data synthetic --image-size 1x28x28");
  }
}

/* --pretrain: the pipelines of a Barlow Twins step, its kernels included. */
Test(kernels, pretrain_lists_the_barlow_twins_kernels) {
  unsetenv("VKLARS_TUNING");
  cJSON *root = kernels_json("--pretrain --model cnn-gap --width 4 --projector 16-16 --batch 64 "
                             "--data synthetic --image-size 1x8x8");
  static const char *const want[] = {"barlow_moments", "barlow_cross", "barlow_bwd",
                                     "barlow_rows", "barlow_cols"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    cr_assert(has_shader(root, want[i]), "no %s pipeline", want[i]);
  cJSON_Delete(root);
  root = kernels_json("--model cnn-gap --width 4 --batch 64 --data synthetic --image-size 1x8x8");
  cr_assert_not(has_shader(root, "barlow_cross"), "a supervised run builds Barlow Twins kernels");
  cJSON_Delete(root);
}
