/* Models as a list of layers over named values, with PyTorch state_dict
 * parameter names and torchvision initialisation.
 *
 * A model is built on the host, once, independent of any device: values
 * (activations, per-sample shape C,H,W) and nodes (layers) in execution
 * order; parameters (trained) and buffers (batch-norm running statistics)
 * each get an offset in one flat array, 4-float aligned so the fused
 * optimizer can move vec4s. src/nn/net.c turns a model into device memory
 * and recorded forward/backward passes for a micro-batch size. */
#ifndef VKLARS_NN_MODEL_H
#define VKLARS_NN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "vklars/status.h"

typedef enum nn_kind {
  NN_CONV = 0, /* conv2d, optional bias */
  NN_BN,       /* batch norm (affine), running statistics */
  NN_RELU,
  NN_MAXPOOL,
  NN_GAP,    /* global average pool: (C,H,W) -> (C,1,1) */
  NN_LINEAR, /* y = x W^T + b over the flattened input */
  NN_ADD     /* residual join: y = a + b */
} nn_kind;

typedef struct nn_value {
  uint32_t c, h, w; /* per-sample shape */
} nn_value;

typedef struct nn_node {
  nn_kind kind;
  uint32_t in[2]; /* value ids (in[1] for NN_ADD only) */
  uint32_t out;
  /* conv and pooling geometry; conv/linear output channels in k */
  uint32_t k, r, s, stride, pad;
  /* parameter ids: conv/linear weight and bias, bn gamma and beta
   * (UINT32_MAX when absent); bn running mean and var in buffers */
  uint32_t param[2];
  uint32_t buffer[2];
} nn_node;

typedef enum nn_init {
  NN_INIT_KAIMING_FAN_OUT = 0, /* conv: normal, std sqrt(2 / (K*R*S)) */
  NN_INIT_LINEAR_UNIFORM,      /* linear weight and bias: U(+-1/sqrt(fan_in)) */
  NN_INIT_ONES,
  NN_INIT_ZEROS
} nn_init;

typedef struct nn_tensor {
  char name[96]; /* "layer1.0.conv1.weight" */
  uint32_t ndim;
  uint32_t shape[4];
  uint64_t count;
  uint64_t offset; /* floats into the parameter (or buffer) array */
  nn_init init;
  uint32_t fan_in;
} nn_tensor;

#define NN_NONE UINT32_MAX

typedef struct vkl_model {
  char name[32];
  uint32_t in_c, in_h, in_w, classes;
  nn_value *values;
  uint32_t value_count, value_cap;
  nn_node *nodes;
  uint32_t node_count, node_cap;
  nn_tensor *params;
  uint32_t param_count, param_cap;
  uint64_t param_floats;
  nn_tensor *buffers;
  uint32_t buffer_count, buffer_cap;
  uint64_t buffer_floats;
  /* value ids: the input; the backbone's features (what the head reads:
   * linear evaluation and kNN read them too); the output (the classifier's
   * logits, or the projector's embedding) */
  uint32_t input, features, logits;
  uint32_t projector_layers; /* 0: a classifier head */
} vkl_model;

#define VKL_MODEL_MAX_PROJECTOR 8 /* projector layers */

typedef struct vkl_model_config {
  uint32_t in_c, in_h, in_w; /* the data's image shape */
  uint32_t classes;
  int imagenet_stem; /* resnets: 7x7/2 conv + 3x3/2 max-pool (default: the
                      * 3x3/1 CIFAR stem, automatic above 64 px) */
  uint32_t width;    /* mlp hidden width / cnn base channels (0: default) */
  /* A self-supervised projector in place of the classifier: Linear (no
   * bias), batch norm, ReLU for each size but the last, whose Linear (no
   * bias) stands alone and gives the embedding (Barlow Twins; "--projector
   * 4096-4096-4096" is {4096, 4096, 4096}, 3 layers). Its tensors are
   * named projector.<index in the sequence>.*, as PyTorch's nn.Sequential
   * names them. no_bn leaves its batch norms out (a model with no batch
   * norm at all gives micro-batch-independent gradients: tests). */
  uint32_t projector[VKL_MODEL_MAX_PROJECTOR];
  uint32_t projector_layers;
  int projector_no_bn;
  /* 1: no head at all: the output is the backbone's features (linear
   * evaluation and kNN read them; the tensors are the backbone's, named as
   * in the full model, so a checkpoint of the full model loads into it) */
  int no_head;
} vkl_model_config;

/* The largest width: 32 times the widest layer of torchvision's ResNets
 * (2048), small enough that no count derived from it (cnn's 2*width channels
 * and 9*width fan-in, mlp's width^2 weights in 64 bits) can overflow. */
#define VKL_MODEL_MAX_WIDTH 65536u

/* Names: "mlp", "cnn", "resnet18", "resnet34", "resnet50". A width beyond
 * VKL_MODEL_MAX_WIDTH, and a layer whose size would exceed 32 bits or be
 * empty, are VKL_ERR_INVALID_ARGUMENT with a message naming the layer. */
vkl_status vkl_model_build(const char *name, const vkl_model_config *cfg, vkl_model **out,
                           char *err, size_t errlen);
void vkl_model_destroy(vkl_model *m);
/* Lists the model names, comma separated. */
const char *vkl_model_names(void);

/* The smallest micro-batch the model trains at: 2 with batch norm (a
 * training step's batch statistics need two samples; why names the first
 * such layer), else 1. */
uint32_t vkl_model_min_micro_batch(const vkl_model *m, char *why, size_t whylen);
int vkl_model_has_batchnorm(const vkl_model *m);

/* Fills params (param_floats) and buffers (buffer_floats) as torchvision
 * initialises them, deterministically from seed. */
void vkl_model_init(const vkl_model *m, uint64_t seed, float *params, float *buffers);

#endif
