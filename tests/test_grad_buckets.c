/* The gradient's buckets for the all-reduce across ranks (train/grad_buckets.h):
 * they tile the arena from its end down to 0 in the order the backward pass
 * finishes them, each node's parameters inside its own bucket's bytes, each
 * bucket at least the target (but the last), at most max of them. */
#include <criterion/criterion.h>
#include <string.h>

#include "nn/model.h"
#include "train/grad_buckets.h"

static vkl_model *build(const char *name) {
  vkl_model_config cfg = {.in_c = 3, .in_h = 32, .in_w = 32, .classes = 10};
  vkl_model *m = NULL;
  char err[256];
  cr_assert_eq(vkl_model_build(name, &cfg, &m, err, sizeof err), VKL_OK, "%s: %s", name, err);
  return m;
}

static void check_plan(const vkl_model *m, uint64_t target, uint32_t max) {
  vkl_grad_bucket b[64];
  uint32_t n = vkl_grad_buckets_plan(m, target, b, max);
  cr_assert(n >= 1 && n <= max, "%s: %u buckets for max %u", m->name, n, max);
  cr_assert_eq(b[0].node_hi, m->node_count);
  cr_assert_eq(b[0].end, m->param_floats * 4);
  cr_assert_eq(b[n - 1].node_lo, 0);
  cr_assert_eq(b[n - 1].begin, 0);
  for (uint32_t i = 0; i < n; i++) {
    cr_assert_lt(b[i].begin, b[i].end, "%s: bucket %u is empty", m->name, i);
    cr_assert_lt(b[i].node_lo, b[i].node_hi);
    if (i + 1 < n) {
      cr_assert_eq(b[i + 1].end, b[i].begin, "%s: buckets %u and %u do not meet", m->name, i,
                   i + 1);
      cr_assert_eq(b[i + 1].node_hi, b[i].node_lo);
      cr_assert_geq(b[i].end - b[i].begin, target, "%s: bucket %u is below the target", m->name, i);
    }
    for (uint32_t nd = b[i].node_lo; nd < b[i].node_hi; nd++)
      for (int k = 0; k < 2; k++) {
        uint32_t p = m->nodes[nd].param[k];
        if (p == NN_NONE) continue;
        uint64_t lo = m->params[p].offset * 4, hi = lo + m->params[p].count * 4;
        cr_assert(lo >= b[i].begin && hi <= b[i].end,
                  "%s: %s [%llu, %llu) lies outside its bucket %u [%llu, %llu)", m->name,
                  m->params[p].name, (unsigned long long)lo, (unsigned long long)hi, i,
                  (unsigned long long)b[i].begin, (unsigned long long)b[i].end);
      }
  }
}

Test(grad_buckets, tile_the_gradient_in_backward_order) {
  static const char *const models[] = {"mlp", "cnn", "cnn-gap", "resnet18", "resnet50"};
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
    vkl_model *m = build(models[i]);
    check_plan(m, 4u << 20, 64);
    check_plan(m, 1, 64);          /* a bucket wherever a cut is possible, up to 64 */
    check_plan(m, 4, 2);           /* two at most */
    check_plan(m, 1ull << 40, 64); /* one: the target exceeds the model */
    vkl_model_destroy(m);
  }
}

Test(grad_buckets, resnet18_in_about_4_mib) {
  vkl_model *m = build("resnet18");
  vkl_grad_bucket b[64];
  uint32_t n = vkl_grad_buckets_plan(m, 4u << 20, b, 64);
  /* 44.7 MB in buckets of 4 MiB or a whole layer more: between 5 and 11 */
  cr_assert(n >= 5 && n <= 11, "%u buckets", n);
  uint32_t one = vkl_grad_buckets_plan(m, 1ull << 40, b, 64);
  cr_assert_eq(one, 1);
  vkl_model_destroy(m);
}
