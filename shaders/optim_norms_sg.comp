#version 450
#extension GL_EXT_control_flow_attributes : require
// optim_norms.comp compiled with subgroup arithmetic, two dispatches (see there and common/reduce_sync.h).
#extension GL_KHR_shader_subgroup_arithmetic : require
#define VKL_REDUCE_SUBGROUP
#include "optim_norms_body.h"
