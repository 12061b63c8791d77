#version 450
// Second half of the fused optimizer step: each invocation updates
// OPTIM_UPDATE_VEC4S vec4s of an update chunk, applying the coefficients
// optim_norms formed for its tensor (trust ratio q, weight decay, lr). The
// momentum family updates w and m from w, g, m; the Adam family moves w
// along the u that optim_norms left in g (it has written the new moments
// already). No barriers and no shared memory. Workgroup 0 advances the step
// cursor and, unless the step is skipped, flips the Adam family's moment
// parity. A step whose norms were not finite is skipped whole when the host
// asked for it (scratch word 2 or 3, by the step's parity: this step's word
// is read, the next step's is cleared).
#include "optim.h"
#include "optim_common.glsl"

// One vec4 of the update: new weights, with the new momentum in nm.
vec4 step4(vec4 wi, vec4 gi, vec4 mi, float q, float wd, float lr, out vec4 nm) {
  if (mode == OPTIM_MODE_MOMENTUM) {
    vec4 d = q * (gi + wd * wi);
    nm = pc.momentum * mi + d;
    bool nesterov = (pc.flags & OPTIM_NESTEROV) != 0u;
    return wi - lr * (nesterov ? d + pc.momentum * nm : nm);
  }
  nm = vec4(0.0);
  return wi - lr * q * gi; // gi holds u
}

void main() {
  uint c = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x;
  if (c >= pc.update_chunks) return;
  uint t = state[scratch_word(1u)];
  bool skip = state[scratch_word(2u + (t & 1u))] != 0u;
  if (c == 0u && lid == 0u) {
    state[scratch_word(0u)] = t + 1u;               // nothing in this dispatch reads it
    state[scratch_word(2u + ((t + 1u) & 1u))] = 0u; // the next step's skip word
    if (mode == OPTIM_MODE_ADAM && !skip) // the new moments are now the current ones
      state[scratch_word(OPTIM_STATE_PARITY)] ^= 1u;
  }
  if (skip) return;
  uvec4 chunk = update_chunk(c);
  uint cw = coeff_word(chunk.x);
  float q = uintBitsToFloat(state[cw]), wd = uintBitsToFloat(state[cw + 1u]),
        lr = uintBitsToFloat(state[cw + 2u]);
  uint slot = t % ring_slots;
  bool adam = mode == OPTIM_MODE_ADAM;
  uint s4 = chunk.y / 4u, full = chunk.z / 4u, rem = chunk.z % 4u;
  vec4 nm, nw;
  bool ok = true;
  for (uint r = 0u; r < OPTIM_UPDATE_VEC4S; r++) {
    uint k = run_vec4(lid, r, OPTIM_UPDATE_VEC4S);
    if (k < full) {
      uint i = s4 + k;
      nw = step4(w[i], g[i], adam ? vec4(0.0) : m[i], q, wd, lr, nm);
      w[i] = nw;
      if (!adam) m[i] = nm;
      ok = ok && finite4(nw);
    }
  }
  if (rem != 0u && owns_tail(lid, full, OPTIM_UPDATE_VEC4S)) { // the tail
    uint i = s4 + full;
    nw = step4(load_tail(0u, i, rem), load_tail(1u, i, rem),
               adam ? vec4(0.0) : load_tail(2u, i, rem), q, wd, lr, nm);
    for (uint e = 0u; e < rem; e++) {
      w[i][e] = nw[e];
      if (!adam) m[i][e] = nm[e];
      ok = ok && finite(nw[e]);
    }
  }
  if (!ok) atomicOr(ring[slot * pc.slot_words + OPTIM_SLOT_FLAGS], OPTIM_NONFINITE_UPDATE);
}
