// Shared by optim_norms.comp and optim_update.comp: bindings and helpers.
// Include after "optim.h".

// Parameters, gradients and moments are read as vec4 (tensors start on
// 4-float boundaries): a quarter of the loads and stores of a scalar loop,
// which lets the step run near copy bandwidth. A chunk of `count` elements
// from `start` is count/4 whole vec4s and a tail of count%4 elements.
layout(std430, binding = 0) buffer W { vec4 w[]; };
layout(std430, binding = 1) readonly buffer G { vec4 g[]; };
layout(std430, binding = 2) buffer M { vec4 m[]; };
layout(std430, binding = 3) buffer V { vec4 v[]; };
layout(std430, binding = 4) readonly buffer Tables { uint tables[]; };
layout(std430, binding = 5) buffer Scratch { uint state[OPTIM_STATE_UINTS]; float partials[]; };
layout(std430, binding = 6) buffer Ring { uint ring[]; };

uint chunk_word(uint c, uint k) {
  return OPTIM_TENSOR_UINTS * pc.tensor_count + OPTIM_CHUNK_UINTS * c + k;
}
uint tensor_word(uint t, uint k) { return OPTIM_TENSOR_UINTS * t + k; }

float ring_float(uint slot, uint k) { return uintBitsToFloat(ring[slot * pc.slot_words + k]); }

bool finite(float x) { return !isnan(x) && !isinf(x); }
bool finite4(vec4 x) { return !any(isnan(x)) && !any(isinf(x)); }

// The first n components of a[i], zeros after: element reads only, since
// the other components belong to another tensor that another workgroup
// may be writing.
vec4 load_tail(uint which, uint i, uint n) {
  vec4 r = vec4(0.0);
  for (uint c = 0u; c < n; c++)
    r[c] = which == 0u ? w[i][c] : which == 1u ? g[i][c] : which == 2u ? m[i][c] : v[i][c];
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
