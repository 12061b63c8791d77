/* libFuzzer harness: what `vklars inspect` and `train --resume DIR` read
 * of a run directory before trusting a checkpoint: the CRC verification
 * without a model (vkl_checkpoint_verify: the tensors' data_offsets tiling
 * the data, each tensor's CRC32 read in blocks) and the inspect command
 * itself (src/cli/cmd_inspect.c: the metadata, the saved options, the
 * link), on the directory and on the file.
 *
 * The input is a checkpoint, written as RUN/ckpt-step1.safetensors with
 * RUN/checkpoint.safetensors linking it; inputs of odd length get the link
 * pointed at a checkpoint that is not there. inspect prints to stdout,
 * which the harness sends to /dev/null unless VKLARS_FUZZ_VERBOSE is set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "fuzz_util.h"
#include "train/checkpoint.h"

static char run_dir[1024], path[1100], link_path[1100];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (!getenv("VKLARS_FUZZ_VERBOSE") && !freopen("/dev/null", "w", stdout)) abort();
  snprintf(run_dir, sizeof run_dir, "%s/run", fuzz_dir());
  if (mkdir(run_dir, 0700) != 0) abort();
  vkl_checkpoint_path(run_dir, 1, path, sizeof path);
  snprintf(link_path, sizeof link_path, "%s/" VKL_CKPT_LINK, run_dir);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_write(path, data, size);
  unlink(link_path);
  if (symlink(size & 1 ? "ckpt-step2.safetensors" : "ckpt-step1.safetensors", link_path) != 0)
    abort();
  char err[1024];
  vkl_checkpoint_integrity in;
  vkl_status st = vkl_checkpoint_verify(path, &in, err, sizeof err);
  fuzz_report("verify", st, err);
  char *dir_argv[] = {"inspect", run_dir}, *file_argv[] = {"inspect", path};
  int rc = cmd_inspect(2, dir_argv);
  fuzz_report("inspect DIR", rc, rc ? "exit status not 0" : NULL);
  rc = cmd_inspect(2, file_argv);
  fuzz_report("inspect CKPT", rc, rc ? "exit status not 0" : NULL);
  fflush(stdout);
  return 0;
}
