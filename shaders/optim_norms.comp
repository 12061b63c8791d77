#version 450
// First half of the fused optimizer step. Each workgroup sums w^2, d^2 and
// g^2 over one norm chunk (d is the direction the trust ratio divides by:
// momentum family d = g + wd*w; Adam family u, formed from the moments
// without writing them); the last workgroup of a tensor to finish (an
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

// Adds vec4 i's w^2, d^2 and g^2 to the running sums.
void add_squares(uint i, float wd, float c1, float c2, inout vec4 sw, inout vec4 sd,
                 inout vec4 sg) {
  bool adam = mode == OPTIM_MODE_ADAM;
  vec4 wi = w[i], gi = g[i], nm, nv;
  vec4 d = direction(wi, gi, adam ? m[i] : vec4(0.0), adam ? v[i] : vec4(0.0), wd, c1, c2, nm, nv);
  sw += wi * wi;
  sd += d * d;
  sg += gi * gi;
}

void main() {
  uint c = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x;
  if (c >= pc.norm_chunks) return; // whole workgroup: the barrier stays uniform
  uvec4 chunk = norm_chunk(c);
  uint tensor = chunk.x;
  uvec4 entry = tensor_entry(tensor);
  bool excluded = (entry.z & OPTIM_TENSOR_EXCLUDED) != 0u;
  float wd = excluded ? 0.0 : pc.weight_decay;
  uint t = scratch[0], slot = t % ring_slots;
  float c1 = ring_float(slot, OPTIM_SLOT_C1), c2 = ring_float(slot, OPTIM_SLOT_C2);
  bool adam = mode == OPTIM_MODE_ADAM;

  // each invocation OPTIM_NORM_VEC4S vec4s (see `contiguous`); the tail by its owner
  uint s4 = chunk.y / 4u, full = chunk.z / 4u, rem = chunk.z % 4u;
  vec4 sw = vec4(0.0), sd = vec4(0.0), sg = vec4(0.0), nm, nv;
  for (uint r = 0u; r < OPTIM_NORM_VEC4S; r++) {
    uint k = run_vec4(lid, r, OPTIM_NORM_VEC4S);
    if (k < full) add_squares(s4 + k, wd, c1, c2, sw, sd, sg);
  }
  if (rem != 0u && owns_tail(lid, full, OPTIM_NORM_VEC4S)) {
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
  if (lid != 0u) return; // invocation 0 adds in order: one barrier, not a tree's eight
  float tot[OPTIM_PARTIALS] = float[](0.0, 0.0, 0.0);
  for (uint k = 0u; k < OPTIM_WG; k++)
    for (uint p = 0u; p < OPTIM_PARTIALS; p++) tot[p] += red[p][k];
  for (uint p = 0u; p < OPTIM_PARTIALS; p++) scratch[partial_word(chunk.w) + p] = floatBitsToUint(tot[p]);
  if (c == 0u) scratch[1] = t; // the update reads t here while it advances scratch[0]

  // the tensor's last chunk to finish forms its coefficients
  memoryBarrierBuffer(); // our partials before the counter
  if (atomicAdd(scratch[counter_word(tensor)], 1u) + 1u != entry.y) return;
  memoryBarrierBuffer(); // everyone's partials after it
  scratch[counter_word(tensor)] = 0u; // ready for the next step
  float s[OPTIM_PARTIALS] = float[](0.0, 0.0, 0.0);
  for (uint k = 0u; k < entry.y; k++)
    for (uint p = 0u; p < OPTIM_PARTIALS; p++)
      s[p] += uintBitsToFloat(scratch[partial_word(entry.x + k) + p]);
  float wn = sqrt(s[0]), dn = sqrt(s[1]), gn = sqrt(s[2]);
  uint base = slot * pc.slot_words;
  float lr = ring_float(slot, OPTIM_SLOT_LR), phi = ring_float(slot, OPTIM_SLOT_PHI);
  float q = trust_ratio(wn, dn, gn, wd, excluded, lr, phi);
  coeffs[2u * tensor] = vec4(q, wd, lr, 0.0);
  coeffs[2u * tensor + 1u] = vec4(c1, c2, 0.0, 0.0);
  uint st = base + OPTIM_SLOT_HEADER + OPTIM_STAT_FLOATS * tensor;
  ring[st + 0u] = floatBitsToUint(wn);
  ring[st + 1u] = floatBitsToUint(dn);
  ring[st + 2u] = floatBitsToUint(dn > 0.0 ? wn / dn : 0.0);
  ring[st + 3u] = floatBitsToUint(q);
  ring[st + 4u] = floatBitsToUint(lr * q);
  if (!finite(s[0]) || !finite(s[1]) || !finite(s[2])) {
    atomicOr(ring[base + OPTIM_SLOT_FLAGS], OPTIM_NONFINITE_NORM);
    if (ring[base + OPTIM_SLOT_SKIP] != 0u) atomicOr(scratch[2u + (t & 1u)], 1u);
  }
}
