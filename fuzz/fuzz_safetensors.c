/* libFuzzer harness: the safetensors checkpoint reader
 * (src/train/checkpoint.c), as `vklars eval` and `train --init` use it.
 *
 * The input is the checkpoint file. The harness reads its metadata
 * (vkl_checkpoint_read_meta), loads it into a small fixed model
 * (FUZZ_CKPT_MODEL, built once with src/nn/model.c), and, when the
 * metadata names a model, builds that model from it as `vklars eval` does
 * and loads into it too when its parameters are few (the harness's own
 * allocation; the reader itself must never allocate what a header says).
 * No Vulkan device is involved. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "nn/model.h"
#include "train/checkpoint.h"

static vkl_model *model;
static float *params, *buffers;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  vkl_model_config cfg = FUZZ_CKPT_CONFIG;
  char err[256];
  if (vkl_model_build(FUZZ_CKPT_MODEL, &cfg, &model, err, sizeof err) != VKL_OK) abort();
  params = malloc(model->param_floats * sizeof(float));
  buffers = malloc((model->buffer_floats ? model->buffer_floats : 1) * sizeof(float));
  if (!params || !buffers) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_path(0, "checkpoint.safetensors");
  fuzz_write(path, data, size);
  char err[1024];
  vkl_checkpoint_meta meta;
  vkl_status st = vkl_checkpoint_read_meta(path, &meta, err, sizeof err);
  fuzz_report("read_meta", st, err);
  vkl_status lst = vkl_checkpoint_load(path, model, params, buffers, err, sizeof err);
  fuzz_report("load (harness model)", lst, err);
  if (st != VKL_OK) return 0;
  if (memchr(meta.model, 0, sizeof meta.model) == NULL ||
      memchr(meta.data, 0, sizeof meta.data) == NULL)
    abort();
  vkl_model_config cfg = {.in_c = meta.in_c,
                          .in_h = meta.in_h,
                          .in_w = meta.in_w,
                          .classes = meta.classes,
                          .imagenet_stem = meta.imagenet_stem,
                          .width = meta.width};
  /* The builder holds shapes, not weights; still, keep absurd sizes out of
   * the harness's time budget. */
  if ((uint64_t)cfg.in_c * cfg.in_h * cfg.in_w > (1u << 20) || cfg.classes > 100000 ||
      cfg.width > 4096)
    return 0;
  vkl_model *m = NULL;
  st = vkl_model_build(meta.model, &cfg, &m, err, sizeof err);
  fuzz_report("model from the metadata", st, err);
  if (st != VKL_OK) return 0;
  if (m->param_floats <= (1u << 20) && m->buffer_floats <= (1u << 20)) {
    float *p = malloc(m->param_floats * sizeof(float) + 16);
    float *b = malloc(m->buffer_floats * sizeof(float) + 16);
    if (!p || !b) abort();
    st = vkl_checkpoint_load(path, m, p, b, err, sizeof err);
    fuzz_report("load (that model)", st, err);
    free(p);
    free(b);
  }
  vkl_model_destroy(m);
  return 0;
}
