/* IDX reader (MNIST, Fashion-MNIST; http://yann.lecun.com/exdb/mnist/).
 *
 * An IDX file is big-endian: a magic 0x00000800 | type << 8 | ndims (type
 * 0x08 = unsigned byte), ndims uint32 dimensions, then the data in row-major
 * order. Images are magic 0x00000803 (N, H, W), labels 0x00000801 (N). The
 * images are (N, 1, H, W) in CHW order as they stand, so the pixels stay in
 * the buffer the file was read into. Files may be gzip'ed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
/* a 28x28 set of 4G images is not an IDX file we can hold anyway */
#define IDX_MAX_BYTES (UINT64_C(8) << 30)

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks an IDX buffer: magic, header, and that the data is exactly the
 * product of the dimensions. dims receives the ndims dimensions. */
static vkl_status idx_check(const char *path, const uint8_t *buf, uint64_t len, uint32_t magic,
                            uint32_t ndims, uint32_t *dims, char *err, size_t errlen) {
  uint64_t header = 4 + 4ull * ndims;
  if (len < 4)
    return data_err(err, errlen, VKL_ERR_FORMAT,
                    "%s: truncated at byte %llu: the 4-byte IDX magic is incomplete", path,
                    (unsigned long long)len);
  uint32_t m = be32(buf);
  if (m != magic)
    return data_err(
        err, errlen, VKL_ERR_FORMAT, "%s: byte 0: wrong magic 0x%08x, expected 0x%08x (IDX %s)",
        path, m, magic,
        magic == IDX_IMAGES_MAGIC ? "unsigned-byte images (N,H,W)" : "unsigned-byte labels (N)");
  if (len < header)
    return data_err(err, errlen, VKL_ERR_FORMAT,
                    "%s: truncated at byte %llu: the header needs %llu bytes", path,
                    (unsigned long long)len, (unsigned long long)header);
  uint64_t total = 1;
  for (uint32_t d = 0; d < ndims; d++) {
    dims[d] = be32(buf + 4 + 4 * d);
    if (dims[d] == 0)
      return data_err(err, errlen, VKL_ERR_FORMAT, "%s: byte %u: dimension %u is 0", path,
                      4 + 4 * d, d);
    if (total > IDX_MAX_BYTES / dims[d])
      return data_err(err, errlen, VKL_ERR_FORMAT,
                      "%s: byte %u: absurd header: dimension %u is %u, the data would exceed %llu "
                      "bytes but the file holds %llu",
                      path, 4 + 4 * d, d, dims[d], (unsigned long long)IDX_MAX_BYTES,
                      (unsigned long long)(len - header));
    total *= dims[d];
  }
  uint64_t have = len - header;
  if (ndims == 3 && (dims[1] > 65536 || dims[2] > 65536))
    return data_err(err, errlen, VKL_ERR_FORMAT, "%s: byte 8: absurd image size %ux%u", path,
                    dims[1], dims[2]);
  uint64_t rec = ndims == 3 ? (uint64_t)dims[1] * dims[2] : 1;
  if (have < total)
    return data_err(err, errlen, VKL_ERR_FORMAT,
                    "%s: truncated: the header says %u %s (%llu bytes from byte %llu) but the "
                    "file ends at byte %llu, inside record %llu",
                    path, dims[0], ndims == 3 ? "images" : "labels", (unsigned long long)total,
                    (unsigned long long)header, (unsigned long long)len,
                    (unsigned long long)(have / rec));
  if (have > total)
    return data_err(err, errlen, VKL_ERR_FORMAT,
                    "%s: byte %llu: %llu bytes after the last of the %u records the header "
                    "announces",
                    path, (unsigned long long)(header + total), (unsigned long long)(have - total),
                    dims[0]);
  return VKL_OK;
}

static const char *const FASHION_NAMES[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                              "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};
static const char *const DIGIT_NAMES[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

vkl_status vkl_dataset_open_idx_files(const char *name, const char *images_path,
                                      const char *labels_path, uint32_t classes, vkl_dataset **out,
                                      char *err, size_t errlen) {
  *out = NULL;
  if (classes == 0 || classes > 256)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "%s: %u classes (1..256 for IDX labels)",
                    name, classes);
  vkl_dataset *ds = data_new(name, images_path);
  if (!ds) return data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", name);
  uint8_t *lab = NULL;
  uint64_t ilen = 0, llen = 0;
  uint32_t idims[3] = {0}, ldims[1] = {0};
  vkl_status st = data_read_file(images_path, IDX_MAX_BYTES, &ds->blob, &ilen, err, errlen);
  if (st) goto fail;
  st = idx_check(images_path, ds->blob, ilen, IDX_IMAGES_MAGIC, 3, idims, err, errlen);
  if (st) goto fail;
  st = data_read_file(labels_path, IDX_MAX_BYTES, &lab, &llen, err, errlen);
  if (st) goto fail;
  st = idx_check(labels_path, lab, llen, IDX_LABELS_MAGIC, 1, ldims, err, errlen);
  if (st) goto fail;
  if (idims[0] != ldims[0]) {
    st = data_err(err, errlen, VKL_ERR_FORMAT, "%s: byte 4: %u labels, but %s has %u images",
                  labels_path, ldims[0], images_path, idims[0]);
    goto fail;
  }
  ds->labels = malloc((size_t)ldims[0] * sizeof(uint32_t));
  if (!ds->labels) {
    st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", name);
    goto fail;
  }
  for (uint32_t i = 0; i < ldims[0]; i++) {
    uint32_t l = lab[8 + i];
    if (l >= classes) {
      st = data_err(err, errlen, VKL_ERR_FORMAT,
                    "%s: record %u (byte %u): label %u is out of range (%u classes)", labels_path,
                    i, 8 + i, l, classes);
      goto fail;
    }
    ds->labels[i] = l;
  }
  free(lab);
  ds->pixels = ds->blob + 16;
  ds->info.count = idims[0];
  ds->info.channels = 1;
  ds->info.height = idims[1];
  ds->info.width = idims[2];
  ds->info.classes = classes;
  if (classes == 10 && strstr(name, "fashion-mnist") == name)
    ds->class_names = (char **)FASHION_NAMES;
  else if (classes == 10 && strstr(name, "mnist") == name)
    ds->class_names = (char **)DIGIT_NAMES;
  *out = ds;
  return VKL_OK;
fail:
  free(lab);
  vkl_dataset_destroy(ds);
  return st;
}

/* dir/base, or dir/base.gz; NULL when neither exists (or out of memory). */
static char *idx_find(const char *dir, const char *base) {
  char *p = data_join(dir, base);
  if (!p || data_is_file(p)) return p;
  size_t n = strlen(p);
  char *gz = realloc(p, n + 4);
  if (!gz) {
    free(p);
    return NULL;
  }
  memcpy(gz + n, ".gz", 4);
  if (data_is_file(gz)) return gz;
  free(gz);
  return NULL;
}

vkl_status vkl_dataset_open_idx(const char *name, const char *dir, vkl_split split,
                                vkl_dataset **out, char *err, size_t errlen) {
  *out = NULL;
  int fashion = !strcmp(name, "fashion-mnist");
  const char *hint = fashion ? "; install the Debian package: apt-get install dataset-fashion-mnist"
                             : "; datasets/README.md says where to get the files";
  if (!dir) {
    if (!fashion)
      return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "%s: no directory given%s", name,
                      hint);
    dir = VKL_FASHION_MNIST_DIR;
  }
  if (!data_is_dir(dir))
    return data_err(err, errlen, VKL_ERR_IO, "%s: directory %s not found%s", name, dir, hint);
  const char *prefix = split == VKL_SPLIT_TRAIN ? "train" : "t10k";
  char ibase[64], lbase[64];
  snprintf(ibase, sizeof ibase, "%s-images-idx3-ubyte", prefix);
  snprintf(lbase, sizeof lbase, "%s-labels-idx1-ubyte", prefix);
  char *ip = idx_find(dir, ibase), *lp = idx_find(dir, lbase);
  vkl_status st = VKL_OK;
  if (!ip || !lp) {
    st = data_err(err, errlen, VKL_ERR_IO, "%s: %s/%s not found (nor with .gz)%s", name, dir,
                  !ip ? ibase : lbase, hint);
  } else {
    char full[64];
    snprintf(full, sizeof full, "%s/%s", name, split == VKL_SPLIT_TRAIN ? "train" : "test");
    st = vkl_dataset_open_idx_files(full, ip, lp, 10, out, err, errlen);
  }
  free(ip);
  free(lp);
  return st;
}
