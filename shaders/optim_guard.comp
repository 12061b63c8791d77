#version 450
// Before optim_norms: whether the guarded state (batch norm's running
// statistics, which the global batch's forward passes have updated) holds
// an infinity or a NaN: a batch whose activations overflow can leave an
// infinite variance behind finite gradients. If it does, the step is
// non-finite: its ring slot gets OPTIM_NONFINITE_BUFFERS and, when the host
// asked to skip such steps, its skip word is set, so that optim_update
// leaves w, m and v alone and optim_rollback restores the state. One
// workgroup (the state is small: batch norm's statistics); the test reads
// the exponent bits, so it holds where a compiler assumes no NaN.
#include "optim_guard.h"
#include "optim_slot.h"

layout(std430, binding = 0) buffer State { uint state[]; };
layout(std430, binding = 1) buffer Ring { uint ring[]; };
layout(std430, binding = 2) readonly buffer Live { uint live[]; }; // float bits

shared uint bad;

void main() {
  uint lid = gl_LocalInvocationID.x;
  if (lid == 0u) bad = 0u;
  barrier(); // bad cleared before any invocation sets it
  bool any_bad = false;
  for (uint i = lid; i < pc.n; i += gl_WorkGroupSize.x)
    any_bad = any_bad || (live[i] & 0x7f800000u) == 0x7f800000u;
  if (any_bad) atomicOr(bad, 1u);
  barrier(); // every invocation's finding in bad
  if (lid != 0u || bad == 0u) return;
  uint t = state[pc.scratch], base = (t % ring_slots) * pc.slot_words;
  atomicOr(ring[base + OPTIM_SLOT_FLAGS], OPTIM_NONFINITE_BUFFERS);
  if (ring[base + OPTIM_SLOT_SKIP] != 0u) atomicOr(state[pc.scratch + 2u + (t & 1u)], 1u);
}
