/* vklars sweep GRID.ini | --preset NAME: runs the product of a grid of train
 * options (src/sweep/grid.h), resumably, and tabulates the results. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/sweep_runner.h"
#include "cli/train_command.h"
#include "sweep/presets.h"
#include "train/atomic_file.h"

static const char *help_text =
    "Runs every combination of a grid of train (or pretrain) options, one run\n"
    "after another (with --devices, one per device at a time), each in its own\n"
    "directory OUT/runs/<settings>. Rerunning the same command continues: a\n"
    "finished run is skipped, one cut off resumes from its checkpoint, one that\n"
    "failed stays recorded with its error (--retry-failed runs it again).\n"
    "Ctrl-C stops every run with a checkpoint. After each run OUT/results.csv\n"
    "(one row per run) and OUT/results.md (best lr per optimizer and batch,\n"
    "mean +- std over seeds) are rewritten. Exit status 1 when a run failed.\n"
    "\n"
    "The grid is an INI file; its keys are train options without the dashes:\n"
    "  [sweep]\n"
    "  command = train          (or pretrain)\n"
    "  seeds = 2                (as --seeds)\n"
    "  target = 0.85            (as --target)\n"
    "  [grid]\n"
    "  model = cnn\n"
    "  opt = tvlars, lars, lamb  a list: one run per value\n"
    "  lambda = 1e-4..1e-2 *10   a range (+S adds S, *F multiplies by F)\n"
    "  batch = 1024, 4096\n"
    "  [batch=4096]              keys for the runs whose batch is 4096\n"
    "  lr = 12, 16, 20\n"
    "Presets (--preset): see --list-presets.";

typedef struct sweep_args {
  const char *preset, *out, *seeds, *devices, *target, *command;
  int dry_run, retry_failed, list_presets, help;
} sweep_args;

static int parse_target(const char *text, double *out) {
  if (!text) return 0;
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  int pct = *end == '%';
  if (pct) end++;
  if (end == text || *end || errno || !(v > 0)) goto bad;
  if (pct || v > 1) v /= 100;
  if (v > 1) goto bad;
  *out = v;
  return 0;
bad:
  return cli_usage_error("sweep", "--target wants an accuracy like 0.85 or 85%%, not '%s'", text);
}

/* The keys the sweep itself sets for each run, or that make no sense in a
 * grid. */
static const char *reserved(const char *key) {
  static const char *const names[][2] = {
      {"out", "each run's directory is the sweep's choice (use --out for the sweep)"},
      {"resume", "the sweep resumes its runs itself"},
      {"config", "put the file's keys in the grid"},
      {"device", "use the sweep's --devices"},
      {"force", "the sweep replaces a run only when it has no checkpoint"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(key, names[i][0]) == 0) return names[i][1];
  return NULL;
}

static int is_bool(const char *v) {
  static const char *const names[] = {"true", "false", "yes", "no", "1", "0"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(v, names[i]) == 0) return 1;
  return 0;
}

/* Every key of the grid is an option of the command, every flag's value a
 * boolean, every [sweep] key known. flags gets the flag keys. */
static int check_keys(const vkl_grid *g, const char *cmd, const char **flags, int max_flags) {
  train_command *tc = malloc(sizeof *tc);
  if (!tc) {
    cli_error("sweep: out of host memory");
    return VKL_EXIT_FAILURE;
  }
  int n = train_command_table(tc, cmd), nflags = 0, rc = 0;
  for (int i = 0; i < vkl_grid_entries(g) && !rc; i++) {
    vkl_grid_entry e = vkl_grid_entry_at(g, i);
    if (e.sweep) {
      if (strcmp(e.key, "command") && strcmp(e.key, "seeds") && strcmp(e.key, "target"))
        rc = cli_usage_error("sweep", "%s:%d: [sweep] knows command, seeds and target, not '%s'",
                             vkl_grid_name(g), e.line, e.key);
      continue;
    }
    const char *why = reserved(e.key);
    if (why) {
      rc = cli_usage_error("sweep", "%s:%d: key '%s' has no place in a grid: %s",
                           vkl_grid_name(g), e.line, e.key, why);
      break;
    }
    char opt[128];
    snprintf(opt, sizeof opt, "--%s", e.key);
    const cli_opt *o = NULL;
    for (int k = 0; k < n && !o; k++)
      if (strcmp(tc->opts[k].name, opt) == 0) o = &tc->opts[k];
    if (!o) {
      rc = cli_usage_error("sweep", "%s:%d: key '%s' is not an option of vklars %s",
                           vkl_grid_name(g), e.line, e.key, cmd);
      break;
    }
    if (o->metavar) continue;
    for (int v = 0; v < e.nvalues && !rc; v++)
      if (!is_bool(e.values[v]))
        rc = cli_usage_error("sweep", "%s:%d: key '%s' is a flag: true or false, not '%s'",
                             vkl_grid_name(g), e.line, e.key, e.values[v]);
    if (nflags < max_flags - 1) flags[nflags++] = o->name + 2;
  }
  flags[nflags] = NULL;
  free(tc);
  return rc;
}

/* --devices 0,1 or names: one slot each. */
static int parse_devices(char *list, sweep_plan *p) {
  if (!list) return 0;
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    if (!*tok) continue;
    if (p->ndevices == SWEEP_MAX_DEVICES)
      return cli_usage_error("sweep", "--devices lists more than %d devices", SWEEP_MAX_DEVICES);
    p->devices[p->ndevices++] = tok;
  }
  return p->ndevices ? 0 : cli_usage_error("sweep", "--devices is empty");
}

static int mkdir_p(const char *path) {
  char buf[VKL_PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *s = buf + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
    *s = '/';
  }
  return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* OUT/grid.ini: the grid this start uses, for the record; a grid that
 * changed since the last start is said (runs are matched by settings). */
static int save_grid(const char *dir, const char *text) {
  char path[VKL_PATH_MAX], err[1200];
  snprintf(path, sizeof path, "%s/grid.ini", dir);
  FILE *f = fopen(path, "r");
  if (f) {
    char *old = calloc(1, 1 << 20);
    if (old && fread(old, 1, (1 << 20) - 1, f) == 0 && ferror(f)) old[0] = '\0';
    fclose(f);
    if (old && strcmp(old, text) != 0)
      cli_note("sweep: the grid differs from %s's (the last start's); runs are matched by their "
               "settings, and grid.ini now holds this one",
               dir);
    free(old);
  }
  vkl_atomic_file a;
  if (vkl_atomic_begin(&a, path, err, sizeof err)) {
    cli_error("sweep: %s", err);
    return 1;
  }
  vkl_atomic_write(&a, text, strlen(text));
  if (vkl_atomic_commit(&a, NULL, err, sizeof err)) {
    cli_error("sweep: %s", err);
    return 1;
  }
  return 0;
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char *buf = calloc(1, 1 << 20);
  if (buf && fread(buf, 1, (1 << 20) - 1, f) == 0 && ferror(f)) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  return buf;
}

static void list_presets(void) {
  for (int i = 0; i < vkl_sweep_preset_count(); i++) {
    const vkl_sweep_preset *p = vkl_sweep_preset_at(i);
    printf("%-20s %s\n", p->name, p->summary);
  }
}

static int is_true(const char *v) {
  return strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0;
}

/* Each run's name and the command line the sweep would give it. */
static void print_dry_run(const sweep_plan *p, const char *const *flags) {
  for (size_t i = 0; i < p->n; i++) {
    const vkl_sweep_run *r = &p->runs[i];
    printf("%s: vklars %s", r->name, p->command);
    for (int k = 0; k < r->n; k++) {
      int flag = 0;
      for (const char *const *f = flags; *f; f++) flag |= strcmp(*f, r->key[k]) == 0;
      if (!flag)
        printf(" --%s %s", r->key[k], r->value[k]);
      else if (is_true(r->value[k]))
        printf(" --%s", r->key[k]);
    }
    printf(" --out %s/runs/%s\n", p->dir, r->name);
  }
}

int cmd_sweep(int argc, char **argv) {
  sweep_args a = {0};
  const cli_opt opts[] = {
      {"--preset", NULL, "NAME", "a built-in grid instead of GRID.ini (see --list-presets)",
       &a.preset, NULL},
      {"--out", NULL, "DIR", "the sweep's directory (default sweeps/<grid or preset name>)", &a.out,
       NULL},
      {"--seeds", NULL, "N", "run each setting with seeds 1..N", &a.seeds, NULL},
      {"--devices", NULL, "LIST", "run in parallel, one run per device: 0,1 or names", &a.devices,
       NULL},
      {"--target", NULL, "ACC", "report the first epoch at this test top-1 (0.85 or 85%)",
       &a.target, NULL},
      {"--retry-failed", NULL, NULL, "run the failed runs again", NULL, &a.retry_failed},
      {"--dry-run", NULL, NULL, "print the runs and the cost, run nothing", NULL, &a.dry_run},
      {"--list-presets", NULL, NULL, "list the presets and exit", NULL, &a.list_presets},
  };
  int nopts = (int)(sizeof opts / sizeof opts[0]);
  const char *pos[1] = {NULL};
  int npos = 0;
  int rc = cli_parse("sweep", argc, argv, opts, nopts, pos, 1, &npos, &a.help);
  if (rc) return rc;
  if (a.help) {
    cli_print_help("sweep", "GRID.ini | --preset NAME [options]", help_text, opts, nopts);
    return 0;
  }
  if (a.list_presets) {
    list_presets();
    return 0;
  }
  if (!!pos[0] == !!a.preset)
    return cli_usage_error("sweep", "give a grid file or --preset NAME (one of them)");
  const vkl_sweep_preset *preset = NULL;
  if (a.preset && !(preset = vkl_sweep_preset_find(a.preset))) {
    cli_error("sweep: no preset '%s'; the presets are:", a.preset);
    list_presets();
    return VKL_EXIT_USAGE;
  }
  char *text = preset ? strdup(preset->grid) : read_all(pos[0]);
  vkl_grid *g = NULL;
  char err[1200];
  vkl_status st;
  if (!text)
    st = vkl_grid_load(pos[0], &g, err, sizeof err); /* says why it cannot be read */
  else
    st = vkl_grid_parse(text, preset ? preset->name : pos[0], &g, err, sizeof err);
  if (st) {
    free(text);
    return cli_status_error("sweep", st, err);
  }
  const char *cmd = a.command = vkl_grid_sweep_setting(g, "command");
  if (!cmd) cmd = "train";
  if (strcmp(cmd, "train") != 0 && strcmp(cmd, "pretrain") != 0) {
    rc = cli_usage_error("sweep", "%s: command is train or pretrain, not '%s'", vkl_grid_name(g),
                         cmd);
    goto done;
  }
  const char *flags[VKL_GRID_MAX_KEYS + 1];
  if ((rc = check_keys(g, cmd, flags, VKL_GRID_MAX_KEYS + 1))) goto done;
  uint64_t seeds = 0;
  const char *seeds_text = a.seeds ? a.seeds : vkl_grid_sweep_setting(g, "seeds");
  double target = 0;
  const char *target_text = a.target ? a.target : vkl_grid_sweep_setting(g, "target");
  if ((rc = cli_parse_uint("sweep", "--seeds", seeds_text, 1, 1000, &seeds)) ||
      (rc = parse_target(target_text, &target)))
    goto done;
  vkl_sweep_run *runs = NULL;
  size_t n = 0;
  if ((st = vkl_grid_expand(g, (uint32_t)seeds, &runs, &n, err, sizeof err))) {
    rc = cli_status_error("sweep", st, err);
    goto done;
  }
  char out[VKL_PATH_MAX - 200], again[2 * VKL_PATH_MAX];
  if (a.out) {
    snprintf(out, sizeof out, "%s", a.out);
  } else {
    const char *base = preset ? preset->name : strrchr(pos[0], '/') ? strrchr(pos[0], '/') + 1 : pos[0];
    snprintf(out, sizeof out, "sweeps/%.*s", (int)strcspn(base, "."), base);
  }
  snprintf(again, sizeof again, "vklars sweep %s%s --out %s%s%s%s%s", preset ? "--preset " : "",
           preset ? preset->name : pos[0], out, a.seeds ? " --seeds " : "", a.seeds ? a.seeds : "",
           a.devices ? " --devices " : "", a.devices ? a.devices : "");
  char *devices = a.devices ? strdup(a.devices) : NULL;
  sweep_plan plan = {.command = cmd, .dir = out, .runs = runs, .n = n, .flags = flags,
                     .target = target, .retry_failed = a.retry_failed, .again = again};
  if ((rc = parse_devices(devices, &plan))) goto free_runs;
  printf("sweep: %zu run%s of vklars %s in %s%s\n", n, n == 1 ? "" : "s", cmd, out,
         plan.ndevices ? "" : ", one after another");
  if (preset) printf("sweep: cost: %s\n", preset->cost);
  if (a.dry_run) {
    print_dry_run(&plan, flags);
    goto free_runs;
  }
  char runs_dir[VKL_PATH_MAX];
  snprintf(runs_dir, sizeof runs_dir, "%s/runs", out);
  if (mkdir_p(runs_dir) != 0) {
    cli_error("sweep: cannot create %s: %s", runs_dir, strerror(errno));
    rc = VKL_EXIT_FAILURE;
    goto free_runs;
  }
  if (save_grid(out, text ? text : "")) {
    rc = VKL_EXIT_FAILURE;
    goto free_runs;
  }
  rc = sweep_execute(&plan);
free_runs:
  free(devices);
  vkl_sweep_runs_free(runs, n);
done:
  vkl_grid_destroy(g);
  free(text);
  return rc;
}
