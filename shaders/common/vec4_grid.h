/* The grid of the element-wise kernels (add, scale, fill, relu): each
 * invocation handles VKL_VEC4_PER_INVOCATION vec4s, the k-th at
 *   (group * VKL_VEC4_PER_INVOCATION + k) * group_size + local_index,
 * so consecutive invocations touch consecutive vec4s (coalesced on GPUs),
 * and invocation g < n % 4 also handles float 4 * (n / 4) + g, the scalar
 * tail. A dispatch of vkl_vec4_grid_groups(n, wg) groups covers n floats;
 * a larger grid is harmless (every access is bounds-checked).
 *
 * Why 4 vec4s per invocation: lavapipe (Mesa 22) runs a storage-buffer
 * access as a loop over the 8 SIMD lanes and each 8-lane batch of
 * invocations as a coroutine call, so per-invocation overhead is large; a
 * write-only fill reached 0.86x the GB/s of a same-size vec4 copy (one vec4
 * per invocation) with one vec4 per invocation and 1.16x with four (A/B in
 * one process, 16 MiB, best of 5 interleaved rounds); a scalar tail loop
 * in every invocation instead of one tail element cost 0.14x. On GPUs it
 * is the usual vectorized, coalesced pattern.
 *
 * Vector views: a vec4 view of a binding is valid at any offset the device
 * accepts (minStorageBufferOffsetAlignment), and covers floor(size / 16)
 * vec4s; the tail is read and written through a float view of the same
 * binding. */
#ifndef VKLARS_VEC4_GRID_H
#define VKLARS_VEC4_GRID_H

#define VKL_VEC4_PER_INVOCATION 4

#ifdef VULKAN
/* Index of this invocation's k-th vec4. */
uint vec4_grid_index(uint k) {
  return (gl_WorkGroupID.x * VKL_VEC4_PER_INVOCATION + k) * gl_WorkGroupSize.x +
         gl_LocalInvocationID.x;
}
/* Float index of this invocation's tail element; valid when < n. */
uint vec4_grid_tail(uint n) {
  uint g = gl_GlobalInvocationID.x;
  return g < (n & 3u) ? (n & ~3u) + g : n;
}
#else
#include <stdint.h>
/* Groups of wg invocations that cover n floats (at least one, for the tail). */
static inline uint32_t vkl_vec4_grid_groups(uint64_t n, uint32_t wg) {
  uint64_t per_group = 4ull * VKL_VEC4_PER_INVOCATION * wg;
  uint64_t g = (n + per_group - 1) / per_group;
  return g ? (uint32_t)g : 1u;
}
#endif

#endif
