#version 450
// batchnorm: stats, vec4 loads (H*W % 4 == 0); see common/batchnorm_stats_body.h.
#define BN_VEC 4
#include "batchnorm_stats_body.h"
