/* The tuning table (src/vk/vk_tuning.c): defaults per device type, the
 * VKLARS_TUNING and VKLARS_TUNE settings, the checks against the device, and
 * the compile-only context that `vklars kernels` uses. */
#include <stdlib.h>

#include "test_util.h"
#include "vk/vk_internal.h"

static vkl_device_info lavapipe_like(void) {
  vkl_device_info d = {.kind = VKL_DEVICE_CPU,
                       .subgroup_size = 8,
                       .min_subgroup_size = 8,
                       .max_subgroup_size = 8,
                       .max_shared_memory = 32768,
                       .max_workgroup_invocations = 1024,
                       .subgroup_arithmetic = 1,
                       .memory_model = 1};
  snprintf(d.name, sizeof d.name, "llvmpipe");
  return d;
}

static vkl_device_info amd_like(void) {
  vkl_device_info d = {.kind = VKL_DEVICE_DISCRETE,
                       .subgroup_size = 64,
                       .min_subgroup_size = 32,
                       .max_subgroup_size = 64,
                       .max_shared_memory = 65536,
                       .max_workgroup_invocations = 1024,
                       .subgroup_arithmetic = 0,
                       .memory_model = 0};
  snprintf(d.name, sizeof d.name, "AMD Radeon");
  return d;
}

static vkl_status compute(const vkl_device_info *d, const char *family, const char *tune,
                          vkl_tuning *t, char *err) {
  err[0] = '\0';
  return vkl_tuning_compute(d, family, tune, t, err, 512);
}

/* The device's type picks the geometry; the GPU one fits the largest subgroup
 * and uses only the features the device has. */
Test(tuning, defaults_follow_the_device) {
  char err[512];
  vkl_tuning t;
  vkl_device_info cpu = lavapipe_like(), gpu = amd_like();
  cr_assert_eq(compute(&cpu, "", "", &t, err), VKL_OK, "%s", err);
  cr_assert_eq(t.geometry, VKL_GEOMETRY_CPU);
  cr_assert(t.igemm_lx == 8 && t.igemm_tm == 16 && t.igemm_tn == 32 && t.gemm_lx == 8);
  cr_assert(t.optim_contiguous == 1 && t.bn_interleaved == 0 && t.xent_lanes == 1);
  cr_assert_eq(t.memory_model, 0, "lavapipe: the second dispatch, its faster path");
  cr_assert_eq(compute(&gpu, "", "", &t, err), VKL_OK, "%s", err);
  cr_assert_eq(t.geometry, VKL_GEOMETRY_GPU);
  cr_assert(t.tile_wg >= 64 && t.tile_wg <= 256 && t.tile_wg % gpu.max_subgroup_size == 0);
  cr_assert(t.reduce_wg % gpu.max_subgroup_size == 0);
  cr_assert(t.tile_m * t.tile_n / t.tile_wg <= 64);
  cr_assert(t.subgroup_reduce == 0 && t.memory_model == 0, "features the device lacks");
  cr_assert(t.optim_contiguous == 0 && t.bn_interleaved == 1 && t.xent_lanes == 8);
  /* forced either way */
  cr_assert_eq(compute(&cpu, "gpu", "", &t, err), VKL_OK, "%s", err);
  cr_assert(t.geometry == VKL_GEOMETRY_GPU && t.subgroup_reduce == 1 && t.memory_model == 1);
  cr_assert_eq(compute(&gpu, "cpu", "", &t, err), VKL_OK, "%s", err);
  cr_assert_eq(t.geometry, VKL_GEOMETRY_CPU);
}

Test(tuning, overrides_set_fields_and_bad_ones_are_refused) {
  char err[512];
  vkl_tuning t;
  vkl_device_info cpu = lavapipe_like(), gpu = amd_like();
  cr_assert_eq(compute(&cpu, "", "igemm_tm=8,xent_lanes=4", &t, err), VKL_OK, "%s", err);
  cr_assert(t.igemm_tm == 8 && t.xent_lanes == 4 && t.igemm_tn == 32);
  static const char *const bad[][2] = {
      {"nope=1", "no tuning field 'nope'"},
      {"igemm_tm", "'igemm_tm' is not name=value"},
      {"igemm_tm=", "want an integer in [1, 64]"},
      {"igemm_tm=abc", "want an integer in [1, 64]"},
      {"igemm_tm=-1", "want an integer in [1, 64]"},
      {"igemm_tm=65", "want an integer in [1, 64]"},
      {"igemm_tm=8x", "want an integer in [1, 64]"},
      {"subgroup_reduce=2", "want an integer in [0, 1]"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(compute(&cpu, "", bad[i][0], &t, err), VKL_ERR_INVALID_ARGUMENT, "%s accepted",
                 bad[i][0]);
    cr_assert(strstr(err, "VKLARS_TUNE=") && strstr(err, bad[i][1]), "%s: %s", bad[i][0], err);
  }
  /* possible settings the device cannot run */
  static const char *const impossible[][2] = {
      {"tile_wg=96", "not a multiple of the largest subgroup"},
      {"tile_wg=1024,tile_m=8,tile_n=8", "at most 64 outputs"},
      {"tile_m=256,tile_n=256", "at most 64 outputs"},
      {"subgroup_reduce=1", "subgroup arithmetic, which the device lacks"},
      {"memory_model=1", "memory model, which the device lacks"},
  };
  for (size_t i = 0; i < sizeof impossible / sizeof impossible[0]; i++) {
    cr_assert_eq(compute(&gpu, "", impossible[i][0], &t, err), VKL_ERR_INVALID_ARGUMENT,
                 "%s accepted", impossible[i][0]);
    cr_assert(strstr(err, "AMD Radeon") && strstr(err, impossible[i][1]), "%s: %s",
              impossible[i][0], err);
  }
  gpu.max_workgroup_invocations = 128;
  cr_assert_eq(compute(&gpu, "", "", &t, err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "over the device's limit"), "%s", err);
}

/* Every field is listed by name, and the list ends. */
Test(tuning, fields_are_listed) {
  char err[512];
  vkl_tuning t;
  vkl_device_info cpu = lavapipe_like();
  cr_assert_eq(compute(&cpu, "", "wgrad_lx=16", &t, err), VKL_OK, "%s", err);
  const char *name;
  uint32_t value, i = 0, seen = 0;
  while (vkl_tuning_field(&t, i, &name, &value)) {
    if (strcmp(name, "wgrad_lx") == 0) seen = value;
    i++;
  }
  cr_assert(i >= 15 && i < 100, "%u fields", i);
  cr_assert_eq(seen, 16);
}

/* The context reads the settings: VKLARS_TUNING forces the GPU geometry on
 * lavapipe, and a bad VKLARS_TUNE fails the context with the setting named. */
Test(tuning, context_takes_the_environment) {
  setenv("VKLARS_TUNING", "gpu", 1);
  vkl_ctx *ctx = test_ctx_create();
  cr_assert_eq(vkl_ctx_tuning(ctx)->geometry, VKL_GEOMETRY_GPU);
  test_ctx_destroy(ctx);
  setenv("VKLARS_TUNING", "fast", 1);
  cr_assert_eq(vkl_ctx_create(NULL, &ctx), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(ctx), "VKLARS_TUNING=fast: want one of: cpu gpu"), "%s",
            vkl_ctx_errmsg(ctx));
  vkl_ctx_destroy(ctx);
  unsetenv("VKLARS_TUNING");
  setenv("VKLARS_TUNE", "tile_wg=7", 1);
  cr_assert_eq(vkl_ctx_create(NULL, &ctx), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(ctx), "VKLARS_TUNE=tile_wg=7"), "%s", vkl_ctx_errmsg(ctx));
  vkl_ctx_destroy(ctx);
  unsetenv("VKLARS_TUNE");
}

/* A compile-only context builds pipelines, checks dispatches, and runs
 * nothing: a submission completes at once and a download reads zeros. */
Test(tuning, compile_only_context_builds_pipelines_and_never_submits) {
  vkl_ctx_config cfg = {
      .validation = VKLARS_TEST_VALIDATION, .on_validation = test_on_validation, .compile_only = 1};
  vkl_ctx *ctx = NULL;
  cr_assert_eq(vkl_ctx_create(&cfg, &ctx), VKL_OK, "%s", vkl_ctx_errmsg(ctx));
  const vkl_pipeline *p;
  uint32_t spec[1] = {64};
  TEST_OK(ctx, vkl_pipeline_get(ctx, VKL_SHADER_fill, spec, sizeof spec, &p));
  vkl_arena *arena;
  TEST_OK(ctx, vkl_arena_create(ctx, VKL_MEM_DEVICE, 1 << 20, "dry", &arena));
  vkl_buf b;
  TEST_OK(ctx, vkl_arena_alloc(arena, 4096, &b));
  float host[4] = {1, 2, 3, 4};
  TEST_OK(ctx, vkl_upload(ctx, b, host, sizeof host));
  vkl_cmd *cmd;
  TEST_OK(ctx, vkl_cmd_create(ctx, &cmd));
  TEST_OK(ctx, vkl_cmd_begin(cmd));
  uint32_t push[2] = {1024, 0};
  vkl_status st = vkl_cmd_dispatch(cmd, p, &b, 1, push, p->layout.push_size, 16, 1, 1);
  cr_assert_eq(st, VKL_OK, "%s", vkl_ctx_errmsg(ctx));
  /* the checks still run: a wrong binding count is refused */
  cr_assert_eq(vkl_cmd_dispatch(cmd, p, &b, 0, push, p->layout.push_size, 16, 1, 1),
               VKL_ERR_INVALID_ARGUMENT);
  vkl_cmd_barrier(cmd);
  TEST_OK(ctx, vkl_cmd_end(cmd));
  TEST_OK(ctx, vkl_run(ctx, cmd));
  TEST_OK(ctx, vkl_download(ctx, host, b, sizeof host));
  cr_assert(host[0] == 0 && host[3] == 0, "a download of a compile-only context reads zeros");
  cr_assert_eq(vkl_ctx_pipeline_count(ctx), 1);
  vkl_cmd_destroy(cmd);
  vkl_arena_destroy(arena);
  test_ctx_destroy(ctx);
}
