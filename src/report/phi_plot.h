/* TVLARS's phi(t) against the optimizer step for several lambdas, the
 * paper's Figure 5, as a PNG (`vklars schedule --plot`). phi comes from
 * vkl_optim_phi, so the chart shows exactly what training applies. */
#ifndef VKLARS_REPORT_PHI_PLOT_H
#define VKLARS_REPORT_PHI_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "vklars/optim.h"
#include "vklars/status.h"

typedef struct vkl_phi_plot {
  const vkl_optim_config *optim; /* every setting but tv_lambda is used as given */
  uint64_t steps, steps_per_epoch;
  const double *lambdas; /* one curve each */
  size_t nlambdas;
  unsigned width, height; /* pixels; 0: the report's defaults */
} vkl_phi_plot;

vkl_status vkl_report_phi_plot(const vkl_phi_plot *p, const char *png, char *err, size_t errlen);

#endif
