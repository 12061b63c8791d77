/* Linear evaluation (src/train/linear_probe.c, features.c, linear_eval.c
 * and `vklars linear-eval`): the classifier learns what is linearly
 * separable and not what is not, the frozen features are the net's own in
 * dataset order with the right labels, and the command evaluates a
 * pretraining checkpoint and its random-init baseline. */
#include <math.h>

#include "nn/model.h"
#include "test_util.h"
#include "train/features.h"
#include "train/knn.h"
#include "train/linear_probe.h"

/* n samples of K Gaussian clusters in F dimensions (centres 3 apart), or
 * random labels when shuffled. */
static void clusters(float *x, uint32_t *y, uint64_t n, uint32_t F, uint32_t K, int random_labels,
                     uint64_t seed) {
  test_rng rng = {seed};
  for (uint64_t i = 0; i < n; i++) {
    uint32_t k = (uint32_t)(test_rng_next(&rng) % K);
    for (uint32_t f = 0; f < F; f++)
      x[i * F + f] = (f % K == k ? 3.0f : 0.0f) + test_rng_float(&rng) - 0.5f;
    y[i] = random_labels ? (uint32_t)(test_rng_next(&rng) % K) : k;
  }
}

static vkl_probe_result probe(int random_labels, uint64_t seed) {
  enum { N = 600, T = 300, F = 7, K = 3 };
  static float x[N * F], xt[T * F];
  static uint32_t y[N], yt[T];
  clusters(x, y, N, F, K, random_labels, seed);
  clusters(xt, yt, T, F, K, random_labels, seed + 1);
  vkl_probe_config c = {.epochs = 10, .batch = 32, .seed = 4};
  vkl_probe_data train = {x, y, N}, test = {xt, yt, T};
  vkl_probe_result r;
  char err[256];
  cr_assert_eq(vkl_probe_train(&c, &train, &test, F, K, &r, err, sizeof err), VKL_OK, "%s", err);
  return r;
}

Test(linear_eval, probe_learns_separable_classes_and_not_noise) {
  vkl_probe_result sep = probe(0, 1), noise = probe(1, 1);
  cr_assert_gt(sep.test_top1, 0.97, "separable clusters: test top-1 %g", sep.test_top1);
  cr_assert_eq(sep.test_images, 300);
  cr_assert_eq(sep.test_top5, 1.0); /* 3 classes: every label is in the top 5 */
  /* random labels: nothing to learn about the test split (chance 1/3) */
  cr_assert(noise.test_top1 > 0.2 && noise.test_top1 < 0.47, "noise: test top-1 %g",
            noise.test_top1);
  vkl_probe_result again = probe(0, 1);
  cr_assert(again.test_top1 == sep.test_top1 && again.train_loss == sep.train_loss,
            "the same seed gave another classifier");
}

Test(linear_eval, probe_refuses_bad_labels) {
  float x[4] = {0, 1, 2, 3};
  uint32_t y[2] = {0, 5};
  vkl_probe_config c = {.epochs = 1};
  vkl_probe_data d = {x, y, 2};
  vkl_probe_result r;
  char err[256];
  cr_assert_eq(vkl_probe_train(&c, &d, &d, 2, 3, &r, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "label 5 of 3 classes"), "%s", err);
}

/* The features of 30 images in batches of 7 (a partial last one) are those
 * of each image run alone, in dataset order, with the dataset's labels. */
Test(linear_eval, features_are_the_nets_in_dataset_order) {
  vkl_ctx *ctx = test_ctx_create();
  vkl_synthetic_config sc = {
      .channels = 1, .height = 6, .width = 5, .count = 30, .classes = 4, .seed = 2};
  vkl_dataset *ds;
  char err[512];
  cr_assert_eq(vkl_dataset_synthetic(&sc, &ds, err, sizeof err), VKL_OK, "%s", err);
  vkl_model_config mc = {.in_c = 1, .in_h = 6, .in_w = 5, .classes = 4, .width = 9, .no_head = 1};
  vkl_model *model;
  cr_assert_eq(vkl_model_build("mlp", &mc, &model, err, sizeof err), VKL_OK, "%s", err);
  float *p = malloc(model->param_floats * 4), b[1];
  vkl_model_init(model, 7, p, b);
  vkl_net *nets[2];
  const uint32_t ms[2] = {7, 1};
  float *feat[2];
  uint32_t labels[2][30];
  const uint32_t F = 9;
  for (int i = 0; i < 2; i++) {
    vkl_net_config nc = {.micro_batch = ms[i], .inference = 1};
    TEST_OK(ctx, vkl_net_create(ctx, model, &nc, &nets[i]));
    cr_assert_eq(vkl_net_output_floats(nets[i]), F);
    TEST_OK(ctx, vkl_net_upload_state(nets[i], p, b));
    feat[i] = malloc(30 * F * 4);
    vkl_features_config fc = {.net = nets[i], .dataset = ds, .loader_threads = 1};
    cr_assert_eq(vkl_features_extract(ctx, &fc, feat[i], labels[i], err, sizeof err), VKL_OK, "%s",
                 err);
  }
  const uint32_t *want = vkl_dataset_labels(ds);
  for (uint32_t i = 0; i < 30; i++) {
    cr_assert_eq(labels[0][i], want[i], "image %u: label %u, the dataset's %u", i, labels[0][i],
                 want[i]);
    cr_assert_eq(labels[1][i], want[i]);
    for (uint32_t f = 0; f < F; f++) {
      float a = feat[0][i * F + f], c = feat[1][i * F + f];
      cr_assert(fabsf(a - c) <= 1e-5f + 1e-4f * fabsf(c), "image %u feature %u: %g vs %g alone", i,
                f, a, c);
    }
  }
  double energy = 0;
  for (uint32_t i = 0; i < 30 * F; i++) energy += fabs(feat[0][i]);
  cr_assert_gt(energy, 0, "all features are zero");
  for (int i = 0; i < 2; i++) {
    vkl_net_destroy(nets[i]);
    free(feat[i]);
  }
  free(p);
  vkl_model_destroy(model);
  vkl_dataset_destroy(ds);
  test_ctx_destroy(ctx);
}

/* Runs `vklars <args>` with stdout and stderr into out; returns the exit code. */
static int vklars(const char *args, char *out, size_t n) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "timeout 120 '%s' %s 2>&1", VKLARS_EXE, args);
  FILE *f = popen(cmd, "r");
  cr_assert(f);
  size_t got = fread(out, 1, n - 1, f);
  out[got] = '\0';
  int rc = pclose(f);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

Test(linear_eval, command_evaluates_a_pretraining_checkpoint) {
  char dir[] = "/tmp/vklars-lineval-XXXXXX";
  cr_assert(mkdtemp(dir));
  char args[1024], out[8192];
  snprintf(args, sizeof args,
           "pretrain --data synthetic --synthetic-images 256 --image-size 1x8x8 --model cnn "
           "--width 4 --projector 32-32 --batch 64 --micro-batch 32 --epochs 1 --threads 1 "
           "--opt lars --lr 0.5 --grey-jitter --out %s/run",
           dir);
  cr_assert_eq(vklars(args, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "pretrained: loss"), "%s", out);
  cr_assert(strstr(out, "kNN test top-1"), "no kNN monitor: %s", out);
  char path[400], json[8192] = "";
  snprintf(path, sizeof path, "%s/run/run.json", dir);
  FILE *f = fopen(path, "r");
  cr_assert(f, "%s", path);
  json[fread(json, 1, sizeof json - 1, f)] = '\0';
  fclose(f);
  cr_assert(strstr(json, "\"barlow-twins\"") && strstr(json, "\"projector\":") &&
                strstr(json, "\"lambda\":\t0.005") && strstr(json, "\"grey_jitter\":\ttrue"),
            "run.json does not describe the method: %s", json);
  /* no classifier, so no train top-1: NaN, not a 0 that reads as a result */
  snprintf(path, sizeof path, "%s/run/epochs.csv", dir);
  f = fopen(path, "r");
  cr_assert(f, "%s", path);
  json[fread(json, 1, sizeof json - 1, f)] = '\0';
  fclose(f);
  double loss;
  char top1[16];
  cr_assert_eq(sscanf(strchr(json, '\n') + 1, "0,%lf,%15[^,]", &loss, top1), 2, "%s", json);
  cr_assert_str_eq(top1, "nan", "%s", json);
  snprintf(path, sizeof path, "%s/run/steps.csv", dir);
  f = fopen(path, "r");
  cr_assert(f, "%s", path);
  json[fread(json, 1, sizeof json - 1, f)] = '\0';
  fclose(f);
  cr_assert(strstr(json, ",nan\n"), "steps.csv: %s", json);
  for (int random = 0; random < 2; random++) {
    snprintf(args, sizeof args, "linear-eval %s/run/checkpoint.safetensors --epochs 3%s", dir,
             random ? " --random-init" : "");
    cr_assert_eq(vklars(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "linear evaluation test top-1"), "%s", out);
    cr_assert(strstr(out, "(256 test images; trained on 256"), "%s", out);
    cr_assert(!random || strstr(out, "randomly initialised"), "%s", out);
    /* cnn width 4: 8 x 2 x 2 = 32 features */
    const char *r = strstr(out, "32 features, effective rank ");
    double rank = 0;
    cr_assert(r && sscanf(r, "32 features, effective rank %lf", &rank) == 1, "%s", out);
    cr_assert(rank > 1 && rank <= 32, "rank %g: %s", rank, out);
  }
  /* eval wants a classifier: it says what to run instead */
  snprintf(args, sizeof args, "eval %s/run/checkpoint.safetensors", dir);
  cr_assert_eq(vklars(args, out, sizeof out), 2, "%s", out);
  cr_assert(strstr(out, "is a barlow-twins pretraining checkpoint") &&
                strstr(out, "vklars linear-eval "),
            "%s", out);
  snprintf(args, sizeof args, "linear-eval %s/run/run.json", dir);
  cr_assert_eq(vklars(args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "vklars: error: linear-eval:"), "%s", out);
  cr_assert_eq(vklars("linear-eval", out, sizeof out), 2, "%s", out);
}

/* kNN votes weigh each neighbour by exp(cosine / 0.1), and only directions
 * count (the bank's lengths differ). One neighbour at cosine 1 (e^10 =
 * 22026) outvotes two at 0.9 (2 e^9 = 16206), and is outvoted by two at
 * 0.95 (2 e^9.5 = 26720); with k = 1 the nearest alone decides. */
Test(linear_eval, knn_votes_by_weighted_cosine) {
  const float angle[6] = {0.0f, acosf(0.9f), -acosf(0.9f), acosf(0.95f), -acosf(0.95f), 3.0f};
  float bank[6 * 2];
  for (int i = 0; i < 6; i++) {
    float len = 1.0f + (float)i; /* lengths differ: only directions count */
    bank[2 * i] = len * cosf(angle[i]);
    bank[2 * i + 1] = len * sinf(angle[i]);
  }
  float q[2] = {5.0f, 0.0f};
  uint32_t qy = 0;
  char err[256];
  double top1;
  /* bank 0 (s = 1) says class 0; 1 and 2 (s = 0.9) say class 1 */
  uint32_t y1[3] = {0, 1, 1};
  vkl_knn_config k3 = {.k = 3};
  cr_assert_eq(vkl_knn_top1(&k3, bank, y1, 3, q, &qy, 1, 2, 2, &top1, err, sizeof err), VKL_OK);
  cr_assert_eq(top1, 1.0, "e^10 should outweigh 2 e^9");
  /* bank 0 says class 0; 3, 4 (s = 0.95) and 1 (s = 0.9) say class 1: 3 neighbours of k = 3
   * are 0, 3, 4: e^10 vs 2 e^9.5 = 26732: class 1 */
  float bank2[5 * 2];
  memcpy(bank2, bank, 2 * 2 * sizeof(float));
  memcpy(bank2 + 4, bank + 6, 3 * 2 * sizeof(float)); /* bank 0, 1, 3, 4, 5 */
  uint32_t y2[5] = {0, 1, 1, 1, 0};
  cr_assert_eq(vkl_knn_top1(&k3, bank2, y2, 5, q, &qy, 1, 2, 2, &top1, err, sizeof err), VKL_OK);
  cr_assert_eq(top1, 0.0, "2 e^9.5 should outweigh e^10");
  vkl_knn_config k1 = {.k = 1};
  cr_assert_eq(vkl_knn_top1(&k1, bank2, y2, 5, q, &qy, 1, 2, 2, &top1, err, sizeof err), VKL_OK);
  cr_assert_eq(top1, 1.0);
  vkl_knn_config k0 = {.k = 0};
  cr_assert_eq(vkl_knn_top1(&k0, bank2, y2, 5, q, &qy, 1, 2, 2, &top1, err, sizeof err),
               VKL_ERR_INVALID_ARGUMENT);
}

/* A one-epoch pretraining of 64 synthetic 8x8 images into dir/run, with
 * the backbone model_args; its output in out. */
static void pretrain_tiny(char *dir, const char *model_args, char *out, size_t n) {
  char args[512];
  cr_assert(mkdtemp(dir));
  snprintf(args, sizeof args,
           "pretrain --data synthetic --synthetic-images 64 --image-size 1x8x8 %s "
           "--projector 8 --batch 32 --epochs 1 --knn 0 --threads 1 --out %s/run",
           model_args, dir);
  cr_assert_eq(vklars(args, out, n), 0, "%s", out);
}

/* pretrain's default backbone is cnn-gap: a self-supervised backbone's
 * features are averaged over the image. */
Test(linear_eval, pretrain_defaults_to_an_averaged_backbone) {
  char dir[] = "/tmp/vklars-ptdefault-XXXXXX", out[8192];
  pretrain_tiny(dir, "--width 2", out, sizeof out);
  cr_assert(strstr(out, "vklars: cnn-gap on synthetic"), "%s", out);
}

/* The effective rank costs O(F^3): above VKL_FEATURE_RANK_MAX features the
 * report says it was skipped rather than taking minutes. cnn width 130 on
 * 8x8 images: 260 x 2 x 2 = 1040 features. */
Test(linear_eval, rank_is_skipped_for_many_features) {
  char dir[] = "/tmp/vklars-rankmax-XXXXXX", args[512], out[8192];
  pretrain_tiny(dir, "--model cnn --width 130", out, sizeof out);
  snprintf(args, sizeof args, "linear-eval %s/run/checkpoint.safetensors --epochs 1", dir);
  cr_assert_eq(vklars(args, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "1040 features, effective rank not computed (over 512)"), "%s", out);
}
