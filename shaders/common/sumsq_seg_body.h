/* The kernel of sumsq_seg.comp and its variants (see sumsq_seg.comp for the
 * method, common/sumsq_seg.h for the tables and the workspace, and
 * common/reduce_sync.h for how the partials cross workgroups). Defines before
 * inclusion: VKL_REDUCE_MM (one dispatch, the last workgroup finishes a
 * segment; else two dispatches, spec `finish`), VKL_REDUCE_SUBGROUP (subgroup
 * arithmetic within the workgroup; else a fixed shared-memory tree). */
#include "sumsq_seg.h"
#include "reduce_sync.h"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) readonly buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer Y4 { vec4 y4[]; };
layout(std430, binding = 2) readonly buffer Seg { uvec2 seg[]; };
layout(std430, binding = 3) readonly buffer Chunks { uvec2 chunks[]; };
layout(std430, binding = 4) REDUCE_WORK buffer Work { uint work[]; };
layout(std430, binding = 5) writeonly buffer OutX { float out_x[]; };
layout(std430, binding = 6) writeonly buffer OutY { float out_y[]; };

shared vec2 part[gl_WorkGroupSize.x];
const uint TILE = VKL_SUMSQ_TILE;
const uint WG = gl_WorkGroupSize.x;

// Both sums below read shared memory in loops only under uniform control flow
// (or fully unrolled): lavapipe (Mesa 22.3) miscompiles a loop of shared loads
// inside a branch under the Vulkan memory model, where every shared access
// carries its own availability or visibility operation.
#define GROUP_SUM_T vec2
#include "group_sum.h"

void write_out(uint s, vec2 total) {
  out_x[s] = total.x;
  if (pair != 0u) out_y[s] = total.y;
}

// The sum of the squares of chunk [b, e) of this invocation's share, x in .x
// and y in .y.
vec2 chunk_squares(uint t, uint b, uint e) {
  // vec4 loads over the 16-byte-aligned middle [b4, e4), scalars for the up to 3
  // elements before it and the up to 3 after it (one invocation each)
  uint b4 = min((b + 3u) & ~3u, e);
  uint e4 = max(e & ~3u, b4);
  // The body's vec4s are split into one contiguous span per tile of TILE
  // invocations; lane l of a tile reads span elements l, l + TILE, ...: each load
  // of a tile covers 8 x 16 = 128 contiguous bytes (a full cache line on GPUs),
  // and a CPU implementation running a tile as one SIMD stream walks memory in
  // order instead of striding by the whole group.
  const uint TILES = WG / TILE;
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
  return acc;
}

// Segment s's result from the partials of its chunks first .. first + nchunks - 1,
// added in chunk order (each invocation a strided serial sum, then group_sum).
void finish_segment(uint t, uint s, uint first, uint nchunks) {
  vec2 acc = vec2(0.0);
  for (uint j = t; j < nchunks; j += WG) {
    uint p = pc.T + 2u * (first + j);
    acc += vec2(uintBitsToFloat(REDUCE_LOAD(work[p])), uintBitsToFloat(REDUCE_LOAD(work[p + 1u])));
  }
  vec2 total = group_sum(t, acc);
  if (t == 0u) write_out(s, total);
}

#ifdef VKL_REDUCE_MM
shared uint last; // 1: this group counted last (a uint: see the MM note)
#endif

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
  uint first = c - ch.y; // the segment's first chunk

  // The second dispatch (recorded only without the memory model, but valid in
  // every variant): each segment's first chunk adds the segment's partials.
  if (finish != 0u) {
    if (ch.y == 0u && nchunks > 1u) finish_segment(t, s, first, nchunks);
    return;
  }

  // this chunk's elements [b, e) of the buffer, cut at n so nothing is read past it
  uint b = sg.x + min(ch.y * pc.chunk, sg.y);
  uint e = min(sg.x + min((ch.y + 1u) * pc.chunk, sg.y), max(pc.n, b));
  vec2 total = group_sum(t, chunk_squares(t, b, e));

  if (nchunks == 1u) {
    if (t == 0u) write_out(s, total);
    return;
  }
  uint p = pc.T + 2u * c;
#ifdef VKL_REDUCE_MM
  if (t == 0u) {
    REDUCE_STORE(work[p], floatBitsToUint(total.x));
    REDUCE_STORE(work[p + 1u], floatBitsToUint(total.y));
    last = REDUCE_ARRIVE(work[s]) == nchunks - 1u ? 1u : 0u; // release our partial, acquire theirs
  }
  REDUCE_SHARE_ACQUIRED(); // `last` and the acquired partials, to every invocation
  if (last != 0u) finish_segment(t, s, first, nchunks);
#else
  if (t == 0u) {
    work[p] = floatBitsToUint(total.x);
    work[p + 1u] = floatBitsToUint(total.y);
  }
#endif
}
