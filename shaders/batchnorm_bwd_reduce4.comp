#version 450
// batchnorm: bwd_reduce, vec4 loads (H*W % 4 == 0); see common/batchnorm_bwd_reduce_body.h.
#define BN_VEC 4
#include "batchnorm_bwd_reduce_body.h"
