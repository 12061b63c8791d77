/* The batch ring between the loader threads and a net on the device
 * (DESIGN.md "One optimizer step", steps 1-2): VKL_BATCH_RING_SLOTS slots of
 * host-visible memory, each one micro-batch of normalized images (m,C,H,W)
 * and labels (m), and per slot a pre-recorded copy into the net's input
 * and labels. Training and evaluation share one ring (never at the same
 * time): batch b always goes through slot b % VKL_BATCH_RING_SLOTS.
 *
 * A slot's life: vkl_batch_ring_fill queues a loader batch into it,
 * vkl_batch_ring_take waits for the batch, vkl_batch_ring_copy submits the copy
 * (the device runs it before whatever is submitted next), and
 * vkl_batch_ring_fill may refill it once that copy has run (it waits). */
#ifndef VKLARS_TRAIN_BATCH_RING_H
#define VKLARS_TRAIN_BATCH_RING_H

#include <stddef.h>
#include <stdint.h>

#include "data/loader.h"
#include "vk/vk.h"

#define VKL_BATCH_RING_SLOTS 4 /* loader batches in flight ahead of the device */

typedef struct vkl_batch_ring vkl_batch_ring;

/* A ring for micro-batches of m images of image_floats (C*H*W) each, copied
 * into input (a net's) and labels (a loss's). Errors: the message is in ctx. */
vkl_status vkl_batch_ring_create(vkl_ctx *ctx, vkl_buf input /* (m,C,H,W) */,
                                 vkl_buf labels /* (m) */, uint32_t m, uint64_t image_floats,
                                 vkl_batch_ring **out);
/* The same for a loader of `views` views per sample (vkl_loader_config.views):
 * a slot holds (views,m,C,H,W), and view v is copied into inputs[v]. */
vkl_status vkl_batch_ring_create_views(vkl_ctx *ctx, const vkl_buf *inputs /* (views) */,
                                       uint32_t views, vkl_buf labels /* (m) */, uint32_t m,
                                       uint64_t image_floats, vkl_batch_ring **out);
void vkl_batch_ring_destroy(vkl_batch_ring *s); /* NULL is a no-op; nothing may be in flight */

/* The m (C,H,W) images a slot holds; a loader must write exactly that. */
uint64_t vkl_batch_ring_image_floats(const vkl_batch_ring *s);

/* Queues batch b of ld's current epoch into slot, after the slot's last
 * copy has run. Errors: the loader's or the device's message in err. */
vkl_status vkl_batch_ring_fill(vkl_batch_ring *s, vkl_loader *ld, uint32_t slot, uint64_t b,
                               char *err, size_t errlen);
/* Waits for slot's batch; *count (may be NULL) gets its samples. A partial
 * batch is padded with VKL_XENT_IGNORE labels, which the loss skips. */
vkl_status vkl_batch_ring_take(vkl_batch_ring *s, vkl_loader *ld, uint32_t slot, uint32_t *count,
                               char *err, size_t errlen);
/* Submits slot's copy into the input and labels. */
vkl_status vkl_batch_ring_copy(vkl_batch_ring *s, uint32_t slot, char *err, size_t errlen);

#endif
