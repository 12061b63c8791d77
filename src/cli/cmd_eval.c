/* vklars eval CKPT: a checkpoint's test loss, top-1 and top-5. The model
 * and its input shape come from the checkpoint's metadata; the data set
 * from --data, else the one it was trained on. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

int cmd_eval(int argc, char **argv) {
  const char *data = NULL, *dir = NULL, *micro = NULL, *device = NULL, *pos[1];
  int help = 0, npos = 0;
  const cli_opt opts[] = {
      {"--data", "--ds", "NAME", "data set (default: the checkpoint's)", &data, NULL},
      {"--data-dir", NULL, "DIR", "where the data set lives", &dir, NULL},
      {"--micro-batch", NULL, "M", "samples per evaluation batch (default 256)", &micro, NULL},
      {"--device", NULL, "N|NAME", "device index or name substring", &device, NULL},
  };
  int n = (int)(sizeof opts / sizeof opts[0]);
  int rc = cli_parse("eval", argc, argv, opts, n, pos, 1, &npos, &help);
  if (rc) return rc;
  if (help) {
    cli_print_help("eval", "CKPT [--data NAME] [--data-dir DIR] [--micro-batch M]",
                   "Evaluates a checkpoint (checkpoint.safetensors of a run directory) on the\n"
                   "test split: loss, top-1 and top-5 over every test image.",
                   opts, n);
    return VKL_EXIT_OK;
  }
  if (npos != 1) return cli_usage_error("eval", "name the checkpoint to evaluate");
  uint64_t m = 256;
  if ((rc = cli_parse_u64("eval", "--micro-batch", micro, &m))) return rc;
  if (m < 2 || m > 65536) return cli_usage_error("eval", "--micro-batch must be in 2..65536");
  vkl_checkpoint_meta meta;
  char err[1024];
  if (vkl_checkpoint_read_meta(pos[0], &meta, err, sizeof err)) {
    cli_error("eval: %s", err);
    return VKL_EXIT_FAILURE;
  }
  vkl_train_config c;
  memset(&c, 0, sizeof c);
  c.data = data ? data : meta.data;
  c.data_dir = dir;
  c.model = meta.model;
  c.model_width = meta.width;
  c.imagenet_stem = meta.imagenet_stem;
  c.optim = vkl_optim_defaults(VKL_OPT_SGD);
  c.sched = VKL_SCHED_CONSTANT;
  c.batch = c.micro_batch = (uint32_t)m;
  c.epochs = 1;
  c.seed = 1;
  c.no_augment = 1;
  c.init_checkpoint = pos[0];
  c.eval_only = 1;
  vkl_ctx_config cc = {.device = device};
  vkl_ctx *ctx = NULL;
  if (vkl_ctx_create(&cc, &ctx)) {
    cli_error("eval: %s", vkl_ctx_errmsg(ctx));
    vkl_ctx_destroy(ctx);
    return VKL_EXIT_FAILURE;
  }
  vkl_train_result r;
  vkl_status st = vkl_train(ctx, &c, &r, err, sizeof err);
  vkl_ctx_destroy(ctx);
  if (st) {
    cli_error("eval: %s", err);
    return VKL_EXIT_FAILURE;
  }
  printf(
      "%s (%s, trained %llu steps) on %s: test loss %.4f top-1 %.2f%% top-5 %.2f%% "
      "(%llu images)\n",
      pos[0], meta.model, (unsigned long long)meta.step, c.data, r.last.test_loss,
      100 * r.last.test_top1, 100 * r.last.test_top5, (unsigned long long)r.last.test_images);
  return VKL_EXIT_OK;
}
