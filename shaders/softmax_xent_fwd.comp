#version 450
#extension GL_EXT_control_flow_attributes : require
// Softmax cross-entropy forward, one dispatch: the batch loss
//   loss_i = log sum_k exp(z_ik) - keep z_i,y - smooth_k sum_k z_ik,
//   loss = sum_i loss_i / divisor (N for the mean, 1 for the sum)
// and the number of samples whose label is among the top 1 and top 5 logits (a row
// holding a NaN or an infinity counts as neither).
// See ops/softmax_xent.h for the math and common/softmax_xent_row.h for a row.
//
// A label outside [0, K) is flagged, never read: its row's loss is NaN (so the
// batch loss is NaN) and it counts as wrong.
//
// Summation: each group adds its rows' losses and hits in a fixed order (a
// shared-memory tree, or with the _sg variants subgroupAdd and a sum of the
// subgroups' sums); a grid of one group writes the result at once. Otherwise
// each group stores its partial and all partials are added in group order, by
// the group that counts last on an integer counter (the _mm variants, under the
// Vulkan memory model) or by a second dispatch of one group after a pipeline
// barrier (spec finish = 1; this file and _sg). See common/reduce_sync.h. The
// order is fixed, so the loss is bit-identical run to run on each path.
// The kernel is common/softmax_xent_fwd_body.h; the GPU geometry takes its
// workgroup size from vkl_tuning.reduce_wg.
#include "softmax_xent_fwd_body.h"
