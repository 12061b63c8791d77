/* SIGINT and SIGTERM during training (or evaluation): the first asks the
 * trainer to finish the step in flight, save a checkpoint and return; a
 * second one at least a second later ends the process at once, leaving
 * every checkpoint as it was (they are only ever replaced by rename).
 * Repeats within that second, on any thread, are the same request: one
 * stop often arrives as two signals (to the process and to its group). */
#ifndef VKLARS_CLI_SIGNALS_H
#define VKLARS_CLI_SIGNALS_H

#include <signal.h>

/* The signal received (0 while none); the trainer watches it. */
extern volatile sig_atomic_t cli_stop_signal;

/* For the rest of the process: a repeat that arrives while it exits after
 * an orderly stop must not kill it with the default action (it would die
 * by the signal instead of exiting 130 or 143). */
void cli_signals_install(void);
/* on: the first signal's notice is not printed (a rank other than 0,
 * whose stop rank 0 reports). */
void cli_signals_quiet(int on);
/* 128 + the signal: 130 for SIGINT, 143 for SIGTERM (the shell's codes). */
int cli_signal_exit_code(void);

#endif
