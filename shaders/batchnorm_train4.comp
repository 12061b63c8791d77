#version 450
// batchnorm: fused training forward, vec4 loads (H*W % 4 == 0); see common/batchnorm_train_body.h.
#define BN_VEC 4
#include "batchnorm_train_body.h"
