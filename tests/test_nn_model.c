/* Model graphs: parameter counts and names as torchvision's state_dict,
 * shapes through the network, 4-float alignment, initialisation. */
#include <math.h>

#include "nn/model.h"
#include "test_util.h"

static vkl_model *build(const char *name, uint32_t c, uint32_t h, uint32_t classes, int stem) {
  vkl_model_config cfg = {
      .in_c = c, .in_h = h, .in_w = h, .classes = classes, .imagenet_stem = stem};
  vkl_model *m = NULL;
  char err[256];
  cr_assert_eq(vkl_model_build(name, &cfg, &m, err, sizeof err), VKL_OK, "%s: %s", name, err);
  return m;
}

static uint64_t trainable(const vkl_model *m) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < m->param_count; i++) n += m->params[i].count;
  return n;
}

static const nn_tensor *find(const vkl_model *m, const char *name) {
  for (uint32_t i = 0; i < m->param_count; i++)
    if (strcmp(m->params[i].name, name) == 0) return &m->params[i];
  for (uint32_t i = 0; i < m->buffer_count; i++)
    if (strcmp(m->buffers[i].name, name) == 0) return &m->buffers[i];
  return NULL;
}

Test(nn_model, parameter_counts_match_torchvision) {
  /* sum(p.numel() for p in torchvision.models.resnetXX(num_classes=...).parameters()) */
  vkl_model *m = build("resnet18", 3, 224, 1000, 1);
  cr_assert_eq(trainable(m), 11689512);
  cr_assert_eq(m->param_count, 62);
  vkl_model_destroy(m);
  m = build("resnet34", 3, 224, 1000, 1);
  cr_assert_eq(trainable(m), 21797672);
  vkl_model_destroy(m);
  m = build("resnet50", 3, 224, 1000, 1);
  cr_assert_eq(trainable(m), 25557032);
  cr_assert_eq(m->param_count, 161);
  vkl_model_destroy(m);
  /* CIFAR stem (3x3/1 conv, no max-pool) and 10 classes */
  m = build("resnet18", 3, 32, 10, 0);
  cr_assert_eq(trainable(m), 11173962);
  cr_assert_eq(m->buffer_count, 40);
  vkl_model_destroy(m);
}

Test(nn_model, state_dict_names_and_shapes) {
  vkl_model *m = build("resnet18", 1, 28, 10, 0);
  const nn_tensor *t = find(m, "conv1.weight");
  cr_assert(t && t->ndim == 4 && t->shape[0] == 64 && t->shape[1] == 1 && t->shape[2] == 3);
  t = find(m, "layer2.0.downsample.0.weight");
  cr_assert(t && t->shape[0] == 128 && t->shape[1] == 64 && t->shape[2] == 1);
  cr_assert(find(m, "layer4.1.bn2.running_var"));
  cr_assert(find(m, "layer1.0.bn1.bias"));
  cr_assert(!find(m, "layer1.0.downsample.0.weight"), "layer1 keeps its width: no downsample");
  t = find(m, "fc.weight");
  cr_assert(t && t->shape[0] == 10 && t->shape[1] == 512);
  /* shapes: 28 -> 28 -> 14 -> 7 -> 4, logits (10) */
  nn_value logits = m->values[m->logits];
  cr_assert(logits.c == 10 && logits.h == 1 && logits.w == 1);
  for (uint32_t i = 0; i < m->node_count; i++)
    if (m->nodes[i].kind == NN_GAP) cr_assert_eq(m->values[m->nodes[i].in[0]].h, 4);
  for (uint32_t i = 0; i < m->param_count; i++)
    cr_assert_eq(m->params[i].offset % 4, 0, "%s not 4-float aligned", m->params[i].name);
  vkl_model_destroy(m);
  m = build("resnet50", 3, 64, 200, 0);
  cr_assert(find(m, "layer3.5.conv3.weight"));
  cr_assert_eq(find(m, "fc.weight")->shape[1], 2048);
  vkl_model_destroy(m);
}

Test(nn_model, small_models_and_errors) {
  vkl_model *m = build("mlp", 1, 28, 10, 0);
  cr_assert_eq(find(m, "fc1.weight")->shape[1], 784);
  cr_assert_eq(trainable(m), 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10);
  vkl_model_destroy(m);
  m = build("cnn", 1, 28, 10, 0);
  cr_assert_eq(find(m, "fc.weight")->shape[1], 32 * 7 * 7);
  vkl_model_destroy(m);
  vkl_model_config cfg = {.in_c = 1, .in_h = 28, .in_w = 28, .classes = 10};
  char err[256];
  vkl_model *bad = NULL;
  cr_assert_eq(vkl_model_build("vgg16", &cfg, &bad, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "unknown model 'vgg16'"), "%s", err);
  cfg.in_h = cfg.in_w = 2; /* two 2x2 max-pools leave nothing */
  cr_assert_eq(vkl_model_build("cnn", &cfg, &bad, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "empty"), "%s", err);
}

Test(nn_model, initialisation_is_torchvision_like_and_deterministic) {
  vkl_model *m = build("resnet18", 3, 32, 10, 0);
  float *p = malloc(m->param_floats * sizeof *p), *q = malloc(m->param_floats * sizeof *q);
  float *bufs = malloc(m->buffer_floats * sizeof *bufs);
  cr_assert(p && q && bufs);
  vkl_model_init(m, 7, p, bufs);
  vkl_model_init(m, 7, q, bufs);
  cr_assert(memcmp(p, q, m->param_floats * sizeof *p) == 0, "same seed, same weights");
  const nn_tensor *t = find(m, "layer3.0.conv2.weight"); /* fan_out = 256*9 */
  double s = 0, s2 = 0;
  for (uint64_t i = 0; i < t->count; i++) {
    s += p[t->offset + i];
    s2 += (double)p[t->offset + i] * p[t->offset + i];
  }
  double mean = s / t->count, std = sqrt(s2 / t->count - mean * mean);
  cr_assert(fabs(std - sqrt(2.0 / (256 * 9))) < 0.01 * sqrt(2.0 / (256 * 9)), "std %g", std);
  cr_assert(fabs(mean) < 5 * std / sqrt((double)t->count));
  t = find(m, "fc.weight");
  for (uint64_t i = 0; i < t->count; i++)
    cr_assert(fabsf(p[t->offset + i]) <= 1.0f / sqrtf(512.0f));
  cr_assert_eq(p[find(m, "bn1.weight")->offset], 1.0f);
  cr_assert_eq(p[find(m, "bn1.bias")->offset], 0.0f);
  cr_assert_eq(bufs[find(m, "bn1.running_var")->offset], 1.0f);
  vkl_model_init(m, 8, q, bufs);
  cr_assert(memcmp(p, q, m->param_floats * sizeof *p) != 0, "another seed, other weights");
  free(p), free(q), free(bufs);
  vkl_model_destroy(m);
}

/* A width beyond the limit is refused before any size is computed from it
 * (cnn's 2 * 2^31 channels wrapped to 0: "output would be empty"), and a
 * size beyond 32 bits names the layer instead of wrapping. */
Test(nn_model, width_limit_and_size_overflow) {
  vkl_model_config cfg = {.in_c = 1, .in_h = 28, .in_w = 28, .classes = 10};
  char err[256];
  vkl_model *m = NULL;
  cfg.width = 2147483648u;
  cr_assert_eq(vkl_model_build("cnn", &cfg, &m, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "width 2147483648 is too large (at most 65536)"), "%s", err);
  cfg.width = VKL_MODEL_MAX_WIDTH + 1;
  cr_assert_eq(vkl_model_build("mlp", &cfg, &m, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "width 65537 is too large (at most 65536)"), "%s", err);
  cfg.width = VKL_MODEL_MAX_WIDTH;
  cr_assert_eq(vkl_model_build("mlp", &cfg, &m, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(find(m, "fc2.weight")->count, 1ull << 32, "width^2 counted in 64 bits");
  vkl_model_destroy(m);
  /* the widest cnn on the largest images: fc's fan-in 2*65536 * 1024*1024 */
  cfg.in_h = cfg.in_w = 4096;
  cr_assert_eq(vkl_model_build("cnn", &cfg, &m, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "cnn: fc: fan-in of 137438953472 exceeds 4294967295"), "%s", err);
}

/* A training step's batch statistics need 2 samples: a micro-batch of 1
 * is fine for models without batch norm. */
Test(nn_model, smallest_micro_batch) {
  char why[256];
  vkl_model *m = build("mlp", 1, 8, 10, 0);
  cr_assert_eq(vkl_model_min_micro_batch(m, why, sizeof why), 1);
  cr_assert_str_eq(why, "");
  cr_assert_not(vkl_model_has_batchnorm(m));
  vkl_model_destroy(m);
  m = build("cnn", 1, 8, 10, 0);
  cr_assert_eq(vkl_model_min_micro_batch(m, why, sizeof why), 2);
  cr_assert(strstr(why, "the cnn's batch norm (bn1 first) needs at least 2 samples"), "%s", why);
  cr_assert(vkl_model_has_batchnorm(m));
  vkl_model_destroy(m);
  m = build("resnet18", 3, 32, 10, 0);
  cr_assert_eq(vkl_model_min_micro_batch(m, NULL, 0), 2);
  vkl_model_destroy(m);
}

/* cnn-gap is the cnn with its last map averaged: the same tensors but fc,
 * whose fan-in is the 2*width channels; a projector or no head replaces
 * fc, and the projector's tensors are named by their nn.Sequential index. */
Test(nn_model, cnn_gap_projector_and_no_head) {
  char err[256];
  vkl_model_config mc = {.in_c = 1, .in_h = 28, .in_w = 28, .classes = 10, .width = 8};
  vkl_model *cnn, *gap;
  cr_assert_eq(vkl_model_build("cnn", &mc, &cnn, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(vkl_model_build("cnn-gap", &mc, &gap, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(cnn->param_count, gap->param_count);
  const nn_tensor *fc = &gap->params[gap->param_count - 2];
  cr_assert_str_eq(fc->name, "fc.weight");
  cr_assert_eq(fc->shape[1], 16, "fc fan-in %u", fc->shape[1]);
  cr_assert_eq(cnn->params[cnn->param_count - 2].shape[1], 16 * 7 * 7);
  nn_value f = gap->values[gap->features];
  cr_assert(f.c == 16 && f.h == 1 && f.w == 1);
  vkl_model_config pc = mc;
  pc.projector[0] = 24, pc.projector[1] = 12, pc.projector_layers = 2;
  vkl_model *proj, *bare;
  cr_assert_eq(vkl_model_build("cnn-gap", &pc, &proj, err, sizeof err), VKL_OK, "%s", err);
  const char *names[] = {"projector.0.weight", "projector.1.weight", "projector.1.bias",
                         "projector.3.weight"};
  for (int i = 0; i < 4; i++)
    cr_assert_str_eq(proj->params[proj->param_count - 4 + i].name, names[i]);
  cr_assert_eq(proj->values[proj->logits].c, 12);
  pc.no_head = 1;
  cr_assert_eq(vkl_model_build("cnn-gap", &pc, &bare, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(bare->param_count, cnn->param_count - 2); /* no fc, no projector */
  cr_assert_eq(bare->logits, bare->features);
  pc.projector[1] = 0;
  vkl_model *bad;
  cr_assert_eq(vkl_model_build("cnn-gap", &pc, &bad, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "projector layer 2 has 0 outputs"), "%s", err);
  vkl_model_destroy(cnn), vkl_model_destroy(gap), vkl_model_destroy(proj), vkl_model_destroy(bare);
}

/* cnn4-gap: four conv-bn-relu stages of width, 2, 4 and 8 times width
 * channels, pooled after the first three (28 -> 14 -> 7 -> 3), then
 * averaged: 8*width features; an input that the pools would empty is
 * refused by name. */
Test(nn_model, cnn4_gap_stages_and_features) {
  char err[256];
  vkl_model_config mc = {.in_c = 1, .in_h = 28, .in_w = 28, .classes = 10, .width = 4};
  vkl_model *m;
  cr_assert_eq(vkl_model_build("cnn4-gap", &mc, &m, err, sizeof err), VKL_OK, "%s", err);
  const char *names[] = {"conv1.weight", "bn1.weight",   "bn1.bias",     "conv2.weight",
                         "bn2.weight",   "bn2.bias",     "conv3.weight", "bn3.weight",
                         "bn3.bias",     "conv4.weight", "bn4.weight",   "bn4.bias",
                         "fc.weight",    "fc.bias"};
  cr_assert_eq(m->param_count, 14);
  for (int i = 0; i < 14; i++) cr_assert_str_eq(m->params[i].name, names[i]);
  const uint32_t in_ch[4] = {1, 4, 8, 16};
  for (int s = 0; s < 4; s++) {
    const nn_tensor *c = &m->params[3 * s];
    cr_assert(c->shape[0] == 4u << s && c->shape[1] == in_ch[s] && c->shape[2] == 3,
              "conv%d is %ux%ux%u", s + 1, c->shape[0], c->shape[1], c->shape[2]);
  }
  cr_assert_eq(m->params[12].shape[1], 32, "fc fan-in %u", m->params[12].shape[1]);
  nn_value f = m->values[m->features];
  cr_assert(f.c == 32 && f.h == 1 && f.w == 1);
  /* the map averaged is 3x3: the GAP node's input */
  int seen = 0;
  for (uint32_t i = 0; i < m->node_count; i++)
    if (m->nodes[i].kind == NN_GAP) {
      nn_value x = m->values[m->nodes[i].in[0]];
      cr_assert(x.c == 32 && x.h == 3 && x.w == 3, "GAP of %ux%ux%u", x.c, x.h, x.w);
      seen++;
    }
  cr_assert_eq(seen, 1);
  vkl_model_destroy(m);
  mc.in_h = mc.in_w = 4; /* 4 -> 2 -> 1 -> 0 */
  cr_assert_eq(vkl_model_build("cnn4-gap", &mc, &m, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "the output would be empty"), "%s", err);
}
