/* libFuzzer harness: the safetensors checkpoint reader
 * (src/train/checkpoint.c) as `vklars eval`, `train --init` and
 * `train --resume` use it.
 *
 * The input is a checkpoint, written as RUN/ckpt-step1.safetensors. The
 * harness reads its metadata (vkl_checkpoint_read_meta); loads it into a
 * small fixed model (FUZZ_CKPT_MODEL, built once with src/nn/model.c) with
 * the optimizer state the metadata names (else that of SGD/LARS, one
 * moment, or for inputs of odd length LAMB/AdamW, two) with
 * vkl_checkpoint_load_state; when the
 * metadata names a model, builds that model from it as `vklars eval` does
 * and loads its weights when they are few (the harness's own allocation;
 * the reader itself must never allocate what a header says); and runs
 * `vklars train --resume RUN` up to where it would open a device (the saved
 * options parsed and validated; train_cli.c). No Vulkan device is
 * involved. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "nn/model.h"
#include "train/checkpoint.h"
#include "train_cli.h"
#include "vklars/optim.h"

static vkl_model *model;
static float *params, *buffers, *moments[2];
static vkl_checkpoint_meta meta; /* large: argv and config texts */
static char run_dir[1024], path[1100];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  vkl_model_config cfg = FUZZ_CKPT_CONFIG;
  char err[256];
  if (vkl_model_build(FUZZ_CKPT_MODEL, &cfg, &model, err, sizeof err) != VKL_OK) abort();
  params = malloc(model->param_floats * sizeof(float));
  buffers = malloc((model->buffer_floats ? model->buffer_floats : 1) * sizeof(float));
  moments[0] = malloc(model->param_floats * sizeof(float));
  moments[1] = malloc(model->param_floats * sizeof(float));
  if (!params || !buffers || !moments[0] || !moments[1]) abort();
  snprintf(run_dir, sizeof run_dir, "%s/run", fuzz_dir());
  if (mkdir(run_dir, 0700) != 0) abort();
  vkl_checkpoint_path(run_dir, 1, path, sizeof path);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_write(path, data, size);
  char err[1024];
  vkl_status st = vkl_checkpoint_read_meta(path, &meta, err, sizeof err);
  fuzz_report("read_meta", st, err);
  vkl_checkpoint_state state = {.params = params, .buffers = buffers};
  int opt = size & 1 ? VKL_OPT_ADAMW : VKL_OPT_SGD;
  for (int k = 0; st == VKL_OK && k < VKL_OPT_COUNT; k++)
    if (strcmp(meta.optimizer, vkl_opt_kind_name((vkl_opt_kind)k)) == 0) opt = k;
  vkl_checkpoint_moment_names(opt, state.moment_names);
  for (int k = 0; k < 2; k++) state.moments[k] = state.moment_names[k] ? moments[k] : NULL;
  vkl_status lst = vkl_checkpoint_load_state(path, model, &state, err, sizeof err);
  fuzz_report("load_state (harness model)", lst, err);
  fuzz_train_resume(run_dir);
  if (st != VKL_OK) return 0;
  if (memchr(meta.model, 0, sizeof meta.model) == NULL ||
      memchr(meta.data, 0, sizeof meta.data) == NULL ||
      memchr(meta.optimizer, 0, sizeof meta.optimizer) == NULL ||
      memchr(meta.argv, 0, sizeof meta.argv) == NULL ||
      memchr(meta.config, 0, sizeof meta.config) == NULL)
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
