/* Planning the gradient's buckets (see grad_buckets.h). */
#include "train/grad_buckets.h"

#include <stdlib.h>

/* The floats [*lo, *hi) that node i's parameters span; 0 when it has none. */
static int node_span(const vkl_model *m, uint32_t i, uint64_t *lo, uint64_t *hi) {
  int any = 0;
  for (int k = 0; k < 2; k++) {
    uint32_t p = m->nodes[i].param[k];
    if (p == NN_NONE) continue;
    uint64_t a = m->params[p].offset, b = a + m->params[p].count;
    if (!any || a < *lo) *lo = a;
    if (!any || b > *hi) *hi = b;
    any = 1;
  }
  return any;
}

static uint32_t plan(const vkl_model *m, uint64_t target, const uint64_t *from,
                     const uint64_t *below, vkl_grad_bucket *out, uint32_t max) {
  uint32_t n = 0, hi = m->node_count;
  uint64_t end = m->param_floats * 4;
  for (uint32_t lo = hi; lo-- > 1;) {
    uint64_t begin = from[lo] * 4;
    /* a cut at lo: every earlier node's parameters end below lo's first */
    if (begin >= end || end - begin < target || below[lo] > from[lo]) continue;
    if (n + 1 == max) break; /* the last takes the rest */
    out[n++] = (vkl_grad_bucket){hi, lo, begin, end};
    end = begin;
    hi = lo;
  }
  out[n++] = (vkl_grad_bucket){hi, 0, 0, end};
  return n;
}

uint32_t vkl_grad_buckets_plan(const vkl_model *m, uint64_t target, vkl_grad_bucket *out,
                               uint32_t max) {
  uint32_t count = m->node_count;
  /* from[i]: the lowest parameter offset of nodes i..; below[i]: the
   * highest parameter end of nodes ..i-1 */
  uint64_t *from = malloc((count + 1) * sizeof *from), *below = malloc((count + 1) * sizeof *below);
  if (!from || !below || max < 2 || !count) {
    free(from);
    free(below);
    out[0] = (vkl_grad_bucket){count, 0, 0, m->param_floats * 4};
    return 1;
  }
  from[count] = m->param_floats;
  for (uint32_t i = count; i-- > 0;) {
    uint64_t lo, hi;
    from[i] = node_span(m, i, &lo, &hi) && lo < from[i + 1] ? lo : from[i + 1];
  }
  below[0] = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint64_t lo, hi;
    below[i + 1] = node_span(m, i, &lo, &hi) && hi > below[i] ? hi : below[i];
  }
  uint32_t n = plan(m, target ? target : 1, from, below, out, max);
  free(from);
  free(below);
  return n;
}
