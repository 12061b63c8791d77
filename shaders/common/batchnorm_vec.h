/* The element type of the batchnorm kernels: BN_VEC (1 or 4, defined by the
 * including kernel) floats per unit, with a horizontal sum in a fixed order
 * so results are the same on every run. */
#ifndef VKLARS_BATCHNORM_VEC_H
#define VKLARS_BATCHNORM_VEC_H

#if BN_VEC == 4
#define BN_T vec4
#define BN_HSUM(v) (((v).x + (v).y) + ((v).z + (v).w))
#define BN_FIRST(v) ((v).x)
#else
#define BN_T float
#define BN_HSUM(v) (v)
#define BN_FIRST(v) (v)
#endif

#endif
