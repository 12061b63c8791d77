/* Model graphs (see model.h): builders for mlp, cnn and the ResNets, with
 * torchvision's layer names and initialisation.
 *
 * ResNet: torchvision.models.resnet (BasicBlock for 18/34, Bottleneck with
 * the stride on the 3x3 conv, "v1.5", for 50). The CIFAR stem replaces
 * conv 7x7/2 + max-pool 3x3/2 with a conv 3x3/1, as the paper's CIFAR and
 * Tiny ImageNet experiments (inputs of 64 px or less) do. */
#include "nn/model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct builder {
  vkl_model *m;
  int failed; /* out of host memory or a bad shape */
  char *err;
  size_t errlen;
} builder;

static void fail(builder *b, const char *fmt, ...) {
  if (b->failed) return;
  b->failed = 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->err, b->errlen, fmt, ap);
  va_end(ap);
}

/* Grows *array (elem bytes each) to hold one more; 0 on success. */
static int grow(builder *b, void **array, uint32_t *count, uint32_t *cap, size_t elem) {
  if (*count < *cap) return 0;
  uint32_t ncap = *cap ? 2 * *cap : 32;
  void *p = realloc(*array, ncap * elem);
  if (!p) {
    fail(b, "out of host memory building the model");
    return -1;
  }
  *array = p;
  *cap = ncap;
  return 0;
}

/* Sizes are computed in 64 bits and must fit the 32 of a shape. */
static uint32_t fits32(builder *b, const char *layer, const char *what, uint64_t v) {
  if (v > UINT32_MAX)
    fail(b, "%s: %s: %s of %llu exceeds 4294967295 (the input or the width is too large)",
         b->m->name, layer, what, (unsigned long long)v);
  return (uint32_t)v;
}

static uint32_t value(builder *b, const char *layer, uint64_t c, uint64_t h, uint64_t w) {
  vkl_model *m = b->m;
  if (b->failed || grow(b, (void **)&m->values, &m->value_count, &m->value_cap, sizeof *m->values))
    return 0;
  if (c == 0 || h == 0 || w == 0)
    fail(b, "%s: %s: the output would be empty (the input is too small)", m->name, layer);
  nn_value v = {fits32(b, layer, "channels", c), fits32(b, layer, "height", h),
                fits32(b, layer, "width", w)};
  m->values[m->value_count] = v;
  return m->value_count++;
}

static uint32_t tensor(builder *b, int buffer, const char *prefix, const char *leaf, uint32_t ndim,
                       const uint32_t *shape, nn_init init, uint32_t fan_in) {
  vkl_model *m = b->m;
  nn_tensor **arr = buffer ? &m->buffers : &m->params;
  uint32_t *count = buffer ? &m->buffer_count : &m->param_count;
  uint32_t *cap = buffer ? &m->buffer_cap : &m->param_cap;
  uint64_t *floats = buffer ? &m->buffer_floats : &m->param_floats;
  if (b->failed || grow(b, (void **)arr, count, cap, sizeof **arr)) return NN_NONE;
  nn_tensor *t = &(*arr)[*count];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s%s%s", prefix, prefix[0] ? "." : "", leaf);
  t->ndim = ndim;
  t->count = 1;
  for (uint32_t i = 0; i < ndim; i++) {
    t->shape[i] = shape[i];
    t->count *= shape[i];
  }
  t->offset = *floats;
  *floats += (t->count + 3) / 4 * 4; /* 4-float aligned: the optimizer reads vec4s */
  t->init = init;
  t->fan_in = fan_in;
  return (*count)++;
}

static uint32_t node(builder *b, nn_node n) {
  vkl_model *m = b->m;
  if (b->failed || grow(b, (void **)&m->nodes, &m->node_count, &m->node_cap, sizeof *m->nodes))
    return 0;
  m->nodes[m->node_count++] = n;
  return n.out;
}

static nn_node blank(nn_kind kind, uint32_t in) {
  nn_node n;
  memset(&n, 0, sizeof n);
  n.kind = kind;
  n.in[0] = in;
  n.in[1] = NN_NONE;
  n.param[0] = n.param[1] = n.buffer[0] = n.buffer[1] = NN_NONE;
  return n;
}

static uint64_t out_size(uint32_t in, uint32_t r, uint32_t stride, uint32_t pad) {
  uint64_t padded = (uint64_t)in + 2ull * pad;
  return padded >= r ? (padded - r) / stride + 1 : 0;
}

static uint32_t conv(builder *b, const char *prefix, uint32_t in, uint32_t k, uint32_t r,
                     uint32_t stride, uint32_t pad, int bias) {
  if (b->failed) return 0;
  nn_value x = b->m->values[in];
  nn_node n = blank(NN_CONV, in);
  n.k = k;
  n.r = n.s = r;
  n.stride = stride;
  n.pad = pad;
  uint32_t shape[4] = {k, x.c, r, r};
  uint32_t fan_in = fits32(b, prefix, "fan-in", (uint64_t)x.c * r * r);
  n.param[0] = tensor(b, 0, prefix, "weight", 4, shape, NN_INIT_KAIMING_FAN_OUT, fan_in);
  if (bias) n.param[1] = tensor(b, 0, prefix, "bias", 1, &k, NN_INIT_LINEAR_UNIFORM, fan_in);
  n.out = value(b, prefix, k, out_size(x.h, r, stride, pad), out_size(x.w, r, stride, pad));
  return node(b, n);
}

static uint32_t bn(builder *b, const char *prefix, uint32_t in) {
  if (b->failed) return 0;
  nn_value x = b->m->values[in];
  nn_node n = blank(NN_BN, in);
  n.param[0] = tensor(b, 0, prefix, "weight", 1, &x.c, NN_INIT_ONES, 0);
  n.param[1] = tensor(b, 0, prefix, "bias", 1, &x.c, NN_INIT_ZEROS, 0);
  n.buffer[0] = tensor(b, 1, prefix, "running_mean", 1, &x.c, NN_INIT_ZEROS, 0);
  n.buffer[1] = tensor(b, 1, prefix, "running_var", 1, &x.c, NN_INIT_ONES, 0);
  n.out = value(b, prefix, x.c, x.h, x.w);
  return node(b, n);
}

static uint32_t simple(builder *b, nn_kind kind, uint32_t in) {
  if (b->failed) return 0;
  nn_value x = b->m->values[in];
  nn_node n = blank(kind, in);
  n.out = kind == NN_GAP ? value(b, "avgpool", x.c, 1, 1) : value(b, "relu", x.c, x.h, x.w);
  return node(b, n);
}

static uint32_t maxpool(builder *b, uint32_t in, uint32_t r, uint32_t stride, uint32_t pad) {
  if (b->failed) return 0;
  nn_value x = b->m->values[in];
  nn_node n = blank(NN_MAXPOOL, in);
  n.r = n.s = r;
  n.stride = stride;
  n.pad = pad;
  n.out = value(b, "maxpool", x.c, out_size(x.h, r, stride, pad), out_size(x.w, r, stride, pad));
  return node(b, n);
}

static uint32_t linear_with(builder *b, const char *prefix, uint32_t in, uint32_t k, int bias) {
  if (b->failed) return 0;
  nn_value x = b->m->values[in];
  uint32_t fan_in = fits32(b, prefix, "fan-in", (uint64_t)x.c * x.h * x.w);
  nn_node n = blank(NN_LINEAR, in);
  n.k = k;
  uint32_t shape[2] = {k, fan_in};
  n.param[0] = tensor(b, 0, prefix, "weight", 2, shape, NN_INIT_LINEAR_UNIFORM, fan_in);
  if (bias) n.param[1] = tensor(b, 0, prefix, "bias", 1, &k, NN_INIT_LINEAR_UNIFORM, fan_in);
  n.out = value(b, prefix, k, 1, 1);
  return node(b, n);
}

static uint32_t linear(builder *b, const char *prefix, uint32_t in, uint32_t k) {
  return linear_with(b, prefix, in, k, 1);
}

static uint32_t add(builder *b, uint32_t a, uint32_t c) {
  if (b->failed) return 0;
  nn_value x = b->m->values[a];
  nn_node n = blank(NN_ADD, a);
  n.in[1] = c;
  n.out = value(b, "add", x.c, x.h, x.w);
  return node(b, n);
}

/* ---- models ------------------------------------------------------------- */

/* The self-supervised projector on the features x (see model.h). */
static uint32_t projector(builder *b, const vkl_model_config *cfg, uint32_t x) {
  uint32_t index = 0; /* the position in PyTorch's nn.Sequential */
  for (uint32_t l = 0; l < cfg->projector_layers; l++) {
    char p[32];
    snprintf(p, sizeof p, "projector.%u", index++);
    x = linear_with(b, p, x, cfg->projector[l], 0);
    if (l + 1 == cfg->projector_layers) break;
    if (!cfg->projector_no_bn) {
      snprintf(p, sizeof p, "projector.%u", index++);
      x = bn(b, p, x);
    }
    x = simple(b, NN_RELU, x);
    index++;
  }
  return x;
}

/* The head on the backbone's features: the classifier fc_name, or the
 * projector. */
static void head(builder *b, const vkl_model_config *cfg, const char *fc_name, uint32_t features) {
  b->m->features = features;
  b->m->projector_layers = cfg->projector_layers;
  if (cfg->no_head)
    b->m->logits = features;
  else
    b->m->logits = cfg->projector_layers ? projector(b, cfg, features)
                                         : linear(b, fc_name, features, cfg->classes);
}

static void build_mlp(builder *b, const vkl_model_config *cfg) {
  uint32_t hidden = cfg->width ? cfg->width : 256;
  uint32_t x = b->m->input;
  x = simple(b, NN_RELU, linear(b, "fc1", x, hidden));
  x = simple(b, NN_RELU, linear(b, "fc2", x, hidden));
  head(b, cfg, "fc3", x);
}

/* Stage `index` (from 1) of the cnns: conv{index} 3x3 (pad 1, no bias),
 * bn{index}, relu. */
static uint32_t conv_bn_relu(builder *b, uint32_t index, uint32_t x, uint32_t channels) {
  char conv_name[16], bn_name[16];
  snprintf(conv_name, sizeof conv_name, "conv%u", index);
  snprintf(bn_name, sizeof bn_name, "bn%u", index);
  return simple(b, NN_RELU, bn(b, bn_name, conv(b, conv_name, x, channels, 3, 1, 1, 0)));
}

/* Two conv-bn-relu-maxpool stages and a linear classifier: small enough to
 * train Fashion-MNIST in minutes on a CPU device. */
static uint32_t cnn_stages(builder *b, const vkl_model_config *cfg) {
  uint32_t w = cfg->width ? cfg->width : 16;
  uint32_t x = maxpool(b, conv_bn_relu(b, 1, b->m->input, w), 2, 2, 0);
  return maxpool(b, conv_bn_relu(b, 2, x, 2 * w), 2, 2, 0);
}

static void build_cnn(builder *b, const vkl_model_config *cfg) {
  head(b, cfg, "fc", cnn_stages(b, cfg));
}

/* The cnn with its features averaged over the image (2*width of them), as
 * a self-supervised backbone's are: a flattened map is a strong feature
 * even with random weights, an average is not, so linear evaluation on it
 * measures what pretraining learnt. */
static void build_cnn_gap(builder *b, const vkl_model_config *cfg) {
  head(b, cfg, "fc", simple(b, NN_GAP, cnn_stages(b, cfg)));
}

/* A deeper self-supervised backbone: four conv-bn-relu stages of width,
 * 2, 4 and 8 times width channels, max-pooled after the first three
 * (28x28 -> 14 -> 7 -> 3), averaged over the last map (8*width features).
 * cnn-gap's two stages see 10x10 pixels per feature, about what random
 * filters already describe; these see the whole Fashion-MNIST image, so
 * pretraining has shape to learn. Cheaper than cnn-gap at half its width:
 * 5.2 against 7.7 MFLOP per 28x28 image forward at widths 16 and 32. */
static void build_cnn4_gap(builder *b, const vkl_model_config *cfg) {
  uint32_t w = cfg->width ? cfg->width : 16;
  uint32_t x = b->m->input;
  for (uint32_t s = 0; s < 4; s++) {
    x = conv_bn_relu(b, s + 1, x, w << s);
    if (s < 3) x = maxpool(b, x, 2, 2, 0);
  }
  head(b, cfg, "fc", simple(b, NN_GAP, x));
}

static uint32_t basic_block(builder *b, const char *p, uint32_t x, uint32_t planes,
                            uint32_t stride) {
  char name[64];
  nn_value in = b->failed ? (nn_value){0} : b->m->values[x];
  snprintf(name, sizeof name, "%s.conv1", p);
  uint32_t y = conv(b, name, x, planes, 3, stride, 1, 0);
  snprintf(name, sizeof name, "%s.bn1", p);
  y = simple(b, NN_RELU, bn(b, name, y));
  snprintf(name, sizeof name, "%s.conv2", p);
  y = conv(b, name, y, planes, 3, 1, 1, 0);
  snprintf(name, sizeof name, "%s.bn2", p);
  y = bn(b, name, y);
  uint32_t identity = x;
  if (stride != 1 || in.c != planes) {
    snprintf(name, sizeof name, "%s.downsample.0", p);
    identity = conv(b, name, x, planes, 1, stride, 0, 0);
    snprintf(name, sizeof name, "%s.downsample.1", p);
    identity = bn(b, name, identity);
  }
  return simple(b, NN_RELU, add(b, y, identity));
}

static uint32_t bottleneck(builder *b, const char *p, uint32_t x, uint32_t planes,
                           uint32_t stride) {
  char name[64];
  nn_value in = b->failed ? (nn_value){0} : b->m->values[x];
  snprintf(name, sizeof name, "%s.conv1", p);
  uint32_t y = conv(b, name, x, planes, 1, 1, 0, 0);
  snprintf(name, sizeof name, "%s.bn1", p);
  y = simple(b, NN_RELU, bn(b, name, y));
  snprintf(name, sizeof name, "%s.conv2", p);
  y = conv(b, name, y, planes, 3, stride, 1, 0);
  snprintf(name, sizeof name, "%s.bn2", p);
  y = simple(b, NN_RELU, bn(b, name, y));
  snprintf(name, sizeof name, "%s.conv3", p);
  y = conv(b, name, y, 4 * planes, 1, 1, 0, 0);
  snprintf(name, sizeof name, "%s.bn3", p);
  y = bn(b, name, y);
  uint32_t identity = x;
  if (stride != 1 || in.c != 4 * planes) {
    snprintf(name, sizeof name, "%s.downsample.0", p);
    identity = conv(b, name, x, 4 * planes, 1, stride, 0, 0);
    snprintf(name, sizeof name, "%s.downsample.1", p);
    identity = bn(b, name, identity);
  }
  return simple(b, NN_RELU, add(b, y, identity));
}

static void build_resnet(builder *b, const vkl_model_config *cfg, const uint32_t blocks[4],
                         int bottle) {
  uint32_t x = b->m->input;
  int imagenet = cfg->imagenet_stem || cfg->in_h > 64 || cfg->in_w > 64;
  if (imagenet) {
    x = simple(b, NN_RELU, bn(b, "bn1", conv(b, "conv1", x, 64, 7, 2, 3, 0)));
    x = maxpool(b, x, 3, 2, 1);
  } else {
    x = simple(b, NN_RELU, bn(b, "bn1", conv(b, "conv1", x, 64, 3, 1, 1, 0)));
  }
  const uint32_t planes[4] = {64, 128, 256, 512};
  for (uint32_t l = 0; l < 4; l++)
    for (uint32_t k = 0; k < blocks[l]; k++) {
      char p[32];
      snprintf(p, sizeof p, "layer%u.%u", l + 1, k);
      uint32_t stride = (l > 0 && k == 0) ? 2 : 1;
      x = bottle ? bottleneck(b, p, x, planes[l], stride) : basic_block(b, p, x, planes[l], stride);
    }
  head(b, cfg, "fc", simple(b, NN_GAP, x));
}

/* Before any size is computed from the width (cnn's 2*width wrapped to 0
 * at 2^31 and read as an empty layer). */
static void check_width(builder *b, const char *name, const vkl_model_config *cfg) {
  if (cfg->width > VKL_MODEL_MAX_WIDTH)
    fail(b, "model %s: width %u is too large (at most %u)", name, cfg->width, VKL_MODEL_MAX_WIDTH);
}

static void check_projector(builder *b, const char *name, const vkl_model_config *cfg) {
  if (cfg->projector_layers > VKL_MODEL_MAX_PROJECTOR)
    fail(b, "model %s: a projector of %u layers (at most %u)", name, cfg->projector_layers,
         VKL_MODEL_MAX_PROJECTOR);
  for (uint32_t l = 0; l < cfg->projector_layers && l < VKL_MODEL_MAX_PROJECTOR; l++)
    if (cfg->projector[l] == 0 || cfg->projector[l] > VKL_MODEL_MAX_WIDTH)
      fail(b, "model %s: projector layer %u has %u outputs (1 to %u)", name, l + 1,
           cfg->projector[l], VKL_MODEL_MAX_WIDTH);
}

const char *vkl_model_names(void) {
  return "mlp, cnn, cnn-gap, cnn4-gap, resnet18, resnet34, resnet50";
}

vkl_status vkl_model_build(const char *name, const vkl_model_config *cfg, vkl_model **out,
                           char *err, size_t errlen) {
  *out = NULL;
  if (!cfg->in_c || !cfg->in_h || !cfg->in_w || cfg->classes < 2) {
    snprintf(err, errlen, "model %s: input %ux%ux%u with %u classes is not a classification task",
             name, cfg->in_c, cfg->in_h, cfg->in_w, cfg->classes);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  vkl_model *m = calloc(1, sizeof *m);
  if (!m) {
    snprintf(err, errlen, "out of host memory building the model");
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  snprintf(m->name, sizeof m->name, "%s", name);
  m->in_c = cfg->in_c;
  m->in_h = cfg->in_h;
  m->in_w = cfg->in_w;
  m->classes = cfg->classes;
  builder b = {m, 0, err, errlen};
  check_width(&b, name, cfg);
  check_projector(&b, name, cfg);
  m->input = value(&b, "input", cfg->in_c, cfg->in_h, cfg->in_w);
  static const uint32_t r18[4] = {2, 2, 2, 2}, r34[4] = {3, 4, 6, 3};
  if (strcmp(name, "mlp") == 0)
    build_mlp(&b, cfg);
  else if (strcmp(name, "cnn") == 0)
    build_cnn(&b, cfg);
  else if (strcmp(name, "cnn-gap") == 0)
    build_cnn_gap(&b, cfg);
  else if (strcmp(name, "cnn4-gap") == 0)
    build_cnn4_gap(&b, cfg);
  else if (strcmp(name, "resnet18") == 0)
    build_resnet(&b, cfg, r18, 0);
  else if (strcmp(name, "resnet34") == 0)
    build_resnet(&b, cfg, r34, 0);
  else if (strcmp(name, "resnet50") == 0)
    build_resnet(&b, cfg, r34, 1);
  else
    fail(&b, "unknown model '%s' (models: %s)", name, vkl_model_names());
  if (b.failed) {
    vkl_model_destroy(m);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  *out = m;
  return VKL_OK;
}

void vkl_model_destroy(vkl_model *m) {
  if (!m) return;
  free(m->values);
  free(m->nodes);
  free(m->params);
  free(m->buffers);
  free(m);
}

int vkl_model_has_batchnorm(const vkl_model *m) {
  for (uint32_t i = 0; i < m->node_count; i++)
    if (m->nodes[i].kind == NN_BN) return 1;
  return 0;
}

uint32_t vkl_model_min_micro_batch(const vkl_model *m, char *why, size_t whylen) {
  if (whylen) why[0] = '\0';
  for (uint32_t i = 0; i < m->node_count; i++) {
    const nn_node *n = &m->nodes[i];
    if (n->kind != NN_BN) continue;
    const char *weight = m->params[n->param[0]].name; /* "<layer>.weight" */
    snprintf(why, whylen,
             "the %s's batch norm (%.*s first) needs at least 2 samples per micro-batch for its "
             "statistics",
             m->name, (int)(strlen(weight) - strlen(".weight")), weight);
    return 2;
  }
  return 1;
}

/* ---- initialisation ------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) {
  return ((double)(splitmix(s) >> 11) + 0.5) * 0x1.0p-53;
}

/* Each tensor draws from its own stream (seed, tensor index), so adding a
 * layer never changes the initial values of the others. */
static void init_tensor(const nn_tensor *t, uint64_t seed, uint32_t index, float *dst) {
  uint64_t s = seed ^ (0xd1b54a32d192ed03ull * (index + 1));
  double fan_out = (double)t->count / (t->ndim ? t->shape[1] : 1);
  for (uint64_t i = 0; i < t->count; i++) {
    switch (t->init) {
      case NN_INIT_KAIMING_FAN_OUT: { /* kaiming_normal_(mode='fan_out', relu) */
        double std = sqrt(2.0 / fan_out);
        double u1 = uniform01(&s), u2 = uniform01(&s);
        dst[i] = (float)(std * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
        break;
      }
      case NN_INIT_LINEAR_UNIFORM: { /* nn.Linear / nn.Conv2d bias default */
        double bound = 1.0 / sqrt((double)(t->fan_in ? t->fan_in : 1));
        dst[i] = (float)((2.0 * uniform01(&s) - 1.0) * bound);
        break;
      }
      case NN_INIT_ONES: dst[i] = 1.0f; break;
      default: dst[i] = 0.0f; break;
    }
  }
}

void vkl_model_init(const vkl_model *m, uint64_t seed, float *params, float *buffers) {
  memset(params, 0, m->param_floats * sizeof *params);
  memset(buffers, 0, m->buffer_floats * sizeof *buffers);
  for (uint32_t i = 0; i < m->param_count; i++)
    init_tensor(&m->params[i], seed, i, params + m->params[i].offset);
  for (uint32_t i = 0; i < m->buffer_count; i++)
    init_tensor(&m->buffers[i], seed, 1000000 + i, buffers + m->buffers[i].offset);
}
