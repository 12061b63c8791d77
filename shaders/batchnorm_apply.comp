#version 450
// batchnorm: apply, scalar loads (H*W % 4 != 0); see common/batchnorm_apply_body.h.
#define BN_VEC 1
#include "batchnorm_apply_body.h"
