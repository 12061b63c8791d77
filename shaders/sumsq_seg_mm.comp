#version 450
#extension GL_EXT_control_flow_attributes : require
// sumsq_seg.comp compiled under the Vulkan memory model, shared-memory tree (see there and common/reduce_sync.h).
#pragma use_vulkan_memory_model
#extension GL_KHR_memory_scope_semantics : require
#define VKL_REDUCE_MM
#include "sumsq_seg_body.h"
