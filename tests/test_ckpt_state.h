/* Loading a whole checkpoint for comparisons in tests: every tensor of
 * the model's state and its optimizer's moments. */
#ifndef VKLARS_TEST_CKPT_STATE_H
#define VKLARS_TEST_CKPT_STATE_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "train/checkpoint.h"
#include "vklars/optim.h"

/* Loads every tensor of a checkpoint (the model's state and the
 * optimizer's moments; with projector layers, of a pretraining run's
 * model); returns the state for comparisons (free with free_state). */
static inline vkl_checkpoint_state load_all_projected(const char *path, vkl_model **model,
                                                      const uint32_t *projector, uint32_t layers) {
  vkl_checkpoint_meta *meta = calloc(1, sizeof *meta);
  char err[512];
  cr_assert_eq(vkl_checkpoint_read_meta(path, meta, err, sizeof err), VKL_OK, "%s", err);
  vkl_model_config mc = {.in_c = meta->in_c,
                         .in_h = meta->in_h,
                         .in_w = meta->in_w,
                         .classes = meta->classes,
                         .width = meta->width,
                         .projector_layers = layers};
  if (layers) memcpy(mc.projector, projector, layers * sizeof *projector);
  cr_assert_eq(vkl_model_build(meta->model, &mc, model, err, sizeof err), VKL_OK, "%s", err);
  vkl_checkpoint_state s;
  memset(&s, 0, sizeof s);
  vkl_checkpoint_moment_names(vkl_opt_kind_parse(meta->optimizer), s.moment_names);
  s.params = calloc((*model)->param_floats, 4);
  s.buffers = calloc((*model)->buffer_floats + 1, 4);
  s.moments[0] = calloc((*model)->param_floats, 4);
  s.moments[1] = s.moment_names[1] ? calloc((*model)->param_floats, 4) : NULL;
  cr_assert_eq(vkl_checkpoint_load_state(path, *model, &s, err, sizeof err), VKL_OK, "%s", err);
  free(meta);
  return s;
}

/* A pretraining checkpoint's model has a projector (its sizes, as
 * --projector gave them); a classifier's none. */
static inline vkl_checkpoint_state load_all(const char *path, vkl_model **model) {
  return load_all_projected(path, model, NULL, 0);
}

static inline void free_state(vkl_checkpoint_state *s, vkl_model *m) {
  free(s->params);
  free(s->buffers);
  free(s->moments[0]);
  free(s->moments[1]);
  vkl_model_destroy(m);
}

/* Two checkpoints hold the same bits: weights, momentum, statistics. */
static inline void assert_states_identical(const char *a, const char *b) {
  vkl_model *ma, *mb;
  vkl_checkpoint_state sa = load_all(a, &ma), sb = load_all(b, &mb);
  cr_assert(memcmp(sa.params, sb.params, ma->param_floats * 4) == 0, "weights differ");
  cr_assert(memcmp(sa.moments[0], sb.moments[0], ma->param_floats * 4) == 0, "momentum differs");
  cr_assert(memcmp(sa.buffers, sb.buffers, ma->buffer_floats * 4) == 0, "BN statistics differ");
  free_state(&sa, ma);
  free_state(&sb, mb);
}

#endif
