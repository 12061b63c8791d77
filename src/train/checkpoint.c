/* safetensors checkpoints (see checkpoint.h). */
#include "train/checkpoint.h"

#include "vklars/optim.h"
#include "vklars/vklars.h"

#include <dirent.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER (64u << 20) /* a header larger than this is not ours */

static vkl_status fail(char *err, size_t n, vkl_status st, const char *fmt, const char *a,
                       const char *b) {
  snprintf(err, n, fmt, a, b);
  return st;
}

static cJSON *tensor_json(const nn_tensor *t, uint64_t begin) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "dtype", "F32");
  cJSON *shape = cJSON_AddArrayToObject(o, "shape");
  for (uint32_t i = 0; i < t->ndim; i++)
    cJSON_AddItemToArray(shape, cJSON_CreateNumber(t->shape[i]));
  cJSON *off = cJSON_AddArrayToObject(o, "data_offsets");
  cJSON_AddItemToArray(off, cJSON_CreateNumber((double)begin));
  cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(begin + t->count * 4)));
  return o;
}

/* The name of a moment's tensor: optimizer.<moment>.<param>. */
static void moment_tensor(const nn_tensor *param, const char *moment, nn_tensor *out) {
  *out = *param;
  char name[sizeof out->name + 32];
  snprintf(name, sizeof name, "optimizer.%s.%s", moment, param->name);
  snprintf(out->name, sizeof out->name, "%.*s", (int)sizeof out->name - 1, name);
}

static void add_meta(cJSON *md, const vkl_checkpoint_meta *meta) {
  char num[64];
  cJSON_AddStringToObject(md, "format", "vklars");
  cJSON_AddStringToObject(md, "vklars_version", vkl_version());
  cJSON_AddStringToObject(md, "model", meta->model);
  snprintf(num, sizeof num, "%ux%ux%u", meta->in_c, meta->in_h, meta->in_w);
  cJSON_AddStringToObject(md, "input", num);
#define META_NUM(key, fmt, v) \
  snprintf(num, sizeof num, fmt, v), cJSON_AddStringToObject(md, key, num)
  META_NUM("classes", "%u", meta->classes);
  META_NUM("width", "%u", meta->width);
  META_NUM("imagenet_stem", "%d", meta->imagenet_stem);
  META_NUM("step", "%llu", (unsigned long long)meta->step);
  META_NUM("epoch", "%u", meta->epoch);
  META_NUM("epoch_step", "%llu", (unsigned long long)meta->epoch_step);
  META_NUM("seed", "%llu", (unsigned long long)meta->seed);
  META_NUM("batch", "%u", meta->batch);
  META_NUM("nonfinite_steps", "%llu", (unsigned long long)meta->nonfinite);
  /* %a: the sums come back bit-exact */
  META_NUM("epoch_loss_sum", "%a", meta->epoch_loss_sum);
  META_NUM("epoch_top1_sum", "%a", meta->epoch_top1_sum);
#undef META_NUM
  cJSON_AddStringToObject(md, "rng",
                          "counter-based: every draw derives from (seed, epoch, sample index)");
  cJSON_AddStringToObject(md, "data", meta->data);
  cJSON_AddStringToObject(md, "optimizer", meta->optimizer);
  if (meta->argv[0]) cJSON_AddStringToObject(md, "argv", meta->argv);
  if (meta->config[0]) cJSON_AddStringToObject(md, "config", meta->config);
}

static char *header_text(const vkl_model *m, const vkl_checkpoint_meta *meta,
                         const vkl_checkpoint_state *s) {
  cJSON *root = cJSON_CreateObject();
  add_meta(cJSON_AddObjectToObject(root, "__metadata__"), meta);
  uint64_t off = 0;
  for (uint32_t i = 0; i < m->param_count; i++) {
    cJSON_AddItemToObject(root, m->params[i].name, tensor_json(&m->params[i], off));
    off += m->params[i].count * 4;
  }
  for (uint32_t i = 0; i < m->buffer_count; i++) {
    cJSON_AddItemToObject(root, m->buffers[i].name, tensor_json(&m->buffers[i], off));
    off += m->buffers[i].count * 4;
  }
  for (int k = 0; k < 2; k++) {
    if (!s->moments[k] || !s->moment_names[k]) continue;
    for (uint32_t i = 0; i < m->param_count; i++) {
      nn_tensor t;
      moment_tensor(&m->params[i], s->moment_names[k], &t);
      cJSON_AddItemToObject(root, t.name, tensor_json(&t, off));
      off += t.count * 4;
    }
  }
  char *text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  return text;
}

void vkl_checkpoint_moment_names(int opt_kind, const char *names[2]) {
  int adam = opt_kind == VKL_OPT_LAMB || opt_kind == VKL_OPT_ADAMW;
  names[0] = adam ? "exp_avg" : "momentum_buffer";
  names[1] = adam ? "exp_avg_sq" : NULL;
}

static int write_all(FILE *f, const void *p, size_t n) {
  return fwrite(p, 1, n, f) == n;
}

/* fsync of the directory holding path: a rename reaches the disk with it */
static void sync_dir_of(const char *path) {
  char dir[1100];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  int fd = open(dir, O_RDONLY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

vkl_status vkl_checkpoint_save_state(const char *path, const vkl_model *m,
                                     const vkl_checkpoint_meta *meta, const vkl_checkpoint_state *s,
                                     char *err, size_t errlen) {
  char *header = header_text(m, meta, s);
  if (!header)
    return fail(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s%s", "checkpoint header", "");
  /* pad the header with spaces to 8 bytes, as the format recommends */
  size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  int ok = f != NULL;
  uint8_t len[8];
  for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)padded >> (8 * i));
  ok = ok && write_all(f, len, 8) && write_all(f, header, hl);
  for (size_t i = hl; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
  for (uint32_t i = 0; ok && i < m->param_count; i++)
    ok = write_all(f, s->params + m->params[i].offset, m->params[i].count * 4);
  for (uint32_t i = 0; ok && i < m->buffer_count; i++)
    ok = write_all(f, s->buffers + m->buffers[i].offset, m->buffers[i].count * 4);
  for (int k = 0; k < 2; k++)
    for (uint32_t i = 0; ok && s->moments[k] && s->moment_names[k] && i < m->param_count; i++)
      ok = write_all(f, s->moments[k] + m->params[i].offset, m->params[i].count * 4);
  ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
  int e = errno;
  if (f) ok = (fclose(f) == 0) && ok;
  free(header);
  if (!ok || rename(tmp, path) != 0) {
    if (ok) e = errno;
    remove(tmp);
    return fail(err, errlen, VKL_ERR_IO, "cannot write checkpoint %s: %s", path, strerror(e));
  }
  sync_dir_of(path);
  return VKL_OK;
}

vkl_status vkl_checkpoint_save(const char *path, const vkl_model *m,
                               const vkl_checkpoint_meta *meta, const float *params,
                               const float *buffers, char *err, size_t errlen) {
  vkl_checkpoint_state s = {.params = (float *)params, .buffers = (float *)buffers};
  return vkl_checkpoint_save_state(path, m, meta, &s, err, errlen);
}

/* Reads and parses the header; *data_start is where tensor data begins. */
static vkl_status read_header(const char *path, cJSON **root, uint64_t *data_start,
                              uint64_t *file_size, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return fail(err, errlen, VKL_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
  struct stat sb;
  uint8_t len[8];
  vkl_status st = VKL_OK;
  if (fstat(fileno(f), &sb) != 0 || fread(len, 1, 8, f) != 8) {
    fclose(f);
    return fail(err, errlen, VKL_ERR_FORMAT, "%s: truncated (no header length)%s", path, "");
  }
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)len[i] << (8 * i);
  *file_size = (uint64_t)sb.st_size;
  if (hl == 0 || hl > MAX_HEADER || hl > *file_size - 8) {
    fclose(f);
    char n[32];
    snprintf(n, sizeof n, "%llu", (unsigned long long)hl);
    return fail(err, errlen, VKL_ERR_FORMAT, "%s: header length %s bytes does not fit the file",
                path, n);
  }
  char *text = malloc(hl + 1);
  if (!text || fread(text, 1, hl, f) != hl) st = VKL_ERR_FORMAT;
  fclose(f);
  if (st) {
    free(text);
    return fail(err, errlen, st, "%s: truncated header%s", path, "");
  }
  text[hl] = '\0';
  *root = cJSON_Parse(text);
  free(text);
  if (!*root || !cJSON_IsObject(*root)) {
    cJSON_Delete(*root); /* valid JSON of another kind: a string, a number (fuzz_safetensors) */
    *root = NULL;
    return fail(err, errlen, VKL_ERR_FORMAT, "%s: the header is not a JSON object%s", path, "");
  }
  *data_start = 8 + hl;
  return VKL_OK;
}

static const char *meta_str(const cJSON *md, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Copies an optional metadata text; 0 when it does not fit. */
static int copy_meta_text(char *dst, size_t cap, const char *src) {
  size_t n = src ? strlen(src) : 0;
  if (n >= cap) return 0;
  memcpy(dst, src ? src : "", n);
  dst[n] = '\0';
  return 1;
}

vkl_status vkl_checkpoint_read_meta(const char *path, vkl_checkpoint_meta *meta, char *err,
                                    size_t errlen) {
  cJSON *root = NULL;
  uint64_t start, size;
  vkl_status st = read_header(path, &root, &start, &size, err, errlen);
  if (st) return st;
  memset(meta, 0, sizeof *meta);
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
  const char *model = meta_str(md, "model"), *input = meta_str(md, "input");
  const char *classes = meta_str(md, "classes");
  if (!model || !input || !classes ||
      sscanf(input, "%ux%ux%u", &meta->in_c, &meta->in_h, &meta->in_w) != 3) {
    cJSON_Delete(root);
    return fail(err, errlen, VKL_ERR_FORMAT, "%s: no vklars metadata (model, input, classes)%s",
                path, "");
  }
  snprintf(meta->model, sizeof meta->model, "%s", model);
  meta->classes = (uint32_t)strtoul(classes, NULL, 10);
  const char *s;
  if ((s = meta_str(md, "width"))) meta->width = (uint32_t)strtoul(s, NULL, 10);
  if ((s = meta_str(md, "imagenet_stem"))) meta->imagenet_stem = atoi(s);
  if ((s = meta_str(md, "step"))) meta->step = strtoull(s, NULL, 10);
  if ((s = meta_str(md, "epoch"))) meta->epoch = (uint32_t)strtoul(s, NULL, 10);
  if ((s = meta_str(md, "data"))) snprintf(meta->data, sizeof meta->data, "%s", s);
  if ((s = meta_str(md, "epoch_step"))) meta->epoch_step = strtoull(s, NULL, 10);
  if ((s = meta_str(md, "seed"))) meta->seed = strtoull(s, NULL, 10);
  if ((s = meta_str(md, "batch"))) meta->batch = (uint32_t)strtoul(s, NULL, 10);
  if ((s = meta_str(md, "nonfinite_steps"))) meta->nonfinite = strtoull(s, NULL, 10);
  if ((s = meta_str(md, "epoch_loss_sum"))) meta->epoch_loss_sum = strtod(s, NULL);
  if ((s = meta_str(md, "epoch_top1_sum"))) meta->epoch_top1_sum = strtod(s, NULL);
  if ((s = meta_str(md, "optimizer"))) snprintf(meta->optimizer, sizeof meta->optimizer, "%s", s);
  int fits = copy_meta_text(meta->argv, sizeof meta->argv, meta_str(md, "argv")) &&
             copy_meta_text(meta->config, sizeof meta->config, meta_str(md, "config"));
  cJSON_Delete(root);
  if (!fits)
    return fail(err, errlen, VKL_ERR_FORMAT,
                "%s: metadata argv or config longer than vklars writes%s", path, "");
  return VKL_OK;
}

/* Checks one tensor's entry against the model and reads its data. */
static vkl_status load_tensor(FILE *f, const char *path, const cJSON *root, const nn_tensor *t,
                              uint64_t start, uint64_t size, float *dst, char *err, size_t errlen) {
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, t->name);
  if (!cJSON_IsObject(e))
    return fail(err, errlen, VKL_ERR_FORMAT, "%s: no tensor %s (a checkpoint of another model?)",
                path, t->name);
  const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
  const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
  if (!cJSON_IsString(dtype) || strcmp(dtype->valuestring, "F32") != 0)
    return fail(err, errlen, VKL_ERR_FORMAT, "%s: tensor %s is not F32", path, t->name);
  int ok = cJSON_IsArray(shape) && cJSON_GetArraySize(shape) == (int)t->ndim;
  for (uint32_t i = 0; ok && i < t->ndim; i++) {
    const cJSON *d = cJSON_GetArrayItem(shape, (int)i);
    ok = cJSON_IsNumber(d) && d->valuedouble == (double)t->shape[i];
  }
  if (!ok)
    return fail(err, errlen, VKL_ERR_FORMAT, "%s: tensor %s has another shape than the model's",
                path, t->name);
  const cJSON *b = cJSON_GetArrayItem(off, 0), *en = cJSON_GetArrayItem(off, 1);
  if (!cJSON_IsNumber(b) || !cJSON_IsNumber(en) || b->valuedouble < 0 ||
      en->valuedouble - b->valuedouble != (double)(t->count * 4) ||
      (double)start + en->valuedouble > (double)size)
    return fail(err, errlen, VKL_ERR_FORMAT, "%s: tensor %s has data offsets outside the file",
                path, t->name);
  if (fseek(f, (long)(start + (uint64_t)b->valuedouble), SEEK_SET) != 0 ||
      fread(dst, 4, t->count, f) != t->count)
    return fail(err, errlen, VKL_ERR_FORMAT, "%s: cannot read tensor %s", path, t->name);
  return VKL_OK;
}

vkl_status vkl_checkpoint_load_state(const char *path, const vkl_model *m,
                                     const vkl_checkpoint_state *s, char *err, size_t errlen) {
  cJSON *root = NULL;
  uint64_t start, size;
  vkl_status st = read_header(path, &root, &start, &size, err, errlen);
  if (st) return st;
  FILE *f = fopen(path, "rb");
  if (!f)
    st = fail(err, errlen, VKL_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
  for (uint32_t i = 0; !st && i < m->param_count; i++)
    st = load_tensor(f, path, root, &m->params[i], start, size, s->params + m->params[i].offset,
                     err, errlen);
  for (uint32_t i = 0; !st && i < m->buffer_count; i++)
    st = load_tensor(f, path, root, &m->buffers[i], start, size, s->buffers + m->buffers[i].offset,
                     err, errlen);
  for (int k = 0; k < 2; k++) {
    if (!s->moments[k] || !s->moment_names[k]) continue;
    for (uint32_t i = 0; !st && i < m->param_count; i++) {
      nn_tensor t;
      moment_tensor(&m->params[i], s->moment_names[k], &t);
      if (!cJSON_GetObjectItemCaseSensitive(root, t.name)) {
        st = fail(err, errlen, VKL_ERR_FORMAT,
                  "%s: no optimizer state %s (saved with another optimizer?)", path, t.name);
        break;
      }
      st = load_tensor(f, path, root, &t, start, size, s->moments[k] + m->params[i].offset, err,
                       errlen);
    }
  }
  if (f) fclose(f);
  cJSON_Delete(root);
  return st;
}

vkl_status vkl_checkpoint_load(const char *path, const vkl_model *m, float *params, float *buffers,
                               char *err, size_t errlen) {
  vkl_checkpoint_state s = {.params = params, .buffers = buffers};
  return vkl_checkpoint_load_state(path, m, &s, err, errlen);
}

/* ---- a run directory's checkpoints ------------------------------------------- */

#define CKPT_PREFIX "ckpt-step"
#define CKPT_SUFFIX ".safetensors"
#define CKPT_LINK "checkpoint.safetensors"

void vkl_checkpoint_path(const char *dir, uint64_t step, char *path, size_t n) {
  snprintf(path, n, "%s/" CKPT_PREFIX "%llu" CKPT_SUFFIX, dir, (unsigned long long)step);
}

/* The step of a checkpoint's file name; 0 when the name is not one. */
static int parse_name(const char *name, uint64_t *step) {
  size_t lp = strlen(CKPT_PREFIX), ls = strlen(CKPT_SUFFIX), ln = strlen(name);
  if (ln <= lp + ls || strncmp(name, CKPT_PREFIX, lp) != 0 ||
      strcmp(name + ln - ls, CKPT_SUFFIX) != 0)
    return 0;
  uint64_t v = 0;
  for (size_t i = lp; i < ln - ls; i++) {
    if (name[i] < '0' || name[i] > '9' || v > UINT64_MAX / 10 - 1) return 0;
    v = v * 10 + (uint64_t)(name[i] - '0');
  }
  *step = v;
  return 1;
}

static int newest_first(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

vkl_status vkl_checkpoint_list(const char *dir, uint64_t **steps, size_t *count, char *err,
                               size_t errlen) {
  *steps = NULL;
  *count = 0;
  DIR *d = opendir(dir);
  if (!d)
    return fail(err, errlen, VKL_ERR_IO, "cannot open run directory %s: %s", dir, strerror(errno));
  size_t cap = 0;
  struct dirent *e;
  vkl_status st = VKL_OK;
  while ((e = readdir(d))) {
    uint64_t step;
    if (!parse_name(e->d_name, &step)) continue;
    if (*count == cap) {
      cap = cap ? 2 * cap : 16;
      uint64_t *p = realloc(*steps, cap * sizeof *p);
      if (!p) {
        st = VKL_ERR_OUT_OF_HOST_MEMORY;
        break;
      }
      *steps = p;
    }
    (*steps)[(*count)++] = step;
  }
  closedir(d);
  if (*count) qsort(*steps, *count, sizeof **steps, newest_first);
  return st;
}

vkl_status vkl_checkpoint_publish(const char *dir, uint64_t step, uint32_t keep, char *err,
                                  size_t errlen) {
  char target[64], link_path[1100], tmp[1100];
  snprintf(target, sizeof target, CKPT_PREFIX "%llu" CKPT_SUFFIX, (unsigned long long)step);
  snprintf(link_path, sizeof link_path, "%s/" CKPT_LINK, dir);
  snprintf(tmp, sizeof tmp, "%s/" CKPT_LINK ".tmp", dir);
  remove(tmp);
  if (symlink(target, tmp) != 0 || rename(tmp, link_path) != 0) {
    int e = errno;
    remove(tmp);
    return fail(err, errlen, VKL_ERR_IO, "cannot point %s at the new checkpoint: %s", link_path,
                strerror(e));
  }
  sync_dir_of(link_path);
  uint64_t *steps;
  size_t n;
  vkl_status st = vkl_checkpoint_list(dir, &steps, &n, err, errlen);
  for (size_t i = keep; !st && keep && i < n; i++) {
    if (steps[i] == step) continue;
    char path[1100];
    vkl_checkpoint_path(dir, steps[i], path, sizeof path);
    remove(path);
  }
  free(steps);
  /* a killed write leaves ckpt-step<N>.safetensors.tmp behind */
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    size_t ln = strlen(e->d_name);
    if (strncmp(e->d_name, CKPT_PREFIX, strlen(CKPT_PREFIX)) == 0 && ln > 4 &&
        strcmp(e->d_name + ln - 4, ".tmp") == 0) {
      char path[1100];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      remove(path);
    }
  }
  if (d) closedir(d);
  return st;
}
