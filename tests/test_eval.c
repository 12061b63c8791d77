/* `vklars eval CKPT` as a user runs it: it evaluates on the run's own data
 * (the data set, directory, image size, synthetic count and seed saved in
 * the checkpoint) and reproduces the run's last test metrics, on a test
 * split smaller than a batch, without being told --data-dir again; and the
 * library's checkpoint evaluation holds an inference net only. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nn/net.h"
#include "test_proc.h"
#include "test_util.h"
#include "train/eval_checkpoint.h"

typedef struct run_result {
  int code;
  char out[1 << 14];
  char err[1 << 14];
} run_result;

/* Runs `vklars <args>` (in directory cwd when not NULL) and captures its
 * exit code, stdout and stderr. */
static run_result *run_in(const char *cwd, const char *args) {
  static run_result r;
  char out[] = "/tmp/vklars-eout-XXXXXX", err[] = "/tmp/vklars-eerr-XXXXXX";
  int fo = mkstemp(out), fe = mkstemp(err);
  cr_assert(fo >= 0 && fe >= 0);
  close(fo);
  close(fe);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >'%s' 2>'%s'", cwd ? cwd : ".", VKLARS_EXE, args,
           out, err);
  int rc = system(cmd);
  cr_assert(WIFEXITED(rc), "vklars %s did not exit normally", args);
  r.code = WEXITSTATUS(rc);
  proc_slurp(out, r.out, sizeof r.out);
  proc_slurp(err, r.err, sizeof r.err);
  unlink(out);
  unlink(err);
  return &r;
}

/* The last epoch's "test loss L top-1 T%" as the train command printed it,
 * and the same from eval's line: both print the loss as %.6g. */
static void test_metrics(const char *text, const char *after, char *loss, char *top1) {
  const char *p = strstr(text, after);
  cr_assert(p, "no '%s' in: %s", after, text);
  cr_assert_eq(sscanf(p + strlen(after), "%31s top-1 %31s", loss, top1), 2, "%s", p);
}

/* A synthetic run with --seed 7 and its own image size and count: eval
 * finds its data from the checkpoint alone. 96 test images, fewer than the
 * default 256 a batch. */
Test(eval, reproduces_a_synthetic_runs_metrics_from_its_options) {
  char *dir = proc_temp_dir("eval"), args[1024];
  snprintf(args, sizeof args,
           "train --data synthetic --synthetic-images 96 --image-size 1x8x8 --model mlp "
           "--width 16 --batch 32 --micro-batch 16 --epochs 2 --seed 7 --no-augment --threads 1 "
           "--out %s/run",
           dir);
  run_result *r = run_in(NULL, args);
  cr_assert_eq(r->code, 0, "train: %s", r->err);
  cr_assert(strstr(r->err, "epoch 2  evaluating 96/96 images"), "no evaluation progress: %s",
            r->err);
  char epochs[4096], tl[32], tt[32], el[32], et[32];
  snprintf(args, sizeof args, "%s/run/epochs.csv", dir);
  proc_slurp(args, epochs, sizeof epochs);
  /* the last epoch's row: epoch,train_loss,train_top1,test_loss,test_top1,... */
  const char *row = strstr(epochs, "\n1,");
  cr_assert(row, "%s", epochs);
  double run_loss, run_top1;
  cr_assert_eq(sscanf(row + 1, "%*u,%*[^,],%*[^,],%lf,%lf", &run_loss, &run_top1), 2, "%s", row);
  /* and as the command printed it: "... | test loss L top-1 T% ..." */
  const char *last = strstr(r->out, "epoch 2:");
  cr_assert(last, "%s", r->out);
  test_metrics(last, "test loss ", tl, tt);
  snprintf(args, sizeof args, "eval %s/run/checkpoint.safetensors --threads 1", dir);
  r = run_in(NULL, args);
  cr_assert_eq(r->code, 0, "eval: %s", r->err);
  test_metrics(r->out, "test loss ", el, et);
  cr_assert(strstr(r->out, "on synthetic/test") && strstr(r->out, "(96 images)"), "%s", r->out);
  cr_assert_str_eq(et, tt, "eval top-1 %s, the run's %s", et, tt);
  cr_assert(fabs(atof(et) / 100 - run_top1) < 1e-4, "eval top-1 %s, epochs.csv %g", et, run_top1);
  /* another batch size sums in another order: the loss to rounding */
  cr_assert(fabs(atof(el) - run_loss) <= 1e-5 * fabs(run_loss), "eval loss %s, epochs.csv %.9g", el,
            run_loss);
  /* a batch of no images is a usage error that states the range */
  r = run_in(NULL, "eval /nonexistent.safetensors --micro-batch 0");
  cr_assert_eq(r->code, 2, "%s", r->err);
  cr_assert(strstr(r->err, "--micro-batch 0 is out of range [1, 65536]"), "%s", r->err);
  free(dir);
}

/* One IDX file: magic, dimensions (big-endian), then the bytes. */
static void write_idx(const char *dir, const char *name, uint32_t magic, const uint32_t *dims,
                      int ndims, const uint8_t *data, size_t n) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  cr_assert(f, "%s", path);
  uint8_t be[4] = {magic >> 24, magic >> 16 & 255, magic >> 8 & 255, magic & 255};
  fwrite(be, 1, 4, f);
  for (int i = 0; i < ndims; i++) {
    uint8_t d[4] = {dims[i] >> 24, dims[i] >> 16 & 255, dims[i] >> 8 & 255, dims[i] & 255};
    fwrite(d, 1, 4, f);
  }
  fwrite(data, 1, n, f);
  cr_assert_eq(fclose(f), 0);
}

/* An MNIST-layout directory of 64 train and 40 test images of 6x6. */
static void write_mnist(const char *dir) {
  enum { TRAIN = 64, TEST = 40, HW = 36 };
  static uint8_t img[TRAIN * HW], lab[TRAIN];
  test_rng rng = {41};
  for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)(test_rng_next(&rng) & 255);
  for (size_t i = 0; i < sizeof lab; i++) lab[i] = (uint8_t)(test_rng_next(&rng) % 10);
  const uint32_t dtr[3] = {TRAIN, 6, 6}, dte[3] = {TEST, 6, 6};
  write_idx(dir, "train-images-idx3-ubyte", 0x803, dtr, 3, img, TRAIN * HW);
  write_idx(dir, "train-labels-idx1-ubyte", 0x801, dtr, 1, lab, TRAIN);
  write_idx(dir, "t10k-images-idx3-ubyte", 0x803, dte, 3, img, TEST * HW);
  write_idx(dir, "t10k-labels-idx1-ubyte", 0x801, dte, 1, lab, TEST);
}

/* A run on a --data-dir: eval needs no --data-dir (the run recorded it), and
 * a relative one is the run's, resolved from the working directory as when
 * it trained; --data-dir still overrides it. */
Test(eval, takes_the_runs_data_dir) {
  char *dir = proc_temp_dir("eval"), args[1024];
  char data[600];
  snprintf(data, sizeof data, "%s/mnist", dir);
  cr_assert_eq(mkdir(data, 0755), 0);
  write_mnist(data);
  snprintf(args, sizeof args,
           "train --data mnist --data-dir mnist --model mlp --width 8 --batch 16 --micro-batch 8 "
           "--epochs 1 --threads 1 --out run");
  run_result *r = run_in(dir, args);
  cr_assert_eq(r->code, 0, "train: %s", r->err);
  r = run_in(dir, "eval run/checkpoint.safetensors --threads 1");
  cr_assert_eq(r->code, 0, "eval: %s", r->err);
  cr_assert(strstr(r->out, "on mnist/test") && strstr(r->out, "(40 images)"), "%s", r->out);
  snprintf(args, sizeof args, "eval %s/run/checkpoint.safetensors --data-dir /nonexistent", dir);
  r = run_in(NULL, args);
  cr_assert_eq(r->code, 1, "%s", r->err);
  cr_assert(strstr(r->err, "/nonexistent"), "%s", r->err);
  free(dir);
}

/* The library's evaluation builds an inference net: its device memory is
 * the inference estimate, well below a training net's. */
Test(eval, holds_an_inference_net_only) {
  char *dir = proc_temp_dir("eval"), args[1024];
  snprintf(args, sizeof args,
           "train --data synthetic --synthetic-images 64 --image-size 1x8x8 --model cnn "
           "--width 4 --batch 16 --micro-batch 8 --epochs 1 --threads 1 --out %s/run",
           dir);
  run_result *r = run_in(NULL, args);
  cr_assert_eq(r->code, 0, "train: %s", r->err);
  char ckpt[600];
  snprintf(ckpt, sizeof ckpt, "%s/run/checkpoint.safetensors", dir);
  vkl_ctx *ctx = test_ctx_create();
  vkl_data_options opt = {.channels = 1, .height = 8, .width = 8, .count = 64, .seed = 1};
  vkl_eval_config ec = {.checkpoint = ckpt,
                        .data = "synthetic",
                        .data_options = &opt,
                        .micro_batch = 32,
                        .loader_threads = 1};
  vkl_eval_report rep;
  char err[1024];
  cr_assert_eq(vkl_eval_checkpoint(ctx, &ec, &rep, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(rep.result.images, 64);
  vkl_model_config mc = {.in_c = 1, .in_h = 8, .in_w = 8, .classes = 10, .width = 4};
  vkl_model *m;
  cr_assert_eq(vkl_model_build("cnn", &mc, &m, err, sizeof err), VKL_OK, "%s", err);
  vkl_net_config infer = {.micro_batch = 32, .inference = 1}, train = {.micro_batch = 32};
  uint64_t bi, bt, largest;
  vkl_net_estimate_for(m, &infer, &bi, &largest);
  vkl_net_estimate_for(m, &train, &bt, &largest);
  cr_assert_eq(rep.device_bytes, bi, "eval holds %llu bytes, an inference net %llu",
               (unsigned long long)rep.device_bytes, (unsigned long long)bi);
  cr_assert(bi < bt - m->param_floats * 4);
  vkl_model_destroy(m);
  test_ctx_destroy(ctx);
  free(dir);
}

static int file_has(const char *path, const char *text) {
  static char buf[1 << 14];
  proc_slurp(path, buf, sizeof buf);
  return strstr(buf, text) != NULL;
}

/* An MNIST-layout directory of `train` and `test` random 28x28 images. */
static void write_mnist28(const char *dir, uint32_t train, uint32_t test) {
  uint32_t n = train > test ? train : test;
  uint8_t *img = malloc((size_t)n * 784), *lab = malloc(n);
  cr_assert(img && lab);
  test_rng rng = {43};
  for (size_t i = 0; i < (size_t)n * 784; i++) img[i] = (uint8_t)(test_rng_next(&rng) & 255);
  for (size_t i = 0; i < n; i++) lab[i] = (uint8_t)(test_rng_next(&rng) % 10);
  const uint32_t dtr[3] = {train, 28, 28}, dte[3] = {test, 28, 28};
  write_idx(dir, "train-images-idx3-ubyte", 0x803, dtr, 3, img, (size_t)train * 784);
  write_idx(dir, "train-labels-idx1-ubyte", 0x801, dtr, 1, lab, train);
  write_idx(dir, "t10k-images-idx3-ubyte", 0x803, dte, 3, img, (size_t)test * 784);
  write_idx(dir, "t10k-labels-idx1-ubyte", 0x801, dte, 1, lab, test);
  free(img);
  free(lab);
}

/* A long evaluation shows its progress and stops between batches on Ctrl-C
 * (exit 130) instead of running to its end: resnet18 trained on 16 images,
 * evaluated on another directory's 2048 (about a second a batch of 16 on
 * lavapipe, two minutes in all). */
Test(eval, shows_progress_and_stops_on_sigint) {
  char *dir = proc_temp_dir("eval"), args[1024], small[600], big[600], log[600];
  snprintf(small, sizeof small, "%s/small", dir);
  snprintf(big, sizeof big, "%s/big", dir);
  cr_assert(mkdir(small, 0755) == 0 && mkdir(big, 0755) == 0);
  write_mnist28(small, 16, 16);
  write_mnist28(big, 16, 2048);
  snprintf(args, sizeof args,
           "train --data mnist --data-dir %s --model resnet18 --batch 16 --epochs 1 --threads 1 "
           "--no-augment --out %s/run",
           small, dir);
  run_result *r = run_in(NULL, args);
  cr_assert_eq(r->code, 0, "train: %s", r->err);
  snprintf(log, sizeof log, "%s/eval.log", dir);
  snprintf(args, sizeof args,
           "eval %s/run/checkpoint.safetensors --data-dir %s --micro-batch 16 --threads 1", dir,
           big);
  pid_t pid = proc_spawn(args, log, 0);
  for (double t0 = proc_now(); !file_has(log, "vklars: evaluating: "); proc_sleep(0.01))
    cr_assert(proc_now() - t0 < 60, "no progress line after 60 s");
  cr_assert(file_has(log, "/2048 images"));
  kill(pid, SIGINT);
  int code = proc_wait(pid, "vklars eval");
  static char text[1 << 14];
  proc_slurp(log, text, sizeof text);
  cr_assert_eq(code, 130, "%s", text);
  cr_assert(strstr(text, "evaluation interrupted after "), "%s", text);
  cr_assert(!strstr(text, "top-1"), "it ran to its end: %s", text);
  free(dir);
}

/* A test split unlike the checkpoint's input is refused with both shapes
 * (it would overflow the net's input otherwise). */
Test(eval, refuses_a_test_split_unlike_the_checkpoint) {
  char *dir = proc_temp_dir("eval"), args[1024], six[600], other[600];
  snprintf(six, sizeof six, "%s/six", dir);
  snprintf(other, sizeof other, "%s/other", dir);
  cr_assert(mkdir(six, 0755) == 0 && mkdir(other, 0755) == 0);
  write_mnist(six);
  write_mnist28(other, 16, 16);
  snprintf(args, sizeof args,
           "train --data mnist --data-dir %s --model mlp --width 8 --batch 16 --epochs 1 "
           "--threads 1 --out %s/run",
           six, dir);
  run_result *r = run_in(NULL, args);
  cr_assert_eq(r->code, 0, "train: %s", r->err);
  snprintf(args, sizeof args, "eval %s/run/checkpoint.safetensors --data-dir %s", dir, other);
  r = run_in(NULL, args);
  cr_assert_eq(r->code, 1, "%s", r->err);
  cr_assert(strstr(r->err, "1x28x28") && strstr(r->err, "1x6x6"), "%s", r->err);
  free(dir);
}
