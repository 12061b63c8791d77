/* Which micro-batch fits a device: the arithmetic behind --micro-batch auto
 * and behind the hint an out-of-memory error gives (DESIGN.md: out of
 * device memory names the micro-batch size that would fit). The estimates
 * are vkl_net_estimate's; the budget is vkl_net_fits'. */
#ifndef VKLARS_NN_NET_FIT_H
#define VKLARS_NN_NET_FIT_H

#include <stddef.h>

#include "nn/net.h"

/* The largest divisor m of B with m < below (below = B + 1 allows B
 * itself) at which a training net of the model fits d and the model trains
 * (1 without batch norm, else 2); 0 if none. */
uint32_t vkl_net_fit_divisor(const vkl_device_info *d, const vkl_model *model, uint32_t B,
                             uint32_t below);

/* Appends to msg (a string of msglen bytes) what micro-batch m of B needs
 * and which smaller divisor of B fits: "; micro-batch 512 needs about 900.0
 * MiB in all: --micro-batch 256 (about 460.0 MiB) fits". */
void vkl_net_fit_hint(char *msg, size_t msglen, const vkl_device_info *d, const vkl_model *model,
                      uint32_t B, uint32_t m);

#endif
