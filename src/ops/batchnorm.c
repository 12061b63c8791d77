/*
 * Batch normalisation reference. Values of channel c: x[n,c,i] with i = h*W + w over
 * the plane of HW = H*W elements; M = N*HW values per channel.
 */
#include "ops/batchnorm.h"

#include <math.h>
#include <stddef.h>

static size_t plane(const vkl_batchnorm_shape *sh) {
  return (size_t)sh->H * sh->W;
}

/* M, the number of values each channel's statistics are taken over. */
static double per_channel(const vkl_batchnorm_shape *sh) {
  return (double)sh->N * (double)plane(sh);
}

static size_t at(const vkl_batchnorm_shape *sh, uint32_t n, uint32_t c, size_t i) {
  return ((size_t)n * sh->C + c) * plane(sh) + i;
}

int vkl_batchnorm_shape_check(const vkl_batchnorm_shape *sh, int training) {
  if (sh->N == 0 || sh->C == 0 || sh->H == 0 || sh->W == 0) return -1;
  return training && (uint64_t)sh->N * plane(sh) < 2 ? -1 : 0;
}

static double channel_mean(const double *x, const vkl_batchnorm_shape *sh, uint32_t c) {
  double sum = 0.0;
  for (uint32_t n = 0; n < sh->N; n++)
    for (size_t i = 0; i < plane(sh); i++) sum += x[at(sh, n, c, i)];
  return sum / per_channel(sh);
}

/* Sum of squared deviations from the mean: the second pass of a two-pass variance,
 * which avoids the cancellation of E[x^2] - E[x]^2 when |mean| >> std. */
static double channel_ssd(const double *x, const vkl_batchnorm_shape *sh, uint32_t c, double mean) {
  double sum = 0.0;
  for (uint32_t n = 0; n < sh->N; n++)
    for (size_t i = 0; i < plane(sh); i++) {
      double d = x[at(sh, n, c, i)] - mean;
      sum += d * d;
    }
  return sum;
}

/* y = scale (x - shift) + beta over channel c. */
static void normalize_channel(double *y, const double *x, const vkl_batchnorm_shape *sh, uint32_t c,
                              double shift, double scale, double beta) {
  for (uint32_t n = 0; n < sh->N; n++)
    for (size_t i = 0; i < plane(sh); i++) {
      size_t j = at(sh, n, c, i);
      y[j] = scale * (x[j] - shift) + beta;
    }
}

void vkl_batchnorm_forward_train_ref(double *y, double *mean, double *invstd, double *running_mean,
                                     double *running_var, const double *x, const double *gamma,
                                     const double *beta, const vkl_batchnorm_shape *sh, double eps,
                                     double momentum) {
  double M = per_channel(sh);
  for (uint32_t c = 0; c < sh->C; c++) {
    mean[c] = channel_mean(x, sh, c);
    double ssd = channel_ssd(x, sh, c, mean[c]);
    invstd[c] = 1.0 / sqrt(ssd / M + eps);
    if (running_mean) running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * mean[c];
    if (running_var)
      running_var[c] = (1.0 - momentum) * running_var[c] + momentum * ssd / (M - 1.0);
    normalize_channel(y, x, sh, c, mean[c], (gamma ? gamma[c] : 1.0) * invstd[c],
                      beta ? beta[c] : 0.0);
  }
}

void vkl_batchnorm_forward_eval_ref(double *y, const double *x, const double *running_mean,
                                    const double *running_var, const double *gamma,
                                    const double *beta, const vkl_batchnorm_shape *sh, double eps) {
  for (uint32_t c = 0; c < sh->C; c++)
    normalize_channel(y, x, sh, c, running_mean[c],
                      (gamma ? gamma[c] : 1.0) / sqrt(running_var[c] + eps), beta ? beta[c] : 0.0);
}

static void store(double *dst, double v, int accumulate) {
  *dst = accumulate ? *dst + v : v;
}

/* With xhat = (x - mean) invstd, y = gamma xhat + beta, and per-channel sums
 * Sdy = sum dy, Sdyx = sum dy xhat over the channel's M values:
 *   1. dbeta  = Sdy
 *   2. dgamma = Sdyx
 *   3. dx = gamma invstd (dy - Sdy / M - xhat Sdyx / M), whose three parts are the
 *      paths through xhat directly, through the mean, and through the variance.
 * Term 3 uses this batch's sums, never the (possibly accumulated) dgamma/dbeta. */
void vkl_batchnorm_backward_ref(double *dx, double *dgamma, double *dbeta, const double *dy,
                                const double *x, const double *mean, const double *invstd,
                                const double *gamma, const vkl_batchnorm_shape *sh,
                                int accumulate) {
  double M = per_channel(sh);
  for (uint32_t c = 0; c < sh->C; c++) {
    double sdy = 0.0, sdyx = 0.0;
    for (uint32_t n = 0; n < sh->N; n++)
      for (size_t i = 0; i < plane(sh); i++) {
        size_t j = at(sh, n, c, i);
        sdy += dy[j];
        sdyx += dy[j] * (x[j] - mean[c]) * invstd[c];
      }
    if (dbeta) store(&dbeta[c], sdy, accumulate);
    if (dgamma) store(&dgamma[c], sdyx, accumulate);
    double k = (gamma ? gamma[c] : 1.0) * invstd[c];
    for (uint32_t n = 0; dx && n < sh->N; n++)
      for (size_t i = 0; i < plane(sh); i++) {
        size_t j = at(sh, n, c, i);
        double xhat = (x[j] - mean[c]) * invstd[c];
        store(&dx[j], k * (dy[j] - sdy / M - xhat * sdyx / M), accumulate);
      }
  }
}
