/* The Vulkan runtime: memory, copies, binding windows, dispatch splitting
 * and checks, pipelines, submission, timestamps, device choice, the shader
 * cache, and the validation oracle itself. */
#include <stdlib.h>
#include <sys/stat.h>

#include "copy_vec4.h"
#include "fill.h"
#include "scale.h"
#include "test_util.h"
#include "vk/vk_cache.h"
#include "vk/vk_internal.h"

#define WG 64

static const vkl_pipeline *get_fill(vkl_ctx *ctx) {
  vkl_fill_spec spec = {.wg_size = WG};
  const vkl_pipeline *p;
  TEST_OK(ctx, vkl_pipeline_get(ctx, VKL_SHADER_fill, &spec, sizeof spec, &p));
  return p;
}

static const vkl_pipeline *get_scale(vkl_ctx *ctx) {
  vkl_scale_spec spec = {.wg_size = WG};
  const vkl_pipeline *p;
  TEST_OK(ctx, vkl_pipeline_get(ctx, VKL_SHADER_scale, &spec, sizeof spec, &p));
  return p;
}

static uint32_t groups_for(uint64_t n) {
  return (uint32_t)((n + WG - 1) / WG);
}

Test(vk, context_has_device_and_validation) {
  vkl_ctx *ctx = test_ctx_create();
  const vkl_device_info *d = vkl_ctx_device(ctx);
  cr_assert(d->usable);
  cr_assert_gt(strlen(d->name), 0);
  cr_assert_geq(d->api_version, VK_API_VERSION_1_2);
  cr_assert_eq(vkl_ctx_validation_enabled(ctx), VKLARS_TEST_VALIDATION);
  test_ctx_destroy(ctx);
}

Test(vk, upload_download_round_trips_odd_sizes) {
  vkl_ctx *ctx = test_ctx_create();
  const size_t sizes[] = {1, 3, 4, 5, 17, 255, 4097, 65537, (16u << 20) + 3, (40u << 20) + 1};
  const size_t nsizes = sizeof sizes / sizeof sizes[0];
  vkl_arena *arena;
  TEST_OK(ctx, vkl_arena_create(ctx, VKL_MEM_DEVICE, 64u << 20, "test", &arena));
  test_rng rng = {42};
  for (size_t k = 0; k < nsizes; k++) {
    size_t n = sizes[k];
    unsigned char *src = malloc(n), *dst = malloc(n);
    cr_assert(src && dst);
    for (size_t i = 0; i < n; i++) src[i] = (unsigned char)test_rng_next(&rng);
    memset(dst, 0xAB, n);
    vkl_arena_reset(arena);
    vkl_buf pad, buf;
    TEST_OK(ctx, vkl_arena_alloc(arena, 3, &pad)); /* next one is realigned */
    TEST_OK(ctx, vkl_arena_alloc(arena, n, &buf));
    cr_assert_eq(buf.offset % ctx->info.min_storage_offset_alignment, 0);
    TEST_OK(ctx, vkl_upload(ctx, buf, src, n));
    TEST_OK(ctx, vkl_download(ctx, dst, buf, n));
    cr_assert(memcmp(src, dst, n) == 0, "round trip of %zu bytes differs", n);
    /* and a sub-range at an odd offset */
    if (n > 9) {
      memset(dst, 0, n);
      TEST_OK(ctx, vkl_download(ctx, dst, vkl_buf_sub(buf, 7, n - 9), n - 9));
      cr_assert(memcmp(src + 7, dst, n - 9) == 0, "sub-range of %zu bytes differs", n);
    }
    free(src);
    free(dst);
  }
  vkl_buf small;
  TEST_OK(ctx, vkl_arena_alloc(arena, 16, &small));
  unsigned char big[32] = {0};
  cr_assert_eq(vkl_upload(ctx, small, big, sizeof big), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(ctx), "32 bytes requested from a 16-byte buffer"));
  vkl_arena_destroy(arena);
  test_ctx_destroy(ctx);
}

Test(vk, arena_refuses_overflow_with_message) {
  vkl_ctx *ctx = test_ctx_create();
  vkl_arena *arena;
  TEST_OK(ctx, vkl_arena_create(ctx, VKL_MEM_DEVICE, 1024, "weights", &arena));
  vkl_buf b;
  TEST_OK(ctx, vkl_arena_alloc(arena, 1000, &b));
  cr_assert_eq(vkl_arena_alloc(arena, 100, &b), VKL_ERR_OUT_OF_DEVICE_MEMORY);
  cr_assert(strstr(vkl_ctx_errmsg(ctx), "arena 'weights'"), "%s", vkl_ctx_errmsg(ctx));
  vkl_arena_destroy(arena);
  test_ctx_destroy(ctx);
}

/* A buffer larger than maxStorageBufferRange is processed window by window:
 * each window is a separate binding within the limit. */
Test(vk, buffer_beyond_storage_range_by_windows) {
  vkl_ctx *ctx = test_ctx_create();
  VkDeviceSize range = ctx->info.max_storage_buffer_range;
  /* Past the range, capped so that huge-range devices stay test-sized: there
   * the window is cut down by binding sub-ranges ourselves. */
  VkDeviceSize total = range < (128u << 20) ? range + (range >> 1) + 12 : (200u << 20) + 12;
  VkDeviceSize window = vkl_max_window(ctx, sizeof(float));
  if (window > (96u << 20)) window = 96u << 20; /* still exercises several windows */
  cr_assert_eq(window % sizeof(float), 0);
  cr_assert_eq(window % ctx->info.min_storage_offset_alignment, 0);
  size_t n = total / sizeof(float);
  vkl_arena *arena;
  TEST_OK(ctx, vkl_arena_create(ctx, VKL_MEM_DEVICE, total, "big", &arena));
  vkl_buf buf;
  TEST_OK(ctx, vkl_arena_alloc(arena, n * sizeof(float), &buf));
  float *host = malloc(n * sizeof(float));
  cr_assert(host);
  for (size_t i = 0; i < n; i++) host[i] = (float)(i % 1000003);
  TEST_OK(ctx, vkl_upload(ctx, buf, host, n * sizeof(float)));

  const vkl_pipeline *scale = get_scale(ctx);
  vkl_cmd *cmd;
  TEST_OK(ctx, vkl_cmd_create(ctx, &cmd));
  TEST_OK(ctx, vkl_cmd_begin(cmd));
  if (buf.size > range) { /* binding it whole is refused, with the reason */
    vkl_scale_push push = {.n = 1, .alpha = 2.0f};
    vkl_buf both[2] = {buf, buf};
    cr_assert_eq(vkl_cmd_dispatch(cmd, scale, both, 2, &push, sizeof push, 1, 1, 1),
                 VKL_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(vkl_ctx_errmsg(ctx), "maxStorageBufferRange"));
  }
  unsigned windows = 0;
  for (VkDeviceSize off = 0; off < buf.size; off += window, windows++) {
    VkDeviceSize bytes = buf.size - off < window ? buf.size - off : window;
    vkl_buf w = vkl_buf_sub(buf, off, bytes);
    vkl_buf binds[2] = {w, w};
    vkl_scale_push push = {.n = (uint32_t)(bytes / sizeof(float)), .alpha = 2.0f};
    vkl_cmd_barrier(cmd); /* upload before the first window (RAW) */
    TEST_OK(ctx,
            vkl_cmd_dispatch(cmd, scale, binds, 2, &push, sizeof push, groups_for(push.n), 1, 1));
  }
  TEST_OK(ctx, vkl_cmd_end(cmd));
  TEST_OK(ctx, vkl_run(ctx, cmd));
  cr_assert_geq(windows, 3);
  float *out = malloc(n * sizeof(float));
  cr_assert(out);
  TEST_OK(ctx, vkl_download(ctx, out, buf, n * sizeof(float)));
  for (size_t i = 0; i < n; i++)
    if (out[i] != 2.0f * host[i])
      cr_assert_fail("element %zu: got %g, want %g", i, out[i], 2.0f * host[i]);
  free(host);
  free(out);
  vkl_cmd_destroy(cmd);
  vkl_arena_destroy(arena);
  test_ctx_destroy(ctx);
}

/* A grid beyond maxComputeWorkGroupCount is split with dispatch bases; a
 * poisoned buffer shows every element written once and nothing beyond. */
static void check_split_fill(vkl_ctx *ctx, uint32_t groups) {
  uint64_t n = (uint64_t)groups * WG - 5; /* last group partly idle */
  vkl_arena *arena;
  TEST_OK(ctx, vkl_arena_create(ctx, VKL_MEM_DEVICE, (n + WG) * sizeof(float), "grid", &arena));
  vkl_buf buf;
  TEST_OK(ctx, vkl_arena_alloc(arena, (n + WG) * sizeof(float), &buf));
  float *host = malloc((n + WG) * sizeof(float));
  cr_assert(host);
  for (uint64_t i = 0; i < n + WG; i++) host[i] = -7.0f;
  TEST_OK(ctx, vkl_upload(ctx, buf, host, (n + WG) * sizeof(float)));
  vkl_cmd *cmd;
  TEST_OK(ctx, vkl_cmd_create(ctx, &cmd));
  TEST_OK(ctx, vkl_cmd_begin(cmd));
  vkl_fill_push push = {.n = (uint32_t)n, .value = 1.5f};
  vkl_cmd_barrier(cmd); /* after the poisoning upload (WAW) */
  TEST_OK(ctx, vkl_cmd_dispatch(cmd, get_fill(ctx), &buf, 1, &push, sizeof push, groups, 1, 1));
  TEST_OK(ctx, vkl_cmd_end(cmd));
  TEST_OK(ctx, vkl_run(ctx, cmd));
  TEST_OK(ctx, vkl_download(ctx, host, buf, (n + WG) * sizeof(float)));
  for (uint64_t i = 0; i < n + WG; i++) {
    float want = i < n ? 1.5f : -7.0f;
    if (host[i] != want)
      cr_assert_fail("element %llu: got %g, want %g", (unsigned long long)i, host[i], want);
  }
  free(host);
  vkl_cmd_destroy(cmd);
  vkl_arena_destroy(arena);
}

Test(vk, dispatch_beyond_group_limit_is_split) {
  vkl_ctx *ctx = test_ctx_create();
  uint32_t limit = ctx->info.max_workgroup_count[0];
  if (limit > (1u << 20)) { /* too large for a test buffer: lower it */
    vkl_ctx_lower_workgroup_count(ctx, (const uint32_t[3]){65535, 0, 0});
    limit = ctx->info.max_workgroup_count[0];
  }
  cr_assert_eq(limit, ctx->info.max_workgroup_count[0]);
  check_split_fill(ctx, limit + 1000); /* the device's own limit, crossed */
  vkl_ctx_lower_workgroup_count(ctx, (const uint32_t[3]){1000, 0, 0});
  check_split_fill(ctx, 3 * 1000 + 17); /* four pieces */
  test_ctx_destroy(ctx);
}

Test(vk, dispatch_checks_bindings_push_and_alignment) {
  vkl_ctx *ctx = test_ctx_create();
  vkl_arena *arena;
  TEST_OK(ctx, vkl_arena_create(ctx, VKL_MEM_DEVICE, 1 << 16, "checks", &arena));
  vkl_buf buf;
  TEST_OK(ctx, vkl_arena_alloc(arena, 1024, &buf));
  vkl_cmd *cmd;
  TEST_OK(ctx, vkl_cmd_create(ctx, &cmd));
  TEST_OK(ctx, vkl_cmd_begin(cmd));
  const vkl_pipeline *scale = get_scale(ctx);
  vkl_scale_push push = {.n = 4, .alpha = 1};
  vkl_buf two[2] = {buf, buf};
  cr_assert_eq(vkl_cmd_dispatch(cmd, scale, two, 1, &push, sizeof push, 1, 1, 1),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(ctx), "dispatch scale: 1 buffers bound, the shader uses 2"), "%s",
            vkl_ctx_errmsg(ctx));
  cr_assert_eq(vkl_cmd_dispatch(cmd, scale, two, 2, &push, 4, 1, 1, 1), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(ctx), "4 push-constant bytes, the shader declares 12"), "%s",
            vkl_ctx_errmsg(ctx));
  if (ctx->info.min_storage_offset_alignment > 4) {
    two[1] = vkl_buf_sub(buf, 4, 16);
    cr_assert_eq(vkl_cmd_dispatch(cmd, scale, two, 2, &push, sizeof push, 1, 1, 1),
                 VKL_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(vkl_ctx_errmsg(ctx), "minStorageBufferOffsetAlignment"));
  }
  TEST_OK(ctx, vkl_cmd_end(cmd));
  vkl_cmd_destroy(cmd);
  vkl_arena_destroy(arena);
  test_ctx_destroy(ctx);
}

Test(vk, pipelines_reflect_and_cache) {
  vkl_ctx *ctx = test_ctx_create();
  const vkl_pipeline *a = get_scale(ctx), *b = get_scale(ctx);
  cr_assert_eq(a, b, "same key must hit the cache");
  cr_assert_eq(a->layout.binding_count, 2);
  cr_assert_eq(a->layout.push_size, sizeof(vkl_scale_push));
  cr_assert_eq(a->layout.spec_count, 1);
  cr_assert_eq(a->layout.local_size[0], WG);
  cr_assert_eq(a->layout.local_size[1], 1);
  vkl_scale_spec other = {.wg_size = 128};
  const vkl_pipeline *c;
  TEST_OK(ctx, vkl_pipeline_get(ctx, VKL_SHADER_scale, &other, sizeof other, &c));
  cr_assert_neq(a, c);
  cr_assert_eq(c->layout.local_size[0], 128);
  const vkl_pipeline *copy;
  vkl_copy_vec4_spec cs = {.wg_size = 256};
  TEST_OK(ctx, vkl_pipeline_get(ctx, VKL_SHADER_copy_vec4, &cs, sizeof cs, &copy));
  cr_assert_eq(copy->layout.push_size, 4);
  /* too many spec constants, and a workgroup beyond the device's limit */
  uint32_t two[2] = {64, 1};
  cr_assert_eq(vkl_pipeline_get(ctx, VKL_SHADER_scale, two, sizeof two, &c),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(ctx), "2 specialization constants given, it declares 1"));
  vkl_scale_spec huge = {.wg_size = ctx->info.max_workgroup_invocations + 1};
  cr_assert_eq(vkl_pipeline_get(ctx, VKL_SHADER_scale, &huge, sizeof huge, &c),
               VKL_ERR_UNSUPPORTED);
  cr_assert(strstr(vkl_ctx_errmsg(ctx), "exceeds this device's limits"));
  test_ctx_destroy(ctx);
}

Test(vk, spirv_reflection_rejects_garbage) {
  uint32_t junk[8] = {0xdeadbeef, 0, 0, 10, 0};
  vkl_shader_layout l;
  char err[128];
  cr_assert_eq(vkl_spirv_reflect(junk, 8, NULL, 0, &l, err, sizeof err), VKL_ERR_FORMAT);
  const vkl_shader_blob *b = &vkl_shader_registry[VKL_SHADER_fill];
  size_t words = b->size / 4;
  uint32_t *copy = malloc(b->size);
  cr_assert(copy);
  memcpy(copy, b->code, b->size);
  TEST_OK(NULL, vkl_spirv_reflect(copy, words, NULL, 0, &l, err, sizeof err));
  copy[5] = (uint32_t)(words << 16) | (copy[5] & 0xffff); /* overruns the module */
  cr_assert_eq(vkl_spirv_reflect(copy, words, NULL, 0, &l, err, sizeof err), VKL_ERR_FORMAT,
               "an instruction running past the end must be refused");
  cr_assert(strstr(err, "truncated instruction"), "%s", err);
  free(copy);
}

/* The oracle: a missing barrier between a write and a read of one buffer
 * must be reported by synchronization validation, and the same recording
 * with the barrier must not be. */
static unsigned run_write_then_read(vkl_ctx *ctx, int with_barrier) {
  vkl_arena *arena;
  TEST_OK(ctx, vkl_arena_create(ctx, VKL_MEM_DEVICE, 1 << 20, "hazard", &arena));
  vkl_buf a, b;
  TEST_OK(ctx, vkl_arena_alloc(arena, 4096 * 4, &a));
  TEST_OK(ctx, vkl_arena_alloc(arena, 4096 * 4, &b));
  vkl_cmd *cmd;
  TEST_OK(ctx, vkl_cmd_create(ctx, &cmd));
  TEST_OK(ctx, vkl_cmd_begin(cmd));
  vkl_fill_push fp = {.n = 4096, .value = 3};
  TEST_OK(ctx, vkl_cmd_dispatch(cmd, get_fill(ctx), &a, 1, &fp, sizeof fp, 4096 / WG, 1, 1));
  if (with_barrier) vkl_cmd_barrier(cmd); /* fill's writes of a before scale reads a */
  vkl_scale_push sp = {.n = 4096, .alpha = 2};
  vkl_buf ab[2] = {a, b};
  TEST_OK(ctx, vkl_cmd_dispatch(cmd, get_scale(ctx), ab, 2, &sp, sizeof sp, 4096 / WG, 1, 1));
  TEST_OK(ctx, vkl_cmd_end(cmd));
  TEST_OK(ctx, vkl_run(ctx, cmd));
  vkl_cmd_destroy(cmd);
  vkl_arena_destroy(arena);
  return test_validation_take();
}

Test(vk, missing_barrier_is_reported) {
  cr_assert(VKLARS_TEST_VALIDATION, "this test needs VKLARS_WITH_VALIDATION=ON");
  vkl_ctx *ctx = test_ctx_create();
  cr_assert_eq(run_write_then_read(ctx, 1), 0, "the correct recording was flagged");
  unsigned flagged = run_write_then_read(ctx, 0);
  cr_assert_gt(flagged, 0, "synchronization validation missed a RAW hazard");
  cr_assert(strstr(test_validation_first, "SYNC-HAZARD-READ"), "unexpected message: %s",
            test_validation_first);
  test_ctx_destroy(ctx);
}

Test(vk, timeline_orders_submissions) {
  vkl_ctx *ctx = test_ctx_create();
  vkl_arena *arena;
  TEST_OK(ctx, vkl_arena_create(ctx, VKL_MEM_DEVICE, 1 << 20, "timeline", &arena));
  vkl_buf buf;
  TEST_OK(ctx, vkl_arena_alloc(arena, 1000 * 4, &buf));
  vkl_cmd *fill, *scale;
  TEST_OK(ctx, vkl_cmd_create(ctx, &fill));
  TEST_OK(ctx, vkl_cmd_create(ctx, &scale));
  vkl_fill_push fp = {.n = 1000, .value = 1.25f};
  TEST_OK(ctx, vkl_cmd_begin(fill));
  vkl_cmd_barrier(fill); /* earlier submissions' accesses of buf (WAR/WAW) */
  TEST_OK(ctx,
          vkl_cmd_dispatch(fill, get_fill(ctx), &buf, 1, &fp, sizeof fp, groups_for(1000), 1, 1));
  TEST_OK(ctx, vkl_cmd_end(fill));
  vkl_scale_push sp = {.n = 1000, .alpha = 2};
  vkl_buf bb[2] = {buf, buf};
  TEST_OK(ctx, vkl_cmd_begin(scale));
  vkl_cmd_barrier(scale); /* the fill submission's writes (RAW) */
  TEST_OK(ctx,
          vkl_cmd_dispatch(scale, get_scale(ctx), bb, 2, &sp, sizeof sp, groups_for(1000), 1, 1));
  TEST_OK(ctx, vkl_cmd_end(scale));
  /* pre-recorded buffers submitted back to back, several times */
  uint64_t t1 = 0, t2 = 0, t3 = 0;
  TEST_OK(ctx, vkl_submit(ctx, fill, &t1));
  TEST_OK(ctx, vkl_submit(ctx, scale, &t2));
  TEST_OK(ctx, vkl_wait(ctx, t2));
  TEST_OK(ctx, vkl_submit(ctx, scale, &t3));
  TEST_OK(ctx, vkl_wait(ctx, t3));
  cr_assert(t1 < t2 && t2 < t3);
  float out[1000];
  TEST_OK(ctx, vkl_download(ctx, out, buf, sizeof out));
  for (int i = 0; i < 1000; i++) cr_assert_eq(out[i], 5.0f, "element %d: %g", i, out[i]);
  vkl_cmd_destroy(fill);
  vkl_cmd_destroy(scale);
  vkl_arena_destroy(arena);
  test_ctx_destroy(ctx);
}

Test(vk, timestamp_regions) {
  vkl_ctx *ctx = test_ctx_create();
  cr_assert(ctx->info.timestamps, "this device has no timestamps on its compute queue");
  vkl_profiler *prof;
  TEST_OK(ctx, vkl_profiler_create(ctx, 2, &prof));
  size_t n = 1u << 22;
  vkl_arena *arena;
  TEST_OK(ctx, vkl_arena_create(ctx, VKL_MEM_DEVICE, n * 4, "prof", &arena));
  vkl_buf buf;
  TEST_OK(ctx, vkl_arena_alloc(arena, n * 4, &buf));
  vkl_cmd *cmd;
  TEST_OK(ctx, vkl_cmd_create(ctx, &cmd));
  TEST_OK(ctx, vkl_cmd_begin(cmd));
  vkl_profiler_reset(cmd, prof);
  uint32_t r0, r1, r2;
  TEST_OK(ctx, vkl_profiler_begin(cmd, prof, "empty", &r0));
  vkl_profiler_end(cmd, prof, r0);
  TEST_OK(ctx, vkl_profiler_begin(cmd, prof, "fill 16 MiB", &r1));
  vkl_fill_push fp = {.n = (uint32_t)n, .value = 1};
  TEST_OK(ctx, vkl_cmd_dispatch(cmd, get_fill(ctx), &buf, 1, &fp, sizeof fp, groups_for(n), 1, 1));
  vkl_profiler_end(cmd, prof, r1);
  cr_assert_eq(vkl_profiler_begin(cmd, prof, "overflow", &r2), VKL_ERR_INVALID_ARGUMENT);
  TEST_OK(ctx, vkl_cmd_end(cmd));
  TEST_OK(ctx, vkl_run(ctx, cmd));
  cr_assert_eq(vkl_profiler_count(prof), 2);
  const char *name;
  double empty_ns, fill_ns;
  TEST_OK(ctx, vkl_profiler_read(prof, r0, &name, &empty_ns));
  TEST_OK(ctx, vkl_profiler_read(prof, r1, &name, &fill_ns));
  cr_assert_str_eq(name, "fill 16 MiB");
  cr_assert_gt(fill_ns, 0.0);
  cr_assert_gt(fill_ns, empty_ns, "16 MiB fill (%g ns) not slower than nothing (%g ns)", fill_ns,
               empty_ns);
  cr_assert_lt(fill_ns, 10e9);
  vkl_cmd_destroy(cmd);
  vkl_arena_destroy(arena);
  vkl_profiler_destroy(prof);
  test_ctx_destroy(ctx);
}

static vkl_device_info fake(vkl_device_kind kind, const char *name, int usable) {
  vkl_device_info d;
  memset(&d, 0, sizeof d);
  d.kind = kind;
  d.usable = usable;
  snprintf(d.name, sizeof d.name, "%s", name);
  if (!usable) snprintf(d.unusable_reason, sizeof d.unusable_reason, "Vulkan 1.1 < 1.2");
  return d;
}

static int choose(const vkl_device_info *devs, uint32_t n, const char *selector, vkl_status want,
                  char *err, size_t errlen) {
  int chosen = -2;
  vkl_status st = vkl_device_choose(devs, n, selector, NULL, &chosen, err, errlen);
  cr_assert_eq(st, want, "selector '%s': %s, want %s (%s)", selector ? selector : "(none)",
               vkl_status_name(st), vkl_status_name(want), err);
  return chosen;
}

Test(vk, device_choice_order_and_selectors) {
  vkl_device_info devs[5] = {
      fake(VKL_DEVICE_CPU, "llvmpipe", 1), fake(VKL_DEVICE_INTEGRATED, "Intel Iris", 1),
      fake(VKL_DEVICE_DISCRETE, "Old Discrete", 0), fake(VKL_DEVICE_DISCRETE, "AMD Radeon", 1),
      fake(VKL_DEVICE_DISCRETE, "New Discrete", 1)};
  char err[256];
  cr_assert_eq(choose(devs, 4, NULL, VKL_OK, err, sizeof err), 3);
  cr_assert_eq(choose(devs, 2, NULL, VKL_OK, err, sizeof err), 1);
  cr_assert_eq(choose(devs, 1, NULL, VKL_OK, err, sizeof err), 0);
  cr_assert_eq(choose(devs, 4, "0", VKL_OK, err, sizeof err), 0);
  cr_assert_eq(choose(devs, 4, "iris", VKL_OK, err, sizeof err), 1);
  cr_assert_eq(choose(devs, 4, "RADEON", VKL_OK, err, sizeof err), 3);
  cr_assert_eq(choose(devs, 5, "discrete", VKL_OK, err, sizeof err), 4,
               "a name takes the first usable device it matches");
  /* a selector that matches nothing is the caller's mistake, and lists the devices */
  cr_assert_eq(choose(devs, 4, "9", VKL_ERR_INVALID_ARGUMENT, err, sizeof err), -1);
  cr_assert(strstr(err, "device 9 does not exist") && strstr(err, "[0] llvmpipe"), "%s", err);
  choose(devs, 4, "99999999999999999999999", VKL_ERR_INVALID_ARGUMENT, err, sizeof err);
  cr_assert(strstr(err, "device 99999999999999999999999 does not exist"), "%s", err);
  choose(devs, 4, "geforce", VKL_ERR_INVALID_ARGUMENT, err, sizeof err);
  cr_assert(strstr(err, "no device name contains 'geforce'") && strstr(err, "[3] AMD Radeon"), "%s",
            err);
  choose(devs, 4, "", VKL_ERR_INVALID_ARGUMENT, err, sizeof err);
  cr_assert(strstr(err, "empty"), "%s", err);
  /* one that exists but is not usable is a fact of the machine */
  cr_assert_eq(choose(devs, 4, "2", VKL_ERR_NO_DEVICE, err, sizeof err), -1);
  cr_assert(strstr(err, "not usable: Vulkan 1.1"), "%s", err);
  cr_assert_eq(choose(devs + 2, 1, NULL, VKL_ERR_NO_DEVICE, err, sizeof err), -1);
  /* the environment's selector is named as such */
  int chosen;
  cr_assert_eq(vkl_device_choose(devs, 4, "7", "VKLARS_DEVICE", &chosen, err, sizeof err),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strncmp(err, "VKLARS_DEVICE=7: device 7 does not exist", 40) == 0, "%s", err);
}

/* The environment through vkl_ctx_create: VKLARS_DEVICE picks the device
 * unless the config names one; one that matches nothing fails the context. */
Test(vk, context_device_from_environment) {
  setenv("VKLARS_DEVICE", "0", 1);
  vkl_ctx *ctx = test_ctx_create();
  test_ctx_destroy(ctx);
  setenv("VKLARS_DEVICE", "99", 1);
  vkl_ctx_config cfg = {.device = "0"};
  cr_assert_eq(vkl_ctx_create(&cfg, &ctx), VKL_OK, "the config beats the environment: %s",
               vkl_ctx_errmsg(ctx));
  vkl_ctx_destroy(ctx);
  cr_assert_eq(vkl_ctx_create(NULL, &ctx), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(ctx), "VKLARS_DEVICE=99: device 99 does not exist"), "%s",
            vkl_ctx_errmsg(ctx));
  vkl_ctx_destroy(ctx);
  unsetenv("VKLARS_DEVICE");
}

/* Every VKLARS_* variable has one strict form; anything else is refused
 * naming the variable and the value, never read in part or ignored. */
Test(vk, environment_is_parsed_strictly) {
  static const char *const bad[][2] = {
      {"VKLARS_DEVICE_MEMORY_LIMIT", "64MB"},
      {"VKLARS_DEVICE_MEMORY_LIMIT", "1.5G"},
      {"VKLARS_DEVICE_MEMORY_LIMIT", "0"},
      {"VKLARS_DEVICE_MEMORY_LIMIT", "-1"},
      {"VKLARS_DEVICE_MEMORY_LIMIT", " 2G"},
      {"VKLARS_DEVICE_MEMORY_LIMIT", "99999999999G"},
      {"VKLARS_DEVICE_MEMORY_LIMIT", "18446744073709551616"},
      {"VKLARS_FAULT_DEVICE_LOST", "abc"},
      {"VKLARS_FAULT_DEVICE_LOST", "2K"},
      {"VKLARS_FAULT_DEVICE_LOST", "0"},
      {"VKLARS_VALIDATION", "yes"},
      {"VKLARS_VALIDATION", "2"},
      {"VKLARS_VALIDATION_PRINT", "true"},
      {"VKLARS_BN_LAYOUT", "fast"},
      {"VKLARS_BN_LAYOUT", "Fused"},
      {"VKLARS_OPTIM_LAYOUT", "interleaved"},
  };
  char err[512];
  vkl_env env;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    setenv(bad[i][0], bad[i][1], 1);
    cr_assert_eq(vkl_env_read(&env, err, sizeof err), VKL_ERR_INVALID_ARGUMENT, "%s=%s accepted",
                 bad[i][0], bad[i][1]);
    char want[128];
    snprintf(want, sizeof want, "%s=%s: ", bad[i][0], bad[i][1]);
    cr_assert(strncmp(err, want, strlen(want)) == 0, "%s", err);
    unsetenv(bad[i][0]);
  }
  /* the context refuses them before any device work */
  setenv("VKLARS_DEVICE_MEMORY_LIMIT", "64MB", 1);
  vkl_ctx *ctx;
  cr_assert_eq(vkl_ctx_create(NULL, &ctx), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(ctx), "VKLARS_DEVICE_MEMORY_LIMIT=64MB"), "%s",
            vkl_ctx_errmsg(ctx));
  vkl_ctx_destroy(ctx);
  /* the accepted forms, and empty as unset */
  setenv("VKLARS_DEVICE_MEMORY_LIMIT", "512m", 1);
  setenv("VKLARS_FAULT_DEVICE_LOST", "7", 1);
  setenv("VKLARS_VALIDATION", "0", 1);
  setenv("VKLARS_BN_LAYOUT", "fused", 1);
  setenv("VKLARS_OPTIM_LAYOUT", "", 1);
  cr_assert_eq(vkl_env_read(&env, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(env.device_memory_limit, 512ull << 20);
  cr_assert_eq(env.device_lost_after, 7);
  cr_assert_eq(env.validation, 0);
  cr_assert_str_eq(env.bn_layout, "fused");
  cr_assert_str_eq(env.optim_layout, "");
  setenv("VKLARS_DEVICE_MEMORY_LIMIT", "2G", 1);
  cr_assert_eq(vkl_env_read(&env, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(env.device_memory_limit, 2ull << 30);
  unsetenv("VKLARS_DEVICE_MEMORY_LIMIT");
  unsetenv("VKLARS_FAULT_DEVICE_LOST");
  unsetenv("VKLARS_VALIDATION");
  unsetenv("VKLARS_BN_LAYOUT");
  unsetenv("VKLARS_OPTIM_LAYOUT");
}

Test(vk, shader_cache_directory) {
  char dir[] = "/tmp/vklars-cache-XXXXXX";
  cr_assert(mkdtemp(dir));
  setenv("XDG_CACHE_HOME", dir, 1);
  unsetenv("MESA_SHADER_CACHE_DIR");
  vkl_ctx *ctx = test_ctx_create();
  const char *mesa = getenv("MESA_SHADER_CACHE_DIR");
  char want[512];
  snprintf(want, sizeof want, "%s/vklars/mesa", dir);
  cr_assert(mesa && strcmp(mesa, want) == 0, "MESA_SHADER_CACHE_DIR=%s", mesa ? mesa : "(unset)");
  struct stat sb;
  cr_assert_eq(stat(want, &sb), 0);
  cr_assert(S_ISDIR(sb.st_mode));
  get_fill(ctx); /* a pipeline, so the pipeline cache has data to save */
  test_ctx_destroy(ctx);
  char pipelines[512];
  snprintf(pipelines, sizeof pipelines, "%s/vklars/pipelines", dir);
  cr_assert_eq(stat(pipelines, &sb), 0);
  /* the user's choice is left alone */
  setenv("MESA_SHADER_CACHE_DIR", "/tmp/user-choice", 1);
  vkl_shader_cache_setup();
  cr_assert_str_eq(getenv("MESA_SHADER_CACHE_DIR"), "/tmp/user-choice");
}

Test(vk, errors_name_call_file_and_line) {
  for (int s = 0; s < VKL_STATUS_COUNT; s++) {
    cr_assert_gt(strlen(vkl_status_str((vkl_status)s)), 0);
    for (int t = 0; t < s; t++)
      cr_assert_str_neq(vkl_status_str((vkl_status)s), vkl_status_str((vkl_status)t));
  }
  cr_assert_str_eq(vkl_status_name(VKL_ERR_IO), "VKL_ERR_IO");
  vkl_ctx *ctx = test_ctx_create();
  vkl_status st = vkl_vk_fail(ctx, VK_ERROR_OUT_OF_DEVICE_MEMORY,
                              "vkAllocateMemory(dev, &info, NULL, &mem)", "src/x.c", 42);
  cr_assert_eq(st, VKL_ERR_OUT_OF_DEVICE_MEMORY);
  cr_assert_str_eq(vkl_ctx_errmsg(ctx),
                   "src/x.c:42: vkAllocateMemory -> VK_ERROR_OUT_OF_DEVICE_MEMORY");
  cr_assert_eq(vkl_vk_fail(ctx, VK_ERROR_DEVICE_LOST, "vkQueueSubmit(q)", "a.c", 1),
               VKL_ERR_DEVICE_LOST);
  test_ctx_destroy(ctx);
}
