/* A run directory: run.json (every setting, the device, the driver, the
 * vklars version, the seed) and three CSV logs, flushed as they grow so an
 * interrupted run keeps everything up to its last step:
 *   epochs.csv  epoch, train loss and top-1, test loss, top-1, top-5, wall
 *               time, img/s, loader img/s, non-finite steps
 *   steps.csv   step, epoch, loss, lr, phi, top-1
 *   layers.csv  step, layer, LWN, LGN, LNR, trust ratio, effective lr */
#ifndef VKLARS_TRAIN_RUNLOG_H
#define VKLARS_TRAIN_RUNLOG_H

#include <stddef.h>
#include <stdint.h>

#include "optim/optim_ref.h"
#include "train/trainer.h"

typedef struct vkl_runlog vkl_runlog;

/* Creates dir (and parents). A directory that already holds a run.json is
 * refused unless force is set, so a finished run is never overwritten. */
vkl_status vkl_runlog_open(const char *dir, int force, vkl_runlog **out, char *err, size_t errlen);
/* Reopens a run directory for a resumed run: the logs keep their rows of
 * steps before `step` and of epochs before `epoch` (what the resumed run
 * will write again goes), and grow from there; run.json stays. */
vkl_status vkl_runlog_reopen(const char *dir, uint64_t step, uint32_t epoch, vkl_runlog **out,
                             char *err, size_t errlen);
void vkl_runlog_close(vkl_runlog *log);
/* Writes run.json atomically (temporary file, then rename). json_text is
 * the document. */
vkl_status vkl_runlog_write_run(vkl_runlog *log, const char *json_text, char *err, size_t errlen);
void vkl_runlog_step(vkl_runlog *log, uint64_t step, uint32_t epoch, double loss, double lr,
                     double phi, double top1);
void vkl_runlog_layers(vkl_runlog *log, uint64_t step, const char *const *names,
                       const vkl_optim_stats *stats, uint32_t count);
void vkl_runlog_epoch(vkl_runlog *log, const vkl_epoch_result *r);

#endif
