/* Division by a divisor d known only at run time, as a multiply-high and a
 * shift, for kernels that split a flat invocation index into coordinates
 * (integer division costs tens of cycles per SIMD lane on CPUs and is slow
 * on GPUs too). Granlund & Montgomery (PLDI 1994), as in CUTLASS's
 * FastDivmod: for d >= 2 with l = ceil(log2 d),
 *   mul = ceil(2^(31+l) / d) (< 2^32), shr = l - 1,
 *   a / d = mulhi(a, mul) >> shr   for every a < 2^31;
 * d = 1 is encoded as mul = 0. The host computes (mul, shr) with
 * vkl_fastdiv_init and passes them in push constants. */
#ifndef VKLARS_FASTDIV_H
#define VKLARS_FASTDIV_H

#ifdef VULKAN
uint fastdiv(uint a, uint mul, uint shr) {
  uint hi, lo;
  umulExtended(a, mul, hi, lo);
  return mul == 0u ? a : hi >> shr;
}
#else
#include <stdint.h>
static inline void vkl_fastdiv_init(uint32_t d, uint32_t *mul, uint32_t *shr) {
  if (d <= 1) {
    *mul = 0;
    *shr = 0;
    return;
  }
  uint32_t l = 0;
  while ((1ull << l) < d) l++;
  *mul = (uint32_t)(((1ull << (31 + l)) + d - 1) / d);
  *shr = l - 1;
}
/* The device's computation, for host-side checks. */
static inline uint32_t vkl_fastdiv(uint32_t a, uint32_t mul, uint32_t shr) {
  return mul ? (uint32_t)(((uint64_t)a * mul) >> 32) >> shr : a;
}
#endif

#endif
