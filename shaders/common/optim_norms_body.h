/* The kernel of optim_norms.comp and its variants (see optim_norms.comp for
 * the method, optim.h for the buffers and the state words, and reduce_sync.h
 * for how the chunks' partials cross workgroups). Defines before inclusion:
 * VKL_REDUCE_MM (one dispatch: the last workgroup of a tensor finishes it;
 * else a second dispatch, spec `finish`), VKL_REDUCE_SUBGROUP (subgroup
 * arithmetic within the workgroup; else a fixed shared-memory tree). */
#define OPTIM_NORMS_KERNEL /* optim.h: this kernel's constants, with `finish` */
#include "optim.h"
#include "optim_common.glsl"

const uint WG = OPTIM_WG;
shared vec3 part[OPTIM_WG]; // (sum w^2, sum d^2, sum g^2) per invocation or subgroup

// Both sums below read shared memory in loops only under uniform control flow
// (or fully unrolled): lavapipe (Mesa 22.3) miscompiles a loop of shared loads
// inside a branch under the Vulkan memory model (common/reduce_sync.h).
#define GROUP_SUM_T vec3
#include "group_sum.h"

float clamp_norm(float x, float c) { return c > 0.0 ? min(x, c) : x; }

// q: excluded tensors the constant excluded_lr_scale; 1 without adaptation
// or when a norm is 0.
float trust_ratio(float wn, float dn, float gn, float wd, bool excluded, float lr, float phi) {
  if (excluded) return pc.excluded_lr_scale;
  if ((pc.flags & OPTIM_ADAPT) == 0u) return 1.0;
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

// A tensor's (sum w^2, sum d^2, sum g^2) from the partials of its chunks
// entry.x .. entry.x + entry.y - 1, in chunk order: each invocation a strided
// serial sum, then group_sum. The whole workgroup calls it.
vec3 sum_partials(uint lid, uvec4 entry) {
  vec3 acc = vec3(0.0);
  for (uint k = lid; k < entry.y; k += WG) {
    uint p = partial_word(entry.x + k);
    acc += vec3(uintBitsToFloat(REDUCE_LOAD(state[p])), uintBitsToFloat(REDUCE_LOAD(state[p + 1u])),
                uintBitsToFloat(REDUCE_LOAD(state[p + 2u])));
  }
  return group_sum(lid, acc);
}

// Tensor `tensor`'s trust ratio and coefficients for the update, and the
// step's statistics, from its sums s (one invocation).
void finish_tensor(uint tensor, uvec4 entry, vec3 s) {
  bool excluded = (entry.z & OPTIM_TENSOR_EXCLUDED) != 0u;
  float wd = excluded ? 0.0 : pc.weight_decay;
  uint t = state[scratch_word(0u)], slot = t % ring_slots; // the update advances it later
  float wn = sqrt(s.x), dn = sqrt(s.y), gn = sqrt(s.z);
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
  if (!finite(s.x) || !finite(s.y) || !finite(s.z)) {
    atomicOr(ring[base + OPTIM_SLOT_FLAGS], OPTIM_NONFINITE_NORM);
    if (ring[base + OPTIM_SLOT_SKIP] != 0u) atomicOr(state[scratch_word(2u + (t & 1u))], 1u);
  }
}

#ifdef VKL_REDUCE_MM
shared uint last; // 1: this group counted last on its tensor (a uint: see reduce_sync.h)
#endif

void main() {
  uint c = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x;
  // The second dispatch (recorded only without the memory model, but valid in
  // every variant): workgroup c adds tensor c's partials, if it has several.
  if (finish != 0u) {
    if (c >= pc.tensor_count) return; // whole workgroup: the barriers stay uniform
    uvec4 entry = tensor_entry(c);
    if (entry.y < 2u) return; // the first dispatch finished it
    vec3 s = sum_partials(lid, entry);
    if (lid == 0u) finish_tensor(c, entry, s);
    return;
  }
  if (c >= pc.norm_chunks) return; // whole workgroup: the barriers stay uniform
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
  vec3 total = group_sum(lid, vec3(dot(sw, one), dot(sd, one), dot(sg, one)));
  if (c == 0u && lid == 0u) state[scratch_word(1u)] = t; // the update reads t here while it advances word 0

  if (entry.y == 1u) { // a tensor of one chunk: its sums are complete
    if (lid == 0u) finish_tensor(tensor, entry, total);
    return;
  }
  uint p = partial_word(chunk.w);
#ifdef VKL_REDUCE_MM
  if (lid == 0u) {
    REDUCE_STORE(state[p], floatBitsToUint(total.x));
    REDUCE_STORE(state[p + 1u], floatBitsToUint(total.y));
    REDUCE_STORE(state[p + 2u], floatBitsToUint(total.z));
    // release our partials, acquire those of the groups that counted before us
    last = REDUCE_ARRIVE(state[counter_word(tensor)]) == entry.y - 1u ? 1u : 0u;
  }
  REDUCE_SHARE_ACQUIRED(); // `last` and the acquired partials, to every invocation
  if (last != 0u) { // uniform: every invocation read the same `last`
    vec3 s = sum_partials(lid, entry);
    if (lid == 0u) {
      // every other group's arrival happens-before this (it acquired them all)
      REDUCE_STORE(state[counter_word(tensor)], 0u); // ready for the next step
      finish_tensor(tensor, entry, s);
    }
  }
#else
  if (lid == 0u) {
    state[p] = floatBitsToUint(total.x);
    state[p + 1u] = floatBitsToUint(total.y);
    state[p + 2u] = floatBitsToUint(total.z);
  }
#endif
}
