/* Signal handling for training (see signals.h). */
#include "cli/signals.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the handler needs lock-free atomics");

/* A repeat this soon after the first signal is the same request: `timeout`
 * and service managers signal the process and its group, which arrives as
 * two signals, possibly on two threads at once. */
#define REPEAT_WINDOW_NS 1000000000LL

volatile sig_atomic_t cli_stop_signal = 0;

/* 0: no request; 1: the first signal is being recorded (on some thread);
 * 2: recorded, with its time in first_at. */
static atomic_int stop_state;
static struct timespec first_at;
static volatile sig_atomic_t quiet; /* another rank speaks for the run */

static long long since_first_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long long)(now.tv_sec - first_at.tv_sec) * 1000000000LL +
         (now.tv_nsec - first_at.tv_nsec);
}

/* Only async-signal-safe calls here: lock-free atomics, clock_gettime,
 * write and _exit. */
static void on_signal(int sig) {
  int expected = 0;
  if (atomic_compare_exchange_strong(&stop_state, &expected, 1)) {
    clock_gettime(CLOCK_MONOTONIC, &first_at);
    cli_stop_signal = sig;
    atomic_store(&stop_state, 2);
    static const char msg[] =
        "\nvklars: stopping: a checkpoint follows the step in flight (a second Ctrl-C, a "
        "second or more later, quits at once)\n";
    if (!quiet) {
      ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
      (void)r;
    }
    return;
  }
  if (expected == 1) return; /* the first is still being recorded: one request */
  if (since_first_ns() < REPEAT_WINDOW_NS) return;
  _exit(128 + sig); /* the user insists: at once */
}

void cli_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  cli_stop_signal = 0;
  atomic_store(&stop_state, 0);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

void cli_signals_quiet(int on) {
  quiet = on != 0;
}

int cli_signal_exit_code(void) {
  return cli_stop_signal ? 128 + cli_stop_signal : 0;
}
