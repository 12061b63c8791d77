/* `vklars bench ops`: each op on ResNet-18 CIFAR layer shapes at batch 64,
 * beside the GEMM and copy baselines timed in the same run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_internal.h"
#include "copy_vec4.h"
#include "gemm_baseline.h"
#include "gemm_baseline_tiled.h"
#include "ops/elementwise.h"
#include "ops/op_util.h"
#include "vk/vk_tuning.h"

#define BENCH_ARENA_BYTES (400ull << 20)

vkl_status bench_tensor(bench *b, uint64_t n, vkl_buf *out) {
  vkl_status st = vkl_arena_alloc(b->arena, n * sizeof(float), out);
  if (st) return st;
  float *host = malloc(n * sizeof *host);
  if (!host)
    return vkl_set_error(b->ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "bench: %llu floats",
                         (unsigned long long)n);
  for (uint64_t i = 0; i < n; i++) {
    b->rng = b->rng * 6364136223846793005ull + 1442695040888963407ull;
    host[i] = (float)((double)(b->rng >> 40) / (double)(1ull << 23) - 1.0);
  }
  st = vkl_upload(b->ctx, *out, host, n * sizeof(float));
  free(host);
  return st;
}

vkl_status bench_row(bench *b, const char *name, vkl_bench_unit unit, double work,
                     vkl_bench_record_fn record, void *user) {
  vkl_bench_report *r = b->report;
  /* --only: the baselines ("baseline ...", the optimizer's "copy of ...") always run */
  if (b->cfg->only && strncmp(name, "baseline", 8) && strncmp(name, "copy of", 7) &&
      !strstr(name, b->cfg->only))
    return VKL_OK;
  if (r->count == sizeof r->rows / sizeof r->rows[0])
    return vkl_set_error(b->ctx, VKL_ERR_INVALID_ARGUMENT, "bench: too many rows");
  double ns;
  vkl_status st = vkl_bench_median_ns(b->ctx, record, user, 1, b->cfg->repeats, &ns);
  if (st) return st;
  vkl_bench_row *row = &r->rows[r->count++];
  snprintf(row->name, sizeof row->name, "%s", name);
  row->unit = unit;
  row->ms = ns * 1e-6;
  row->rate = work / ns; /* FLOP/ns = GFLOP/s, B/ns = GB/s */
  double base = unit == VKL_BENCH_GFLOPS ? r->gemm_gflops : r->copy_gbs;
  row->vs_base = base > 0 ? row->rate / base : 1.0;
  if (b->cfg->on_row) b->cfg->on_row(b->cfg->user, row);
  return VKL_OK;
}

/* ---- baselines ----------------------------------------------------------- */

typedef struct gemm_case {
  vkl_buf a, b, c;
  uint32_t n;
} gemm_case;

/* The GPU geometry's baseline: the textbook shared-memory tiled GEMM (gemm_baseline.comp's
 * 128 accumulators per invocation spill on RDNA3 and leave RDNA2 at 6 waves, not a fair
 * measure of a GPU). */
static vkl_status record_gemm_tiled(vkl_cmd *cmd, const gemm_case *g) {
  vkl_gemm_baseline_tiled_spec spec = {.wg_x = 16, .wg_y = 16};
  const vkl_pipeline *p;
  vkl_status st = vkl_op_pipeline(cmd, VKL_SHADER_gemm_baseline_tiled, &spec, sizeof spec, &p);
  if (st) return st;
  vkl_gemm_baseline_tiled_push push = {g->n, g->n, g->n};
  vkl_buf bufs[3] = {g->a, g->b, g->c};
  vkl_cmd_barrier(cmd); /* the previous repeat's reads and writes */
  return vkl_cmd_dispatch(cmd, p, bufs, 3, &push, sizeof push, vkl_div_up(g->n, 16 * GEMM_TILED_TN),
                          vkl_div_up(g->n, 16 * GEMM_TILED_TM), 1);
}

static vkl_status record_gemm(vkl_cmd *cmd, void *user) {
  gemm_case *g = user;
  if (vkl_ctx_tuning(vkl_cmd_ctx(cmd))->geometry == VKL_GEOMETRY_GPU)
    return record_gemm_tiled(cmd, g);
  vkl_gemm_baseline_spec spec = {.wg_x = 8, .wg_y = 8};
  const vkl_pipeline *p;
  vkl_status st = vkl_op_pipeline(cmd, VKL_SHADER_gemm_baseline, &spec, sizeof spec, &p);
  if (st) return st;
  vkl_gemm_baseline_push push = {g->n, g->n, g->n};
  vkl_buf bufs[3] = {g->a, g->b, g->c};
  vkl_cmd_barrier(cmd); /* the previous repeat's reads and writes */
  return vkl_cmd_dispatch(cmd, p, bufs, 3, &push, sizeof push,
                          vkl_div_up(g->n, 8 * GEMM_BASELINE_TN),
                          vkl_div_up(g->n, 8 * GEMM_BASELINE_TM), 1);
}

vkl_status bench_record_copy(vkl_cmd *cmd, void *user) {
  bench_copy *c = user;
  vkl_copy_vec4_spec spec = {.wg_size = 256};
  const vkl_pipeline *p;
  vkl_status st = vkl_op_pipeline(cmd, VKL_SHADER_copy_vec4, &spec, sizeof spec, &p);
  if (st) return st;
  VkDeviceSize window = vkl_max_window(vkl_cmd_ctx(cmd), 16);
  vkl_cmd_barrier(cmd); /* the previous repeat's reads and writes */
  for (VkDeviceSize off = 0; off < c->x.size && !st; off += window) {
    VkDeviceSize n = c->x.size - off < window ? c->x.size - off : window;
    vkl_copy_vec4_push push = {(uint32_t)(n / 16)};
    vkl_buf bufs[2] = {vkl_buf_sub(c->x, off, n), vkl_buf_sub(c->y, off, n)};
    st = vkl_cmd_dispatch(cmd, p, bufs, 2, &push, sizeof push, vkl_div_up(push.n4, 256), 1, 1);
  }
  return st;
}

uint32_t bench_resnet18_params(vkl_param_desc *out, uint32_t max, uint64_t *floats) {
  vkl_model_config mc = {.in_c = 3, .in_h = 32, .in_w = 32, .classes = 10};
  vkl_model *m;
  char err[128];
  if (vkl_model_build("resnet18", &mc, &m, err, sizeof err)) return 0;
  uint32_t n = m->param_count < max ? m->param_count : max;
  for (uint32_t i = 0; i < n; i++)
    out[i] = (vkl_param_desc){m->params[i].offset, m->params[i].count, m->params[i].ndim};
  *floats = m->param_floats;
  vkl_model_destroy(m);
  return n;
}

static vkl_status bench_baselines(bench *b) {
  vkl_status st;
  gemm_case g = {.n = 1024};
  uint64_t nn = (uint64_t)g.n * g.n;
  if ((st = bench_tensor(b, nn, &g.a)) || (st = bench_tensor(b, nn, &g.b)) ||
      (st = vkl_arena_alloc(b->arena, nn * sizeof(float), &g.c)))
    return st;
  if ((st = bench_row(b, "baseline gemm 1024x1024x1024", VKL_BENCH_GFLOPS, 2.0 * g.n * (double)nn,
                      record_gemm, &g)))
    return st;
  b->report->gemm_gflops = b->report->rows[b->report->count - 1].rate;
  b->report->rows[b->report->count - 1].vs_base = 1.0;
  vkl_arena_reset(b->arena);

  VkDeviceSize bytes = vkl_max_window(b->ctx, 16);
  if (bytes > (128u << 20)) bytes = 128u << 20;
  bench_copy c;
  if ((st = bench_tensor(b, bytes / 4, &c.x)) || (st = vkl_arena_alloc(b->arena, bytes, &c.y)))
    return st;
  char name[96];
  snprintf(name, sizeof name, "baseline copy vec4 %.0f MiB", (double)bytes / (1 << 20));
  if ((st = bench_row(b, name, VKL_BENCH_GBS, 2.0 * (double)bytes, bench_record_copy, &c)))
    return st;
  b->report->copy_gbs = b->report->rows[b->report->count - 1].rate;
  b->report->rows[b->report->count - 1].vs_base = 1.0;
  vkl_arena_reset(b->arena);
  return VKL_OK;
}

/* ---- element-wise ops ------------------------------------------------------ */

typedef struct ew_case {
  vkl_buf a, b, y;
  uint64_t n;
} ew_case;

static vkl_status record_add(vkl_cmd *cmd, void *user) {
  ew_case *e = user;
  return vkl_add_forward(cmd, e->y, e->a, e->b, e->n);
}

static vkl_status record_add_backward(vkl_cmd *cmd, void *user) {
  ew_case *e = user;
  return vkl_add_backward(cmd, &e->y, NULL, e->a, e->n, 1);
}

static vkl_status record_fill(vkl_cmd *cmd, void *user) {
  ew_case *e = user;
  return vkl_fill(cmd, e->y, 0.5f, e->n);
}

vkl_status bench_elementwise(bench *b, uint32_t batch) {
  vkl_status st;
  ew_case e = {.n = (uint64_t)batch * 64 * 32 * 32}; /* layer1 activations */
  if ((st = bench_tensor(b, e.n, &e.a)) || (st = bench_tensor(b, e.n, &e.b)) ||
      (st = bench_tensor(b, e.n, &e.y)))
    return st;
  double f = (double)e.n * sizeof(float);
  char name[96];
  snprintf(name, sizeof name, "add %ux64x32x32", batch);
  if ((st = bench_row(b, name, VKL_BENCH_GBS, 3 * f, record_add, &e))) return st;
  snprintf(name, sizeof name, "add backward (+=) %ux64x32x32", batch);
  if ((st = bench_row(b, name, VKL_BENCH_GBS, 3 * f, record_add_backward, &e))) return st;
  snprintf(name, sizeof name, "fill %ux64x32x32", batch);
  if ((st = bench_row(b, name, VKL_BENCH_GBS, f, record_fill, &e))) return st;
  vkl_arena_reset(b->arena);
  return VKL_OK;
}

typedef vkl_status (*bench_suite)(bench *b, uint32_t batch);

static vkl_status bench_optim_suite(bench *b, uint32_t batch) {
  (void)batch;
  return bench_optim(b);
}

static vkl_status run_suites(vkl_ctx *ctx, const vkl_bench_config *cfg_in, vkl_bench_report *out,
                             const bench_suite *suites, size_t count, int baselines) {
  vkl_bench_config cfg = *cfg_in;
  if (!cfg.batch) cfg.batch = 64;
  if (!cfg.repeats) cfg.repeats = 5;
  memset(out, 0, sizeof *out);
  bench b = {.ctx = ctx, .cfg = &cfg, .report = out, .rng = 12345};
  vkl_status st = vkl_arena_create(ctx, VKL_MEM_DEVICE, BENCH_ARENA_BYTES, "bench", &b.arena);
  if (st) return st;
  if (baselines) st = bench_baselines(&b);
  for (size_t i = 0; i < count && !st; i++) {
    vkl_arena_reset(b.arena);
    st = suites[i](&b, cfg.batch);
  }
  vkl_arena_destroy(b.arena);
  return st;
}

vkl_status vkl_bench_ops(vkl_ctx *ctx, const vkl_bench_config *cfg, vkl_bench_report *out) {
  static const bench_suite suites[] = {bench_elementwise, bench_pool,   bench_batchnorm,
                                       bench_xent,        bench_matmul, bench_conv2d};
  return run_suites(ctx, cfg, out, suites, sizeof suites / sizeof suites[0], 1);
}

vkl_status vkl_bench_optim(vkl_ctx *ctx, const vkl_bench_config *cfg, vkl_bench_report *out) {
  static const bench_suite suites[] = {bench_optim_suite};
  return run_suites(ctx, cfg, out, suites, 1, 0);
}
