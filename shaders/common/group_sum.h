// The workgroup's sum of a value, valid in every invocation, for the reductions
// of reduce_sync.h. Include after defining GROUP_SUM_T (the value's type:
// float, vec2, vec3...) and declaring `shared GROUP_SUM_T part[]` of WG entries
// (the shared-memory tree) or of at least gl_NumSubgroups (subgroups), with
// `const uint WG` the workgroup size. part[] is read after the last barrier: a
// caller barriers before writing it again.
#ifdef VKL_REDUCE_SUBGROUP
// subgroupAdd within each subgroup; then every subgroup adds the subgroups'
// sums, lane l taking sums l, l + gl_SubgroupSize, ... in turn, and a last
// subgroupAdd: any subgroup size, any number of subgroups, one barrier. The
// order is fixed for a device, so results are bit-identical run to run.
GROUP_SUM_T group_sum(uint t, GROUP_SUM_T v) {
  v = subgroupAdd(v);
  if (gl_SubgroupInvocationID == 0u) part[gl_SubgroupID] = v;
  barrier(); // the subgroups' sums written (RAW in shared)
  GROUP_SUM_T z = GROUP_SUM_T(0.0);
  for (uint k0 = 0u; k0 < gl_NumSubgroups; k0 += gl_SubgroupSize) {
    uint k = k0 + gl_SubgroupInvocationID;
    GROUP_SUM_T q = part[min(k, gl_NumSubgroups - 1u)];
    z += k < gl_NumSubgroups ? q : GROUP_SUM_T(0.0);
  }
  return subgroupAdd(z);
}
#else
// A fixed order, fan-in 16: invocation i < WG/16 adds part[16i .. 16i+15] in
// turn (unrolled: lavapipe miscompiles a rolled loop of shared loads in a branch
// under the memory model, see reduce_sync.h), then every invocation adds those
// sums in turn (the same order in all). Two barriers: they cost much more than
// shared-memory additions on CPU implementations.
GROUP_SUM_T group_sum(uint t, GROUP_SUM_T v) {
  part[t] = v;
  barrier(); // part[] written (RAW in shared)
  if (16u * t < WG) {
    GROUP_SUM_T z = part[16u * t];
    [[unroll]] for (uint k = 1u; k < 16u; k++) {
      if (16u * t + k < WG) z += part[16u * t + k];
    }
    part[16u * t] = z;
  }
  barrier(); // the first level's sums written (RAW in shared)
  GROUP_SUM_T z = part[0];
  for (uint k = 16u; k < WG; k += 16u) z += part[k];
  return z;
}
#endif
