/* GLSL shared by the reductions that finish across workgroups (sumsq_seg,
 * softmax_xent_fwd, optim_norms): how one workgroup's partial reaches the
 * workgroup that adds all partials. Two ways, picked on the host from
 * vkl_tuning.memory_model:
 *
 * VKL_REDUCE_MM (the *_mm*.comp variants, compiled with
 * `#pragma use_vulkan_memory_model` and GL_KHR_memory_scope_semantics; the
 * device has vulkanMemoryModel and vulkanMemoryModelDeviceScope): one
 * dispatch. Each workgroup's writing invocation stores its partial
 * (REDUCE_STORE: relaxed atomic stores at Device scope), then counts itself
 * with REDUCE_ARRIVE, an atomicAdd that is a release and an acquire at Device
 * scope with storage-buffer semantics, MakeAvailable and MakeVisible. The
 * workgroup that reads count - 1 is the last. The Vulkan specification's
 * Memory Model appendix makes that correct:
 *  - Release Sequence, Synchronizes-With: every arrival is a release RMW, and
 *    an RMW continues every earlier release sequence, so the last arrival
 *    (which reads the value the previous one wrote) synchronizes-with the
 *    release of every other workgroup.
 *  - The invocations of the last workgroup that load the partials are not the
 *    one that arrived: REDUCE_SHARE_ACQUIRED is a control barrier at
 *    Workgroup execution scope and Device memory scope, AcquireRelease with
 *    MakeAvailable and MakeVisible over buffer and shared memory; it
 *    synchronizes-with itself across the workgroup (the control-barrier rule
 *    of Synchronizes-With) and carries the `last` verdict in shared memory.
 *  - Inter-Thread-Happens-Before<StorageBuffer>: partial store -> (program
 *    order) release -> acquire -> (program order) barrier -> barrier ->
 *    (program order) REDUCE_LOAD. The partials are atomics, so Scoped
 *    Modification Order Coherence (a read that happens-after a write reads it
 *    or a later one) gives the loads the stored values without relying on
 *    availability chains; the release's MakeAvailable and the barrier's
 *    MakeVisible (Availability and Visibility Semantics: Device scope uses the
 *    shader domain) also make the stores visible by a single-element chain
 *    (Location-Ordered), so the device needs no
 *    vulkanMemoryModelAvailabilityVisibilityChains either way.
 * (SPIR-V: OpAtomicIAdd with Scope Device and semantics AcquireRelease |
 * UniformMemory | MakeAvailable | MakeVisible; OpControlBarrier Workgroup,
 * Device, AcquireRelease | UniformMemory | WorkgroupMemory | MakeAvailable |
 * MakeVisible; OpAtomicStore / OpAtomicLoad Device, relaxed; the workspace is
 * `nonprivate`, so its other accesses carry NonPrivatePointer.)
 *
 * Loops that read shared memory run under uniform control flow or fully
 * unrolled in these kernels: lavapipe (Mesa 22.3) miscompiles a loop of shared
 * loads inside a branch under the Vulkan memory model (every shared access
 * there carries its own availability or visibility operation).
 *
 * Otherwise (memory_model 0): no cross-workgroup communication inside a
 * dispatch. The first dispatch stores the partials; the host records a
 * pipeline barrier (a memory dependency: availability to and visibility from
 * the device domain, Availability, Visibility, and Domain Operations) and a
 * second dispatch of the same kernel with spec `finish` = 1 adds them. */
#ifndef VKLARS_REDUCE_SYNC_H
#define VKLARS_REDUCE_SYNC_H

#ifdef VKL_REDUCE_MM
#define REDUCE_WORK nonprivate
#define REDUCE_ARRIVE(counter)                                                        \
  atomicAdd(counter, 1u, gl_ScopeDevice, gl_StorageSemanticsBuffer,                   \
            gl_SemanticsAcquireRelease | gl_SemanticsMakeAvailable | gl_SemanticsMakeVisible)
#define REDUCE_SHARE_ACQUIRED()                                                       \
  controlBarrier(gl_ScopeWorkgroup, gl_ScopeDevice,                                   \
                 gl_StorageSemanticsBuffer | gl_StorageSemanticsShared,               \
                 gl_SemanticsAcquireRelease | gl_SemanticsMakeAvailable | gl_SemanticsMakeVisible)
// A partial's word, stored and loaded as a relaxed atomic at Device scope.
#define REDUCE_STORE(word, value) atomicStore(word, value, gl_ScopeDevice, 0, 0)
#define REDUCE_LOAD(word) atomicLoad(word, gl_ScopeDevice, 0, 0)
#else
#define REDUCE_WORK
#define REDUCE_STORE(word, value) word = (value)
#define REDUCE_LOAD(word) (word)
#endif

#endif
