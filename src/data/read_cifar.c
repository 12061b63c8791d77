/* CIFAR-10 and CIFAR-100 binary versions
 * (https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * Each file is a sequence of fixed-size records: CIFAR-10 has one label
 * byte then 3072 pixel bytes, CIFAR-100 a coarse label byte, a fine label
 * byte, then 3072 pixel bytes. Pixels are 1024 red, 1024 green, 1024 blue,
 * each 32x32 row-major: already (3,32,32) CHW. The record count comes from
 * the file's actual size, which must be a whole number of records. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"

#define CIFAR_PIXELS 3072u

typedef struct cifar_kind {
  const char *name;   /* "cifar10" */
  const char *subdir; /* what the official tarball unpacks to */
  uint32_t label_bytes, classes, coarse_classes;
} cifar_kind;

static const cifar_kind CIFAR10 = {"cifar10", "cifar-10-batches-bin", 1, 10, 0};
static const cifar_kind CIFAR100 = {"cifar100", "cifar-100-binary", 2, 100, 20};

static const char *const CIFAR10_NAMES[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};

/* The directory holding the files: dir itself, or dir/<subdir>. */
static char *cifar_dir(const char *dir, const cifar_kind *k, const char *first_file) {
  char *p = data_join(dir, first_file);
  int here = p && data_is_file(p);
  free(p);
  if (here) return strdup(dir);
  char *sub = data_join(dir, k->subdir);
  if (sub && data_is_dir(sub)) return sub;
  free(sub);
  return strdup(dir);
}

static vkl_status cifar_open(const cifar_kind *k, const char *dir, vkl_split split,
                             vkl_dataset **out, char *err, size_t errlen) {
  *out = NULL;
  const char *files10_train[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                 "data_batch_4.bin", "data_batch_5.bin"};
  const char *files10_test[] = {"test_batch.bin"};
  const char *files100_train[] = {"train.bin"};
  const char *files100_test[] = {"test.bin"};
  const char **files;
  size_t nfiles;
  if (k == &CIFAR10) {
    files = split == VKL_SPLIT_TRAIN ? files10_train : files10_test;
    nfiles = split == VKL_SPLIT_TRAIN ? 5 : 1;
  } else {
    files = split == VKL_SPLIT_TRAIN ? files100_train : files100_test;
    nfiles = 1;
  }
  if (!dir)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "%s: no directory given", k->name);
  if (!data_is_dir(dir))
    return data_err(err, errlen, VKL_ERR_IO,
                    "%s: directory %s not found; datasets/README.md says where to get the binary "
                    "version",
                    k->name, dir);
  char *base = cifar_dir(dir, k, files[0]);
  char *paths[5] = {0};
  uint64_t counts[5] = {0}, total = 0;
  const uint64_t rec = k->label_bytes + CIFAR_PIXELS;
  vkl_status st = VKL_OK;
  vkl_dataset *ds = NULL;
  uint8_t *recbuf = malloc(rec);
  if (!base || !recbuf) {
    st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", k->name);
    goto done;
  }
  /* sizes first: the record counts come from the files' actual sizes */
  for (size_t f = 0; f < nfiles; f++) {
    paths[f] = data_join(base, files[f]);
    if (!paths[f]) {
      st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", k->name);
      goto done;
    }
    struct stat sb;
    int found = stat(paths[f], &sb) == 0;
    if (!found || !S_ISREG(sb.st_mode)) {
      st = data_err(err, errlen, VKL_ERR_IO,
                    "%s: %s: cannot open: %s (expects the binary version's %s in %s or %s/%s)",
                    k->name, paths[f], found ? "not a regular file" : strerror(errno), files[f],
                    dir, dir, k->subdir);
      goto done;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size == 0 || size % rec) {
      st = data_err(err, errlen, VKL_ERR_FORMAT,
                    "%s: size %llu bytes is not a whole number of %llu-byte %s records (record "
                    "%llu, from byte %llu, is incomplete)",
                    paths[f], (unsigned long long)size, (unsigned long long)rec, k->name,
                    (unsigned long long)(size / rec), (unsigned long long)(size / rec * rec));
      goto done;
    }
    counts[f] = size / rec;
    total += counts[f];
  }
  char full[64];
  snprintf(full, sizeof full, "%s/%s", k->name, split == VKL_SPLIT_TRAIN ? "train" : "test");
  ds = data_new(full, base);
  if (!ds) {
    st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", k->name);
    goto done;
  }
  st = data_alloc(ds, total, 3, 32, 32, 1, err, errlen);
  if (st) goto done;
  ds->info.classes = k->classes;
  if (k == &CIFAR10) ds->class_names = (char **)CIFAR10_NAMES;
  uint64_t at = 0;
  for (size_t f = 0; f < nfiles; f++) {
    FILE *fp = fopen(paths[f], "rb");
    if (!fp) {
      st = data_err(err, errlen, VKL_ERR_IO, "%s: cannot open: %s", paths[f], strerror(errno));
      goto done;
    }
    for (uint64_t r = 0; r < counts[f]; r++, at++) {
      if (fread(recbuf, 1, rec, fp) != rec) {
        st = data_err(err, errlen, VKL_ERR_IO, "%s: record %llu (byte %llu): read failed: %s",
                      paths[f], (unsigned long long)r, (unsigned long long)(r * rec),
                      ferror(fp) ? strerror(errno) : "file shrank while reading");
        fclose(fp);
        goto done;
      }
      uint32_t label = recbuf[k->label_bytes - 1];
      if (k->coarse_classes && recbuf[0] >= k->coarse_classes) {
        st = data_err(err, errlen, VKL_ERR_FORMAT,
                      "%s: record %llu (byte %llu): coarse label %u is out of range (%u classes)",
                      paths[f], (unsigned long long)r, (unsigned long long)(r * rec), recbuf[0],
                      k->coarse_classes);
        fclose(fp);
        goto done;
      }
      if (label >= k->classes) {
        st = data_err(err, errlen, VKL_ERR_FORMAT,
                      "%s: record %llu (byte %llu): label %u is out of range (%u classes)",
                      paths[f], (unsigned long long)r,
                      (unsigned long long)(r * rec + k->label_bytes - 1), label, k->classes);
        fclose(fp);
        goto done;
      }
      ds->labels[at] = label;
      memcpy(ds->pixels + at * CIFAR_PIXELS, recbuf + k->label_bytes, CIFAR_PIXELS);
    }
    fclose(fp);
  }
  *out = ds;
  ds = NULL;
done:
  vkl_dataset_destroy(ds);
  for (size_t f = 0; f < 5; f++) free(paths[f]);
  free(base);
  free(recbuf);
  return st;
}

vkl_status vkl_dataset_open_cifar10(const char *dir, vkl_split split, vkl_dataset **out, char *err,
                                    size_t errlen) {
  return cifar_open(&CIFAR10, dir, split, out, err, errlen);
}

vkl_status vkl_dataset_open_cifar100(const char *dir, vkl_split split, vkl_dataset **out, char *err,
                                     size_t errlen) {
  return cifar_open(&CIFAR100, dir, split, out, err, errlen);
}
