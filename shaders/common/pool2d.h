/* Push constants shared by pool2d_forward.comp and pool2d_backward.comp.
 *
 * Both kernels give each invocation a tile (of outputs, or of input
 * gradients) and number the tiles of all planes in one flat index
 *   t = (plane * tb + row_tile) * ta + col_tile,
 * which they split with fastdiv (see fastdiv.h). */
#ifndef VKLARS_POOL2D_H
#define VKLARS_POOL2D_H
#include "iface.h"

VKL_PUSH_BEGIN(vkl_pool2d_push)
VKL_U32 H;
VKL_U32 W;
VKL_U32 P;
VKL_U32 Q;
VKL_U32 tiles;  /* tiles of all planes: planes * tb * ta */
VKL_U32 ta;     /* tiles across a row */
VKL_U32 tb;     /* rows of tiles in a plane */
VKL_U32 ta_mul; /* fastdiv by ta */
VKL_U32 ta_shr;
VKL_U32 tb_mul; /* fastdiv by tb */
VKL_U32 tb_shr;
VKL_PUSH_END(vkl_pool2d_push)

#endif
