/* Options of a resumed run (see resume_args.h). */
#include "cli/resume_args.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/checkpoint.h"
#include "train/rundir_lock.h"

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

/* Appends a line to notes. */
static void note(char *notes, size_t n, const char *line) {
  size_t len = strlen(notes);
  if (len < n) snprintf(notes + len, n - len, "%s\n", line);
}

/* Whether path is a checkpoint to resume from: its metadata reads and its
 * tensors pass their CRC check; else why. */
static int resumable(const char *path, vkl_checkpoint_meta *meta, char *why, size_t n) {
  vkl_checkpoint_integrity in;
  return vkl_checkpoint_read_meta(path, meta, why, n) == VKL_OK &&
         vkl_checkpoint_verify(path, &in, why, n) == VKL_OK;
}

/* The steps to try in dir, in order: the linked one, then those older
 * than it, newest first (no usable link: all, newest first). */
static int candidates(const char *dir, uint64_t **steps, size_t *n, char *notes, size_t noteslen,
                      char *err, size_t errlen) {
  if (vkl_checkpoint_list(dir, steps, n, err, errlen)) return 1;
  char why[600];
  uint64_t linked;
  int link = vkl_checkpoint_linked(dir, &linked, why, sizeof why);
  if (link < 0) note(notes, noteslen, why);
  if (link == 0 && *n) {
    snprintf(why, sizeof why,
             "%s has no " VKL_CKPT_LINK " link: trying its checkpoints newest first", dir);
    note(notes, noteslen, why);
  }
  if (link <= 0) return 0;
  size_t k = 0;
  int present = 0;
  for (size_t i = 0; i < *n; i++) present |= (*steps)[i] == linked;
  if (!present) {
    snprintf(why, sizeof why,
             "%s/" VKL_CKPT_LINK " points at ckpt-step%llu.safetensors, which is missing", dir,
             (unsigned long long)linked);
    note(notes, noteslen, why);
  }
  if (present) (*steps)[k++] = linked;
  for (size_t i = 0; i < *n; i++)
    if ((*steps)[i] < linked) (*steps)[k++] = (*steps)[i]; /* still newest first */
  *n = k;
  return 0;
}

static int find_in_dir(const char *dir, char *path, size_t pathlen, char *notes, size_t noteslen,
                       char *err, size_t errlen) {
  uint64_t *steps;
  size_t n;
  if (candidates(dir, &steps, &n, notes, noteslen, err, errlen)) return 1;
  vkl_checkpoint_meta *meta = malloc(sizeof *meta);
  char why[1200] = "", line[2400];
  int found = 0;
  for (size_t i = 0; meta && i < n && !found; i++) {
    vkl_checkpoint_path(dir, steps[i], path, pathlen);
    found = resumable(path, meta, why, sizeof why);
    if (!found) {
      snprintf(line, sizeof line, "skipping a checkpoint that does not read: %s", why);
      note(notes, noteslen, line);
    }
  }
  free(meta);
  free(steps);
  if (!found && n == 0)
    snprintf(err, errlen, "%s holds no checkpoint (ckpt-step<N>.safetensors) to resume from", dir);
  else if (!found)
    snprintf(err, errlen, "no checkpoint of %s reads; the last problem: %s", dir, why);
  return !found;
}

/* ARG a checkpoint file: it, in its directory (the link stands for the
 * checkpoint it points at, so messages name that one). */
static int find_file(const char *arg, char *path, size_t pathlen, const char *dir, char *err,
                     size_t errlen) {
  const char *slash = strrchr(arg, '/');
  uint64_t step;
  char why[1200];
  if (strcmp(slash ? slash + 1 : arg, VKL_CKPT_LINK) == 0 &&
      vkl_checkpoint_linked(dir, &step, why, sizeof why) == 1)
    vkl_checkpoint_path(dir, step, path, pathlen);
  else
    snprintf(path, pathlen, "%s", arg);
  vkl_checkpoint_meta *meta = malloc(sizeof *meta);
  int ok = meta && resumable(path, meta, why, sizeof why);
  free(meta);
  if (!ok) snprintf(err, errlen, "cannot resume from %s: %s", path, meta ? why : "out of memory");
  return !ok;
}

/* The directory of a checkpoint file ARG ("." for a bare name). */
static void dir_of(const char *arg, char *dir, size_t dirlen) {
  const char *slash = strrchr(arg, '/');
  if (slash)
    snprintf(dir, dirlen, "%.*s", slash == arg ? 1 : (int)(slash - arg), arg);
  else
    snprintf(dir, dirlen, ".");
}

/* Whether --resume ARG names a checkpoint file (else a run directory). */
static int names_a_file(const char *arg) {
  struct stat sb;
  size_t n = strlen(arg), ls = strlen(".safetensors");
  return stat(arg, &sb) == 0 ? !S_ISDIR(sb.st_mode)
                             : n > ls && strcmp(arg + n - ls, ".safetensors") == 0;
}

void resume_run_dir(const char *arg, char *dir, size_t dirlen) {
  if (names_a_file(arg))
    dir_of(arg, dir, dirlen);
  else
    snprintf(dir, dirlen, "%s", arg);
}

int resume_find_checkpoint(const char *arg, const char *dir, char *path, size_t pathlen,
                           char *notes, size_t noteslen, char *err, size_t errlen) {
  notes[0] = '\0';
  /* a run going on there may be pruning what would be read: say so first */
  if (vkl_rundir_lock_check(dir, err, errlen)) return 1;
  return names_a_file(arg) ? find_file(arg, path, pathlen, dir, err, errlen)
                           : find_in_dir(dir, path, pathlen, notes, noteslen, err, errlen);
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
