// Shared by optim_norms.comp and optim_update.comp: bindings and helpers.
// Include after "optim.h". Parameters, gradients and moments are read as
// vec4s (tensors start on 4-float boundaries); a chunk of `count` elements
// from `start` is count/4 whole vec4s and a tail of count%4 elements, read
// and written element by element since the rest of that vec4 belongs to
// another tensor.
#include "reduce_sync.h"

layout(std430, binding = 0) buffer W { vec4 w[]; };
layout(std430, binding = 1) buffer G { vec4 g[]; }; // the Adam family's norms leave u here
layout(std430, binding = 2) buffer M { vec4 m[]; };
layout(std430, binding = 3) buffer V { vec4 v[]; };
// optim_norms' chunk partials and counters live here (REDUCE_WORK: common/reduce_sync.h)
layout(std430, binding = 4) REDUCE_WORK buffer State { uint state[]; };
layout(std430, binding = 5) buffer M1 { vec4 m1[]; };
layout(std430, binding = 6) buffer Ring { uint ring[]; };
layout(std430, binding = 7) buffer V1 { vec4 v1[]; };

// The state buffer: tables, then scratch words, then coefficients (optim.h).
uint scratch_word(uint k) {
  return OPTIM_ENTRY_UINTS * (pc.tensor_count + pc.norm_chunks + pc.update_chunks) + k;
}
uint counter_word(uint t) { return scratch_word(OPTIM_STATE_UINTS + t); }
uint partial_word(uint c) { return scratch_word(OPTIM_STATE_UINTS + pc.tensor_count + OPTIM_PARTIALS * c); }
uint coeff_word(uint t) {
  return scratch_word(OPTIM_STATE_UINTS + pc.tensor_count + OPTIM_PARTIALS * pc.norm_chunks +
                      OPTIM_COEFF_UINTS * t);
}

uvec4 table_entry(uint e) {
  uint b = OPTIM_ENTRY_UINTS * e;
  return uvec4(state[b], state[b + 1u], state[b + 2u], state[b + 3u]);
}
uvec4 tensor_entry(uint t) { return table_entry(t); }
uvec4 norm_chunk(uint c) { return table_entry(pc.tensor_count + c); }
uvec4 update_chunk(uint c) { return table_entry(pc.tensor_count + pc.norm_chunks + c); }

// Invocations that walk a run of vec4s together (see `contiguous`).
const uint run_group = contiguous != 0u ? OPTIM_LANES : OPTIM_WG;
// The r-th of `per` vec4s of invocation lid in a chunk: each group of
// run_group consecutive invocations owns a contiguous run of per*run_group
// vec4s, its lanes taking consecutive vec4s, one row of them at a time.
uint run_vec4(uint lid, uint r, uint per) {
  return (lid / run_group) * (per * run_group) + r * run_group + lid % run_group;
}
// Whether invocation lid owns the chunk's tail vec4 (index `full`).
bool owns_tail(uint lid, uint full, uint per) {
  uint q = full / (per * run_group);
  return q < OPTIM_WG / run_group && lid == q * run_group + full % run_group;
}

float ring_float(uint slot, uint k) { return uintBitsToFloat(ring[slot * pc.slot_words + k]); }

bool finite(float x) { return !isnan(x) && !isinf(x); }
bool finite4(vec4 x) { return !any(isnan(x)) && !any(isinf(x)); }

// The first n components of a[i], zeros after (a: w, g, m, v, m1, v1 by `which`).
vec4 load_tail(uint which, uint i, uint n) {
  vec4 r = vec4(0.0);
  for (uint c = 0u; c < n; c++)
    r[c] = which == 0u   ? w[i][c]
           : which == 1u ? g[i][c]
           : which == 2u ? m[i][c]
           : which == 3u ? v[i][c]
           : which == 4u ? m1[i][c]
                         : v1[i][c];
  return r;
}

// The direction whose norm the trust ratio divides by: momentum family
// d = g + wd*w; Adam family u = mhat/(sqrt(vhat)+eps) (+ wd*w), with the
// updated moments returned in nm, nv (unused in the momentum family).
vec4 direction(vec4 wi, vec4 gi, vec4 mi, vec4 vi, float wd, float c1, float c2, out vec4 nm,
               out vec4 nv) {
  if (mode == OPTIM_MODE_MOMENTUM) {
    nm = vec4(0.0);
    nv = vec4(0.0);
    return gi + wd * wi;
  }
  bool decoupled = (pc.flags & OPTIM_DECOUPLED) != 0u;
  vec4 gg = decoupled ? gi : gi + wd * wi;
  nm = pc.beta1 * mi + (1.0 - pc.beta1) * gg;
  nv = pc.beta2 * vi + (1.0 - pc.beta2) * gg * gg;
  return (nm / c1) / (sqrt(nv / c2) + pc.eps) + (decoupled ? wd * wi : vec4(0.0));
}
