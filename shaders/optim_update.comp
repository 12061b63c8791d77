#version 450
// Second half of the fused optimizer step: each workgroup sums its tensor's
// chunk partials (fixed order), forms the trust ratio (PAPER.md: LARS,
// TVLARS, LAMB; src/optim/optim_ref.c is the reference) and updates its
// chunk of w, m and v. The tensor's first chunk writes the step's
// statistics (LWN, LGN, LNR, trust ratio, effective lr) to the ring slot;
// workgroup 0 advances the step cursor.
#include "optim.h"
#include "optim_common.glsl"

shared float red[OPTIM_PARTIALS][gl_WorkGroupSize.x];
shared uint bad;
shared float shared_q;

float clamp_norm(float x, float c) { return c > 0.0 ? min(x, c) : x; }

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
  uint c = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
  if (c >= pc.chunk_count) return; // whole workgroup: barriers stay uniform
  uint tensor = tables[chunk_word(c, 0)];
  uint start = tables[chunk_word(c, 1)], count = tables[chunk_word(c, 2)];
  uint first = tables[tensor_word(tensor, 0)], nchunks = tables[tensor_word(tensor, 1)];
  bool excluded = (tables[tensor_word(tensor, 2)] & OPTIM_TENSOR_EXCLUDED) != 0u;
  float wd = excluded ? 0.0 : pc.weight_decay;
  uint t = state[1], slot = t % ring_slots, base = slot * pc.slot_words;
  float lr = ring_float(slot, OPTIM_SLOT_LR), phi = ring_float(slot, OPTIM_SLOT_PHI);
  float c1 = ring_float(slot, OPTIM_SLOT_C1), c2 = ring_float(slot, OPTIM_SLOT_C2);

  // 1. the tensor's sums, over its chunks in order
  float sw = 0.0, sd = 0.0, sg = 0.0;
  for (uint k = lid; k < nchunks; k += wg) {
    uint p = OPTIM_PARTIALS * (first + k);
    sw += partials[p];
    sd += partials[p + 1u];
    sg += partials[p + 2u];
  }
  red[0][lid] = sw;
  red[1][lid] = sd;
  red[2][lid] = sg;
  barrier();
  // 2. invocation 0 adds them in order (one barrier instead of a tree's
  //    log2(wg); see optim_norms.comp) and forms the trust ratio q (1
  //    without adaptation, for excluded tensors, or when a norm is 0)
  if (lid == 0u) {
    float tot[OPTIM_PARTIALS] = float[](0.0, 0.0, 0.0);
    for (uint k = 0; k < wg; k++)
      for (uint p = 0; p < OPTIM_PARTIALS; p++) tot[p] += red[p][k];
    float wn = sqrt(tot[0]), dn = sqrt(tot[1]), gn = sqrt(tot[2]);
    float q = 1.0;
    if ((pc.flags & OPTIM_ADAPT) != 0u && !excluded) {
      if (mode == OPTIM_MODE_MOMENTUM) {
        float wc = clamp_norm(wn, pc.norm_clamp);
        float den = (pc.flags & OPTIM_SUM_OF_NORMS) != 0u
                        ? clamp_norm(gn, pc.norm_clamp) + wd * wc + pc.lars_eps
                        : clamp_norm(dn, pc.norm_clamp);
        q = wc > 0.0 && den > 0.0 ? pc.eta * phi * wc / den : 1.0;
        if ((pc.flags & OPTIM_LARC) != 0u) q = lr > 0.0 ? min(q / lr, 1.0) : 1.0;
      } else {
        float wc = clamp_norm(wn, pc.lamb_clamp_w);
        q = wc > 0.0 && dn > 0.0 ? wc / dn : 1.0;
        if (pc.trust_clip > 0.0) q = min(q, pc.trust_clip);
      }
    }
    shared_q = q;
    bad = 0u;
    if (c == first) {
      uint s = base + OPTIM_SLOT_HEADER + OPTIM_STAT_FLOATS * tensor;
      ring[s + 0u] = floatBitsToUint(wn);
      ring[s + 1u] = floatBitsToUint(dn);
      ring[s + 2u] = floatBitsToUint(dn > 0.0 ? wn / dn : 0.0);
      ring[s + 3u] = floatBitsToUint(q);
      ring[s + 4u] = floatBitsToUint(lr * q);
    }
  }
  barrier();
  float q = shared_q;

  // 3. the update of this chunk
  bool skip = ring[base + OPTIM_SLOT_SKIP] != 0u &&
              (ring[base + OPTIM_SLOT_FLAGS] & OPTIM_NONFINITE_NORM) != 0u;
  uint s4 = start / 4u, full = skip ? 0u : count / 4u, rem = skip ? 0u : count % 4u;
  bool ok = true; // checked once after the loop: no branch per element
  for (uint k = lid; k < full; k += wg) {
    uint i = s4 + k;
    vec4 mi = m[i], vi = mode == OPTIM_MODE_ADAM ? v[i] : vec4(0.0), nm, nv;
    vec4 nw = step4(w[i], g[i], mi, vi, q, wd, lr, c1, c2, nm, nv);
    w[i] = nw;
    m[i] = nm;
    if (mode == OPTIM_MODE_ADAM) v[i] = nv;
    ok = ok && finite4(nw);
  }
  if (rem != 0u && lid == 0u) { // the tail, element by element
    uint i = s4 + full;
    vec4 nm, nv;
    vec4 nw = step4(load_tail(0u, i, rem), load_tail(1u, i, rem), load_tail(2u, i, rem),
                    mode == OPTIM_MODE_ADAM ? load_tail(3u, i, rem) : vec4(0.0), q, wd, lr, c1,
                    c2, nm, nv);
    for (uint e = 0u; e < rem; e++) {
      w[i][e] = nw[e];
      m[i][e] = nm[e];
      if (mode == OPTIM_MODE_ADAM) v[i][e] = nv[e];
      ok = ok && finite(nw[e]);
    }
  }
  if (!ok) atomicOr(bad, 1u);
  barrier();
  if (lid != 0u) return;
  if (bad != 0u) atomicOr(ring[base + OPTIM_SLOT_FLAGS], OPTIM_NONFINITE_UPDATE);
  if (c == 0u) state[0] = t + 1u; // nothing in this dispatch reads state[0]
}
