/* Where vklars keeps compiled shaders between runs.
 *
 * A shader's first dispatch makes the driver compile it (up to 0.3 s each
 * on lavapipe). Two caches remove that on later runs: Mesa's own disk cache,
 * which we point at a per-user directory unless the user chose one, and a
 * VkPipelineCache saved per device (vk_pipeline.c), which every vendor's
 * driver honours. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vk/vk_internal.h"
#include "vk/vk_cache.h"

static int mkdir_p(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int r = mkdir(path, 0755);
    *p = '/';
    if (r != 0 && errno != EEXIST) return -1;
  }
  if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

int vkl_cache_dir(const char *sub, char *out, size_t n) {
  const char *xdg = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  int len;
  if (xdg && xdg[0] == '/')
    len = snprintf(out, n, "%s/vklars/%s", xdg, sub);
  else if (home && home[0])
    len = snprintf(out, n, "%s/.cache/vklars/%s", home, sub);
  else
    return -1;
  if (len < 0 || (size_t)len >= n) return -1;
  return mkdir_p(out);
}

void vkl_shader_cache_setup(void) {
  if (getenv("MESA_SHADER_CACHE_DIR")) return; /* the user's choice wins */
  char dir[512];
  if (vkl_cache_dir("mesa", dir, sizeof dir) == 0) setenv("MESA_SHADER_CACHE_DIR", dir, 0);
}
