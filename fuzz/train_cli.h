/* `vklars train` up to where it opens a device, for the harnesses:
 * train_command_parse (src/cli/train_command.c), which cmd_train() runs
 * first, with main.c's printing replaced by quiet versions that return the
 * same exit codes. */
#ifndef VKLARS_FUZZ_TRAIN_CLI_H
#define VKLARS_FUZZ_TRAIN_CLI_H

/* `vklars train --config ini_path`: the INI file (inih, expand_config),
 * the option parsing and the validation (apply, parse_data_options,
 * resume_options_json). Returns what cmd_train would have returned by
 * then (0: it would go on to train). */
int fuzz_train_config(const char *ini_path);
/* `vklars train --resume run_dir`: the newest readable checkpoint of
 * run_dir, the training options saved in its metadata, then the same
 * parsing and validation. */
int fuzz_train_resume(const char *run_dir);

#endif
