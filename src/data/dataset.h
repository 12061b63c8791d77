/* Data sets: readers that turn files on disk into labelled images.
 *
 * A dataset is `count` images of (C,H,W) uint8 pixels in CHW order (all of
 * channel 0, then channel 1, ...) with uint32 labels in [0, classes). Small
 * sets (IDX, CIFAR, synthetic) are held in memory; image folders (Tiny
 * ImageNet and any root/<class>/<image> tree) are by default a list of files
 * decoded on demand by vkl_dataset_get, which the loader threads call.
 *
 * Hostile files never crash a reader and never make it allocate what a
 * header claims: every size is checked against the bytes actually present.
 * Failures return a status, with a message in err naming the file and the
 * place (byte offset, record index or line): VKL_ERR_IO when a file is
 * missing or unreadable, VKL_ERR_FORMAT when its content is malformed.
 *
 * Layouts and where to get each data set: datasets/README.md. */
#ifndef VKLARS_DATA_DATASET_H
#define VKLARS_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "vklars/status.h"

/* Debian's dataset-fashion-mnist installs the four IDX files here. */
#define VKL_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef enum vkl_split {
  VKL_SPLIT_TRAIN = 0,
  /* The held-out split: IDX t10k-*, CIFAR test_batch.bin / test.bin, Tiny
   * ImageNet val/, an image folder's val/ (or test/ when it has no val/). */
  VKL_SPLIT_TEST
} vkl_split;

typedef struct vkl_dataset vkl_dataset;

typedef struct vkl_dataset_info {
  const char *name;   /* "fashion-mnist/train", "cifar10/test", ... */
  const char *source; /* the directory or file read */
  uint64_t count;     /* images */
  uint32_t channels, height, width;
  uint32_t classes;
  int lazy;         /* 1: pixels are decoded from files by vkl_dataset_get */
  uint64_t skipped; /* unreadable images left out at open (skip_bad_images) */
} vkl_dataset_info;

/* Options of the readers; zero-initialised means every default. */
typedef struct vkl_data_options {
  /* The data set's directory. NULL: VKL_FASHION_MNIST_DIR for Fashion-MNIST;
   * required for the others (except synthetic). */
  const char *dir;
  /* Image folders: the (C,H,W) every image is converted to. C is 1 (grey)
   * or 3 (RGB); images with other channel counts are converted. Images of
   * another size are resized (stb_image_resize, Mitchell filter for
   * shrinking, Catmull-Rom for enlarging), never refused. 0: Tiny ImageNet
   * 3x64x64; other folders take C, H and W of their first image (in sorted
   * order). Synthetic: 0 means 3x32x32. */
  uint32_t channels, height, width;
  /* Image folders: skip images that cannot be opened or decoded instead of
   * failing. At open, images whose header check fails (with preload: whose
   * decoding fails) are left out (vkl_dataset_info.skipped). Decoded on
   * demand, an image that fails is replaced by a substitute: the first
   * image after it in data-set order (wrapping past the end) that decodes,
   * with that image's own label. So a batch stays full and the same run
   * gives the same bytes; a failed image is never decoded again.
   * vkl_dataset_skipped counts both kinds. Without this option a decode
   * failure is an error of vkl_dataset_get naming the file and the image. */
  int skip_bad_images;
  /* Image folders: decode every image at open into memory (errors found at
   * open; fast epochs). 0: keep the file list, decode on demand. */
  int preload;
  /* Synthetic: images (0: 50000 train, 10000 test), classes (0: 10), seed. */
  uint64_t count;
  uint32_t classes;
  uint64_t seed;
} vkl_data_options;

/* By name: "fashion-mnist", "mnist", "cifar10", "cifar100", "tiny-imagenet",
 * "folder" (any image-folder tree) or "synthetic". opt may be NULL. */
vkl_status vkl_dataset_open(const char *name, vkl_split split, const vkl_data_options *opt,
                            vkl_dataset **out, char *err, size_t errlen);

/* What a split must be to go through a network built for other data: its
 * images' (C,H,W) and its number of classes, and whose they are, as a
 * possessive for messages ("the train split's", "the checkpoint's"). */
typedef struct vkl_dataset_like {
  uint32_t channels, height, width, classes;
  const char *whose;
} vkl_dataset_like;

/* ds's own shape and classes, as the reference for another split. */
vkl_dataset_like vkl_dataset_like_of(const vkl_dataset *ds, const char *whose);
/* VKL_OK when ds's images are exactly like's (C,H,W) and it has like's
 * number of classes (so its labels, below its classes, fit a loss of
 * like's); else VKL_ERR_FORMAT naming both shapes or class counts. */
vkl_status vkl_dataset_check_like(const vkl_dataset *ds, const vkl_dataset_like *like, char *err,
                                  size_t errlen);
/* Opens a split that must be like `like` (the held-out split beside the
 * train split, or a split for a checkpoint): opt's channels, height, width
 * and classes left 0 take like's, so image folders and Tiny ImageNet
 * convert their images to like's (C,H,W) and synthetic data is generated
 * so; then vkl_dataset_check_like refuses what still differs (IDX and
 * CIFAR files of another shape, options that ask for another). */
vkl_status vkl_dataset_open_like(const char *name, vkl_split split, const vkl_data_options *opt,
                                 const vkl_dataset_like *like, vkl_dataset **out, char *err,
                                 size_t errlen);

/* MNIST-format data set in dir: train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or gzip'ed (.gz
 * appended). name is "fashion-mnist" or "mnist" (sets class names and the
 * message when the directory is missing); 10 classes. */
vkl_status vkl_dataset_open_idx(const char *name, const char *dir, vkl_split split,
                                vkl_dataset **out, char *err, size_t errlen);
/* One pair of IDX files (raw or gzip'ed): images magic 0x00000803 (N,H,W),
 * labels magic 0x00000801 (N), labels below `classes`. */
vkl_status vkl_dataset_open_idx_files(const char *name, const char *images_path,
                                      const char *labels_path, uint32_t classes, vkl_dataset **out,
                                      char *err, size_t errlen);

/* CIFAR-10 binary version: dir (or dir/cifar-10-batches-bin) holds
 * data_batch_1.bin .. data_batch_5.bin and test_batch.bin, records of one
 * label byte and 3072 pixel bytes (3x32x32, CHW). */
vkl_status vkl_dataset_open_cifar10(const char *dir, vkl_split split, vkl_dataset **out, char *err,
                                    size_t errlen);
/* CIFAR-100 binary version: dir (or dir/cifar-100-binary) holds train.bin
 * and test.bin, records of a coarse label byte, a fine label byte and 3072
 * pixel bytes. Labels are the 100 fine classes. */
vkl_status vkl_dataset_open_cifar100(const char *dir, vkl_split split, vkl_dataset **out, char *err,
                                     size_t errlen);

/* Tiny ImageNet (root = the unzipped tiny-imagenet-200/): wnids.txt lists
 * the classes, numbered in sorted wnid order (as torchvision's ImageFolder
 * numbers train/); train/<wnid>/images/ *.JPEG; val/images/ *.JPEG labelled
 * by val/val_annotations.txt ("file<TAB>wnid<TAB>box..."). The test split
 * is val/ (test/ has no labels). */
vkl_status vkl_dataset_open_tiny_imagenet(const char *root, vkl_split split,
                                          const vkl_data_options *opt, vkl_dataset **out, char *err,
                                          size_t errlen);
/* Any image-folder tree: root/train/<class>/ *.png|jpg|jpeg (any case) and
 * root/val/<class>/... (or root/test/<class>/...). Classes are the
 * subdirectories of root/train sorted by name (strcmp), the same numbering
 * for both splits; a held-out class missing from train is an error. When
 * root has no train/, val/ or test/ directory, root itself is the split. */
vkl_status vkl_dataset_open_image_folder(const char *root, vkl_split split,
                                         const vkl_data_options *opt, vkl_dataset **out, char *err,
                                         size_t errlen);

/* Synthetic, learnable images: each class is a fixed smooth pattern (sums
 * of oriented sinusoids with a per-channel tint, drawn from the seed) plus
 * per-pixel noise. Class patterns depend only on (seed, C, H, W, classes),
 * so a train and a test split of the same seed share them; the samples of
 * each split differ. Deterministic: same config, same bytes. */
typedef struct vkl_synthetic_config {
  uint64_t count;
  uint32_t channels, height, width;
  uint32_t classes;
  uint64_t seed;
  vkl_split split;
  uint32_t noise; /* amplitude of the uniform per-pixel noise; 0: 48 */
} vkl_synthetic_config;
vkl_status vkl_dataset_synthetic(const vkl_synthetic_config *cfg, vkl_dataset **out, char *err,
                                 size_t errlen);

void vkl_dataset_destroy(vkl_dataset *ds); /* NULL is a no-op */

const vkl_dataset_info *vkl_dataset_get_info(const vkl_dataset *ds);
/* Class k's name ("Ankle boot", "n01443537", a folder's name), or NULL
 * when the data set has none. */
const char *vkl_dataset_class_name(const vkl_dataset *ds, uint32_t k);
/* The (count, C, H, W) pixels when held in memory, else NULL. */
const uint8_t *vkl_dataset_pixels(const vkl_dataset *ds);
/* The labels (count); always in memory. */
const uint32_t *vkl_dataset_labels(const vkl_dataset *ds);
/* Image `index` (C,H,W) into pixels and its label into *label (either may
 * be NULL). Decodes lazily held images; safe to call from several threads
 * at once. With skip_bad_images an undecodable image comes back as its
 * substitute, pixels and label (without pixels nothing is decoded and the
 * label is index's own). */
vkl_status vkl_dataset_get(const vkl_dataset *ds, uint64_t index, uint8_t *pixels /* (C,H,W) */,
                           uint32_t *label, char *err, size_t errlen);

/* Images skipped so far with skip_bad_images: those left out at open and
 * those found undecodable since (each once). Safe from any thread. */
uint64_t vkl_dataset_skipped(const vkl_dataset *ds);
/* Skipped image k (k < vkl_dataset_skipped, in the order found) as
 * "FILE: reason", or NULL; valid until the dataset is destroyed. */
const char *vkl_dataset_skipped_image(const vkl_dataset *ds, uint64_t k);

#endif
