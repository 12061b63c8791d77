/* vklars inspect CKPT|DIR: what a checkpoint, or each checkpoint of a run
 * directory, holds: step and position in the epoch, model, optimizer, the
 * options to resume with, the run that wrote it, and whether its bytes
 * pass their CRC32 check. Exits 1 when any listed file is unreadable or
 * corrupt (or the link is broken), so scripts can test a run before
 * resuming it. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "train/checkpoint.h"

/* The saved options, a JSON array of strings, as a command line. */
static void print_options(const char *argv_json) {
  cJSON *a = cJSON_Parse(argv_json);
  const cJSON *item;
  fputs("  options:", stdout);
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) == 0) fputs(" (none saved)", stdout);
  cJSON_ArrayForEach(item, a) {
    const char *v = cJSON_IsString(item) ? item->valuestring : "?";
    printf(strpbrk(v, " \t'\"") || !*v ? " '%s'" : " %s", v);
  }
  fputc('\n', stdout);
  cJSON_Delete(a);
}

static void print_position(const vkl_checkpoint_meta *m) {
  if (m->epoch_step == 0)
    printf("  step %llu: end of epoch %u", (unsigned long long)m->step, m->epoch);
  else
    printf("  step %llu: epoch %u, step %llu in it%s", (unsigned long long)m->step, m->epoch + 1,
           (unsigned long long)m->epoch_step, m->eval_pending ? ", its evaluation pending" : "");
  printf(" | %s %ux%ux%u, %u classes", m->model, m->in_c, m->in_h, m->in_w, m->classes);
  if (m->width) printf(", width %u", m->width);
  printf(" | %s, batch %u, seed %llu", m->optimizer[0] ? m->optimizer : "no optimizer state",
         m->batch, (unsigned long long)m->seed);
  printf(" | run %s | vklars %s\n", m->run_id[0] ? m->run_id : "(not recorded)",
         m->version[0] ? m->version : "?");
}

/* One checkpoint's block; 0 when it reads and passes its checks. */
static int show(const char *path, const char *title) {
  printf("%s\n", title);
  vkl_checkpoint_meta *meta = malloc(sizeof *meta);
  char err[1200];
  if (!meta) {
    printf("  unreadable: out of host memory\n");
    return 1;
  }
  int bad = vkl_checkpoint_read_meta(path, meta, err, sizeof err) != VKL_OK;
  if (bad) {
    printf("  unreadable: %s\n", err);
  } else {
    print_position(meta);
    print_options(meta->argv);
    vkl_checkpoint_integrity in;
    bad = vkl_checkpoint_verify(path, &in, err, sizeof err) != VKL_OK;
    if (bad)
      printf("  integrity: CORRUPT: %s\n", err);
    else if (in.has_crc)
      printf("  integrity: ok (CRC32 of each of %u tensors, %llu bytes)\n", in.tensors,
             (unsigned long long)in.data_bytes);
    else
      printf(
          "  integrity: not verifiable: no CRC32s (written before vklars stored them); the %u "
          "tensors' offsets are whole\n",
          in.tensors);
  }
  free(meta);
  return bad;
}

static int inspect_dir(const char *dir) {
  uint64_t *steps, linked = 0;
  size_t n;
  char err[1200];
  if (vkl_checkpoint_list(dir, &steps, &n, err, sizeof err)) {
    cli_error("inspect: %s", err);
    return VKL_EXIT_FAILURE;
  }
  int link = vkl_checkpoint_linked(dir, &linked, err, sizeof err), bad = link < 0;
  printf("%s: %zu checkpoint%s; ", dir, n, n == 1 ? "" : "s");
  if (link > 0)
    printf(VKL_CKPT_LINK " -> ckpt-step%llu.safetensors\n", (unsigned long long)linked);
  else
    printf("%s\n", link < 0 ? err : "no " VKL_CKPT_LINK " link");
  int present = 0;
  for (size_t i = 0; i < n; i++) {
    char path[1200], title[1300];
    vkl_checkpoint_path(dir, steps[i], path, sizeof path);
    int is_linked = link > 0 && steps[i] == linked;
    present |= is_linked;
    snprintf(title, sizeof title, "%s%s", strrchr(path, '/') + 1,
             is_linked ? " (linked: --resume takes it)" : "");
    bad |= show(path, title);
  }
  if (link > 0 && !present) {
    printf("the link's checkpoint ckpt-step%llu.safetensors is missing\n",
           (unsigned long long)linked);
    bad = 1;
  }
  free(steps);
  return bad ? VKL_EXIT_FAILURE : VKL_EXIT_OK;
}

int cmd_inspect(int argc, char **argv) {
  const char *pos[1];
  int help = 0, npos = 0;
  int rc = cli_parse("inspect", argc, argv, NULL, 0, pos, 1, &npos, &help);
  if (rc) return rc;
  if (help) {
    cli_print_help("inspect", "CKPT|DIR",
                   "Lists a checkpoint, or every checkpoint of a run directory (newest first,\n"
                   "the one checkpoint.safetensors links marked): step, epoch, model,\n"
                   "optimizer, options, the run that wrote it, and its integrity (each\n"
                   "tensor's CRC32). Exits 1 when one is unreadable or corrupt.",
                   NULL, 0);
    return VKL_EXIT_OK;
  }
  if (npos != 1) return cli_usage_error("inspect", "name a checkpoint or a run directory");
  struct stat sb;
  if (stat(pos[0], &sb) == 0 && S_ISDIR(sb.st_mode)) return inspect_dir(pos[0]);
  return show(pos[0], pos[0]) ? VKL_EXIT_FAILURE : VKL_EXIT_OK;
}
