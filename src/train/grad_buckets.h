/* The gradient's buckets for the all-reduce across ranks, in the order the
 * backward pass finishes them. The backward runs the model's nodes from the
 * last to the first, and a node's parameter gradients are final once its
 * backward has run on the step's last micro-batch; the parameters are laid
 * out in node order, so the nodes from some node to the end finish the
 * arena from some offset to its end. A bucket is such a run of nodes and
 * the bytes they finish: its sum can start while the earlier nodes still
 * compute (DDP's overlap). */
#ifndef VKLARS_TRAIN_GRAD_BUCKETS_H
#define VKLARS_TRAIN_GRAD_BUCKETS_H

#include <stdint.h>

#include "nn/model.h"

typedef struct vkl_grad_bucket {
  uint32_t node_hi, node_lo; /* the backward of nodes node_hi-1 .. node_lo finishes it */
  uint64_t begin, end;       /* bytes of the gradient arena */
} vkl_grad_bucket;

/* Buckets of at least target bytes where the layout allows a cut (a node
 * boundary with every earlier node's parameters below every later one's),
 * the last taking what remains down to node 0 and byte 0; at most max of
 * them (the last then takes more). Returns how many (>= 1). */
uint32_t vkl_grad_buckets_plan(const vkl_model *m, uint64_t target, vkl_grad_bucket *out,
                               uint32_t max);

#endif
