/* The run directory (--out) of `moac train`: created if needed, locked for the run, and cleared
 * of temporary checkpoint files that dead runs left behind (docs/training.md, "The run
 * directory"). */
#ifndef MOAC_RUNDIR_H
#define MOAC_RUNDIR_H
#include "support/diag.h"

#define MOAC_RUNDIR_LOCK "moac.lock"

/* Creates dir (and its parents) if missing; reports and returns -1 if it cannot, or if dir is
 * not a directory. */
int moac_rundir_make(const char *dir, moac_diag *d);

/* Takes the run's lock on dir (an fcntl write lock on dir/moac.lock, which holds the pid): the
 * kernel releases it when the process ends, however it ends. If another process holds it, reports
 * "dir: error: ... (pid N) ..." and returns -1 at once, without waiting. Returns the lock's file
 * descriptor (keep it open for the whole run; closing it releases the lock). */
int moac_rundir_lock(const char *dir, moac_diag *d);

/* With the lock held: removes <base>.tmp-<pid> files in dir whose process is gone (a run killed
 * while writing a checkpoint), saying so on stderr for each (also under --quiet: it is news).
 * Returns how many it removed. */
int moac_rundir_clean_stale(const char *dir, const char *base);

#endif
