/* libFuzzer harness: `vklars train --config FILE`, from the INI file
 * (inih, through train_command.c's expand_config) to the option parsing and
 * validation that follow it, stopping where training would open a device
 * (train_cli.c). The input is the INI file. */
#include "fuzz_util.h"
#include "train_cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_path(0, "train.ini");
  fuzz_write(path, data, size);
  fuzz_train_config(path);
  return 0;
}
