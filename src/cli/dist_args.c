/* Joining an MPI launch from the command line (see dist_args.h). */
#include "cli/dist_args.h"

#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "vklars/vklars.h"

/* A positive number from the environment variable name, or def when
 * unset; -1 when malformed (the error printed). */
static double env_positive(const char *cmd, const char *name, double def) {
  const char *v = getenv(name);
  if (!v || !*v) return def;
  char *end;
  double x = strtod(v, &end);
  if (*end || !(x > 0)) {
    cli_error("%s: %s=%s: expected a positive number", cmd, name, v);
    return -1;
  }
  return x;
}

int cli_dist_open(const char *cmd, vkl_dist **out) {
  *out = NULL;
  if (!vkl_dist_launched()) return VKL_EXIT_OK;
  double timeout = env_positive(cmd, "VKLARS_DIST_TIMEOUT", VKL_DIST_TIMEOUT_DEFAULT_S);
  if (timeout < 0) return VKL_EXIT_USAGE;
  char err[600];
  vkl_status st = vkl_dist_create(NULL, NULL, timeout, out, err, sizeof err);
  if (st) {
    cli_error("%s: %s", cmd, err);
    return VKL_EXIT_FAILURE;
  }
  return VKL_EXIT_OK;
}

/* The default choice's order of kinds: discrete > integrated > virtual >
 * CPU > other (lower is preferred). */
static int kind_order(vkl_device_kind k) {
  switch (k) {
    case VKL_DEVICE_DISCRETE: return 0;
    case VKL_DEVICE_INTEGRATED: return 1;
    case VKL_DEVICE_VIRTUAL: return 2;
    case VKL_DEVICE_CPU: return 3;
    default: return 4;
  }
}

const char *cli_dist_device(const vkl_dist *d, const char *requested, char *buf, size_t n) {
  if (requested || vkl_dist_size(d) < 2) return requested;
  const char *env = getenv("VKLARS_DEVICE");
  if (env && *env) return NULL; /* the context reads it */
  vkl_device_info *infos = NULL;
  uint32_t count = 0;
  int selected;
  char err[256];
  if (vkl_list_devices(NULL, &infos, &count, &selected, err, sizeof err) != VKL_OK) count = 0;
  /* the devices of the kind one process would pick (GPUs before lavapipe) */
  int best = 5;
  uint32_t same = 0;
  for (uint32_t i = 0; i < count; i++)
    if (infos[i].usable && kind_order(infos[i].kind) < best) best = kind_order(infos[i].kind);
  for (uint32_t i = 0; i < count; i++) same += infos[i].usable && kind_order(infos[i].kind) == best;
  if (!same) { /* the context's own error says why */
    free(infos);
    return NULL;
  }
  uint32_t want = vkl_dist_local_rank(d) % same, index = 0;
  for (uint32_t i = 0, u = 0; i < count; i++)
    if (infos[i].usable && kind_order(infos[i].kind) == best && u++ == want) index = i;
  free(infos);
  snprintf(buf, n, "%u", index);
  return buf;
}

int64_t cli_dist_bucket_bytes(const char *cmd) {
  double mib = env_positive(cmd, "VKLARS_ALLREDUCE_BUCKET_MIB", 0);
  if (mib < 0) return -1;
  return (int64_t)(mib * 1048576.0);
}
