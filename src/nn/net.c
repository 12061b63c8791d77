/* A model on the device (see net.h). */
#include "nn/net.h"

#include <stdlib.h>
#include <string.h>

#include "ops/activation.h"
#include "ops/batchnorm.h"
#include "ops/conv2d.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/pool.h"

struct vkl_net {
  vkl_ctx *ctx;
  const vkl_model *model;
  vkl_net_config cfg;
  uint32_t m;
  vkl_arena *state, *acts;
  vkl_buf params, grads, buffers;
  vkl_buf *value, *grad; /* per value; grad[input] is empty */
  vkl_buf *aux;          /* per node: bn mean+invstd (2C), or max-pool argmax */
  vkl_buf workspace;
  int *grad_written; /* per value, while recording a backward pass */
};

static uint64_t value_floats(const vkl_net *n, uint32_t v) {
  nn_value x = n->model->values[v];
  return (uint64_t)n->m * x.c * x.h * x.w;
}

static vkl_buf param(const vkl_net *n, uint32_t id) {
  const nn_tensor *t = &n->model->params[id];
  return vkl_buf_sub(n->params, t->offset * 4, t->count * 4);
}
static vkl_buf dparam(const vkl_net *n, uint32_t id) {
  const nn_tensor *t = &n->model->params[id];
  return vkl_buf_sub(n->grads, t->offset * 4, t->count * 4);
}
static vkl_buf buffer(const vkl_net *n, uint32_t id) {
  const nn_tensor *t = &n->model->buffers[id];
  return vkl_buf_sub(n->buffers, t->offset * 4, t->count * 4);
}

static vkl_conv2d_shape conv_shape(const vkl_net *n, const nn_node *nd) {
  nn_value x = n->model->values[nd->in[0]];
  vkl_conv2d_shape s = {.N = n->m,
                        .C = x.c,
                        .H = x.h,
                        .W = x.w,
                        .K = nd->k,
                        .R = nd->r,
                        .S = nd->s,
                        .stride_h = nd->stride,
                        .stride_w = nd->stride,
                        .pad_h = nd->pad,
                        .pad_w = nd->pad};
  vkl_conv2d_shape_finish(&s);
  return s;
}

static vkl_pool2d_shape pool_shape(const vkl_net *n, const nn_node *nd) {
  nn_value x = n->model->values[nd->in[0]];
  vkl_pool2d_shape s = {.N = n->m,
                        .C = x.c,
                        .H = x.h,
                        .W = x.w,
                        .R = nd->r,
                        .S = nd->s,
                        .stride_h = nd->stride,
                        .stride_w = nd->stride,
                        .pad_h = nd->pad,
                        .pad_w = nd->pad};
  if (nd->kind == NN_MAXPOOL) vkl_pool2d_shape_finish(&s);
  return s;
}

static vkl_batchnorm_shape bn_shape(const vkl_net *n, const nn_node *nd) {
  nn_value x = n->model->values[nd->in[0]];
  return (vkl_batchnorm_shape){n->m, x.c, x.h, x.w};
}

static vkl_matmul_shape linear_shape(const vkl_net *n, const nn_node *nd) {
  nn_value x = n->model->values[nd->in[0]];
  return (vkl_matmul_shape){.rows = n->m, .cols = nd->k, .inner = x.c * x.h * x.w, .trans_b = 1};
}

/* The largest workspace any op of the model needs: ops run one at a time. */
static uint64_t workspace_floats(const vkl_net *n) {
  uint64_t w = 0;
  for (uint32_t i = 0; i < n->model->node_count; i++) {
    const nn_node *nd = &n->model->nodes[i];
    uint64_t f = 0;
    if (nd->kind == NN_CONV) {
      vkl_conv2d_shape s = conv_shape(n, nd);
      f = vkl_conv2d_workspace_floats(&s);
    } else if (nd->kind == NN_BN) {
      vkl_batchnorm_shape s = bn_shape(n, nd);
      f = vkl_batchnorm_workspace_floats(&s);
    }
    if (f > w) w = f;
  }
  return w ? w : 1;
}

/* Batch norm's saved statistics share one slot: the mean, then invstd at
 * the next multiple of 256 bytes, the largest minStorageBufferOffsetAlignment
 * Vulkan allows (at C*4 bytes, 2 channels put invstd at offset 8). */
static uint64_t bn_invstd_offset(uint32_t C) {
  return (C * 4ull + 255) / 256 * 256;
}

static uint64_t aux_floats(const vkl_net *n, const nn_node *nd) {
  if (nd->kind == NN_BN)
    return bn_invstd_offset(n->model->values[nd->in[0]].c) / 4 + n->model->values[nd->in[0]].c;
  if (nd->kind == NN_MAXPOOL) return value_floats(n, nd->out); /* uint32 argmax */
  return 0;
}

/* Bytes an allocation of `floats` takes in an arena, with alignment slack. */
static uint64_t slot_bytes(uint64_t floats) {
  return floats * 4 + 256;
}

/* Whether value v has a gradient buffer: not the input, nor in an inference net. */
static int has_grad(const vkl_net *n, uint32_t v) {
  return !n->cfg.inference && v != n->model->input;
}

/* Arena sizes for n's model at n->m (the same sums allocate() hands out). */
static void sizes(const vkl_net *n, uint64_t *state, uint64_t *acts, uint64_t *largest) {
  const vkl_model *md = n->model;
  int train = !n->cfg.inference;
  *state = n->cfg.share_state ? 0
                              : slot_bytes(md->param_floats) * (train ? 2 : 1) +
                                    slot_bytes(md->buffer_floats ? md->buffer_floats : 1);
  *acts = 0;
  *largest = md->param_floats * 4;
  for (uint32_t v = 0; v < md->value_count; v++) {
    *acts += slot_bytes(value_floats(n, v)) * (has_grad(n, v) ? 2 : 1);
    if (value_floats(n, v) * 4 > *largest) *largest = value_floats(n, v) * 4;
  }
  for (uint32_t i = 0; train && i < md->node_count; i++)
    if (aux_floats(n, &md->nodes[i])) *acts += slot_bytes(aux_floats(n, &md->nodes[i]));
  *acts += slot_bytes(workspace_floats(n));
}

void vkl_net_estimate_for(const vkl_model *model, const vkl_net_config *cfg, uint64_t *bytes,
                          uint64_t *largest) {
  vkl_net n = {.model = model, .cfg = *cfg, .m = cfg->micro_batch};
  uint64_t state, acts;
  sizes(&n, &state, &acts, largest);
  *bytes = state + acts;
}

void vkl_net_estimate(const vkl_model *model, uint32_t m, uint64_t *bytes, uint64_t *largest) {
  vkl_net_config cfg = {.micro_batch = m};
  vkl_net_estimate_for(model, &cfg, bytes, largest);
}

void vkl_net_estimate_shared(const vkl_model *model, uint32_t m, uint64_t *bytes,
                             uint64_t *largest) {
  vkl_net n = {.model = model, .cfg = {.micro_batch = m}, .m = m};
  n.cfg.share_state = &n; /* sizes() only asks whether the state is shared */
  uint64_t state, acts;
  sizes(&n, &state, &acts, largest);
  *bytes = state + acts;
}

uint64_t vkl_net_budget(const vkl_device_info *d) {
  uint64_t heap = 0;
  for (uint32_t h = 0; h < d->heap_count; h++)
    if (d->heap_device_local[h] && d->heap_size[h] > heap) heap = d->heap_size[h];
  uint64_t budget = heap / 4 * 3;
  if (d->max_allocation_size && d->max_allocation_size < budget) budget = d->max_allocation_size;
  return budget;
}

int vkl_net_fits(const vkl_device_info *d, const vkl_model *model, const vkl_net_config *cfg) {
  uint64_t bytes, largest;
  vkl_net_estimate_for(model, cfg, &bytes, &largest);
  return bytes <= vkl_net_budget(d) && largest <= d->max_storage_buffer_range;
}

static vkl_status allocate(vkl_net *n) {
  const vkl_model *md = n->model;
  vkl_status st;
  uint64_t state, acts, largest, ws = workspace_floats(n);
  int train = !n->cfg.inference;
  sizes(n, &state, &acts, &largest);
  /* each failure keeps the arena's own reason and names what needed the memory */
  const vkl_net *owner = n->cfg.share_state;
  if (owner) {
    n->params = owner->params;
    n->grads = owner->grads;
    n->buffers = owner->buffers;
  }
  if (!owner && (st = vkl_arena_create(n->ctx, VKL_MEM_DEVICE, state, "parameters", &n->state)))
    return vkl_set_error(
        n->ctx, st, "%s (model %s needs %.1f MiB for its parameters%s)", vkl_ctx_errmsg(n->ctx),
        md->name, (double)state / (1 << 20),
        train ? ", their gradients and the batch-norm buffers" : " and batch-norm buffers");
  if ((st = vkl_arena_create(n->ctx, VKL_MEM_DEVICE, acts, "activations", &n->acts)))
    return vkl_set_error(n->ctx, st,
                         "%s (model %s at micro-batch %u needs %.1f MiB of activations%s, beyond "
                         "%.1f MiB for its parameters)",
                         vkl_ctx_errmsg(n->ctx), md->name, n->m, (double)acts / (1 << 20),
                         train ? " and their gradients" : "", (double)state / (1 << 20));
  if (!owner && ((st = vkl_arena_alloc(n->state, md->param_floats * 4, &n->params)) ||
                 (train && (st = vkl_arena_alloc(n->state, md->param_floats * 4, &n->grads))) ||
                 (st = vkl_arena_alloc(n->state, (md->buffer_floats ? md->buffer_floats : 1) * 4,
                                       &n->buffers))))
    return st;
  for (uint32_t v = 0; v < md->value_count; v++) {
    if ((st = vkl_arena_alloc(n->acts, value_floats(n, v) * 4, &n->value[v]))) return st;
    if (has_grad(n, v) && (st = vkl_arena_alloc(n->acts, value_floats(n, v) * 4, &n->grad[v])))
      return st;
  }
  for (uint32_t i = 0; train && i < md->node_count; i++) {
    uint64_t f = aux_floats(n, &md->nodes[i]);
    if (f && (st = vkl_arena_alloc(n->acts, f * 4, &n->aux[i]))) return st;
  }
  return vkl_arena_alloc(n->acts, ws * 4, &n->workspace);
}

vkl_status vkl_net_create(vkl_ctx *ctx, const vkl_model *model, const vkl_net_config *cfg,
                          vkl_net **out) {
  *out = NULL;
  char why[256];
  if (cfg->micro_batch == 0)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "net: micro-batch 0");
  /* a training step's batch statistics need two samples; running statistics do not */
  if (!cfg->inference && cfg->micro_batch < vkl_model_min_micro_batch(model, why, sizeof why))
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "net: micro-batch %u: %s", cfg->micro_batch,
                         why);
  if (cfg->share_state &&
      (cfg->share_state->model != model || cfg->share_state->cfg.inference || cfg->inference))
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "net: a net shares the state of a training net of the same model only");
  vkl_net *n = calloc(1, sizeof *n);
  if (n) {
    n->value = calloc(model->value_count, sizeof *n->value);
    n->grad = calloc(model->value_count, sizeof *n->grad);
    n->aux = calloc(model->node_count, sizeof *n->aux);
    n->grad_written = calloc(model->value_count, sizeof *n->grad_written);
  }
  if (!n || !n->value || !n->grad || !n->aux || !n->grad_written) {
    vkl_net_destroy(n);
    return vkl_set_error(ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "net");
  }
  n->ctx = ctx;
  n->model = model;
  n->cfg = *cfg;
  n->m = cfg->micro_batch;
  if (n->cfg.bn_eps == 0) n->cfg.bn_eps = 1e-5f;
  if (n->cfg.bn_momentum == 0) n->cfg.bn_momentum = 0.1f;
  vkl_status st = allocate(n);
  if (st) {
    vkl_net_destroy(n);
    return st;
  }
  *out = n;
  return VKL_OK;
}

void vkl_net_destroy(vkl_net *n) {
  if (!n) return;
  vkl_arena_destroy(n->state);
  vkl_arena_destroy(n->acts);
  free(n->value);
  free(n->grad);
  free(n->aux);
  free(n->grad_written);
  free(n);
}

vkl_buf vkl_net_params(const vkl_net *n) {
  return n->params;
}
vkl_buf vkl_net_grads(const vkl_net *n) {
  return n->grads;
}
float vkl_net_bn_momentum(const vkl_net *n) {
  return n->cfg.bn_momentum;
}

vkl_buf vkl_net_buffers(const vkl_net *n) {
  return n->buffers;
}
vkl_buf vkl_net_input(const vkl_net *n) {
  return n->value[n->model->input];
}
vkl_buf vkl_net_output(const vkl_net *n) {
  return n->value[n->model->logits];
}
vkl_buf vkl_net_output_grad(const vkl_net *n) {
  return n->grad[n->model->logits];
}
uint32_t vkl_net_output_floats(const vkl_net *n) {
  nn_value x = n->model->values[n->model->logits];
  return x.c * x.h * x.w;
}
uint32_t vkl_net_micro_batch(const vkl_net *n) {
  return n->m;
}
uint64_t vkl_net_device_bytes(const vkl_net *n) {
  return (n->state ? vkl_arena_capacity(n->state) : 0) + vkl_arena_capacity(n->acts);
}

/* ---- forward ---------------------------------------------------------------- */

static vkl_status forward_node(vkl_net *n, vkl_cmd *cmd, uint32_t i, vkl_net_mode mode) {
  int train = mode != VKL_NET_EVAL, running = mode == VKL_NET_TRAIN;
  const nn_node *nd = &n->model->nodes[i];
  vkl_buf x = n->value[nd->in[0]], y = n->value[nd->out];
  switch (nd->kind) {
    case NN_CONV: {
      vkl_conv2d_shape s = conv_shape(n, nd);
      vkl_buf bias = nd->param[1] != NN_NONE ? param(n, nd->param[1]) : (vkl_buf){0};
      return vkl_conv2d_forward(cmd, y, x, param(n, nd->param[0]),
                                nd->param[1] != NN_NONE ? &bias : NULL, &s, n->workspace);
    }
    case NN_BN: {
      vkl_batchnorm_shape s = bn_shape(n, nd);
      vkl_buf g = param(n, nd->param[0]), b = param(n, nd->param[1]);
      vkl_buf rm = buffer(n, nd->buffer[0]), rv = buffer(n, nd->buffer[1]);
      if (!train) return vkl_batchnorm_forward_eval(cmd, y, x, rm, rv, &g, &b, &s, n->cfg.bn_eps);
      vkl_buf mean = vkl_buf_sub(n->aux[i], 0, s.C * 4ull);
      vkl_buf invstd = vkl_buf_sub(n->aux[i], bn_invstd_offset(s.C), s.C * 4ull);
      return vkl_batchnorm_forward_train(cmd, y, mean, invstd, running ? &rm : NULL,
                                         running ? &rv : NULL, x, &g, &b, &s, n->cfg.bn_eps,
                                         n->cfg.bn_momentum, n->workspace);
    }
    case NN_RELU: return vkl_relu_forward(cmd, y, x, value_floats(n, nd->out));
    case NN_MAXPOOL: {
      vkl_pool2d_shape s = pool_shape(n, nd);
      return vkl_maxpool2d_forward(cmd, y, train ? &n->aux[i] : NULL, x, &s);
    }
    case NN_GAP: {
      vkl_pool2d_shape s = pool_shape(n, nd);
      return vkl_global_avgpool_forward(cmd, y, x, &s);
    }
    case NN_LINEAR: {
      vkl_matmul_shape s = linear_shape(n, nd);
      int has_bias = nd->param[1] != NN_NONE;
      vkl_buf bias = has_bias ? param(n, nd->param[1]) : (vkl_buf){0};
      return vkl_matmul_forward(cmd, y, x, param(n, nd->param[0]), has_bias ? &bias : NULL, &s);
    }
    case NN_ADD: return vkl_add_forward(cmd, y, x, n->value[nd->in[1]], value_floats(n, nd->out));
  }
  return vkl_set_error(n->ctx, VKL_ERR_INVALID_ARGUMENT, "net: node %u has no kind", i);
}

vkl_status vkl_net_record_forward(vkl_net *n, vkl_cmd *cmd, vkl_net_mode mode) {
  if (n->cfg.inference && mode != VKL_NET_EVAL)
    return vkl_set_error(n->ctx, VKL_ERR_INVALID_ARGUMENT,
                         "net: an inference net (%s) records no training forward pass",
                         n->model->name);
  vkl_status st = VKL_OK;
  for (uint32_t i = 0; i < n->model->node_count && !st; i++) st = forward_node(n, cmd, i, mode);
  return st;
}

/* ---- backward ----------------------------------------------------------------- */

/* Whether value v's gradient is to be added to (another consumer already
 * wrote it during this backward pass); marks it written. */
static int take_grad(vkl_net *n, uint32_t v) {
  int acc = n->grad_written[v];
  n->grad_written[v] = 1;
  return acc;
}

static vkl_status backward_node(vkl_net *n, vkl_cmd *cmd, uint32_t i, int acc_params) {
  const nn_node *nd = &n->model->nodes[i];
  uint32_t in = nd->in[0];
  int wants_dx = in != n->model->input;
  vkl_buf dy = n->grad[nd->out], x = n->value[in], dx = n->grad[in];
  vkl_status st = VKL_OK;
  switch (nd->kind) {
    case NN_CONV: {
      vkl_conv2d_shape s = conv_shape(n, nd);
      vkl_buf db = nd->param[1] != NN_NONE ? dparam(n, nd->param[1]) : (vkl_buf){0};
      st = vkl_conv2d_backward_weight(cmd, dparam(n, nd->param[0]),
                                      nd->param[1] != NN_NONE ? &db : NULL, dy, x, &s, acc_params,
                                      n->workspace);
      if (!st && wants_dx)
        st = vkl_conv2d_backward_data(cmd, dx, dy, param(n, nd->param[0]), &s, take_grad(n, in),
                                      n->workspace);
      return st;
    }
    case NN_BN: {
      vkl_batchnorm_shape s = bn_shape(n, nd);
      vkl_buf g = param(n, nd->param[0]);
      vkl_buf dg = dparam(n, nd->param[0]), db = dparam(n, nd->param[1]);
      vkl_buf mean = vkl_buf_sub(n->aux[i], 0, s.C * 4ull);
      vkl_buf invstd = vkl_buf_sub(n->aux[i], bn_invstd_offset(s.C), s.C * 4ull);
      int acc_dx = wants_dx ? take_grad(n, in) : acc_params;
      if (acc_dx == acc_params) /* one pass gives all three */
        return vkl_batchnorm_backward(cmd, wants_dx ? &dx : NULL, &dg, &db, dy, x, mean, invstd, &g,
                                      &s, acc_params, n->workspace);
      st = vkl_batchnorm_backward(cmd, NULL, &dg, &db, dy, x, mean, invstd, &g, &s, acc_params,
                                  n->workspace);
      return st ? st
                : vkl_batchnorm_backward(cmd, &dx, NULL, NULL, dy, x, mean, invstd, &g, &s, acc_dx,
                                         n->workspace);
    }
    case NN_RELU:
      return vkl_relu_backward(cmd, dx, dy, n->value[nd->out], value_floats(n, in),
                               take_grad(n, in));
    case NN_MAXPOOL: {
      vkl_pool2d_shape s = pool_shape(n, nd);
      return vkl_maxpool2d_backward(cmd, dx, dy, n->aux[i], &s, take_grad(n, in));
    }
    case NN_GAP: {
      vkl_pool2d_shape s = pool_shape(n, nd);
      return vkl_global_avgpool_backward(cmd, dx, dy, &s, take_grad(n, in));
    }
    case NN_LINEAR: {
      vkl_matmul_shape s = linear_shape(n, nd);
      vkl_buf w = param(n, nd->param[0]);
      vkl_buf dw = dparam(n, nd->param[0]);
      vkl_buf db = nd->param[1] != NN_NONE ? dparam(n, nd->param[1]) : (vkl_buf){0};
      const vkl_buf *dbp = nd->param[1] != NN_NONE ? &db : NULL;
      int acc_dx = wants_dx ? take_grad(n, in) : acc_params;
      if (acc_dx == acc_params)
        return vkl_matmul_backward(cmd, wants_dx ? &dx : NULL, &dw, dbp, dy, x, w, &s, acc_params);
      st = vkl_matmul_backward(cmd, NULL, &dw, dbp, dy, x, w, &s, acc_params);
      return st ? st : vkl_matmul_backward(cmd, &dx, NULL, NULL, dy, x, w, &s, acc_dx);
    }
    case NN_ADD: {
      uint32_t in1 = nd->in[1];
      vkl_buf d1 = n->grad[in1];
      uint64_t count = value_floats(n, nd->out);
      st = vkl_add_backward(cmd, &dx, NULL, dy, count, take_grad(n, in));
      return st ? st : vkl_add_backward(cmd, NULL, &d1, dy, count, take_grad(n, in1));
    }
  }
  return vkl_set_error(n->ctx, VKL_ERR_INVALID_ARGUMENT, "net: node %u has no kind", i);
}

void vkl_net_backward_begin(vkl_net *n) {
  if (n->cfg.inference) return;
  memset(n->grad_written, 0, n->model->value_count * sizeof *n->grad_written);
  n->grad_written[n->model->logits] = 1; /* the loss wrote it */
}

vkl_status vkl_net_record_backward_nodes(vkl_net *n, vkl_cmd *cmd, int first, uint32_t hi,
                                         uint32_t lo) {
  if (n->cfg.inference)
    return vkl_set_error(n->ctx, VKL_ERR_INVALID_ARGUMENT,
                         "net: an inference net (%s) records no backward pass", n->model->name);
  if (lo > hi || hi > n->model->node_count)
    return vkl_set_error(n->ctx, VKL_ERR_INVALID_ARGUMENT, "net: backward of nodes %u..%u of %u",
                         lo, hi, n->model->node_count);
  vkl_status st = VKL_OK;
  for (uint32_t i = hi; i-- > lo && !st;) st = backward_node(n, cmd, i, !first);
  return st;
}

vkl_status vkl_net_record_backward(vkl_net *n, vkl_cmd *cmd, int first) {
  vkl_net_backward_begin(n);
  return vkl_net_record_backward_nodes(n, cmd, first, n->model->node_count, 0);
}

vkl_status vkl_net_upload_state(vkl_net *n, const float *params, const float *buffers) {
  vkl_status st = vkl_upload(n->ctx, n->params, params, n->model->param_floats * 4);
  if (!st && n->model->buffer_floats)
    st = vkl_upload(n->ctx, n->buffers, buffers, n->model->buffer_floats * 4);
  return st;
}

vkl_status vkl_net_download_state(vkl_net *n, float *params, float *buffers) {
  vkl_status st = vkl_download(n->ctx, params, n->params, n->model->param_floats * 4);
  if (!st && n->model->buffer_floats)
    st = vkl_download(n->ctx, buffers, n->buffers, n->model->buffer_floats * 4);
  return st;
}
