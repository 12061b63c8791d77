/* Image-folder data sets: any root/<split>/<class>/<image> tree, and Tiny
 * ImageNet's layout (train/<wnid>/images/, val/images/ with
 * val/val_annotations.txt).
 *
 * Opening lists the files (sorted, so the order never depends on the file
 * system), numbers the classes, and checks every image's header (readable,
 * PNG or JPEG, sane size) without decoding it. The pixels are decoded on
 * demand by vkl_dataset_get (in the loader threads), or all at open with
 * the preload option. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/data_internal.h"

typedef struct entries {
  char **paths;
  uint32_t *labels;
  uint64_t n, cap;
} entries;

static void entries_free(entries *e) {
  for (uint64_t i = 0; i < e->n; i++) free(e->paths[i]);
  free(e->paths);
  free(e->labels);
  memset(e, 0, sizeof *e);
}

/* Takes ownership of path (also on failure). */
static int entries_add(entries *e, char *path, uint32_t label) {
  if (!path) return -1;
  if (e->n == e->cap) {
    uint64_t cap = e->cap ? e->cap * 2 : 1024;
    char **p = realloc(e->paths, cap * sizeof *p);
    if (p) e->paths = p;
    uint32_t *l = realloc(e->labels, cap * sizeof *l);
    if (l) e->labels = l;
    if (!p || !l) {
      free(path);
      return -1;
    }
    e->cap = cap;
  }
  e->paths[e->n] = path;
  e->labels[e->n++] = label;
  return 0;
}

static void names_free(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* The entries of dir (no hidden ones), subdirectories when want_dirs, else
 * regular files with an image extension; sorted by name. */
static vkl_status list_dir(const char *dir, int want_dirs, char ***out, size_t *count, char *err,
                           size_t errlen) {
  *out = NULL;
  *count = 0;
  DIR *d = opendir(dir);
  if (!d)
    return data_err(err, errlen, VKL_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
  char **names = NULL;
  size_t n = 0, cap = 0;
  vkl_status st = VKL_OK;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    if (!want_dirs && !is_image_name(de->d_name)) continue;
    char *full = data_join(dir, de->d_name);
    struct stat sb;
    int ok =
        full && stat(full, &sb) == 0 && (want_dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
    if (!full) st = VKL_ERR_OUT_OF_HOST_MEMORY;
    free(full);
    if (st) break;
    if (!ok) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **nn = realloc(names, cap * sizeof *nn);
      if (!nn) {
        st = VKL_ERR_OUT_OF_HOST_MEMORY;
        break;
      }
      names = nn;
    }
    if (!(names[n] = strdup(de->d_name))) {
      st = VKL_ERR_OUT_OF_HOST_MEMORY;
      break;
    }
    n++;
  }
  closedir(d);
  if (st) {
    names_free(names, n);
    return data_err(err, errlen, st, "%s: out of host memory listing the directory", dir);
  }
  if (n) qsort(names, n, sizeof *names, cmp_names);
  *out = names;
  *count = n;
  return VKL_OK;
}

/* Adds dir's image files, sorted, with label. A class directory without
 * images is an error: it would number a class that no image teaches or
 * tests. */
static vkl_status add_images(entries *e, const char *dir, uint32_t label, char *err,
                             size_t errlen) {
  char **files;
  size_t n;
  vkl_status st = list_dir(dir, 0, &files, &n, err, errlen);
  if (st) return st;
  if (n == 0)
    st = data_err(err, errlen, VKL_ERR_FORMAT,
                  "%s: a class directory without .png, .jpg or .jpeg images (add images or "
                  "remove it)",
                  dir);
  for (size_t i = 0; i < n && !st; i++)
    if (entries_add(e, data_join(dir, files[i]), label))
      st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", dir);
  names_free(files, n);
  return st;
}

/* Leaves entry i out (its file unreadable), recording why when skipping. */
static vkl_status skip_entry(const char *name, entries *e, uint64_t i, const char *why,
                             const vkl_data_options *opt, data_skipped *skipped, char *err,
                             size_t errlen) {
  char msg[1024];
  snprintf(msg, sizeof msg, "%s: %s", e->paths[i], why);
  if (!opt->skip_bad_images) return data_err(err, errlen, VKL_ERR_FORMAT, "%s: %s", name, msg);
  if (data_skipped_add(skipped, msg))
    return data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", name);
  return VKL_OK;
}

/* Checks every header, leaving out (and recording) the unreadable images
 * when skipping; the first readable image settles the zero sides of
 * (*c,*h,*w). */
static vkl_status check_headers(const char *name, entries *e, const vkl_data_options *opt,
                                data_skipped *skipped, uint32_t *c, uint32_t *h, uint32_t *w,
                                char *err, size_t errlen) {
  uint64_t kept = 0;
  for (uint64_t i = 0; i < e->n; i++) {
    int iw, ih, comp;
    const char *why;
    if (data_image_info(e->paths[i], &iw, &ih, &comp, &why)) {
      char reason[256];
      snprintf(reason, sizeof reason, "not a readable image: %s", why);
      vkl_status st = skip_entry(name, e, i, reason, opt, skipped, err, errlen);
      if (st) {
        e->n = kept + (e->n - i); /* what is still owned: the kept and the unchecked */
        memmove(e->paths + kept, e->paths + i, (e->n - kept) * sizeof *e->paths);
        return st;
      }
      free(e->paths[i]);
      continue;
    }
    if (!*c) *c = comp >= 3 ? 3 : 1;
    if (!*h) *h = (uint32_t)ih;
    if (!*w) *w = (uint32_t)iw;
    e->paths[kept] = e->paths[i];
    e->labels[kept++] = e->labels[i];
  }
  e->n = kept;
  return VKL_OK;
}

/* Decodes every entry into ds->pixels, leaving out (and recording) those
 * that fail when skipping; ds->info.count and labels become the decoded. */
static vkl_status preload_images(vkl_dataset *ds, entries *e, const vkl_data_options *opt,
                                 char *err, size_t errlen) {
  const vkl_dataset_info *in = &ds->info;
  size_t chw = (size_t)in->channels * in->height * in->width;
  uint64_t n = 0;
  char why[768];
  for (uint64_t i = 0; i < e->n; i++) {
    vkl_status st = data_image_load(e->paths[i], in->channels, in->height, in->width,
                                    ds->pixels + n * chw, why, sizeof why);
    if (st && (!opt->skip_bad_images || st == VKL_ERR_OUT_OF_HOST_MEMORY))
      return data_err(err, errlen, st, "%s: %s", ds->name, why);
    if (st && data_skipped_add(ds->skipped, why))
      return data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", ds->name);
    if (!st) ds->labels[n++] = e->labels[i];
  }
  ds->info.count = n;
  return VKL_OK;
}

/* A class that had images in this split must keep one after skipping: a
 * class whose every image was unreadable would be silently empty. */
static vkl_status check_classes_kept(const char *name, const uint64_t *had, const uint32_t *labels,
                                     uint64_t n, char **classes, size_t nclasses, char *err,
                                     size_t errlen) {
  uint64_t *kept = calloc(nclasses, sizeof *kept);
  if (!kept)
    return data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", name);
  for (uint64_t i = 0; i < n; i++) kept[labels[i]]++;
  vkl_status st = VKL_OK;
  for (size_t k = 0; k < nclasses && !st; k++)
    if (had[k] && !kept[k])
      st = data_err(err, errlen, VKL_ERR_FORMAT,
                    "%s: every image of class '%s' (%llu) was skipped as unreadable", name,
                    classes[k], (unsigned long long)had[k]);
  free(kept);
  return st;
}

/* Checks the headers, settles (C,H,W), optionally decodes everything, and
 * builds the dataset, which takes the entries and the class names. */
static vkl_status folder_finish(const char *name, const char *source, entries *e, char **classes,
                                size_t nclasses, uint32_t dc, uint32_t dh, uint32_t dw,
                                const vkl_data_options *opt, vkl_dataset **out, char *err,
                                size_t errlen) {
  vkl_status st = VKL_OK;
  vkl_dataset *ds = NULL;
  data_skipped *skipped = NULL;
  uint64_t *had = NULL;
  uint32_t c = opt->channels ? opt->channels : dc, h = opt->height ? opt->height : dh,
           w = opt->width ? opt->width : dw;
  if (c > 3 || c == 2 || h > 65536 || w > 65536) {
    st = data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT,
                  "%s: images of %ux%ux%u requested (channels 1 or 3, sides up to 65536)", name, c,
                  h, w);
    goto fail;
  }
  if (nclasses == 0) {
    st = data_err(err, errlen, VKL_ERR_FORMAT, "%s: %s: no class directories", name, source);
    goto fail;
  }
  if (!(had = calloc(nclasses, sizeof *had))) {
    st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", name);
    goto fail;
  }
  for (uint64_t i = 0; i < e->n; i++) had[e->labels[i]]++;
  uint64_t listed = e->n;
  if ((opt->skip_bad_images && (st = data_skipped_create(&skipped, err, errlen))) ||
      (st = check_headers(name, e, opt, skipped, &c, &h, &w, err, errlen)))
    goto fail;
  if (e->n == 0) {
    st = data_err(err, errlen, VKL_ERR_FORMAT, "%s: %s: no readable images (%llu skipped)", name,
                  source, (unsigned long long)listed);
    goto fail;
  }
  if (!(ds = data_new(name, source))) {
    st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", name);
    goto fail;
  }
  st = data_alloc(ds, e->n, c, h, w, opt->preload, err, errlen);
  if (st) goto fail;
  ds->info.classes = (uint32_t)nclasses;
  ds->skipped = skipped;
  skipped = NULL;
  if (opt->preload) {
    memcpy(ds->labels, e->labels, e->n * sizeof(uint32_t));
    if ((st = preload_images(ds, e, opt, err, errlen))) goto fail;
    if (ds->info.count == 0) {
      st = data_err(err, errlen, VKL_ERR_FORMAT, "%s: %s: no decodable images (%llu skipped)", name,
                    source, (unsigned long long)listed);
      goto fail;
    }
    entries_free(e);
  } else {
    if (ds->skipped && (st = data_skipped_track(ds->skipped, e->n, err, errlen))) goto fail;
    memcpy(ds->labels, e->labels, e->n * sizeof(uint32_t));
    ds->paths = e->paths;
    e->paths = NULL;
    e->n = 0;
    free(e->labels);
    e->labels = NULL;
    ds->info.lazy = 1;
  }
  ds->info.skipped = vkl_dataset_skipped(ds);
  st = check_classes_kept(name, had, ds->labels, ds->info.count, classes, nclasses, err, errlen);
  if (st) goto fail;
  free(had);
  ds->class_names = classes;
  ds->class_names_owned = 1;
  *out = ds;
  return VKL_OK;
fail:
  names_free(classes, nclasses);
  free(had);
  data_skipped_destroy(skipped);
  vkl_dataset_destroy(ds);
  entries_free(e);
  return st;
}

/* ---- any image folder --------------------------------------------------- */

vkl_status vkl_dataset_open_image_folder(const char *root, vkl_split split,
                                         const vkl_data_options *opt, vkl_dataset **out, char *err,
                                         size_t errlen) {
  vkl_data_options none = {0};
  if (!opt) opt = &none;
  *out = NULL;
  if (!root || !data_is_dir(root))
    return data_err(err, errlen, VKL_ERR_IO, "folder: directory %s not found",
                    root ? root : "(none given)");
  char *train = data_join(root, "train"), *val = data_join(root, "val"),
       *test = data_join(root, "test");
  char **classes = NULL, **present = NULL;
  size_t nclasses = 0, npresent = 0;
  entries e = {0};
  vkl_status st = VKL_OK;
  if (!train || !val || !test) {
    st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "folder: out of host memory");
    goto done;
  }
  int has_train = data_is_dir(train), has_val = data_is_dir(val), has_test = data_is_dir(test);
  const char *dir;
  if (!has_train && !has_val && !has_test)
    dir = root;
  else if (split == VKL_SPLIT_TRAIN)
    dir = has_train ? train : NULL;
  else
    dir = has_val ? val : has_test ? test : NULL;
  if (!dir) {
    st = data_err(err, errlen, VKL_ERR_IO, "folder: %s has no %s directory", root,
                  split == VKL_SPLIT_TRAIN ? "train/" : "val/ or test/");
    goto done;
  }
  /* classes: train's subdirectories, so both splits number them alike */
  st = list_dir(has_train ? train : dir, 1, &classes, &nclasses, err, errlen);
  if (st) goto done;
  if (nclasses > UINT32_MAX) {
    st = data_err(err, errlen, VKL_ERR_FORMAT, "folder: %s: too many classes", root);
    goto done;
  }
  st = list_dir(dir, 1, &present, &npresent, err, errlen);
  if (st) goto done;
  for (size_t i = 0; i < npresent; i++) {
    char **k = bsearch(&present[i], classes, nclasses, sizeof *classes, cmp_names);
    char *sub = data_join(dir, present[i]);
    if (!sub) {
      st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "folder: out of host memory");
      goto done;
    }
    if (!k) {
      st = data_err(err, errlen, VKL_ERR_FORMAT, "folder: %s: class '%s' is not in %s", sub,
                    present[i], train);
    } else {
      st = add_images(&e, sub, (uint32_t)(k - classes), err, errlen);
    }
    free(sub);
    if (st) goto done;
  }
  if (e.n == 0) {
    st = data_err(err, errlen, VKL_ERR_FORMAT,
                  "folder: %s: no .png, .jpg or .jpeg images in %s/<class>/", dir, dir);
    goto done;
  }
  char name[64];
  snprintf(name, sizeof name, "folder/%s", split == VKL_SPLIT_TRAIN ? "train" : "test");
  st = folder_finish(name, dir, &e, classes, nclasses, 0, 0, 0, opt, out, err, errlen);
  classes = NULL; /* taken, also on failure */
done:
  entries_free(&e);
  if (classes) names_free(classes, nclasses);
  if (present) names_free(present, npresent);
  free(train);
  free(val);
  free(test);
  return st;
}

/* ---- Tiny ImageNet -------------------------------------------------------- */

/* Next line of buf (NUL-terminated in place, trailing blanks and CR cut);
 * NULL at the end. */
static char *next_line(char **cursor) {
  char *s = *cursor;
  if (!s || !*s) return NULL;
  char *nl = strchr(s, '\n');
  if (nl) {
    *nl = 0;
    *cursor = nl + 1;
  } else {
    *cursor = s + strlen(s);
  }
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
  return s;
}

/* Reads a small text file as a NUL-terminated string. */
static vkl_status read_text(const char *path, char **text, char *err, size_t errlen) {
  uint8_t *data;
  uint64_t len;
  vkl_status st = data_read_file(path, 64u << 20, &data, &len, err, errlen);
  if (st) return st;
  if (memchr(data, 0, len)) {
    free(data);
    return data_err(err, errlen, VKL_ERR_FORMAT, "%s: byte %llu: a NUL byte in a text file", path,
                    (unsigned long long)((uint8_t *)memchr(data, 0, len) - data));
  }
  char *t = realloc(data, len + 1);
  if (!t) {
    free(data);
    return data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
  }
  t[len] = 0;
  *text = t;
  return VKL_OK;
}

static int bad_name(const char *s) {
  return !*s || strchr(s, '/') || !strcmp(s, "..") || strlen(s) > 255;
}

vkl_status vkl_dataset_open_tiny_imagenet(const char *root, vkl_split split,
                                          const vkl_data_options *opt, vkl_dataset **out, char *err,
                                          size_t errlen) {
  vkl_data_options none = {0};
  if (!opt) opt = &none;
  *out = NULL;
  if (!root || !data_is_dir(root))
    return data_err(err, errlen, VKL_ERR_IO,
                    "tiny-imagenet: directory %s not found (the unzipped tiny-imagenet-200/; see "
                    "datasets/README.md)",
                    root ? root : "(none given)");
  char *wpath = data_join(root, "wnids.txt"), *text = NULL, *ann = NULL, *apath = NULL,
       *vdir = NULL;
  char **wnids = NULL;
  size_t nw = 0, capw = 0;
  entries e = {0};
  vkl_status st = VKL_OK;
  if (!wpath) {
    st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "tiny-imagenet: out of host memory");
    goto done;
  }
  st = read_text(wpath, &text, err, errlen);
  if (st) goto done;
  char *cur = text, *line;
  for (unsigned ln = 1; (line = next_line(&cur)); ln++) {
    while (*line == ' ' || *line == '\t') line++;
    if (!*line) continue;
    if (bad_name(line)) {
      st =
          data_err(err, errlen, VKL_ERR_FORMAT, "%s: line %u: '%s' is not a wnid", wpath, ln, line);
      goto done;
    }
    if (nw == capw) {
      capw = capw ? capw * 2 : 256;
      char **nn = realloc(wnids, capw * sizeof *nn);
      if (!nn) {
        st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "tiny-imagenet: out of host memory");
        goto done;
      }
      wnids = nn;
    }
    if (!(wnids[nw] = strdup(line))) {
      st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "tiny-imagenet: out of host memory");
      goto done;
    }
    nw++;
  }
  if (nw == 0) {
    st = data_err(err, errlen, VKL_ERR_FORMAT, "%s: no wnids", wpath);
    goto done;
  }
  qsort(wnids, nw, sizeof *wnids, cmp_names);
  for (size_t i = 1; i < nw; i++)
    if (!strcmp(wnids[i - 1], wnids[i])) {
      st = data_err(err, errlen, VKL_ERR_FORMAT, "%s: wnid %s is listed twice", wpath, wnids[i]);
      goto done;
    }
  if (split == VKL_SPLIT_TRAIN) {
    for (size_t k = 0; k < nw; k++) {
      char sub[600];
      snprintf(sub, sizeof sub, "train/%s/images", wnids[k]);
      char *d = data_join(root, sub);
      if (!d) {
        st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "tiny-imagenet: out of host memory");
        goto done;
      }
      if (!data_is_dir(d))
        st = data_err(err, errlen, VKL_ERR_IO, "tiny-imagenet: %s: not found (%s lists %s)", d,
                      wpath, wnids[k]);
      else
        st = add_images(&e, d, (uint32_t)k, err, errlen);
      free(d);
      if (st) goto done;
    }
  } else {
    apath = data_join(root, "val/val_annotations.txt");
    vdir = data_join(root, "val/images");
    if (!apath || !vdir) {
      st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "tiny-imagenet: out of host memory");
      goto done;
    }
    st = read_text(apath, &ann, err, errlen);
    if (st) goto done;
    cur = ann;
    for (unsigned ln = 1; (line = next_line(&cur)); ln++) {
      if (!*line) continue;
      /* file <TAB> wnid <TAB> x0 y0 x1 y1 */
      char *file = line, *sep = line + strcspn(line, "\t ");
      if (!*sep) {
        st = data_err(err, errlen, VKL_ERR_FORMAT, "%s: line %u: expected 'file<TAB>wnid...'",
                      apath, ln);
        goto done;
      }
      *sep++ = 0;
      char *wnid = sep + strspn(sep, "\t ");
      wnid[strcspn(wnid, "\t ")] = 0;
      if (bad_name(file)) {
        st = data_err(err, errlen, VKL_ERR_FORMAT, "%s: line %u: '%s' is not a file name", apath,
                      ln, file);
        goto done;
      }
      char **k = bsearch(&wnid, wnids, nw, sizeof *wnids, cmp_names);
      if (!k) {
        st = data_err(err, errlen, VKL_ERR_FORMAT, "%s: line %u: wnid '%s' is not in %s", apath, ln,
                      wnid, wpath);
        goto done;
      }
      if (entries_add(&e, data_join(vdir, file), (uint32_t)(k - wnids))) {
        st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "tiny-imagenet: out of host memory");
        goto done;
      }
    }
  }
  if (e.n == 0) {
    st = data_err(err, errlen, VKL_ERR_FORMAT, "tiny-imagenet: %s: no images in the %s split", root,
                  split == VKL_SPLIT_TRAIN ? "train" : "val");
    goto done;
  }
  st = folder_finish(split == VKL_SPLIT_TRAIN ? "tiny-imagenet/train" : "tiny-imagenet/test", root,
                     &e, wnids, nw, 3, 64, 64, opt, out, err, errlen);
  wnids = NULL; /* taken, also on failure */
done:
  entries_free(&e);
  if (wnids) names_free(wnids, nw);
  free(wpath);
  free(text);
  free(ann);
  free(apath);
  free(vdir);
  return st;
}
