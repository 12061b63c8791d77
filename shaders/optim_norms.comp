#version 450
#extension GL_EXT_control_flow_attributes : require
// First half of the fused optimizer step. Each workgroup sums w^2, d^2 and
// g^2 over one norm chunk (d is the direction the trust ratio divides by:
// momentum family d = g + wd*w; Adam family u, formed from the new moments,
// which it writes to the other copy of m and v, and u, which it writes over
// g for the update). A tensor's sums are then complete once its chunks' are
// added, in chunk order, and its trust ratio (PAPER.md: LARS, TVLARS, LAMB;
// the reference is src/optim/optim_ref.c), the update's coefficients and the
// step's statistics are formed from them. The kernel is
// common/optim_norms_body.h, compiled four ways (this file and optim_norms_sg,
// optim_norms_mm, optim_norms_mm_sg); who adds a tensor's chunks
// (common/reduce_sync.h):
//  - a tensor of one chunk: its workgroup, at once (every variant).
//  - this file and optim_norms_sg: a second dispatch (spec finish = 1, one
//    workgroup per tensor) after a pipeline barrier.
//  - optim_norms_mm, optim_norms_mm_sg (Vulkan memory model): the same
//    dispatch; each group counts itself on the tensor's counter with a
//    device-scope release/acquire atomicAdd, and the group that counts last
//    adds (and clears the counter for the next step).
// Within a workgroup: a fixed shared-memory tree, or (the _sg variants)
// subgroupAdd and a sum of the subgroups' sums. Fixed summation orders: the
// results never depend on which workgroup finishes first, and are
// bit-identical run to run on each path.
#include "optim_norms_body.h"
