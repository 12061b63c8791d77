/* Internals shared by the src/data files: the dataset struct, error
 * helpers, whole-file reading, image decoding and the counter-based random
 * numbers that make shuffling and augmentation independent of threads. */
#ifndef VKLARS_DATA_INTERNAL_H
#define VKLARS_DATA_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>

#include "data/augment.h"
#include "data/augment_ssl.h"
#include "data/dataset.h"

/* The images a data set skipped (src/data/skipped.c). */
typedef struct data_skipped data_skipped;

struct vkl_dataset {
  vkl_dataset_info info;
  char name[64];
  char *source;
  uint8_t *pixels;  /* (count, C, H, W) when in memory */
  uint8_t *blob;    /* owned buffer that pixels points into */
  uint32_t *labels; /* (count) */
  /* lazy image folders: paths[i] is image i's file */
  char **paths;
  /* class names: names[k], or NULL */
  char **class_names;
  uint32_t class_names_owned; /* 1: free each name and the array */
  /* skip_bad_images: what was skipped; with paths, undecodable images are
   * substituted (data_decode_or_substitute). NULL: skipping is off. */
  data_skipped *skipped;
};

/* Formats "fmt" into err (when err and errlen are nonzero); returns st. */
vkl_status data_err(char *err, size_t errlen, vkl_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* An empty dataset with name and source set, or NULL (out of memory). */
vkl_dataset *data_new(const char *name, const char *source);
/* Allocates labels (count) and, when with_pixels, pixels (count*C*H*W)
 * after checking the product for overflow. */
vkl_status data_alloc(vkl_dataset *ds, uint64_t count, uint32_t c, uint32_t h, uint32_t w,
                      int with_pixels, char *err, size_t errlen);

/* Reads a whole file, raw or gzip'ed (zlib reads raw files as they are).
 * The buffer grows with what is actually read, never with what a header
 * says; more than max_bytes of (decompressed) content is an error. *data is
 * malloc'ed; free() it. */
vkl_status data_read_file(const char *path, uint64_t max_bytes, uint8_t **data, uint64_t *len,
                          char *err, size_t errlen);

/* 1 when path names an existing regular file / directory. */
int data_is_file(const char *path);
int data_is_dir(const char *path);
/* "a/b" from a and b, malloc'ed; NULL when out of memory. */
char *data_join(const char *a, const char *b);

/* Image decoding (stb_image; src/data/image_codec.c holds the only
 * implementation). Header check without decoding: 0 and the size, or -1 and
 * the reason. */
int data_image_info(const char *path, int *w, int *h, int *comp, const char **why);
/* Decodes path to (c,h,w) CHW uint8, converting channels (c = 1 or 3) and
 * resizing when its size differs. */
vkl_status data_image_load(const char *path, uint32_t c, uint32_t h, uint32_t w,
                           uint8_t *out /* (c,h,w) */, char *err, size_t errlen);

/* The record of skipped images: "FILE: reason" messages in the order
 * found, added from any thread. */
vkl_status data_skipped_create(data_skipped **out, char *err, size_t errlen);
void data_skipped_destroy(data_skipped *s); /* NULL is a no-op */
/* Records one skipped image; message is copied. Fails only out of memory. */
vkl_status data_skipped_add(data_skipped *s, const char *message);
/* Lazily decoded sets: a clear "undecodable" flag for each of `images`. */
vkl_status data_skipped_track(data_skipped *s, uint64_t images, char *err, size_t errlen);
/* Image index of a lazily decoded set that skips bad images (its record
 * tracks flags): the first image in data-set order from index on (wrapping
 * past the end) that decodes, with that image's label. Each image that
 * fails is flagged and recorded once, and never decoded again. */
vkl_status data_decode_or_substitute(const vkl_dataset *ds, uint64_t index,
                                     uint8_t *pixels /* (C,H,W) */, uint32_t *label, char *err,
                                     size_t errlen);

/* Normalization as 256-entry tables per channel (augment.h's step 4). */
void data_norm_lut(const vkl_augment_config *cfg, uint32_t c, float (*lut)[256]);
void data_norm_apply(float *dst, const uint8_t *src, uint32_t c, size_t hw,
                     const float (*lut)[256]);
/* The same tables for a Barlow Twins view's normalization (augment_ssl.h's
 * step 7). */
void data_ssl_norm_lut(const vkl_augment_ssl_config *cfg, uint32_t c, float (*lut)[256]);

/* splitmix64 finalizer: a bijective 64-bit mix. */
static inline uint64_t data_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* A counter-based stream: the key is a hash of its coordinates (seed, epoch,
 * index, purpose), so the numbers of a sample do not depend on which thread
 * draws them or when. */
typedef struct data_rng {
  uint64_t s;
} data_rng;

static inline data_rng data_rng_key(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  uint64_t h = data_mix64(a + 0x9e3779b97f4a7c15ull);
  h = data_mix64(h ^ (b + 0x632be59bd9b4e019ull));
  h = data_mix64(h ^ (c + 0x85157af5ull));
  h = data_mix64(h ^ (d + 0x2545f4914f6cdd1dull));
  data_rng r = {h};
  return r;
}

static inline uint64_t data_rng_next(data_rng *r) {
  return data_mix64(r->s += 0x9e3779b97f4a7c15ull);
}

/* uniform in [0, n) for n >= 1 (bias below 2^-32 for n < 2^32) */
static inline uint64_t data_rng_below(data_rng *r, uint64_t n) {
  return data_rng_next(r) % n;
}

/* uniform in [0, 1), 53 bits */
static inline double data_rng_unit(data_rng *r) {
  return (double)(data_rng_next(r) >> 11) * 0x1.0p-53;
}

/* purposes of the random streams */
enum {
  DATA_RNG_SHUFFLE = 1,
  DATA_RNG_AUGMENT = 2,
  DATA_RNG_SYNTH_CLASS = 3,
  DATA_RNG_SYNTH_SAMPLE = 4,
  DATA_RNG_AUGMENT_SSL = 5 /* with the view as a fifth coordinate */
};

#endif
