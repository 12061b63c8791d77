/* libFuzzer harness: the CIFAR-10 / CIFAR-100 binary reader
 * (src/data/read_cifar.c).
 *
 * Input (fuzz_util.h): flags, then the split's files in the reader's order
 * (CIFAR-10 train: data_batch_1.bin .. data_batch_5.bin; CIFAR-10 test:
 * test_batch.bin; CIFAR-100: train.bin or test.bin).
 *   flags bit 0: CIFAR-100 (else CIFAR-10);
 *   flags bit 1: the test split (else train);
 *   flags bit 2: the files go in the subdirectory the official tarball
 *                unpacks to (cifar-10-batches-bin, cifar-100-binary).
 * A file the input leaves out is absent. An opened data set must keep its
 * promises: labels below the class count, every image readable. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "data/dataset.h"
#include "fuzz_util.h"

static const char *const FILES10[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                      "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
static const char *const FILES100[] = {"train.bin", "test.bin"};
static const char *const SUBDIRS[] = {"cifar-10-batches-bin", "cifar-100-binary"};

/* Removes every file an earlier input may have left. */
static void clear(void) {
  char p[1024];
  for (int s = 0; s < 3; s++) {
    const char *sub = s == 0 ? "" : SUBDIRS[s - 1];
    for (int f = 0; f < 6; f++) {
      snprintf(p, sizeof p, "%s/%s/%s", fuzz_dir(), sub, FILES10[f]);
      remove(p);
    }
    for (int f = 0; f < 2; f++) {
      snprintf(p, sizeof p, "%s/%s/%s", fuzz_dir(), sub, FILES100[f]);
      remove(p);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_parts in;
  int c100 = size && data[0] & 1, test = size && data[0] >> 1 & 1;
  int nfiles = c100 || test ? 1 : 5;
  fuzz_split(data, size, nfiles, &in);
  clear();
  char sub[1024], p[1200];
  if (in.flags & 4) {
    snprintf(sub, sizeof sub, "%s/%s", fuzz_dir(), SUBDIRS[c100]);
    mkdir(sub, 0700);
  } else {
    snprintf(sub, sizeof sub, "%s", fuzz_dir());
  }
  for (int f = 0; f < nfiles; f++) {
    if (!in.present[f]) continue;
    const char *name = c100 ? FILES100[test] : FILES10[test ? 5 : f];
    snprintf(p, sizeof p, "%s/%s", sub, name);
    fuzz_write(p, in.part[f], in.len[f]);
  }
  vkl_dataset *ds = NULL;
  char err[512];
  vkl_split split = test ? VKL_SPLIT_TEST : VKL_SPLIT_TRAIN;
  vkl_status st = c100 ? vkl_dataset_open_cifar100(fuzz_dir(), split, &ds, err, sizeof err)
                       : vkl_dataset_open_cifar10(fuzz_dir(), split, &ds, err, sizeof err);
  fuzz_report(c100 ? "cifar100" : "cifar10", st, err);
  if (st == VKL_OK) {
    const vkl_dataset_info *info = vkl_dataset_get_info(ds);
    const uint32_t *labels = vkl_dataset_labels(ds);
    uint32_t classes = c100 ? 100 : 10;
    if (info->count == 0 || info->classes != classes || info->channels != 3 || info->height != 32 ||
        info->width != 32)
      abort();
    for (uint64_t i = 0; i < info->count; i++)
      if (labels[i] >= classes) abort();
    uint8_t px[3 * 32 * 32];
    uint32_t label;
    if (vkl_dataset_get(ds, info->count - 1, px, &label, err, sizeof err) != VKL_OK) abort();
    vkl_dataset_destroy(ds);
  }
  return 0;
}
