#version 450
// Segmented sums of squares, one dispatch: out_x[s] = ||x_s||^2 (and
// out_y[s] = ||y_s||^2 when pair = 1) for every segment s = (offset, count)
// of a tensor list. See common/sumsq_seg.h for the tables and the workspace.
//
// Workgroup c reduces chunk c, the elements [i*chunk, (i+1)*chunk) of its
// segment (i = the chunk's index within the segment): invocation t sums the
// squares of elements t, t + WG, t + 2 WG, ... in that order, then a
// shared-memory tree adds the WG sums. A segment of one chunk writes its
// result at once. Otherwise each group stores its partial and counts itself
// on the segment's counter; the group that counts last adds the segment's
// partials in chunk order (the same tree), so the result never depends on
// which group finishes last: fixed order, bit-identical run to run.
//
// Memory model (core Vulkan 1.2 without the vulkanMemoryModel feature, which
// the runtime does not enable): the workspace is `coherent`, so its stores
// and loads bypass incoherent caches at device scope; each group's invocation
// 0 stores the partial, then memoryBarrierBuffer() (a device-scope release
// fence) orders it before the atomicAdd on the counter. The last group's
// invocation 0 sees the final count, fences again (acquire), shares the
// verdict through shared memory and barrier(), and every invocation fences
// once more before loading partials. This is the classic "last block"
// reduction (CUDA threadFenceReduction, FidelityFX SPD).
#include "sumsq_seg.h"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Y { float y[]; };
layout(std430, binding = 2) readonly buffer Seg { uvec2 seg[]; };
layout(std430, binding = 3) readonly buffer Chunks { uvec2 chunks[]; };
layout(std430, binding = 4) coherent buffer Work { uint work[]; };
layout(std430, binding = 5) writeonly buffer OutX { float out_x[]; };
layout(std430, binding = 6) writeonly buffer OutY { float out_y[]; };

shared vec2 part[gl_WorkGroupSize.x];
shared bool last;

// Adds part[0..WG) into part[0] in a fixed tree; every invocation calls it.
void tree_sum(uint t) {
  for (uint stride = gl_WorkGroupSize.x / 2; stride > 0; stride >>= 1) {
    barrier(); // part[t + stride] written before it is read (RAW in shared)
    if (t < stride) part[t] += part[t + stride];
  }
  barrier(); // part[0] complete before invocation 0 or anyone reads it
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint c = gl_WorkGroupID.x;
  uvec2 ch = chunks[c];
  uint s = ch.x;
  uvec2 sg = seg[s];
  uint begin = ch.y * pc.chunk;
  uint len = sg.y > begin ? min(pc.chunk, sg.y - begin) : 0u;
  uint base = sg.x + begin;
  // never read past the bound range, whatever the tables say
  uint avail = pc.n > base ? pc.n - base : 0u;
  len = min(len, avail);
  uint nchunks = max(1u, (sg.y + pc.chunk - 1u) / pc.chunk);

  vec2 acc = vec2(0.0);
  for (uint j = t; j < len; j += gl_WorkGroupSize.x) {
    float a = x[base + j];
    acc.x += a * a;
    if (pair != 0u) {
      float b = y[base + j];
      acc.y += b * b;
    }
  }
  part[t] = acc;
  tree_sum(t);

  if (nchunks == 1u) {
    if (t == 0u) {
      out_x[s] = part[0].x;
      if (pair != 0u) out_y[s] = part[0].y;
    }
    return;
  }

  uint first = c - ch.y; // the segment's first chunk
  if (t == 0u) {
    uint p = pc.T + 2u * c;
    work[p] = floatBitsToUint(part[0].x);
    work[p + 1u] = floatBitsToUint(part[0].y);
    memoryBarrierBuffer(); // release: the partial before the count
    last = atomicAdd(work[s], 1u) == nchunks - 1u;
    memoryBarrierBuffer(); // acquire: the other groups' partials after the count
  }
  barrier(); // `last` written by invocation 0 before all read it
  if (!last) return;
  memoryBarrierBuffer(); // acquire for every invocation of the last group

  acc = vec2(0.0);
  for (uint j = t; j < nchunks; j += gl_WorkGroupSize.x) {
    uint p = pc.T + 2u * (first + j);
    acc += vec2(uintBitsToFloat(work[p]), uintBitsToFloat(work[p + 1u]));
  }
  part[t] = acc;
  tree_sum(t);
  if (t == 0u) {
    out_x[s] = part[0].x;
    if (pair != 0u) out_y[s] = part[0].y;
  }
}
