/* The dataset handle: allocation, accessors, sample access, opening by
 * name, and the file helpers every reader uses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/data_internal.h"

vkl_status data_err(char *err, size_t errlen, vkl_status st, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return st;
}

vkl_dataset *data_new(const char *name, const char *source) {
  vkl_dataset *ds = calloc(1, sizeof *ds);
  if (!ds) return NULL;
  snprintf(ds->name, sizeof ds->name, "%s", name);
  ds->source = strdup(source ? source : "");
  if (!ds->source) {
    free(ds);
    return NULL;
  }
  ds->info.name = ds->name;
  ds->info.source = ds->source;
  return ds;
}

vkl_status data_alloc(vkl_dataset *ds, uint64_t count, uint32_t c, uint32_t h, uint32_t w,
                      int with_pixels, char *err, size_t errlen) {
  uint64_t chw = (uint64_t)c * h * w; /* each <= 2^16 where callers check, so no overflow */
  if (count == 0 || chw == 0)
    return data_err(err, errlen, VKL_ERR_FORMAT, "%s: %s: no images (count %llu, %ux%ux%u)",
                    ds->name, ds->source, (unsigned long long)count, c, h, w);
  if (count > SIZE_MAX / sizeof(uint32_t) || (with_pixels && count > SIZE_MAX / chw))
    return data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY,
                    "%s: %llu images of %ux%ux%u are too many", ds->name, (unsigned long long)count,
                    c, h, w);
  ds->labels = malloc(count * sizeof(uint32_t));
  if (with_pixels) ds->pixels = ds->blob = malloc(count * chw);
  if (!ds->labels || (with_pixels && !ds->pixels))
    return data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY,
                    "%s: out of host memory for %llu images of %ux%ux%u (%llu bytes)", ds->name,
                    (unsigned long long)count, c, h, w, (unsigned long long)(count * chw));
  ds->info.count = count;
  ds->info.channels = c;
  ds->info.height = h;
  ds->info.width = w;
  return VKL_OK;
}

void vkl_dataset_destroy(vkl_dataset *ds) {
  if (!ds) return;
  if (ds->paths) {
    for (uint64_t i = 0; i < ds->info.count; i++) free(ds->paths[i]);
    free(ds->paths);
  }
  if (ds->class_names && ds->class_names_owned) {
    for (uint32_t k = 0; k < ds->info.classes; k++) free(ds->class_names[k]);
    free(ds->class_names);
  }
  data_skipped_destroy(ds->skipped);
  free(ds->blob);
  free(ds->labels);
  free(ds->source);
  free(ds);
}

const vkl_dataset_info *vkl_dataset_get_info(const vkl_dataset *ds) {
  return &ds->info;
}

const char *vkl_dataset_class_name(const vkl_dataset *ds, uint32_t k) {
  if (!ds->class_names || k >= ds->info.classes) return NULL;
  return ds->class_names[k];
}

const uint8_t *vkl_dataset_pixels(const vkl_dataset *ds) {
  return ds->pixels;
}

const uint32_t *vkl_dataset_labels(const vkl_dataset *ds) {
  return ds->labels;
}

vkl_status vkl_dataset_get(const vkl_dataset *ds, uint64_t index, uint8_t *pixels, uint32_t *label,
                           char *err, size_t errlen) {
  const vkl_dataset_info *in = &ds->info;
  if (index >= in->count)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "%s: image %llu of %llu does not exist",
                    ds->name, (unsigned long long)index, (unsigned long long)in->count);
  if (label) *label = ds->labels[index];
  if (!pixels) return VKL_OK;
  size_t chw = (size_t)in->channels * in->height * in->width;
  if (ds->pixels) {
    memcpy(pixels, ds->pixels + index * chw, chw);
    return VKL_OK;
  }
  if (ds->skipped) return data_decode_or_substitute(ds, index, pixels, label, err, errlen);
  vkl_status st =
      data_image_load(ds->paths[index], in->channels, in->height, in->width, pixels, err, errlen);
  if (st && err && errlen) {
    /* name the sample as well as the file */
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s: image %llu: %s", ds->name, (unsigned long long)index, err);
    snprintf(err, errlen, "%s", tmp);
  }
  return st;
}

/* ---- files --------------------------------------------------------------- */

int data_is_file(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int data_is_dir(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

char *data_join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *p = malloc(la + lb + 2);
  if (!p) return NULL;
  memcpy(p, a, la);
  size_t n = la;
  if (la && a[la - 1] != '/') p[n++] = '/';
  memcpy(p + n, b, lb + 1);
  return p;
}

vkl_status data_read_file(const char *path, uint64_t max_bytes, uint8_t **data, uint64_t *len,
                          char *err, size_t errlen) {
  *data = NULL;
  *len = 0;
  struct stat sb;
  if (stat(path, &sb) != 0)
    return data_err(err, errlen, VKL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(sb.st_mode))
    return data_err(err, errlen, VKL_ERR_IO, "%s: not a regular file", path);
  gzFile f = gzopen(path, "rb");
  if (!f) return data_err(err, errlen, VKL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  gzbuffer(f, 1u << 18);
  /* Start from the file's size (exact for raw files; gzip'ed content grows
   * the buffer as it actually decompresses). */
  uint64_t cap = (uint64_t)sb.st_size + 1;
  if (cap < 4096) cap = 4096;
  if (cap > max_bytes + 1) cap = max_bytes + 1;
  uint8_t *buf = malloc(cap);
  vkl_status st = VKL_OK;
  uint64_t n = 0;
  if (!buf) {
    st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory (%llu bytes)",
                  path, (unsigned long long)cap);
    goto done;
  }
  for (;;) {
    if (n == cap) {
      if (cap > max_bytes) {
        st = data_err(err, errlen, VKL_ERR_FORMAT, "%s: more than %llu bytes of content; not a %s",
                      path, (unsigned long long)max_bytes, "data set file of the expected kind");
        goto done;
      }
      uint64_t ncap = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
      uint8_t *nb = realloc(buf, ncap);
      if (!nb) {
        st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY,
                      "%s: out of host memory after %llu bytes", path, (unsigned long long)n);
        goto done;
      }
      buf = nb;
      cap = ncap;
    }
    uint64_t want = cap - n;
    if (want > (1u << 30)) want = 1u << 30;
    int got = gzread(f, buf + n, (unsigned)want);
    if (got < 0) {
      int zerr;
      const char *msg = gzerror(f, &zerr);
      st = data_err(err, errlen, VKL_ERR_FORMAT,
                    "%s: corrupt gzip data after byte %llu of content: %s", path,
                    (unsigned long long)n, msg);
      goto done;
    }
    if (got == 0) break;
    n += (uint64_t)got;
  }
  {
    /* a gzip stream cut short reads as a short file plus this error */
    int zerr = Z_OK;
    const char *msg = gzerror(f, &zerr);
    if (zerr != Z_OK && zerr != Z_STREAM_END) {
      st = data_err(err, errlen, VKL_ERR_FORMAT,
                    "%s: gzip data ends early, at byte %llu of content: %s", path,
                    (unsigned long long)n, msg);
      goto done;
    }
  }
done : {
  int rc = gzclose_r(f);
  if (!st && rc != Z_OK)
    st = data_err(err, errlen, VKL_ERR_FORMAT,
                  "%s: gzip stream truncated after byte %llu of content", path,
                  (unsigned long long)n);
}
  if (st) {
    free(buf);
    return st;
  }
  *data = buf;
  *len = n;
  return VKL_OK;
}

/* ---- by name ------------------------------------------------------------- */

vkl_status vkl_dataset_open(const char *name, vkl_split split, const vkl_data_options *opt,
                            vkl_dataset **out, char *err, size_t errlen) {
  vkl_data_options none = {0};
  if (!opt) opt = &none;
  *out = NULL;
  if (!name) return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "dataset: no name given");
  if (!strcmp(name, "synthetic")) {
    vkl_synthetic_config sc = {
        .count = opt->count ? opt->count : (split == VKL_SPLIT_TRAIN ? 50000 : 10000),
        .channels = opt->channels ? opt->channels : 3,
        .height = opt->height ? opt->height : 32,
        .width = opt->width ? opt->width : 32,
        .classes = opt->classes ? opt->classes : 10,
        .seed = opt->seed,
        .split = split,
    };
    return vkl_dataset_synthetic(&sc, out, err, errlen);
  }
  if (!strcmp(name, "fashion-mnist"))
    return vkl_dataset_open_idx(name, opt->dir, split, out, err, errlen);
  const char *dir = opt->dir;
  int known = !strcmp(name, "mnist") || !strcmp(name, "cifar10") || !strcmp(name, "cifar100") ||
              !strcmp(name, "tiny-imagenet") || !strcmp(name, "folder");
  if (!known)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT,
                    "dataset: unknown data set '%s' (fashion-mnist, mnist, cifar10, cifar100, "
                    "tiny-imagenet, folder, synthetic)",
                    name);
  if (!dir)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT,
                    "%s: no directory given (datasets/README.md says how to get it)", name);
  if (!strcmp(name, "mnist")) return vkl_dataset_open_idx(name, dir, split, out, err, errlen);
  if (!strcmp(name, "cifar10")) return vkl_dataset_open_cifar10(dir, split, out, err, errlen);
  if (!strcmp(name, "cifar100")) return vkl_dataset_open_cifar100(dir, split, out, err, errlen);
  if (!strcmp(name, "tiny-imagenet"))
    return vkl_dataset_open_tiny_imagenet(dir, split, opt, out, err, errlen);
  return vkl_dataset_open_image_folder(dir, split, opt, out, err, errlen);
}

/* ---- splits alike ---------------------------------------------------------- */

vkl_dataset_like vkl_dataset_like_of(const vkl_dataset *ds, const char *whose) {
  const vkl_dataset_info *in = &ds->info;
  vkl_dataset_like like = {in->channels, in->height, in->width, in->classes, whose};
  return like;
}

vkl_status vkl_dataset_check_like(const vkl_dataset *ds, const vkl_dataset_like *like, char *err,
                                  size_t errlen) {
  const vkl_dataset_info *in = &ds->info;
  if (in->channels != like->channels || in->height != like->height || in->width != like->width)
    return data_err(err, errlen, VKL_ERR_FORMAT,
                    "%s: %s: its images are %ux%ux%u, %s %ux%ux%u (every split must have one "
                    "shape)",
                    ds->name, ds->source, in->channels, in->height, in->width, like->whose,
                    like->channels, like->height, like->width);
  if (in->classes != like->classes)
    return data_err(err, errlen, VKL_ERR_FORMAT,
                    "%s: %s: it has %u classes, %s %u (every split must number the same classes)",
                    ds->name, ds->source, in->classes, like->whose, like->classes);
  return VKL_OK;
}

vkl_status vkl_dataset_open_like(const char *name, vkl_split split, const vkl_data_options *opt,
                                 const vkl_dataset_like *like, vkl_dataset **out, char *err,
                                 size_t errlen) {
  vkl_data_options o = {0};
  if (opt) o = *opt;
  if (!o.channels) o.channels = like->channels;
  if (!o.height) o.height = like->height;
  if (!o.width) o.width = like->width;
  if (!o.classes) o.classes = like->classes;
  vkl_status st = vkl_dataset_open(name, split, &o, out, err, errlen);
  if (!st && (st = vkl_dataset_check_like(*out, like, err, errlen))) {
    vkl_dataset_destroy(*out);
    *out = NULL;
  }
  return st;
}
