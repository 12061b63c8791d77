/* Files of a run directory written whole or not at all: the content goes
 * into a temporary file that mkstemp creates next to the target
 * (<path>.tmp.XXXXXX: a name nobody can predict, created with O_EXCL, so a
 * symbolic link planted under any name is never followed), which is
 * flushed, fsync'ed and renamed over the target; the directory is fsync'ed
 * too, so the rename reaches the disk. A crash at any moment leaves the
 * previous file whole. Every write is checked: the first failure is kept
 * and reported with the target's name. */
#ifndef VKLARS_TRAIN_ATOMIC_FILE_H
#define VKLARS_TRAIN_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "vklars/status.h"

#define VKL_PATH_MAX 1100

typedef struct vkl_atomic_file {
  FILE *f;
  char path[VKL_PATH_MAX], tmp[VKL_PATH_MAX + 16];
  int error; /* errno of the first failed write; 0: none */
} vkl_atomic_file;

/* Creates the temporary file for path. */
vkl_status vkl_atomic_begin(vkl_atomic_file *a, const char *path, char *err, size_t errlen);
/* Writes n bytes (a failure is kept for commit). Returns 0 after a failure. */
int vkl_atomic_write(vkl_atomic_file *a, const void *p, size_t n);
/* Flushes, fsyncs and renames the temporary file over path, then fsyncs
 * the directory. keep_open: *out gets the stream, now writing at the end of
 * path (a log that grows from there); else the stream is closed and out may
 * be NULL. On failure (of any write before, too) the temporary file is
 * removed, path is untouched (unless only the directory's fsync failed),
 * and err says "cannot write PATH: why". */
vkl_status vkl_atomic_commit(vkl_atomic_file *a, FILE **out, char *err, size_t errlen);
/* Gives up: closes and removes the temporary file. */
void vkl_atomic_abort(vkl_atomic_file *a);

/* fsync of the directory holding path (a rename or unlink there becomes
 * durable with it). Returns 0, or -1 with errno. */
int vkl_sync_dir_of(const char *path);

/* For a file name of vkl_atomic_begin's temporary form (TARGET.tmp.XXXXXX),
 * the length of TARGET; else 0. */
size_t vkl_atomic_temp_target_len(const char *name);

#endif
