/* Shared C/GLSL declarations of push constants and specialization constants.
 *
 * A shader's interface header (shaders/common/<shader>.h) is included by the
 * GLSL kernel and by the C code that records it, so both sides read the same
 * field list:
 *   VKL_SPEC_BEGIN(name) VKL_SPEC_LOCAL_X(0, wg_size) VKL_SPEC_U32(1, k, 3)
 *   VKL_SPEC_END(name)
 *   VKL_PUSH_BEGIN(name) VKL_U32 n; VKL_F32 alpha; VKL_PUSH_END(name)
 * In C these are typedef'd structs; in GLSL the push block is `pc` and each
 * spec constant a `const uint`. Rules: spec fields are 32-bit and the i-th
 * field has constant_id i (the runtime maps them by position and the SPIR-V
 * reader checks the count); push fields are 32-bit scalars so the C and
 * std430 layouts agree. glslc defines VULKAN when compiling for Vulkan. */
#ifndef VKLARS_IFACE_H
#define VKLARS_IFACE_H

#ifdef VULKAN /* ---- GLSL ---- */
#define VKL_U32 uint
#define VKL_I32 int
#define VKL_F32 float
#define VKL_PUSH_BEGIN(name) layout(push_constant) uniform name {
#define VKL_PUSH_END(name) } pc;
#define VKL_SPEC_BEGIN(name)
#define VKL_SPEC_END(name)
#define VKL_SPEC_LOCAL_X(id, field) layout(local_size_x_id = id) in;
#define VKL_SPEC_LOCAL_Y(id, field) layout(local_size_y_id = id) in;
#define VKL_SPEC_U32(id, field, value) layout(constant_id = id) const uint field = value;
#else /* ---- C ---- */
#include <stdint.h>
#define VKL_U32 uint32_t
#define VKL_I32 int32_t
#define VKL_F32 float
#define VKL_PUSH_BEGIN(name) typedef struct name {
#define VKL_PUSH_END(name) } name;
#define VKL_SPEC_BEGIN(name) typedef struct name {
#define VKL_SPEC_END(name) } name;
#define VKL_SPEC_LOCAL_X(id, field) uint32_t field;
#define VKL_SPEC_LOCAL_Y(id, field) uint32_t field;
#define VKL_SPEC_U32(id, field, value) uint32_t field;
#endif

#endif
