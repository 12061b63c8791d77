#version 450
// First half of the fused optimizer step. Each workgroup sums w^2, d^2 and
// g^2 over one norm chunk (d is the direction the trust ratio divides by:
// momentum family d = g + wd*w; Adam family u, formed from the new moments,
// which it writes to the other copy of m and v, and u, which it writes over
// g for the update); the last workgroup of a tensor to finish (an
// integer counter; memoryBarrierBuffer on both sides of it, coherent
// buffers) adds that tensor's partials in chunk order, forms its trust
// ratio (PAPER.md: LARS, TVLARS, LAMB; the reference is src/optim/optim_ref.c)
// and writes the update's coefficients and the step's statistics. Fixed
// summation orders: the results do not depend on which workgroup is last.
#include "optim.h"
#include "optim_common.glsl"

shared float red[OPTIM_PARTIALS][OPTIM_WG];

float clamp_norm(float x, float c) { return c > 0.0 ? min(x, c) : x; }

// q: 1 without adaptation, for excluded tensors, or when a norm is 0.
float trust_ratio(float wn, float dn, float gn, float wd, bool excluded, float lr, float phi) {
  if ((pc.flags & OPTIM_ADAPT) == 0u || excluded) return 1.0;
  if (mode == OPTIM_MODE_MOMENTUM) {
    float wc = clamp_norm(wn, pc.norm_clamp);
    float den = (pc.flags & OPTIM_SUM_OF_NORMS) != 0u
                    ? clamp_norm(gn, pc.norm_clamp) + wd * wc + pc.lars_eps
                    : clamp_norm(dn, pc.norm_clamp);
    float q = wc > 0.0 && den > 0.0 ? pc.eta * phi * wc / den : 1.0;
    if ((pc.flags & OPTIM_LARC) != 0u) q = lr > 0.0 ? min(q / lr, 1.0) : 1.0;
    return q;
  }
  float wc = clamp_norm(wn, pc.lamb_clamp_w);
  float q = wc > 0.0 && dn > 0.0 ? wc / dn : 1.0;
  return pc.trust_clip > 0.0 ? min(q, pc.trust_clip) : q;
}

// Adds vec4 i's w^2, d^2 and g^2 to the running sums (momentum family).
void add_squares(uint i, float wd, inout vec4 sw, inout vec4 sd, inout vec4 sg) {
  vec4 wi = w[i], gi = g[i], nm, nv;
  vec4 d = direction(wi, gi, vec4(0.0), vec4(0.0), wd, 1.0, 1.0, nm, nv);
  sw += wi * wi;
  sd += d * d;
  sg += gi * gi;
}

// Adam family: the same sums over a run, the new moments read from MC, VC
// and written to MN, VN, and u written over g. A macro, since GLSL cannot
// pass buffers; main expands it once per copy under a uniform branch.
#define ADAM_RUN(MC, VC, MN, VN)                                                                 \
  for (uint r = 0u; r < OPTIM_NORM_VEC4S; r++) {                                                 \
    uint k = run_vec4(lid, r, OPTIM_NORM_VEC4S);                                                 \
    if (k < full) {                                                                              \
      uint i = s4 + k;                                                                           \
      vec4 wi = w[i], gi = g[i];                                                                 \
      vec4 u = direction(wi, gi, MC[i], VC[i], wd, c1, c2, nm, nv);                              \
      MN[i] = nm;                                                                                \
      VN[i] = nv;                                                                                \
      g[i] = u;                                                                                  \
      sw += wi * wi;                                                                             \
      sd += u * u;                                                                               \
      sg += gi * gi;                                                                             \
    }                                                                                            \
  }

void main() {
  uint c = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x;
  if (c >= pc.norm_chunks) return; // whole workgroup: the barrier stays uniform
  uvec4 chunk = norm_chunk(c);
  uint tensor = chunk.x;
  uvec4 entry = tensor_entry(tensor);
  bool excluded = (entry.z & OPTIM_TENSOR_EXCLUDED) != 0u, adam = mode == OPTIM_MODE_ADAM;
  float wd = excluded ? 0.0 : pc.weight_decay;
  uint t = state[scratch_word(0u)], slot = t % ring_slots;
  uint parity = adam ? state[scratch_word(OPTIM_STATE_PARITY)] : 0u;
  float c1 = ring_float(slot, OPTIM_SLOT_C1), c2 = ring_float(slot, OPTIM_SLOT_C2);

  // each invocation OPTIM_NORM_VEC4S vec4s (see `contiguous`); the tail by its owner
  uint s4 = chunk.y / 4u, full = chunk.z / 4u, rem = chunk.z % 4u;
  vec4 sw = vec4(0.0), sd = vec4(0.0), sg = vec4(0.0), nm, nv;
  if (!adam) {
    for (uint r = 0u; r < OPTIM_NORM_VEC4S; r++) {
      uint k = run_vec4(lid, r, OPTIM_NORM_VEC4S);
      if (k < full) add_squares(s4 + k, wd, sw, sd, sg);
    }
  } else if (parity == 0u) {
    ADAM_RUN(m, v, m1, v1)
  } else {
    ADAM_RUN(m1, v1, m, v)
  }
  if (rem != 0u && owns_tail(lid, full, OPTIM_NORM_VEC4S)) {
    uint i = s4 + full, mc = parity == 0u ? 2u : 4u; // load_tail's codes of m, m1
    vec4 wi = load_tail(0u, i, rem), gi = load_tail(1u, i, rem);
    vec4 d = direction(wi, gi, adam ? load_tail(mc, i, rem) : vec4(0.0),
                       adam ? load_tail(mc + 1u, i, rem) : vec4(0.0), wd, c1, c2, nm, nv);
    sw += wi * wi;
    sd += d * d;
    sg += gi * gi;
    for (uint e = 0u; adam && e < rem; e++) {
      if (parity == 0u) {
        m1[i][e] = nm[e];
        v1[i][e] = nv[e];
      } else {
        m[i][e] = nm[e];
        v[i][e] = nv[e];
      }
      g[i][e] = d[e];
    }
  }
  const vec4 one = vec4(1.0);
  red[0][lid] = dot(sw, one);
  red[1][lid] = dot(sd, one);
  red[2][lid] = dot(sg, one);
  barrier();
  if (lid != 0u) return; // invocation 0 adds in order: one barrier, not a tree's eight
  float tot[OPTIM_PARTIALS] = float[](0.0, 0.0, 0.0);
  for (uint k = 0u; k < OPTIM_WG; k++)
    for (uint p = 0u; p < OPTIM_PARTIALS; p++) tot[p] += red[p][k];
  for (uint p = 0u; p < OPTIM_PARTIALS; p++) state[partial_word(chunk.w) + p] = floatBitsToUint(tot[p]);
  if (c == 0u) state[scratch_word(1u)] = t; // the update reads t here while it advances word 0

  // the tensor's last chunk to finish forms its coefficients
  memoryBarrierBuffer(); // our partials before the counter
  if (atomicAdd(state[counter_word(tensor)], 1u) + 1u != entry.y) return;
  memoryBarrierBuffer(); // everyone's partials after it
  state[counter_word(tensor)] = 0u; // ready for the next step
  float s[OPTIM_PARTIALS] = float[](0.0, 0.0, 0.0);
  for (uint k = 0u; k < entry.y; k++)
    for (uint p = 0u; p < OPTIM_PARTIALS; p++)
      s[p] += uintBitsToFloat(state[partial_word(entry.x + k) + p]);
  float wn = sqrt(s[0]), dn = sqrt(s[1]), gn = sqrt(s[2]);
  uint base = slot * pc.slot_words;
  float lr = ring_float(slot, OPTIM_SLOT_LR), phi = ring_float(slot, OPTIM_SLOT_PHI);
  float q = trust_ratio(wn, dn, gn, wd, excluded, lr, phi);
  uint cw = coeff_word(tensor);
  state[cw] = floatBitsToUint(q);
  state[cw + 1u] = floatBitsToUint(wd);
  state[cw + 2u] = floatBitsToUint(lr);
  uint st = base + OPTIM_SLOT_HEADER + OPTIM_STAT_FLOATS * tensor;
  ring[st + 0u] = floatBitsToUint(wn);
  ring[st + 1u] = floatBitsToUint(dn);
  ring[st + 2u] = floatBitsToUint(dn > 0.0 ? wn / dn : 0.0);
  ring[st + 3u] = floatBitsToUint(q);
  ring[st + 4u] = floatBitsToUint(lr * q);
  if (!finite(s[0]) || !finite(s[1]) || !finite(s[2])) {
    atomicOr(ring[base + OPTIM_SLOT_FLAGS], OPTIM_NONFINITE_NORM);
    if (ring[base + OPTIM_SLOT_SKIP] != 0u) atomicOr(state[scratch_word(2u + (t & 1u))], 1u);
  }
}
