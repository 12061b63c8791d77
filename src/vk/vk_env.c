/* The VKLARS_* environment variables (see vkl_env in vk.h), read once when a
 * context is created. Each has one strict form; anything else is refused
 * with the variable and its value named, never ignored or read in part
 * (strtoull would take "64MB" as 64 and "1.5G" as 1). An empty variable is
 * unset, as `VAR= vklars ...` means in a shell. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/vk_internal.h"

static vkl_status refuse(char *err, size_t errlen, const char *name, const char *value,
                         const char *want) {
  snprintf(err, errlen, "%s=%s: %s", name, value, want);
  return VKL_ERR_INVALID_ARGUMENT;
}

/* The decimal digits at text, into *out, *end past them: 1, or 0 when
 * there are none, or -1 when they exceed 2^64-1. */
static int parse_digits(const char *text, const char **end, uint64_t *out) {
  uint64_t v = 0;
  int overflow = 0;
  const char *p = text;
  for (; *p >= '0' && *p <= '9'; p++) {
    uint64_t d = (uint64_t)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) overflow = 1;
    v = 10 * v + d;
  }
  *end = p;
  *out = v;
  return p == text ? 0 : overflow ? -1 : 1;
}

/* "4096", "512K", "300M", "2G" (either case): bytes, at least 1. */
static vkl_status parse_bytes(const char *name, const char *text, uint64_t *out, char *err,
                              size_t errlen) {
  const char *end;
  uint64_t v, unit = 1;
  int digits = parse_digits(text, &end, &v);
  if (*end == 'K' || *end == 'k') unit = 1ull << 10;
  if (*end == 'M' || *end == 'm') unit = 1ull << 20;
  if (*end == 'G' || *end == 'g') unit = 1ull << 30;
  if (unit > 1) end++;
  if (!digits || *end)
    return refuse(err, errlen, name, text,
                  "want a size in bytes: digits with an optional K, M or G (e.g. 512M, 2G)");
  if (digits < 0 || v == 0 || v > UINT64_MAX / unit)
    return refuse(err, errlen, name, text,
                  "out of range [1, 18446744073709551615] bytes (unset it for no limit)");
  *out = v * unit;
  return VKL_OK;
}

static vkl_status parse_count(const char *name, const char *text, uint64_t *out, char *err,
                              size_t errlen) {
  const char *end;
  uint64_t v;
  if (parse_digits(text, &end, &v) != 1 || *end || v == 0)
    return refuse(err, errlen, name, text,
                  "want a number of submissions in [1, 18446744073709551615] (unset it for none)");
  *out = v;
  return VKL_OK;
}

static vkl_status parse_flag(const char *name, const char *text, int *out, char *err,
                             size_t errlen) {
  if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0)
    return refuse(err, errlen, name, text, "want 1 (on) or 0 (off)");
  *out = text[0] == '1';
  return VKL_OK;
}

/* One of the NULL-terminated words, copied into out. */
static vkl_status parse_word(const char *name, const char *text, const char *const *words,
                             char *out, size_t outlen, char *err, size_t errlen) {
  char want[128] = "want one of:";
  for (const char *const *w = words; *w; w++) {
    if (strcmp(text, *w) == 0) {
      snprintf(out, outlen, "%s", text);
      return VKL_OK;
    }
    size_t len = strlen(want);
    snprintf(want + len, sizeof want - len, " %s", *w);
  }
  return refuse(err, errlen, name, text, want);
}

static vkl_status parse_device(const char *name, const char *text, char *out, size_t outlen,
                               char *err, size_t errlen) {
  if (strlen(text) >= outlen)
    return refuse(err, errlen, name, text, "longer than a device name can be (255 characters)");
  snprintf(out, outlen, "%s", text);
  return VKL_OK;
}

static const char *get(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

vkl_status vkl_env_read(vkl_env *env, char *err, size_t errlen) {
  static const char *const bn_layouts[] = {"segmented", "interleaved", "fused", NULL};
  static const char *const optim_layouts[] = {"contiguous", "strided", NULL};
  memset(env, 0, sizeof *env);
  const char *v;
  vkl_status st = VKL_OK;
  if (!st && (v = get("VKLARS_DEVICE")))
    st = parse_device("VKLARS_DEVICE", v, env->device, sizeof env->device, err, errlen);
  if (!st && (v = get("VKLARS_VALIDATION")))
    st = parse_flag("VKLARS_VALIDATION", v, &env->validation, err, errlen);
  if (!st && (v = get("VKLARS_VALIDATION_PRINT")))
    st = parse_flag("VKLARS_VALIDATION_PRINT", v, &env->validation_print, err, errlen);
  if (!st && (v = get("VKLARS_DEVICE_MEMORY_LIMIT")))
    st = parse_bytes("VKLARS_DEVICE_MEMORY_LIMIT", v, &env->device_memory_limit, err, errlen);
  if (!st && (v = get("VKLARS_FAULT_DEVICE_LOST")))
    st = parse_count("VKLARS_FAULT_DEVICE_LOST", v, &env->device_lost_after, err, errlen);
  if (!st && (v = get("VKLARS_BN_LAYOUT")))
    st = parse_word("VKLARS_BN_LAYOUT", v, bn_layouts, env->bn_layout, sizeof env->bn_layout, err,
                    errlen);
  if (!st && (v = get("VKLARS_OPTIM_LAYOUT")))
    st = parse_word("VKLARS_OPTIM_LAYOUT", v, optim_layouts, env->optim_layout,
                    sizeof env->optim_layout, err, errlen);
  static const char *const tunings[] = {"cpu", "gpu", NULL};
  if (!st && (v = get("VKLARS_TUNING")))
    st = parse_word("VKLARS_TUNING", v, tunings, env->tuning, sizeof env->tuning, err, errlen);
  if (!st && (v = get("VKLARS_TUNE"))) {
    if (strlen(v) >= sizeof env->tune)
      st = refuse(err, errlen, "VKLARS_TUNE", v, "longer than 511 characters");
    else
      snprintf(env->tune, sizeof env->tune, "%s", v);
  }
  return st;
}

const vkl_env *vkl_ctx_env(const vkl_ctx *ctx) {
  return &ctx->env;
}
