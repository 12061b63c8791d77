#version 450
// First half of the fused optimizer step: per-chunk partial sums of w^2,
// d^2 and g^2, where d is the direction the trust ratio divides by
// (momentum family: d = g + wd*w; Adam family: u = mhat/(sqrt(vhat)+eps)
// (+ wd*w), computed here from the moments without writing them). One
// workgroup per chunk, a fixed summation order, so results are
// deterministic. A non-finite sum raises OPTIM_NONFINITE_NORM in the slot.
#include "optim.h"
#include "optim_common.glsl"

shared float red[OPTIM_PARTIALS][gl_WorkGroupSize.x];

void main() {
  uint c = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
  if (c >= pc.chunk_count) return; // whole workgroup: barriers stay uniform
  uint tensor = tables[chunk_word(c, 0)];
  uint start = tables[chunk_word(c, 1)], count = tables[chunk_word(c, 2)];
  bool excluded = (tables[tensor_word(tensor, 2)] & OPTIM_TENSOR_EXCLUDED) != 0u;
  float wd = excluded ? 0.0 : pc.weight_decay;
  uint t = state[0], slot = t % ring_slots;
  float c1 = ring_float(slot, OPTIM_SLOT_C1), c2 = ring_float(slot, OPTIM_SLOT_C2);

  uint s4 = start / 4u, full = count / 4u, rem = count % 4u;
  vec4 sw = vec4(0.0), sd = vec4(0.0), sg = vec4(0.0), nm, nv;
  bool adam = mode == OPTIM_MODE_ADAM;
  for (uint k = lid; k < full; k += wg) {
    uint i = s4 + k;
    vec4 wi = w[i], gi = g[i];
    vec4 d = direction(wi, gi, adam ? m[i] : vec4(0.0), adam ? v[i] : vec4(0.0), wd, c1, c2, nm,
                       nv);
    sw += wi * wi;
    sd += d * d;
    sg += gi * gi;
  }
  if (rem != 0u && lid == 0u) { // the tail; zero components add nothing
    uint i = s4 + full;
    vec4 wi = load_tail(0u, i, rem), gi = load_tail(1u, i, rem);
    vec4 d = direction(wi, gi, adam ? load_tail(2u, i, rem) : vec4(0.0),
                       adam ? load_tail(3u, i, rem) : vec4(0.0), wd, c1, c2, nm, nv);
    sw += wi * wi;
    sd += d * d;
    sg += gi * gi;
  }
  const vec4 one = vec4(1.0);
  red[0][lid] = dot(sw, one);
  red[1][lid] = dot(sd, one);
  red[2][lid] = dot(sg, one);
  barrier();
  // One invocation adds the workgroup's partial sums in order: a single
  // barrier, where a tree needs log2(wg) of them; on CPU drivers (lavapipe
  // runs each SIMD batch of a workgroup as a coroutine) every barrier is a
  // round of context switches and dominated this kernel.
  if (lid != 0u) return;
  float tot[OPTIM_PARTIALS] = float[](0.0, 0.0, 0.0);
  for (uint k = 0; k < wg; k++)
    for (uint p = 0; p < OPTIM_PARTIALS; p++) tot[p] += red[p][k];
  for (uint p = 0; p < OPTIM_PARTIALS; p++) partials[OPTIM_PARTIALS * c + p] = tot[p];
  if (!finite(tot[0]) || !finite(tot[1]) || !finite(tot[2]))
    atomicOr(ring[slot * pc.slot_words + OPTIM_SLOT_FLAGS], OPTIM_NONFINITE_NORM);
  if (c == 0u) state[1] = t; // the update reads t from here while it advances state[0]
}
