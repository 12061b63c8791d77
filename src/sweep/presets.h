/* Built-in sweep grids (`vklars sweep --preset NAME`): the paper's
 * experiments at sizes this tool's users can run, each with the cost it was
 * measured at. */
#ifndef VKLARS_SWEEP_PRESETS_H
#define VKLARS_SWEEP_PRESETS_H

typedef struct vkl_sweep_preset {
  const char *name;
  const char *summary; /* one line */
  const char *cost;    /* runs, images and the measured time */
  const char *grid;    /* the INI text */
} vkl_sweep_preset;

int vkl_sweep_preset_count(void);
const vkl_sweep_preset *vkl_sweep_preset_at(int i);
const vkl_sweep_preset *vkl_sweep_preset_find(const char *name); /* NULL: none */

#endif
