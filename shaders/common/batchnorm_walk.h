/* GLSL helpers of the batchnorm kernels that walk the (N,C,H,W) tensor: the
 * element type and the thread geometry of batchnorm_iface.h. The including
 * kernel defines BN_VEC (1 or 4) first. */
#ifndef VKLARS_BATCHNORM_WALK_H
#define VKLARS_BATCHNORM_WALK_H
#include "batchnorm_iface.h"

#include "batchnorm_vec.h"

VKL_SPEC_LOCAL_X(0, wg_size)

struct bn_thread {
  uint c;     /* channel */
  bool valid; /* c < C */
  uint i0;    /* the thread's units i0, i0 + step, ... < i1 of each plane */
  uint i1;
  uint n;     /* first sample */
  uint n1;    /* end of the chunk's samples */
  uint e;     /* entry of this thread's partial (see batchnorm_iface.h) */
};

/* Decodes the thread's place with shifts and masks: integer division is
 * slow on CPU implementations (lavapipe scalarises it). */
bn_thread bn_thread_get() {
  bn_thread th;
  uint t = gl_LocalInvocationID.x;
  uint si = t & (pc.tpc_i - 1u);
  th.i0 = si * pc.seg_start;
  th.i1 = max(th.i0, min(th.i0 + pc.seg_len, pc.HWu)); /* empty past the plane's end */
  uint r = t >> pc.log2_tpc_i;
  uint sn = r >> pc.log2_cb;
  th.c = gl_WorkGroupID.x * pc.cb + (r & (pc.cb - 1u));
  th.valid = th.c < pc.C;
  uint n0 = gl_WorkGroupID.y * pc.nb;
  th.n = n0 + sn;
  th.n1 = min(pc.N, n0 + pc.nb);
  th.e = (gl_WorkGroupID.y * pc.tpc_n + sn) * pc.tpc_i + si;
  return th;
}

/* Index of the plane of sample n, channel c, in units. */
uint bn_plane(uint n, uint c) {
  return (n * pc.C + c) * pc.HWu;
}

/* Runs BN_UNIT(j), which the kernel defines, for the index j (in units) of
 * every unit of the thread, in order. On lavapipe each loop costs about as
 * much as a few buffer accesses, and a stride read from the push constants
 * 10% more than a constant one: segmented layouts step by a constant 1, and
 * 4-unit segments (4x4 planes) run without an inner loop (measured 1.2x
 * faster for 64x512x4x4). Unrolling longer segments by 4 was no faster. */
#define BN_WALK(th)                                                  \
  for (uint n_ = (th).n; n_ < (th).n1; n_ += pc.tpc_n) {             \
    uint j_ = bn_plane(n_, (th).c) + (th).i0;                        \
    uint e_ = j_ + ((th).i1 - (th).i0);                              \
    if ((pc.flags & BN_SEG4) != 0u) {                                \
      BN_UNIT(j_) BN_UNIT(j_ + 1u) BN_UNIT(j_ + 2u) BN_UNIT(j_ + 3u) \
    } else if (pc.step == 1u) {                                      \
      for (; j_ < e_; j_++) { BN_UNIT(j_) }                          \
    } else {                                                         \
      for (; j_ < e_; j_ += pc.step) { BN_UNIT(j_) }                 \
    }                                                                \
  }

#endif
