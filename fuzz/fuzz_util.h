/* Shared by the libFuzzer harnesses and the seed generator: a private
 * scratch directory per process (the readers under test take paths), and
 * the layout of the inputs that hold more than one file.
 *
 * Inputs of fuzz_idx and fuzz_cifar hold several files: a flags byte, then
 * each file as a 4-byte little-endian length and its bytes (the last file
 * present is cut short when the input ends early; files after the end are
 * absent). fuzz_safetensors, fuzz_inspect, fuzz_config and fuzz_image
 * inputs are the file itself. */
#ifndef VKLARS_FUZZ_UTIL_H
#define VKLARS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The process's scratch directory (created on first use, removed at exit
 * with everything in it). Aborts when it cannot be created: the harness
 * cannot run at all then. */
const char *fuzz_dir(void);
/* fuzz_dir()/name; the returned buffer is static (one per slot 0..7). */
const char *fuzz_path(int slot, const char *name);
/* Writes data to path (truncating), or removes path when data is NULL.
 * Aborts on an I/O error (the harness's own failure, not the reader's). */
void fuzz_write(const char *path, const uint8_t *data, size_t len);
/* Writes data gzip'ed (zlib's default level). */
void fuzz_write_gz(const char *path, const uint8_t *data, size_t len);

/* With VKLARS_FUZZ_VERBOSE set in the environment, prints what the reader
 * said about the input ("ok", or its error message) on stderr: to check
 * that seeds are valid and to read a crash input's story. */
void fuzz_report(const char *what, int status, const char *err);

/* Splits a multi-file input: after the flags byte, file i is parts[i]
 * (len[i] bytes) when present[i]. Returns how many files are present. */
typedef struct fuzz_parts {
  uint8_t flags;
  const uint8_t *part[8];
  size_t len[8];
  int present[8];
} fuzz_parts;
int fuzz_split(const uint8_t *data, size_t size, int nfiles, fuzz_parts *out);

/* fuzz_safetensors checks checkpoints against this model (and the seed
 * generator writes its checkpoints): small, with conv, batch norm
 * (running statistics) and linear tensors. */
#define FUZZ_CKPT_MODEL "cnn"
#define FUZZ_CKPT_CONFIG \
  { .in_c = 1, .in_h = 8, .in_w = 8, .classes = 3, .width = 2 }

#endif
