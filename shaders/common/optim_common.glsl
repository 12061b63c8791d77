// Shared by optim_norms.comp and optim_update.comp: bindings and helpers.
// Include after "optim.h".

layout(std430, binding = 0) buffer W { float w[]; };
layout(std430, binding = 1) readonly buffer G { float g[]; };
layout(std430, binding = 2) buffer M { float m[]; };
layout(std430, binding = 3) buffer V { float v[]; };
layout(std430, binding = 4) readonly buffer Tables { uint tables[]; };
layout(std430, binding = 5) buffer Scratch { uint state[OPTIM_STATE_UINTS]; float partials[]; };
layout(std430, binding = 6) buffer Ring { uint ring[]; };

uint chunk_word(uint c, uint k) {
  return OPTIM_TENSOR_UINTS * pc.tensor_count + OPTIM_CHUNK_UINTS * c + k;
}
uint tensor_word(uint t, uint k) { return OPTIM_TENSOR_UINTS * t + k; }

float ring_float(uint slot, uint k) { return uintBitsToFloat(ring[slot * pc.slot_words + k]); }

bool finite(float x) { return !isnan(x) && !isinf(x); }

// The direction whose norm the trust ratio divides by, for one element:
// momentum family d = g + wd*w; Adam family u = mhat/(sqrt(vhat)+eps) (+ wd*w).
// new_m and new_v return the updated moments (Adam) for the update kernel.
float direction(uint i, float wd, float c1, float c2, out float new_m, out float new_v) {
  float wi = w[i], gi = g[i];
  if (mode == OPTIM_MODE_MOMENTUM) {
    new_m = 0.0;
    new_v = 0.0;
    return gi + wd * wi;
  }
  bool decoupled = (pc.flags & OPTIM_DECOUPLED) != 0u;
  float gg = decoupled ? gi : gi + wd * wi;
  new_m = pc.beta1 * m[i] + (1.0 - pc.beta1) * gg;
  new_v = pc.beta2 * v[i] + (1.0 - pc.beta2) * gg * gg;
  return (new_m / c1) / (sqrt(new_v / c2) + pc.eps) + (decoupled ? wd * wi : 0.0);
}
