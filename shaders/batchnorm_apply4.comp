#version 450
// batchnorm: apply, vec4 loads (H*W % 4 == 0); see common/batchnorm_apply_body.h.
#define BN_VEC 4
#include "batchnorm_apply_body.h"
