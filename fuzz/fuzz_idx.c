/* libFuzzer harness: the IDX reader (src/data/read_idx.c) and the
 * whole-file reading under it (src/data/dataset.c, raw and gzip'ed).
 *
 * Input (fuzz_util.h): flags, the images file, the labels file.
 *   flags bit 0: the harness gzips the images file before writing it, so
 *                the fuzzer explores IDX structure behind gzip (raw bytes
 *                that start 1f 8b reach the gzip path too, as streams
 *                with broken data or checksums);
 *   flags bit 1: the same for the labels file;
 *   flags bits 2-7: the number of classes (0 means 10).
 * A file the input leaves out is absent. An opened data set must keep its
 * promises: labels below the class count, every image readable. */
#include <stdlib.h>

#include "data/dataset.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_parts in;
  fuzz_split(data, size, 2, &in);
  const char *ip = fuzz_path(0, "images-idx3-ubyte"), *lp = fuzz_path(1, "labels-idx1-ubyte");
  for (int i = 0; i < 2; i++) {
    const char *p = i ? lp : ip;
    if (!in.present[i])
      fuzz_write(p, NULL, 0);
    else if (in.flags >> i & 1)
      fuzz_write_gz(p, in.part[i], in.len[i]);
    else
      fuzz_write(p, in.part[i], in.len[i]);
  }
  uint32_t classes = in.flags >> 2 ? in.flags >> 2 : 10;
  vkl_dataset *ds = NULL;
  char err[512];
  vkl_status st = vkl_dataset_open_idx_files("mnist", ip, lp, classes, &ds, err, sizeof err);
  fuzz_report("idx", st, err);
  if (st == VKL_OK) {
    const vkl_dataset_info *info = vkl_dataset_get_info(ds);
    const uint32_t *labels = vkl_dataset_labels(ds);
    size_t chw = (size_t)info->channels * info->height * info->width;
    uint8_t *px = malloc(chw);
    if (!px || info->count == 0 || info->classes != classes) abort();
    for (uint64_t i = 0; i < info->count; i++)
      if (labels[i] >= classes) abort();
    uint32_t label;
    if (vkl_dataset_get(ds, info->count - 1, px, &label, err, sizeof err) != VKL_OK) abort();
    free(px);
    vkl_dataset_destroy(ds);
  }
  return 0;
}
