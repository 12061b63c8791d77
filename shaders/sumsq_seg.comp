#version 450
// Segmented sums of squares, one dispatch: out_x[s] = ||x_s||^2 (and
// out_y[s] = ||y_s||^2 when pair = 1) for every segment s = (offset, count)
// of a tensor list. See common/sumsq_seg.h for the tables and the workspace.
//
// Workgroup c reduces chunk c, the elements [i*chunk, (i+1)*chunk) of its
// segment (i = the chunk's index within the segment): vec4 loads over the
// chunk's 16-byte-aligned middle, split into one contiguous span per tile of
// TILE invocations, scalar loads for the up to 3 elements at each end; each
// invocation adds its values in a fixed order, then a fixed two-level
// shared-memory sum adds the invocations. A segment of one chunk writes its
// result at once. Otherwise each group stores its partial and counts itself
// on the segment's counter; the group that counts last adds the segment's
// partials in chunk order (the same fixed sum), so the result never depends on
// which group finishes last: bit-identical run to run.
//
// On lavapipe barriers are costly (a workgroup with barriers runs as
// coroutines): 8 tree levels cost more than the loads, hence fan-in 16, 64
// invocations and 16384-element chunks (measured; see common/sumsq_seg.h).
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
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) readonly buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer Y4 { vec4 y4[]; };
layout(std430, binding = 2) readonly buffer Seg { uvec2 seg[]; };
layout(std430, binding = 3) readonly buffer Chunks { uvec2 chunks[]; };
layout(std430, binding = 4) coherent buffer Work { uint work[]; };
layout(std430, binding = 5) writeonly buffer OutX { float out_x[]; };
layout(std430, binding = 6) writeonly buffer OutY { float out_y[]; };

shared vec2 part[gl_WorkGroupSize.x];
const uint TILE = VKL_SUMSQ_TILE;
shared bool last;

// Adds part[0..WG) into part[0] in a fixed order; every invocation calls it.
// Fan-in 16 per level (WG <= 256: two levels): few barriers, which cost much more
// than shared-memory additions on CPU implementations, and short serial sums.
void tree_sum(uint t) {
  barrier(); // part[] written (RAW in shared)
  if (t < gl_WorkGroupSize.x / 16u) {
    vec2 z = part[16u * t];
    for (uint k = 1u; k < 16u; k++) z += part[16u * t + k];
    part[16u * t] = z;
  }
  barrier(); // the level's sums written
  if (t == 0u) {
    vec2 z = part[0];
    for (uint k = 16u; k < gl_WorkGroupSize.x; k += 16u) z += part[k];
    part[0] = z;
  }
  barrier(); // part[0] complete before anyone reads it
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint c = gl_WorkGroupID.x;
  uvec2 ch = chunks[c];
  uint s = ch.x;
  // a table that does not match the segments is ignored, never followed out of range
  if (s >= pc.T || ch.y > c) return;
  uvec2 sg = seg[s];
  uint nchunks = max(1u, (sg.y + pc.chunk - 1u) / pc.chunk);
  if (c - ch.y + nchunks > pc.chunks) return;
  // this chunk's elements [b, e) of the buffer, cut at n so nothing is read past it
  uint b = sg.x + min(ch.y * pc.chunk, sg.y);
  uint e = min(sg.x + min((ch.y + 1u) * pc.chunk, sg.y), max(pc.n, b));

  // vec4 loads over the 16-byte-aligned middle [b4, e4), scalars for the up to 3
  // elements before it and the up to 3 after it (one invocation each)
  uint b4 = min((b + 3u) & ~3u, e);
  uint e4 = max(e & ~3u, b4);
  // The body's vec4s are split into one contiguous span per tile of TILE
  // invocations; lane l of a tile reads span elements l, l + TILE, ...: each load
  // of a tile covers 8 x 16 = 128 contiguous bytes (a full cache line on GPUs),
  // and a CPU implementation running a tile as one SIMD stream walks memory in
  // order instead of striding by the whole group.
  const uint TILES = gl_WorkGroupSize.x / TILE;
  uint nv = e4 / 4u - b4 / 4u;
  uint span = ((nv + TILES - 1u) / TILES + TILE - 1u) / TILE * TILE;
  uint tile = t / TILE, lane = t % TILE;
  uint j = b4 / 4u + min(tile * span, nv) + lane;
  uint je = b4 / 4u + min(tile * span + span, nv);
  vec2 acc = vec2(0.0);
  for (; j + 3u * TILE < je; j += 4u * TILE) {
    vec4 a0 = x4[j], a1 = x4[j + TILE], a2 = x4[j + 2u * TILE], a3 = x4[j + 3u * TILE];
    acc.x += (dot(a0, a0) + dot(a1, a1)) + (dot(a2, a2) + dot(a3, a3));
    if (pair != 0u) {
      vec4 c0 = y4[j], c1 = y4[j + TILE], c2 = y4[j + 2u * TILE], c3 = y4[j + 3u * TILE];
      acc.y += (dot(c0, c0) + dot(c1, c1)) + (dot(c2, c2) + dot(c3, c3));
    }
  }
  for (; j < je; j += TILE) {
    vec4 a = x4[j];
    acc.x += dot(a, a);
    if (pair != 0u) {
      vec4 c4 = y4[j];
      acc.y += dot(c4, c4);
    }
  }
  uint i = t < 4u ? b + t : e4 + t - 4u; // invocations 0-3 the head, 4-7 the tail
  if (t < 8u && (t < 4u ? i < b4 : i < e)) {
    float a = x[i];
    acc.x += a * a;
    if (pair != 0u) {
      float c1 = y[i];
      acc.y += c1 * c1;
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
