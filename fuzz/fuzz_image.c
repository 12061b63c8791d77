/* libFuzzer harness: the image decoding path of the image-folder readers
 * (src/data/image_codec.c: stb_image's header check, decoding, channel
 * conversion, stb_image_resize, HWC -> CHW), called as
 * src/data/read_folder.c calls it.
 *
 * The input is the image file itself, so real images make a corpus. The
 * target shape comes from the input's length modulo 4 (mutations change
 * it, so every shape is tried on every image):
 *   0: as the folder reader takes its first image: C from the image's
 *      channels (3 for RGB(A), else 1), H and W from its header;
 *   1: grey at the image's own size;
 *   2: 3x32x32 (CIFAR-sized; resizes most images);
 *   3: 1x7x5 (odd sizes, shrinking and enlarging). */
#include <stdlib.h>

#include "data/data_internal.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_path(0, "image");
  fuzz_write(path, data, size);
  int iw = 0, ih = 0, comp = 0;
  const char *why = NULL;
  int ok = data_image_info(path, &iw, &ih, &comp, &why) == 0;
  if (!ok && !why) abort(); /* a refusal always says why */
  fuzz_report("data_image_info", !ok, why);
  if (ok && (iw <= 0 || ih <= 0 || (uint64_t)iw * (uint64_t)ih > (UINT64_C(1) << 26))) abort();
  /* Larger images (up to the reader's 8192x8192) run the same code for
   * longer: a 1 KB JPEG declaring 65527x240 takes 8 s under ASan. */
  if (ok && (uint64_t)iw * (uint64_t)ih > (UINT64_C(1) << 22)) return 0;
  uint32_t c, h, w;
  switch (size % 4) {
    case 0:
    case 1:
      if (!ok) return 0; /* the folder reader skips or refuses it here */
      c = size % 4 == 0 && comp >= 3 ? 3 : 1;
      h = (uint32_t)ih;
      w = (uint32_t)iw;
      break;
    case 2: c = 3, h = 32, w = 32; break;
    default: c = 1, h = 7, w = 5; break;
  }
  uint8_t *out = malloc((size_t)c * h * w);
  if (!out) abort();
  char err[512];
  vkl_status st = data_image_load(path, c, h, w, out, err, sizeof err);
  fuzz_report("data_image_load", st, err);
  free(out);
  return 0;
}
