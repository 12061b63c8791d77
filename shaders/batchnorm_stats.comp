#version 450
// batchnorm: stats, scalar loads (H*W % 4 != 0); see common/batchnorm_stats_body.h.
#define BN_VEC 1
#include "batchnorm_stats_body.h"
