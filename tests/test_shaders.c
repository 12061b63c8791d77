/* Every embedded shader is valid SPIR-V for the stated Vulkan target
 * (spirv-val over exactly the words the library embeds), and the registry
 * holds every .comp file under shaders/. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#ifndef VKLARS_SOURCE_DIR
#error "VKLARS_SOURCE_DIR must name the source tree"
#endif

Test(shaders, spirv_val_accepts_every_embedded_shader) {
  cr_assert_gt(VKL_SHADER_COUNT, 0);
  for (int i = 0; i < VKL_SHADER_COUNT; i++) {
    const vkl_shader_blob *b = &vkl_shader_registry[i];
    cr_assert_eq(b->size % 4, 0, "%s: size %zu", b->name, b->size);
    cr_assert_eq(b->code[0], 0x07230203u, "%s: bad magic", b->name);
    char path[] = "/tmp/vklars-spv-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, b->code, b->size), (ssize_t)b->size);
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' --target-env %s '%s' 2>&1", SPIRV_VAL, VKLARS_SHADER_TARGET_ENV,
             path);
    int rc = system(cmd);
    unlink(path);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "spirv-val rejects %s", b->name);
  }
}

Test(shaders, registry_holds_every_comp_file) {
  DIR *d = opendir(VKLARS_SOURCE_DIR "/shaders");
  cr_assert(d);
  int count = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 5, ".comp") != 0) continue;
    count++;
    int found = 0;
    for (int i = 0; i < VKL_SHADER_COUNT; i++)
      if (strlen(vkl_shader_registry[i].name) == n - 5 &&
          strncmp(vkl_shader_registry[i].name, e->d_name, n - 5) == 0)
        found = 1;
    cr_assert(found, "%s is not embedded", e->d_name);
  }
  closedir(d);
  cr_assert_eq(count, VKL_SHADER_COUNT);
}
