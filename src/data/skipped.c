/* The images a data set skipped (skip_bad_images), and the substitution
 * of lazily decoded images that fail to decode.
 *
 * The record is a list of "FILE: reason" messages in the order found (the
 * loader threads append to it under a mutex) and, for lazily decoded sets,
 * one flag per image set once it failed to decode. A flag only saves the
 * work of decoding a file again: the substitute of an image depends on the
 * files alone, so any thread, in any order, produces the same bytes. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

struct data_skipped {
  pthread_mutex_t mu;
  char **messages; /* (count), each malloc'ed */
  uint64_t count, cap;
  atomic_uchar *undecodable; /* (images) lazily decoded sets; NULL otherwise */
};

vkl_status data_skipped_create(data_skipped **out, char *err, size_t errlen) {
  data_skipped *s = calloc(1, sizeof *s);
  if (!s || pthread_mutex_init(&s->mu, NULL) != 0) {
    free(s);
    *out = NULL;
    return data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY,
                    "skip_bad_images: out of host memory for the record of skipped images");
  }
  *out = s;
  return VKL_OK;
}

void data_skipped_destroy(data_skipped *s) {
  if (!s) return;
  for (uint64_t k = 0; k < s->count; k++) free(s->messages[k]);
  free(s->messages);
  free(s->undecodable);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

vkl_status data_skipped_track(data_skipped *s, uint64_t images, char *err, size_t errlen) {
  s->undecodable = calloc(images, sizeof *s->undecodable);
  if (!s->undecodable)
    return data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY,
                    "skip_bad_images: out of host memory for %llu flags",
                    (unsigned long long)images);
  return VKL_OK;
}

vkl_status data_skipped_add(data_skipped *s, const char *message) {
  char *copy = strdup(message);
  if (!copy) return VKL_ERR_OUT_OF_HOST_MEMORY;
  pthread_mutex_lock(&s->mu);
  if (s->count == s->cap) {
    uint64_t cap = s->cap ? 2 * s->cap : 16;
    char **m = realloc(s->messages, cap * sizeof *m);
    if (!m) {
      pthread_mutex_unlock(&s->mu);
      free(copy);
      return VKL_ERR_OUT_OF_HOST_MEMORY;
    }
    s->messages = m;
    s->cap = cap;
  }
  s->messages[s->count++] = copy;
  pthread_mutex_unlock(&s->mu);
  return VKL_OK;
}

uint64_t vkl_dataset_skipped(const vkl_dataset *ds) {
  data_skipped *s = ds->skipped;
  if (!s) return 0;
  pthread_mutex_lock(&s->mu);
  uint64_t n = s->count;
  pthread_mutex_unlock(&s->mu);
  return n;
}

const char *vkl_dataset_skipped_image(const vkl_dataset *ds, uint64_t k) {
  data_skipped *s = ds->skipped;
  if (!s) return NULL;
  pthread_mutex_lock(&s->mu);
  const char *m = k < s->count ? s->messages[k] : NULL; /* the text never moves */
  pthread_mutex_unlock(&s->mu);
  return m;
}

vkl_status data_decode_or_substitute(const vkl_dataset *ds, uint64_t index, uint8_t *pixels,
                                     uint32_t *label, char *err, size_t errlen) {
  data_skipped *s = ds->skipped;
  const vkl_dataset_info *in = &ds->info;
  char why[768];
  for (uint64_t k = 0; k < in->count; k++) {
    uint64_t j = index + k < in->count ? index + k : index + k - in->count;
    if (atomic_load_explicit(&s->undecodable[j], memory_order_relaxed)) continue;
    vkl_status st =
        data_image_load(ds->paths[j], in->channels, in->height, in->width, pixels, why, sizeof why);
    if (st == VKL_OK) {
      if (label) *label = ds->labels[j];
      return VKL_OK;
    }
    if (st == VKL_ERR_OUT_OF_HOST_MEMORY) /* not the file's fault: no substitute */
      return data_err(err, errlen, st, "%s: image %llu: %s", ds->name, (unsigned long long)j, why);
    /* the first thread to find it records it; the others only move on */
    if (!atomic_exchange(&s->undecodable[j], 1) && data_skipped_add(s, why))
      return data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY,
                      "%s: out of host memory recording skipped image %s", ds->name, ds->paths[j]);
  }
  return data_err(err, errlen, VKL_ERR_FORMAT,
                  "%s: %s: none of its %llu images decodes (all skipped with skip_bad_images)",
                  ds->name, ds->source, (unsigned long long)in->count);
}
