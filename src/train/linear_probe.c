/* A linear classifier on fixed features (see linear_probe.h). */
#include "train/linear_probe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/loader.h"

typedef struct probe {
  uint32_t F, K;
  float *w, *b;   /* (K,F), (K) */
  float *vw, *vb; /* momentum buffers */
  float *gw, *gb; /* the batch's gradient */
  double *logits; /* (K) scratch */
} probe;

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* A standard normal draw (Box-Muller). */
static double normal(uint64_t *s) {
  double u = ((splitmix(s) >> 11) + 0.5) * 0x1.0p-53, v = (splitmix(s) >> 11) * 0x1.0p-53;
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static void probe_free(probe *p) {
  free(p->w), free(p->b), free(p->vw), free(p->vb), free(p->gw), free(p->gb), free(p->logits);
}

static int probe_alloc(probe *p, uint32_t F, uint32_t K, uint64_t seed) {
  memset(p, 0, sizeof *p);
  p->F = F;
  p->K = K;
  size_t wk = (size_t)F * K;
  p->w = malloc(wk * 4), p->vw = calloc(wk, 4), p->gw = malloc(wk * 4);
  p->b = calloc(K, 4), p->vb = calloc(K, 4), p->gb = malloc(K * 4);
  p->logits = malloc(K * sizeof(double));
  if (!p->w || !p->vw || !p->gw || !p->b || !p->vb || !p->gb || !p->logits) return -1;
  uint64_t s = seed ^ 0x6c696e656172ull; /* "linear" */
  for (size_t i = 0; i < wk; i++) p->w[i] = (float)(0.01 * normal(&s));
  return 0;
}

/* logits of x, then softmax in place; returns -log p[y]. */
static double softmax_row(const probe *p, const float *x, uint32_t y) {
  double mx = -INFINITY;
  for (uint32_t k = 0; k < p->K; k++) {
    const float *wk = p->w + (size_t)k * p->F;
    double z = p->b[k];
    for (uint32_t f = 0; f < p->F; f++) z += (double)wk[f] * x[f];
    p->logits[k] = z;
    if (z > mx) mx = z;
  }
  double sum = 0;
  for (uint32_t k = 0; k < p->K; k++) sum += exp(p->logits[k] - mx);
  double loss = log(sum) + mx - p->logits[y];
  for (uint32_t k = 0; k < p->K; k++) p->logits[k] = exp(p->logits[k] - mx) / sum;
  return loss;
}

/* Whether label y is among the k highest logits (ties to the lower class). */
static int in_top(const double *z, uint32_t K, uint32_t y, uint32_t k) {
  uint32_t ahead = 0;
  for (uint32_t j = 0; j < K; j++)
    if (z[j] > z[y] || (z[j] == z[y] && j < y)) ahead++;
  return ahead < k;
}

/* One SGD step on the samples idx[0..n). */
static void step(probe *p, const vkl_probe_data *d, const uint64_t *idx, uint32_t n, double lr,
                 double mu, double wd, double *loss, uint64_t *hits) {
  size_t wk = (size_t)p->F * p->K;
  memset(p->gw, 0, wk * 4);
  memset(p->gb, 0, p->K * 4);
  for (uint32_t i = 0; i < n; i++) {
    const float *x = d->x + idx[i] * p->F;
    uint32_t y = d->y[idx[i]];
    *loss += softmax_row(p, x, y);
    *hits += in_top(p->logits, p->K, y, 1);
    for (uint32_t k = 0; k < p->K; k++) {
      float g = (float)((p->logits[k] - (k == y)) / n);
      float *gk = p->gw + (size_t)k * p->F;
      for (uint32_t f = 0; f < p->F; f++) gk[f] += g * x[f];
      p->gb[k] += g;
    }
  }
  for (size_t i = 0; i < wk; i++) {
    p->vw[i] = (float)(mu * p->vw[i] + p->gw[i] + wd * p->w[i]);
    p->w[i] -= (float)(lr * p->vw[i]);
  }
  for (uint32_t k = 0; k < p->K; k++) {
    p->vb[k] = (float)(mu * p->vb[k] + p->gb[k] + wd * p->b[k]);
    p->b[k] -= (float)(lr * p->vb[k]);
  }
}

static void evaluate(probe *p, const vkl_probe_data *d, vkl_probe_result *r) {
  double loss = 0;
  uint64_t top1 = 0, top5 = 0;
  for (uint64_t i = 0; i < d->n; i++) {
    uint32_t y = d->y[i];
    loss += softmax_row(p, d->x + i * p->F, y);
    top1 += in_top(p->logits, p->K, y, 1);
    top5 += in_top(p->logits, p->K, y, 5);
  }
  r->test_images = d->n;
  r->test_loss = d->n ? loss / d->n : 0;
  r->test_top1 = d->n ? (double)top1 / d->n : 0;
  r->test_top5 = d->n ? (double)top5 / d->n : 0;
}

static vkl_status check(const vkl_probe_data *train, const vkl_probe_data *test, uint32_t F,
                        uint32_t K, char *err, size_t errlen) {
  if (!F || K < 2 || !train->n) {
    snprintf(err, errlen, "linear probe: %llu training samples of %u features, %u classes",
             (unsigned long long)train->n, F, K);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  const vkl_probe_data *sets[2] = {train, test};
  for (int s = 0; s < 2; s++)
    for (uint64_t i = 0; i < sets[s]->n; i++)
      if (sets[s]->y[i] >= K) {
        snprintf(err, errlen, "linear probe: %s sample %llu has label %u of %u classes",
                 s ? "test" : "training", (unsigned long long)i, sets[s]->y[i], K);
        return VKL_ERR_INVALID_ARGUMENT;
      }
  return VKL_OK;
}

vkl_status vkl_probe_train(const vkl_probe_config *cfg, const vkl_probe_data *train,
                           const vkl_probe_data *test, uint32_t F, uint32_t K, vkl_probe_result *r,
                           char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  vkl_status st = check(train, test, F, K, err, errlen);
  if (st) return st;
  uint32_t epochs = cfg->epochs ? cfg->epochs : 100, batch = cfg->batch ? cfg->batch : 256;
  double lr0 = cfg->lr > 0 ? cfg->lr : 0.3;
  double mu = cfg->momentum < 0 ? 0 : cfg->momentum ? cfg->momentum : 0.9;
  double wd = cfg->weight_decay < 0 ? 0 : cfg->weight_decay ? cfg->weight_decay : 1e-6;
  probe p;
  uint64_t *perm = malloc(train->n * sizeof *perm);
  if (probe_alloc(&p, F, K, cfg->seed) || !perm) {
    probe_free(&p);
    free(perm);
    snprintf(err, errlen, "linear probe: out of host memory for %u x %u weights", K, F);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  for (uint32_t e = 0; e < epochs && !st; e++) {
    double lr = lr0 * 0.5 * (1 + cos(3.141592653589793 * e / epochs)), loss = 0;
    uint64_t hits = 0;
    vkl_data_permutation(cfg->seed, e, train->n, perm);
    for (uint64_t i = 0; i < train->n; i += batch) {
      uint32_t n = (uint32_t)(train->n - i < batch ? train->n - i : batch);
      step(&p, train, perm + i, n, lr, mu, wd, &loss, &hits);
    }
    r->train_loss = loss / train->n;
    r->train_top1 = (double)hits / train->n;
    if (cfg->on_epoch) cfg->on_epoch(cfg->user, e, epochs, r->train_loss, r->train_top1);
    if (cfg->stop && *cfg->stop && e + 1 < epochs) {
      snprintf(err, errlen, "linear probe: interrupted after epoch %u of %u", e + 1, epochs);
      st = VKL_ERR_INTERRUPTED;
    }
  }
  if (!st) evaluate(&p, test, r);
  probe_free(&p);
  free(perm);
  return st;
}
