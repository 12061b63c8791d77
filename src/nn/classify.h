/* Classification's micro-step programs: a net and its cross-entropy loss
 * recorded into one command buffer. */
#ifndef VKLARS_NN_CLASSIFY_H
#define VKLARS_NN_CLASSIFY_H

#include "nn/net.h"
#include "nn/xent_loss.h"

/* Forward (batch statistics), loss and counts (first: written, else added
 * to), backward scaled by grad_scale (first: parameter gradients written,
 * else added to). */
vkl_status vkl_classify_record_train(vkl_cmd *cmd, vkl_net *net, vkl_xent_loss *loss, int first,
                                     float grad_scale);
/* vkl_classify_record_train up to the gradient of the logits: the caller
 * records the net's backward (vkl_net_backward_begin, then its nodes, in
 * segments). */
vkl_status vkl_classify_record_to_dy(vkl_cmd *cmd, vkl_net *net, vkl_xent_loss *loss, int first,
                                     float grad_scale);
/* Forward with running statistics, loss and counts (first: written, else
 * added to). */
vkl_status vkl_classify_record_eval(vkl_cmd *cmd, vkl_net *net, vkl_xent_loss *loss, int first);

#endif
