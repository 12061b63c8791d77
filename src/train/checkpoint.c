/* safetensors checkpoints: writing, reading and verifying one file (see
 * checkpoint.h; checkpoint_dir.c keeps a run directory's set of them). */
#include "train/checkpoint.h"

#include "vklars/optim.h"
#include "vklars/vklars.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "train/atomic_file.h"

#define MAX_HEADER (64u << 20) /* a header larger than this is not ours */
/* The metadata key saying the tensors carry CRCs, and the prefix of each
 * tensor's CRC key (crc32.<tensor name>: 8 hex digits). */
#define CHECKSUM_KEY "checksum"
#define CRC_PREFIX "crc32."

static vkl_status fail(char *err, size_t n, vkl_status st, const char *fmt, const char *a,
                       const char *b) {
  snprintf(err, n, fmt, a, b);
  return st;
}

/* ---- what a checkpoint holds, in file order ------------------------------------ */

/* One tensor of the file: its name and shape, its data, its CRC. */
typedef struct entry {
  nn_tensor t;
  const float *data;
  uint32_t crc;
} entry;

/* The name of a moment's tensor: optimizer.<moment>.<param>. */
static void moment_tensor(const nn_tensor *param, const char *moment, nn_tensor *out) {
  *out = *param;
  char name[sizeof out->name + 32];
  snprintf(name, sizeof name, "optimizer.%s.%s", moment, param->name);
  snprintf(out->name, sizeof out->name, "%.*s", (int)sizeof out->name - 1, name);
}

static uint32_t crc_of(const void *p, uint64_t bytes) {
  return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), p, (z_size_t)bytes);
}

/* Parameters, buffers, then each moment's tensors; malloc'd. */
static entry *entries_of(const vkl_model *m, const vkl_checkpoint_state *s, uint32_t *count) {
  uint32_t n = m->param_count + m->buffer_count;
  for (int k = 0; k < 2; k++) n += s->moments[k] && s->moment_names[k] ? m->param_count : 0;
  entry *e = calloc(n ? n : 1, sizeof *e);
  if (!e) return NULL;
  uint32_t j = 0;
  for (uint32_t i = 0; i < m->param_count; i++, j++)
    e[j] = (entry){m->params[i], s->params + m->params[i].offset, 0};
  for (uint32_t i = 0; i < m->buffer_count; i++, j++)
    e[j] = (entry){m->buffers[i], s->buffers + m->buffers[i].offset, 0};
  for (int k = 0; k < 2; k++)
    for (uint32_t i = 0; s->moments[k] && s->moment_names[k] && i < m->param_count; i++, j++) {
      moment_tensor(&m->params[i], s->moment_names[k], &e[j].t);
      e[j].data = s->moments[k] + m->params[i].offset;
    }
  for (uint32_t i = 0; i < n; i++) e[i].crc = crc_of(e[i].data, e[i].t.count * 4);
  *count = n;
  return e;
}

/* ---- writing --------------------------------------------------------------------- */

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
  if (meta->eval_pending) META_NUM("eval_pending", "%d", 1);
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
  if (meta->run_id[0]) cJSON_AddStringToObject(md, "run_id", meta->run_id);
  if (meta->argv[0]) cJSON_AddStringToObject(md, "argv", meta->argv);
  if (meta->config[0]) cJSON_AddStringToObject(md, "config", meta->config);
}

/* safetensors metadata values are strings: one key per tensor */
static void add_crcs(cJSON *md, const entry *e, uint32_t n) {
  cJSON_AddStringToObject(md, CHECKSUM_KEY,
                          "zlib CRC-32 of each tensor's bytes, as " CRC_PREFIX "<tensor name>");
  for (uint32_t i = 0; i < n; i++) {
    char key[sizeof e->t.name + 8], hex[16];
    snprintf(key, sizeof key, CRC_PREFIX "%s", e[i].t.name);
    snprintf(hex, sizeof hex, "%08x", e[i].crc);
    cJSON_AddStringToObject(md, key, hex);
  }
}

static char *header_text(const vkl_checkpoint_meta *meta, const entry *e, uint32_t n) {
  cJSON *root = cJSON_CreateObject();
  cJSON *md = cJSON_AddObjectToObject(root, "__metadata__");
  add_meta(md, meta);
  add_crcs(md, e, n);
  uint64_t off = 0;
  for (uint32_t i = 0; i < n; i++) {
    cJSON_AddItemToObject(root, e[i].t.name, tensor_json(&e[i].t, off));
    off += e[i].t.count * 4;
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

vkl_status vkl_checkpoint_save_state(const char *path, const vkl_model *m,
                                     const vkl_checkpoint_meta *meta, const vkl_checkpoint_state *s,
                                     char *err, size_t errlen) {
  uint32_t n = 0;
  entry *e = entries_of(m, s, &n);
  char *header = e ? header_text(meta, e, n) : NULL;
  if (!header) {
    free(e);
    return fail(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s%s", "checkpoint header", "");
  }
  vkl_atomic_file a;
  vkl_status st = vkl_atomic_begin(&a, path, err, errlen);
  if (!st) {
    /* the header padded with spaces to 8 bytes, as the format recommends */
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    vkl_atomic_write(&a, len, 8);
    vkl_atomic_write(&a, header, hl);
    vkl_atomic_write(&a, "       ", padded - hl);
    for (uint32_t i = 0; i < n; i++) vkl_atomic_write(&a, e[i].data, e[i].t.count * 4);
    st = vkl_atomic_commit(&a, NULL, err, errlen);
  }
  free(header);
  free(e);
  return st;
}

vkl_status vkl_checkpoint_save(const char *path, const vkl_model *m,
                               const vkl_checkpoint_meta *meta, const float *params,
                               const float *buffers, char *err, size_t errlen) {
  vkl_checkpoint_state s = {.params = (float *)params, .buffers = (float *)buffers};
  return vkl_checkpoint_save_state(path, m, meta, &s, err, errlen);
}

/* ---- reading ----------------------------------------------------------------------- */

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
  if ((s = meta_str(md, "eval_pending"))) meta->eval_pending = strcmp(s, "1") == 0;
  if ((s = meta_str(md, "seed"))) meta->seed = strtoull(s, NULL, 10);
  if ((s = meta_str(md, "batch"))) meta->batch = (uint32_t)strtoul(s, NULL, 10);
  if ((s = meta_str(md, "nonfinite_steps"))) meta->nonfinite = strtoull(s, NULL, 10);
  if ((s = meta_str(md, "epoch_loss_sum"))) meta->epoch_loss_sum = strtod(s, NULL);
  if ((s = meta_str(md, "epoch_top1_sum"))) meta->epoch_top1_sum = strtod(s, NULL);
  if ((s = meta_str(md, "optimizer"))) snprintf(meta->optimizer, sizeof meta->optimizer, "%s", s);
  if ((s = meta_str(md, "vklars_version"))) snprintf(meta->version, sizeof meta->version, "%s", s);
  int fits = copy_meta_text(meta->argv, sizeof meta->argv, meta_str(md, "argv")) &&
             copy_meta_text(meta->config, sizeof meta->config, meta_str(md, "config")) &&
             copy_meta_text(meta->run_id, sizeof meta->run_id, meta_str(md, "run_id"));
  cJSON_Delete(root);
  if (!fits)
    return fail(err, errlen, VKL_ERR_FORMAT,
                "%s: metadata argv, config or run_id longer than vklars writes%s", path, "");
  return VKL_OK;
}

/* The CRC the header stores for tensor `name`: 1 and *crc when the file
 * carries CRCs, 0 when it predates them, -1 when it carries them but not
 * this one's (or not as 8 hex digits). */
static int stored_crc(const cJSON *root, const char *name, uint32_t *crc) {
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
  if (!meta_str(md, CHECKSUM_KEY)) return 0;
  char key[256];
  snprintf(key, sizeof key, CRC_PREFIX "%s", name);
  const char *hex = meta_str(md, key);
  char *end;
  if (!hex || strlen(hex) != 8) return -1;
  unsigned long v = strtoul(hex, &end, 16);
  if (*end) return -1;
  *crc = (uint32_t)v;
  return 1;
}

/* The check of one tensor's bytes (data, `bytes` long, from file offset
 * `at`) against its stored CRC. */
static vkl_status check_crc(const char *path, const cJSON *root, const char *name, uint64_t at,
                            uint64_t bytes, uint32_t crc, char *err, size_t errlen) {
  uint32_t want;
  int has = stored_crc(root, name, &want);
  if (has == 0 || (has == 1 && want == crc)) return VKL_OK;
  if (has < 0)
    snprintf(err, errlen, "%s: tensor %s has no CRC32 in the header (the header is corrupt)", path,
             name);
  else
    snprintf(err, errlen,
             "%s: tensor %s (bytes %llu-%llu of the file) fails its CRC32 check (stored %08x, "
             "read %08x): the file is corrupt",
             path, name, (unsigned long long)at, (unsigned long long)(at + bytes), want, crc);
  return VKL_ERR_FORMAT;
}

static void shape_text(char *out, size_t n, const uint32_t *dims, int ndim) {
  size_t len = (size_t)snprintf(out, n, "[");
  for (int i = 0; i < ndim && len < n; i++)
    len += (size_t)snprintf(out + len, n - len, i ? ", %u" : "%u", dims[i]);
  if (len < n) snprintf(out + len, n - len, "]");
}

/* The shape the header gives a tensor, as text ("[256, 145]", or what is
 * there instead); 1 when it equals the model's. */
static int shape_matches(const cJSON *shape, const nn_tensor *t, char *text, size_t n) {
  if (!cJSON_IsArray(shape)) {
    snprintf(text, n, "no shape");
    return 0;
  }
  uint32_t dims[8];
  int nd = cJSON_GetArraySize(shape), ok = nd == (int)t->ndim, i = 0;
  const cJSON *d;
  cJSON_ArrayForEach(d, shape) {
    double v = cJSON_IsNumber(d) ? d->valuedouble : -1;
    ok = ok && i < 4 && v == (double)t->shape[i];
    if (i < 8) dims[i] = v >= 0 && v <= 4e9 ? (uint32_t)v : UINT32_MAX;
    i++;
  }
  int shown = i < 8 ? i : 8;
  shape_text(text, n, dims, shown);
  if (nd > 8 && strlen(text) + 8 < n) strcat(text, " (...)");
  return ok;
}

/* Checks one tensor's entry against the model, reads its data and checks
 * its CRC. */
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
  char have[96], want[96];
  if (!shape_matches(shape, t, have, sizeof have)) {
    shape_text(want, sizeof want, t->shape, (int)t->ndim);
    snprintf(err, errlen, "%s: tensor %s has shape %s in the checkpoint; the model's is %s", path,
             t->name, have, want);
    return VKL_ERR_FORMAT;
  }
  const cJSON *b = cJSON_GetArrayItem(off, 0), *en = cJSON_GetArrayItem(off, 1);
  if (!cJSON_IsNumber(b) || !cJSON_IsNumber(en) || b->valuedouble < 0 ||
      en->valuedouble - b->valuedouble != (double)(t->count * 4) ||
      (double)start + en->valuedouble > (double)size)
    return fail(err, errlen, VKL_ERR_FORMAT, "%s: tensor %s has data offsets outside the file",
                path, t->name);
  uint64_t at = start + (uint64_t)b->valuedouble;
  if (fseek(f, (long)at, SEEK_SET) != 0 || fread(dst, 4, t->count, f) != t->count)
    return fail(err, errlen, VKL_ERR_FORMAT, "%s: cannot read tensor %s", path, t->name);
  return check_crc(path, root, t->name, at, t->count * 4, crc_of(dst, t->count * 4), err, errlen);
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

/* ---- verifying without a model ------------------------------------------------ */

/* A tensor's bytes within the data section. */
typedef struct span {
  const char *name;
  uint64_t begin, end;
} span;

static int by_begin(const void *a, const void *b) {
  const span *x = a, *y = b;
  return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Every tensor entry's span, in file order; they must tile the data
 * section exactly (the format's rule: no holes, no overlaps). */
static vkl_status spans_of(const char *path, const cJSON *root, uint64_t data, span **out,
                           uint32_t *count, char *err, size_t errlen) {
  span *sp = calloc((size_t)cJSON_GetArraySize(root) + 1, sizeof *sp);
  if (!sp) return fail(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of memory%s", path, "");
  uint32_t n = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, root) {
    if (strcmp(e->string, "__metadata__") == 0) continue;
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    const cJSON *b = cJSON_GetArrayItem(off, 0), *en = cJSON_GetArrayItem(off, 1);
    double bv = cJSON_IsNumber(b) ? b->valuedouble : -1,
           ev = cJSON_IsNumber(en) ? en->valuedouble : -1;
    if (!cJSON_IsObject(e) || bv < 0 || ev < bv || ev > (double)data || bv != floor(bv) ||
        ev != floor(ev)) {
      free(sp);
      return fail(err, errlen, VKL_ERR_FORMAT, "%s: tensor %s has data offsets outside the file",
                  path, e->string);
    }
    sp[n++] = (span){e->string, (uint64_t)bv, (uint64_t)ev};
  }
  qsort(sp, n, sizeof *sp, by_begin);
  uint64_t at = 0;
  for (uint32_t i = 0; i < n && sp[i].begin == at; i++) at = sp[i].end;
  if (at != data) {
    free(sp);
    char what[64];
    snprintf(what, sizeof what, "%llu of its %llu data bytes", (unsigned long long)at,
             (unsigned long long)data);
    return fail(err, errlen, VKL_ERR_FORMAT,
                "%s: the tensors' data_offsets cover only %s, without holes or overlaps (a "
                "truncated or altered file)",
                path, what);
  }
  *out = sp;
  *count = n;
  return VKL_OK;
}

/* The CRC of bytes [begin, end) of f, read in blocks. */
static int crc_of_range(FILE *f, uint64_t begin, uint64_t end, uint32_t *crc) {
  unsigned char block[1 << 16];
  uLong c = crc32_z(0, Z_NULL, 0);
  if (fseeko(f, (off_t)begin, SEEK_SET) != 0) return 0;
  for (uint64_t at = begin; at < end;) {
    size_t want = end - at < sizeof block ? (size_t)(end - at) : sizeof block;
    if (fread(block, 1, want, f) != want) return 0;
    c = crc32_z(c, block, want);
    at += want;
  }
  *crc = (uint32_t)c;
  return 1;
}

vkl_status vkl_checkpoint_verify(const char *path, vkl_checkpoint_integrity *out, char *err,
                                 size_t errlen) {
  memset(out, 0, sizeof *out);
  cJSON *root = NULL;
  uint64_t start, size;
  vkl_status st = read_header(path, &root, &start, &size, err, errlen);
  if (st) return st;
  span *sp = NULL;
  uint32_t n = 0;
  st = spans_of(path, root, size - start, &sp, &n, err, errlen);
  out->tensors = n;
  out->data_bytes = size - start;
  out->has_crc =
      meta_str(cJSON_GetObjectItemCaseSensitive(root, "__metadata__"), CHECKSUM_KEY) != NULL;
  FILE *f = !st && out->has_crc ? fopen(path, "rb") : NULL;
  if (!st && out->has_crc && !f)
    st = fail(err, errlen, VKL_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
  for (uint32_t i = 0; f && !st && i < n; i++) {
    uint32_t crc;
    if (!crc_of_range(f, start + sp[i].begin, start + sp[i].end, &crc))
      st = fail(err, errlen, VKL_ERR_IO, "%s: cannot read tensor %s", path, sp[i].name);
    else
      st = check_crc(path, root, sp[i].name, start + sp[i].begin, sp[i].end - sp[i].begin, crc, err,
                     errlen);
  }
  if (f) fclose(f);
  free(sp);
  cJSON_Delete(root);
  return st;
}
