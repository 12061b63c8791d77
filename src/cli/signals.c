/* Signal handling for training (see signals.h). */
#include "cli/signals.h"

#include <string.h>
#include <unistd.h>

volatile sig_atomic_t cli_stop_signal = 0;

static struct sigaction saved_int, saved_term;

/* Only async-signal-safe calls here: write and _exit. */
static void on_signal(int sig) {
  if (cli_stop_signal) _exit(128 + sig); /* the second: at once */
  cli_stop_signal = sig;
  static const char msg[] =
      "\nvklars: finishing the step in flight and saving a checkpoint "
      "(Ctrl-C again quits at once)\n";
  ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)r;
}

void cli_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  cli_stop_signal = 0;
  sigaction(SIGINT, &sa, &saved_int);
  sigaction(SIGTERM, &sa, &saved_term);
}

void cli_signals_restore(void) {
  sigaction(SIGINT, &saved_int, NULL);
  sigaction(SIGTERM, &saved_term, NULL);
}

int cli_signal_exit_code(void) {
  return cli_stop_signal ? 128 + cli_stop_signal : 0;
}
