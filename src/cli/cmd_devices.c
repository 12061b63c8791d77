/* vklars devices: every Vulkan device with its driver, memory, limits and
 * optional features, as text or JSON (--json), marking the one that
 * --device / VKLARS_DEVICE / the default order would select. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "vklars/vklars.h"

typedef struct feature {
  const char *name;
  int present;
} feature;

/* How many optional features features_of lists. A fixed count, rather than
 * one returned at run time, lets the compiler see every entry filled. */
enum { FEATURE_COUNT = 11 };

static void features_of(const vkl_device_info *d, feature out[FEATURE_COUNT]) {
  feature f[] = {
      {"fp16", d->fp16},
      {"int8", d->int8},
      {"storage16", d->storage16},
      {"storage8", d->storage8},
      {"subgroup_basic", d->subgroup_basic},
      {"subgroup_arithmetic", d->subgroup_arithmetic},
      {"subgroup_size_control", d->subgroup_size_control},
      {"memory_model", d->memory_model},
      {"executable_stats", d->executable_stats},
      {"cooperative_matrix", d->cooperative_matrix},
      {"timestamps", d->timestamps},
  };
  _Static_assert(sizeof f / sizeof f[0] == FEATURE_COUNT, "features_of: update FEATURE_COUNT");
  for (int i = 0; i < FEATURE_COUNT; i++) out[i] = f[i];
}

static void api_str(uint32_t v, char *out, size_t n) {
  snprintf(out, n, "%u.%u.%u", (v >> 22) & 0x7f, (v >> 12) & 0x3ff, v & 0xfff);
}

static void print_text(const vkl_device_info *devs, uint32_t n, int selected) {
  for (uint32_t i = 0; i < n; i++) {
    const vkl_device_info *d = &devs[i];
    char api[32];
    api_str(d->api_version, api, sizeof api);
    printf("[%u] %s%s\n", d->index, d->name, (int)i == selected ? "  (selected)" : "");
    printf("    vendor %s (0x%04x), device 0x%04x, type %s\n", d->vendor, d->vendor_id,
           d->device_id, vkl_device_kind_str(d->kind));
    printf("    driver %s %s (%s), Vulkan %s\n", d->driver_name, d->driver_version, d->driver_info,
           api);
    for (uint32_t h = 0; h < d->heap_count; h++)
      printf("    heap %u: %.1f GiB%s\n", h, (double)d->heap_size[h] / (1 << 30),
             d->heap_device_local[h] ? " device-local" : "");
    printf("    subgroup %u (%u..%u), shared memory %u KiB, storage buffer range %.0f MiB\n",
           d->subgroup_size, d->min_subgroup_size, d->max_subgroup_size,
           d->max_shared_memory / 1024, (double)d->max_storage_buffer_range / (1 << 20));
    printf("    workgroups: count %u x %u x %u, size %u x %u x %u, %u invocations\n",
           d->max_workgroup_count[0], d->max_workgroup_count[1], d->max_workgroup_count[2],
           d->max_workgroup_size[0], d->max_workgroup_size[1], d->max_workgroup_size[2],
           d->max_workgroup_invocations);
    feature f[FEATURE_COUNT];
    features_of(d, f);
    printf("    features:");
    for (int k = 0; k < FEATURE_COUNT; k++)
      if (f[k].present) printf(" %s", f[k].name);
    printf("\n    absent:  ");
    for (int k = 0; k < FEATURE_COUNT; k++)
      if (!f[k].present) printf(" %s", f[k].name);
    printf("\n");
    if (!d->usable) printf("    NOT USABLE: %s\n", d->unusable_reason);
  }
}

static cJSON *device_json(const vkl_device_info *d) {
  char api[32];
  api_str(d->api_version, api, sizeof api);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "index", d->index);
  cJSON_AddStringToObject(o, "name", d->name);
  cJSON_AddStringToObject(o, "vendor", d->vendor);
  cJSON_AddNumberToObject(o, "vendor_id", d->vendor_id);
  cJSON_AddNumberToObject(o, "device_id", d->device_id);
  cJSON_AddStringToObject(o, "type", vkl_device_kind_str(d->kind));
  cJSON_AddStringToObject(o, "driver_name", d->driver_name);
  cJSON_AddStringToObject(o, "driver_info", d->driver_info);
  cJSON_AddStringToObject(o, "driver_version", d->driver_version);
  cJSON_AddStringToObject(o, "api_version", api);
  cJSON *heaps = cJSON_AddArrayToObject(o, "memory_heaps");
  for (uint32_t h = 0; h < d->heap_count; h++) {
    cJSON *heap = cJSON_CreateObject();
    cJSON_AddNumberToObject(heap, "size", (double)d->heap_size[h]);
    cJSON_AddBoolToObject(heap, "device_local", d->heap_device_local[h]);
    cJSON_AddItemToArray(heaps, heap);
  }
  cJSON_AddNumberToObject(o, "subgroup_size", d->subgroup_size);
  cJSON_AddNumberToObject(o, "min_subgroup_size", d->min_subgroup_size);
  cJSON_AddNumberToObject(o, "max_subgroup_size", d->max_subgroup_size);
  cJSON_AddNumberToObject(o, "max_shared_memory", d->max_shared_memory);
  cJSON_AddNumberToObject(o, "max_storage_buffer_range", (double)d->max_storage_buffer_range);
  cJSON_AddNumberToObject(o, "max_allocation_size", (double)d->max_allocation_size);
  cJSON_AddNumberToObject(o, "max_push_constants", d->max_push_constants);
  cJSON_AddItemToObject(o, "max_workgroup_count",
                        cJSON_CreateIntArray((const int[]){(int)d->max_workgroup_count[0],
                                                           (int)d->max_workgroup_count[1],
                                                           (int)d->max_workgroup_count[2]},
                                             3));
  cJSON_AddItemToObject(o, "max_workgroup_size",
                        cJSON_CreateIntArray((const int[]){(int)d->max_workgroup_size[0],
                                                           (int)d->max_workgroup_size[1],
                                                           (int)d->max_workgroup_size[2]},
                                             3));
  cJSON_AddNumberToObject(o, "max_workgroup_invocations", d->max_workgroup_invocations);
  cJSON *features = cJSON_AddObjectToObject(o, "features");
  feature f[FEATURE_COUNT];
  features_of(d, f);
  for (int k = 0; k < FEATURE_COUNT; k++) cJSON_AddBoolToObject(features, f[k].name, f[k].present);
  cJSON_AddBoolToObject(o, "usable", d->usable);
  if (!d->usable) cJSON_AddStringToObject(o, "unusable_reason", d->unusable_reason);
  return o;
}

static int print_json(const vkl_device_info *devs, uint32_t n, int selected) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "vklars_version", vkl_version());
  if (selected >= 0)
    cJSON_AddNumberToObject(root, "selected", selected);
  else
    cJSON_AddNullToObject(root, "selected");
  cJSON *list = cJSON_AddArrayToObject(root, "devices");
  for (uint32_t i = 0; i < n; i++) cJSON_AddItemToArray(list, device_json(&devs[i]));
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) {
    cli_error("devices: out of memory writing JSON");
    return VKL_EXIT_FAILURE;
  }
  puts(text);
  free(text);
  return VKL_EXIT_OK;
}

int cmd_devices(int argc, char **argv) {
  int json = 0, help = 0;
  const char *device = NULL;
  const cli_opt opts[] = {
      {"--json", NULL, NULL, "machine-readable output", NULL, &json},
      {"--device", NULL, "N|NAME", "mark the device that this selector picks", &device, NULL},
  };
  int nopts = (int)(sizeof opts / sizeof opts[0]);
  int rc = cli_parse("devices", argc, argv, opts, nopts, NULL, 0, NULL, &help);
  if (rc) return rc;
  if (help) {
    cli_print_help("devices", "[--json] [--device N|NAME]",
                   "Lists every Vulkan device: driver, memory heaps, compute limits and\n"
                   "optional features. The device vklars would use is marked.",
                   opts, nopts);
    return VKL_EXIT_OK;
  }
  vkl_device_info *devs = NULL;
  uint32_t n = 0;
  int selected = -1;
  char err[512];
  vkl_status st = vkl_list_devices(device, &devs, &n, &selected, err, sizeof err);
  if (!st && device && selected < 0) st = VKL_ERR_NO_DEVICE; /* it names an unusable device */
  if (st) {
    free(devs);
    return cli_status_error("devices", st, err);
  }
  rc = json ? print_json(devs, n, selected) : (print_text(devs, n, selected), VKL_EXIT_OK);
  free(devs);
  return rc;
}
