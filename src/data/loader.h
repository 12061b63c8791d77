/* The loader: worker threads that fill caller-provided host memory with
 * augmented, normalized micro-batches.
 *
 * The trainer owns the memory (slots of its Vulkan staging ring); the
 * loader only sees float images (m,C,H,W) and uint32 labels (m). Use:
 *
 *   vkl_loader_create(&cfg, &ld, err, sizeof err);
 *   for (epoch = 0; ...; epoch++) {
 *     vkl_loader_start_epoch(ld, epoch);
 *     for (b = 0; b < vkl_loader_batches_per_epoch(ld); b++) {
 *       vkl_loader_submit(ld, b % S, b, images[b % S], labels[b % S]);  // S slots ahead
 *       ... vkl_loader_wait(ld, slot, &count) before reading that slot ...
 *     }
 *   }
 *
 * Determinism: epoch e visits the samples in a permutation drawn from
 * (seed, e) (or in order, with no_shuffle); micro-batch b holds positions
 * b*m .. b*m+m-1 of it; each sample's augmentation is drawn from (seed, e,
 * dataset index). The bytes written are therefore the same whatever the
 * thread count or the scheduling.
 *
 * Partial last batch: with drop_last the last count % m samples of each
 * epoch's order are left out (a different few each epoch when shuffling),
 * so every batch has exactly m samples; without it the last batch has
 * count % m samples, which vkl_loader_wait reports.
 *
 * Errors (a bad image in a lazily decoded folder) come back from
 * vkl_loader_wait as the status of that batch, with the message in
 * vkl_loader_errmsg naming the batch, the sample and the file. A dataset
 * opened with skip_bad_images gives a substitute for such an image
 * instead (see vkl_data_options.skip_bad_images): the sample is the
 * substitute's pixels and label, augmented as the sample it replaces, so
 * batches stay full and identical across thread counts.
 *
 * Two views (views = 2, for Barlow Twins): a slot's images are (2,m,C,H,W),
 * view 0 of the batch's samples (augmented by ssl[0]) then view 1 of the
 * same samples in the same order (ssl[1]); view 1 starts m images in,
 * whatever the batch's count. Labels (m) are written as before. A view is
 * drawn from (seed, epoch, dataset index, view) (augment_ssl.h), so these
 * bytes too are the same for any thread count; `augment` is not used. */
#ifndef VKLARS_DATA_LOADER_H
#define VKLARS_DATA_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "data/augment.h"
#include "data/augment_ssl.h"
#include "data/dataset.h"

typedef struct vkl_loader vkl_loader;

/* Zero-initialised fields take the defaults. */
typedef struct vkl_loader_config {
  const vkl_dataset *dataset; /* must outlive the loader */
  uint32_t batch;             /* m, samples per micro-batch (required) */
  /* What the caller's memory was sized for (required): (C,H,W) per sample
   * of its images slots and the classes its labels may take. A dataset of
   * any other shape or class count is refused at create, so no batch
   * writes past a slot and no label reaches a loss with fewer classes. */
  uint32_t channels, height, width, classes;
  uint32_t threads; /* 0: online cores - 1, at least 1 */
  uint32_t slots;   /* batches in flight at once (slot ids 0..slots-1); 0: 4 */
  uint64_t seed;
  int no_shuffle; /* visit samples in dataset order */
  int drop_last;  /* leave out the partial last batch */
  vkl_augment_config augment;
  /* 0 or 1: one image per sample, augmented by `augment`; 2: two views
   * per sample, augmented by ssl[0] and ssl[1] (see above) */
  uint32_t views;
  vkl_augment_ssl_config ssl[2];
} vkl_loader_config;

/* Per-epoch throughput. A loader that keeps up shows wait_s near 0. */
typedef struct vkl_loader_stats {
  uint64_t epoch;
  uint64_t images;     /* samples written */
  double wall_s;       /* from start_epoch to the last batch's completion */
  double busy_s;       /* summed over workers: time spent producing samples */
  double wait_s;       /* time the caller spent blocked in vkl_loader_wait */
  double images_per_s; /* images / wall_s: what the loader delivered */
  /* images * threads / busy_s: what the workers could deliver if never
   * starved of submissions (an upper bound: assumes free cores) */
  double capacity_per_s;
} vkl_loader_stats;

vkl_status vkl_loader_create(const vkl_loader_config *cfg, vkl_loader **out, char *err,
                             size_t errlen);
/* Stops and joins the workers after their current samples; NULL is a no-op.
 * Batches in flight are abandoned (their memory may be half written). */
void vkl_loader_destroy(vkl_loader *ld);

/* The message of the last failure on this loader ("" when none). */
const char *vkl_loader_errmsg(const vkl_loader *ld);
uint32_t vkl_loader_threads(const vkl_loader *ld);
uint64_t vkl_loader_batches_per_epoch(const vkl_loader *ld);
/* Samples in batch b of an epoch (m, or fewer for the partial last one). */
uint32_t vkl_loader_batch_size(const vkl_loader *ld, uint64_t b);

/* Draws epoch's order. No batch may be in flight (wait for them first). */
vkl_status vkl_loader_start_epoch(vkl_loader *ld, uint64_t epoch);
/* Queues batch b of the current epoch into slot: images (m,C,H,W), or
 * (2,m,C,H,W) with two views, and labels (m) must stay valid until
 * vkl_loader_wait(slot) returns. The slot must be free (never submitted, or
 * waited for). */
vkl_status vkl_loader_submit(vkl_loader *ld, uint32_t slot, uint64_t b, float *images,
                             uint32_t *labels);
/* Blocks until slot's batch is written; *count (may be NULL) receives its
 * number of samples. Frees the slot. */
vkl_status vkl_loader_wait(vkl_loader *ld, uint32_t slot, uint32_t *count);

/* The last completed epoch's numbers (the one before the current), and the
 * current epoch's so far. Either pointer may be NULL. */
void vkl_loader_get_stats(const vkl_loader *ld, vkl_loader_stats *last, vkl_loader_stats *current);
/* The last completed epoch's images_per_s, or the current epoch's so far
 * when none has completed; 0 before any batch. */
double vkl_loader_images_per_second(const vkl_loader *ld);

/* The dataset index at position pos of the current epoch's order. */
uint64_t vkl_loader_sample_index(const vkl_loader *ld, uint64_t pos);

/* Epoch `epoch`'s order of n samples as the loader draws it: a uniform
 * permutation (Fisher-Yates) from a stream keyed by (seed, epoch). */
void vkl_data_permutation(uint64_t seed, uint64_t epoch, uint64_t n, uint64_t *perm /* (n) */);

#endif
