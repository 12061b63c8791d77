/* `vklars report`: PNG plots and one self-contained report.html from
 *  - a run directory (run.json, epochs.csv, steps.csv, layers.csv),
 *  - a sweep directory (results.csv, runs/<name>/ each a run directory),
 *  - or `vklars bench ops --json` files from several devices, side by side.
 * docs/report.md says what each plot shows. Every function writes only
 * into cfg->out_dir (created with its parents) and returns the path of
 * report.html in html; errors name the file (and line) at fault. */
#ifndef VKLARS_REPORT_REPORT_H
#define VKLARS_REPORT_REPORT_H

#include <stddef.h>

#include "vklars/status.h"

/* Each PNG's size when the config gives none. */
#define VKL_REPORT_WIDTH 900
#define VKL_REPORT_HEIGHT 560

typedef struct vkl_report_config {
  const char *out_dir;    /* where the PNGs and report.html go */
  unsigned width, height; /* each PNG's size in pixels; 0: the defaults above */
} vkl_report_config;

typedef enum vkl_report_kind {
  VKL_REPORT_NONE,  /* neither */
  VKL_REPORT_RUN,   /* holds run.json */
  VKL_REPORT_SWEEP, /* holds results.csv (a sweep's runs have run.json each) */
} vkl_report_kind;

/* What dir holds: VKL_ERR_IO naming dir when it is missing or not a
 * directory; else *kind (VKL_REPORT_NONE for a directory that is neither). */
vkl_status vkl_report_kind_of(const char *dir, vkl_report_kind *kind, char *err, size_t errlen);

vkl_status vkl_report_run(const char *run_dir, const vkl_report_config *cfg, char *html,
                          size_t htmllen, char *err, size_t errlen);
vkl_status vkl_report_sweep(const char *sweep_dir, const vkl_report_config *cfg, char *html,
                            size_t htmllen, char *err, size_t errlen);
vkl_status vkl_report_bench(const char *const *json_files, size_t nfiles,
                            const vkl_report_config *cfg, char *html, size_t htmllen, char *err,
                            size_t errlen);

#endif
