/* Classification's micro-step programs (see classify.h). */
#include "nn/classify.h"

vkl_status vkl_classify_record_to_dy(vkl_cmd *cmd, vkl_net *net, vkl_xent_loss *loss, int first,
                                     float grad_scale) {
  vkl_status st;
  if ((st = vkl_net_record_forward(net, cmd, VKL_NET_TRAIN)) ||
      (st = vkl_xent_loss_record_forward(loss, cmd, vkl_net_output(net), first)))
    return st;
  return vkl_xent_loss_record_backward(loss, cmd, vkl_net_output_grad(net), vkl_net_output(net),
                                       grad_scale);
}

vkl_status vkl_classify_record_train(vkl_cmd *cmd, vkl_net *net, vkl_xent_loss *loss, int first,
                                     float grad_scale) {
  vkl_status st = vkl_classify_record_to_dy(cmd, net, loss, first, grad_scale);
  return st ? st : vkl_net_record_backward(net, cmd, first);
}

vkl_status vkl_classify_record_eval(vkl_cmd *cmd, vkl_net *net, vkl_xent_loss *loss, int first) {
  vkl_status st = vkl_net_record_forward(net, cmd, VKL_NET_EVAL);
  return st ? st : vkl_xent_loss_record_forward(loss, cmd, vkl_net_output(net), first);
}
