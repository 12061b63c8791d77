/* Which micro-batch fits a device: the arithmetic behind --micro-batch auto
 * and behind the hint an out-of-memory error gives (DESIGN.md: out of
 * device memory names the micro-batch size that would fit). The estimates
 * are vkl_net_estimate's; the budget is vkl_net_fits': 3/4 of the largest
 * device-local heap, within one allocation, each tensor within one binding. */
#ifndef VKLARS_NN_NET_FIT_H
#define VKLARS_NN_NET_FIT_H

#include <stddef.h>

#include "nn/net.h"

/* What a run puts on the device besides one training net: more views'
 * activations on the same state (a two-view method's second net), and a
 * method's own memory that does not depend on the micro-batch (the Barlow
 * Twins statistics), with its largest single buffer. */
typedef struct vkl_net_fit {
  const vkl_model *model;
  uint32_t views;         /* training nets sharing one state; 0: 1 */
  uint64_t extra_bytes;   /* beyond the nets */
  uint64_t extra_largest; /* the largest buffer of extra_bytes */
} vkl_net_fit;

/* The device bytes of such a run at micro-batch m, and its largest tensor. */
uint64_t vkl_net_fit_bytes(const vkl_net_fit *f, uint32_t m, uint64_t *largest);
/* Whether it fits device d at micro-batch m. */
int vkl_net_fit_ok(const vkl_device_info *d, const vkl_net_fit *f, uint32_t m);

/* The largest divisor m of B with m < below (below = B + 1 allows B
 * itself) at which the run fits d and the model trains (1 without batch
 * norm, else 2); 0 if none. */
uint32_t vkl_net_fit_divisor(const vkl_device_info *d, const vkl_net_fit *f, uint32_t B,
                             uint32_t below);

/* Appends to msg (a string of msglen bytes) what micro-batch m of B needs
 * and which smaller divisor of B fits: "; micro-batch 512 needs about 900.0
 * MiB in all: --micro-batch 256 (about 460.0 MiB) fits". */
void vkl_net_fit_hint(char *msg, size_t msglen, const vkl_device_info *d, const vkl_net_fit *f,
                      uint32_t B, uint32_t m);

#endif
