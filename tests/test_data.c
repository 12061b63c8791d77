/* Data readers on small files the tests write into a temporary directory:
 * IDX (raw and gzip'ed), CIFAR-10/100 records, image folders of PNGs and
 * JPEGs, the Tiny ImageNet layout; every kind of hostile input (truncated,
 * wrong magic, mismatched counts, labels out of range, wrong record sizes,
 * absurd headers, corrupt images) gives its status and a message naming
 * the file and the place, in the words of the file's format; a held-out
 * split is opened like the train split (resized, or refused naming both
 * shapes); class directories without images are errors; skip_bad_images
 * substitutes undecodable images; and the real Fashion-MNIST from Debian's
 * dataset-fashion-mnist. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "test_tree.h"

/* implemented in tests/stb_image_write.c */
#include <stb_image_write.h>

/* ---- temporary files (test_tree.h) ------------------------------------- */

static void setup(void) {
  test_tree_setup("vkl_test_data_");
}

TestSuite(data, .init = setup, .fini = test_tree_teardown);

static void write_gz(const char *path, const void *data, size_t n) {
  gzFile f = gzopen(path, "wb");
  cr_assert(f, "cannot write %s", path);
  cr_assert_eq(gzwrite(f, data, (unsigned)n), (int)n);
  cr_assert_eq(gzclose(f), Z_OK);
}

static uint8_t *read_bytes(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot read %s", path);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(*n ? *n : 1);
  cr_assert_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

static uint64_t rng_state = 12345;
static uint32_t rnd(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* A failure with status `want` whose message names every needle. */
static void expect_fail(vkl_status got, vkl_status want, const char *err, const char *n1,
                        const char *n2) {
  cr_assert_eq(got, want, "status %s, expected %s; message: %s", vkl_status_name(got),
               vkl_status_name(want), err);
  cr_assert(n1 == NULL || strstr(err, n1), "message '%s' does not name '%s'", err, n1);
  cr_assert(n2 == NULL || strstr(err, n2), "message '%s' does not name '%s'", err, n2);
}

/* ---- IDX ---------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* An IDX file: magic, dims, data. *len receives its size. */
static uint8_t *idx_build(uint32_t magic, const uint32_t *dims, int ndims, const uint8_t *data,
                          size_t n, size_t *len) {
  *len = 4 + 4 * (size_t)ndims + n;
  uint8_t *b = malloc(*len);
  put_be32(b, magic);
  for (int d = 0; d < ndims; d++) put_be32(b + 4 + 4 * d, dims[d]);
  memcpy(b + 4 + 4 * ndims, data, n);
  return b;
}

typedef struct idx_set {
  uint32_t n, h, w;
  uint8_t *px, *lab;
  uint8_t *ifile, *lfile;
  size_t ilen, llen;
} idx_set;

static idx_set idx_make(uint32_t n, uint32_t h, uint32_t w) {
  idx_set s = {n, h, w, malloc((size_t)n * h * w), malloc(n), NULL, NULL, 0, 0};
  for (size_t i = 0; i < (size_t)n * h * w; i++) s.px[i] = (uint8_t)rnd();
  for (uint32_t i = 0; i < n; i++) s.lab[i] = (uint8_t)(rnd() % 10);
  uint32_t idims[3] = {n, h, w}, ldims[1] = {n};
  s.ifile = idx_build(0x803, idims, 3, s.px, (size_t)n * h * w, &s.ilen);
  s.lfile = idx_build(0x801, ldims, 1, s.lab, n, &s.llen);
  return s;
}

static void idx_free(idx_set *s) {
  free(s->px);
  free(s->lab);
  free(s->ifile);
  free(s->lfile);
}

static void check_idx(const vkl_dataset *ds, const idx_set *s) {
  const vkl_dataset_info *in = vkl_dataset_get_info(ds);
  cr_assert_eq(in->count, s->n);
  cr_assert_eq(in->channels, 1);
  cr_assert_eq(in->height, s->h);
  cr_assert_eq(in->width, s->w);
  cr_assert_eq(in->classes, 10);
  cr_assert_eq(memcmp(vkl_dataset_pixels(ds), s->px, (size_t)s->n * s->h * s->w), 0);
  for (uint32_t i = 0; i < s->n; i++) cr_assert_eq(vkl_dataset_labels(ds)[i], s->lab[i]);
  uint8_t one[64 * 64];
  uint32_t label;
  char err[512];
  cr_assert_eq(vkl_dataset_get(ds, s->n - 1, one, &label, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(memcmp(one, s->px + (size_t)(s->n - 1) * s->h * s->w, (size_t)s->h * s->w), 0);
  cr_assert_eq(label, s->lab[s->n - 1]);
}

Test(data, idx_raw_and_gz_round_trip) {
  idx_set s = idx_make(7, 5, 3);
  char err[1024];
  vkl_dataset *ds;
  /* one pair of files, raw */
  write_bytes(P("i.idx"), s.ifile, s.ilen);
  write_bytes(P("l.idx"), s.lfile, s.llen);
  cr_assert_eq(vkl_dataset_open_idx_files("t", P("i.idx"), P("l.idx"), 10, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  check_idx(ds, &s);
  vkl_dataset_destroy(ds);
  /* gzip'ed */
  write_gz(P("i.idx.gz"), s.ifile, s.ilen);
  write_gz(P("l.idx.gz"), s.lfile, s.llen);
  cr_assert_eq(
      vkl_dataset_open_idx_files("t", P("i.idx.gz"), P("l.idx.gz"), 10, &ds, err, sizeof err),
      VKL_OK, "%s", err);
  check_idx(ds, &s);
  vkl_dataset_destroy(ds);
  /* an MNIST directory: train raw, test gzip'ed */
  idx_set t = idx_make(4, 28, 28);
  mkdirs(P("mnist"));
  write_bytes(P("mnist/train-images-idx3-ubyte"), s.ifile, s.ilen);
  write_bytes(P("mnist/train-labels-idx1-ubyte"), s.lfile, s.llen);
  write_gz(P("mnist/t10k-images-idx3-ubyte.gz"), t.ifile, t.ilen);
  write_gz(P("mnist/t10k-labels-idx1-ubyte.gz"), t.lfile, t.llen);
  vkl_data_options opt = {.dir = P("mnist")};
  cr_assert_eq(vkl_dataset_open("mnist", VKL_SPLIT_TRAIN, &opt, &ds, err, sizeof err), VKL_OK, "%s",
               err);
  check_idx(ds, &s);
  cr_assert_str_eq(vkl_dataset_get_info(ds)->name, "mnist/train");
  cr_assert_str_eq(vkl_dataset_class_name(ds, 3), "3");
  vkl_dataset_destroy(ds);
  cr_assert_eq(vkl_dataset_open("mnist", VKL_SPLIT_TEST, &opt, &ds, err, sizeof err), VKL_OK, "%s",
               err);
  check_idx(ds, &t);
  cr_assert_str_eq(vkl_dataset_get_info(ds)->name, "mnist/test");
  vkl_dataset_destroy(ds);
  idx_free(&s);
  idx_free(&t);
}

/* Opens images file i with labels file l, expecting failure. */
static void idx_expect(const char *i, const char *l, vkl_status want, const char *n1,
                       const char *n2) {
  char err[1024] = "";
  vkl_dataset *ds = (vkl_dataset *)1;
  vkl_status st = vkl_dataset_open_idx_files("t", i, l, 10, &ds, err, sizeof err);
  expect_fail(st, want, err, n1, n2);
  cr_assert_null(ds);
}

Test(data, idx_hostile) {
  idx_set s = idx_make(6, 4, 4);
  write_bytes(P("good-i"), s.ifile, s.ilen);
  write_bytes(P("good-l"), s.lfile, s.llen);
  /* truncated inside record 3 */
  write_bytes(P("trunc-i"), s.ifile, 16 + 3 * 16 + 5);
  idx_expect(P("trunc-i"), P("good-l"), VKL_ERR_FORMAT, P("trunc-i"), "record 3");
  /* shorter than its header */
  write_bytes(P("tiny-i"), s.ifile, 10);
  idx_expect(P("tiny-i"), P("good-l"), VKL_ERR_FORMAT, P("tiny-i"), "byte 10");
  write_bytes(P("empty-i"), s.ifile, 0);
  idx_expect(P("empty-i"), P("good-l"), VKL_ERR_FORMAT, P("empty-i"), "magic");
  /* wrong magic: labels where images belong, and the other way round */
  idx_expect(P("good-l"), P("good-l"), VKL_ERR_FORMAT, P("good-l"), "magic 0x00000801");
  idx_expect(P("good-i"), P("good-i"), VKL_ERR_FORMAT, P("good-i"), "byte 0");
  /* count mismatch: 5 labels for 6 images */
  uint32_t five[1] = {5};
  size_t len;
  uint8_t *l5 = idx_build(0x801, five, 1, s.lab, 5, &len);
  write_bytes(P("five-l"), l5, len);
  idx_expect(P("good-i"), P("five-l"), VKL_ERR_FORMAT, P("five-l"), "6 images");
  free(l5);
  /* label out of range in record 4 */
  uint8_t *bad = malloc(s.llen);
  memcpy(bad, s.lfile, s.llen);
  bad[8 + 4] = 10;
  write_bytes(P("range-l"), bad, s.llen);
  idx_expect(P("good-i"), P("range-l"), VKL_ERR_FORMAT, P("range-l"), "record 4");
  free(bad);
  /* absurd header: 4G x 4G x 4G images, 16 bytes of data; no allocation */
  uint32_t huge[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
  uint8_t *h = idx_build(0x803, huge, 3, s.px, 16, &len);
  write_bytes(P("huge-i"), h, len);
  idx_expect(P("huge-i"), P("good-l"), VKL_ERR_FORMAT, P("huge-i"), "absurd");
  free(h);
  /* a plausible but lying header: 1e6 images of 28x28 in a small file */
  uint32_t lie[3] = {1000000, 28, 28};
  h = idx_build(0x803, lie, 3, s.px, 96, &len);
  write_bytes(P("lie-i"), h, len);
  idx_expect(P("lie-i"), P("good-l"), VKL_ERR_FORMAT, P("lie-i"), "truncated");
  free(h);
  /* a zero dimension */
  uint32_t zero[3] = {6, 0, 4};
  h = idx_build(0x803, zero, 3, s.px, 0, &len);
  write_bytes(P("zero-i"), h, len);
  idx_expect(P("zero-i"), P("good-l"), VKL_ERR_FORMAT, P("zero-i"), "byte 8");
  free(h);
  /* bytes after the last record */
  uint8_t *more = malloc(s.ilen + 3);
  memcpy(more, s.ifile, s.ilen);
  write_bytes(P("more-i"), more, s.ilen + 3);
  idx_expect(P("more-i"), P("good-l"), VKL_ERR_FORMAT, P("more-i"), "byte 112");
  free(more);
  /* gzip cut short, and gzip with corrupted data */
  write_gz(P("gz-i"), s.ifile, s.ilen);
  size_t gzlen;
  uint8_t *gz = read_bytes(P("gz-i"), &gzlen);
  write_bytes(P("gzcut-i"), gz, gzlen / 2);
  idx_expect(P("gzcut-i"), P("good-l"), VKL_ERR_FORMAT, P("gzcut-i"), "byte");
  for (size_t i = 12; i < gzlen - 8; i++) gz[i] ^= 0x5a;
  write_bytes(P("gzbad-i"), gz, gzlen);
  idx_expect(P("gzbad-i"), P("good-l"), VKL_ERR_FORMAT, P("gzbad-i"), "gzip");
  free(gz);
  /* missing files */
  idx_expect(P("nope-i"), P("good-l"), VKL_ERR_IO, P("nope-i"), "cannot open");
  idx_expect(P("good-i"), P("nope-l"), VKL_ERR_IO, P("nope-l"), NULL);
  /* a directory without the files, and none at all */
  char err[1024];
  vkl_dataset *ds;
  mkdirs(P("emptydir"));
  expect_fail(vkl_dataset_open_idx("mnist", P("emptydir"), VKL_SPLIT_TRAIN, &ds, err, sizeof err),
              VKL_ERR_IO, err, P("emptydir"), "train-images-idx3-ubyte");
  expect_fail(
      vkl_dataset_open_idx("fashion-mnist", P("absent"), VKL_SPLIT_TEST, &ds, err, sizeof err),
      VKL_ERR_IO, err, P("absent"), "apt-get install dataset-fashion-mnist");
  idx_free(&s);
}

/* ---- CIFAR ---------------------------------------------------------------- */

/* n records of `lb` label bytes then 3072 pixels; labels[r] in the last
 * label byte, coarse (if lb == 2) = labels[r] / 5. */
static uint8_t *cifar_records(uint32_t n, uint32_t lb, uint8_t *labels, uint8_t *px) {
  uint8_t *b = malloc((size_t)n * (lb + 3072));
  for (uint32_t r = 0; r < n; r++) {
    uint8_t *rec = b + (size_t)r * (lb + 3072);
    if (lb == 2) rec[0] = labels[r] / 5;
    rec[lb - 1] = labels[r];
    memcpy(rec + lb, px + (size_t)r * 3072, 3072);
  }
  return b;
}

Test(data, cifar10_records) {
  const uint32_t per = 3, n = 5 * per;
  uint8_t labels[15 + 2], *px = malloc((size_t)(n + 2) * 3072);
  for (uint32_t i = 0; i < n + 2; i++) labels[i] = (uint8_t)(rnd() % 10);
  for (size_t i = 0; i < (size_t)(n + 2) * 3072; i++) px[i] = (uint8_t)rnd();
  /* as the official tarball unpacks: dir/cifar-10-batches-bin/ */
  mkdirs(P("c10/cifar-10-batches-bin"));
  for (uint32_t f = 0; f < 5; f++) {
    uint8_t *b = cifar_records(per, 1, labels + f * per, px + (size_t)f * per * 3072);
    write_bytes(P("c10/cifar-10-batches-bin/data_batch_%u.bin", f + 1), b, per * 3073);
    free(b);
  }
  uint8_t *b = cifar_records(2, 1, labels + n, px + (size_t)n * 3072);
  write_bytes(P("c10/cifar-10-batches-bin/test_batch.bin"), b, 2 * 3073);
  free(b);
  char err[1024];
  vkl_dataset *ds;
  vkl_data_options opt = {.dir = P("c10")};
  cr_assert_eq(vkl_dataset_open("cifar10", VKL_SPLIT_TRAIN, &opt, &ds, err, sizeof err), VKL_OK,
               "%s", err);
  const vkl_dataset_info *in = vkl_dataset_get_info(ds);
  cr_assert_eq(in->count, n);
  cr_assert_eq(in->channels, 3);
  cr_assert_eq(in->height, 32);
  cr_assert_eq(in->width, 32);
  cr_assert_eq(in->classes, 10);
  cr_assert_str_eq(in->name, "cifar10/train");
  cr_assert_eq(memcmp(vkl_dataset_pixels(ds), px, (size_t)n * 3072), 0);
  for (uint32_t i = 0; i < n; i++) cr_assert_eq(vkl_dataset_labels(ds)[i], labels[i]);
  cr_assert_str_eq(vkl_dataset_class_name(ds, 9), "truck");
  vkl_dataset_destroy(ds);
  /* the directory holding the files directly */
  cr_assert_eq(
      vkl_dataset_open_cifar10(P("c10/cifar-10-batches-bin"), VKL_SPLIT_TEST, &ds, err, sizeof err),
      VKL_OK, "%s", err);
  cr_assert_eq(vkl_dataset_get_info(ds)->count, 2);
  cr_assert_eq(memcmp(vkl_dataset_pixels(ds), px + (size_t)n * 3072, 2 * 3072), 0);
  cr_assert_eq(vkl_dataset_labels(ds)[1], labels[n + 1]);
  vkl_dataset_destroy(ds);
  free(px);
}

Test(data, cifar100_records) {
  const uint32_t n = 9;
  uint8_t labels[9], *px = malloc((size_t)n * 3072);
  for (uint32_t i = 0; i < n; i++) labels[i] = (uint8_t)(rnd() % 100);
  labels[0] = 99;
  for (size_t i = 0; i < (size_t)n * 3072; i++) px[i] = (uint8_t)rnd();
  mkdirs(P("c100/cifar-100-binary"));
  uint8_t *b = cifar_records(n, 2, labels, px);
  write_bytes(P("c100/cifar-100-binary/train.bin"), b, n * 3074);
  write_bytes(P("c100/cifar-100-binary/test.bin"), b, 3074);
  free(b);
  char err[1024];
  vkl_dataset *ds;
  cr_assert_eq(vkl_dataset_open_cifar100(P("c100"), VKL_SPLIT_TRAIN, &ds, err, sizeof err), VKL_OK,
               "%s", err);
  const vkl_dataset_info *in = vkl_dataset_get_info(ds);
  cr_assert_eq(in->count, n);
  cr_assert_eq(in->classes, 100);
  cr_assert_eq(memcmp(vkl_dataset_pixels(ds), px, (size_t)n * 3072), 0);
  for (uint32_t i = 0; i < n; i++) cr_assert_eq(vkl_dataset_labels(ds)[i], labels[i]);
  vkl_dataset_destroy(ds);
  cr_assert_eq(vkl_dataset_open_cifar100(P("c100"), VKL_SPLIT_TEST, &ds, err, sizeof err), VKL_OK,
               "%s", err);
  cr_assert_eq(vkl_dataset_get_info(ds)->count, 1);
  cr_assert_eq(vkl_dataset_labels(ds)[0], 99);
  vkl_dataset_destroy(ds);
  free(px);
}

Test(data, cifar_hostile) {
  uint8_t labels[4] = {1, 2, 3, 4}, *px = calloc(4, 3072);
  uint8_t *b10 = cifar_records(4, 1, labels, px), *b100 = cifar_records(4, 2, labels, px);
  char err[1024];
  vkl_dataset *ds;
  mkdirs(P("a"));
  /* CIFAR-10: data_batch_3 missing */
  for (int f = 1; f <= 5; f++)
    if (f != 3) write_bytes(P("a/data_batch_%d.bin", f), b10, 4 * 3073);
  expect_fail(vkl_dataset_open_cifar10(P("a"), VKL_SPLIT_TRAIN, &ds, err, sizeof err), VKL_ERR_IO,
              err, P("a/data_batch_3.bin"), NULL);
  /* truncated: data_batch_3 cut inside record 2 */
  write_bytes(P("a/data_batch_3.bin"), b10, 2 * 3073 + 100);
  expect_fail(vkl_dataset_open_cifar10(P("a"), VKL_SPLIT_TRAIN, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("a/data_batch_3.bin"), "record 2");
  /* wrong record size: CIFAR-100 records (3074 bytes) read as CIFAR-10 */
  write_bytes(P("a/data_batch_3.bin"), b100, 4 * 3074);
  expect_fail(vkl_dataset_open_cifar10(P("a"), VKL_SPLIT_TRAIN, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("a/data_batch_3.bin"), "3073-byte");
  /* label out of range in record 2 of the test file */
  b10[2 * 3073] = 10;
  write_bytes(P("a/test_batch.bin"), b10, 4 * 3073);
  expect_fail(vkl_dataset_open_cifar10(P("a"), VKL_SPLIT_TEST, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("a/test_batch.bin"), "record 2");
  /* an empty file */
  write_bytes(P("a/test_batch.bin"), b10, 0);
  expect_fail(vkl_dataset_open_cifar10(P("a"), VKL_SPLIT_TEST, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("a/test_batch.bin"), "record 0");
  /* CIFAR-100: fine label 100, coarse label 20 */
  mkdirs(P("b"));
  b100[3 * 3074 + 1] = 100;
  write_bytes(P("b/train.bin"), b100, 4 * 3074);
  expect_fail(vkl_dataset_open_cifar100(P("b"), VKL_SPLIT_TRAIN, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("b/train.bin"), "record 3");
  b100[3 * 3074 + 1] = 5;
  b100[1 * 3074] = 20;
  write_bytes(P("b/train.bin"), b100, 4 * 3074);
  expect_fail(vkl_dataset_open_cifar100(P("b"), VKL_SPLIT_TRAIN, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("b/train.bin"), "coarse label 20");
  /* CIFAR-10 records read as CIFAR-100 */
  write_bytes(P("b/test.bin"), b10, 3 * 3073);
  expect_fail(vkl_dataset_open_cifar100(P("b"), VKL_SPLIT_TEST, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("b/test.bin"), "3074-byte");
  /* no directory */
  expect_fail(vkl_dataset_open_cifar100(P("zz"), VKL_SPLIT_TEST, &ds, err, sizeof err), VKL_ERR_IO,
              err, P("zz"), NULL);
  free(b10);
  free(b100);
  free(px);
}

/* ---- image folders -------------------------------------------------------- */

/* An h x w image of comp channels (HWC) with smooth content, so JPEG keeps
 * it close. */
static uint8_t *smooth_image(int w, int h, int comp, int seed) {
  uint8_t *p = malloc((size_t)w * h * comp);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < comp; c++) {
        int v = 20 + 5 * seed + 90 * x / w + 50 * y / h + 30 * c;
        p[((size_t)y * w + x) * comp + c] = (uint8_t)(v > 255 ? 255 : v);
      }
  return p;
}

/* CHW of the first `c` channels of an HWC image (grey repeated to 3) */
static void hwc_to_chw(uint8_t *out, const uint8_t *in, int w, int h, int comp, int c) {
  for (int ch = 0; ch < c; ch++)
    for (int i = 0; i < w * h; i++) out[ch * w * h + i] = in[i * comp + (comp == 1 ? 0 : ch)];
}

static void write_png(const char *path, int w, int h, int comp, const uint8_t *px) {
  cr_assert(stbi_write_png(path, w, h, comp, px, w * comp), "writing %s", path);
}

static void write_jpg(const char *path, int w, int h, int comp, const uint8_t *px) {
  cr_assert(stbi_write_jpg(path, w, h, comp, px, 95), "writing %s", path);
}

/* |a - b| on average <= mean_tol, and everywhere <= max_tol */
static void assert_near(const uint8_t *a, const uint8_t *b, size_t n, double mean_tol, int max_tol,
                        const char *what) {
  double sum = 0;
  int worst = 0;
  for (size_t i = 0; i < n; i++) {
    int d = abs((int)a[i] - (int)b[i]);
    sum += d;
    if (d > worst) worst = d;
  }
  cr_assert(sum / (double)n <= mean_tol && worst <= max_tol, "%s: mean |d| %.2f, max %d", what,
            sum / (double)n, worst);
}

Test(data, image_folder) {
  const int W = 6, H = 5;
  mkdirs(P("f/train/cat"));
  mkdirs(P("f/train/dog"));
  mkdirs(P("f/train/.hidden"));
  mkdirs(P("f/val/dog"));
  uint8_t *a = smooth_image(W, H, 3, 1), *bj = smooth_image(W, H, 3, 2),
          *cg = smooth_image(W, H, 1, 3), *d4 = smooth_image(W, H, 4, 4),
          *e = malloc((size_t)4 * W * H * 3), *f = smooth_image(W, H, 3, 5);
  for (int i = 0; i < 4 * W * H; i++) {
    e[3 * i] = 10;
    e[3 * i + 1] = 200;
    e[3 * i + 2] = 60;
  }
  write_png(P("f/train/cat/a.png"), W, H, 3, a);
  write_jpg(P("f/train/cat/b.jpg"), W, H, 3, bj);
  write_png(P("f/train/cat/c.PNG"), W, H, 1, cg);
  write_bytes(P("f/train/cat/notes.txt"), "not an image", 12);
  write_png(P("f/train/dog/d.png"), W, H, 4, d4);
  write_jpg(P("f/train/dog/e.jpeg"), 2 * W, 2 * H, 3, e); /* another size: resized */
  write_png(P("f/train/.hidden/x.png"), W, H, 3, a);
  write_png(P("f/val/dog/f.png"), W, H, 3, f);
  uint8_t want[6 * 5 * 3], got[6 * 5 * 3];
  char err[1024];
  for (int preload = 0; preload < 2; preload++) {
    vkl_data_options opt = {.dir = P("f"), .preload = preload};
    vkl_dataset *ds;
    cr_assert_eq(vkl_dataset_open("folder", VKL_SPLIT_TRAIN, &opt, &ds, err, sizeof err), VKL_OK,
                 "%s", err);
    const vkl_dataset_info *in = vkl_dataset_get_info(ds);
    cr_assert_eq(in->count, 5);
    cr_assert_eq(in->classes, 2);
    cr_assert_eq(in->lazy, !preload);
    cr_assert_eq(in->channels, 3, "C from the first image (a.png, RGB)");
    cr_assert_eq(in->height, H);
    cr_assert_eq(in->width, W);
    cr_assert_str_eq(vkl_dataset_class_name(ds, 0), "cat");
    cr_assert_str_eq(vkl_dataset_class_name(ds, 1), "dog");
    const uint32_t labels[5] = {0, 0, 0, 1, 1};
    for (int i = 0; i < 5; i++) cr_assert_eq(vkl_dataset_labels(ds)[i], labels[i], "image %d", i);
    uint32_t label;
    /* PNGs exactly: RGB, grey to RGB, RGBA to RGB */
    cr_assert_eq(vkl_dataset_get(ds, 0, got, &label, err, sizeof err), VKL_OK, "%s", err);
    hwc_to_chw(want, a, W, H, 3, 3);
    cr_assert_eq(memcmp(got, want, sizeof got), 0, "a.png");
    cr_assert_eq(vkl_dataset_get(ds, 2, got, &label, err, sizeof err), VKL_OK, "%s", err);
    hwc_to_chw(want, cg, W, H, 1, 3);
    cr_assert_eq(memcmp(got, want, sizeof got), 0, "c.PNG (grey)");
    cr_assert_eq(vkl_dataset_get(ds, 3, got, &label, err, sizeof err), VKL_OK, "%s", err);
    hwc_to_chw(want, d4, W, H, 4, 3);
    cr_assert_eq(memcmp(got, want, sizeof got), 0, "d.png (RGBA)");
    cr_assert_eq(label, 1);
    /* JPEGs approximately */
    cr_assert_eq(vkl_dataset_get(ds, 1, got, &label, err, sizeof err), VKL_OK, "%s", err);
    hwc_to_chw(want, bj, W, H, 3, 3);
    assert_near(got, want, sizeof got, 3.0, 16, "b.jpg");
    cr_assert_eq(vkl_dataset_get(ds, 4, got, &label, err, sizeof err), VKL_OK, "%s", err);
    for (int i = 0; i < W * H; i++) {
      want[i] = 10;
      want[W * H + i] = 200;
      want[2 * W * H + i] = 60;
    }
    assert_near(got, want, sizeof got, 2.0, 6, "e.jpeg (resized from 12x10)");
    vkl_dataset_destroy(ds);
    /* the held-out split: val/, numbered as train's classes */
    cr_assert_eq(vkl_dataset_open("folder", VKL_SPLIT_TEST, &opt, &ds, err, sizeof err), VKL_OK,
                 "%s", err);
    cr_assert_eq(vkl_dataset_get_info(ds)->count, 1);
    cr_assert_eq(vkl_dataset_labels(ds)[0], 1);
    cr_assert_eq(vkl_dataset_get(ds, 0, got, NULL, err, sizeof err), VKL_OK, "%s", err);
    hwc_to_chw(want, f, W, H, 3, 3);
    cr_assert_eq(memcmp(got, want, sizeof got), 0, "val/dog/f.png");
    vkl_dataset_destroy(ds);
  }
  /* a requested size and channel count: grey, 10x12 */
  vkl_data_options opt = {.channels = 1, .height = 10, .width = 12};
  vkl_dataset *ds;
  cr_assert_eq(vkl_dataset_open_image_folder(P("f"), VKL_SPLIT_TRAIN, &opt, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  const vkl_dataset_info *in = vkl_dataset_get_info(ds);
  cr_assert(in->channels == 1 && in->height == 10 && in->width == 12);
  uint8_t big[120];
  cr_assert_eq(vkl_dataset_get(ds, 4, big, NULL, err, sizeof err), VKL_OK, "%s", err);
  /* e is (10,200,60) everywhere at 12x10: its luma (0.299 R + 0.587 G +
   * 0.114 B = 127), unresized */
  for (int i = 0; i < 120; i++) cr_assert(abs(big[i] - 127) <= 4, "grey e: %d", big[i]);
  vkl_dataset_destroy(ds);
  /* a test/ split whose class is not in train/ */
  mkdirs(P("g/train/a"));
  mkdirs(P("g/test/b"));
  write_png(P("g/train/a/x.png"), W, H, 3, a);
  write_png(P("g/test/b/y.png"), W, H, 3, a);
  expect_fail(vkl_dataset_open_image_folder(P("g"), VKL_SPLIT_TEST, NULL, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("g/test/b"), "class 'b'");
  free(a);
  free(bj);
  free(cg);
  free(d4);
  free(e);
  free(f);
}

Test(data, tiny_imagenet_layout) {
  const int S = 64;
  const char *wn[3] = {"n02", "n01", "n03"}; /* wnids.txt order; sorted: n01 n02 n03 */
  const char *wnids = "n02\nn01\r\nn03\n\n";
  mkdirs(P("t"));
  write_bytes(P("t/wnids.txt"), wnids, strlen(wnids));
  uint8_t *img[5];
  for (int k = 0; k < 3; k++) {
    mkdirs(P("t/train/%s/images", wn[k]));
    write_bytes(P("t/train/%s/%s_boxes.txt", wn[k], wn[k]), "x", 1);
  }
  for (int i = 0; i < 5; i++) img[i] = smooth_image(S, S, 3, i);
  write_jpg(P("t/train/n01/images/n01_0.JPEG"), S, S, 3, img[0]);
  write_jpg(P("t/train/n01/images/n01_1.JPEG"), S, S, 1, img[1]); /* grey JPEG, as some are */
  write_jpg(P("t/train/n02/images/n02_0.JPEG"), S, S, 3, img[2]);
  write_jpg(P("t/train/n03/images/n03_0.JPEG"), S, S, 3, img[3]);
  mkdirs(P("t/val/images"));
  write_jpg(P("t/val/images/val_0.JPEG"), S, S, 3, img[4]);
  write_jpg(P("t/val/images/val_1.JPEG"), S, S, 3, img[0]);
  const char *ann = "val_0.JPEG\tn03\t0\t0\t62\t62\nval_1.JPEG\tn01\t1\t2\t30\t40\n";
  write_bytes(P("t/val/val_annotations.txt"), ann, strlen(ann));
  char err[1024];
  vkl_dataset *ds;
  char root[1024];
  snprintf(root, sizeof root, "%s", P("t")); /* P's buffers rotate */
  vkl_data_options opt = {.dir = root};
  cr_assert_eq(vkl_dataset_open("tiny-imagenet", VKL_SPLIT_TRAIN, &opt, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  const vkl_dataset_info *in = vkl_dataset_get_info(ds);
  cr_assert_eq(in->count, 4);
  cr_assert_eq(in->classes, 3);
  cr_assert(in->channels == 3 && in->height == 64 && in->width == 64);
  const uint32_t labels[4] = {0, 0, 1, 2};
  for (int i = 0; i < 4; i++) cr_assert_eq(vkl_dataset_labels(ds)[i], labels[i], "image %d", i);
  cr_assert_str_eq(vkl_dataset_class_name(ds, 0), "n01");
  cr_assert_str_eq(vkl_dataset_class_name(ds, 2), "n03");
  uint8_t *got = malloc(3 * S * S), *want = malloc(3 * S * S);
  cr_assert_eq(vkl_dataset_get(ds, 2, got, NULL, err, sizeof err), VKL_OK, "%s", err);
  hwc_to_chw(want, img[2], S, S, 3, 3);
  assert_near(got, want, 3 * S * S, 2.0, 16, "n02_0.JPEG");
  /* the grey JPEG comes out with three equal channels */
  cr_assert_eq(vkl_dataset_get(ds, 1, got, NULL, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(memcmp(got, got + S * S, S * S), 0);
  cr_assert_eq(memcmp(got, got + 2 * S * S, S * S), 0);
  vkl_dataset_destroy(ds);
  /* val: labels from val_annotations.txt */
  cr_assert_eq(vkl_dataset_open("tiny-imagenet", VKL_SPLIT_TEST, &opt, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  cr_assert_eq(vkl_dataset_get_info(ds)->count, 2);
  cr_assert_eq(vkl_dataset_labels(ds)[0], 2);
  cr_assert_eq(vkl_dataset_labels(ds)[1], 0);
  cr_assert_eq(vkl_dataset_get(ds, 0, got, NULL, err, sizeof err), VKL_OK, "%s", err);
  hwc_to_chw(want, img[4], S, S, 3, 3);
  assert_near(got, want, 3 * S * S, 2.0, 16, "val_0.JPEG");
  vkl_dataset_destroy(ds);
  /* hostile: an unknown wnid on line 2; a class without train images */
  const char *bad = "val_0.JPEG\tn03\t0\t0\t62\t62\nval_1.JPEG\tn99\t1\t2\t30\t40\n";
  write_bytes(P("t/val/val_annotations.txt"), bad, strlen(bad));
  expect_fail(vkl_dataset_open("tiny-imagenet", VKL_SPLIT_TEST, &opt, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("t/val/val_annotations.txt"), "line 2");
  write_bytes(P("t/val/val_annotations.txt"), "val_0.JPEG\n", 11);
  expect_fail(vkl_dataset_open("tiny-imagenet", VKL_SPLIT_TEST, &opt, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("t/val/val_annotations.txt"), "line 1");
  write_bytes(P("t/wnids.txt"), "n02\nn01\nn03\nn04\n", 16);
  expect_fail(vkl_dataset_open("tiny-imagenet", VKL_SPLIT_TRAIN, &opt, &ds, err, sizeof err),
              VKL_ERR_IO, err, P("t/train/n04/images"), "wnids.txt");
  write_bytes(P("t/wnids.txt"), "n02\nn01\nn02\n", 12);
  expect_fail(vkl_dataset_open("tiny-imagenet", VKL_SPLIT_TRAIN, &opt, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("t/wnids.txt"), "twice");
  for (int i = 0; i < 5; i++) free(img[i]);
  free(got);
  free(want);
}

Test(data, bad_images) {
  const int W = 8, H = 8;
  uint8_t *a = smooth_image(W, H, 3, 0);
  mkdirs(P("h/train/k"));
  write_png(P("h/train/k/0good.png"), W, H, 3, a);
  write_png(P("h/train/k/1good.png"), W, H, 3, a);
  size_t n;
  uint8_t *png = read_bytes(P("h/train/k/0good.png"), &n);
  char err[1024];
  vkl_dataset *ds;
  vkl_data_options skip = {.skip_bad_images = 1};
  /* garbage with an image's name */
  uint8_t junk[300];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)rnd();
  write_bytes(P("h/train/k/2junk.png"), junk, sizeof junk);
  expect_fail(vkl_dataset_open_image_folder(P("h"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("h/train/k/2junk.png"), NULL);
  cr_assert_eq(vkl_dataset_open_image_folder(P("h"), VKL_SPLIT_TRAIN, &skip, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  cr_assert_eq(vkl_dataset_get_info(ds)->count, 2);
  cr_assert_eq(vkl_dataset_get_info(ds)->skipped, 1);
  vkl_dataset_destroy(ds);
  unlink(P("h/train/k/2junk.png"));
  /* an empty file */
  write_bytes(P("h/train/k/3empty.jpg"), "", 0);
  expect_fail(vkl_dataset_open_image_folder(P("h"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("h/train/k/3empty.jpg"), NULL);
  unlink(P("h/train/k/3empty.jpg"));
  /* an absurd size in the PNG header (IHDR width and height at bytes 16..23) */
  uint8_t *huge = malloc(n);
  memcpy(huge, png, n);
  put_be32(huge + 16, 10000); /* 1e8 pixels: stb would try, we refuse */
  put_be32(huge + 20, 10000);
  write_bytes(P("h/train/k/4huge.png"), huge, n);
  expect_fail(vkl_dataset_open_image_folder(P("h"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("h/train/k/4huge.png"), "absurd");
  unlink(P("h/train/k/4huge.png"));
  free(huge);
  /* truncated: the header reads fine, the pixels do not */
  write_bytes(P("h/train/k/5cut.png"), png, 45);
  /* lazily: opens, then fails where it is decoded, naming the file */
  cr_assert_eq(vkl_dataset_open_image_folder(P("h"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  cr_assert_eq(vkl_dataset_get_info(ds)->count, 3);
  uint8_t px[8 * 8 * 3];
  expect_fail(vkl_dataset_get(ds, 2, px, NULL, err, sizeof err), VKL_ERR_FORMAT, err,
              P("h/train/k/5cut.png"), "image 2");
  /* ... and through the loader: the batch's status and message */
  vkl_loader_config lc = {.dataset = ds,
                          .batch = 3,
                          .channels = 3,
                          .height = 8,
                          .width = 8,
                          .classes = 1,
                          .threads = 2,
                          .no_shuffle = 1};
  vkl_loader *ld;
  cr_assert_eq(vkl_loader_create(&lc, &ld, err, sizeof err), VKL_OK, "%s", err);
  float imgs[3 * 8 * 8 * 3];
  uint32_t labs[3], count;
  cr_assert_eq(vkl_loader_start_epoch(ld, 0), VKL_OK);
  cr_assert_eq(vkl_loader_submit(ld, 0, 0, imgs, labs), VKL_OK, "%s", vkl_loader_errmsg(ld));
  expect_fail(vkl_loader_wait(ld, 0, &count), VKL_ERR_FORMAT, vkl_loader_errmsg(ld),
              P("h/train/k/5cut.png"), "batch 0 sample 2");
  vkl_loader_destroy(ld);
  vkl_dataset_destroy(ds);
  /* preloaded: fails at open, or is skipped */
  vkl_data_options pre = {.preload = 1};
  expect_fail(vkl_dataset_open_image_folder(P("h"), VKL_SPLIT_TRAIN, &pre, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("h/train/k/5cut.png"), NULL);
  pre.skip_bad_images = 1;
  cr_assert_eq(vkl_dataset_open_image_folder(P("h"), VKL_SPLIT_TRAIN, &pre, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  cr_assert_eq(vkl_dataset_get_info(ds)->count, 2);
  cr_assert_eq(vkl_dataset_get_info(ds)->skipped, 1);
  vkl_dataset_destroy(ds);
  /* nothing readable at all */
  mkdirs(P("e/train/k"));
  write_bytes(P("e/train/k/x.png"), junk, sizeof junk);
  expect_fail(vkl_dataset_open_image_folder(P("e"), VKL_SPLIT_TRAIN, &skip, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("e"), "no readable images");
  free(png);
  free(a);
}

/* ---- splits alike, class directories, messages, skipping --------------------- */

/* A held-out split goes through the network built for the train split:
 * in-memory formats of another shape are refused naming both shapes; image
 * folders convert their images to the train split's (C,H,W); class counts
 * must agree. */
Test(data, a_held_out_split_is_opened_like_the_train_split) {
  char err[1024];
  vkl_dataset *tr, *te;
  idx_set s = idx_make(4, 1, 1), t = idx_make(3, 28, 28);
  mkdirs(P("m"));
  write_bytes(P("m/train-images-idx3-ubyte"), s.ifile, s.ilen);
  write_bytes(P("m/train-labels-idx1-ubyte"), s.lfile, s.llen);
  write_bytes(P("m/t10k-images-idx3-ubyte"), t.ifile, t.ilen);
  write_bytes(P("m/t10k-labels-idx1-ubyte"), t.lfile, t.llen);
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", P("m"));
  vkl_data_options opt = {.dir = dir};
  cr_assert_eq(vkl_dataset_open("mnist", VKL_SPLIT_TRAIN, &opt, &tr, err, sizeof err), VKL_OK, "%s",
               err);
  vkl_dataset_like like = vkl_dataset_like_of(tr, "the train split's");
  te = (vkl_dataset *)1;
  expect_fail(vkl_dataset_open_like("mnist", VKL_SPLIT_TEST, &opt, &like, &te, err, sizeof err),
              VKL_ERR_FORMAT, err, "images are 1x28x28, the train split's 1x1x1",
              "t10k-images-idx3-ubyte");
  cr_assert_null(te);
  vkl_dataset_destroy(tr);
  idx_free(&s);
  idx_free(&t);

  /* a folder whose val/ images are grey and twice the size of train/'s */
  const int W = 6, H = 5;
  uint8_t *a = smooth_image(W, H, 3, 1), *g = malloc(4 * W * H);
  memset(g, 90, 4 * W * H);
  mkdirs(P("v/train/a"));
  mkdirs(P("v/train/b"));
  mkdirs(P("v/val/b"));
  write_png(P("v/train/a/x.png"), W, H, 3, a);
  write_png(P("v/train/b/y.png"), W, H, 3, a);
  write_png(P("v/val/b/z.png"), 2 * W, 2 * H, 1, g);
  snprintf(dir, sizeof dir, "%s", P("v"));
  vkl_data_options fo = {.dir = dir};
  for (fo.preload = 0; fo.preload < 2; fo.preload++) {
    cr_assert_eq(vkl_dataset_open("folder", VKL_SPLIT_TRAIN, &fo, &tr, err, sizeof err), VKL_OK,
                 "%s", err);
    like = vkl_dataset_like_of(tr, "the train split's");
    cr_assert_eq(vkl_dataset_open_like("folder", VKL_SPLIT_TEST, &fo, &like, &te, err, sizeof err),
                 VKL_OK, "%s", err);
    const vkl_dataset_info *in = vkl_dataset_get_info(te);
    cr_assert(in->channels == 3 && in->height == (uint32_t)H && in->width == (uint32_t)W,
              "val/ comes out %ux%ux%u, not the train split's 3x%dx%d", in->channels, in->height,
              in->width, H, W);
    cr_assert_eq(in->classes, 2);
    uint8_t got[3 * 6 * 5];
    uint32_t label;
    cr_assert_eq(vkl_dataset_get(te, 0, got, &label, err, sizeof err), VKL_OK, "%s", err);
    cr_assert_eq(label, 1);
    for (size_t i = 0; i < sizeof got; i++) cr_assert_eq(got[i], 90, "pixel %zu", i);
    vkl_dataset_destroy(te);
    vkl_dataset_destroy(tr);
  }
  free(a);
  free(g);

  /* classes and shapes that options ask to differ are refused too */
  vkl_data_options so = {.count = 8, .channels = 1, .height = 4, .width = 4, .classes = 10};
  cr_assert_eq(vkl_dataset_open("synthetic", VKL_SPLIT_TRAIN, &so, &tr, err, sizeof err), VKL_OK,
               "%s", err);
  like = vkl_dataset_like_of(tr, "the train split's");
  vkl_data_options other = so;
  other.classes = 5;
  expect_fail(
      vkl_dataset_open_like("synthetic", VKL_SPLIT_TEST, &other, &like, &te, err, sizeof err),
      VKL_ERR_FORMAT, err, "it has 5 classes, the train split's 10", NULL);
  other = so;
  other.width = 8;
  expect_fail(
      vkl_dataset_open_like("synthetic", VKL_SPLIT_TEST, &other, &like, &te, err, sizeof err),
      VKL_ERR_FORMAT, err, "images are 1x4x8, the train split's 1x4x4", NULL);
  /* options left 0 take the reference's: a checkpoint's shape and classes */
  vkl_dataset_like ckpt = {1, 6, 7, 3, "the checkpoint's"};
  vkl_data_options count_only = {.count = 8};
  cr_assert_eq(
      vkl_dataset_open_like("synthetic", VKL_SPLIT_TEST, &count_only, &ckpt, &te, err, sizeof err),
      VKL_OK, "%s", err);
  const vkl_dataset_info *in = vkl_dataset_get_info(te);
  cr_assert(in->channels == 1 && in->height == 6 && in->width == 7 && in->classes == 3);
  cr_assert_eq(vkl_dataset_check_like(tr, &ckpt, err, sizeof err), VKL_ERR_FORMAT);
  cr_assert(strstr(err, "the checkpoint's 1x6x7"), "%s", err);
  vkl_dataset_destroy(te);
  vkl_dataset_destroy(tr);
}

/* A class directory without images would number a class nothing teaches:
 * an error naming it, in train/ and in the held-out split alike, and when
 * skipping left a class none of its images. */
Test(data, a_class_directory_without_images_is_an_error) {
  const int W = 4, H = 4;
  uint8_t *a = smooth_image(W, H, 3, 1);
  mkdirs(P("c/train/a"));
  mkdirs(P("c/train/b"));
  mkdirs(P("c/val/a"));
  mkdirs(P("c/val/b"));
  write_png(P("c/train/a/x.png"), W, H, 3, a);
  write_png(P("c/val/a/z.png"), W, H, 3, a);
  write_bytes(P("c/train/b/notes.txt"), "no image", 8);
  char err[1024];
  vkl_dataset *ds;
  expect_fail(vkl_dataset_open_image_folder(P("c"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("c/train/b"), "class directory without");
  write_png(P("c/train/b/y.png"), W, H, 3, a);
  cr_assert_eq(vkl_dataset_open_image_folder(P("c"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  cr_assert_eq(vkl_dataset_get_info(ds)->classes, 2);
  vkl_dataset_destroy(ds);
  expect_fail(vkl_dataset_open_image_folder(P("c"), VKL_SPLIT_TEST, NULL, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("c/val/b"), "class directory without");
  /* a held-out split may leave a class out: no directory, no error */
  rmdir(P("c/val/b"));
  cr_assert_eq(vkl_dataset_open_image_folder(P("c"), VKL_SPLIT_TEST, NULL, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  vkl_dataset_destroy(ds);
  /* every image of class b unreadable and skipped */
  write_bytes(P("c/train/b/y.png"), "not a png at all", 16);
  vkl_data_options skip = {.skip_bad_images = 1};
  expect_fail(vkl_dataset_open_image_folder(P("c"), VKL_SPLIT_TRAIN, &skip, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, "every image of class 'b'", NULL);
  /* Tiny ImageNet's train/<wnid>/images/ alike */
  mkdirs(P("ti/train/n01/images"));
  mkdirs(P("ti/train/n02/images"));
  write_bytes(P("ti/wnids.txt"), "n01\nn02\n", 8);
  write_jpg(P("ti/train/n01/images/a.JPEG"), W, H, 3, a);
  expect_fail(vkl_dataset_open_tiny_imagenet(P("ti"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("ti/train/n02/images"), "class directory without");
  free(a);
}

/* No control bytes (a hostile file's chunk type could hold a terminal
 * escape sequence). */
static void assert_printable(const char *msg) {
  for (const char *p = msg; *p; p++)
    cr_assert((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f,
              "byte 0x%02x at %zu of the message: %s", (unsigned char)*p, (size_t)(p - msg), msg);
}

/* Decoding and header failures speak of the file's own format, in words,
 * never with a reason another format's probing left behind. */
Test(data, image_failures_speak_of_the_files_format) {
  const int W = 8, H = 8;
  uint8_t *a = smooth_image(W, H, 3, 2);
  mkdirs(P("q/train/k"));
  write_png(P("q/train/k/a.png"), W, H, 3, a);
  size_t n;
  uint8_t *png = read_bytes(P("q/train/k/a.png"), &n);
  char err[1024];
  vkl_dataset *ds;
  uint8_t px[3 * 8 * 8];
  /* the header reads fine, the data is cut short (33: IHDR ends; the IDAT follows) */
  static const size_t cuts[] = {36, 40, 48, 60};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    write_bytes(P("q/train/k/a.png"), png, cuts[i]);
    cr_assert_eq(vkl_dataset_open_image_folder(P("q"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
                 VKL_OK, "%s", err);
    expect_fail(vkl_dataset_get(ds, 0, px, NULL, err, sizeof err), VKL_ERR_FORMAT, err,
                "corrupt PNG image data: ", P("q/train/k/a.png"));
    cr_assert(!strstr(err, "SOI") && !strstr(err, "JPEG"), "a PNG in JPEG words: %s", err);
    assert_printable(err);
    vkl_dataset_destroy(ds);
  }
  /* the IDAT chunk's type replaced by an escape sequence, or holding a NUL
   * (which cut stb's reason to "ID"): an unknown critical chunk, not quoted */
  uint8_t *esc = malloc(n);
  cr_assert_eq(memcmp(png + 37, "IDAT", 4), 0);
  static const char *const types[] = {"\x1b[2J", "ID\0T"};
  for (size_t i = 0; i < 2; i++) {
    memcpy(esc, png, n);
    memcpy(esc + 37, types[i], 4);
    write_bytes(P("q/train/k/a.png"), esc, n);
    cr_assert_eq(vkl_dataset_open_image_folder(P("q"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
                 VKL_OK, "%s", err);
    expect_fail(vkl_dataset_get(ds, 0, px, NULL, err, sizeof err), VKL_ERR_FORMAT, err,
                "corrupt PNG image data: ", "unknown critical chunk");
    assert_printable(err);
    vkl_dataset_destroy(ds);
  }
  /* a bad bit depth in IHDR (byte 24): refused at open, as a PNG header */
  memcpy(esc, png, n);
  esc[24] = 7;
  write_bytes(P("q/train/k/a.png"), esc, n);
  expect_fail(vkl_dataset_open_image_folder(P("q"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, "corrupt PNG header: ", "bit depth");
  /* a JPEG whose first segment is garbage */
  write_jpg(P("q/train/k/a.png"), W, H, 3, a);
  free(esc);
  uint8_t *jpg = read_bytes(P("q/train/k/a.png"), &n);
  esc = malloc(n);
  memcpy(esc, jpg, n);
  memset(esc + 2, 0x11, 8);
  unlink(P("q/train/k/a.png"));
  write_bytes(P("q/train/k/a.jpg"), esc, n);
  expect_fail(vkl_dataset_open_image_folder(P("q"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, "corrupt JPEG header: ", P("q/train/k/a.jpg"));
  assert_printable(err);
  /* a JPEG whose Huffman tables (after the frame header, so only decoding
   * reads them) overrun their segment's length by a byte: stb's JPEG
   * decoder fails without a reason, and the PNG probe's "bad png sig" was
   * reported */
  size_t dht = 0;
  for (size_t i = 2; i + 3 < n && !dht; i++)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC4) dht = i;
  cr_assert(dht, "stb_image_write wrote no DHT segment");
  memcpy(esc, jpg, n);
  esc[dht + 3]--; /* the low byte of the segment's length */
  write_bytes(P("q/train/k/a.jpg"), esc, n);
  cr_assert_eq(vkl_dataset_open_image_folder(P("q"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  expect_fail(vkl_dataset_get(ds, 0, px, NULL, err, sizeof err), VKL_ERR_FORMAT, err,
              "corrupt JPEG image data: ", P("q/train/k/a.jpg"));
  cr_assert(!strstr(err, "png sig"), "a JPEG in PNG words: %s", err);
  vkl_dataset_destroy(ds);
  free(jpg);
  /* neither */
  write_bytes(P("q/train/k/a.jpg"), "GIF89a", 6);
  expect_fail(vkl_dataset_open_image_folder(P("q"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, "not a PNG or JPEG file", NULL);
  free(esc);
  free(png);
  free(a);
}

/* Runs one epoch of batch m in data-set order over ds with `threads`
 * workers; images (count*chw floats) and labels (count) receive it. */
static void load_in_order(const vkl_dataset *ds, uint32_t m, uint32_t threads, float *images,
                          uint32_t *labels) {
  const vkl_dataset_info *in = vkl_dataset_get_info(ds);
  vkl_loader_config lc = {.dataset = ds,
                          .batch = m,
                          .channels = in->channels,
                          .height = in->height,
                          .width = in->width,
                          .classes = in->classes,
                          .threads = threads,
                          .no_shuffle = 1,
                          .drop_last = 1};
  vkl_loader *ld;
  char err[1024];
  cr_assert_eq(vkl_loader_create(&lc, &ld, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(vkl_loader_start_epoch(ld, 0), VKL_OK);
  size_t chw = (size_t)in->channels * in->height * in->width;
  for (uint64_t b = 0; b < vkl_loader_batches_per_epoch(ld); b++) {
    uint32_t count;
    cr_assert_eq(vkl_loader_submit(ld, 0, b, images + b * m * chw, labels + b * m), VKL_OK);
    cr_assert_eq(vkl_loader_wait(ld, 0, &count), VKL_OK, "%s", vkl_loader_errmsg(ld));
    cr_assert_eq(count, m, "a batch is always full");
  }
  vkl_loader_destroy(ld);
}

/* With skip_bad_images, an image whose header reads but whose data does
 * not decode is replaced by the next one in data-set order that decodes,
 * with its own label; it is recorded once, whatever the thread count. */
Test(data, skip_bad_images_substitutes_undecodable_images) {
  const int W = 8, H = 8;
  uint8_t *img[3];
  for (int i = 0; i < 3; i++) img[i] = smooth_image(W, H, 1, 10 * i);
  mkdirs(P("s/train/k0"));
  mkdirs(P("s/train/k1"));
  write_png(P("s/train/k0/0.png"), W, H, 1, img[0]);
  write_png(P("s/train/k0/1.png"), W, H, 1, img[1]);
  write_png(P("s/train/k1/2.png"), W, H, 1, img[2]);
  size_t n;
  uint8_t *png = read_bytes(P("s/train/k0/1.png"), &n);
  write_bytes(P("s/train/k0/1.png"), png, 48); /* header fine, data cut */
  write_bytes(P("s/train/k1/3.png"), png, 48); /* the last image: wraps to the first */
  char err[1024];
  vkl_dataset *ds;
  vkl_data_options skip = {.skip_bad_images = 1};
  cr_assert_eq(vkl_dataset_open_image_folder(P("s"), VKL_SPLIT_TRAIN, &skip, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  cr_assert_eq(vkl_dataset_get_info(ds)->count, 4);
  cr_assert_eq(vkl_dataset_skipped(ds), 0, "nothing skipped before decoding");
  uint8_t got[8 * 8];
  uint32_t label;
  for (int pass = 0; pass < 2; pass++) { /* the second: from the flags, same result */
    cr_assert_eq(vkl_dataset_get(ds, 1, got, &label, err, sizeof err), VKL_OK, "%s", err);
    cr_assert_eq(memcmp(got, img[2], sizeof got), 0, "image 1's substitute is image 2");
    cr_assert_eq(label, 1, "with image 2's label");
    cr_assert_eq(vkl_dataset_get(ds, 3, got, &label, err, sizeof err), VKL_OK, "%s", err);
    cr_assert_eq(memcmp(got, img[0], sizeof got), 0, "image 3's substitute is image 0");
    cr_assert_eq(label, 0);
    cr_assert_eq(vkl_dataset_skipped(ds), 2, "each bad file once");
  }
  const char *first = vkl_dataset_skipped_image(ds, 0);
  cr_assert(first && strstr(first, P("s/train/k0/1.png")) && strstr(first, "corrupt PNG"), "%s",
            first ? first : "(null)");
  cr_assert_null(vkl_dataset_skipped_image(ds, 2));
  vkl_dataset_destroy(ds);
  /* through the loader: full batches with the substitutes' labels, the
   * same bytes for 1 and 3 threads, each bad file counted once */
  float a[4 * 64], b[4 * 64];
  uint32_t la[4], lb[4];
  for (uint32_t threads = 1; threads <= 3; threads += 2) {
    cr_assert_eq(
        vkl_dataset_open_image_folder(P("s"), VKL_SPLIT_TRAIN, &skip, &ds, err, sizeof err), VKL_OK,
        "%s", err);
    load_in_order(ds, 2, threads, threads == 1 ? a : b, threads == 1 ? la : lb);
    cr_assert_eq(vkl_dataset_skipped(ds), 2);
    vkl_dataset_destroy(ds);
  }
  const uint32_t want[4] = {0, 1, 1, 0};
  cr_assert_arr_eq(la, want, sizeof want);
  cr_assert_arr_eq(lb, want, sizeof want);
  cr_assert_arr_eq(a, b, sizeof a);
  /* without the option: the error names the file and the image */
  cr_assert_eq(vkl_dataset_open_image_folder(P("s"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  expect_fail(vkl_dataset_get(ds, 1, got, &label, err, sizeof err), VKL_ERR_FORMAT, err,
              P("s/train/k0/1.png"), "image 1");
  vkl_dataset_destroy(ds);
  free(png);
  for (int i = 0; i < 3; i++) free(img[i]);
}

Test(data, open_by_name_errors) {
  char err[1024];
  vkl_dataset *ds;
  expect_fail(vkl_dataset_open("imagenet-22k", VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
              VKL_ERR_INVALID_ARGUMENT, err, "imagenet-22k", NULL);
  expect_fail(vkl_dataset_open("cifar10", VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
              VKL_ERR_INVALID_ARGUMENT, err, "datasets/README.md", NULL);
}

/* The real Fashion-MNIST from Debian's dataset-fashion-mnist. */
Test(data, fashion_mnist_from_debian) {
  char err[1024];
  vkl_dataset *tr, *te;
  cr_assert_eq(vkl_dataset_open("fashion-mnist", VKL_SPLIT_TRAIN, NULL, &tr, err, sizeof err),
               VKL_OK, "%s", err);
  cr_assert_eq(vkl_dataset_open("fashion-mnist", VKL_SPLIT_TEST, NULL, &te, err, sizeof err),
               VKL_OK, "%s", err);
  const vkl_dataset_info *a = vkl_dataset_get_info(tr), *b = vkl_dataset_get_info(te);
  cr_assert_eq(a->count, 60000);
  cr_assert_eq(b->count, 10000);
  cr_assert(a->channels == 1 && a->height == 28 && a->width == 28);
  cr_assert(b->channels == 1 && b->height == 28 && b->width == 28);
  cr_assert_eq(a->classes, 10);
  uint64_t per[10] = {0};
  for (uint64_t i = 0; i < a->count; i++) {
    cr_assert_lt(vkl_dataset_labels(tr)[i], 10);
    per[vkl_dataset_labels(tr)[i]]++;
  }
  for (int k = 0; k < 10; k++) cr_assert_eq(per[k], 6000, "class %d", k); /* balanced */
  for (uint64_t i = 0; i < b->count; i++) cr_assert_lt(vkl_dataset_labels(te)[i], 10);
  cr_assert_eq(vkl_dataset_labels(tr)[0], 9);
  cr_assert_str_eq(vkl_dataset_class_name(tr, 9), "Ankle boot");
  cr_assert_str_eq(a->source, VKL_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz");
  vkl_dataset_destroy(tr);
  vkl_dataset_destroy(te);
}

/* ---- found by the fuzzers (fuzz/) ------------------------------------------------ */

/* fuzz_image: a JPEG Huffman table (DHT) declaring more than 256 codes
 * overflows stb_image 2.27's tables (stbi__build_huffman). It must be
 * refused by our own check, named as such, before stb reads it: in the
 * headers (where the header check meets it) and after the entropy-coded
 * data (where only decoding would). */
Test(data, jpeg_with_an_oversized_huffman_table_is_refused) {
  const int W = 16, H = 16;
  uint8_t *a = smooth_image(W, H, 3, 1);
  mkdirs(P("hj/train/k"));
  write_jpg(P("hj/train/k/good.jpg"), W, H, 3, a);
  size_t n;
  uint8_t *jpg = read_bytes(P("hj/train/k/good.jpg"), &n);
  cr_assert(n > 4 && jpg[n - 2] == 0xFF && jpg[n - 1] == 0xD9, "not a JPEG ending in EOI");
  size_t dht = 0;
  for (size_t i = 2; i + 1 < n && !dht; i++)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC4) dht = i;
  cr_assert(dht, "stb_image_write wrote no DHT segment");
  char err[1024];
  vkl_dataset *ds;
  vkl_data_options pre = {.preload = 1};
  cr_assert_eq(vkl_dataset_open_image_folder(P("hj"), VKL_SPLIT_TRAIN, &pre, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  vkl_dataset_destroy(ds);
  unlink(P("hj/train/k/good.jpg"));
  /* 1: the first table's 16 code counts (after FF C4, the length, Tc/Th)
   * say 16 * 255 codes */
  uint8_t *bad = malloc(n + 32);
  memcpy(bad, jpg, n);
  memset(bad + dht + 5, 0xFF, 16);
  write_bytes(P("hj/train/k/1.jpg"), bad, n);
  expect_fail(vkl_dataset_open_image_folder(P("hj"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("hj/train/k/1.jpg"), "Huffman table with more than 256");
  unlink(P("hj/train/k/1.jpg"));
  /* 1b: the same behind a fill byte before SOI (FF FF D8), which stb takes */
  uint8_t *filled = malloc(n + 1);
  filled[0] = 0xFF;
  memcpy(filled + 1, bad, n);
  write_bytes(P("hj/train/k/1b.jpg"), filled, n + 1);
  free(filled);
  expect_fail(vkl_dataset_open_image_folder(P("hj"), VKL_SPLIT_TRAIN, NULL, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("hj/train/k/1b.jpg"), "Huffman table with more than 256");
  unlink(P("hj/train/k/1b.jpg"));
  /* 2: a valid file with such a table after its scan, before EOI: only
   * decoding would reach it, so the header check must look that far */
  static const uint8_t seg[4 + 17] = {0xFF, 0xC4, 0x00, 0x13, 0x10, 0xFF, 0xFF,
                                      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  memcpy(bad, jpg, n - 2);
  memcpy(bad + n - 2, seg, sizeof seg);
  memcpy(bad + n - 2 + sizeof seg, jpg + n - 2, 2);
  write_bytes(P("hj/train/k/2.jpg"), bad, n + sizeof seg);
  expect_fail(vkl_dataset_open_image_folder(P("hj"), VKL_SPLIT_TRAIN, &pre, &ds, err, sizeof err),
              VKL_ERR_FORMAT, err, P("hj/train/k/2.jpg"), "Huffman table with more than 256");
  free(bad);
  free(jpg);
  free(a);
}

/* fuzz_image: a PNG whose first IDAT chunk is empty made stb_image 2.27
 * compute NULL + 0 (UBSan's report; the sanitizer builds fail here without
 * the fix). Such a file is valid PNG and decodes as the file without it. */
Test(data, png_with_an_empty_first_idat_chunk_decodes) {
  const int W = 5, H = 3;
  uint8_t *a = smooth_image(W, H, 3, 2);
  mkdirs(P("pe/train/k"));
  write_png(P("pe/train/k/a.png"), W, H, 3, a);
  size_t n;
  uint8_t *png = read_bytes(P("pe/train/k/a.png"), &n);
  /* signature (8) + IHDR (4 + 4 + 13 + 4): the first IDAT follows */
  cr_assert(n > 37 && memcmp(png + 37, "IDAT", 4) == 0, "IHDR is not followed by IDAT");
  static const uint8_t empty_idat[12] = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xAF, 0x06, 0x1E};
  uint8_t *b = malloc(n + 12);
  memcpy(b, png, 33);
  memcpy(b + 33, empty_idat, 12);
  memcpy(b + 45, png + 33, n - 33);
  write_bytes(P("pe/train/k/a.png"), b, n + 12);
  char err[1024];
  vkl_dataset *ds;
  vkl_data_options pre = {.preload = 1};
  cr_assert_eq(vkl_dataset_open_image_folder(P("pe"), VKL_SPLIT_TRAIN, &pre, &ds, err, sizeof err),
               VKL_OK, "%s", err);
  uint8_t want[3 * 5 * 3], got[3 * 5 * 3];
  hwc_to_chw(want, a, W, H, 3, 3);
  cr_assert_eq(vkl_dataset_get(ds, 0, got, NULL, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_arr_eq(got, want, sizeof want, "the pixels differ from the file's without the chunk");
  vkl_dataset_destroy(ds);
  free(b);
  free(png);
  free(a);
}
