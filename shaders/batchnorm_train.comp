#version 450
// batchnorm: fused training forward, scalar loads (H*W % 4 != 0); see common/batchnorm_train_body.h.
#define BN_VEC 1
#include "batchnorm_train_body.h"
