/* `vklars train` option parsing (see train_command.h). */
#include "cli/train_command.h"

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/resume_args.h"

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
  o[n++] = (cli_opt){"--model", NULL, "NAME", "cnn (default), mlp, resnet18, resnet34, resnet50",
                     &a->model, NULL};
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
                     "DIR",
                     "continue the run in DIR from its newest checkpoint, with its options "
                     "(options given here override them)",
                     &a->resume,
                     NULL};
  o[n++] =
      (cli_opt){"--save-every", NULL,
                "N|epoch|end",  "checkpoint every N steps, each epoch (default) or at the end only",
                &a->save_every, NULL};
  o[n++] = (cli_opt){"--keep", NULL, "K", "keep the newest K checkpoints (default 2; 0: all)",
                     &a->keep, NULL};
  o[n++] = (cli_opt){"--config", NULL, "FILE", "INI file with these options (keys without --)",
                     &a->config, NULL};
  return n;
}

/* ---- --config: INI keys become options placed before the command line's ---- */

static int push(ini_argv *v, const char *s) {
  if (v->argc == v->cap) {
    int cap = v->cap ? 2 * v->cap : 32;
    char **p = realloc(v->argv, cap * sizeof *p);
    if (!p) return 0;
    v->argv = p;
    v->cap = cap;
  }
  return (v->argv[v->argc++] = strdup(s)) != NULL;
}

static int on_ini(void *user, const char *section, const char *key, const char *value) {
  (void)section;
  ini_argv *v = user;
  char opt[128];
  snprintf(opt, sizeof opt, "--%s", key);
  for (int i = 0; i < v->nopts; i++) {
    const cli_opt *o = &v->opts[i];
    if (strcmp(o->name, opt) != 0 && !(o->alias && strcmp(o->alias, opt) == 0)) continue;
    if (strcmp(o->name, "--config") == 0) break;
    if (!o->metavar) { /* a flag: true/yes/1 sets it */
      if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0)
        return push(v, opt);
      if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 || strcmp(value, "0") == 0)
        return 1;
      snprintf(v->err, sizeof v->err, "key '%s' is a flag: true or false, not '%s'", key, value);
      return 0;
    }
    return push(v, opt) && push(v, value);
  }
  snprintf(v->err, sizeof v->err, "unknown key '%s'", key);
  return 0;
}

/* argv with the config file's options first (argv[0] kept first). */
static int expand_config(const char *path, int argc, char **argv, const cli_opt *opts, int nopts,
                         ini_argv *out) {
  memset(out, 0, sizeof *out);
  out->opts = opts;
  out->nopts = nopts;
  push(out, argv[0]);
  int line = ini_parse(path, on_ini, out);
  if (line < 0) return cli_usage_error("train", "cannot read --config %s", path);
  if (line > 0)
    return cli_usage_error("train", "--config %s:%d: %s", path, line,
                           out->err[0] ? out->err : "not INI syntax");
  for (int i = 1; i < argc; i++) push(out, argv[i]);
  return 0;
}

static void free_argv(ini_argv *v) {
  for (int i = 0; i < v->argc; i++) free(v->argv[i]);
  free(v->argv);
}

/* ---- options to the trainer's configuration ---------------------------------- */

static int parse_u32(const char *opt, const char *text, uint32_t *out, uint32_t min) {
  if (!text) return 0;
  uint64_t v = *out;
  int rc = cli_parse_u64("train", opt, text, &v);
  if (rc) return rc;
  if (v < min || v > UINT32_MAX)
    return cli_usage_error("train", "%s %s is out of range", opt, text);
  *out = (uint32_t)v;
  return 0;
}

static int apply(const train_args *a, vkl_train_config *c, char *out_default, size_t n) {
  vkl_sched_config s;
  int rc = optim_args_apply("train", &a->o, &c->optim, &s);
  if (rc) return rc;
  c->sched = s.kind;
  c->warmup_epochs = s.warmup_epochs;
  c->step_epochs = s.step_epochs;
  c->step_gamma = s.step_gamma;
  c->batch = s.batch ? s.batch : 1024;
  c->data = a->data;
  c->data_dir = a->data_dir;
  c->model = a->model;
  c->imagenet_stem = a->imagenet_stem;
  c->no_augment = a->no_augment;
  c->no_shuffle = a->no_shuffle;
  c->no_crop = a->no_crop;
  c->no_flip = a->no_flip;
  c->no_rotate = a->no_rotate;
  c->epochs = 10;
  c->seed = 1;
  double ls = 0;
  if ((rc = parse_u32("--epochs", a->epochs, &c->epochs, 1)) ||
      (rc = parse_u32("--width", a->width, &c->model_width, 1)) ||
      (rc = parse_u32("--threads", a->threads, &c->loader_threads, 1)) ||
      (rc = cli_parse_u64("train", "--seed", a->seed, &c->seed)) ||
      (rc = cli_parse_u64("train", "--max-steps", a->max_steps, &c->max_steps)) ||
      (rc = cli_parse_double("train", "--label-smoothing", a->label_smoothing, &ls)))
    return rc;
  if (ls < 0 || ls >= 1) return cli_usage_error("train", "--label-smoothing must be in [0, 1)");
  c->label_smoothing = (float)ls;
  c->micro_batch = c->batch < 256 ? c->batch : 256;
  if (a->micro && strcmp(a->micro, "auto") == 0)
    c->micro_batch = 0; /* the trainer picks the largest that fits */
  else if ((rc = parse_u32("--micro-batch", a->micro, &c->micro_batch, 2)))
    return rc;
  if (c->micro_batch && c->batch % c->micro_batch)
    return cli_usage_error("train", "--micro-batch %u does not divide --batch %u", c->micro_batch,
                           c->batch);
  if (a->on_nonfinite) {
    if (strcmp(a->on_nonfinite, "skip") == 0)
      c->skip_nonfinite = 1;
    else if (strcmp(a->on_nonfinite, "stop") != 0)
      return cli_usage_error("train", "--on-nonfinite is stop or skip, not '%s'", a->on_nonfinite);
  }
  if (a->o.delay_epochs == NULL && a->o.delay == NULL &&
      c->optim.kind == VKL_OPT_TVLARS) /* paper form: no delay unless given */
    c->optim.tv_delay_steps = 0;
  c->keep = 2;
  if ((rc = parse_u32("--keep", a->keep, &c->keep, 0))) return rc;
  if (a->save_every && strcmp(a->save_every, "end") == 0)
    c->save_at_end = 1;
  else if (a->save_every && strcmp(a->save_every, "epoch") != 0 &&
           ((rc = cli_parse_u64("train", "--save-every", a->save_every, &c->save_every)) ||
            c->save_every == 0))
    return rc ? rc
              : cli_usage_error("train", "--save-every is a number of steps (>= 1), epoch or end");
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

static int parse_data_options(const train_args *a, vkl_data_options *d) {
  memset(d, 0, sizeof *d);
  int rc = cli_parse_u64("train", "--synthetic-images", a->synthetic_images, &d->count);
  if (rc) return rc;
  if (a->synthetic_images && d->count == 0)
    return cli_usage_error("train", "--synthetic-images must be at least 1");
  if (a->image_size) {
    char tail;
    if (sscanf(a->image_size, "%ux%ux%u%c", &d->channels, &d->height, &d->width, &tail) != 3 ||
        d->channels == 0 || d->channels > 4 || d->height == 0 || d->height > 4096 ||
        d->width == 0 || d->width > 4096)
      return cli_usage_error("train", "--image-size wants CxHxW (C 1-4, H and W 1-4096), not '%s'",
                             a->image_size);
  }
  return 0;
}

/* Points the parse at the resumed run's argv: the options saved in the
 * checkpoint --resume names (a run directory's linked one, or a file),
 * then this command line's. Each checkpoint skipped is said, and why. */
static int load_resume(train_command *tc, int argc, char **argv) {
  train_args *a = &tc->a;
  char err[1200], notes[4096];
  const char *arg = a->resume;
  if (a->config)
    return cli_usage_error("train", "--resume takes the run's own options, not --config");
  resume_run_dir(arg, tc->resume_dir, sizeof tc->resume_dir);
  if (a->out && strcmp(a->out, tc->resume_dir) != 0)
    return cli_usage_error("train", "--resume %s writes into %s, not --out %s", arg, tc->resume_dir,
                           a->out);
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
  return cli_parse("train", tc->rargc, tc->rargv, tc->opts, tc->n, NULL, 0, NULL, &help);
}

void train_command_free(train_command *tc) {
  free_argv(&tc->expanded);
  resume_argv_free(tc->rargc, tc->rargv);
  free(tc->options);
  memset(tc, 0, sizeof *tc);
}

int train_command_parse(train_command *tc, int argc, char **argv) {
  memset(tc, 0, sizeof *tc);
  train_args *a = &tc->a;
  tc->n = table(a, tc->opts);
  int rc = cli_parse("train", argc, argv, tc->opts, tc->n, NULL, 0, NULL, &tc->help);
  if (rc || tc->help) return rc;
  const char *resume_dir = a->resume;
  if (resume_dir) {
    rc = load_resume(tc, argc, argv);
  } else if (a->config) {
    rc = expand_config(a->config, argc, argv, tc->opts, tc->n, &tc->expanded);
    if (!rc) {
      memset(a, 0, sizeof *a);
      tc->n = table(a, tc->opts);
      rc = cli_parse("train", tc->expanded.argc, tc->expanded.argv, tc->opts, tc->n, NULL, 0, NULL,
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
