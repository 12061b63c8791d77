/* vklars train: train a model on a data set with TVLARS or a baseline,
 * printing progress and writing the run directory. Options may also come
 * from an INI file (--config), with the same names without the dashes;
 * the command line overrides the file. */
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/optim_args.h"
#include "cli/resume_args.h"
#include "cli/signals.h"
#include "train/trainer.h"

typedef struct train_args {
  optim_args o;
  const char *data, *data_dir, *model, *micro, *epochs, *seed, *device, *out, *config, *max_steps,
      *threads, *label_smoothing, *on_nonfinite, *width, *init, *resume, *save_every, *keep,
      *synthetic_images, *image_size;
  int no_augment, no_shuffle, imagenet_stem, no_crop, no_flip, no_rotate, force, skip_bad;
} train_args;

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

typedef struct ini_argv {
  char **argv;
  int argc, cap;
  const cli_opt *opts;
  int nopts;
  char err[256];
} ini_argv;

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

/* ---- progress ------------------------------------------------------------- */

typedef struct progress {
  int tty;
  double last_print;
} progress;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void on_progress(void *user, const vkl_train_progress *p) {
  progress *pr = user;
  double t = now_s();
  if (!pr->tty && t - pr->last_print < 5.0 && p->step != p->steps) return;
  if (pr->tty && t - pr->last_print < 0.2 && p->step != p->steps) return;
  pr->last_print = t;
  unsigned eta = (unsigned)p->eta_s;
  char line[200];
  snprintf(line, sizeof line,
           "epoch %u/%u  step %llu/%llu  micro %u/%u  loss %.4f  %.0f img/s  ETA %u:%02u:%02u",
           p->epoch + 1, p->epochs, (unsigned long long)p->step, (unsigned long long)p->steps,
           p->micro, p->micro_steps, p->loss, p->images_per_s, eta / 3600, eta / 60 % 60, eta % 60);
  if (pr->tty)
    fprintf(stderr, "\r%-100s", line);
  else
    fprintf(stderr, "%s\n", line);
  fflush(stderr);
}

static void on_epoch(void *user, const vkl_epoch_result *r) {
  progress *pr = user;
  if (pr->tty) fputc('\n', stderr);
  printf(
      "epoch %u: train loss %.4f top-1 %.2f%% | test loss %.4f top-1 %.2f%% top-5 %.2f%% "
      "(%llu images) | %.1f s, %.0f img/s, loader %.0f img/s\n",
      r->epoch + 1, r->train_loss, 100 * r->train_top1, r->test_loss, 100 * r->test_top1,
      100 * r->test_top5, (unsigned long long)r->test_images, r->wall_s, r->images_per_s,
      r->loader_images_per_s);
  fflush(stdout);
}

static void on_note(void *user, const char *msg) {
  progress *pr = user;
  if (pr->tty) fputc('\n', stderr);
  fprintf(stderr, "vklars: %s\n", msg);
}

/* ---- the command ------------------------------------------------------------ */

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
 * newest checkpoint of a->resume, then this command line's. */
static int load_resume(train_args *a, cli_opt *opts, int *n, int argc, char **argv, char *ckpt,
                       size_t ckptlen, int *rargc, char ***rargv) {
  char err[1200];
  const char *dir = a->resume;
  if (a->config)
    return cli_usage_error("train", "--resume takes the run's own options, not --config");
  if (a->out && strcmp(a->out, dir) != 0)
    return cli_usage_error("train", "--resume %s writes into that directory, not --out %s", dir,
                           a->out);
  if (resume_find_checkpoint(dir, ckpt, ckptlen, err, sizeof err) ||
      resume_argv(ckpt, argc, argv, rargc, rargv, err, sizeof err)) {
    cli_error("train: %s", err);
    return VKL_EXIT_FAILURE;
  }
  memset(a, 0, sizeof *a);
  *n = table(a, opts);
  int help = 0;
  return cli_parse("train", *rargc, *rargv, opts, *n, NULL, 0, NULL, &help);
}

/* An interrupted run: where it stopped and how to go on. */
static int report_interrupted(const char *err, const char *dir) {
  fprintf(stderr, "vklars: %s\nvklars: continue with: vklars train --resume %s\n", err, dir);
  int code = cli_signal_exit_code();
  return code ? code : VKL_EXIT_FAILURE;
}

/* `vklars train ARGS` up to opening a device: the options (with those of
 * --config or of the checkpoint --resume continues merged in), the trainer's
 * configuration, and the storage its strings point into. The fuzz harnesses
 * (fuzz/train_cli.c) run this too. */
typedef struct train_command {
  train_args a;
  cli_opt opts[OPTIM_ARGS_MAX + 40];
  int n, help;
  ini_argv expanded; /* --config: the file's options, then the command line's */
  int rargc;         /* --resume: the checkpoint's options, then the command line's */
  char **rargv;
  char ckpt[1100]; /* --resume: the checkpoint */
  char out_default[64], cmdline[1024];
  vkl_data_options data_options;
  char *options; /* the run's options as JSON, for the checkpoints */
  vkl_train_config cfg;
} train_command;

static void train_command_free(train_command *tc) {
  free_argv(&tc->expanded);
  resume_argv_free(tc->rargc, tc->rargv);
  free(tc->options);
  memset(tc, 0, sizeof *tc);
}

/* Returns 0 with tc->cfg ready (or tc->help set), else the exit code after
 * the message. Free tc either way. */
static int train_command_parse(train_command *tc, int argc, char **argv) {
  memset(tc, 0, sizeof *tc);
  train_args *a = &tc->a;
  tc->n = table(a, tc->opts);
  int rc = cli_parse("train", argc, argv, tc->opts, tc->n, NULL, 0, NULL, &tc->help);
  if (rc || tc->help) return rc;
  const char *resume_dir = a->resume;
  if (resume_dir) {
    rc = load_resume(a, tc->opts, &tc->n, argc, argv, tc->ckpt, sizeof tc->ckpt, &tc->rargc,
                     &tc->rargv);
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
    cfg->out_dir = resume_dir;
  }
  return 0;
}

int cmd_train(int argc, char **argv) {
  train_command *tc = malloc(sizeof *tc);
  if (!tc) {
    cli_error("train: out of host memory");
    return VKL_EXIT_FAILURE;
  }
  int rc = train_command_parse(tc, argc, argv);
  if (!rc && tc->help)
    cli_print_help("train", "[options]",
                   "Trains a model with TVLARS (default) or a baseline. The global batch\n"
                   "--batch is emulated by --micro-batch sized micro-batches whose gradients\n"
                   "accumulate on the device; batch norm uses each micro-batch's statistics.\n"
                   "The run directory gets run.json, epochs.csv, steps.csv, layers.csv and\n"
                   "checkpoints ckpt-step<N>.safetensors (PyTorch state_dict names, plus the\n"
                   "optimizer state and the position), checkpoint.safetensors linking the newest.\n"
                   "Ctrl-C (or SIGTERM) finishes the step in flight, saves a checkpoint and\n"
                   "exits 130 (143); a second Ctrl-C quits at once. --resume DIR continues a\n"
                   "run exactly where its newest checkpoint left it.",
                   tc->opts, tc->n);
  if (rc || tc->help) {
    train_command_free(tc);
    free(tc);
    return rc;
  }
  vkl_train_config *cfg = &tc->cfg;
  progress pr = {isatty(STDERR_FILENO), 0};
  cfg->on_progress = on_progress;
  cfg->on_epoch = on_epoch;
  cfg->on_note = on_note;
  cfg->user = &pr;
  cfg->stop = &cli_stop_signal;

  vkl_ctx_config ccfg = {.device = tc->a.device};
  vkl_ctx *ctx = NULL;
  vkl_status st = vkl_ctx_create(&ccfg, &ctx);
  if (st) {
    cli_error("train: %s", vkl_ctx_errmsg(ctx));
    vkl_ctx_destroy(ctx);
    train_command_free(tc);
    free(tc);
    return VKL_EXIT_FAILURE;
  }
  fprintf(stderr, "vklars: device %s (%s); run directory %s\n", vkl_ctx_device(ctx)->name,
          vkl_ctx_device(ctx)->driver_info, cfg->out_dir);
  if (cfg->resume) fprintf(stderr, "vklars: resuming from %s\n", cfg->resume);
  vkl_train_result res;
  char err[2048];
  cli_signals_install();
  st = vkl_train(ctx, cfg, &res, err, sizeof err);
  vkl_ctx_destroy(ctx);
  cli_signals_restore();
  if (pr.tty && st) fputc('\n', stderr);
  rc = VKL_EXIT_OK;
  if (st == VKL_ERR_INTERRUPTED) {
    rc = report_interrupted(err, cfg->out_dir);
  } else if (st) {
    cli_error("train: %s", err);
    rc = st == VKL_ERR_INVALID_ARGUMENT ? VKL_EXIT_USAGE : VKL_EXIT_FAILURE;
  } else if (res.last.test_images > 0) { /* 0: a finished run resumed, nothing ran */
    printf("test top-1 %.2f%% top-5 %.2f%% after %llu steps in %.1f s (run directory %s)\n",
           100 * res.last.test_top1, 100 * res.last.test_top5, (unsigned long long)res.steps,
           res.wall_s, cfg->out_dir);
  }
  /* last: cfg->out_dir may point into tc's argv copies (--config, --resume) */
  train_command_free(tc);
  free(tc);
  return rc;
}
