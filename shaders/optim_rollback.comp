#version 450
// After optim_update: when the optimizer skipped this step (a weight or
// gradient norm, or the guarded state itself, was not finite, and the host
// asked to skip such steps), the guarded state goes back to its copy from
// the start of the global batch, live = saved: batch norm's running
// statistics keep nothing of a dropped batch. Scratch word 1 still holds
// the step t, and step t's skip word (2 + t % 2) is cleared only by step
// t + 1's update. Grid: see vec4_grid.h.
#define OPTIM_ROLLBACK // its spec constants: the workgroup size only
#include "optim_guard.h"
#include "vec4_grid.h"

layout(std430, binding = 0) readonly buffer State { uint state[]; };
layout(std430, binding = 1) writeonly buffer Live4 { vec4 live4[]; };
layout(std430, binding = 1) writeonly buffer Live { float live[]; };
layout(std430, binding = 2) readonly buffer Saved4 { vec4 saved4[]; };
layout(std430, binding = 2) readonly buffer Saved { float saved[]; };

void main() {
  uint t = state[pc.scratch + 1u];
  if (state[pc.scratch + 2u + (t & 1u)] == 0u) return; // the step was applied
  uint n4 = pc.n >> 2;
  for (uint k = 0; k < VKL_VEC4_PER_INVOCATION; k++) {
    uint i = vec4_grid_index(k);
    if (i < n4) live4[i] = saved4[i];
  }
  uint i = vec4_grid_tail(pc.n);
  if (i < pc.n) live[i] = saved[i];
}
