/* Per-layer series from layers.csv (see layers.h). */
#include "report/layers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/csv.h"

enum { COL_STEP, COL_LAYER, COL_LWN, COL_LGN, COL_LNR, NCOLS };
static const char *const COLUMNS[NCOLS] = {"step", "layer", "lwn", "lgn", "lnr"};

/* Distinct steps: the file is in step order, so a change of the step cell
 * starts the next one. */
static size_t count_steps(const vkl_csv *csv, size_t step_col) {
  size_t steps = 0;
  const char *prev = NULL;
  for (size_t r = 0; r < vkl_csv_rows(csv); r++) {
    const char *s = vkl_csv_cell(csv, r, step_col);
    if (!prev || strcmp(s, prev) != 0) steps++;
    prev = s;
  }
  return steps;
}

/* The layer named name, added (room for cap points) when new; hint: the
 * index to try first (layers repeat in the same order every step). NULL:
 * out of memory. */
static vkl_layer_series *layer_for(vkl_layer_set *set, const char *name, size_t *hint, size_t cap) {
  for (size_t k = 0; k < set->nlayers; k++) {
    size_t i = (*hint + k) % set->nlayers;
    if (strcmp(set->layers[i].name, name) == 0) {
      *hint = (i + 1) % set->nlayers;
      return &set->layers[i];
    }
  }
  vkl_layer_series *grown = realloc(set->layers, (set->nlayers + 1) * sizeof *grown);
  if (!grown) return NULL;
  set->layers = grown;
  vkl_layer_series *l = &set->layers[set->nlayers];
  *l = (vkl_layer_series){.name = strdup(name)};
  l->step = malloc(cap * sizeof(double));
  l->lwn = malloc(cap * sizeof(double));
  l->lgn = malloc(cap * sizeof(double));
  l->lnr = malloc(cap * sizeof(double));
  set->nlayers++; /* counted before the check, so free_layers frees a partial one */
  if (!l->name || !l->step || !l->lwn || !l->lgn || !l->lnr) return NULL;
  *hint = 0;
  return l;
}

/* Row r's numbers, every row checked whether kept or not. */
static vkl_status row_numbers(const vkl_csv *csv, size_t r, const size_t *col, double v[NCOLS],
                              char *err, size_t errlen) {
  for (int c = 0; c < NCOLS; c++) {
    if (c == COL_LAYER) continue;
    vkl_status st = vkl_csv_num(csv, r, col[c], &v[c], err, errlen);
    if (st) return st;
  }
  return VKL_OK;
}

static vkl_status collect(const vkl_csv *csv, const size_t *col, vkl_layer_set *set, char *err,
                          size_t errlen) {
  size_t cap = set->steps / set->stride + 2, ordinal = 0, hint = 0;
  const char *prev = NULL;
  for (size_t r = 0; r < vkl_csv_rows(csv); r++) {
    const char *s = vkl_csv_cell(csv, r, col[COL_STEP]);
    if (!prev || strcmp(s, prev) != 0) ordinal++;
    prev = s;
    double v[NCOLS];
    vkl_status st = row_numbers(csv, r, col, v, err, errlen);
    if (st) return st;
    size_t k = ordinal - 1;
    if (k % set->stride != 0 && ordinal != set->steps) continue;
    const char *name = vkl_csv_cell(csv, r, col[COL_LAYER]);
    vkl_layer_series *l = layer_for(set, name, &hint, cap);
    if (!l) {
      snprintf(err, errlen, "%s: out of host memory", vkl_csv_path(csv));
      return VKL_ERR_OUT_OF_HOST_MEMORY;
    }
    if (l->last_ordinal == ordinal) {
      snprintf(err, errlen, "%s:%zu: layer %s logged twice at step %s", vkl_csv_path(csv),
               vkl_csv_line(csv, r), name, s);
      return VKL_ERR_FORMAT;
    }
    l->last_ordinal = ordinal;
    l->step[l->n] = v[COL_STEP];
    l->lwn[l->n] = v[COL_LWN];
    l->lgn[l->n] = v[COL_LGN];
    l->lnr[l->n] = v[COL_LNR];
    l->n++;
  }
  return VKL_OK;
}

vkl_status vkl_report_read_layers(const char *path, size_t max_points, vkl_layer_set *out,
                                  char *err, size_t errlen) {
  *out = (vkl_layer_set){.stride = 1};
  vkl_csv *csv = NULL;
  vkl_status st = vkl_csv_read(path, &csv, err, errlen);
  size_t col[NCOLS];
  for (int c = 0; !st && c < NCOLS; c++)
    st = vkl_csv_require(csv, COLUMNS[c], &col[c], err, errlen);
  if (!st) {
    out->steps = count_steps(csv, col[COL_STEP]);
    if (max_points && out->steps > max_points)
      out->stride = (out->steps + max_points - 1) / max_points;
    st = collect(csv, col, out, err, errlen);
  }
  vkl_csv_free(csv);
  if (st) vkl_report_free_layers(out);
  return st;
}

void vkl_report_free_layers(vkl_layer_set *set) {
  for (size_t i = 0; i < set->nlayers; i++) {
    vkl_layer_series *l = &set->layers[i];
    free(l->name);
    free(l->step);
    free(l->lwn);
    free(l->lgn);
    free(l->lnr);
  }
  free(set->layers);
  *set = (vkl_layer_set){.stride = 1};
}
