/* `vklars bench optim`: the full optimizer step (norms + update) over a
 * ResNet-18-sized parameter set, beside a copy of the same bytes timed in
 * the same run. "The same bytes" is the step's minimum traffic: w, g and
 * the moments read once, w and the moments written once (5 floats per
 * parameter for the momentum family, 7 for LAMB). */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench_internal.h"
#include "ops/op_util.h"
#include "optim/optim_step.h"

typedef struct optim_case {
  vkl_optimizer *opt;
} optim_case;

static vkl_status record_step(vkl_cmd *cmd, void *user) {
  return vkl_optimizer_record(((optim_case *)user)->opt, cmd);
}

vkl_status bench_optim(bench *b) {
  vkl_param_desc params[80];
  uint64_t n;
  uint32_t count = bench_resnet18_params(params, 80, &n);
  if (!count) return vkl_set_error(b->ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "bench: resnet18");
  vkl_status st;
  vkl_buf w, g;
  const vkl_opt_kind kinds[] = {VKL_OPT_SGD, VKL_OPT_LARS, VKL_OPT_TVLARS, VKL_OPT_LAMB};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    int adam = kinds[k] == VKL_OPT_LAMB;
    double bytes = (adam ? 7.0 : 5.0) * 4.0 * (double)n;
    /* first the copy of the same bytes (half read, half written): the
     * step's row is then shown as a ratio to it (>= 0.5: step <= 2x copy) */
    bench_copy cc;
    VkDeviceSize half = (VkDeviceSize)(bytes / 2) / 16 * 16;
    vkl_arena_reset(b->arena);
    if ((st = bench_tensor(b, half / 4, &cc.x)) || (st = vkl_arena_alloc(b->arena, half, &cc.y)))
      return st;
    char name[96];
    snprintf(name, sizeof name, "copy of %s's %.0f MiB", vkl_opt_kind_name(kinds[k]),
             bytes / (1 << 20));
    if ((st = bench_row(b, name, VKL_BENCH_GBS, 2.0 * (double)half, bench_record_copy, &cc)))
      return st;
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
