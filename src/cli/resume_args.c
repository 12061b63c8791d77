/* Options of a resumed run (see resume_args.h). */
#include "cli/resume_args.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/checkpoint.h"

static int per_invocation(const char *name) {
  static const char *const names[] = {"--resume", "--out",  "--force",
                                      "--config", "--init", "--device"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i]) == 0) return 1;
  return 0;
}

char *resume_options_json(const cli_opt *opts, int nopts) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; a && i < nopts; i++) {
    const cli_opt *o = &opts[i];
    if (per_invocation(o->name)) continue;
    if (o->metavar && *o->value) {
      cJSON_AddItemToArray(a, cJSON_CreateString(o->name));
      cJSON_AddItemToArray(a, cJSON_CreateString(*o->value));
    } else if (!o->metavar && *o->flag) {
      cJSON_AddItemToArray(a, cJSON_CreateString(o->name));
    }
  }
  char *text = a ? cJSON_PrintUnformatted(a) : NULL;
  cJSON_Delete(a);
  return text;
}

int resume_find_checkpoint(const char *dir, char *path, size_t pathlen, char *err, size_t errlen) {
  uint64_t *steps;
  size_t n;
  if (vkl_checkpoint_list(dir, &steps, &n, err, errlen)) return 1;
  vkl_checkpoint_meta *meta = malloc(sizeof *meta);
  char why[512] = "";
  int found = 0;
  for (size_t i = 0; meta && i < n && !found; i++) {
    vkl_checkpoint_path(dir, steps[i], path, pathlen);
    found = vkl_checkpoint_read_meta(path, meta, why, sizeof why) == VKL_OK;
  }
  free(meta);
  free(steps);
  if (!found && n == 0)
    snprintf(err, errlen, "%s holds no checkpoint (ckpt-step<N>.safetensors) to resume from", dir);
  else if (!found)
    snprintf(err, errlen, "no checkpoint of %s reads; the last problem: %s", dir, why);
  return !found;
}

void resume_argv_free(int argc, char **argv) {
  for (int i = 0; argv && i < argc; i++) free(argv[i]);
  free(argv);
}

int resume_argv(const char *path, int argc, char **argv, int *out_argc, char ***out_argv, char *err,
                size_t errlen) {
  *out_argc = 0;
  *out_argv = NULL;
  vkl_checkpoint_meta *meta = malloc(sizeof *meta);
  if (!meta || vkl_checkpoint_read_meta(path, meta, err, errlen)) {
    free(meta);
    return 1;
  }
  cJSON *saved = cJSON_Parse(meta->argv);
  free(meta);
  int n = cJSON_IsArray(saved) ? cJSON_GetArraySize(saved) : -1;
  const cJSON *item;
  cJSON_ArrayForEach(item, saved) if (!cJSON_IsString(item)) n = -1;
  if (n < 0) {
    cJSON_Delete(saved);
    snprintf(err, errlen, "%s: its metadata holds no training options (argv) to resume with", path);
    return 1;
  }
  char **v = calloc((size_t)(n + argc + 1), sizeof *v);
  int k = 0, ok = v != NULL;
  if (ok) ok = (v[k++] = strdup(argv[0])) != NULL;
  cJSON_ArrayForEach(item, saved) if (ok) ok = (v[k++] = strdup(item->valuestring)) != NULL;
  for (int i = 1; ok && i < argc; i++) ok = (v[k++] = strdup(argv[i])) != NULL;
  cJSON_Delete(saved);
  if (!ok) {
    resume_argv_free(k, v);
    snprintf(err, errlen, "out of host memory");
    return 1;
  }
  *out_argc = k;
  *out_argv = v;
  return 0;
}
