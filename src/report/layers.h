/* layers.csv as one series per layer (tensor), for the paper's Figure 3
 * plots of the weight norm (lwn), gradient norm (lgn) and their ratio
 * (lnr) against the step. The file has a row per layer per step, so a long
 * run's file is large: steps are thinned evenly to about max_points per
 * layer (every stride-th step, and the last), the chart's resolution. */
#ifndef VKLARS_REPORT_LAYERS_H
#define VKLARS_REPORT_LAYERS_H

#include <stddef.h>

#include "vklars/status.h"

typedef struct vkl_layer_series {
  char *name;                     /* "conv1.weight" */
  double *step, *lwn, *lgn, *lnr; /* n points each */
  size_t n, last_ordinal;         /* while reading: the last step kept, +1 (0: none yet) */
} vkl_layer_series;

typedef struct vkl_layer_set {
  vkl_layer_series *layers; /* in the file's order */
  size_t nlayers;
  size_t steps;  /* distinct steps in the file */
  size_t stride; /* every stride-th of them kept (and the last) */
} vkl_layer_set;

/* Reads path; every row's numbers are checked (errors name line and
 * column), a layer twice at one step is an error. */
vkl_status vkl_report_read_layers(const char *path, size_t max_points, vkl_layer_set *out,
                                  char *err, size_t errlen);
void vkl_report_free_layers(vkl_layer_set *set);

#endif
