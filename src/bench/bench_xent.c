/* Benchmark rows of the loss and the optimizer's norms: softmax cross-entropy forward
 * and backward on the fc output (batch x 10) and at 4096 x 1000 (throughput; the
 * backward with the forward's saved row statistics, and without at 4096 x 1000), and the
 * segmented sum of squares over the ResNet-18 parameter list (11.2M floats), for one
 * buffer and for two (||w|| and ||g|| together). All memory-bound: bytes count logits,
 * labels and gradients once each, and each summed buffer once. */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench_internal.h"
#include "ops/softmax_xent.h"
#include "ops/sumsq.h"

static vkl_status bench_u32(bench *b, const uint32_t *v, uint64_t n, vkl_buf *out) {
  vkl_status st = vkl_arena_alloc(b->arena, n * sizeof(uint32_t), out);
  return st ? st : vkl_upload(b->ctx, *out, v, n * sizeof(uint32_t));
}

/* ---- softmax cross-entropy ---- */

typedef struct xent_case {
  vkl_softmax_xent_shape sh;
  vkl_buf logits, labels, loss, correct, ws, dlogits, stats;
} xent_case;

static vkl_status record_xent_forward(vkl_cmd *cmd, void *user) {
  xent_case *x = user;
  return vkl_softmax_xent_forward(cmd, x->loss, &x->correct, &x->stats, x->logits, x->labels,
                                  &x->sh, VKL_REDUCTION_MEAN, 0.1f, 0, x->ws);
}

static vkl_status record_xent_backward(vkl_cmd *cmd, void *user) {
  xent_case *x = user;
  return vkl_softmax_xent_backward(cmd, x->dlogits, x->logits, x->labels, &x->stats, &x->sh,
                                   VKL_REDUCTION_MEAN, 0.1f, 1.0f, 0);
}

static vkl_status record_xent_backward_recompute(vkl_cmd *cmd, void *user) {
  xent_case *x = user;
  return vkl_softmax_xent_backward(cmd, x->dlogits, x->logits, x->labels, NULL, &x->sh,
                                   VKL_REDUCTION_MEAN, 0.1f, 1.0f, 0);
}

static vkl_status bench_xent_shape(bench *b, uint32_t N, uint32_t K, int recompute) {
  vkl_status st;
  xent_case x = {.sh = {.N = N, .K = K}};
  uint64_t nk = (uint64_t)N * K;
  uint32_t *labels = malloc(N * sizeof *labels);
  if (!labels) return vkl_set_error(b->ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "bench: labels");
  for (uint32_t i = 0; i < N; i++) labels[i] = (uint32_t)((i * 2654435761u) % K);
  st = bench_u32(b, labels, N, &x.labels);
  free(labels);
  if (st || (st = bench_tensor(b, nk, &x.logits)) || (st = bench_tensor(b, nk, &x.dlogits)) ||
      (st = bench_tensor(b, 1, &x.loss)) || (st = bench_tensor(b, 2, &x.correct)) ||
      (st = bench_tensor(b, 2ull * N, &x.stats)) ||
      (st = bench_tensor(b, vkl_softmax_xent_workspace_floats(&x.sh), &x.ws)))
    return st;
  /* each tensor once: logits, labels, the row statistics (2 floats a row), dlogits */
  double logit_bytes = (double)nk * sizeof(float), label_bytes = (double)N * sizeof(uint32_t);
  double stat_bytes = 2.0 * N * sizeof(float);
  char name[96];
  snprintf(name, sizeof name, "softmax xent forward %ux%u", N, K);
  if ((st = bench_row(b, name, VKL_BENCH_GBS, logit_bytes + label_bytes + stat_bytes,
                      record_xent_forward, &x)))
    return st;
  /* the forward's runs above left real row statistics in x.stats */
  snprintf(name, sizeof name, "softmax xent backward %ux%u", N, K);
  if ((st = bench_row(b, name, VKL_BENCH_GBS, 2 * logit_bytes + label_bytes + stat_bytes,
                      record_xent_backward, &x)))
    return st;
  if (recompute) {
    snprintf(name, sizeof name, "softmax xent bwd %ux%u no saved stats", N, K);
    if ((st = bench_row(b, name, VKL_BENCH_GBS, 2 * logit_bytes + label_bytes,
                        record_xent_backward_recompute, &x)))
      return st;
  }
  vkl_arena_reset(b->arena);
  return VKL_OK;
}

/* ---- segmented sum of squares ---- */

typedef struct sumsq_case {
  vkl_sumsq_shape sh;
  vkl_buf x, y, segments, chunks, ws, out, out_y;
} sumsq_case;

static vkl_status record_sumsq(vkl_cmd *cmd, void *user) {
  sumsq_case *s = user;
  return vkl_sumsq_forward(cmd, s->out, NULL, s->x, NULL, s->segments, s->chunks, &s->sh, s->ws);
}

static vkl_status record_sumsq_pair(vkl_cmd *cmd, void *user) {
  sumsq_case *s = user;
  return vkl_sumsq_forward(cmd, s->out, &s->out_y, s->x, &s->y, s->segments, s->chunks, &s->sh,
                           s->ws);
}

/* CIFAR ResNet-18's 62 parameter tensors as segments of one buffer. */
static uint32_t resnet18_segments(vkl_sumsq_segment *seg) {
  vkl_param_desc p[64];
  uint64_t floats;
  uint32_t T = bench_resnet18_params(p, 64, &floats);
  for (uint32_t i = 0; i < T; i++)
    seg[i] = (vkl_sumsq_segment){(uint32_t)p[i].offset, (uint32_t)p[i].count};
  return T;
}

static vkl_status bench_sumsq(bench *b) {
  vkl_status st;
  vkl_sumsq_segment seg[64];
  uint32_t T = resnet18_segments(seg);
  if (!T) return vkl_set_error(b->ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "bench: resnet18 segments");
  uint64_t n = (uint64_t)seg[T - 1].offset + seg[T - 1].count;
  uint64_t chunks = vkl_sumsq_chunk_count(seg, T, 0);
  sumsq_case s = {.sh = {.T = T, .chunks = (uint32_t)chunks, .chunk = 0, .n = n}};
  uint32_t *table = malloc(chunks * 2 * sizeof *table);
  if (!table) return vkl_set_error(b->ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "bench: chunk table");
  vkl_sumsq_chunk_table(table, seg, T, 0);
  st = bench_u32(b, table, chunks * 2, &s.chunks);
  free(table);
  if (st || (st = bench_u32(b, (const uint32_t *)seg, 2ull * T, &s.segments)) ||
      (st = bench_tensor(b, n, &s.x)) || (st = bench_tensor(b, n, &s.y)) ||
      (st = bench_tensor(b, T, &s.out)) || (st = bench_tensor(b, T, &s.out_y)) ||
      (st = bench_tensor(b, vkl_sumsq_workspace_floats(&s.sh), &s.ws)))
    return st;
  double bytes = (double)n * sizeof(float);
  char name[96];
  snprintf(name, sizeof name, "sumsq resnet18 %u tensors %.1fM", T, (double)n * 1e-6);
  if ((st = bench_row(b, name, VKL_BENCH_GBS, bytes, record_sumsq, &s))) return st;
  snprintf(name, sizeof name, "sumsq pair (w, g) resnet18 %.1fM", (double)n * 1e-6);
  if ((st = bench_row(b, name, VKL_BENCH_GBS, 2 * bytes, record_sumsq_pair, &s))) return st;
  vkl_arena_reset(b->arena);
  return VKL_OK;
}

vkl_status bench_xent(bench *b, uint32_t batch) {
  vkl_status st;
  if ((st = bench_xent_shape(b, batch, 10, 0)) || (st = bench_xent_shape(b, 4096, 1000, 1)))
    return st;
  return bench_sumsq(b);
}
