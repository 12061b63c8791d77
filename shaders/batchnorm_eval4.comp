#version 450
// batchnorm: fused eval, vec4 loads (H*W % 4 == 0); see common/batchnorm_eval_body.h.
#define BN_VEC 4
#include "batchnorm_eval_body.h"
