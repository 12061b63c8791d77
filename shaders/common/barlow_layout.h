/* Layout of the Barlow Twins statistics buffer and workspace (ops/barlow.h),
 * shared by the C recording and the GLSL kernels. Offsets in floats; d is the
 * embedding width. C and GLSL both read `4u + 2u * (d)`.
 *
 * Statistics (VKL_BARLOW_STATS_FLOATS(d) floats, one binding):
 *   [0]          n, the samples merged so far (a float: exact up to 2^24)
 *   [1..3]       0
 *   mean1, mean2 (d each) batch means of z1 and z2, less the pivots
 *   m2_1, m2_2   (d each) sums of squared deviations from those means
 *   r1, r2       (d each) written by the finalize: (1/n) sum_j G_ij C_ij and
 *                (1/n) sum_i G_ij C_ij
 *   is1, is2     (d each) written by the finalize: 1 / sqrt(m2 / n + eps)
 *   piv1, piv2   (d each) the pivots p: the first sample of the first micro-batch.
 *                The kernels work on z - p, which is exact for data near p
 *                (Sterbenz), so a large common offset never reaches the sums and
 *                the means' fp32 rounding is relative to the spread, not the offset
 *   x            (d,d) the centred cross-product X = sum_b (z1_b - mean1)
 *                (z2_b - mean2)^T; the finalize overwrites it with
 *                G = dL/dC (row i of z1's features, column j of z2's)
 * Workspace (VKL_BARLOW_WS_FLOATS(d) floats):
 *   [0] n_a n_b / n of the merge being recorded, [1] n after it, [2..3] unused
 *   merge:    mb1, mb2 (d each) the micro-batch means less the pivots; dl1, dl2
 *             (d each) delta = mb - mean_a
 *   finalize: on (d) row i's (C_ii - 1)^2, off (d) row i's sum_{j != i} C_ij^2 */
#ifndef VKLARS_BARLOW_LAYOUT_H
#define VKLARS_BARLOW_LAYOUT_H

#define VKL_BARLOW_N 0u
#define VKL_BARLOW_MEAN1(d) (4u)
#define VKL_BARLOW_MEAN2(d) (4u + 1u * (d))
#define VKL_BARLOW_M2_1(d) (4u + 2u * (d))
#define VKL_BARLOW_M2_2(d) (4u + 3u * (d))
#define VKL_BARLOW_R1(d) (4u + 4u * (d))
#define VKL_BARLOW_R2(d) (4u + 5u * (d))
#define VKL_BARLOW_IS1(d) (4u + 6u * (d))
#define VKL_BARLOW_IS2(d) (4u + 7u * (d))
#define VKL_BARLOW_PIV1(d) (4u + 8u * (d))
#define VKL_BARLOW_PIV2(d) (4u + 9u * (d))
#define VKL_BARLOW_X(d) (4u + 10u * (d))
#define VKL_BARLOW_STATS_FLOATS(d) (4u + 10u * (d) + (d) * (d))

#define VKL_BARLOW_WS_COEF 0u
#define VKL_BARLOW_WS_N 1u
#define VKL_BARLOW_WS_MB1(d) (4u)
#define VKL_BARLOW_WS_MB2(d) (4u + 1u * (d))
#define VKL_BARLOW_WS_DL1(d) (4u + 2u * (d))
#define VKL_BARLOW_WS_DL2(d) (4u + 3u * (d))
#define VKL_BARLOW_WS_ON(d) (4u)
#define VKL_BARLOW_WS_OFF(d) (4u + 1u * (d))
#define VKL_BARLOW_WS_FLOATS(d) (4u + 4u * (d))

/* Outputs per invocation of the two products (barlow_cross, barlow_bwd):
 * a 4 x 4 block. */
#define VKL_BARLOW_BLOCK 4u

#endif
