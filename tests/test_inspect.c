/* `vklars inspect CKPT|DIR`: a run's checkpoints with step, epoch,
 * options, run and integrity, the linked one marked, a corrupt one named
 * (exit 1), files older than the CRCs said to be unverifiable; and the
 * readers of a checkpoint a user names (--init) refusing a corrupt one, or
 * one of another shape with both shapes named. */
#include <cjson/cJSON.h>

#include "test_proc.h"
#include "train/checkpoint.h"

static char out[1 << 16];

static char *small_run(const char *tag, const char *extra) {
  char *dir = proc_temp_dir(tag), args[1024];
  snprintf(args, sizeof args,
           "train " TINY_RUN " --max-steps 6 --save-every 3 --keep 0 %s --out %s", extra, dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  return dir;
}

/* Flips a bit of the first tensor's data (fc1.weight: the weights
 * every reader loads). */
static void flip_first_tensor(const char *path) {
  FILE *f = fopen(path, "r+b");
  unsigned char l[8];
  cr_assert(f && fread(l, 1, 8, f) == 8);
  long at = 8 + 5;
  for (int i = 0; i < 8; i++) at += (long)l[i] << (8 * i);
  cr_assert(fseek(f, at, SEEK_SET) == 0);
  int c = fgetc(f);
  fseek(f, at, SEEK_SET);
  fputc(c ^ 0x40, f);
  fclose(f);
}

Test(inspect, lists_a_runs_checkpoints) {
  char *dir = small_run("insp", ""), args[512];
  snprintf(args, sizeof args, "inspect %s", dir);
  int rc = proc_run(args, out, sizeof out);
  cr_assert_eq(rc, 0, "%s", out);
  char want[512];
  snprintf(want, sizeof want, "%s: 2 checkpoints; checkpoint.safetensors -> ckpt-step6.safetensors",
           dir);
  cr_assert(strstr(out, want), "%s", out);
  const char *six = strstr(out, "ckpt-step6.safetensors (linked: --resume takes it)\n");
  const char *three = strstr(out, "ckpt-step3.safetensors\n");
  cr_assert(six && three && six < three, "newest first, the linked one marked: %s", out);
  cr_assert(strstr(six,
                   "  step 6: epoch 1, step 6 in it | mlp 1x8x8, 10 classes, width 16 | "
                   "lars, batch 32, seed 1 | run "),
            "%s", out);
  cr_assert(strstr(six, "  options: --opt lars --lr 0.1 --batch 32 --data synthetic"), "%s", out);
  cr_assert(strstr(six, "  integrity: ok (CRC32 of each of 12 tensors"), "%s", out);
  /* one file */
  snprintf(args, sizeof args, "inspect %s/ckpt-step3.safetensors", dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "  step 3: epoch 1, step 3 in it") && strstr(out, "integrity: ok"), "%s",
            out);
  free(dir);
}

Test(inspect, names_a_corrupt_checkpoint_and_fails) {
  char *dir = small_run("inspbad", ""), args[512], path[512];
  vkl_checkpoint_path(dir, 3, path, sizeof path);
  flip_first_tensor(path);
  snprintf(args, sizeof args, "inspect %s", dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 1, "%s", out);
  const char *three = strstr(out, "ckpt-step3.safetensors\n");
  cr_assert(
      three && strstr(three, "  integrity: CORRUPT: ") && strstr(three, "fails its CRC32 check"),
      "%s", out);
  cr_assert(strstr(out, "ckpt-step6.safetensors (linked") && strstr(out, "integrity: ok"), "%s",
            out);
  /* a header that does not read */
  cr_assert_eq(truncate(path, 5), 0);
  cr_assert_eq(proc_run(args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "  unreadable: ") && strstr(out, "truncated"), "%s", out);
  /* a link to a checkpoint that is gone */
  vkl_checkpoint_path(dir, 6, path, sizeof path);
  cr_assert_eq(unlink(path), 0);
  cr_assert_eq(proc_run(args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "the link's checkpoint ckpt-step6.safetensors is missing"), "%s", out);
  free(dir);
}

/* A checkpoint of a vklars before the CRCs (the keys removed by hand). */
Test(inspect, says_an_old_checkpoint_cannot_be_verified) {
  char *dir = small_run("inspold", ""), path[512], args[600];
  vkl_checkpoint_path(dir, 6, path, sizeof path);
  FILE *f = fopen(path, "rb");
  unsigned char l[8];
  cr_assert(f && fread(l, 1, 8, f) == 8);
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)l[i] << (8 * i);
  char *text = calloc(hl + 1, 1), data[1 << 16];
  cr_assert(fread(text, 1, hl, f) == hl);
  size_t nd = fread(data, 1, sizeof data, f);
  fclose(f);
  cJSON *root = cJSON_Parse(text);
  cJSON *md = cJSON_GetObjectItem(root, "__metadata__");
  cJSON_DeleteItemFromObject(md, "checksum");
  for (cJSON *e = md->child, *next; e; e = next) {
    next = e->next;
    if (strncmp(e->string, "crc32.", 6) == 0) cJSON_DeleteItemFromObject(md, e->string);
  }
  char *header = cJSON_PrintUnformatted(root);
  f = fopen(path, "wb");
  uint64_t len = strlen(header);
  for (int i = 0; i < 8; i++) l[i] = (unsigned char)(len >> (8 * i));
  fwrite(l, 1, 8, f);
  fputs(header, f);
  fwrite(data, 1, nd, f);
  fclose(f);
  cJSON_Delete(root);
  free(header);
  free(text);
  snprintf(args, sizeof args, "inspect %s", path);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "integrity: not verifiable: no CRC32s (written before vklars stored them)"),
            "%s", out);
  /* and it still resumes */
  snprintf(args, sizeof args, "train --resume %s --max-steps 8", path);
  cr_assert_eq(proc_run(args, out, sizeof out), 0, "%s", out);
  free(dir);
}

Test(inspect, usage_errors_exit_2) {
  const char *bad[] = {"inspect", "inspect a b", "inspect --frobnicate x"};
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(proc_run(bad[i], out, sizeof out), 2, "%s: %s", bad[i], out);
    cr_assert(strstr(out, "vklars: error: ") && strstr(out, "inspect --help"), "%s", out);
  }
  cr_assert_eq(proc_run("inspect /nonexistent/ckpt.safetensors", out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "/nonexistent/ckpt.safetensors") && strstr(out, "unreadable"), "%s", out);
}

Test(integrity, init_refuses_a_corrupt_checkpoint_and_names_both_shapes) {
  char *dir = small_run("init", ""), args[1024], path[512];
  vkl_checkpoint_path(dir, 6, path, sizeof path);
  /* another width: the first tensor's shapes, both */
  snprintf(args, sizeof args, "train " TINY_RUN " --width 8 --max-steps 1 --init %s --out %s.w8",
           path, dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out,
                   "tensor fc1.weight has shape [16, 64] in the checkpoint; the model's is "
                   "[8, 64]"),
            "%s", out);
  flip_first_tensor(path);
  snprintf(args, sizeof args, "train " TINY_RUN " --max-steps 1 --init %s --out %s.init", path,
           dir);
  cr_assert_eq(proc_run(args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, path) && strstr(out, "tensor fc1.weight (bytes") &&
                strstr(out, "fails its CRC32 check"),
            "%s", out);
  free(dir);
}
