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
