/* Writes the fuzzers' seed corpora: small valid inputs of every kind each
 * harness reads, in the harness's input layout (fuzz_util.h), under
 * OUTDIR/<harness>/ (idx, cifar, safetensors, inspect, config, image):
 *   idx:         IDX images and labels, raw and gzip'ed (by the harness, and
 *                as gzip bytes in the input);
 *   cifar:       CIFAR-10 (5 train files, test) and CIFAR-100 records, in
 *                the directory and in the tarball's subdirectory;
 *   safetensors: checkpoints written by the real writer, weights only
 *                and full training states (optimizer moments, the options
 *                to resume with), for the harness's model and for others
 *                (another model, another width);
 *   inspect:     those checkpoints, and ones whose integrity checks fail:
 *                a flipped data byte, a CRC key missing, bytes after the
 *                last tensor, a file from before the CRCs (no CRC keys);
 *   config:      INI files for `vklars train --config`;
 *   image:       PNG (grey, grey+alpha, RGB, RGBA) and JPEG (grey, RGB)
 *                images from stb_image_write, plus BMP and PGM ones (not
 *                formats vklars reads: the refusal path).
 * Deterministic: the same files every run. Usage: gen_seeds OUTDIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "nn/model.h"
#include "train/checkpoint.h"
#include "vklars/optim.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

static const char *outdir;

static void die(const char *what) {
  fprintf(stderr, "gen_seeds: %s: %s\n", what, strerror(errno));
  exit(1);
}

static const char *out_path(const char *kind, const char *name) {
  static char p[2048];
  snprintf(p, sizeof p, "%s/%s", outdir, kind);
  if (mkdir(p, 0755) != 0 && errno != EEXIST) die(p);
  snprintf(p, sizeof p, "%s/%s/%s", outdir, kind, name);
  return p;
}

static void put(const char *kind, const char *name, const void *data, size_t len) {
  const char *p = out_path(kind, name);
  FILE *f = fopen(p, "wb");
  if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) die(p);
}

/* ---- a growing byte buffer --------------------------------------------------- */

typedef struct buf {
  uint8_t *p;
  size_t n, cap;
} buf;

static void add(buf *b, const void *data, size_t len) {
  if (b->n + len > b->cap) {
    b->cap = (b->n + len) * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p) die("out of memory");
  }
  if (len) memcpy(b->p + b->n, data, len);
  b->n += len;
}

static void add_u32le(buf *b, uint32_t v) {
  uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  add(b, x, 4);
}

static void add_u32be(buf *b, uint32_t v) {
  uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  add(b, x, 4);
}

/* one file of a multi-file input: its length, then its bytes */
static void add_part(buf *b, const buf *file) {
  add_u32le(b, (uint32_t)file->n);
  add(b, file->p, file->n);
}

static uint8_t byte_at(uint32_t seed, uint32_t i) {
  uint32_t x = seed * 2654435761u ^ (i + 1) * 40503u;
  x ^= x >> 13;
  return (uint8_t)(x * 0x5bd1e995u >> 24);
}

/* gzip (RFC 1952) of data, as gzwrite writes it */
static buf gzip_bytes(const buf *data) {
  buf out = {0};
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    die("deflateInit2");
  out.cap = deflateBound(&z, data->n) + 32;
  out.p = malloc(out.cap);
  if (!out.p) die("out of memory");
  z.next_in = data->p;
  z.avail_in = (uInt)data->n;
  z.next_out = out.p;
  z.avail_out = (uInt)out.cap;
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) die("deflate");
  out.n = z.total_out;
  deflateEnd(&z);
  return out;
}

/* ---- IDX ----------------------------------------------------------------------- */

static void idx_files(uint32_t n, uint32_t h, uint32_t w, uint32_t classes, uint32_t seed,
                      buf *images, buf *labels) {
  add_u32be(images, 0x00000803u);
  add_u32be(images, n);
  add_u32be(images, h);
  add_u32be(images, w);
  for (uint32_t i = 0; i < n * h * w; i++) {
    uint8_t v = byte_at(seed, i);
    add(images, &v, 1);
  }
  add_u32be(labels, 0x00000801u);
  add_u32be(labels, n);
  for (uint32_t i = 0; i < n; i++) {
    uint8_t l = (uint8_t)((i * 7 + seed) % classes);
    add(labels, &l, 1);
  }
}

static void idx_seed(const char *name, uint8_t flags, uint32_t n, uint32_t h, uint32_t w,
                     uint32_t classes, int pre_gzip) {
  buf im = {0}, lab = {0}, in = {0};
  idx_files(n, h, w, classes, n + h + w, &im, &lab);
  add(&in, &flags, 1);
  if (pre_gzip) {
    buf gi = gzip_bytes(&im), gl = gzip_bytes(&lab);
    add_part(&in, &gi);
    add_part(&in, &gl);
    free(gi.p);
    free(gl.p);
  } else {
    add_part(&in, &im);
    add_part(&in, &lab);
  }
  put("idx", name, in.p, in.n);
  free(im.p);
  free(lab.p);
  free(in.p);
}

static void idx_seeds(void) {
  idx_seed("mnist-raw", 0, 4, 28, 28, 10, 0);
  idx_seed("mnist-gz", 3, 4, 28, 28, 10, 0);      /* both gzip'ed by the harness */
  idx_seed("mnist-gzbytes", 0, 3, 28, 28, 10, 1); /* gzip bytes in the input */
  idx_seed("images-gz", 1, 2, 28, 28, 10, 0);
  idx_seed("odd-3-classes", 3 << 2, 3, 5, 7, 3, 0);
  idx_seed("one-pixel", 0, 1, 1, 1, 10, 0);
  idx_seed("63-classes", 63 << 2, 5, 2, 3, 63, 0);
}

/* ---- CIFAR --------------------------------------------------------------------- */

static void cifar_file(buf *f, uint32_t records, int c100, uint32_t seed) {
  for (uint32_t r = 0; r < records; r++) {
    if (c100) {
      uint8_t coarse = (uint8_t)((r + seed) % 20), fine = (uint8_t)((r * 13 + seed) % 100);
      add(f, &coarse, 1);
      add(f, &fine, 1);
    } else {
      uint8_t label = (uint8_t)((r * 3 + seed) % 10);
      add(f, &label, 1);
    }
    for (uint32_t i = 0; i < 3072; i++) {
      uint8_t v = byte_at(seed * 31 + r, i);
      add(f, &v, 1);
    }
  }
}

static void cifar_seed(const char *name, uint8_t flags, int nfiles, const uint32_t *records) {
  buf in = {0};
  add(&in, &flags, 1);
  for (int f = 0; f < nfiles; f++) {
    buf file = {0};
    cifar_file(&file, records[f], flags & 1, (uint32_t)f + flags);
    add_part(&in, &file);
    free(file.p);
  }
  put("cifar", name, in.p, in.n);
  free(in.p);
}

static void cifar_seeds(void) {
  const uint32_t five[5] = {1, 2, 1, 1, 1}, one[1] = {1}, two[1] = {2};
  cifar_seed("cifar10-train", 0, 5, five);
  cifar_seed("cifar10-train-subdir", 4, 5, five);
  cifar_seed("cifar10-test", 2, 1, two);
  cifar_seed("cifar100-train", 1, 1, two);
  cifar_seed("cifar100-test", 3, 1, one);
  cifar_seed("cifar100-test-subdir", 7, 1, one);
}

/* ---- safetensors ------------------------------------------------------------- */

/* A checkpoint of `model` written by the real writer: weights only, or
 * (argv non-NULL) the full training state with optimizer `opt`'s moments
 * and the options to resume with. */
static void ckpt_seed(const char *kind, const char *name, const char *model, vkl_model_config cfg,
                      const char *argv, int opt) {
  vkl_model *m;
  char err[512];
  if (vkl_model_build(model, &cfg, &m, err, sizeof err)) {
    fprintf(stderr, "gen_seeds: %s\n", err);
    exit(1);
  }
  vkl_checkpoint_state st = {0};
  st.params = malloc(m->param_floats * sizeof(float) + 16);
  st.buffers = malloc(m->buffer_floats * sizeof(float) + 16);
  vkl_checkpoint_meta *meta = calloc(1, sizeof *meta);
  if (!st.params || !st.buffers || !meta) die("out of memory");
  vkl_model_init(m, 7, st.params, st.buffers);
  snprintf(meta->model, sizeof meta->model, "%s", model);
  meta->in_c = cfg.in_c;
  meta->in_h = cfg.in_h;
  meta->in_w = cfg.in_w;
  meta->classes = cfg.classes;
  meta->width = cfg.width;
  meta->imagenet_stem = cfg.imagenet_stem;
  snprintf(meta->data, sizeof meta->data, "synthetic");
  meta->step = 12;
  meta->epoch = 1;
  meta->epoch_step = 2;
  meta->seed = 5;
  meta->batch = 64;
  vkl_status rc;
  if (argv) {
    snprintf(meta->argv, sizeof meta->argv, "%s", argv);
    snprintf(meta->config, sizeof meta->config, "{\"model\": \"%s\", \"batch\": 64}", model);
    snprintf(meta->optimizer, sizeof meta->optimizer, "%s", vkl_opt_kind_name(opt));
    vkl_checkpoint_moment_names(opt, st.moment_names);
    for (int k = 0; k < 2; k++)
      if (st.moment_names[k]) {
        st.moments[k] = malloc(m->param_floats * sizeof(float) + 16);
        if (!st.moments[k]) die("out of memory");
        for (uint64_t i = 0; i < m->param_floats; i++) st.moments[k][i] = 0.001f * (float)(i % 7);
      }
    rc = vkl_checkpoint_save_state(out_path(kind, name), m, meta, &st, err, sizeof err);
  } else {
    rc = vkl_checkpoint_save(out_path(kind, name), m, meta, st.params, st.buffers, err, sizeof err);
  }
  if (rc) {
    fprintf(stderr, "gen_seeds: %s\n", err);
    exit(1);
  }
  free(st.params);
  free(st.buffers);
  free(st.moments[0]);
  free(st.moments[1]);
  free(meta);
  vkl_model_destroy(m);
}

static void checkpoint_seeds(const char *kind) {
  vkl_model_config mine = FUZZ_CKPT_CONFIG;
  ckpt_seed(kind, "harness-model.safetensors", FUZZ_CKPT_MODEL, mine, NULL, 0);
  ckpt_seed(kind, "harness-model-sgd-state.safetensors", FUZZ_CKPT_MODEL, mine,
            "[\"--data\",\"synthetic\",\"--model\",\"cnn\",\"--width\",\"2\",\"--opt\","
            "\"lars\",\"--batch\",\"64\",\"--micro-batch\",\"32\",\"--epochs\",\"3\","
            "\"--save-every\",\"10\",\"--keep\",\"3\",\"--no-augment\"]",
            VKL_OPT_LARS);
  ckpt_seed(kind, "harness-model-adamw-state.safetensors", FUZZ_CKPT_MODEL, mine,
            "[\"--data\",\"synthetic\",\"--opt\",\"adamw\",\"--lr\",\"1e-3\",\"--beta2\","
            "\"0.99\",\"--save-every\",\"epoch\",\"--on-nonfinite\",\"skip\"]",
            VKL_OPT_ADAMW);
  vkl_model_config wider = mine;
  wider.width = 3;
  ckpt_seed(kind, "other-width.safetensors", FUZZ_CKPT_MODEL, wider, NULL, 0);
  vkl_model_config mlp = {.in_c = 1, .in_h = 4, .in_w = 4, .classes = 2, .width = 3};
  ckpt_seed(kind, "mlp-lamb-state.safetensors", "mlp", mlp,
            "[\"--opt\",\"lamb\",\"--model\",\"mlp\"]", VKL_OPT_LAMB);
}

static void safetensors_seeds(void) {
  checkpoint_seeds("safetensors");
}

/* A seed file's bytes (malloc'd). */
static buf read_seed(const char *kind, const char *name) {
  buf b = {0};
  const char *p = out_path(kind, name);
  FILE *f = fopen(p, "rb");
  uint8_t chunk[4096];
  size_t n;
  if (!f) die(p);
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) add(&b, chunk, n);
  fclose(f);
  return b;
}

/* The header of a checkpoint with `key` ("crc32.<tensor>" or "checksum")
 * renamed so that no reader finds it: a CRC missing, or all of them
 * without the marker (a file from before the CRCs). */
static void hide_key(buf *b, const char *key) {
  size_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (size_t)b->p[i] << (8 * i);
  size_t kl = strlen(key);
  for (size_t i = 8; i + kl + 2 <= 8 + hl; i++)
    if (b->p[i] == '"' && memcmp(b->p + i + 1, key, kl) == 0 && b->p[i + 1 + kl] == '"') {
      b->p[i + 1] = 'X'; /* same length: the offsets stay right */
      return;
    }
  fprintf(stderr, "gen_seeds: no key %s\n", key);
  exit(1);
}

static void inspect_seeds(void) {
  checkpoint_seeds("inspect");
  buf b = read_seed("inspect", "harness-model-sgd-state.safetensors");
  b.p[b.n - 3] ^= 0x20; /* the last moment's data */
  put("inspect", "flipped-byte.safetensors", b.p, b.n);
  free(b.p);
  b = read_seed("inspect", "harness-model.safetensors");
  hide_key(&b, "crc32.conv1.weight");
  put("inspect", "crc-missing.safetensors", b.p, b.n);
  free(b.p);
  b = read_seed("inspect", "harness-model.safetensors");
  hide_key(&b, "checksum");
  put("inspect", "before-crcs.safetensors", b.p, b.n);
  add(&b, "trailing", 8);
  put("inspect", "bytes-after-the-data.safetensors", b.p, b.n);
  free(b.p);
}

/* ---- INI configs --------------------------------------------------------------- */

static void config_seeds(void) {
  static const char *const configs[][2] = {
      {"basic.ini",
       "data = synthetic\nmodel = cnn\nepochs = 1\nbatch = 64\nmicro-batch = 32\nseed = 3\n"},
      {"sections.ini",
       "; a comment\n[data]\nds = fashion-mnist\ndata-dir = /tmp/none\n\n[train]\n"
       "no-augment = true\nno-shuffle = yes\nno-crop = 1\nno-flip = false\nno-rotate = no\n"
       "label-smoothing = 0.1\nthreads = 2\non-nonfinite = skip\n"},
      {"tvlars.ini",
       "opt = tvlars\nlr = 4\nlambda = 1e-3\nalpha = 0.1\ndelay-epochs = 2\ngamma-min = 0\n"
       "bs = 4096\nmicro-batch = auto\nmax-steps = 100\nwidth = 8\n"},
      {"lars.ini",
       "opt = lars\nsd = lars-warm\nwarmup-epochs = 5\nwd = 5e-4\nmomentum = 0.9\nnesterov = true\n"
       "eta = 1e-3\nlarc = true\ndenominator = sum-of-norms\nno-exclude-1d = true\n"
       "model = resnet18\nimagenet-stem = true\n"},
      {"lamb.ini",
       "opt = lamb\nbeta1 = 0.9\nbeta2 = 0.999\neps = 1e-6\nbias-correction = true\n"
       "schedule = cosine\nout = runs/x\nforce = true\nskip-bad-images = true\n"
       "init = ckpt.safetensors\ndevice = 0\n"},
      {"bad-key.ini", "epochs = 2\nunknown = 1\n"},
      {"bad-flag.ini", "no-augment = maybe\n"},
      {"bad-value.ini", "epochs = -1\nmicro-batch = 3\nbatch = 10\n"},
  };
  for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
    put("config", configs[i][0], configs[i][1], strlen(configs[i][1]));
}

/* ---- images ---------------------------------------------------------------------- */

static void image_seeds(void) {
  uint8_t px[16 * 16 * 4];
  for (uint32_t i = 0; i < sizeof px; i++) px[i] = byte_at(99, i);
  if (!stbi_write_png(out_path("image", "grey-8x8.png"), 8, 8, 1, px, 8) ||
      !stbi_write_png(out_path("image", "grey-alpha-3x5.png"), 3, 5, 2, px, 3 * 2) ||
      !stbi_write_png(out_path("image", "rgb-5x7.png"), 5, 7, 3, px, 5 * 3) ||
      !stbi_write_png(out_path("image", "rgba-4x4.png"), 4, 4, 4, px, 4 * 4) ||
      !stbi_write_png(out_path("image", "rgb-1x1.png"), 1, 1, 3, px, 3) ||
      !stbi_write_jpg(out_path("image", "rgb-16x16.jpg"), 16, 16, 3, px, 90) ||
      !stbi_write_jpg(out_path("image", "grey-9x9.jpg"), 9, 9, 1, px, 75) ||
      !stbi_write_jpg(out_path("image", "rgb-13x3-q20.jpg"), 13, 3, 3, px, 20) ||
      !stbi_write_bmp(out_path("image", "rgb-4x4.bmp"), 4, 4, 3, px))
    die("stbi_write");
  buf pgm = {0};
  const char hdr[] = "P5\n4 3\n255\n";
  add(&pgm, hdr, sizeof hdr - 1);
  add(&pgm, px, 12);
  put("image", "grey-4x3.pgm", pgm.p, pgm.n);
  free(pgm.p);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: gen_seeds OUTDIR\n");
    return 2;
  }
  outdir = argv[1];
  if (mkdir(outdir, 0755) != 0 && errno != EEXIST) die(outdir);
  idx_seeds();
  cifar_seeds();
  safetensors_seeds();
  inspect_seeds();
  config_seeds();
  image_seeds();
  return 0;
}
