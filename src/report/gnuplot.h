/* Running gnuplot: the program is VKLARS_GNUPLOT when set (a path, or a
 * name looked up on PATH), else gnuplot on PATH. A script runs as
 * `gnuplot SCRIPT` from a temporary file, on the pngcairo terminal, its
 * output drawn into a temporary file next to the target PNG and renamed
 * over it, so a failed plot never leaves a half-drawn image.
 *
 * Errors: no gnuplot is VKL_ERR_UNSUPPORTED, "gnuplot not found on PATH;
 * install Debian's gnuplot-nox (apt-get install gnuplot-nox)"; gnuplot
 * failing is VKL_ERR_IO naming the PNG, the exit status and gnuplot's
 * first stderr line (and, when that is a warning, the first line that is
 * not: gnuplot warns before it fails). */
#ifndef VKLARS_REPORT_GNUPLOT_H
#define VKLARS_REPORT_GNUPLOT_H

#include <stddef.h>

#include "report/strbuf.h"
#include "vklars/status.h"

/* The path of the gnuplot program that would run, in out. */
vkl_status vkl_gnuplot_find(char *out, size_t outlen, char *err, size_t errlen);

/* Runs the script body (commands after the terminal and output are set:
 * `set terminal pngcairo noenhanced size WIDTH,HEIGHT`, `set output`) and
 * leaves its image at png. noenhanced: names such as fc1_weight are
 * printed as written, not as subscripts. */
vkl_status vkl_gnuplot_render(unsigned width, unsigned height, const char *body, const char *png,
                              char *err, size_t errlen);

/* Appends s as a gnuplot single-quoted string ('' inside is a quote; a
 * newline, which would end the command, becomes a space). */
void vkl_gnuplot_quote(vkl_strbuf *b, const char *s);

#endif
