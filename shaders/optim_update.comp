#version 450
// Second half of the fused optimizer step: each invocation updates
// OPTIM_UPDATE_VEC4S vec4s of an update chunk, applying the coefficients optim_norms formed for its tensor
// (trust ratio q, weight decay, lr). No barriers and no shared memory.
// Workgroup 0 advances the step cursor. A step whose norms were not finite
// is skipped whole when the host asked for it (scratch word 2 or 3, by the
// step's parity: this step's word is read, the next step's is cleared).
#include "optim.h"
#include "optim_common.glsl"

// One vec4 of the update: new weights, with the new moments in nm, nv.
vec4 step4(vec4 wi, vec4 gi, vec4 mi, vec4 vi, float q, float wd, float lr, float c1, float c2,
           out vec4 nm, out vec4 nv) {
  if (mode == OPTIM_MODE_MOMENTUM) {
    vec4 d = q * (gi + wd * wi);
    nm = pc.momentum * mi + d;
    nv = vec4(0.0);
    bool nesterov = (pc.flags & OPTIM_NESTEROV) != 0u;
    return wi - lr * (nesterov ? d + pc.momentum * nm : nm);
  }
  vec4 u = direction(wi, gi, mi, vi, wd, c1, c2, nm, nv);
  return wi - lr * q * u;
}

void main() {
  uint c = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x;
  if (c >= pc.update_chunks) return;
  uint t = scratch[1];
  if (c == 0u && lid == 0u) {
    scratch[0] = t + 1u;               // nothing in this dispatch reads it
    scratch[2u + ((t + 1u) & 1u)] = 0u; // the next step's skip word
  }
  if (scratch[2u + (t & 1u)] != 0u) return;
  uvec4 chunk = update_chunk(c);
  vec4 co = coeffs[2u * chunk.x];
  float c1 = 1.0, c2 = 1.0;
  uint slot = t % ring_slots;
  if (mode == OPTIM_MODE_ADAM) { // bias corrections, copied per tensor by optim_norms
    vec2 cc = coeffs[2u * chunk.x + 1u].xy;
    c1 = cc.x;
    c2 = cc.y;
  }
  uint s4 = chunk.y / 4u, full = chunk.z / 4u, rem = chunk.z % 4u;
  vec4 nm, nv, nw;
  bool ok = true;
  for (uint r = 0u; r < OPTIM_UPDATE_VEC4S; r++) {
    uint k = run_vec4(lid, r, OPTIM_UPDATE_VEC4S);
    if (k < full) {
      uint i = s4 + k;
      nw = step4(w[i], g[i], m[i], mode == OPTIM_MODE_ADAM ? v[i] : vec4(0.0), co.x, co.y, co.z,
                 c1, c2, nm, nv);
      w[i] = nw;
      m[i] = nm;
      if (mode == OPTIM_MODE_ADAM) v[i] = nv;
      ok = ok && finite4(nw);
    }
  }
  if (rem != 0u && owns_tail(lid, full, OPTIM_UPDATE_VEC4S)) { // the tail
    uint i = s4 + full;
    nw = step4(load_tail(0u, i, rem), load_tail(1u, i, rem), load_tail(2u, i, rem),
               mode == OPTIM_MODE_ADAM ? load_tail(3u, i, rem) : vec4(0.0), co.x, co.y, co.z,
               c1, c2, nm, nv);
    for (uint e = 0u; e < rem; e++) {
      w[i][e] = nw[e];
      m[i][e] = nm[e];
      if (mode == OPTIM_MODE_ADAM) v[i][e] = nv[e];
      ok = ok && finite(nw[e]);
    }
  }
  if (!ok) atomicOr(ring[slot * pc.slot_words + OPTIM_SLOT_FLAGS], OPTIM_NONFINITE_UPDATE);
}
