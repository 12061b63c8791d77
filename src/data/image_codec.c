/* Image decoding and resizing: the one place stb_image and
 * stb_image_resize are compiled (static, so they never clash with another
 * copy, such as Debian's libstb). PNG and JPEG only.
 *
 * A file is read whole (its size checked first), its header checked
 * (absurd dimensions refused before anything is allocated for them), then
 * decoded to c channels (stb converts grey <-> RGB and drops alpha), resized
 * to (h,w) when its size differs, and transposed from HWC to CHW. stb keeps
 * its failure reason per thread, so decoding is safe from loader threads.
 *
 * Failures speak of the format the file's signature names ("corrupt PNG:
 * ..."), in words where stb's reason is a terse code, never with a reason
 * left over from another format's attempt or holding the file's bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wshift-negative-value"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO /* files are read by us, size-checked */
#define STBI_MAX_DIMENSIONS 65536
#include <stb_image.h>
#define STB_IMAGE_RESIZE_STATIC
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image_resize.h>
#pragma GCC diagnostic pop
/* reported at the end of the file: stb declares static functions it only
 * defines for features left out (GIF, per-thread settings) */
#pragma GCC diagnostic ignored "-Wunused-function"

/* Larger files or images are refused: no data set we train on has them,
 * and a forged header must not make us allocate gigabytes. */
#define IMAGE_MAX_FILE_BYTES (UINT64_C(256) << 20)
#define IMAGE_MAX_PIXELS (UINT64_C(1) << 26) /* 8192 x 8192 */

/* Reads path whole, or only its first `prefix` bytes when prefix > 0. */
static vkl_status read_small_file(const char *path, size_t prefix, uint8_t **data, size_t *len,
                                  char *err, size_t errlen) {
  *data = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return data_err(err, errlen, VKL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  vkl_status st = VKL_OK;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    st = data_err(err, errlen, VKL_ERR_IO, "%s: not a regular file", path);
    goto done;
  }
  if ((uint64_t)sb.st_size > IMAGE_MAX_FILE_BYTES || sb.st_size == 0) {
    st = data_err(err, errlen, VKL_ERR_FORMAT, "%s: size %lld bytes is not that of an image file",
                  path, (long long)sb.st_size);
    goto done;
  }
  *len = (size_t)sb.st_size;
  if (prefix && *len > prefix) *len = prefix;
  *data = malloc(*len);
  if (!*data) {
    st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
    goto done;
  }
  if (fread(*data, 1, *len, f) != *len) {
    st = data_err(err, errlen, VKL_ERR_IO, "%s: read failed: %s", path,
                  ferror(f) ? strerror(errno) : "file shrank while reading");
    free(*data);
    *data = NULL;
  }
done:
  fclose(f);
  return st;
}

/* stb_image 2.27 (Debian 12's libstb-dev) overflows its Huffman tables
 * when a JPEG DHT segment declares more than 256 codes in one table:
 * stbi__build_huffman writes size[k] for k up to 16 * 255 past a 257-byte
 * array (found by fuzz/fuzz_image; upstream 2.28 refuses such tables). So
 * the segments are walked here as stb walks them, header check and decoding
 * alike, and such a file is refused before stb reads it. Bytes past the end
 * read as 0, as stbi__get8 returns them. Returns 1 for a JPEG to refuse. */
static int jpeg_has_oversized_huffman_table(const uint8_t *d, size_t len) {
#define AT(i) ((i) < len ? d[(i)] : 0u)
  size_t p = 0;
  while (p < len && d[p] == 0xFF) p++; /* SOI: fill bytes may precede it, as for any marker */
  if (p == 0 || p >= len || d[p] != 0xD8) return 0;
  p++;
  int frame_seen = 0; /* before the frame header, stb skips junk between segments */
  for (;;) {
    if (p >= len) return 0;
    if (d[p] != 0xFF) {
      if (frame_seen) return 0; /* stb: "expected marker" */
      p++;
      continue;
    }
    while (p < len && d[p] == 0xFF) p++; /* fill bytes */
    if (p >= len) return 0;
    unsigned m = d[p++];
    size_t seg = (size_t)AT(p) << 8 | AT(p + 1); /* includes its own 2 bytes */
    if (m == 0xC4) {                             /* DHT: tables until the segment ends */
      size_t q = p + 2;
      long left = (long)seg - 2;
      while (left > 0) {
        unsigned n = 0;
        for (size_t i = 0; i < 16; i++) n += AT(q + 1 + i);
        if (n > 256) return 1;
        q += 17 + n;
        left -= 17 + (long)n;
      }
      if (left != 0) return 0; /* stb refuses the segment */
      p = q;
    } else if (m == 0xDA && frame_seen) { /* SOS: the header, then entropy-coded data */
      p += seg;
      /* up to the next marker: 0xFF followed (after fill bytes) by neither
       * a stuffed 0 nor a restart marker, which the data may hold */
      for (;;) {
        while (p < len && d[p] != 0xFF) p++;
        size_t r = p + 1;
        while (r < len && d[r] == 0xFF) r++;
        if (r >= len) return 0;
        if (d[r] != 0 && (d[r] < 0xD0 || d[r] > 0xD7)) break; /* the marker, read next */
        p = r + 1;
      }
    } else if (m == 0xC0 || m == 0xC1 || m == 0xC2) { /* SOF */
      frame_seen = 1;
      p += seg;
    } else if (m == 0xDB || m == 0xDD || (m >= 0xE0 && m <= 0xEF) || m == 0xFE ||
               (m == 0xDC && frame_seen)) { /* DQT, DRI, APPn, COM, DNL */
      if (seg < 2) return 0;
      p += seg;
    } else {
      return 0; /* EOI, or a marker stb refuses */
    }
  }
#undef AT
}

/* stb_image 2.27 computes NULL + 0 (undefined behaviour; UBSan reports it)
 * when a PNG's first IDAT chunk is empty: its data buffer is still NULL
 * (found by fuzz/fuzz_image). Empty IDAT chunks add nothing to the image
 * data, so they are dropped from the buffer, walking the chunks (length,
 * type, data, CRC) as stb does; *len shrinks. */
static void png_drop_empty_idat(uint8_t *d, size_t *len) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (*len < 8 || memcmp(d, sig, 8) != 0) return;
  size_t p = 8;
  while (p + 12 <= *len) {
    uint32_t n =
        (uint32_t)d[p] << 24 | (uint32_t)d[p + 1] << 16 | (uint32_t)d[p + 2] << 8 | d[p + 3];
    if (n == 0 && memcmp(d + p + 4, "IDAT", 4) == 0) {
      memmove(d + p, d + p + 12, *len - p - 12);
      *len -= 12;
      continue;
    }
    if (n > *len - p - 12) return; /* runs past the end: stb refuses it */
    p += 12 + (size_t)n;
  }
}

typedef enum image_format { FORMAT_NONE, FORMAT_PNG, FORMAT_JPEG } image_format;

/* The format by the file's signature: PNG's 8 bytes, or JPEG's SOI marker
 * (FF D8, after fill bytes FF as stb allows). */
static image_format detect_format(const uint8_t *d, size_t len) {
  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (len >= 8 && memcmp(d, png_sig, 8) == 0) return FORMAT_PNG;
  size_t p = 0;
  while (p < len && d[p] == 0xFF) p++;
  return p > 0 && p < len && d[p] == 0xD8 ? FORMAT_JPEG : FORMAT_NONE;
}

/* stb_image's reasons that are codes rather than words, in words. */
static const struct stb_reason {
  image_format format;
  const char *code, *words;
} STB_REASONS[] = {
    {FORMAT_PNG, "outofdata", "the compressed image data ends early"},
    {FORMAT_PNG, "not enough pixels", "the image data holds fewer pixels than the header says"},
    {FORMAT_PNG, "invalid filter", "a row names an invalid filter type"},
    {FORMAT_PNG, "bad zlib header", "the compressed image data has a bad zlib header"},
    {FORMAT_PNG, "bad dist", "the compressed image data is corrupt (a bad distance code)"},
    {FORMAT_PNG, "bad codelengths", "the compressed image data is corrupt (bad code lengths)"},
    {FORMAT_PNG, "bad huffman code", "the compressed image data is corrupt (a bad Huffman code)"},
    {FORMAT_PNG, "bad sizes", "the compressed image data is corrupt (bad block sizes)"},
    {FORMAT_PNG, "zlib corrupt", "the compressed image data is corrupt"},
    {FORMAT_PNG, "read past buffer", "the compressed image data is corrupt (reads past its end)"},
    {FORMAT_PNG, "no IDAT", "no image data (IDAT chunk)"},
    {FORMAT_PNG, "first not IHDR", "the first chunk is not the header (IHDR)"},
    {FORMAT_PNG, "0-pixel image", "a width or height of 0 in the header"},
    {FORMAT_PNG, "too large", "an absurd image size in the header"},
    {FORMAT_PNG, "1/2/4/8/16-bit only", "a bit depth other than 1, 2, 4, 8 or 16"},
    {FORMAT_JPEG, "bad huffman code", "the entropy-coded data is corrupt (a bad Huffman code)"},
    {FORMAT_JPEG, "expected marker", "a segment marker is missing"},
    {FORMAT_JPEG, "no SOF", "no frame header (SOF marker)"},
    {FORMAT_JPEG, "no SOI", "no start-of-image marker (SOI)"},
    {FORMAT_JPEG, "0 width", "a width of 0 in the frame header"},
};

/* Says in `why` (n bytes) why stb refused data, of which `stage` ("header"
 * or "image data") failed. stb's JPEG decoder fails without a reason where
 * a DQT or DHT segment's length disagrees with its tables or a scan names
 * a component the frame lacks. stb writes an unknown critical PNG chunk's type
 * into one buffer shared by all threads, before " PNG chunk not known", so
 * that reason is never quoted; a NUL in the type cuts it to under 4 bytes
 * (every other PNG reason is longer), as past the end of the file. */
static void describe_failure(char *why, size_t n, const uint8_t *data, size_t len,
                             const char *stage) {
  image_format f = detect_format(data, len);
  if (f == FORMAT_NONE) {
    snprintf(why, n, "not a PNG or JPEG file (no PNG signature, no JPEG SOI marker)");
    return;
  }
  const char *words = stbi_failure_reason();
  if (words && f == FORMAT_JPEG && !strcmp(words, "bad png sig"))
    words = NULL; /* decoding probes PNG first; the JPEG decoder said nothing */
  if (words && f == FORMAT_PNG && (strstr(words, "PNG chunk not known") || strlen(words) < 4))
    words = "the file ends early or holds an unknown critical chunk";
  if (!words || !*words)
    words = f == FORMAT_JPEG ? "an inconsistent segment (a table's length, a scan's components), "
                               "as in a file cut short"
                             : "stb_image gives no reason";
  for (size_t i = 0; i < sizeof STB_REASONS / sizeof STB_REASONS[0]; i++)
    if (STB_REASONS[i].format == f && !strcmp(STB_REASONS[i].code, words))
      words = STB_REASONS[i].words;
  snprintf(why, n, "corrupt %s %s: %s", f == FORMAT_PNG ? "PNG" : "JPEG", stage, words);
}

/* The reason of the last failed header check on this thread. */
static _Thread_local char header_why[192];

/* Header check of an image in memory: 0, or -1 with the reason. Only the
 * decoder of the format the signature names looks at it, so the reason is
 * that format's. */
static int check_header(const uint8_t *data, size_t len, int *w, int *h, int *comp,
                        const char **why) {
  *why = header_why;
  if (jpeg_has_oversized_huffman_table(data, len)) {
    snprintf(header_why, sizeof header_why,
             "corrupt JPEG header: a Huffman table with more than 256 codes");
    return -1;
  }
  if (len > INT32_MAX) {
    snprintf(header_why, sizeof header_why, "file too large");
    return -1;
  }
  image_format f = detect_format(data, len);
  stbi__context s;
  stbi__start_mem(&s, data, (int)len);
  stbi__g_failure_reason = NULL; /* a reason left by an earlier call is not this file's */
  int ok = f == FORMAT_PNG    ? stbi__png_info(&s, w, h, comp)
           : f == FORMAT_JPEG ? stbi__jpeg_info(&s, w, h, comp)
                              : 0;
  if (!ok) {
    describe_failure(header_why, sizeof header_why, data, len, "header");
    return -1;
  }
  if ((uint64_t)*w * (uint64_t)*h > IMAGE_MAX_PIXELS) {
    snprintf(header_why, sizeof header_why, "absurd image size in the header (%dx%d)", *w, *h);
    return -1;
  }
  return 0;
}

int data_image_info(const char *path, int *w, int *h, int *comp, const char **why) {
  /* The header is near the start; a JPEG with a large EXIF block before its
   * frame header is read again whole. */
  const size_t prefix = 64 << 10;
  uint8_t *data;
  size_t len;
  char err[256];
  if (read_small_file(path, prefix, &data, &len, err, sizeof err)) {
    *why = "cannot open or read the file";
    return -1;
  }
  int rc = check_header(data, len, w, h, comp, why);
  free(data);
  if (rc && len == prefix) {
    if (read_small_file(path, 0, &data, &len, err, sizeof err)) {
      *why = "cannot open or read the file";
      return -1;
    }
    rc = check_header(data, len, w, h, comp, why);
    free(data);
  }
  return rc;
}

vkl_status data_image_load(const char *path, uint32_t c, uint32_t h, uint32_t w, uint8_t *out,
                           char *err, size_t errlen) {
  if (c != 1 && c != 3)
    return data_err(err, errlen, VKL_ERR_INVALID_ARGUMENT, "%s: %u channels (1 or 3)", path, c);
  uint8_t *data;
  size_t len;
  vkl_status st = read_small_file(path, 0, &data, &len, err, errlen);
  if (st) return st;
  int iw, ih, icomp;
  const char *why;
  uint8_t *img = NULL, *sized = NULL;
  if (check_header(data, len, &iw, &ih, &icomp, &why)) {
    st = data_err(err, errlen, VKL_ERR_FORMAT, "%s: not a readable image: %s", path, why);
    goto done;
  }
  png_drop_empty_idat(data, &len);
  stbi__g_failure_reason = NULL; /* the header check's format probing leaves reasons */
  img = stbi_load_from_memory(data, (int)len, &iw, &ih, &icomp, (int)c);
  if (!img) {
    const char *reason = stbi_failure_reason();
    if (reason && !strcmp(reason, "outofmem")) {
      st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory decoding it",
                    path);
      goto done;
    }
    char words[192];
    describe_failure(words, sizeof words, data, len, "image data");
    st = data_err(err, errlen, VKL_ERR_FORMAT, "%s: %s", path, words);
    goto done;
  }
  const uint8_t *hwc = img;
  if ((uint32_t)iw != w || (uint32_t)ih != h) {
    sized = malloc((size_t)w * h * c);
    if (!sized) {
      st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
      goto done;
    }
    if (!stbir_resize_uint8(img, iw, ih, 0, sized, (int)w, (int)h, 0, (int)c)) {
      st = data_err(err, errlen, VKL_ERR_OUT_OF_HOST_MEMORY, "%s: resizing %dx%d to %ux%u failed",
                    path, iw, ih, w, h);
      goto done;
    }
    hwc = sized;
  }
  size_t hw = (size_t)h * w;
  for (size_t p = 0; p < hw; p++)
    for (uint32_t ch = 0; ch < c; ch++) out[ch * hw + p] = hwc[p * c + ch];
done:
  free(sized);
  if (img) stbi_image_free(img);
  free(data);
  return st;
}
