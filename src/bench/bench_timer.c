/* Median device time of recorded work, from timestamp queries. */
#include <stdlib.h>

#include "bench/bench.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

vkl_status vkl_bench_median_ns(vkl_ctx *ctx, vkl_bench_record_fn record, void *user,
                               uint32_t warmup, uint32_t repeats, double *median_ns) {
  vkl_status st = VKL_OK;
  vkl_profiler *prof = NULL;
  vkl_cmd *cmd = NULL;
  double *times = calloc(repeats ? repeats : 1, sizeof *times);
  if (!times) return vkl_set_error(ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "bench: timing buffer");
  VKL_TRY(vkl_profiler_create(ctx, warmup + repeats, &prof));
  VKL_TRY(vkl_cmd_create(ctx, &cmd));
  VKL_TRY(vkl_cmd_begin(cmd));
  vkl_profiler_reset(cmd, prof);
  for (uint32_t i = 0; i < warmup + repeats; i++) {
    uint32_t region;
    VKL_TRY(vkl_profiler_begin(cmd, prof, "bench", &region));
    VKL_TRY(record(cmd, user));
    vkl_profiler_end(cmd, prof, region);
  }
  VKL_TRY(vkl_cmd_end(cmd));
  VKL_TRY(vkl_run(ctx, cmd));
  for (uint32_t i = 0; i < repeats; i++) {
    const char *name;
    VKL_TRY(vkl_profiler_read(prof, warmup + i, &name, &times[i]));
  }
  qsort(times, repeats, sizeof *times, cmp_double);
  *median_ns =
      repeats % 2 ? times[repeats / 2] : 0.5 * (times[repeats / 2 - 1] + times[repeats / 2]);
fail:
  vkl_cmd_destroy(cmd);
  vkl_profiler_destroy(prof);
  free(times);
  return st;
}
