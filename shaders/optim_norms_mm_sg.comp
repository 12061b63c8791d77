#version 450
#extension GL_EXT_control_flow_attributes : require
// optim_norms.comp compiled under the Vulkan memory model, with subgroup arithmetic (see there and common/reduce_sync.h).
#pragma use_vulkan_memory_model
#extension GL_KHR_memory_scope_semantics : require
#define VKL_REDUCE_MM
#extension GL_KHR_shader_subgroup_arithmetic : require
#define VKL_REDUCE_SUBGROUP
#include "optim_norms_body.h"
