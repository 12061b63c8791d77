/* The exclusive lock on a run directory: one process at a time trains in
 * it. DIR/run.lock is locked with flock(LOCK_EX) for the run's lifetime and
 * holds the holder's pid, so a second process is refused with that pid.
 * The kernel releases the lock when the holder exits in any way, SIGKILL
 * included; the file stays (removing it would race with a process about to
 * lock it) and a stale pid in it means nothing without the lock. */
#ifndef VKLARS_TRAIN_RUNDIR_LOCK_H
#define VKLARS_TRAIN_RUNDIR_LOCK_H

#include <stddef.h>

#include "vklars/status.h"

#define VKL_RUNDIR_LOCK_NAME "run.lock"

typedef struct vkl_rundir_lock vkl_rundir_lock;

/* Locks dir, creating it (and its parents) when create is set. Without
 * create a directory that does not exist is not locked: *out is NULL and
 * the status VKL_OK (nobody can be using it). A directory locked by another
 * process: VKL_ERR_IO, err naming its pid. */
vkl_status vkl_rundir_lock_take(const char *dir, int create, vkl_rundir_lock **out, char *err,
                                size_t errlen);
/* Unlocks (NULL: nothing). */
void vkl_rundir_lock_release(vkl_rundir_lock *lock);
/* Whether another process holds dir's lock, without taking it or creating
 * anything: VKL_OK when free (or no lock file), else as vkl_rundir_lock_take. */
vkl_status vkl_rundir_lock_check(const char *dir, char *err, size_t errlen);

#endif
