/* File-system helpers of the report writers: reading a file whole, joining
 * a directory and a file name without silent truncation, creating an output
 * directory with its parents, and telling directories from files. */
#ifndef VKLARS_REPORT_FILES_H
#define VKLARS_REPORT_FILES_H

#include <stddef.h>

#include "vklars/status.h"

/* The longest path the report writers build. */
#define VKL_REPORT_PATH_MAX 1024

/* The whole file, NUL-terminated, in *text (malloc'ed; its length without
 * the NUL in *len). Read in chunks rather than sized by fseek, so a pipe
 * reads too. VKL_ERR_IO "cannot read <path>: <why>" (a directory: EISDIR). */
vkl_status vkl_report_read_file(const char *path, char **text, size_t *len, char *err,
                                size_t errlen);
/* "<dir>/<name>" into out; VKL_ERR_INVALID_ARGUMENT naming the path when
 * it does not fit. */
vkl_status vkl_report_join(char *out, size_t outlen, const char *dir, const char *name, char *err,
                           size_t errlen);
/* Creates dir and its missing parents (mkdir -p); an existing directory is
 * fine, an existing file of that name is an error naming it. */
vkl_status vkl_report_mkdirs(const char *dir, char *err, size_t errlen);
int vkl_report_is_dir(const char *path);
int vkl_report_is_file(const char *path); /* a regular file (or a link to one) */

#endif
