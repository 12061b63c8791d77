/* vklars kernels: every pipeline one training step, one evaluation and one
 * optimizer step of a run would use, built on the chosen device and run
 * never, with the shader, its specialization constants, its workgroup and,
 * where the driver reports them (VK_KHR_pipeline_executable_properties),
 * the compiler's statistics: registers, spills, shared memory, occupancy.
 * The run is train's: the same options, parsed by train's parser, set up by
 * the trainer itself (vkl_train_config.pipelines_only) in a compile-only
 * context, so a device that cannot run work (Mesa's RADV null device) works. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/train_command.h"
#include "vk/vk_tuning.h"

#define MAX_STATS 96

/* The i-th name of a comma-separated list into buf, or "" past its end. */
static const char *nth_name(const char *list, uint32_t i, char *buf, size_t n) {
  const char *p = list;
  for (uint32_t k = 0; k < i && p; k++) p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
  size_t len = p ? strcspn(p, ",") : 0;
  if (len >= n) len = n - 1;
  memcpy(buf, p ? p : "", len);
  buf[len] = '\0';
  return buf;
}

static void spec_text(const vkl_pipeline *p, char *out, size_t n) {
  size_t used = 0;
  out[0] = '\0';
  for (uint32_t i = 0; i < p->spec_count && used < n; i++) {
    char name[48];
    nth_name(vkl_shader_registry[p->shader].spec_names, i, name, sizeof name);
    int w = name[0] ? snprintf(out + used, n - used, "%s%s=%u", i ? " " : "", name, p->spec[i])
                    : snprintf(out + used, n - used, "%s%u=%u", i ? " " : "", i, p->spec[i]);
    used += w > 0 ? (size_t)w : 0;
  }
}

/* Hashes identify a binary, they measure nothing. */
static int worth_showing(const vkl_pipeline_stat *s) {
  return !strstr(s->name, "hash") && !strstr(s->name, "Hash");
}

static void print_text(vkl_ctx *ctx, const vkl_train_config *cfg, const vkl_train_result *res) {
  const vkl_device_info *d = vkl_ctx_device(ctx);
  const vkl_tuning *t = vkl_ctx_tuning(ctx);
  uint32_t n = vkl_ctx_pipeline_count(ctx);
  printf("device: %s (%s); %s geometry; %s, batch %u, micro-batch %u: %u pipelines\n", d->name,
         d->driver_info, vkl_geometry_str(t->geometry), cfg->model ? cfg->model : "cnn", cfg->batch,
         res->micro_batch, n);
  printf("tuning:");
  const char *name;
  uint32_t value;
  for (uint32_t i = 0; vkl_tuning_field(t, i, &name, &value); i++) printf(" %s=%u", name, value);
  printf("\n");
  if (!d->executable_stats)
    printf(
        "(the driver reports no compiler statistics: "
        "VK_KHR_pipeline_executable_properties is absent)\n");
  vkl_pipeline_stat *stats = malloc(MAX_STATS * sizeof *stats);
  for (uint32_t i = 0; i < n; i++) {
    const vkl_pipeline *p = vkl_ctx_pipeline(ctx, i);
    char spec[512];
    spec_text(p, spec, sizeof spec);
    printf("%-24s %ux%ux%u  %s\n", vkl_shader_registry[p->shader].name, p->layout.local_size[0],
           p->layout.local_size[1], p->layout.local_size[2], spec);
    uint32_t count = 0;
    if (!stats || !d->executable_stats || vkl_pipeline_stats(ctx, p, stats, MAX_STATS, &count))
      continue;
    const char *exe = "";
    for (uint32_t k = 0; k < count; k++) {
      if (!worth_showing(&stats[k])) continue;
      if (strcmp(exe, stats[k].executable) != 0) {
        exe = stats[k].executable;
        printf("    %s (subgroup %u):", exe, stats[k].subgroup_size);
      }
      if (stats[k].integer)
        printf(" %s %.0f,", stats[k].name, stats[k].value);
      else
        printf(" %s %.3g,", stats[k].name, stats[k].value);
      if (k + 1 == count || strcmp(stats[k + 1].executable, exe) != 0) printf("\n");
    }
  }
  free(stats);
}

static cJSON *pipeline_json(vkl_ctx *ctx, const vkl_pipeline *p, vkl_pipeline_stat *stats) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "shader", vkl_shader_registry[p->shader].name);
  cJSON *spec = cJSON_AddObjectToObject(o, "spec");
  for (uint32_t i = 0; i < p->spec_count; i++) {
    char name[48];
    nth_name(vkl_shader_registry[p->shader].spec_names, i, name, sizeof name);
    if (!name[0]) snprintf(name, sizeof name, "%u", i);
    cJSON_AddNumberToObject(spec, name, p->spec[i]);
  }
  cJSON *wg = cJSON_AddArrayToObject(o, "workgroup");
  for (int k = 0; k < 3; k++) cJSON_AddItemToArray(wg, cJSON_CreateNumber(p->layout.local_size[k]));
  cJSON *exes = cJSON_AddArrayToObject(o, "executables");
  uint32_t count = 0;
  if (!stats || !vkl_ctx_device(ctx)->executable_stats ||
      vkl_pipeline_stats(ctx, p, stats, MAX_STATS, &count))
    return o;
  cJSON *exe = NULL, *st = NULL;
  for (uint32_t k = 0; k < count; k++) {
    if (!exe || k == 0 || strcmp(stats[k].executable, stats[k - 1].executable) != 0) {
      exe = cJSON_CreateObject();
      cJSON_AddStringToObject(exe, "name", stats[k].executable);
      cJSON_AddNumberToObject(exe, "subgroup_size", stats[k].subgroup_size);
      st = cJSON_AddObjectToObject(exe, "statistics");
      cJSON_AddItemToArray(exes, exe);
    }
    if (worth_showing(&stats[k])) cJSON_AddNumberToObject(st, stats[k].name, stats[k].value);
  }
  return o;
}

static int print_json(vkl_ctx *ctx, const vkl_train_config *cfg, const vkl_train_result *res) {
  const vkl_device_info *d = vkl_ctx_device(ctx);
  const vkl_tuning *t = vkl_ctx_tuning(ctx);
  cJSON *root = cJSON_CreateObject();
  cJSON *dev = cJSON_AddObjectToObject(root, "device");
  cJSON_AddStringToObject(dev, "name", d->name);
  cJSON_AddStringToObject(dev, "vendor", d->vendor);
  cJSON_AddStringToObject(dev, "driver", d->driver_info);
  cJSON_AddBoolToObject(dev, "executable_statistics", d->executable_stats);
  cJSON_AddStringToObject(root, "geometry", vkl_geometry_str(t->geometry));
  cJSON *tun = cJSON_AddObjectToObject(root, "tuning");
  const char *name;
  uint32_t value;
  for (uint32_t i = 0; vkl_tuning_field(t, i, &name, &value); i++)
    cJSON_AddNumberToObject(tun, name, value);
  cJSON *run = cJSON_AddObjectToObject(root, "run");
  cJSON_AddStringToObject(run, "model", cfg->model ? cfg->model : "cnn");
  cJSON_AddNumberToObject(run, "batch", cfg->batch);
  cJSON_AddNumberToObject(run, "micro_batch", res->micro_batch);
  cJSON *list = cJSON_AddArrayToObject(root, "pipelines");
  vkl_pipeline_stat *stats = malloc(MAX_STATS * sizeof *stats);
  for (uint32_t i = 0; i < vkl_ctx_pipeline_count(ctx); i++)
    cJSON_AddItemToArray(list, pipeline_json(ctx, vkl_ctx_pipeline(ctx, i), stats));
  free(stats);
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) {
    cli_error("kernels: out of host memory writing JSON");
    return VKL_EXIT_FAILURE;
  }
  puts(text);
  free(text);
  return VKL_EXIT_OK;
}

/* argv without --json and --pretrain (train's parser knows no such
 * options); *json and *pretrain set. */
static int strip_json(int argc, char **argv, char **out, int *json, int *pretrain) {
  int n = 0;
  *json = *pretrain = 0;
  for (int i = 0; i < argc; i++) {
    if (i > 0 && strcmp(argv[i], "--json") == 0)
      *json = 1;
    else if (i > 0 && strcmp(argv[i], "--pretrain") == 0)
      *pretrain = 1;
    else
      out[n++] = argv[i];
  }
  out[n] = NULL;
  return n;
}

static int run(train_command *tc, int json) {
  vkl_train_config *cfg = &tc->cfg;
  cfg->out_dir = NULL; /* nothing is written */
  cfg->pipelines_only = 1;
  vkl_ctx_config ccfg = {.device = tc->a.device, .compile_only = 1, .pipeline_stats = 1};
  vkl_ctx *ctx = NULL;
  vkl_status st = vkl_ctx_create(&ccfg, &ctx);
  int rc = VKL_EXIT_OK;
  if (st) {
    rc = cli_status_error("kernels", st, vkl_ctx_errmsg(ctx));
    vkl_ctx_destroy(ctx);
    return rc;
  }
  vkl_train_result res;
  char err[2048];
  st = vkl_train(ctx, cfg, &res, err, sizeof err);
  if (st)
    rc = cli_status_error("kernels", st, err);
  else if (json)
    rc = print_json(ctx, cfg, &res);
  else
    print_text(ctx, cfg, &res);
  vkl_ctx_destroy(ctx);
  return rc;
}

int cmd_kernels(int argc, char **argv) {
  char **args = malloc((size_t)(argc + 1) * sizeof *args);
  train_command *tc = malloc(sizeof *tc);
  if (!args || !tc) {
    free(args);
    free(tc);
    cli_error("kernels: out of host memory");
    return VKL_EXIT_FAILURE;
  }
  int json, pretrain;
  int n = strip_json(argc, argv, args, &json, &pretrain);
  /* pretrain's options (its messages then name pretrain) */
  int rc = train_command_parse_as(tc, pretrain ? "pretrain" : "kernels", n, args);
  if (!rc && tc->help)
    cli_print_help("kernels", "[--pretrain] [train's or pretrain's options] [--json]",
                   "Builds every pipeline that one training step, one evaluation and one\n"
                   "optimizer step of the run `vklars train` (with --pretrain: `vklars\n"
                   "pretrain`, the Barlow Twins kernels included) would make with these options,\n"
                   "on the chosen device, and runs none of them. Prints each pipeline's\n"
                   "shader, specialization constants and workgroup, and the driver's compiler\n"
                   "statistics (registers, spills, shared memory, occupancy) where it has\n"
                   "VK_KHR_pipeline_executable_properties. Works on devices that cannot run\n"
                   "work, such as Mesa's RADV null device (RADV_FORCE_FAMILY=navi21).\n"
                   "--json prints the report as JSON. The geometry follows the device, or\n"
                   "VKLARS_TUNING=cpu|gpu and VKLARS_TUNE=name=value,...",
                   tc->opts, tc->n);
  else if (!rc)
    rc = run(tc, json);
  train_command_free(tc);
  free(tc);
  free(args);
  return rc;
}
