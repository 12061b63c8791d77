/* The running-statistics merge of data parallelism (train/grad_allreduce.h),
 * on the host: N ranks, each updating R <- a R + (1 - a) s over its own U
 * micro-batch statistics from the same start R0, merge into exactly what one
 * process updating over all N U of them in rank order ends at. (test_mpi
 * checks it end to end, through real batch norm and real ranks.) */
#include <criterion/criterion.h>
#include <math.h>

#include "train/grad_allreduce.h"

static double update(double r, double a, double s) {
  return a * r + (1 - a) * s;
}

Test(grad_allreduce, merged_running_statistics_equal_one_process) {
  const double momenta[] = {0.1, 0.01, 0.5, 1.0};
  for (size_t mi = 0; mi < sizeof momenta / sizeof momenta[0]; mi++) {
    double a = 1 - momenta[mi];
    for (uint32_t N = 1; N <= 5; N++)
      for (uint32_t U = 1; U <= 7; U += 3) {
        double r0 = 0.75, one = r0, merged = 0;
        for (uint32_t r = 0; r < N; r++) {
          double mine = r0;
          for (uint32_t u = 0; u < U; u++) {
            double s = sin(1.0 + r * 7.0 + u); /* micro-batch statistics */
            mine = update(mine, a, s);
            one = update(one, a, s); /* one process, in rank order */
          }
          merged += vkl_bn_merge_weight(a, U, N, r) * mine;
        }
        merged += vkl_bn_merge_start_coef(a, U, N) * r0;
        cr_assert_leq(fabs(merged - one), 1e-12, "momentum %g, N %u, U %u: %.15g vs %.15g",
                      momenta[mi], N, U, merged, one);
      }
  }
}

Test(grad_allreduce, one_rank_keeps_its_statistics) {
  /* N = 1: weight 1, no multiple of R0 */
  cr_assert_eq(vkl_bn_merge_weight(0.9, 5, 1, 0), 1.0);
  cr_assert_leq(fabs(vkl_bn_merge_start_coef(0.9, 5, 1)), 1e-15);
}
