/* A run directory: run.json (every setting, the device, the driver, the
 * vklars version, the seed) and three CSV logs, flushed as they grow so an
 * interrupted run keeps everything up to its last step:
 *   epochs.csv  epoch, train loss and top-1, test loss, top-1, top-5, wall
 *               time, img/s, loader img/s, non-finite steps
 *   steps.csv   step, epoch, loss, lr, phi, top-1
 *   layers.csv  step, layer, LWN, LGN, LNR, trust ratio, effective lr
 * Every write and flush is checked; a failure returns VKL_ERR_IO with
 * "cannot write DIR/FILE: why (it lacks rows from step N on)" (the
 * caller stops the run: a log that stops mid-line must not go unnoticed).
 * That log is not written again (its last line may be torn); the others
 * go on. Files are created and rewritten through
 * atomic_file.h, so no symbolic link planted in the directory is written
 * through. The caller holds the directory's lock (rundir_lock.h). */
#ifndef VKLARS_TRAIN_RUNLOG_H
#define VKLARS_TRAIN_RUNLOG_H

#include <stddef.h>
#include <stdint.h>

#include "optim/optim_ref.h"
#include "train/trainer.h"

typedef struct vkl_runlog vkl_runlog;

/* Starts the logs of a new run in dir (which exists). A directory that
 * already holds a run (run.json, checkpoints or their link) is refused
 * unless force is set; with force that run's checkpoints are removed first
 * (vkl_checkpoint_clear), so neither --resume nor pruning can take them
 * for the new run's. */
vkl_status vkl_runlog_open(const char *dir, int force, vkl_runlog **out, char *err, size_t errlen);
/* Reopens a run directory for a resumed run: the logs keep their rows of
 * steps before `step` and of epochs before `epoch` (what the resumed run
 * will write again goes, and a torn last line), and grow from there;
 * run.json stays. */
vkl_status vkl_runlog_reopen(const char *dir, uint64_t step, uint32_t epoch, vkl_runlog **out,
                             char *err, size_t errlen);
/* Closes the logs; VKL_ERR_IO when a close fails (NULL: nothing). */
vkl_status vkl_runlog_close(vkl_runlog *log, char *err, size_t errlen);
/* Writes run.json atomically. json_text is the document. */
vkl_status vkl_runlog_write_run(vkl_runlog *log, const char *json_text, char *err, size_t errlen);
/* Records the images --skip-bad-images left out in run.json: data.skipped
 * becomes the union of the files it lists and files[0..n) ("FILE: why"
 * each), data.skipped_images their number. The rest of run.json stays, so
 * a resumed run adds the images it skipped to the run's record. */
vkl_status vkl_runlog_record_skipped(vkl_runlog *log, const char *const *files, size_t n, char *err,
                                     size_t errlen);
vkl_status vkl_runlog_step(vkl_runlog *log, uint64_t step, uint32_t epoch, double loss, double lr,
                           double phi, double top1, char *err, size_t errlen);
vkl_status vkl_runlog_layers(vkl_runlog *log, uint64_t step, const char *const *names,
                             const vkl_optim_stats *stats, uint32_t count, char *err,
                             size_t errlen);
vkl_status vkl_runlog_epoch(vkl_runlog *log, const vkl_epoch_result *r, char *err, size_t errlen);

#endif
