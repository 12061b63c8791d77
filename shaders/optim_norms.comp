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

  float sw = 0.0, sd = 0.0, sg = 0.0;
  for (uint k = lid; k < count; k += wg) {
    uint i = start + k;
    float nm, nv;
    float d = direction(i, wd, c1, c2, nm, nv);
    sw += w[i] * w[i];
    sd += d * d;
    sg += g[i] * g[i];
  }
  red[0][lid] = sw;
  red[1][lid] = sd;
  red[2][lid] = sg;
  barrier();
  for (uint s = wg / 2u; s > 0u; s >>= 1u) { // wg is a power of two (host checks)
    if (lid < s)
      for (uint p = 0; p < OPTIM_PARTIALS; p++) red[p][lid] += red[p][lid + s];
    barrier();
  }
  if (lid == 0u) {
    for (uint p = 0; p < OPTIM_PARTIALS; p++) partials[OPTIM_PARTIALS * c + p] = red[p][0];
    if (!finite(red[0][0]) || !finite(red[1][0]) || !finite(red[2][0]))
      atomicOr(ring[slot * pc.slot_words + OPTIM_SLOT_FLAGS], OPTIM_NONFINITE_NORM);
    if (c == 0u) state[1] = t; // the update reads t from here while it advances state[0]
  }
}
