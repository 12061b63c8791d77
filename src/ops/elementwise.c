/*
 * Element-wise references: add, add backward, scale, fill. All arrays are flat (n).
 */
#include "ops/elementwise.h"

void vkl_add_forward_ref(double *y, const double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

/* Both partials are 1, so the gradient passes through unchanged to each input. */
static void pass_through(double *dst, const double *dy, size_t n, int accumulate)
{
    if (!dst)
        return;
    for (size_t i = 0; i < n; i++)
        dst[i] = accumulate ? dst[i] + dy[i] : dy[i];
}

void vkl_add_backward_ref(double *da, double *db, const double *dy, size_t n, int accumulate)
{
    pass_through(da, dy, n, accumulate);
    pass_through(db, dy, n, accumulate);
}

void vkl_scale_forward_ref(double *y, const double *x, double alpha, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = alpha * x[i];
}

void vkl_fill_ref(double *y, double value, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = value;
}
