#version 450
#extension GL_EXT_control_flow_attributes : require
#pragma use_vulkan_memory_model
#extension GL_KHR_memory_scope_semantics : require
#define VKL_REDUCE_MM
// softmax_xent_fwd.comp compiled under the Vulkan memory model, shared-memory tree (see there and common/reduce_sync.h).
#include "softmax_xent_fwd_body.h"
