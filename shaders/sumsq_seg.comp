#version 450
#extension GL_EXT_control_flow_attributes : require
// Segmented sums of squares: out_x[s] = ||x_s||^2 (and out_y[s] = ||y_s||^2
// when pair = 1) for every segment s = (offset, count) of a tensor list. See
// common/sumsq_seg.h for the tables and the workspace; the kernel is
// common/sumsq_seg_body.h, compiled four ways (this file and sumsq_seg_sg,
// sumsq_seg_mm, sumsq_seg_mm_sg).
//
// Workgroup c reduces chunk c, the elements [i*chunk, (i+1)*chunk) of its
// segment (i = the chunk's index within the segment): vec4 loads over the
// chunk's 16-byte-aligned middle, split into one contiguous span per tile of
// TILE invocations, scalar loads for the up to 3 elements at each end; each
// invocation adds its values in a fixed order, then the workgroup adds the
// invocations: a fixed two-level shared-memory sum, or (the _sg variants)
// subgroupAdd and a sum of the subgroups' sums. A segment of one chunk writes
// its result at once. Otherwise each group stores its partial, and the
// segment's partials are added in chunk order (the same fixed sums), so the
// result never depends on which group finishes first: bit-identical run to
// run. Who adds them (common/reduce_sync.h):
//  - this file and sumsq_seg_sg: a second dispatch (spec finish = 1) after a
//    pipeline barrier; the segment's first chunk's workgroup adds.
//  - sumsq_seg_mm, sumsq_seg_mm_sg (Vulkan memory model): the same dispatch;
//    each group counts itself on the segment's counter with a device-scope
//    release/acquire atomicAdd, and the group that counts last adds.
//
// On lavapipe barriers are costly (a workgroup with barriers runs as
// coroutines): 8 tree levels cost more than the loads, hence fan-in 16, 64
// invocations and 16384-element chunks (measured; see common/sumsq_seg.h).
// The GPU geometry takes its workgroup size from vkl_tuning.reduce_wg.
#include "sumsq_seg_body.h"
