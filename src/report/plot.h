/* PNG charts: line charts (several series, log scales, a second y axis)
 * and grouped bar charts, as gnuplot scripts with the data inline in them
 * (gnuplot 5 data blocks, so no data files to clean up), drawn by
 * report/gnuplot.h; its errors (no gnuplot: the package to install;
 * gnuplot failing: its first stderr line) are these functions' errors. */
#ifndef VKLARS_REPORT_PLOT_H
#define VKLARS_REPORT_PLOT_H

#include <stddef.h>

#include "vklars/status.h"

/* One line of a line chart. Non-finite points are left out (a gap). */
typedef struct vkl_plot_series {
  const char *name; /* the legend's text */
  const double *x, *y;
  size_t n;
  int right_axis; /* drawn against the right y axis (y2label) */
} vkl_plot_series;

typedef struct vkl_plot {
  const char *title, *xlabel, *ylabel, *y2label; /* NULL: none */
  unsigned width, height;                        /* pixels */
  int log2_x;                                    /* x on a log2 scale; x <= 0 is left out */
  int log_y; /* y (and y2) on a log10 scale; y <= 0 is left out */
  const vkl_plot_series *series;
  size_t nseries;
} vkl_plot;

/* Draws the series as lines (with points when a series is short enough to
 * show them) into png. Series without a point to draw are left out of the
 * legend; when no series has one the chart says "no data", so a run that
 * has only just started still gets its page. More than 40 series get no
 * legend (it would cover the chart). */
vkl_status vkl_plot_lines(const vkl_plot *p, const char *png, char *err, size_t errlen);

/* A grouped bar chart: for each category (an x label) one bar per group
 * (the legend). */
typedef struct vkl_plot_bars {
  const char *title, *ylabel; /* NULL: none */
  unsigned width, height;
  const char *const *categories;
  size_t ncategories;
  const char *const *groups;
  size_t ngroups;
  const double *values; /* values[category * ngroups + group]; non-finite: no bar */
} vkl_plot_bars;

vkl_status vkl_plot_bar_chart(const vkl_plot_bars *p, const char *png, char *err, size_t errlen);

#endif
