/* Loader threads (pthreads) filling caller-provided micro-batch slots.
 *
 * One mutex guards the slots; workers claim a chunk of consecutive samples
 * of the oldest submitted batch that still has unclaimed ones, produce them
 * without the lock (read or decode, augment, normalize straight into the
 * caller's memory), then report the chunk done. A sample's bytes depend
 * only on (seed, epoch, position), never on who made it, so any thread
 * count gives the same batches. The public calls are made from one thread
 * (the trainer's). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "data/data_internal.h"
#include "data/loader.h"

enum { SLOT_FREE = 0, SLOT_QUEUED, SLOT_DONE };

typedef struct slot {
  int state;
  uint64_t batch, seq;
  float *images;
  uint32_t *labels;
  uint32_t count, next, done, chunk;
  vkl_status st;
  uint32_t err_sample; /* the lowest failing sample reports, whatever the order */
  char err[768];
} slot;

typedef struct worker {
  vkl_loader *ld;
  pthread_t thread;
  uint8_t *src, *geo; /* (C,H,W) scratch: decoded image, augmented image */
  float *tmp;         /* (H,W) scratch of the two-view blur */
  char err[768];
} worker;

struct vkl_loader {
  vkl_loader_config cfg;
  const vkl_dataset *ds;
  vkl_dataset_info info;
  size_t chw;
  uint64_t batches;
  uint64_t *perm; /* NULL with no_shuffle */
  uint64_t epoch;
  int started;
  int geometry;
  float lut[VKL_AUGMENT_MAX_CHANNELS][256];
  float ssl_lut[2][VKL_AUGMENT_MAX_CHANNELS][256]; /* views == 2: each view's */

  pthread_mutex_t mu;
  pthread_cond_t work, done;
  int mu_ok, work_ok, done_ok;
  slot *slots;
  uint32_t nslots;
  uint32_t in_flight;
  uint64_t seq;
  worker *workers;
  uint32_t nthreads, running;
  int stop;

  vkl_loader_stats cur, last;
  int has_last;
  double epoch_t0, last_done_t;
  char errmsg[1024];
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static vkl_status set_err(vkl_loader *ld, vkl_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static vkl_status set_err(vkl_loader *ld, vkl_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ld->errmsg, sizeof ld->errmsg, fmt, ap);
  va_end(ap);
  return st;
}

void vkl_data_permutation(uint64_t seed, uint64_t epoch, uint64_t n, uint64_t *perm) {
  for (uint64_t i = 0; i < n; i++) perm[i] = i;
  data_rng r = data_rng_key(seed, DATA_RNG_SHUFFLE, epoch, 0);
  for (uint64_t i = n; i > 1; i--) {
    uint64_t j = data_rng_below(&r, i);
    uint64_t t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
}

uint32_t vkl_loader_batch_size(const vkl_loader *ld, uint64_t b) {
  if (b >= ld->batches) return 0;
  uint64_t m = ld->cfg.batch, rest = ld->info.count - b * m;
  return (uint32_t)(rest < m ? rest : m);
}

uint64_t vkl_loader_sample_index(const vkl_loader *ld, uint64_t pos) {
  return ld->perm ? ld->perm[pos] : pos;
}

/* Both views of a sample (dataset index idx, row j of m): view v at row
 * v*m + j of the slot's (2,m,C,H,W) images. */
static void make_views(vkl_loader *ld, worker *w, uint64_t idx, uint32_t j, const uint8_t *src,
                       float *images) {
  const vkl_dataset_info *in = &ld->info;
  for (uint32_t v = 0; v < 2; v++) {
    vkl_augment_ssl_params p;
    vkl_augment_ssl_draw(&ld->cfg.ssl[v], in->height, in->width, ld->cfg.seed, ld->epoch, idx, v,
                         &p);
    vkl_augment_ssl_apply_u8(w->geo, src, w->tmp, in->channels, in->height, in->width, &p);
    data_norm_apply(images + ((size_t)v * ld->cfg.batch + j) * ld->chw, w->geo, in->channels,
                    (size_t)in->height * in->width, (const float(*)[256])ld->ssl_lut[v]);
  }
}

/* Produces sample j of the batch: returns a status, message in w->err. */
static vkl_status make_sample(vkl_loader *ld, worker *w, uint64_t batch, uint32_t j, float *images,
                              uint32_t *labels) {
  uint64_t pos = batch * ld->cfg.batch + j;
  uint64_t idx = ld->perm ? ld->perm[pos] : pos;
  const uint8_t *src;
  if (ld->ds->pixels) {
    src = ld->ds->pixels + idx * ld->chw;
    labels[j] = ld->ds->labels[idx];
  } else { /* the label of the image produced: a substitute's own (skip_bad_images) */
    vkl_status st = vkl_dataset_get(ld->ds, idx, w->src, &labels[j], w->err, sizeof w->err);
    if (st) return st;
    src = w->src;
  }
  if (ld->cfg.views == 2) {
    make_views(ld, w, idx, j, src, images);
    return VKL_OK;
  }
  if (ld->geometry) {
    vkl_augment_params p;
    vkl_augment_draw(&ld->cfg.augment, ld->cfg.seed, ld->epoch, idx, &p);
    vkl_augment_geometry(w->geo, src, ld->info.channels, ld->info.height, ld->info.width,
                         ld->cfg.augment.crop_pad, &p);
    src = w->geo;
  }
  data_norm_apply(images + (size_t)j * ld->chw, src, ld->info.channels,
                  (size_t)ld->info.height * ld->info.width, (const float(*)[256])ld->lut);
  return VKL_OK;
}

/* The oldest queued slot with unclaimed samples, or NULL. */
static slot *pick(vkl_loader *ld) {
  slot *best = NULL;
  for (uint32_t i = 0; i < ld->nslots; i++) {
    slot *s = &ld->slots[i];
    if (s->state == SLOT_QUEUED && s->next < s->count && (!best || s->seq < best->seq)) best = s;
  }
  return best;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  vkl_loader *ld = w->ld;
  pthread_mutex_lock(&ld->mu);
  for (;;) {
    slot *s = NULL;
    while (!ld->stop && !(s = pick(ld))) pthread_cond_wait(&ld->work, &ld->mu);
    if (ld->stop) break;
    uint32_t j0 = s->next, j1 = s->count - j0 < s->chunk ? s->count : j0 + s->chunk;
    s->next = j1;
    uint64_t batch = s->batch;
    float *images = s->images;
    uint32_t *labels = s->labels;
    pthread_mutex_unlock(&ld->mu);

    double t0 = now_s();
    vkl_status st = VKL_OK;
    uint32_t bad = 0;
    for (uint32_t j = j0; j < j1; j++) {
      vkl_status sj = make_sample(ld, w, batch, j, images, labels);
      if (sj && !st) {
        st = sj;
        bad = j;
        break;
      }
    }
    double t1 = now_s();

    pthread_mutex_lock(&ld->mu);
    ld->cur.busy_s += t1 - t0;
    ld->cur.images += j1 - j0;
    if (st && (!s->st || bad < s->err_sample)) {
      s->st = st;
      s->err_sample = bad;
      snprintf(s->err, sizeof s->err, "%s", w->err);
    }
    s->done += j1 - j0;
    if (s->done == s->count) {
      s->state = SLOT_DONE;
      ld->last_done_t = t1;
      pthread_cond_broadcast(&ld->done);
    }
  }
  pthread_mutex_unlock(&ld->mu);
  return NULL;
}

vkl_status vkl_loader_create(const vkl_loader_config *cfg, vkl_loader **out, char *err,
                             size_t errlen) {
  *out = NULL;
  if (!cfg || !cfg->dataset)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "loader: no dataset");
  const vkl_dataset_info *in = vkl_dataset_get_info(cfg->dataset);
  if (cfg->batch == 0)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "loader: %s: batch size 0", in->name);
  if (cfg->drop_last && in->count < cfg->batch)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT,
                    "loader: %s: %llu images, fewer than one batch of %u with drop_last", in->name,
                    (unsigned long long)in->count, cfg->batch);
  if (cfg->slots > 1024 || cfg->threads > 1024)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT,
                    "loader: %u slots, %u threads (1024 at most)", cfg->slots, cfg->threads);
  vkl_dataset_like slots = {cfg->channels, cfg->height, cfg->width, cfg->classes,
                            "the loader's slots'"};
  char why[768];
  if (vkl_dataset_check_like(cfg->dataset, &slots, why, sizeof why))
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "loader: %s", why);
  if (cfg->views > 2)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "loader: views %u (0, 1 or 2)",
                    cfg->views);
  /* two views use ssl[0] and ssl[1] only */
  vkl_status st =
      cfg->views == 2 ? VKL_OK : vkl_augment_validate(&cfg->augment, in->channels, err, errlen);
  if (st) return st;
  for (uint32_t v = 0; cfg->views == 2 && v < 2; v++) {
    char why[512];
    if (vkl_augment_ssl_validate(&cfg->ssl[v], in->channels, why, sizeof why))
      return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "loader: ssl[%u]: %s", v, why);
  }

  vkl_loader *ld = calloc(1, sizeof *ld);
  if (!ld) return data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "loader: out of host memory");
  ld->cfg = *cfg;
  ld->ds = cfg->dataset;
  ld->info = *in;
  ld->chw = (size_t)in->channels * in->height * in->width;
  ld->batches = cfg->drop_last ? in->count / cfg->batch : (in->count + cfg->batch - 1) / cfg->batch;
  ld->geometry = vkl_augment_has_geometry(&cfg->augment);
  data_norm_lut(&cfg->augment, in->channels, ld->lut);
  for (uint32_t v = 0; cfg->views == 2 && v < 2; v++)
    data_ssl_norm_lut(&cfg->ssl[v], in->channels, ld->ssl_lut[v]);
  ld->nslots = cfg->slots ? cfg->slots : 4;
  uint32_t nt = cfg->threads;
  if (!nt) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    nt = cores > 1 ? (uint32_t)(cores - 1) : 1;
    if (nt > 64) nt = 64;
  }
  ld->nthreads = nt;
  ld->slots = calloc(ld->nslots, sizeof *ld->slots);
  ld->workers = calloc(nt, sizeof *ld->workers);
  if (!cfg->no_shuffle) ld->perm = malloc(in->count * sizeof *ld->perm);
  if (!ld->slots || !ld->workers || (!cfg->no_shuffle && !ld->perm)) {
    st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "loader: out of host memory");
    goto fail;
  }
  ld->mu_ok = pthread_mutex_init(&ld->mu, NULL) == 0;
  ld->work_ok = pthread_cond_init(&ld->work, NULL) == 0;
  ld->done_ok = pthread_cond_init(&ld->done, NULL) == 0;
  if (!ld->mu_ok || !ld->work_ok || !ld->done_ok) {
    st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "loader: pthread init failed");
    goto fail;
  }
  for (uint32_t t = 0; t < nt; t++) {
    worker *w = &ld->workers[t];
    w->ld = ld;
    w->src = malloc(ld->chw);
    w->geo = malloc(ld->chw);
    w->tmp = cfg->views == 2 ? malloc((size_t)in->height * in->width * sizeof *w->tmp) : NULL;
    if (!w->src || !w->geo || (cfg->views == 2 && !w->tmp)) {
      st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "loader: out of host memory");
      goto fail;
    }
  }
  for (uint32_t t = 0; t < nt; t++) {
    if (pthread_create(&ld->workers[t].thread, NULL, worker_main, &ld->workers[t])) {
      st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY,
                    "loader: could not start thread %u of %u", t + 1, nt);
      goto fail;
    }
    ld->running++;
  }
  *out = ld;
  return VKL_OK;
fail:
  vkl_loader_destroy(ld);
  return st;
}

void vkl_loader_destroy(vkl_loader *ld) {
  if (!ld) return;
  if (ld->running) {
    pthread_mutex_lock(&ld->mu);
    ld->stop = 1;
    pthread_cond_broadcast(&ld->work);
    pthread_mutex_unlock(&ld->mu);
    for (uint32_t t = 0; t < ld->running; t++) pthread_join(ld->workers[t].thread, NULL);
  }
  if (ld->done_ok) pthread_cond_destroy(&ld->done);
  if (ld->work_ok) pthread_cond_destroy(&ld->work);
  if (ld->mu_ok) pthread_mutex_destroy(&ld->mu);
  if (ld->workers)
    for (uint32_t t = 0; t < ld->nthreads; t++) {
      free(ld->workers[t].src);
      free(ld->workers[t].geo);
      free(ld->workers[t].tmp);
    }
  free(ld->workers);
  free(ld->slots);
  free(ld->perm);
  free(ld);
}

const char *vkl_loader_errmsg(const vkl_loader *ld) {
  return ld ? ld->errmsg : "loader: no loader";
}

uint32_t vkl_loader_threads(const vkl_loader *ld) {
  return ld->nthreads;
}

uint64_t vkl_loader_batches_per_epoch(const vkl_loader *ld) {
  return ld->batches;
}

static void finish_stats(vkl_loader_stats *s, uint32_t threads) {
  s->images_per_s = s->wall_s > 0 ? (double)s->images / s->wall_s : 0;
  s->capacity_per_s = s->busy_s > 0 ? (double)s->images * threads / s->busy_s : 0;
}

vkl_status vkl_loader_start_epoch(vkl_loader *ld, uint64_t epoch) {
  pthread_mutex_lock(&ld->mu);
  uint32_t busy = ld->in_flight;
  if (busy) {
    pthread_mutex_unlock(&ld->mu);
    return set_err(ld, VKL_ERR_INVALID_ARGUMENT,
                   "loader: start_epoch(%llu): %u batch(es) still in flight; wait for them first",
                   (unsigned long long)epoch, busy);
  }
  if (ld->started) {
    ld->last = ld->cur;
    ld->last.wall_s = ld->cur.images ? ld->last_done_t - ld->epoch_t0 : 0;
    finish_stats(&ld->last, ld->nthreads);
    ld->has_last = 1;
  }
  memset(&ld->cur, 0, sizeof ld->cur);
  ld->cur.epoch = epoch;
  ld->epoch = epoch;
  /* no worker reads the order while nothing is in flight */
  if (ld->perm) vkl_data_permutation(ld->cfg.seed, epoch, ld->info.count, ld->perm);
  ld->started = 1;
  ld->epoch_t0 = now_s();
  ld->last_done_t = ld->epoch_t0;
  pthread_mutex_unlock(&ld->mu);
  return VKL_OK;
}

vkl_status vkl_loader_submit(vkl_loader *ld, uint32_t si, uint64_t b, float *images,
                             uint32_t *labels) {
  if (!ld->started)
    return set_err(ld, VKL_ERR_INVALID_ARGUMENT, "loader: submit before start_epoch");
  if (si >= ld->nslots)
    return set_err(ld, VKL_ERR_INVALID_ARGUMENT, "loader: submit: slot %u of %u", si, ld->nslots);
  if (b >= ld->batches)
    return set_err(ld, VKL_ERR_INVALID_ARGUMENT,
                   "loader: submit: batch %llu, but an epoch has %llu", (unsigned long long)b,
                   (unsigned long long)ld->batches);
  if (!images || !labels)
    return set_err(ld, VKL_ERR_INVALID_ARGUMENT, "loader: submit: NULL images or labels");
  pthread_mutex_lock(&ld->mu);
  slot *s = &ld->slots[si];
  if (s->state != SLOT_FREE) {
    pthread_mutex_unlock(&ld->mu);
    return set_err(ld, VKL_ERR_INVALID_ARGUMENT,
                   "loader: submit: slot %u still holds batch %llu; wait for it first", si,
                   (unsigned long long)s->batch);
  }
  memset(s, 0, sizeof *s);
  s->state = SLOT_QUEUED;
  s->batch = b;
  s->seq = ld->seq++;
  s->images = images;
  s->labels = labels;
  s->count = vkl_loader_batch_size(ld, b);
  /* chunks: a few per thread per batch, so a batch spreads over all
   * threads, yet the lock is taken once per several samples */
  uint32_t chunk = s->count / (ld->nthreads * 4);
  s->chunk = chunk < 1 ? 1 : chunk > 64 ? 64 : chunk;
  ld->in_flight++;
  pthread_cond_broadcast(&ld->work);
  pthread_mutex_unlock(&ld->mu);
  return VKL_OK;
}

vkl_status vkl_loader_wait(vkl_loader *ld, uint32_t si, uint32_t *count) {
  if (count) *count = 0;
  if (si >= ld->nslots)
    return set_err(ld, VKL_ERR_INVALID_ARGUMENT, "loader: wait: slot %u of %u", si, ld->nslots);
  pthread_mutex_lock(&ld->mu);
  slot *s = &ld->slots[si];
  if (s->state == SLOT_FREE) {
    pthread_mutex_unlock(&ld->mu);
    return set_err(ld, VKL_ERR_INVALID_ARGUMENT, "loader: wait: nothing submitted to slot %u", si);
  }
  double t0 = now_s();
  while (s->state != SLOT_DONE) pthread_cond_wait(&ld->done, &ld->mu);
  ld->cur.wait_s += now_s() - t0;
  vkl_status st = s->st;
  uint64_t batch = s->batch;
  uint32_t n = s->count, bad = s->err_sample;
  char msg[sizeof s->err];
  memcpy(msg, s->err, sizeof msg);
  s->state = SLOT_FREE;
  ld->in_flight--;
  pthread_mutex_unlock(&ld->mu);
  if (count) *count = n;
  if (st)
    return set_err(ld, st, "loader: epoch %llu batch %llu sample %u: %s",
                   (unsigned long long)ld->epoch, (unsigned long long)batch, bad, msg);
  return VKL_OK;
}

void vkl_loader_get_stats(const vkl_loader *ld, vkl_loader_stats *last, vkl_loader_stats *current) {
  vkl_loader *l = (vkl_loader *)ld; /* the mutex, only */
  pthread_mutex_lock(&l->mu);
  if (last) {
    if (ld->has_last)
      *last = ld->last;
    else
      memset(last, 0, sizeof *last);
  }
  if (current) {
    *current = ld->cur;
    current->wall_s = ld->cur.images ? ld->last_done_t - ld->epoch_t0 : 0;
    finish_stats(current, ld->nthreads);
  }
  pthread_mutex_unlock(&l->mu);
}

double vkl_loader_images_per_second(const vkl_loader *ld) {
  vkl_loader_stats last, cur;
  vkl_loader_get_stats(ld, &last, &cur);
  return ld->has_last ? last.images_per_s : cur.images_per_s;
}
