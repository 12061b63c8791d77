#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#define VKL_REDUCE_SUBGROUP
// softmax_xent_fwd.comp compiled with subgroup arithmetic, two dispatches (see there and common/reduce_sync.h).
#include "softmax_xent_fwd_body.h"
