/* phi(t) for several lambdas (see phi_plot.h). */
#include "report/phi_plot.h"

#include <stdio.h>
#include <stdlib.h>

#include "report/plot.h"
#include "report/report.h"

/* Points per curve: the steps are thinned evenly to about this many (and
 * the last), the chart's resolution; phi is smooth. */
#define MAX_POINTS 2000

vkl_status vkl_report_phi_plot(const vkl_phi_plot *p, const char *png, char *err, size_t errlen) {
  uint64_t every = p->steps > MAX_POINTS ? (p->steps + MAX_POINTS - 1) / MAX_POINTS : 1;
  size_t cap = (size_t)((p->steps + every - 1) / every) + 1, n = p->nlambdas;
  double *x = malloc(cap * sizeof *x), *y = malloc((n ? n : 1) * cap * sizeof *y);
  vkl_plot_series *series = calloc(n ? n : 1, sizeof *series);
  char(*names)[48] = malloc((n ? n : 1) * sizeof *names);
  vkl_status st = VKL_OK;
  if (!x || !y || !series || !names) {
    snprintf(err, errlen, "%s: out of host memory", png);
    st = VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  size_t m = 0;
  for (uint64_t t = 0; !st && t < p->steps; t += every) x[m++] = (double)t;
  if (!st && p->steps && (p->steps - 1) % every) x[m++] = (double)(p->steps - 1);
  for (size_t i = 0; !st && i < n; i++) {
    vkl_optim_config o = *p->optim;
    o.tv_lambda = p->lambdas[i];
    for (size_t k = 0; k < m; k++)
      y[i * cap + k] = vkl_optim_phi(&o, p->steps_per_epoch, (uint64_t)x[k]);
    snprintf(names[i], sizeof names[i], "lambda = %g", p->lambdas[i]);
    series[i] = (vkl_plot_series){names[i], x, y + i * cap, m, 0};
  }
  if (!st) {
    vkl_plot plot = {.title = "TVLARS phi(t) = 1/(alpha + exp(lambda (t - d_e))) + gamma_min",
                     .xlabel = "step",
                     .ylabel = "phi(t)",
                     .width = p->width ? p->width : VKL_REPORT_WIDTH,
                     .height = p->height ? p->height : VKL_REPORT_HEIGHT,
                     .series = series,
                     .nseries = n};
    st = vkl_plot_lines(&plot, png, err, errlen);
  }
  free(x);
  free(y);
  free(series);
  free(names);
  return st;
}
