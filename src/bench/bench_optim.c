/* `vklars bench optim`: the full optimizer step (norms + update) over a
 * ResNet-18-sized parameter set, beside a copy of the same bytes timed in
 * the same run. "The same bytes" is the step's minimum traffic: w, g and
 * the moments read once, w and the moments written once (5 floats per
 * parameter for the momentum family, 7 for LAMB). */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench_internal.h"
#include "copy_vec4.h"
#include "ops/op_util.h"
#include "optim/optim_step.h"

/* CIFAR ResNet-18 (3x3 stem, 10 classes): 62 tensors, 11.17M parameters. */
static uint32_t resnet18_params(vkl_param_desc *p, uint64_t *total) {
  uint32_t n = 0;
  uint64_t off = 0;
#define ADD(cnt, nd) (p[n++] = (vkl_param_desc){off, (cnt), (nd)}, off += (cnt))
  ADD(64 * 3 * 9, 4), ADD(64, 1), ADD(64, 1);
  uint32_t in = 64;
  const uint32_t widths[4] = {64, 128, 256, 512};
  for (int layer = 0; layer < 4; layer++) {
    uint32_t c = widths[layer];
    for (int block = 0; block < 2; block++) {
      uint32_t cin = block == 0 ? in : c;
      ADD((uint64_t)c * cin * 9, 4), ADD(c, 1), ADD(c, 1);
      ADD((uint64_t)c * c * 9, 4), ADD(c, 1), ADD(c, 1);
      if (block == 0 && cin != c) ADD((uint64_t)c * cin, 4), ADD(c, 1), ADD(c, 1);
    }
    in = c;
  }
  ADD(10 * 512, 2), ADD(10, 1);
#undef ADD
  *total = off;
  return n;
}

typedef struct optim_case {
  vkl_optimizer *opt;
} optim_case;

static vkl_status record_step(vkl_cmd *cmd, void *user) {
  return vkl_optimizer_record(((optim_case *)user)->opt, cmd);
}

typedef struct copy_case {
  vkl_buf x, y;
} copy_case;

/* A vec4 copy of x into y, in windows that each fit one binding. */
static vkl_status record_copy(vkl_cmd *cmd, void *user) {
  copy_case *c = user;
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

vkl_status bench_optim(bench *b) {
  vkl_param_desc params[80];
  uint64_t n;
  uint32_t count = resnet18_params(params, &n);
  vkl_status st;
  vkl_buf w, g;
  const vkl_opt_kind kinds[] = {VKL_OPT_SGD, VKL_OPT_LARS, VKL_OPT_TVLARS, VKL_OPT_LAMB};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    int adam = kinds[k] == VKL_OPT_LAMB;
    double bytes = (adam ? 7.0 : 5.0) * 4.0 * (double)n;
    /* first the copy of the same bytes (half read, half written): the
     * step's row is then shown as a ratio to it (>= 0.5: step <= 2x copy) */
    copy_case cc;
    VkDeviceSize half = (VkDeviceSize)(bytes / 2) / 16 * 16;
    vkl_arena_reset(b->arena);
    if ((st = bench_tensor(b, half / 4, &cc.x)) || (st = vkl_arena_alloc(b->arena, half, &cc.y)))
      return st;
    char name[96];
    snprintf(name, sizeof name, "copy of %s's %.0f MiB", vkl_opt_kind_name(kinds[k]),
             bytes / (1 << 20));
    if ((st = bench_row(b, name, VKL_BENCH_GBS, 2.0 * (double)half, record_copy, &cc))) return st;
    b->report->copy_gbs = b->report->rows[b->report->count - 1].rate;
    b->report->rows[b->report->count - 1].vs_base = 1.0;
    vkl_arena_reset(b->arena);
    if ((st = bench_tensor(b, n, &w)) || (st = bench_tensor(b, n, &g))) return st;
    vkl_optim_config cfg = vkl_optim_defaults(kinds[k]);
    cfg.lr = 1e-6; /* keep the weights sane across repeats */
    optim_case oc = {0};
    if ((st = vkl_optimizer_create(b->ctx, &cfg, params, count, w, g, &oc.opt))) return st;
    /* the device cursor advances every repeat: fill the whole ring */
    for (uint64_t t = 0; t < VKL_OPTIM_RING && !st; t++)
      st = vkl_optimizer_prepare(oc.opt, t, cfg.lr, 1.0, 0);
    snprintf(name, sizeof name, "%s step, %u tensors, %.2fM params", vkl_opt_kind_name(kinds[k]),
             count, (double)n / 1e6);
    if (!st) st = bench_row(b, name, VKL_BENCH_GBS, bytes, record_step, &oc);
    vkl_optimizer_destroy(oc.opt);
    if (st) return st;
  }
  return VKL_OK;
}
