/* Which micro-batch fits a device (see net_fit.h). */
#include "nn/net_fit.h"

#include <stdio.h>
#include <string.h>

uint64_t vkl_net_fit_bytes(const vkl_net_fit *f, uint32_t m, uint64_t *largest) {
  uint64_t bytes, shared = 0, l2;
  vkl_net_estimate(f->model, m, &bytes, largest);
  if (f->views > 1) vkl_net_estimate_shared(f->model, m, &shared, &l2);
  bytes += (f->views > 1 ? f->views - 1 : 0) * shared + f->extra_bytes;
  if (f->extra_largest > *largest) *largest = f->extra_largest;
  return bytes;
}

int vkl_net_fit_ok(const vkl_device_info *d, const vkl_net_fit *f, uint32_t m) {
  uint64_t largest, bytes = vkl_net_fit_bytes(f, m, &largest);
  return bytes <= vkl_net_budget(d) && largest <= d->max_storage_buffer_range;
}

uint32_t vkl_net_fit_divisor(const vkl_device_info *d, const vkl_net_fit *f, uint32_t B,
                             uint32_t below) {
  uint32_t least = vkl_model_min_micro_batch(f->model, NULL, 0);
  for (uint32_t m = below - 1; m >= least && m > 0; m--)
    if (B % m == 0 && vkl_net_fit_ok(d, f, m)) return m;
  return 0;
}

void vkl_net_fit_hint(char *msg, size_t msglen, const vkl_device_info *d, const vkl_net_fit *f,
                      uint32_t B, uint32_t m) {
  uint32_t fit = vkl_net_fit_divisor(d, f, B, m);
  size_t len = strlen(msg);
  if (len >= msglen) return;
  uint64_t largest, need = vkl_net_fit_bytes(f, m, &largest);
  uint64_t fit_bytes = fit ? vkl_net_fit_bytes(f, fit, &largest) : 0;
  if (fit)
    snprintf(msg + len, msglen - len,
             "; micro-batch %u needs about %.1f MiB in all: --micro-batch %u (about %.1f MiB) fits",
             m, (double)need / (1 << 20), fit, (double)fit_bytes / (1 << 20));
  else
    snprintf(msg + len, msglen - len,
             "; micro-batch %u needs about %.1f MiB in all and no smaller divisor of %u fits", m,
             (double)need / (1 << 20), B);
}
