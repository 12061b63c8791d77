#version 450
// batchnorm: fused bwd, vec4 loads (H*W % 4 == 0); see common/batchnorm_bwd_body.h.
#define BN_VEC 4
#include "batchnorm_bwd_body.h"
