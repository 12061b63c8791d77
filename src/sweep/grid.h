/* A sweep's grid: an INI file whose keys are train options (without the
 * dashes) and whose values are lists; the sweep runs their product.
 *
 *   [sweep]                 the sweep's own settings (command, seeds, target)
 *   command = train
 *   [grid]                  (or no section) the options of every run
 *   model = cnn
 *   opt = tvlars, lars      a list: one run per value
 *   batch = 1024, 4096
 *   epochs = 2..6 +2        a range: 2, 4, 6 (+ adds, * multiplies; default +1)
 *   [batch=4096]            options for the runs whose batch is 4096
 *   lr = 12, 16, 20         (the paper sweeps lr per batch size)
 *   [opt=lars batch=1024]   several conditions: all must hold
 *
 * A conditional section replaces (or adds) the keys it sets for the runs it
 * matches. Its conditions are on keys listed earlier in the grid than the
 * keys it sets, so a run's values are decided key by key in the grid's order.
 * Each run is named after its settings that vary across the grid
 * ("opt-lars_batch-4096_lr-12_seed-1"), so a restarted sweep finds it again
 * even if the grid gained values. */
#ifndef VKLARS_SWEEP_GRID_H
#define VKLARS_SWEEP_GRID_H

#include <stddef.h>
#include <stdint.h>

#include "vklars/status.h"

#define VKL_GRID_MAX_KEYS 64
#define VKL_GRID_MAX_RUNS 100000
#define VKL_SWEEP_RUN_NAME 160

typedef struct vkl_grid vkl_grid;

/* One run: its settings in grid order (seed last when seeds are added)
 * and its directory name. */
typedef struct vkl_sweep_run {
  char name[VKL_SWEEP_RUN_NAME];
  int n;
  char *key[VKL_GRID_MAX_KEYS + 1];
  char *value[VKL_GRID_MAX_KEYS + 1];
} vkl_sweep_run;

/* Reads an INI grid; errors name the file and the line. */
vkl_status vkl_grid_load(const char *path, vkl_grid **out, char *err, size_t errlen);
/* The same from text (presets, tests); errors name `name` as the file. */
vkl_status vkl_grid_parse(const char *text, const char *name, vkl_grid **out, char *err,
                          size_t errlen);
void vkl_grid_destroy(vkl_grid *g);

/* The [sweep] section's value for key, or NULL. */
const char *vkl_grid_sweep_setting(const vkl_grid *g, const char *key);

/* The file's lines that set something, for the caller's checks of names
 * and values: entry i's key, its line, whether it is in [sweep], and its
 * values (a [sweep] setting has one). */
typedef struct vkl_grid_entry {
  const char *key;
  int line, sweep, nvalues;
  char *const *values;
} vkl_grid_entry;
int vkl_grid_entries(const vkl_grid *g);
vkl_grid_entry vkl_grid_entry_at(const vkl_grid *g, int i);
/* The file's name as given. */
const char *vkl_grid_name(const vkl_grid *g);

/* The grid's runs in order (the first key varies slowest). seeds > 0 adds
 * a last key `seed` = 1..seeds, and is refused when the grid sets seed.
 * Free *runs with vkl_sweep_runs_free. */
vkl_status vkl_grid_expand(const vkl_grid *g, uint32_t seeds, vkl_sweep_run **runs, size_t *nruns,
                           char *err, size_t errlen);

void vkl_sweep_runs_free(vkl_sweep_run *runs, size_t n);

#endif
