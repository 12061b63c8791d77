/* `vklars train` option parsing (see train_command.h). */
#include "cli/train_command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/config_args.h"
#include "cli/resume_args.h"
#include "nn/model.h"

/* The command whose options these are, for its messages ("train"; "kernels"
 * parses train's options too). The CLI is single-threaded. */
static const char *cmd_name = "train";

static int table(train_args *a, cli_opt *o) {
  int n = optim_args_table(&a->o, o);
  o[n++] = (cli_opt){"--data",
                     "--ds",
                     "NAME",
                     "fashion-mnist (default), mnist, cifar10, cifar100, tiny-imagenet, folder, "
                     "synthetic",
                     &a->data,
                     NULL};
  o[n++] = (cli_opt){"--data-dir", NULL, "DIR", "where the data set lives (see datasets/README.md)",
                     &a->data_dir, NULL};
  o[n++] = (cli_opt){"--image-size",
                     NULL,
                     "CxHxW",
                     "folder and synthetic data: the image shape (default: the first image's; "
                     "synthetic 3x32x32)",
                     &a->image_size,
                     NULL};
  o[n++] = (cli_opt){"--synthetic-images",
                     NULL,
                     "N",
                     "synthetic data: images per split (default 50000 train, 10000 test)",
                     &a->synthetic_images,
                     NULL};
  o[n++] = (cli_opt){"--model",
                     NULL,
                     "NAME",
                     strcmp(cmd_name, "pretrain") == 0
                         ? "cnn-gap (default: the cnn, its last map averaged), cnn4-gap (four "
                           "stages, averaged), cnn, mlp, resnet18, resnet34, resnet50"
                         : "cnn (default), cnn-gap, cnn4-gap, mlp, resnet18, resnet34, resnet50",
                     &a->model,
                     NULL};
  o[n++] = (cli_opt){"--width", NULL, "N", "mlp hidden width / cnn base channels", &a->width, NULL};
  o[n++] = (cli_opt){"--imagenet-stem", NULL, NULL, "resnets: 7x7/2 conv + max-pool stem", NULL,
                     &a->imagenet_stem};
  o[n++] = (cli_opt){"--micro-batch",
                     NULL,
                     "M|auto",
                     "samples per micro-batch; must divide --batch (default: 256, or B if smaller)",
                     &a->micro,
                     NULL};
  o[n++] = (cli_opt){"--epochs", NULL, "E", "epochs (default 10)", &a->epochs, NULL};
  o[n++] = (cli_opt){"--max-steps", NULL, "N", "stop after N optimizer steps", &a->max_steps, NULL};
  o[n++] = (cli_opt){"--seed", NULL, "S", "seed of init, shuffling, augmentation (default 1)",
                     &a->seed, NULL};
  o[n++] = (cli_opt){"--no-augment", NULL, NULL, "no crop, flip or rotation", NULL, &a->no_augment};
  o[n++] = (cli_opt){"--no-crop", NULL, NULL, "no random crop (pad 4)", NULL, &a->no_crop};
  o[n++] = (cli_opt){"--no-flip", NULL, NULL, "no horizontal flip", NULL, &a->no_flip};
  o[n++] = (cli_opt){"--no-rotate", NULL, NULL, "no rotation (+-15 degrees)", NULL, &a->no_rotate};
  o[n++] = (cli_opt){"--no-shuffle", NULL,          NULL, "visit samples in data set order",
                     NULL,           &a->no_shuffle};
  o[n++] = (cli_opt){"--label-smoothing", NULL, "X", "cross-entropy label smoothing (default 0)",
                     &a->label_smoothing, NULL};
  o[n++] =
      (cli_opt){"--threads", NULL, "N", "loader threads (default cores - 1)", &a->threads, NULL};
  o[n++] =
      (cli_opt){"--on-nonfinite", NULL,
                "stop|skip",      "a NaN/inf step: stop (default) or drop its update and go on",
                &a->on_nonfinite, NULL};
  o[n++] =
      (cli_opt){"--device", NULL, "N|NAME", "device index or name substring", &a->device, NULL};
  o[n++] =
      (cli_opt){"--out", NULL, "DIR", "run directory (default runs/<date-time>)", &a->out, NULL};
  o[n++] = (cli_opt){"--force", NULL,     NULL, "write into an --out that already holds a run",
                     NULL,      &a->force};
  o[n++] = (cli_opt){"--skip-bad-images",
                     NULL,
                     NULL,
                     "image folders: skip undecodable images (counted) instead of failing",
                     NULL,
                     &a->skip_bad};
  o[n++] = (cli_opt){"--init", NULL, "CKPT", "start from a checkpoint's weights (safetensors)",
                     &a->init, NULL};
  o[n++] = (cli_opt){"--resume",
                     NULL,
                     "DIR|CKPT",
                     "continue the run in DIR from the checkpoint its checkpoint.safetensors "
                     "links (or from CKPT), with its options (options given here override them)",
                     &a->resume,
                     NULL};
  o[n++] =
      (cli_opt){"--save-every", NULL,
                "N|epoch|end",  "checkpoint every N steps, each epoch (default) or at the end only",
                &a->save_every, NULL};
  o[n++] = (cli_opt){"--eval-every", NULL, "N|epoch|end|never",
                     "test-split evaluation: every N epochs and the last, each epoch (default), "
                     "at the end only, or never",
                     &a->eval_every, NULL};
  o[n++] = (cli_opt){"--keep", NULL, "K", "keep the newest K checkpoints (default 2; 0: all)",
                     &a->keep, NULL};
  o[n++] = (cli_opt){"--config", NULL, "FILE", "INI file with these options (keys without --)",
                     &a->config, NULL};
  if (strcmp(cmd_name, "pretrain") != 0) return n;
  o[n++] = (cli_opt){"--method", NULL, "NAME", "self-supervised method: barlow-twins (default)",
                     &a->method, NULL};
  o[n++] = (cli_opt){"--projector",
                     NULL,
                     "N-N-...",
                     "projector sizes: Linear (no bias), BN, ReLU per size, the last Linear alone "
                     "(default 4096-4096-4096, the paper's)",
                     &a->projector,
                     NULL};
  o[n++] = (cli_opt){"--bt-lambda", NULL, "X", "weight of the off-diagonal terms (default 0.005)",
                     &a->bt_lambda, NULL};
  o[n++] = (cli_opt){
      "--knn", NULL, "K", "kNN monitor after each epoch: K neighbours, cosine (default 20; 0: off)",
      &a->knn, NULL};
  o[n++] =
      (cli_opt){"--knn-bank", NULL,
                "N",          "the kNN monitor's bank: the first N training images (default 10000)",
                &a->knn_bank, NULL};
  o[n++] = (cli_opt){"--views",
                     NULL,
                     "official|small",
                     "the views' augmentation: Barlow Twins' (default), or for small images "
                     "(crops of 20-100%, no blur: SimCLR's CIFAR variant)",
                     &a->views,
                     NULL};
  o[n++] = (cli_opt){"--grey-jitter",
                     NULL,
                     NULL,
                     "the colour jitter's brightness and contrast on 1-channel images too, as "
                     "torchvision on grey images (default: colour steps skip them)",
                     NULL,
                     &a->grey_jitter};
  o[n++] = (cli_opt){"--projector-no-bn", NULL, NULL, "leave out the projector's batch norms", NULL,
                     &a->projector_no_bn};
  return n;
}

/* ---- options to the trainer's configuration ---------------------------------- */

#define DEFAULT_BATCH 1024
#define DEFAULT_MICRO_BATCH 256
#define MAX_LOADER_THREADS 1024 /* src/data/loader.c refuses more */

/* The largest divisor of b up to limit. */
static uint32_t largest_divisor_upto(uint32_t b, uint32_t limit) {
  uint32_t m = limit < b ? limit : b;
  while (b % m) m--;
  return m;
}

/* --micro-batch M|auto, or the default: 256, or B if smaller. A message
 * names only the options the user gave; a default is called one. */
static int micro_batch(const train_args *a, vkl_train_config *c) {
  const char *batch = a->o.batch ? "--batch" : "the default --batch";
  if (!a->micro) {
    c->micro_batch = c->batch < DEFAULT_MICRO_BATCH ? c->batch : DEFAULT_MICRO_BATCH;
    if (c->batch % c->micro_batch == 0) return 0;
    return cli_usage_error(cmd_name,
                           "the default micro-batch %u does not divide %s %u: give --micro-batch "
                           "M with M dividing %u (%u is the largest up to %u), or auto",
                           c->micro_batch, batch, c->batch, c->batch,
                           largest_divisor_upto(c->batch, DEFAULT_MICRO_BATCH),
                           DEFAULT_MICRO_BATCH);
  }
  if (strcmp(a->micro, "auto") == 0) {
    c->micro_batch = 0; /* the trainer picks the largest that fits */
    return 0;
  }
  uint64_t m = 0;
  if (a->micro[0] < '0' || a->micro[0] > '9')
    return cli_usage_error(cmd_name,
                           "--micro-batch wants M (an integer in [1, %u]) or auto, not '%s'",
                           UINT32_MAX, a->micro);
  int rc = cli_parse_uint(cmd_name, "--micro-batch", a->micro, 1, UINT32_MAX, &m);
  if (rc) return rc;
  c->micro_batch = (uint32_t)m;
  if (c->batch % c->micro_batch)
    return cli_usage_error(cmd_name, "--micro-batch %u does not divide %s %u", c->micro_batch,
                           batch, c->batch);
  return 0;
}

/* --save-every N|epoch|end (default epoch). */
static int save_every(const char *text, vkl_train_config *c) {
  if (!text || strcmp(text, "epoch") == 0) return 0;
  if (strcmp(text, "end") == 0) {
    c->save_at_end = 1;
    return 0;
  }
  if (text[0] < '0' || text[0] > '9')
    return cli_usage_error(cmd_name,
                           "--save-every wants N (steps, an integer in [1, %llu]), epoch "
                           "or end, not '%s'",
                           (unsigned long long)UINT64_MAX, text);
  return cli_parse_uint(cmd_name, "--save-every", text, 1, UINT64_MAX, &c->save_every);
}

static int eval_every(const char *text, vkl_train_config *c) {
  if (!text || strcmp(text, "epoch") == 0) return 0;
  if (strcmp(text, "end") == 0 || strcmp(text, "never") == 0) {
    c->eval_when = text[0] == 'e' ? VKL_EVAL_END : VKL_EVAL_NEVER;
    return 0;
  }
  if (text[0] < '0' || text[0] > '9')
    return cli_usage_error(cmd_name,
                           "--eval-every wants N (epochs, an integer in [1, %u]), epoch, end or "
                           "never, not '%s'",
                           UINT32_MAX, text);
  return cli_parse_u32(cmd_name, "--eval-every", text, 1, UINT32_MAX, &c->eval_every);
}

static int counts(const train_args *a, vkl_train_config *c) {
  c->epochs = 10;
  c->seed = 1;
  c->keep = 2;
  int rc;
  if ((rc = cli_parse_u32(cmd_name, "--epochs", a->epochs, 1, UINT32_MAX, &c->epochs)) ||
      (rc =
           cli_parse_u32(cmd_name, "--width", a->width, 1, VKL_MODEL_MAX_WIDTH, &c->model_width)) ||
      (rc = cli_parse_u32(cmd_name, "--threads", a->threads, 1, MAX_LOADER_THREADS,
                          &c->loader_threads)) ||
      (rc = cli_parse_u64(cmd_name, "--seed", a->seed, &c->seed)) ||
      (rc = cli_parse_uint(cmd_name, "--max-steps", a->max_steps, 1, UINT64_MAX, &c->max_steps)) ||
      (rc = cli_parse_u32(cmd_name, "--keep", a->keep, 0, UINT32_MAX, &c->keep)) ||
      (rc = save_every(a->save_every, c)) || (rc = eval_every(a->eval_every, c)))
    return rc;
  double ls = 0;
  if ((rc = cli_parse_double(cmd_name, "--label-smoothing", a->label_smoothing, &ls))) return rc;
  if (ls < 0 || ls >= 1)
    return cli_usage_error(cmd_name, "--label-smoothing %s is out of range [0, 1)",
                           a->label_smoothing);
  c->label_smoothing = (float)ls;
  return 0;
}

/* "4096-4096-4096": 1 to VKL_MODEL_MAX_PROJECTOR sizes of 1 to VKL_MODEL_MAX_WIDTH. */
static int parse_projector(const char *text, vkl_train_config *c) {
  c->projector_layers = 0;
  const char *p = text;
  while (*p) {
    char *end;
    unsigned long v = strtoul(p, &end, 10);
    if (end == p || v == 0 || v > VKL_MODEL_MAX_WIDTH ||
        c->projector_layers == VKL_MODEL_MAX_PROJECTOR || (*end && *end != '-') ||
        (*end == '-' && !end[1]))
      return cli_usage_error(cmd_name,
                             "--projector wants sizes joined by '-' (1 to %u layers of 1 to %u), "
                             "not '%s'",
                             VKL_MODEL_MAX_PROJECTOR, VKL_MODEL_MAX_WIDTH, text);
    c->projector[c->projector_layers++] = (uint32_t)v;
    p = *end ? end + 1 : end;
  }
  if (!c->projector_layers) return cli_usage_error(cmd_name, "--projector is empty");
  return 0;
}

/* pretrain's own options. */
static int apply_method(const train_args *a, vkl_train_config *c) {
  if (strcmp(cmd_name, "pretrain") != 0) return 0;
  if (a->method && strcmp(a->method, "barlow-twins") != 0)
    return cli_usage_error(cmd_name, "--method %s is unknown (methods: barlow-twins)", a->method);
  c->method = VKL_METHOD_BARLOW_TWINS;
  int rc = parse_projector(a->projector ? a->projector : "4096-4096-4096", c);
  if (rc) return rc;
  c->projector_no_bn = a->projector_no_bn;
  double lambda = 0.005;
  if ((rc = cli_parse_double(cmd_name, "--bt-lambda", a->bt_lambda, &lambda))) return rc;
  if (!(lambda >= 0 && lambda < 1e6))
    return cli_usage_error(cmd_name, "--bt-lambda %s is out of range [0, 1e6)", a->bt_lambda);
  c->bt_lambda = (float)lambda;
  if (a->views && strcmp(a->views, "official") != 0 && strcmp(a->views, "small") != 0)
    return cli_usage_error(cmd_name, "--views is official or small, not '%s'", a->views);
  c->ssl_small = a->views && strcmp(a->views, "small") == 0;
  c->ssl_grey_jitter = a->grey_jitter;
  c->knn_k = 20;
  c->knn_bank = 10000;
  if ((rc = cli_parse_u32(cmd_name, "--knn", a->knn, 0, 100000, &c->knn_k)) ||
      (rc = cli_parse_uint(cmd_name, "--knn-bank", a->knn_bank, 1, UINT64_MAX, &c->knn_bank)))
    return rc;
  return 0;
}

static int apply(const train_args *a, vkl_train_config *c, char *out_default, size_t n) {
  vkl_sched_config s;
  int rc = optim_args_apply(cmd_name, &a->o, &c->optim, &s);
  if (rc || (rc = apply_method(a, c))) return rc;
  c->sched = s.kind;
  c->warmup_epochs = s.warmup_epochs;
  c->step_epochs = s.step_epochs;
  c->step_gamma = s.step_gamma;
  c->batch = s.batch ? s.batch : DEFAULT_BATCH; /* 0: --batch not given (0 is refused) */
  c->data = a->data;
  c->data_dir = a->data_dir;
  /* a self-supervised backbone's features are averaged over the image */
  c->model = a->model ? a->model : strcmp(cmd_name, "pretrain") == 0 ? "cnn-gap" : NULL;
  c->imagenet_stem = a->imagenet_stem;
  c->no_augment = a->no_augment;
  c->no_shuffle = a->no_shuffle;
  c->no_crop = a->no_crop;
  c->no_flip = a->no_flip;
  c->no_rotate = a->no_rotate;
  if ((rc = counts(a, c)) || (rc = micro_batch(a, c))) return rc;
  if (a->on_nonfinite) {
    if (strcmp(a->on_nonfinite, "skip") == 0)
      c->skip_nonfinite = 1;
    else if (strcmp(a->on_nonfinite, "stop") != 0)
      return cli_usage_error(cmd_name, "--on-nonfinite is stop or skip, not '%s'", a->on_nonfinite);
  }
  if (a->o.delay_epochs == NULL && a->o.delay == NULL &&
      c->optim.kind == VKL_OPT_TVLARS) /* paper form: no delay unless given */
    c->optim.tv_delay_steps = 0;
  c->init_checkpoint = a->init;
  c->force = a->force;
  c->skip_bad_images = a->skip_bad;
  c->out_dir = a->out;
  if (!c->out_dir) {
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out_default, n, "runs/%Y%m%d-%H%M%S", &tm);
    c->out_dir = out_default;
  }
  return 0;
}

/* "CxHxW": plain digits each, C 1-4, H and W 1-4096 (sscanf's %u would take
 * "-1" as 4294967295 and blanks before a number). */
static int image_size(const char *text, vkl_data_options *d) {
  uint32_t v[3] = {0, 0, 0}, max[3] = {4, 4096, 4096};
  const char *p = text;
  int ok = 1;
  for (int i = 0; i < 3 && ok; i++) {
    uint64_t x = 0;
    const char *start = p;
    while (*p >= '0' && *p <= '9' && x <= max[i]) x = 10 * x + (uint64_t)(*p++ - '0');
    ok = p > start && x >= 1 && x <= max[i] && *p == (i < 2 ? 'x' : '\0');
    v[i] = (uint32_t)x;
    p++;
  }
  if (!ok)
    return cli_usage_error(cmd_name, "--image-size wants CxHxW (C 1-4, H and W 1-4096), not '%s'",
                           text);
  d->channels = v[0];
  d->height = v[1];
  d->width = v[2];
  return 0;
}

static int parse_data_options(const train_args *a, vkl_data_options *d) {
  memset(d, 0, sizeof *d);
  int rc =
      cli_parse_uint(cmd_name, "--synthetic-images", a->synthetic_images, 1, UINT64_MAX, &d->count);
  if (rc) return rc;
  return a->image_size ? image_size(a->image_size, d) : 0;
}

/* Points the parse at the resumed run's argv: the options saved in the
 * checkpoint --resume names (a run directory's linked one, or a file),
 * then this command line's. Each checkpoint skipped is said, and why. */
static int load_resume(train_command *tc, int argc, char **argv) {
  train_args *a = &tc->a;
  char err[1200], notes[4096];
  const char *arg = a->resume;
  if (a->config)
    return cli_usage_error(cmd_name, "--resume takes the run's own options, not --config");
  resume_run_dir(arg, tc->resume_dir, sizeof tc->resume_dir);
  if (a->out && strcmp(a->out, tc->resume_dir) != 0)
    return cli_usage_error(cmd_name, "--resume %s writes into %s, not --out %s", arg,
                           tc->resume_dir, a->out);
  int rc = resume_find_checkpoint(arg, tc->resume_dir, tc->ckpt, sizeof tc->ckpt, notes,
                                  sizeof notes, err, sizeof err);
  for (char *line = notes, *end; (end = strchr(line, '\n')); line = end + 1)
    cli_note("train: %.*s", (int)(end - line), line);
  if (rc || resume_argv(tc->ckpt, argc, argv, &tc->rargc, &tc->rargv, err, sizeof err)) {
    cli_error("train: %s", err);
    return VKL_EXIT_FAILURE;
  }
  memset(a, 0, sizeof *a);
  tc->n = table(a, tc->opts);
  int help = 0;
  return cli_parse(cmd_name, tc->rargc, tc->rargv, tc->opts, tc->n, NULL, 0, NULL, &help);
}

void train_command_free(train_command *tc) {
  config_argv_free(&tc->expanded);
  resume_argv_free(tc->rargc, tc->rargv);
  free(tc->options);
  memset(tc, 0, sizeof *tc);
}

int train_command_table(train_command *tc, const char *cmd) {
  cmd_name = cmd;
  memset(tc, 0, sizeof *tc);
  return tc->n = table(&tc->a, tc->opts);
}

int train_command_parse(train_command *tc, int argc, char **argv) {
  return train_command_parse_as(tc, "train", argc, argv);
}

int train_command_parse_as(train_command *tc, const char *cmd, int argc, char **argv) {
  cmd_name = cmd;
  memset(tc, 0, sizeof *tc);
  train_args *a = &tc->a;
  tc->n = table(a, tc->opts);
  int rc = cli_parse(cmd_name, argc, argv, tc->opts, tc->n, NULL, 0, NULL, &tc->help);
  if (rc || tc->help) return rc;
  const char *resume_dir = a->resume;
  if (resume_dir) {
    rc = load_resume(tc, argc, argv);
  } else if (a->config) {
    rc = config_expand(a->config, argc, argv, tc->opts, tc->n, &tc->expanded);
    if (!rc) {
      memset(a, 0, sizeof *a);
      tc->n = table(a, tc->opts);
      rc = cli_parse(cmd_name, tc->expanded.argc, tc->expanded.argv, tc->opts, tc->n, NULL, 0, NULL,
                     &tc->help);
    }
  }
  if (rc) return rc;
  vkl_train_config *cfg = &tc->cfg;
  if ((rc = apply(a, cfg, tc->out_default, sizeof tc->out_default)) ||
      (rc = parse_data_options(a, &tc->data_options)))
    return rc;
  cfg->data_options = &tc->data_options;
  snprintf(tc->cmdline, sizeof tc->cmdline, "vklars");
  for (int i = 0; i < argc; i++) {
    size_t len = strlen(tc->cmdline);
    snprintf(tc->cmdline + len, sizeof tc->cmdline - len, " %s", argv[i]);
  }
  cfg->cli_args = tc->cmdline;
  if (!(tc->options = resume_options_json(tc->opts, tc->n))) {
    cli_error("train: out of host memory");
    return VKL_EXIT_FAILURE;
  }
  cfg->argv_json = tc->options;
  if (resume_dir) {
    cfg->resume = tc->ckpt;
    cfg->out_dir = tc->resume_dir;
  }
  return 0;
}
