/* Which micro-batch fits a device (see net_fit.h). */
#include "nn/net_fit.h"

#include <stdio.h>
#include <string.h>

static int training_net_fits(const vkl_device_info *d, const vkl_model *model, uint32_t m) {
  vkl_net_config nc = {.micro_batch = m};
  return vkl_net_fits(d, model, &nc);
}

uint32_t vkl_net_fit_divisor(const vkl_device_info *d, const vkl_model *model, uint32_t B,
                             uint32_t below) {
  uint32_t least = vkl_model_min_micro_batch(model, NULL, 0);
  for (uint32_t m = below - 1; m >= least && m > 0; m--)
    if (B % m == 0 && training_net_fits(d, model, m)) return m;
  return 0;
}

void vkl_net_fit_hint(char *msg, size_t msglen, const vkl_device_info *d, const vkl_model *model,
                      uint32_t B, uint32_t m) {
  uint32_t fit = vkl_net_fit_divisor(d, model, B, m);
  size_t len = strlen(msg);
  if (len >= msglen) return;
  uint64_t need, largest, fit_bytes = 0;
  vkl_net_estimate(model, m, &need, &largest);
  if (fit) vkl_net_estimate(model, fit, &fit_bytes, &largest);
  if (fit)
    snprintf(msg + len, msglen - len,
             "; micro-batch %u needs about %.1f MiB in all: --micro-batch %u (about %.1f MiB) fits",
             m, (double)need / (1 << 20), fit, (double)fit_bytes / (1 << 20));
  else
    snprintf(msg + len, msglen - len,
             "; micro-batch %u needs about %.1f MiB in all and no smaller divisor of %u fits", m,
             (double)need / (1 << 20), B);
}
