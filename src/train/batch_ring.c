/* The batch ring (see batch_ring.h). */
#include "train/batch_ring.h"

#include <stdio.h>
#include <stdlib.h>

#include "ops/softmax_xent.h"

struct vkl_batch_ring {
  vkl_ctx *ctx;
  uint32_t m, views;
  uint64_t image_floats;
  vkl_buf inputs[2], labels;
  vkl_arena *arena;
  vkl_buf img[VKL_BATCH_RING_SLOTS], lab[VKL_BATCH_RING_SLOTS];
  vkl_cmd *copy[VKL_BATCH_RING_SLOTS];
  uint64_t ticket[VKL_BATCH_RING_SLOTS]; /* of the slot's last copy; 0: none */
};

static vkl_status record_copy(vkl_batch_ring *s, uint32_t slot) {
  vkl_cmd *c = s->copy[slot];
  vkl_status st = vkl_cmd_begin(c);
  if (st) return st;
  vkl_cmd_barrier(c); /* the last micro-step's reads of the input and labels (WAR) */
  uint64_t view_bytes = s->img[slot].size / s->views;
  for (uint32_t v = 0; v < s->views; v++)
    vkl_cmd_copy(c, s->inputs[v], vkl_buf_sub(s->img[slot], v * view_bytes, view_bytes),
                 view_bytes);
  vkl_cmd_copy(c, s->labels, s->lab[slot], s->lab[slot].size);
  vkl_cmd_barrier(c); /* the copies before the micro-step reads them (RAW) */
  return vkl_cmd_end(c);
}

vkl_status vkl_batch_ring_create(vkl_ctx *ctx, vkl_buf input, vkl_buf labels, uint32_t m,
                                 uint64_t image_floats, vkl_batch_ring **out) {
  return vkl_batch_ring_create_views(ctx, &input, 1, labels, m, image_floats, out);
}

vkl_status vkl_batch_ring_create_views(vkl_ctx *ctx, const vkl_buf *inputs, uint32_t views,
                                       vkl_buf labels, uint32_t m, uint64_t image_floats,
                                       vkl_batch_ring **out) {
  *out = NULL;
  if (views < 1 || views > 2)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "batch ring: %u views (1 or 2)", views);
  vkl_batch_ring *s = calloc(1, sizeof *s);
  if (!s) return vkl_set_error(ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "batch ring");
  s->ctx = ctx;
  s->m = m;
  s->views = views;
  s->image_floats = image_floats;
  for (uint32_t v = 0; v < views; v++) s->inputs[v] = inputs[v];
  s->labels = labels;
  uint64_t img = (uint64_t)views * m * image_floats * 4, lab = (uint64_t)m * 4;
  vkl_status st = vkl_arena_create(ctx, VKL_MEM_UPLOAD, VKL_BATCH_RING_SLOTS * (img + lab + 512),
                                   "batch ring", &s->arena);
  for (uint32_t k = 0; !st && k < VKL_BATCH_RING_SLOTS; k++) {
    if (!(st = vkl_arena_alloc(s->arena, img, &s->img[k])) &&
        !(st = vkl_arena_alloc(s->arena, lab, &s->lab[k])) &&
        !(st = vkl_cmd_create(ctx, &s->copy[k])))
      st = record_copy(s, k);
  }
  if (st) {
    vkl_batch_ring_destroy(s);
    return st;
  }
  *out = s;
  return VKL_OK;
}

void vkl_batch_ring_destroy(vkl_batch_ring *s) {
  if (!s) return;
  for (uint32_t k = 0; k < VKL_BATCH_RING_SLOTS; k++) vkl_cmd_destroy(s->copy[k]);
  vkl_arena_destroy(s->arena);
  free(s);
}

uint64_t vkl_batch_ring_image_floats(const vkl_batch_ring *s) {
  return s->image_floats;
}

static vkl_status device_fail(const vkl_batch_ring *s, vkl_status st, char *err, size_t errlen) {
  snprintf(err, errlen, "%s", vkl_ctx_errmsg(s->ctx));
  return st;
}

vkl_status vkl_batch_ring_fill(vkl_batch_ring *s, vkl_loader *ld, uint32_t slot, uint64_t b,
                               char *err, size_t errlen) {
  if (vkl_loader_batch_size(ld, b) > s->m) {
    snprintf(err, errlen, "batch ring: batch %llu has %u samples; the ring's slots hold %u",
             (unsigned long long)b, vkl_loader_batch_size(ld, b), s->m);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  vkl_status st = s->ticket[slot] ? vkl_wait(s->ctx, s->ticket[slot]) : VKL_OK;
  if (st) return device_fail(s, st, err, errlen);
  st = vkl_loader_submit(ld, slot, b, s->img[slot].host, s->lab[slot].host);
  if (st) snprintf(err, errlen, "%s", vkl_loader_errmsg(ld));
  return st;
}

vkl_status vkl_batch_ring_take(vkl_batch_ring *s, vkl_loader *ld, uint32_t slot, uint32_t *count,
                               char *err, size_t errlen) {
  uint32_t n = 0;
  vkl_status st = vkl_loader_wait(ld, slot, &n);
  if (st) {
    snprintf(err, errlen, "%s", vkl_loader_errmsg(ld));
    return st;
  }
  uint32_t *labels = s->lab[slot].host;
  for (uint32_t i = n; i < s->m; i++) labels[i] = VKL_XENT_IGNORE;
  if (count) *count = n;
  return VKL_OK;
}

vkl_status vkl_batch_ring_copy(vkl_batch_ring *s, uint32_t slot, char *err, size_t errlen) {
  vkl_status st = vkl_submit(s->ctx, s->copy[slot], &s->ticket[slot]);
  return st ? device_fail(s, st, err, errlen) : VKL_OK;
}
