/* The gradient all-reduce and the running-statistics merge (see
 * grad_allreduce.h). Staging layout: the gradient (param floats), then the
 * live running statistics, then their copy at the step's start. */
#include "train/grad_allreduce.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vkl_grad_allreduce {
  vkl_grad_allreduce_config cfg;
  vkl_arena *arena;
  vkl_buf staging;                 /* grads, bn_live, bn_start */
  vkl_buf st_grads, st_bn, st_bn0; /* its parts */
  uint32_t buckets;
  vkl_grad_bucket bucket[VKL_ALLREDUCE_MAX_BUCKETS];
  vkl_cmd **download; /* one per bucket; the last also copies the statistics */
  uint64_t *ticket;
  uint32_t *handle;
  double *merge; /* (buffer floats) w_r R_r, then their sum */
  vkl_grad_allreduce_stats last;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double vkl_bn_merge_weight(double a, uint32_t U, uint32_t N, uint32_t rank) {
  return pow(a, (double)(N - 1 - rank) * U);
}

double vkl_bn_merge_start_coef(double a, uint32_t U, uint32_t N) {
  double sum_w = 0;
  for (uint32_t r = 0; r < N; r++) sum_w += vkl_bn_merge_weight(a, U, N, r);
  return pow(a, (double)N * U) - pow(a, U) * sum_w;
}

static vkl_status record_download(vkl_grad_allreduce *g, uint32_t b) {
  vkl_cmd *c = g->download[b];
  vkl_status st = vkl_cmd_begin(c);
  if (st) return st;
  uint64_t off = g->bucket[b].begin, bytes = g->bucket[b].end - off;
  /* the last micro-batch's backward wrote the gradient; the last step's
   * upload read this staging (RAW, WAR) */
  vkl_cmd_barrier(c);
  vkl_cmd_copy(c, vkl_buf_sub(g->st_grads, off, bytes), vkl_buf_sub(g->cfg.grads, off, bytes),
               bytes);
  if (b + 1 == g->buckets && g->cfg.bn_live.size) {
    vkl_cmd_copy(c, g->st_bn, g->cfg.bn_live, g->cfg.bn_live.size);
    vkl_cmd_copy(c, g->st_bn0, g->cfg.bn_start, g->cfg.bn_start.size);
  }
  vkl_cmd_barrier_to_host(c); /* the host reads the staging after the wait */
  return vkl_cmd_end(c);
}

vkl_status vkl_grad_allreduce_create(const vkl_grad_allreduce_config *cfg, vkl_grad_allreduce **out,
                                     char *err, size_t errlen) {
  *out = NULL;
  vkl_grad_allreduce *g = calloc(1, sizeof *g);
  if (!g) {
    snprintf(err, errlen, "gradient all-reduce: out of host memory");
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  g->cfg = *cfg;
  g->buckets = cfg->bucket_count;
  if (!g->buckets || g->buckets > VKL_ALLREDUCE_MAX_BUCKETS) {
    snprintf(err, errlen, "gradient all-reduce: %u buckets (1 to %d)", g->buckets,
             VKL_ALLREDUCE_MAX_BUCKETS);
    free(g);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  memcpy(g->bucket, cfg->buckets, g->buckets * sizeof *g->bucket);
  g->cfg.buckets = NULL; /* the caller's array need not outlive create */
  uint64_t bn = cfg->bn_live.size;
  vkl_status st = VKL_OK;
  g->download = calloc(g->buckets, sizeof *g->download);
  g->ticket = calloc(g->buckets, sizeof *g->ticket);
  g->handle = calloc(g->buckets, sizeof *g->handle);
  g->merge = calloc(bn / 4 + 1, sizeof *g->merge);
  if (!g->download || !g->ticket || !g->handle || !g->merge) {
    st = VKL_ERR_OUT_OF_HOST_MEMORY;
    snprintf(err, errlen, "gradient all-reduce: out of host memory");
    goto fail;
  }
  uint64_t bytes = cfg->grads.size + 2 * bn;
  if ((st = vkl_arena_create(cfg->ctx, VKL_MEM_READBACK, bytes + 1024, "all-reduce staging",
                             &g->arena)) ||
      (st = vkl_arena_alloc(g->arena, bytes, &g->staging)))
    goto vk_fail;
  g->st_grads = vkl_buf_sub(g->staging, 0, cfg->grads.size);
  g->st_bn = vkl_buf_sub(g->staging, cfg->grads.size, bn);
  g->st_bn0 = vkl_buf_sub(g->staging, cfg->grads.size + bn, bn);
  for (uint32_t b = 0; b < g->buckets; b++)
    if ((st = vkl_cmd_create(cfg->ctx, &g->download[b])) || (st = record_download(g, b)))
      goto vk_fail;
  g->last.bytes = cfg->grads.size + bn; /* what is summed: the gradient and the statistics */
  g->last.buckets = g->buckets;
  *out = g;
  return VKL_OK;
vk_fail:
  snprintf(err, errlen, "gradient all-reduce: %s", vkl_ctx_errmsg(cfg->ctx));
fail:
  vkl_grad_allreduce_destroy(g);
  return st;
}

void vkl_grad_allreduce_destroy(vkl_grad_allreduce *g) {
  if (!g) return;
  for (uint32_t b = 0; g->download && b < g->buckets; b++) vkl_cmd_destroy(g->download[b]);
  vkl_arena_destroy(g->arena);
  free(g->download);
  free(g->ticket);
  free(g->handle);
  free(g->merge);
  free(g);
}

/* Waits for bucket b's download, letting the sums in flight progress
 * meanwhile (MPI moves them only inside its calls), and notes when the
 * step's compute ended (*compute_done, once its ticket is seen reached). */
static vkl_status wait_download(vkl_grad_allreduce *g, uint32_t b, uint64_t compute,
                                double *compute_done, char *err, size_t errlen) {
  for (uint32_t polls = 0;; polls++) {
    int done = 0, computed = 1;
    vkl_status st = vkl_ticket_done(g->cfg.ctx, g->ticket[b], &done);
    if (!st && *compute_done == 0) st = vkl_ticket_done(g->cfg.ctx, compute, &computed);
    if (st) {
      snprintf(err, errlen, "%s", vkl_ctx_errmsg(g->cfg.ctx));
      return st;
    }
    if (computed && *compute_done == 0) *compute_done = now_s();
    if (done) return VKL_OK;
    if ((st = vkl_dist_progress(g->cfg.dist))) {
      snprintf(err, errlen, "%s", vkl_dist_errmsg(g->cfg.dist));
      return st;
    }
    vkl_dist_pause(polls); /* the device (lavapipe: the CPU) computes meanwhile */
  }
}

/* The running statistics of a one-process run (see the header), into the
 * staging the upload reads. */
static vkl_status merge_running_stats(vkl_grad_allreduce *g, char *err, size_t errlen) {
  uint64_t n = g->cfg.bn_live.size / 4;
  if (!n) return VKL_OK;
  uint32_t N = vkl_dist_size(g->cfg.dist), r = vkl_dist_rank(g->cfg.dist);
  double a = 1.0 - (double)g->cfg.bn_momentum;
  double w = vkl_bn_merge_weight(a, g->cfg.bn_updates, N, r);
  double c0 = vkl_bn_merge_start_coef(a, g->cfg.bn_updates, N);
  float *live = g->st_bn.host;
  const float *start = g->st_bn0.host;
  for (uint64_t i = 0; i < n; i++) g->merge[i] = w * live[i];
  vkl_status st = vkl_dist_sum_f64(g->cfg.dist, g->merge, n);
  if (st) {
    snprintf(err, errlen, "%s", vkl_dist_errmsg(g->cfg.dist));
    return st;
  }
  for (uint64_t i = 0; i < n; i++) live[i] = (float)(g->merge[i] + c0 * start[i]);
  return VKL_OK;
}

vkl_status vkl_grad_allreduce_submit(vkl_grad_allreduce *g, uint32_t b, char *err, size_t errlen) {
  vkl_status st = vkl_submit(g->cfg.ctx, g->download[b], &g->ticket[b]);
  if (st) snprintf(err, errlen, "%s", vkl_ctx_errmsg(g->cfg.ctx));
  return st;
}

vkl_status vkl_grad_allreduce_finish(vkl_grad_allreduce *g, uint64_t compute, char *err,
                                     size_t errlen) {
  double t0 = now_s(), compute_done = 0; /* t0: when the compute ended, at the latest */
  vkl_status st;
  float *grads = g->st_grads.host;
  for (uint32_t b = 0; b < g->buckets; b++) {
    uint64_t off = g->bucket[b].begin / 4, n = (g->bucket[b].end - g->bucket[b].begin) / 4;
    if ((st = wait_download(g, b, compute, &compute_done, err, errlen))) return st;
    if ((st = vkl_dist_sum_f32_start(g->cfg.dist, grads + off, n, &g->handle[b]))) {
      snprintf(err, errlen, "%s", vkl_dist_errmsg(g->cfg.dist));
      return st;
    }
  }
  for (uint32_t b = 0; b < g->buckets; b++)
    if ((st = vkl_dist_finish(g->cfg.dist, g->handle[b]))) {
      snprintf(err, errlen, "%s", vkl_dist_errmsg(g->cfg.dist));
      return st;
    }
  if ((st = merge_running_stats(g, err, errlen))) return st;
  g->last.exposed_s = now_s() - (compute_done > 0 ? compute_done : t0);
  return VKL_OK;
}

void vkl_grad_allreduce_record_upload(const vkl_grad_allreduce *g, vkl_cmd *c) {
  /* the optimizer's last step read the gradient and the statistics (WAR);
   * the host's writes to the staging are visible to the submission */
  vkl_cmd_barrier(c);
  vkl_cmd_copy(c, g->cfg.grads, g->st_grads, g->cfg.grads.size);
  if (g->cfg.bn_live.size) vkl_cmd_copy(c, g->cfg.bn_live, g->st_bn, g->cfg.bn_live.size);
  vkl_cmd_barrier(c); /* before the optimizer reads them (RAW) */
}

void vkl_grad_allreduce_get_stats(const vkl_grad_allreduce *g, vkl_grad_allreduce_stats *s) {
  *s = g->last;
}
