#version 450
// batchnorm: fused eval, scalar loads (H*W % 4 != 0); see common/batchnorm_eval_body.h.
#define BN_VEC 1
#include "batchnorm_eval_body.h"
