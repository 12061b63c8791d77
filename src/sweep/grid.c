/* A sweep's grid: parsing the INI file and expanding it into runs (see
 * grid.h). */
#include "sweep/grid.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_SECTIONS 256
#define MAX_CONDITIONS 8
#define MAX_RANGE_VALUES 1000

typedef struct entry {
  char *key;
  char **values;
  int nvalues, line, section; /* section: -1 [sweep], 0 the grid, > 0 conditional */
} entry;

typedef struct section {
  int ncond, line;
  char *ckey[MAX_CONDITIONS], *cvalue[MAX_CONDITIONS];
  int corder[MAX_CONDITIONS]; /* the condition's key in the grid's order */
} section;

struct vkl_grid {
  char name[512];
  entry *e;
  int ne, cap;
  section sec[MAX_SECTIONS]; /* sec[0]: the grid's unconditional keys */
  int nsec;
  const char *order[VKL_GRID_MAX_KEYS]; /* keys in the grid's order */
  int norder;
  /* parsing */
  int cur; /* the section being read: -1 [sweep] */
  char section_name[200];
  const char *text; /* vkl_grid_parse's text, read line by line */
  FILE *file;
  int line, indented, err_line;
  char err[300];
};

static int reject(vkl_grid *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int reject(vkl_grid *g, const char *fmt, ...) {
  if (g->err_line) return 0; /* the first problem only */
  g->err_line = g->line ? g->line : 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g->err, sizeof g->err, fmt, ap);
  va_end(ap);
  return 0;
}

static char *trimmed(const char *s, size_t n) {
  while (n && (*s == ' ' || *s == '\t')) s++, n--;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
  char *t = malloc(n + 1);
  if (t) {
    memcpy(t, s, n);
    t[n] = '\0';
  }
  return t;
}

static int parse_number(const char *s, double *v) {
  if (!*s) return 0;
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  return *end == '\0' && errno == 0 && isfinite(*v);
}

/* Two values are the same when their text is, or both are the same number
 * ("1e3" and "1000"), so a condition matches however the value is written. */
static int same_value(const char *a, const char *b) {
  double x, y;
  return strcmp(a, b) == 0 || (parse_number(a, &x) && parse_number(b, &y) && x == y);
}

static int push_value(vkl_grid *g, entry *e, char *v) {
  if (!v) return reject(g, "out of host memory");
  if (!*v) {
    free(v);
    return reject(g, "key '%s' has an empty value in its list", e->key);
  }
  for (int i = 0; i < e->nvalues; i++)
    if (same_value(e->values[i], v)) {
      reject(g, "key '%s' lists %s twice", e->key, v);
      free(v);
      return 0;
    }
  char **p = realloc(e->values, (size_t)(e->nvalues + 1) * sizeof *p);
  if (!p) {
    free(v);
    return reject(g, "out of host memory");
  }
  e->values = p;
  e->values[e->nvalues++] = v;
  return 1;
}

static int is_integer(double v) {
  return fabs(v) < 1e15 && v == floor(v);
}

/* The range's values, A to B inclusive: A + i*S, or A * F^i (computed, not
 * accumulated, so 1e-4..1e-2 *10 gives 0.001 exactly as written). */
static int push_range_values(vkl_grid *g, entry *e, const char *item, double lo, double hi,
                             char op, double step) {
  int mul = op == '*';
  if (mul ? !(lo > 0 && step > 1) : !(step > 0))
    return reject(g,
                  "key '%s': range '%s' never reaches its end (+ wants a positive step; * wants a "
                  "positive start and a factor above 1)",
                  e->key, item);
  if (hi < lo) return reject(g, "key '%s': range '%s' ends below its start", e->key, item);
  int ints = is_integer(lo) && is_integer(step);
  for (int i = 0;; i++) {
    double v = mul ? lo * pow(step, i) : lo + step * i;
    if (v > hi + 1e-9 * fabs(hi)) return 1;
    if (i == MAX_RANGE_VALUES)
      return reject(g, "key '%s': range '%s' has more than %d values", e->key, item,
                    MAX_RANGE_VALUES);
    char buf[48];
    snprintf(buf, sizeof buf, ints ? "%.0f" : "%.6g", v);
    if (!push_value(g, e, strdup(buf))) return 0;
  }
}

/* "A..B", "A..B +S" or "A..B *F" with numbers A and B. Returns -1 when
 * item is not a range (a plain value, "../data" say), 0 after an error, 1
 * done. */
static int push_range(vkl_grid *g, entry *e, const char *item) {
  const char *dots = strstr(item, "..");
  if (!dots) return -1;
  char *a = trimmed(item, (size_t)(dots - item)), *rest = trimmed(dots + 2, strlen(dots + 2));
  if (!a || !rest) {
    free(a);
    free(rest);
    return reject(g, "out of host memory");
  }
  char op = '+', *step_text = NULL, *blank = strpbrk(rest, " \t");
  if (blank) { /* "B +S": the step is the last word */
    char *last = blank + strspn(blank, " \t");
    if (*last == '+' || *last == '*') {
      op = *last;
      step_text = last + 1;
      *blank = '\0';
    }
  }
  double lo, hi, step = 1;
  int ok = -1; /* a number before ".." means a range was meant */
  if (parse_number(a, &lo))
    ok = !parse_number(rest, &hi) || (step_text && !parse_number(step_text, &step))
             ? reject(g, "key '%s': '%s' is not a range A..B, A..B +S or A..B *F", e->key, item)
             : push_range_values(g, e, item, lo, hi, op, step);
  free(a);
  free(rest);
  return ok;
}

/* A value list: items separated by commas, each a value or a range. */
static int parse_values(vkl_grid *g, entry *e, const char *value) {
  for (const char *p = value;;) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    char *item = trimmed(p, n);
    if (!item) return reject(g, "out of host memory");
    int ok = push_range(g, e, item);
    if (ok == -1)
      ok = push_value(g, e, item);
    else
      free(item);
    if (!ok) return 0;
    if (!comma) return 1;
    p = comma + 1;
  }
}

static int order_index(const vkl_grid *g, const char *key) {
  for (int i = 0; i < g->norder; i++)
    if (strcmp(g->order[i], key) == 0) return i;
  return -1;
}

/* "[opt=lars batch=4096]": conditions separated by blanks or commas. */
static int open_section(vkl_grid *g, const char *name) {
  if (strcmp(name, "sweep") == 0) return g->cur = -1, 1;
  if (strcmp(name, "grid") == 0 || !*name) return g->cur = 0, 1;
  if (!strchr(name, '='))
    return reject(g, "section [%s] is neither [sweep], [grid] nor conditions like [batch=4096]",
                  name);
  if (g->nsec == MAX_SECTIONS) return reject(g, "more than %d sections", MAX_SECTIONS - 1);
  section *s = &g->sec[g->nsec];
  memset(s, 0, sizeof *s);
  s->line = g->line;
  for (const char *p = name; *p;) {
    size_t skip = strspn(p, " \t,");
    p += skip;
    if (!*p) break;
    size_t n = strcspn(p, " \t,");
    const char *eq = memchr(p, '=', n);
    if (!eq || eq == p || eq == p + n - 1)
      return reject(g, "section [%s]: '%.*s' is not a condition key=value", name, (int)n, p);
    if (s->ncond == MAX_CONDITIONS)
      return reject(g, "section [%s] has more than %d conditions", name, MAX_CONDITIONS);
    s->ckey[s->ncond] = trimmed(p, (size_t)(eq - p));
    s->cvalue[s->ncond] = trimmed(eq + 1, (size_t)(p + n - eq - 1));
    if (!s->ckey[s->ncond++] || !s->cvalue[s->ncond - 1]) return reject(g, "out of host memory");
    p += n;
  }
  g->cur = g->nsec++;
  return 1;
}

static entry *find_entry(const vkl_grid *g, int section, const char *key) {
  for (int i = 0; i < g->ne; i++)
    if (g->e[i].section == section && strcmp(g->e[i].key, key) == 0) return &g->e[i];
  return NULL;
}

static int on_ini(void *user, const char *section, const char *key, const char *value) {
  vkl_grid *g = user;
  if (g->err_line) return 0;
  /* inih passes each key's section; a new name opens a section */
  if (strcmp(section, g->section_name) != 0) {
    snprintf(g->section_name, sizeof g->section_name, "%s", section);
    if (!open_section(g, section)) return 0;
  }
  entry *old = find_entry(g, g->cur, key);
  if (old && g->indented)
    return reject(g, "an indented line continues key '%s' of line %d; remove the indentation", key,
                  old->line);
  if (old) return reject(g, "key '%s' is set again (line %d set it first)", key, old->line);
  int new_key = g->cur >= 0 && order_index(g, key) < 0;
  if (new_key && g->norder == VKL_GRID_MAX_KEYS)
    return reject(g, "more than %d keys", VKL_GRID_MAX_KEYS);
  if (g->ne == g->cap) {
    int cap = g->cap ? 2 * g->cap : 32;
    entry *p = realloc(g->e, (size_t)cap * sizeof *p);
    if (!p) return reject(g, "out of host memory");
    g->e = p;
    g->cap = cap;
  }
  entry *e = &g->e[g->ne];
  memset(e, 0, sizeof *e);
  e->line = g->line;
  e->section = g->cur;
  if (!(e->key = strdup(key))) return reject(g, "out of host memory");
  g->ne++;
  if (new_key) g->order[g->norder++] = e->key; /* the name lives as long as the grid */
  if (g->cur < 0) return push_value(g, e, trimmed(value, strlen(value)));
  return parse_values(g, e, value);
}

/* Conditions name keys that come before the keys they set, and that the
 * grid knows. */
static int check_sections(vkl_grid *g) {
  for (int si = 1; si < g->nsec; si++) {
    section *s = &g->sec[si];
    for (int c = 0; c < s->ncond; c++) {
      s->corder[c] = order_index(g, s->ckey[c]);
      g->line = s->line;
      if (s->corder[c] < 0)
        return reject(g, "section's condition %s=%s names a key no line sets", s->ckey[c],
                      s->cvalue[c]);
    }
    for (int i = 0; i < g->ne; i++) {
      if (g->e[i].section != si) continue;
      int k = order_index(g, g->e[i].key);
      for (int c = 0; c < s->ncond; c++) {
        g->line = g->e[i].line;
        if (s->corder[c] == k)
          return reject(g, "key '%s' is its own section's condition", g->e[i].key);
        if (s->corder[c] > k)
          return reject(g,
                        "key '%s' depends on %s, which the grid lists after it; set %s on an "
                        "earlier line than %s",
                        g->e[i].key, s->ckey[c], s->ckey[c], g->e[i].key);
      }
    }
  }
  return 1;
}

/* fgets that counts lines: inih does not tell the handler its line, and it
 * reads one line per call. */
static char *read_line(char *str, int num, void *stream) {
  vkl_grid *g = stream;
  char *s = NULL;
  if (g->file) {
    s = fgets(str, num, g->file);
  } else if (*g->text) {
    size_t n = strcspn(g->text, "\n");
    size_t take = n + (g->text[n] == '\n');
    if (take > (size_t)num - 1) take = (size_t)num - 1;
    memcpy(str, g->text, take);
    str[take] = '\0';
    g->text += take;
    s = str;
  }
  if (s) {
    g->line++;
    g->indented = s[0] == ' ' || s[0] == '\t';
  }
  return s;
}

static vkl_status finish_parse(vkl_grid *g, int line, vkl_grid **out, char *err, size_t errlen) {
  if (!line && !g->err_line) check_sections(g);
  if (!line && !g->err_line && g->norder == 0) reject(g, "no key sets an option of the runs");
  if (line || g->err_line) {
    snprintf(err, errlen, "%s:%d: %s", g->name, g->err_line ? g->err_line : line,
             g->err_line ? g->err : "not 'key = value' nor '[section]'");
    vkl_grid_destroy(g);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  *out = g;
  return VKL_OK;
}

static vkl_grid *grid_new(const char *name) {
  vkl_grid *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  snprintf(g->name, sizeof g->name, "%s", name);
  g->nsec = 1;
  return g;
}

vkl_status vkl_grid_parse(const char *text, const char *name, vkl_grid **out, char *err,
                          size_t errlen) {
  *out = NULL;
  vkl_grid *g = grid_new(name);
  if (!g) {
    snprintf(err, errlen, "%s: out of host memory", name);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  g->text = text;
  int line = ini_parse_stream(read_line, g, on_ini, g);
  g->text = NULL;
  return finish_parse(g, line, out, err, errlen);
}

vkl_status vkl_grid_load(const char *path, vkl_grid **out, char *err, size_t errlen) {
  *out = NULL;
  FILE *f = fopen(path, "r");
  struct stat st;
  if (!f || (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))) {
    snprintf(err, errlen, "cannot read the grid %s: %s", path,
             f ? "it is a directory" : strerror(errno));
    if (f) fclose(f);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  vkl_grid *g = grid_new(path);
  if (!g) {
    fclose(f);
    snprintf(err, errlen, "%s: out of host memory", path);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  g->file = f;
  int line = ini_parse_stream(read_line, g, on_ini, g);
  int bad = ferror(f);
  fclose(f);
  g->file = NULL;
  if (bad) {
    snprintf(err, errlen, "cannot read the grid %s: %s", path, strerror(errno));
    vkl_grid_destroy(g);
    return VKL_ERR_IO;
  }
  return finish_parse(g, line, out, err, errlen);
}

void vkl_grid_destroy(vkl_grid *g) {
  if (!g) return;
  for (int i = 0; i < g->ne; i++) {
    for (int j = 0; j < g->e[i].nvalues; j++) free(g->e[i].values[j]);
    free(g->e[i].values);
    free(g->e[i].key);
  }
  free(g->e);
  for (int s = 1; s < g->nsec; s++)
    for (int c = 0; c < g->sec[s].ncond; c++) {
      free(g->sec[s].ckey[c]);
      free(g->sec[s].cvalue[c]);
    }
  free(g);
}

const char *vkl_grid_sweep_setting(const vkl_grid *g, const char *key) {
  const entry *e = find_entry(g, -1, key);
  return e && e->nvalues ? e->values[0] : NULL;
}

int vkl_grid_entries(const vkl_grid *g) {
  return g->ne;
}

vkl_grid_entry vkl_grid_entry_at(const vkl_grid *g, int i) {
  const entry *e = &g->e[i];
  return (vkl_grid_entry){e->key, e->line, e->section < 0, e->nvalues, e->values};
}

const char *vkl_grid_name(const vkl_grid *g) {
  return g->name;
}

/* ---- expansion ----------------------------------------------------------- */

typedef struct expansion {
  const vkl_grid *g;
  uint32_t seeds;
  const char *assigned[VKL_GRID_MAX_KEYS]; /* NULL: the key is not set */
  vkl_sweep_run *runs;
  size_t n, cap;
  char *err;
  size_t errlen;
} expansion;

static int section_matches(const expansion *x, const section *s) {
  for (int c = 0; c < s->ncond; c++)
    if (!x->assigned[s->corder[c]] || !same_value(x->assigned[s->corder[c]], s->cvalue[c]))
      return 0;
  return 1;
}

/* The entry that decides key k's values for the keys assigned so far: the
 * matching conditional section's, else the grid's; NULL: k is not set. */
static vkl_status entry_for(const expansion *x, int k, const entry **out) {
  const vkl_grid *g = x->g;
  const entry *found = NULL;
  for (int i = 0; i < g->ne; i++) {
    const entry *e = &g->e[i];
    if (e->section <= 0 || strcmp(e->key, g->order[k]) != 0 ||
        !section_matches(x, &g->sec[e->section]))
      continue;
    if (found) {
      snprintf(x->err, x->errlen,
               "%s:%d: key '%s' is set for the same runs by line %d too; make the sections' "
               "conditions exclusive",
               g->name, e->line, e->key, found->line);
      return VKL_ERR_INVALID_ARGUMENT;
    }
    found = e;
  }
  *out = found ? found : find_entry(g, 0, g->order[k]);
  return VKL_OK;
}

static vkl_status out_of_memory(expansion *x) {
  snprintf(x->err, x->errlen, "%s: out of host memory", x->g->name);
  return VKL_ERR_OUT_OF_HOST_MEMORY;
}

static int set_value(vkl_sweep_run *r, const char *key, const char *value) {
  r->key[r->n] = strdup(key);
  r->value[r->n] = strdup(value);
  return r->key[r->n] && r->value[r->n++];
}

/* One run with the assigned keys, and seed = seed when seed is not NULL. */
static vkl_status add_run(expansion *x, const char *seed) {
  if (x->n == VKL_GRID_MAX_RUNS) {
    snprintf(x->err, x->errlen, "%s: the grid has more than %d runs", x->g->name,
             VKL_GRID_MAX_RUNS);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  if (x->n == x->cap) {
    size_t cap = x->cap ? 2 * x->cap : 16;
    vkl_sweep_run *p = realloc(x->runs, cap * sizeof *p);
    if (!p) return out_of_memory(x);
    x->runs = p;
    x->cap = cap;
  }
  vkl_sweep_run *r = &x->runs[x->n++];
  memset(r, 0, sizeof *r);
  for (int k = 0; k < x->g->norder; k++)
    if (x->assigned[k] && !set_value(r, x->g->order[k], x->assigned[k])) return out_of_memory(x);
  if (seed && !set_value(r, "seed", seed)) return out_of_memory(x);
  return VKL_OK;
}

static vkl_status expand_from(expansion *x, int k) {
  vkl_status st;
  if (k == x->g->norder) {
    if (!x->seeds) return add_run(x, NULL);
    for (uint32_t s = 1; s <= x->seeds; s++) {
      char seed[16];
      snprintf(seed, sizeof seed, "%u", s);
      if ((st = add_run(x, seed))) return st;
    }
    return VKL_OK;
  }
  const entry *e;
  if ((st = entry_for(x, k, &e))) return st;
  if (!e) {
    x->assigned[k] = NULL;
    return expand_from(x, k + 1);
  }
  for (int v = 0; v < e->nvalues; v++) {
    x->assigned[k] = e->values[v];
    if ((st = expand_from(x, k + 1))) return st;
  }
  return VKL_OK;
}

/* A key varies when two runs differ in it (a value or its absence). */
static int key_varies(const vkl_sweep_run *runs, size_t n, const char *key) {
  const char *first = NULL;
  for (size_t i = 0; i < n; i++) {
    const char *v = NULL;
    for (int j = 0; j < runs[i].n; j++)
      if (strcmp(runs[i].key[j], key) == 0) v = runs[i].value[j];
    if (i == 0)
      first = v;
    else if ((v == NULL) != (first == NULL) || (v && strcmp(v, first) != 0))
      return 1;
  }
  return 0;
}

static void append_sanitized(char *dst, size_t cap, const char *s) {
  size_t len = strlen(dst);
  for (; *s && len + 1 < cap; s++) {
    char c = *s;
    int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == '+';
    dst[len++] = keep ? c : '_';
  }
  dst[len] = '\0';
}

static uint32_t fnv1a(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

/* "key-value_key-value" over the varying keys; a long name keeps its start
 * and gains a hash of the whole, so it stays unique and fits a file name. */
static void name_run(vkl_sweep_run *r, const char *const *varying, int nvarying) {
  char full[4096] = "";
  for (int i = 0; i < nvarying; i++)
    for (int j = 0; j < r->n; j++)
      if (strcmp(r->key[j], varying[i]) == 0) {
        if (full[0]) append_sanitized(full, sizeof full, "_");
        append_sanitized(full, sizeof full, r->key[j]);
        append_sanitized(full, sizeof full, "-");
        append_sanitized(full, sizeof full, r->value[j]);
      }
  if (!full[0]) snprintf(full, sizeof full, "run");
  if (strlen(full) < VKL_SWEEP_RUN_NAME)
    snprintf(r->name, sizeof r->name, "%s", full);
  else
    snprintf(r->name, sizeof r->name, "%.*s-%08x", VKL_SWEEP_RUN_NAME - 10, full, fnv1a(full));
}

static vkl_status name_runs(const vkl_grid *g, vkl_sweep_run *runs, size_t n, uint32_t seeds,
                            char *err, size_t errlen) {
  const char *varying[VKL_GRID_MAX_KEYS + 1];
  int nv = 0;
  for (int k = 0; k < g->norder; k++)
    if (key_varies(runs, n, g->order[k])) varying[nv++] = g->order[k];
  if (seeds > 1) varying[nv++] = "seed";
  for (size_t i = 0; i < n; i++) name_run(&runs[i], varying, nv);
  for (size_t i = 0; i < n; i++) /* sanitizing may map two runs onto one name */
    for (size_t j = i + 1; j < n && n <= 20000; j++)
      if (strcmp(runs[i].name, runs[j].name) == 0) {
        snprintf(err, errlen, "%s: runs %zu and %zu would share the directory name %s", g->name,
                 i + 1, j + 1, runs[i].name);
        return VKL_ERR_INVALID_ARGUMENT;
      }
  return VKL_OK;
}

void vkl_sweep_runs_free(vkl_sweep_run *runs, size_t n) {
  for (size_t i = 0; runs && i < n; i++)
    for (int j = 0; j < runs[i].n; j++) {
      free(runs[i].key[j]);
      free(runs[i].value[j]);
    }
  free(runs);
}

vkl_status vkl_grid_expand(const vkl_grid *g, uint32_t seeds, vkl_sweep_run **runs, size_t *nruns,
                           char *err, size_t errlen) {
  *runs = NULL;
  *nruns = 0;
  if (seeds && order_index(g, "seed") >= 0) {
    snprintf(err, errlen, "%s: the grid sets seed; leave it out to use seeds", g->name);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  expansion x = {.g = g, .seeds = seeds, .err = err, .errlen = errlen};
  vkl_status st = expand_from(&x, 0);
  if (!st) st = name_runs(g, x.runs, x.n, seeds, err, errlen);
  if (st) {
    vkl_sweep_runs_free(x.runs, x.n);
    return st;
  }
  *runs = x.runs;
  *nruns = x.n;
  return VKL_OK;
}
