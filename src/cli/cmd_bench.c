/* vklars bench ops: op timings beside the GEMM and copy baselines. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "vk/vk_tuning.h"

static const char *unit_str(vkl_bench_unit u) {
  return u == VKL_BENCH_GFLOPS ? "GFLOP/s" : "GB/s";
}

static void print_row(void *user, const vkl_bench_row *r) {
  (void)user;
  printf("%-44s %10.3f ms %9.2f %-7s %6.2fx %s\n", r->name, r->ms, r->rate, unit_str(r->unit),
         r->vs_base,
         r->unit == VKL_BENCH_GFLOPS ? "gemm"
         : r->name[0] == ' '         ? "step/copy"
                                     : "copy");
  fflush(stdout);
}

static int print_json(const vkl_ctx *ctx, const vkl_bench_report *rep, unsigned batch) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "device", vkl_ctx_device(ctx)->name);
  cJSON_AddStringToObject(root, "driver", vkl_ctx_device(ctx)->driver_info);
  cJSON_AddStringToObject(root, "geometry", vkl_geometry_str(vkl_ctx_tuning(ctx)->geometry));
  cJSON_AddNumberToObject(root, "batch", batch);
  cJSON_AddNumberToObject(root, "baseline_gemm_gflops", rep->gemm_gflops);
  cJSON_AddNumberToObject(root, "baseline_copy_gbs", rep->copy_gbs);
  cJSON *rows = cJSON_AddArrayToObject(root, "ops");
  for (uint32_t i = 0; i < rep->count; i++) {
    const vkl_bench_row *r = &rep->rows[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddNumberToObject(o, "median_ms", r->ms);
    cJSON_AddNumberToObject(o, "rate", r->rate);
    cJSON_AddStringToObject(o, "unit", unit_str(r->unit));
    cJSON_AddNumberToObject(o, "vs_baseline", r->vs_base);
    cJSON_AddItemToArray(rows, o);
  }
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) return VKL_EXIT_FAILURE;
  puts(text);
  free(text);
  return VKL_EXIT_OK;
}

/* Ranges of --batch and --repeats: a median of more than 1000 repeats is
 * no better measured, only longer; batches beyond 2^20 fit no device. */
#define MAX_BATCH (1u << 20)
#define MAX_REPEATS 1000u

int cmd_bench(int argc, char **argv) {
  int json = 0, help = 0;
  const char *device = NULL, *batch_s = NULL, *repeats_s = NULL, *only = NULL;
  const cli_opt opts[] = {
      {"--json", NULL, NULL, "machine-readable output", NULL, &json},
      {"--device", NULL, "N|NAME", "device index or name substring", &device, NULL},
      {"--batch", NULL, "N", "batch size of the layer shapes (default 64)", &batch_s, NULL},
      {"--repeats", NULL, "N",
       "timed repeats after one warm-up; the median is shown (default 5, at most 1000)", &repeats_s,
       NULL},
      {"--only", NULL, "TEXT", "time only the rows whose names contain TEXT (and the baselines)",
       &only, NULL},
  };
  int nopts = (int)(sizeof opts / sizeof opts[0]);
  const char *what[1];
  int nwhat = 0;
  int rc = cli_parse("bench", argc, argv, opts, nopts, what, 1, &nwhat, &help);
  if (rc) return rc;
  if (help) {
    cli_print_help("bench",
                   "ops|optim [--json] [--batch N] [--repeats N] [--only TEXT] [--device N|NAME]",
                   "ops: times each op with timestamp queries on ResNet-18 CIFAR layer shapes,\n"
                   "beside two baselines timed in the same run: a GEMM (1024^3; register-\n"
                   "blocked on CPUs, shared-memory tiled on GPUs) for compute-bound ops and a\n"
                   "vec4 copy (128 MiB) for memory-bound ones. Bytes count each tensor read\n"
                   "and written once.\n"
                   "optim: times the fused optimizer step (SGD, LARS, TVLARS, LAMB) over\n"
                   "ResNet-18's 11.2M parameters, each after a copy of the same bytes (the\n"
                   "step's minimum traffic); the step's ratio is copy time / step time.",
                   opts, nopts);
    return VKL_EXIT_OK;
  }
  if (nwhat == 0) return cli_usage_error("bench", "say what to benchmark: ops or optim");
  int optim = strcmp(what[0], "optim") == 0;
  if (!optim && strcmp(what[0], "ops") != 0)
    return cli_usage_error("bench", "unknown benchmark '%s' (ops or optim)", what[0]);
  uint32_t batch = 64, repeats = 5;
  if ((rc = cli_parse_u32("bench", "--batch", batch_s, 1, MAX_BATCH, &batch)) ||
      (rc = cli_parse_u32("bench", "--repeats", repeats_s, 1, MAX_REPEATS, &repeats)))
    return rc;

  vkl_ctx_config ccfg = {.device = device};
  vkl_ctx *ctx = NULL;
  vkl_status st = vkl_ctx_create(&ccfg, &ctx);
  if (st) {
    rc = cli_status_error("bench", st, vkl_ctx_errmsg(ctx));
    vkl_ctx_destroy(ctx);
    return rc;
  }
  if (!json)
    printf("device: %s (%s); %s geometry; batch %u, median of %u\n", vkl_ctx_device(ctx)->name,
           vkl_ctx_device(ctx)->driver_info, vkl_geometry_str(vkl_ctx_tuning(ctx)->geometry), batch,
           repeats);
  vkl_bench_report *rep = malloc(sizeof *rep);
  vkl_bench_config cfg = {
      .batch = batch, .repeats = repeats, .on_row = json ? NULL : print_row, .only = only};
  st = !rep    ? VKL_ERR_OUT_OF_HOST_MEMORY
       : optim ? vkl_bench_optim(ctx, &cfg, rep)
               : vkl_bench_ops(ctx, &cfg, rep);
  if (st) {
    cli_error("bench: %s", rep ? vkl_ctx_errmsg(ctx) : "out of host memory");
    rc = VKL_EXIT_FAILURE;
  } else if (json) {
    rc = print_json(ctx, rep, batch);
  }
  free(rep);
  vkl_ctx_destroy(ctx);
  return rc;
}
