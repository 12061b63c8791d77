/* safetensors checkpoints: round trips, the format's layout, and lying or
 * foreign files refused with a message naming the file and the problem. */
#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"
#include "train/checkpoint.h"

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
       148480, 0, "another shape"},
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
