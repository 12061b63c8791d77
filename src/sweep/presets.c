/* The built-in sweep grids (see presets.h). */
#include "sweep/presets.h"

#include <string.h>

/* The paper's classification grid on Fashion-MNIST at a size that runs on
 * a 2-core CPU: TVLARS without warm-up (two decay rates) against LARS and
 * LAMB with and without lars-warm, at B = 1K, 4K and 16K, two learning rates
 * per optimizer and batch, two seeds. */
static const char fmnist_paper[] =
    "[sweep]\n"
    "command = train\n"
    "seeds = 2\n"
    "target = 0.80\n"
    "[grid]\n"
    "data = fashion-mnist\n"
    "model = cnn\n"
    "width = 8\n"
    "no-augment = true\n"
    "epochs = 2\n"
    "micro-batch = 1024\n"
    "opt = tvlars, lars, lamb\n"
    "batch = 1024, 4096, 16384\n"
    "schedule = none, lars-warm\n"
    "[opt=tvlars]\n"
    "schedule = none\n"
    "lambda = 1e-3, 1e-2\n"
    "[schedule=lars-warm]\n"
    "warmup-epochs = 1\n"
    "[opt=tvlars batch=1024]\n"
    "lr = 5, 10\n"
    "[opt=tvlars batch=4096]\n"
    "lr = 12, 20\n"
    "[opt=tvlars batch=16384]\n"
    "lr = 12, 35\n";

static const vkl_sweep_preset presets[] = {
    {"fmnist-paper",
     "TVLARS vs LARS/LAMB +- warm-up at B 1K/4K/16K on Fashion-MNIST (cnn width 8, 2 epochs)",
     "72 runs of 2 epochs (8.6M training images); measured TBD", fmnist_paper},
};

int vkl_sweep_preset_count(void) {
  return (int)(sizeof presets / sizeof presets[0]);
}

const vkl_sweep_preset *vkl_sweep_preset_at(int i) {
  return i >= 0 && i < vkl_sweep_preset_count() ? &presets[i] : NULL;
}

const vkl_sweep_preset *vkl_sweep_preset_find(const char *name) {
  for (int i = 0; i < vkl_sweep_preset_count(); i++)
    if (strcmp(presets[i].name, name) == 0) return &presets[i];
  return NULL;
}
