/* safetensors checkpoints (see checkpoint.h). */
#include "train/checkpoint.h"

#include "vklars/vklars.h"

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

static char *header_text(const vkl_model *m, const vkl_checkpoint_meta *meta) {
  cJSON *root = cJSON_CreateObject();
  cJSON *md = cJSON_AddObjectToObject(root, "__metadata__");
  char num[32];
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
#undef META_NUM
  cJSON_AddStringToObject(md, "data", meta->data);
  uint64_t off = 0;
  for (uint32_t i = 0; i < m->param_count; i++) {
    cJSON_AddItemToObject(root, m->params[i].name, tensor_json(&m->params[i], off));
    off += m->params[i].count * 4;
  }
  for (uint32_t i = 0; i < m->buffer_count; i++) {
    cJSON_AddItemToObject(root, m->buffers[i].name, tensor_json(&m->buffers[i], off));
    off += m->buffers[i].count * 4;
  }
  char *text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  return text;
}

static int write_all(FILE *f, const void *p, size_t n) {
  return fwrite(p, 1, n, f) == n;
}

vkl_status vkl_checkpoint_save(const char *path, const vkl_model *m,
                               const vkl_checkpoint_meta *meta, const float *params,
                               const float *buffers, char *err, size_t errlen) {
  char *header = header_text(m, meta);
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
    ok = write_all(f, params + m->params[i].offset, m->params[i].count * 4);
  for (uint32_t i = 0; ok && i < m->buffer_count; i++)
    ok = write_all(f, buffers + m->buffers[i].offset, m->buffers[i].count * 4);
  ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
  if (f) ok = (fclose(f) == 0) && ok;
  free(header);
  if (!ok || rename(tmp, path) != 0) {
    int e = errno;
    remove(tmp);
    return fail(err, errlen, VKL_ERR_IO, "cannot write checkpoint %s: %s", path, strerror(e));
  }
  /* the rename itself reaches the disk with the directory */
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
  return VKL_OK;
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
  if (!*root || !cJSON_IsObject(*root))
    return fail(err, errlen, VKL_ERR_FORMAT, "%s: the header is not a JSON object%s", path, "");
  *data_start = 8 + hl;
  return VKL_OK;
}

static const char *meta_str(const cJSON *md, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
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
  cJSON_Delete(root);
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

vkl_status vkl_checkpoint_load(const char *path, const vkl_model *m, float *params, float *buffers,
                               char *err, size_t errlen) {
  cJSON *root = NULL;
  uint64_t start, size;
  vkl_status st = read_header(path, &root, &start, &size, err, errlen);
  if (st) return st;
  FILE *f = fopen(path, "rb");
  if (!f)
    st = fail(err, errlen, VKL_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
  for (uint32_t i = 0; !st && i < m->param_count; i++)
    st = load_tensor(f, path, root, &m->params[i], start, size, params + m->params[i].offset, err,
                     errlen);
  for (uint32_t i = 0; !st && i < m->buffer_count; i++)
    st = load_tensor(f, path, root, &m->buffers[i], start, size, buffers + m->buffers[i].offset,
                     err, errlen);
  if (f) fclose(f);
  cJSON_Delete(root);
  return st;
}
