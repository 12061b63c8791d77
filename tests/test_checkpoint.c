/* safetensors checkpoints: round trips, the format's layout, and lying or
 * foreign files refused with a message naming the file and the problem. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test_util.h"
#include "train/checkpoint.h"
#include "vklars/optim.h"

static vkl_model *build(const char *name, uint32_t classes) {
  vkl_model_config mc = {.in_c = 1, .in_h = 12, .in_w = 12, .classes = classes};
  vkl_model *m;
  char err[256];
  cr_assert_eq(vkl_model_build(name, &mc, &m, err, sizeof err), VKL_OK, "%s", err);
  return m;
}

static vkl_checkpoint_meta meta_of(const vkl_model *m) {
  vkl_checkpoint_meta meta = {
      .in_c = 1, .in_h = 12, .in_w = 12, .classes = m->classes, .step = 77, .epoch = 3};
  snprintf(meta.model, sizeof meta.model, "%s", m->name);
  snprintf(meta.data, sizeof meta.data, "synthetic");
  return meta;
}

static char *temp_path(void) {
  static char dir[64];
  snprintf(dir, sizeof dir, "/tmp/vklars-ckpt-XXXXXX");
  cr_assert(mkdtemp(dir));
  static char path[128];
  snprintf(path, sizeof path, "%s/c.safetensors", dir);
  return path;
}

/* Writes `header` (JSON) and `data_bytes` bytes of data as a safetensors file. */
static void write_raw(const char *path, const char *header, size_t data_bytes, uint64_t claimed) {
  FILE *f = fopen(path, "wb");
  cr_assert(f);
  uint64_t len = claimed ? claimed : strlen(header);
  unsigned char l[8];
  for (int i = 0; i < 8; i++) l[i] = (unsigned char)(len >> (8 * i));
  fwrite(l, 1, 8, f);
  fputs(header, f);
  for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
  fclose(f);
}

Test(checkpoint, round_trip_and_layout) {
  vkl_model *m = build("cnn", 4);
  float *p = malloc(m->param_floats * 4), *b = malloc(m->buffer_floats * 4);
  float *p2 = calloc(m->param_floats, 4), *b2 = calloc(m->buffer_floats, 4);
  vkl_model_init(m, 1, p, b);
  for (uint64_t i = 0; i < m->buffer_floats; i++) b[i] += 0.25f * (float)i; /* not just 0/1 */
  char err[512], *path = temp_path();
  vkl_checkpoint_meta meta = meta_of(m), back;
  cr_assert_eq(vkl_checkpoint_save(path, m, &meta, p, b, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(vkl_checkpoint_read_meta(path, &back, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_str_eq(back.model, "cnn");
  cr_assert(back.in_c == 1 && back.in_h == 12 && back.classes == 4 && back.step == 77 &&
            back.epoch == 3);
  cr_assert_eq(vkl_checkpoint_load(path, m, p2, b2, err, sizeof err), VKL_OK, "%s", err);
  for (uint32_t i = 0; i < m->param_count; i++)
    cr_assert(
        memcmp(p + m->params[i].offset, p2 + m->params[i].offset, m->params[i].count * 4) == 0,
        "%s differs", m->params[i].name);
  for (uint32_t i = 0; i < m->buffer_count; i++)
    cr_assert(
        memcmp(b + m->buffers[i].offset, b2 + m->buffers[i].offset, m->buffers[i].count * 4) == 0);
  /* the layout: 8-byte length, JSON header (8-aligned), the data exactly */
  FILE *f = fopen(path, "rb");
  unsigned char l[8];
  cr_assert_eq(fread(l, 1, 8, f), 8);
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)l[i] << (8 * i);
  fseek(f, 0, SEEK_END);
  uint64_t size = (uint64_t)ftell(f);
  fclose(f);
  cr_assert_eq(hl % 8, 0);
  uint64_t data = 0;
  for (uint32_t i = 0; i < m->param_count; i++) data += m->params[i].count * 4;
  for (uint32_t i = 0; i < m->buffer_count; i++) data += m->buffers[i].count * 4;
  cr_assert_eq(size, 8 + hl + data);
  free(p), free(b), free(p2), free(b2);
  vkl_model_destroy(m);
}

Test(checkpoint, lying_and_foreign_files_are_refused) {
  vkl_model *m = build("mlp", 3);
  float *p = calloc(m->param_floats, 4), *b = calloc(m->buffer_floats + 1, 4);
  char err[512], *path = temp_path();
  struct {
    const char *header;
    size_t data;
    uint64_t claimed;
    const char *message;
  } cases[] = {
      {"{}", 0, 1ull << 40, "does not fit the file"},
      {"{\"a\":", 0, 0, "not a JSON object"},
      {"{}", 0, 0, "no vklars metadata"},
      {"{\"__metadata__\":{\"model\":\"mlp\",\"input\":\"1x12x12\",\"classes\":\"3\"},"
       "\"fc1.weight\":{\"dtype\":\"F16\",\"shape\":[256,144],\"data_offsets\":[0,73728]}}",
       73728, 0, "not F32"},
      {"{\"__metadata__\":{\"model\":\"mlp\",\"input\":\"1x12x12\",\"classes\":\"3\"},"
       "\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[256,145],\"data_offsets\":[0,148480]}}",
       148480, 0, "has shape [256, 145] in the checkpoint; the model's is [256, 144]"},
      {"{\"__metadata__\":{\"model\":\"mlp\",\"input\":\"1x12x12\",\"classes\":\"3\"},"
       "\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[256,144],\"data_offsets\":[0,147456]}}",
       100, 0, "data offsets outside the file"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_raw(path, cases[i].header, cases[i].data, cases[i].claimed);
    vkl_checkpoint_meta meta;
    vkl_status st = vkl_checkpoint_read_meta(path, &meta, err, sizeof err);
    if (!st) st = vkl_checkpoint_load(path, m, p, b, err, sizeof err);
    cr_assert_eq(st, VKL_ERR_FORMAT, "case %zu accepted", i);
    cr_assert(strstr(err, cases[i].message) && strstr(err, path), "case %zu: %s", i, err);
  }
  /* a checkpoint of another model */
  vkl_model *cnn = build("cnn", 3);
  float *cp = calloc(cnn->param_floats, 4), *cb = calloc(cnn->buffer_floats, 4);
  vkl_checkpoint_meta meta = meta_of(cnn);
  cr_assert_eq(vkl_checkpoint_save(path, cnn, &meta, cp, cb, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(vkl_checkpoint_load(path, m, p, b, err, sizeof err), VKL_ERR_FORMAT);
  cr_assert(strstr(err, "no tensor fc1.weight (a checkpoint of another model?)"), "%s", err);
  /* a missing file */
  cr_assert_eq(vkl_checkpoint_read_meta("/nonexistent/c.safetensors", &meta, err, sizeof err),
               VKL_ERR_IO);
  cr_assert(strstr(err, "/nonexistent/c.safetensors"), "%s", err);
  free(p), free(b), free(cp), free(cb);
  vkl_model_destroy(m);
  vkl_model_destroy(cnn);
}

/* The whole training state: moments under optimizer.<name>.<param>, and the
 * position, seed, options and configuration in the metadata, bit-exact. */
Test(checkpoint, full_state_round_trip) {
  vkl_model *m = build("cnn", 3);
  vkl_checkpoint_state s = {0}, back = {0};
  vkl_checkpoint_moment_names(VKL_OPT_LAMB, s.moment_names);
  vkl_checkpoint_moment_names(VKL_OPT_LAMB, back.moment_names);
  cr_assert_str_eq(s.moment_names[0], "exp_avg");
  cr_assert_str_eq(s.moment_names[1], "exp_avg_sq");
  float *arrays[8];
  for (int i = 0; i < 8; i++) arrays[i] = calloc(m->param_floats + m->buffer_floats, 4);
  s.params = arrays[0], s.buffers = arrays[1], s.moments[0] = arrays[2], s.moments[1] = arrays[3];
  back.params = arrays[4], back.buffers = arrays[5];
  back.moments[0] = arrays[6], back.moments[1] = arrays[7];
  vkl_model_init(m, 2, s.params, s.buffers);
  for (uint64_t i = 0; i < m->param_floats; i++) {
    s.moments[0][i] = 0.001f * (float)i - 0.5f;
    s.moments[1][i] = 1e-7f * (float)(i % 97);
  }
  vkl_checkpoint_meta *meta = calloc(1, sizeof *meta), *got = calloc(1, sizeof *got);
  *meta = meta_of(m);
  meta->epoch_step = 5;
  meta->seed = 1234567890123ull;
  meta->batch = 4096;
  meta->nonfinite = 2;
  meta->epoch_loss_sum = 0.1 + 0.2; /* not a short decimal */
  meta->epoch_top1_sum = 1.0 / 3.0;
  snprintf(meta->optimizer, sizeof meta->optimizer, "lamb");
  snprintf(meta->argv, sizeof meta->argv, "[\"--opt\",\"lamb\",\"--batch\",\"4096\"]");
  snprintf(meta->config, sizeof meta->config, "{\"run\":{\"batch\":4096}}");
  char err[512], *path = temp_path();
  cr_assert_eq(vkl_checkpoint_save_state(path, m, meta, &s, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(vkl_checkpoint_read_meta(path, got, err, sizeof err), VKL_OK, "%s", err);
  cr_assert(got->step == 77 && got->epoch == 3 && got->epoch_step == 5 &&
            got->seed == 1234567890123ull && got->batch == 4096 && got->nonfinite == 2);
  cr_assert(got->epoch_loss_sum == meta->epoch_loss_sum &&
            got->epoch_top1_sum == meta->epoch_top1_sum);
  cr_assert_str_eq(got->optimizer, "lamb");
  cr_assert_str_eq(got->argv, meta->argv);
  cr_assert_str_eq(got->config, meta->config);
  cr_assert_eq(vkl_checkpoint_load_state(path, m, &back, err, sizeof err), VKL_OK, "%s", err);
  for (uint32_t i = 0; i < m->param_count; i++) { /* tensors, not the gaps between them */
    const nn_tensor *t = &m->params[i];
    for (int k = 0; k < 3; k++) {
      const float *a = k == 0 ? s.params : s.moments[k - 1];
      const float *b = k == 0 ? back.params : back.moments[k - 1];
      cr_assert(memcmp(a + t->offset, b + t->offset, t->count * 4) == 0, "%s (%d)", t->name, k);
    }
  }
  /* the names PyTorch users filter on */
  FILE *f = fopen(path, "rb");
  char head[4096];
  size_t got_bytes = fread(head, 1, sizeof head - 1, f);
  head[got_bytes] = '\0';
  fclose(f);
  cr_assert(strstr(head + 8, "\"optimizer.exp_avg_sq.fc.weight\""), "%.300s", head + 8);

  /* a weights-only file has no optimizer state to resume from */
  char *plain = temp_path();
  cr_assert_eq(vkl_checkpoint_save(plain, m, meta, s.params, s.buffers, err, sizeof err), VKL_OK);
  cr_assert_eq(vkl_checkpoint_load_state(plain, m, &back, err, sizeof err), VKL_ERR_FORMAT);
  cr_assert(strstr(err, "no optimizer state optimizer.exp_avg."), "%s", err);
  for (int i = 0; i < 8; i++) free(arrays[i]);
  free(meta);
  free(got);
  vkl_model_destroy(m);
}

/* ---- found by fuzz/fuzz_safetensors ------------------------------------------ */

/* cJSON's allocations, counted through its hooks: what a reader leaks
 * shows in any build, not only under LeakSanitizer. */
static long cjson_live;
static void *counting_malloc(size_t n) {
  void *p = malloc(n);
  if (p) cjson_live++;
  return p;
}
static void counting_free(void *p) {
  if (p) cjson_live--;
  free(p);
}

Test(checkpoint, header_of_valid_json_but_not_an_object_is_refused_without_a_leak) {
  cJSON_Hooks hooks = {counting_malloc, counting_free};
  cJSON_InitHooks(&hooks);
  char err[512], *path = temp_path();
  vkl_model *m = build("mlp", 3);
  float *p = calloc(m->param_floats, 4), *b = calloc(m->buffer_floats + 1, 4);
  /* a JSON string, an array and a number where the header object belongs */
  const char *headers[] = {"\"vklars\"       ", "[1, 2, 3]", "42"};
  for (int i = 0; i < 3; i++) {
    write_raw(path, headers[i], 16, 0);
    vkl_checkpoint_meta meta;
    cr_assert_eq(vkl_checkpoint_read_meta(path, &meta, err, sizeof err), VKL_ERR_FORMAT);
    cr_assert(strstr(err, path) && strstr(err, "not a JSON object"), "%s", err);
    cr_assert_eq(vkl_checkpoint_load(path, m, p, b, err, sizeof err), VKL_ERR_FORMAT);
    cr_assert(strstr(err, "not a JSON object"), "%s", err);
    cr_assert_eq(cjson_live, 0, "header %s: %ld cJSON allocations leaked", headers[i], cjson_live);
  }
  cJSON_InitHooks(NULL);
  free(p);
  free(b);
  vkl_model_destroy(m);
}

/* ---- integrity: a CRC32 per tensor ---------------------------------------------- */

/* A saved full state (cnn: parameters, batch-norm buffers, LAMB's two
 * moments) and arrays to load it back into. */
typedef struct saved {
  vkl_model *m;
  vkl_checkpoint_state s, back;
  float *arrays[8];
  char path[128];
} saved;

static void save_full(saved *v) {
  v->m = build("cnn", 3);
  memset(&v->s, 0, sizeof v->s);
  memset(&v->back, 0, sizeof v->back);
  vkl_checkpoint_moment_names(VKL_OPT_LAMB, v->s.moment_names);
  vkl_checkpoint_moment_names(VKL_OPT_LAMB, v->back.moment_names);
  for (int i = 0; i < 8; i++) v->arrays[i] = calloc(v->m->param_floats + v->m->buffer_floats, 4);
  v->s.params = v->arrays[0], v->s.buffers = v->arrays[1];
  v->s.moments[0] = v->arrays[2], v->s.moments[1] = v->arrays[3];
  v->back.params = v->arrays[4], v->back.buffers = v->arrays[5];
  v->back.moments[0] = v->arrays[6], v->back.moments[1] = v->arrays[7];
  vkl_model_init(v->m, 2, v->s.params, v->s.buffers);
  for (uint64_t i = 0; i < v->m->param_floats; i++) v->s.moments[1][i] = 1e-3f * (float)(i % 7);
  vkl_checkpoint_meta *meta = calloc(1, sizeof *meta);
  *meta = meta_of(v->m);
  snprintf(meta->optimizer, sizeof meta->optimizer, "lamb");
  snprintf(v->path, sizeof v->path, "%s", temp_path());
  char err[512];
  cr_assert_eq(vkl_checkpoint_save_state(v->path, v->m, meta, &v->s, err, sizeof err), VKL_OK, "%s",
               err);
  free(meta);
}

static void saved_free(saved *v) {
  for (int i = 0; i < 8; i++) free(v->arrays[i]);
  vkl_model_destroy(v->m);
}

/* The file offset of a tensor's data, from its header entry. */
static long data_offset(const char *path, const char *name) {
  FILE *f = fopen(path, "rb");
  unsigned char l[8];
  cr_assert(f && fread(l, 1, 8, f) == 8);
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)l[i] << (8 * i);
  char *text = calloc(hl + 1, 1);
  cr_assert(fread(text, 1, hl, f) == hl);
  fclose(f);
  cJSON *root = cJSON_Parse(text);
  free(text);
  const cJSON *off = cJSON_GetObjectItem(cJSON_GetObjectItem(root, name), "data_offsets");
  cr_assert(off, "no tensor %s", name);
  long at = 8 + (long)hl + (long)cJSON_GetArrayItem(off, 0)->valuedouble;
  cJSON_Delete(root);
  return at;
}

static void flip_at(const char *path, long at) {
  FILE *f = fopen(path, "r+b");
  cr_assert(f && fseek(f, at, SEEK_SET) == 0);
  int c = fgetc(f);
  cr_assert(fseek(f, at, SEEK_SET) == 0);
  fputc(c ^ 0x01, f);
  fclose(f);
}

/* One flipped bit in a parameter, a batch-norm buffer or an optimizer
 * moment: every load (eval's and --init's vkl_checkpoint_load, --resume's
 * load_state) and verify name the file and that tensor. */
Test(checkpoint, a_flipped_byte_is_named_by_every_reader) {
  saved v;
  save_full(&v);
  const char *tensors[] = {"conv1.weight", "bn1.running_var", "optimizer.exp_avg_sq.fc.weight"};
  char err[1024];
  vkl_checkpoint_integrity in;
  cr_assert_eq(vkl_checkpoint_verify(v.path, &in, err, sizeof err), VKL_OK, "%s", err);
  cr_assert(in.has_crc && in.tensors > 3);
  for (int t = 0; t < 3; t++) {
    long at = data_offset(v.path, tensors[t]) + 5;
    flip_at(v.path, at);
    char want[256];
    snprintf(want, sizeof want, "tensor %s (bytes", tensors[t]);
    vkl_status st = vkl_checkpoint_load_state(v.path, v.m, &v.back, err, sizeof err);
    cr_assert_eq(st, VKL_ERR_FORMAT, "%s accepted with a flipped byte", tensors[t]);
    cr_assert(strstr(err, v.path) && strstr(err, want) && strstr(err, "fails its CRC32 check"),
              "%s", err);
    if (t < 2) { /* weights only, as eval and --init read them */
      st = vkl_checkpoint_load(v.path, v.m, v.back.params, v.back.buffers, err, sizeof err);
      cr_assert_eq(st, VKL_ERR_FORMAT);
      cr_assert(strstr(err, want), "%s", err);
    }
    cr_assert_eq(vkl_checkpoint_verify(v.path, &in, err, sizeof err), VKL_ERR_FORMAT);
    cr_assert(strstr(err, want) && strstr(err, "fails its CRC32 check"), "%s", err);
    flip_at(v.path, at); /* and back: whole again */
    cr_assert_eq(vkl_checkpoint_load_state(v.path, v.m, &v.back, err, sizeof err), VKL_OK, "%s",
                 err);
  }
  saved_free(&v);
}

/* The header without the CRC keys, as vklars wrote checkpoints before
 * (keep_marker: the key saying they are there stays). */
static void strip_crcs(const char *path, int keep_marker) {
  FILE *f = fopen(path, "rb");
  unsigned char l[8];
  cr_assert(f && fread(l, 1, 8, f) == 8);
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)l[i] << (8 * i);
  char *text = calloc(hl + 1, 1);
  cr_assert(fread(text, 1, hl, f) == hl);
  fseek(f, 0, SEEK_END);
  long data = ftell(f) - 8 - (long)hl;
  char *bytes = malloc((size_t)data);
  fseek(f, 8 + (long)hl, SEEK_SET);
  cr_assert(fread(bytes, 1, (size_t)data, f) == (size_t)data);
  fclose(f);
  cJSON *root = cJSON_Parse(text);
  cJSON *md = cJSON_GetObjectItem(root, "__metadata__");
  if (!keep_marker) cJSON_DeleteItemFromObject(md, "checksum");
  for (cJSON *e = md->child, *next; e; e = next) {
    next = e->next;
    if (strncmp(e->string, "crc32.", 6) == 0) cJSON_DeleteItemFromObject(md, e->string);
  }
  char *header = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  f = fopen(path, "wb");
  uint64_t len = strlen(header);
  for (int i = 0; i < 8; i++) l[i] = (unsigned char)(len >> (8 * i));
  fwrite(l, 1, 8, f);
  fputs(header, f);
  fwrite(bytes, 1, (size_t)data, f);
  fclose(f);
  free(header);
  free(text);
  free(bytes);
}

Test(checkpoint, files_without_crcs_still_load_unverified) {
  saved v;
  save_full(&v);
  strip_crcs(v.path, 0);
  char err[1024];
  cr_assert_eq(vkl_checkpoint_load_state(v.path, v.m, &v.back, err, sizeof err), VKL_OK, "%s", err);
  vkl_checkpoint_integrity in;
  cr_assert_eq(vkl_checkpoint_verify(v.path, &in, err, sizeof err), VKL_OK, "%s", err);
  cr_assert(!in.has_crc && in.tensors > 3);
  saved_free(&v);
  /* a file that says it holds CRCs but lacks them is corrupt, not old */
  save_full(&v);
  strip_crcs(v.path, 1);
  cr_assert_eq(vkl_checkpoint_load_state(v.path, v.m, &v.back, err, sizeof err), VKL_ERR_FORMAT);
  cr_assert(strstr(err, "tensor conv1.weight has no CRC32 in the header"), "%s", err);
  cr_assert_eq(vkl_checkpoint_verify(v.path, &in, err, sizeof err), VKL_ERR_FORMAT);
  saved_free(&v);
}

/* Every byte of the data section belongs to one tensor: bytes appended to
 * the file (or a range the header lost) fail verification. */
Test(checkpoint, verify_wants_the_tensors_to_tile_the_data) {
  saved v;
  save_full(&v);
  FILE *f = fopen(v.path, "ab");
  fputs("extra", f);
  fclose(f);
  char err[1024];
  vkl_checkpoint_integrity in;
  cr_assert_eq(vkl_checkpoint_verify(v.path, &in, err, sizeof err), VKL_ERR_FORMAT);
  cr_assert(strstr(err, v.path) && strstr(err, "data_offsets cover only"), "%s", err);
  saved_free(&v);
}

/* A planted link at the name a temporary file once had is not written
 * through (the temporary file's name is mkstemp's). */
Test(checkpoint, a_save_never_writes_through_a_planted_link) {
  vkl_model *m = build("mlp", 3);
  float *p = calloc(m->param_floats, 4), *b = calloc(m->buffer_floats + 1, 4);
  char *path = temp_path(), link[160], victim[160], err[512], text[64] = "";
  snprintf(link, sizeof link, "%s.tmp", path);
  snprintf(victim, sizeof victim, "%s.victim", path);
  FILE *f = fopen(victim, "w");
  fputs("precious", f);
  fclose(f);
  cr_assert_eq(symlink(victim, link), 0);
  vkl_checkpoint_meta meta = meta_of(m);
  cr_assert_eq(vkl_checkpoint_save(path, m, &meta, p, b, err, sizeof err), VKL_OK, "%s", err);
  f = fopen(victim, "r");
  cr_assert(fgets(text, sizeof text, f));
  fclose(f);
  cr_assert_str_eq(text, "precious");
  cr_assert_eq(vkl_checkpoint_load(path, m, p, b, err, sizeof err), VKL_OK, "%s", err);
  free(p), free(b);
  vkl_model_destroy(m);
}
