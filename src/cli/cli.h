/* The vklars command line: subcommands and shared helpers. Only src/cli
 * prints to users or exits. Exit codes: 0 ok, 1 failure, 2 usage error. */
#ifndef VKLARS_CLI_H
#define VKLARS_CLI_H

#define VKL_EXIT_OK 0
#define VKL_EXIT_FAILURE 1
#define VKL_EXIT_USAGE 2

/* "vklars: error: <message>\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A notice: "vklars: <message>\n" on stderr. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: the message, then "Try 'vklars <cmd> --help'", returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int cmd_devices(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_schedule(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_linear_eval(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_kernels(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
