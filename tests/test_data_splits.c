/* `vklars train` on hostile data sets, as a process: a test split whose
 * images differ in shape from the train split's is refused (IDX) or
 * resized to the train split's (image folders) instead of overflowing the
 * staging slots; and --skip-bad-images skips a PNG whose data is corrupt
 * when the loader decodes it, printing and recording the count in
 * run.json. Each run is tiny (an MLP of width 16, batch 8, one epoch)
 * and runs with the validation layer: any message fails the test. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_tree.h"
#include "test_util.h"

/* implemented in tests/stb_image_write.c */
#include <stb_image_write.h>

#define TINY_RUN "--model mlp --width 16 --batch 8 --epochs 1 --threads 2 --no-augment"

static void setup(void) {
  test_tree_setup("vklars-splits-");
}

TestSuite(splits, .init = setup, .fini = test_tree_teardown);

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot read %s", path);
  char *t = calloc(1, 1 << 16);
  size_t n = fread(t, 1, (1 << 16) - 1, f);
  t[n] = '\0';
  fclose(f);
  return t;
}

typedef struct run_result {
  int code;
  char *out; /* stdout and stderr together */
} run_result;

/* Runs `vklars train <args>`, with the validation layer when the tests
 * have it; its messages are printed and fail the test. A run killed by a
 * signal, or still running after a minute (memory overwritten past the
 * staging slots made one spin), fails. */
static run_result train(const char *args) {
  char log[1100], cmd[4096];
  snprintf(log, sizeof log, "%s/log.txt", test_tree_root);
  snprintf(cmd, sizeof cmd,
           "VKLARS_VALIDATION=%d VKLARS_VALIDATION_PRINT=1 timeout -s KILL 60 '%s' train %s "
           ">'%s' 2>&1",
           VKLARS_TEST_VALIDATION, VKLARS_EXE, args, log);
  int status = system(cmd);
  cr_assert(WIFEXITED(status), "the shell running vklars train %s was killed", args);
  run_result r = {WEXITSTATUS(status), read_text(log)};
  cr_assert(r.code < 124, "vklars train %s: exit %d (124 or more: timed out or a signal): %s", args,
            r.code, r.out);
  cr_assert(!strstr(r.out, "vklars: validation:"), "a validation message: %s", r.out);
  return r;
}

/* An IDX file (big-endian magic and dims, then the bytes). */
static void write_idx(const char *path, uint32_t magic, const uint32_t *dims, int ndims,
                      const uint8_t *data, size_t n) {
  size_t len = 4 + 4 * (size_t)ndims + n;
  uint8_t *b = malloc(len);
  uint32_t words[4] = {magic, dims[0], ndims > 1 ? dims[1] : 0, ndims > 2 ? dims[2] : 0};
  for (int w = 0; w <= ndims; w++)
    for (int k = 0; k < 4; k++) b[4 * w + k] = (uint8_t)(words[w] >> (24 - 8 * k));
  memcpy(b + 4 + 4 * ndims, data, n);
  write_bytes(path, b, len);
  free(b);
}

/* An MNIST-layout split of n images of h x w, labels i % 10. */
static void write_mnist_split(const char *prefix, uint32_t n, uint32_t h, uint32_t w) {
  uint8_t *px = malloc((size_t)n * h * w), *lab = malloc(n);
  for (size_t i = 0; i < (size_t)n * h * w; i++) px[i] = (uint8_t)(i * 37);
  for (uint32_t i = 0; i < n; i++) lab[i] = (uint8_t)(i % 10);
  uint32_t idims[3] = {n, h, w};
  write_idx(P("mnist/%s-images-idx3-ubyte", prefix), 0x803, idims, 3, px, (size_t)n * h * w);
  write_idx(P("mnist/%s-labels-idx1-ubyte", prefix), 0x801, idims, 1, lab, n);
  free(px);
  free(lab);
}

/* Before: the test split's 784 floats per sample went into slots of 1,
 * SIGSEGV or a heap-buffer-overflow under ASan. */
Test(splits, an_idx_test_split_of_another_shape_is_refused) {
  mkdirs(P("mnist"));
  write_mnist_split("train", 16, 1, 1);
  write_mnist_split("t10k", 8, 28, 28);
  char args[2048];
  snprintf(args, sizeof args, "--data mnist --data-dir %s " TINY_RUN " --out %s", P("mnist"),
           P("run"));
  run_result r = train(args);
  cr_assert_eq(r.code, 1, "exit %d: %s", r.code, r.out);
  cr_assert(strstr(r.out, "vklars: error: ") &&
                strstr(r.out, "its images are 1x28x28, the train split's 1x1x1"),
            "%s", r.out);
  free(r.out);
}

/* A grey w x h PNG, uniform value v. */
static void write_grey_png(const char *path, int w, int h, int v) {
  uint8_t *px = malloc((size_t)w * h);
  for (int i = 0; i < w * h; i++) px[i] = (uint8_t)(v + (i % w) * 3);
  cr_assert(stbi_write_png(path, w, h, 1, px, w), "writing %s", path);
  free(px);
}

/* train/{a,b}/ with 8 images of 8x8 each; val/{a,b}/ with 4 of side `val_side` each. */
static void write_folder(int val_side) {
  for (int k = 0; k < 2; k++) {
    const char *cls = k ? "b" : "a";
    mkdirs(P("f/train/%s", cls));
    mkdirs(P("f/val/%s", cls));
    for (int i = 0; i < 8; i++)
      write_grey_png(P("f/train/%s/%02d.png", cls, i), 8, 8, 40 + 120 * k);
    for (int i = 0; i < 4; i++)
      write_grey_png(P("f/val/%s/%02d.png", cls, i), val_side, val_side, 40 + 120 * k);
  }
}

/* The last line of epochs.csv: test loss and the test image count. */
static void last_epoch(const char *run, double *test_loss, long *test_images) {
  char path[1100];
  snprintf(path, sizeof path, "%s/epochs.csv", run);
  char *t = read_text(path), *line = strrchr(t, '\n');
  while (line && line > t && line[-1] != '\n') line--;
  cr_assert(line && line > t, "no epoch row in %s", t);
  double f[7];
  cr_assert_eq(
      sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf,%lf", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6]),
      7, "row: %s", line);
  *test_loss = f[3];
  *test_images = (long)f[6];
  free(t);
}

/* Before: val/'s 48x48 images were written into slots sized for 8x8. */
Test(splits, folder_val_images_of_another_size_are_resized_to_the_train_split) {
  write_folder(48);
  char args[2048];
  snprintf(args, sizeof args, "--data folder --data-dir %s " TINY_RUN " --out %s", P("f"),
           P("run"));
  run_result r = train(args);
  cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.out);
  double loss;
  long images;
  last_epoch(P("run"), &loss, &images);
  cr_assert_eq(images, 8);
  cr_assert(isfinite(loss) && loss > 0, "test loss %g", loss);
  free(r.out);
}

/* run.json's data.skipped_images */
static int skipped_in_run_json(const char *run) {
  char path[1100];
  snprintf(path, sizeof path, "%s/run.json", run);
  char *t = read_text(path);
  cJSON *j = cJSON_Parse(t);
  cr_assert(j, "run.json does not parse: %s", t);
  cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "skipped_images");
  cr_assert(cJSON_IsNumber(n), "no data.skipped_images in %s", t);
  int v = n->valueint;
  cJSON_Delete(j);
  free(t);
  return v;
}

/* Before: --skip-bad-images skipped only what the header check at open
 * found; a PNG whose header reads but whose data is corrupt stopped the
 * run in the loader. */
Test(splits, a_corrupt_png_is_skipped_at_decode_time_and_counted) {
  write_folder(8);
  /* header (signature, IHDR) whole, image data cut short */
  char *good = read_text(P("f/train/a/04.png"));
  write_bytes(P("f/train/a/03.png"), good, 48);
  write_bytes(P("f/val/b/01.png"), good, 48);
  free(good);
  char args[2048];
  snprintf(args, sizeof args, "--data folder --data-dir %s " TINY_RUN " --out %s", P("f"),
           P("strict"));
  run_result r = train(args);
  cr_assert_eq(r.code, 1, "exit %d: %s", r.code, r.out);
  cr_assert(strstr(r.out, P("f/train/a/03.png")) && strstr(r.out, "sample") &&
                strstr(r.out, "corrupt PNG image data"),
            "%s", r.out);
  free(r.out);
  snprintf(args, sizeof args, "--data folder --data-dir %s " TINY_RUN " --skip-bad-images --out %s",
           P("f"), P("skip"));
  r = train(args);
  cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.out);
  cr_assert(strstr(r.out, "skipped bad image ") && strstr(r.out, P("f/train/a/03.png")) &&
                strstr(r.out, P("f/val/b/01.png")) && strstr(r.out, "(2 so far)"),
            "%s", r.out);
  cr_assert_eq(skipped_in_run_json(P("skip")), 2);
  double loss;
  long images;
  last_epoch(P("skip"), &loss, &images);
  cr_assert_eq(images, 8, "the test split keeps its count: a substitute stands in");
  free(r.out);
}

/* A resumed run adds the images it skips to the run's record: run.json's
 * data.skipped is the union over both invocations, each file once. */
Test(splits, a_resumed_run_adds_its_skipped_images_to_run_json) {
  write_folder(8);
  char *good = read_text(P("f/train/a/04.png"));
  write_bytes(P("f/train/a/03.png"), good, 48);
  char args[2048];
  snprintf(args, sizeof args, "--data folder --data-dir %s " TINY_RUN " --skip-bad-images --out %s",
           P("f"), P("run"));
  run_result r = train(args);
  cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.out);
  free(r.out);
  cr_assert_eq(skipped_in_run_json(P("run")), 1);
  write_bytes(P("f/train/b/02.png"), good, 48); /* found by the resumed run only */
  free(good);
  snprintf(args, sizeof args, "--resume %s --epochs 2", P("run"));
  r = train(args);
  cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.out);
  free(r.out);
  cr_assert_eq(skipped_in_run_json(P("run")), 2);
  char path[1100];
  snprintf(path, sizeof path, "%s/run.json", P("run"));
  char *t = read_text(path);
  cr_assert(strstr(t, "f/train/a/03.png") && strstr(t, "f/train/b/02.png"), "%s", t);
  cr_assert(strstr(t, "\"command\""), "the run's own record was replaced: %s", t);
  free(t);
}
