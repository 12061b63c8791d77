/* Option parsing shared by the subcommands (see args.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"

static const cli_opt *find(const cli_opt *opts, int n, const char *name, size_t len) {
  for (int i = 0; i < n; i++) {
    if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) return &opts[i];
    if (opts[i].alias && strlen(opts[i].alias) == len && strncmp(opts[i].alias, name, len) == 0)
      return &opts[i];
  }
  return NULL;
}

int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, int nopts,
              const char **positional, int max_positional, int *npositional, int *help) {
  *help = 0;
  if (npositional) *npositional = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      *help = 1;
      return 0;
    }
    if (arg[0] != '-' || arg[1] == '\0') {
      if (!npositional || *npositional >= max_positional)
        return cli_usage_error(cmd, "unexpected argument '%s'", arg);
      positional[(*npositional)++] = arg;
      continue;
    }
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    const cli_opt *o = find(opts, nopts, arg, len);
    if (!o) return cli_usage_error(cmd, "unknown option '%.*s'", (int)len, arg);
    if (!o->metavar) {
      if (eq) return cli_usage_error(cmd, "option '%s' takes no value", o->name);
      *o->flag = 1;
    } else if (eq) {
      *o->value = eq + 1;
    } else {
      if (i + 1 >= argc)
        return cli_usage_error(cmd, "option '%s' needs a value (%s)", o->name, o->metavar);
      *o->value = argv[++i];
    }
  }
  return 0;
}

void cli_print_help(const char *cmd, const char *synopsis, const char *summary, const cli_opt *opts,
                    int nopts) {
  printf("usage: vklars %s %s\n\n%s\n\noptions:\n", cmd, synopsis, summary);
  for (int i = 0; i < nopts; i++) {
    char left[64];
    snprintf(left, sizeof left, "%s%s%s", opts[i].name, opts[i].metavar ? " " : "",
             opts[i].metavar ? opts[i].metavar : "");
    printf("  %-24s %s", left, opts[i].help);
    if (opts[i].alias) printf(" (alias %s)", opts[i].alias);
    putchar('\n');
  }
  printf("  %-24s %s\n", "--help", "show this help");
}

int cli_parse_double(const char *cmd, const char *opt, const char *text, double *out) {
  if (!text) return 0;
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (*text == '\0' || isspace((unsigned char)*text) || *end != '\0' || errno || !isfinite(v))
    return cli_usage_error(cmd, "%s wants a number, not '%s'", opt, text);
  *out = v;
  return 0;
}

/* Digits only: strtoull alone would take leading blanks, a sign ("-1"
 * wraps to 2^64-1) and stop quietly at a suffix ("64MB"). */
static int all_digits(const char *text) {
  if (*text == '\0') return 0;
  for (const char *c = text; *c; c++)
    if (*c < '0' || *c > '9') return 0;
  return 1;
}

int cli_parse_uint(const char *cmd, const char *opt, const char *text, uint64_t min, uint64_t max,
                   uint64_t *out) {
  if (!text) return 0;
  if (!all_digits(text))
    return cli_usage_error(cmd, "%s wants an integer in [%llu, %llu], not '%s'", opt,
                           (unsigned long long)min, (unsigned long long)max, text);
  errno = 0;
  unsigned long long v = strtoull(text, NULL, 10);
  if (errno || v < min || v > max)
    return cli_usage_error(cmd, "%s %s is out of range [%llu, %llu]", opt, text,
                           (unsigned long long)min, (unsigned long long)max);
  *out = v;
  return 0;
}

int cli_parse_u32(const char *cmd, const char *opt, const char *text, uint32_t min, uint32_t max,
                  uint32_t *out) {
  uint64_t v = *out;
  int rc = cli_parse_uint(cmd, opt, text, min, max, &v);
  if (!rc) *out = (uint32_t)v;
  return rc;
}

int cli_parse_u64(const char *cmd, const char *opt, const char *text, uint64_t *out) {
  return cli_parse_uint(cmd, opt, text, 0, UINT64_MAX, out);
}

int cli_status_error(const char *cmd, vkl_status st, const char *msg) {
  cli_error("%s: %s", cmd, msg);
  return st == VKL_ERR_INVALID_ARGUMENT ? VKL_EXIT_USAGE : VKL_EXIT_FAILURE;
}
