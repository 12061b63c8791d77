/*
 * ReLU reference on flat (n) double arrays.
 */
#include "ops/activation.h"

void vkl_relu_forward_ref(double *y, const double *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0 ? x[i] : 0.0;
}

/* 1. dx = dy * [y > 0] */
void vkl_relu_backward_ref(double *dx, const double *dy, const double *y, size_t n,
                           int accumulate) {
  for (size_t i = 0; i < n; i++) {
    double g = y[i] > 0.0 ? dy[i] : 0.0;
    dx[i] = accumulate ? dx[i] + g : g;
  }
}
