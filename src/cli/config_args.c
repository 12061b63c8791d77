/* INI options for `vklars train --config` (see config_args.h). */
#include "cli/config_args.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

static int push(ini_argv *v, const char *s) {
  if (v->argc == v->cap) {
    int cap = v->cap ? 2 * v->cap : 32;
    char **p = realloc(v->argv, cap * sizeof *p);
    if (!p) return 0;
    v->argv = p;
    v->cap = cap;
  }
  return (v->argv[v->argc++] = strdup(s)) != NULL;
}

/* Keeps the first problem only: inih goes on after a failed line, and the
 * line it reports is the first one that failed. */
static int reject(ini_argv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int reject(ini_argv *v, const char *fmt, ...) {
  if (v->err_line) return 0;
  v->err_line = v->line;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->err, sizeof v->err, fmt, ap);
  va_end(ap);
  return 0;
}

static int find_option(const ini_argv *v, const char *opt) {
  for (int i = 0; i < v->nopts; i++) {
    const cli_opt *o = &v->opts[i];
    if (strcmp(o->name, opt) == 0 || (o->alias && strcmp(o->alias, opt) == 0)) return i;
  }
  return -1;
}

static int on_ini(void *user, const char *section, const char *key, const char *value) {
  (void)section;
  ini_argv *v = user;
  if (v->err_line) return 0; /* the file is refused already */
  char opt[128];
  snprintf(opt, sizeof opt, "--%s", key);
  int i = find_option(v, opt);
  if (i < 0) return reject(v, "unknown key '%s'", key);
  const cli_opt *o = &v->opts[i];
  if (strcmp(o->name, "--config") == 0)
    return reject(v, "key 'config': a --config file cannot name another");
  if (strcmp(o->name, "--resume") == 0)
    return reject(v,
                  "key 'resume' belongs on the command line (a resumed run takes its own "
                  "options, not a file's)");
  if (v->set_on_line[i] && v->indented) /* inih's multi-line values */
    return reject(v, "an indented line continues key '%s' of line %d; remove the indentation", key,
                  v->set_on_line[i]);
  if (v->set_on_line[i])
    return reject(v, "key '%s' sets %s again (line %d set it first)", key, o->name,
                  v->set_on_line[i]);
  v->set_on_line[i] = v->line;
  if (!o->metavar) { /* a flag: true/yes/1 sets it */
    if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0)
      return push(v, opt) ? 1 : reject(v, "out of host memory");
    if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 || strcmp(value, "0") == 0)
      return 1;
    return reject(v, "key '%s' is a flag: true or false, not '%s'", key, value);
  }
  return push(v, opt) && push(v, value) ? 1 : reject(v, "out of host memory");
}

/* fgets that counts lines: inih (built without INI_HANDLER_LINENO) does not
 * tell the handler its line, and it reads exactly one line per call. */
static char *read_line(char *str, int num, void *stream) {
  ini_argv *v = stream;
  char *s = fgets(str, num, v->file);
  if (s) {
    v->line++;
    v->indented = s[0] == ' ' || s[0] == '\t';
  }
  return s;
}

static int parse_file(const char *path, ini_argv *v) {
  v->file = fopen(path, "r");
  if (!v->file)
    return cli_usage_error("train", "cannot read --config %s: %s", path, strerror(errno));
  struct stat st;
  int rc = 0;
  if (fstat(fileno(v->file), &st) == 0 && S_ISDIR(st.st_mode)) {
    rc = cli_usage_error("train", "--config %s is a directory, not an INI file", path);
  } else {
    int line = ini_parse_stream(read_line, v, on_ini, v);
    if (ferror(v->file))
      rc = cli_usage_error("train", "cannot read --config %s: %s", path, strerror(errno));
    else if (line)
      rc = cli_usage_error("train", "--config %s:%d: %s", path, line,
                           line == v->err_line ? v->err : "not 'key = value' nor '[section]'");
  }
  fclose(v->file);
  v->file = NULL;
  return rc;
}

int config_expand(const char *path, int argc, char **argv, const cli_opt *opts, int nopts,
                  ini_argv *out) {
  memset(out, 0, sizeof *out);
  out->opts = opts;
  out->nopts = nopts;
  out->set_on_line = calloc((size_t)nopts, sizeof *out->set_on_line);
  if (!out->set_on_line || !push(out, argv[0])) {
    cli_error("train: out of host memory");
    return VKL_EXIT_FAILURE;
  }
  int rc = parse_file(path, out);
  for (int i = 1; !rc && i < argc; i++)
    if (!push(out, argv[i])) {
      cli_error("train: out of host memory");
      return VKL_EXIT_FAILURE;
    }
  return rc;
}

void config_argv_free(ini_argv *v) {
  for (int i = 0; i < v->argc; i++) free(v->argv[i]);
  free(v->argv);
  free(v->set_on_line);
}
