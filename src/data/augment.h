/* Training-time augmentation as the paper uses it, then normalization.
 *
 * The paper (and the authors' code) runs torchvision's
 *   RandomCrop(size, padding=4) -> RandomHorizontalFlip(0.5) ->
 *   RandomRotation(15) -> ToTensor -> Normalize(mean, std)
 * on uint8 images. Here, on a (C,H,W) uint8 image:
 *  1. crop: zero-pad by crop_pad on every side, cut an HxW window at a
 *     uniform offset (oy, ox) in [0, 2*crop_pad]^2;
 *  2. flip: mirror left-right with probability 1/2;
 *  3. rotate: by a uniform angle in [-rotate_deg, rotate_deg] degrees
 *     (positive = counter-clockwise on screen) about the image centre
 *     ((W-1)/2, (H-1)/2), bilinear, zero outside, rounded back to uint8
 *     (as a rotated PIL image is);
 *  4. out[c] = (x/255 - mean[c]) / std[c] as float, CHW; without normalize,
 *     x/255.
 * Steps 1-3 are one pass (geometry), step 4 a second (normalize). The zero
 * padding and fill are pixel value 0, before normalization, as in
 * torchvision. Each step is switched on by its field; a zero config only
 * scales to [0,1].
 *
 * Randomness: vkl_augment_draw derives a sample's parameters from (seed,
 * epoch, dataset index) alone, so they do not depend on threads or order. */
#ifndef VKLARS_DATA_AUGMENT_H
#define VKLARS_DATA_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "vklars/status.h"

#define VKL_AUGMENT_MAX_CHANNELS 4

typedef struct vkl_augment_config {
  uint32_t crop_pad; /* > 0: random crop with this zero padding (paper: 4) */
  int flip;          /* horizontal flip with probability 1/2 */
  float rotate_deg;  /* > 0: rotation by U(-rotate_deg, rotate_deg) (paper: 15) */
  int normalize;     /* per-channel mean and std, in [0,1] pixel units */
  float mean[VKL_AUGMENT_MAX_CHANNELS], std[VKL_AUGMENT_MAX_CHANNELS];
} vkl_augment_config;

typedef struct vkl_augment_params {
  uint32_t crop_y, crop_x; /* offsets into the padded image, 0 .. 2*crop_pad */
  int flip;
  float angle_deg;
} vkl_augment_params;

/* Per-channel mean and std of a data set's training images (in [0,1]
 * units): "mnist", "fashion-mnist", "cifar10", "cifar100", "imagenet"
 * (also used for "tiny-imagenet" and "folder"), "synthetic". A name with a
 * "/split" suffix is accepted. Returns 0 and fills mean and std (3 values;
 * grey sets repeat theirs), or -1 when the name is unknown. Values and
 * sources: datasets/README.md. */
int vkl_norm_defaults(const char *dataset, float mean[VKL_AUGMENT_MAX_CHANNELS],
                      float std[VKL_AUGMENT_MAX_CHANNELS]);

/* The paper's training augmentation (crop pad 4, flip, rotation 15 degrees,
 * the data set's normalization), and evaluation's (normalization only).
 * Unknown names normalize with ImageNet's constants, as the authors' code
 * does for every data set. */
vkl_augment_config vkl_augment_paper(const char *dataset);
vkl_augment_config vkl_augment_eval(const char *dataset);

/* Checks a config for an image of c channels (std > 0 and finite, ...). */
vkl_status vkl_augment_validate(const vkl_augment_config *cfg, uint32_t c, char *err,
                                size_t errlen);

/* The random parameters of dataset image `index` in `epoch`. */
void vkl_augment_draw(const vkl_augment_config *cfg, uint64_t seed, uint64_t epoch, uint64_t index,
                      vkl_augment_params *p);

/* 1 when cfg changes the geometry at all (crop, flip or rotation). */
int vkl_augment_has_geometry(const vkl_augment_config *cfg);

/* Crop (with zero padding crop_pad), flip and rotation of src into dst;
 * dst and src must not overlap. */
void vkl_augment_geometry(uint8_t *dst /* (C,H,W) */, const uint8_t *src /* (C,H,W) */, uint32_t c,
                          uint32_t h, uint32_t w, uint32_t crop_pad, const vkl_augment_params *p);

/* (x/255 - mean[c]) / std[c] when cfg->normalize, else x/255. */
void vkl_augment_normalize(float *dst /* (C,H,W) */, const uint8_t *src /* (C,H,W) */, uint32_t c,
                           uint32_t h, uint32_t w, const vkl_augment_config *cfg);

/* Both steps; scratch holds c*h*w bytes (unused without geometry). */
void vkl_augment_apply(float *dst /* (C,H,W) */, const uint8_t *src /* (C,H,W) */, uint8_t *scratch,
                       uint32_t c, uint32_t h, uint32_t w, const vkl_augment_config *cfg,
                       const vkl_augment_params *p);

#endif
