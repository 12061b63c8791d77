#version 450
// batchnorm: fused bwd, scalar loads (H*W % 4 != 0); see common/batchnorm_bwd_body.h.
#define BN_VEC 1
#include "batchnorm_bwd_body.h"
