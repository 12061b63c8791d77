#version 450
#extension GL_EXT_control_flow_attributes : require
// sumsq_seg.comp compiled with subgroup arithmetic, two dispatches (see there and common/reduce_sync.h).
#extension GL_KHR_shader_subgroup_arithmetic : require
#define VKL_REDUCE_SUBGROUP
#include "sumsq_seg_body.h"
