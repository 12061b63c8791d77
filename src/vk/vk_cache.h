/* Per-user cache directories (see vk_cache.c). */
#ifndef VKLARS_VK_CACHE_H
#define VKLARS_VK_CACHE_H

#include <stddef.h>

/* Writes "$XDG_CACHE_HOME/vklars/<sub>" (or ~/.cache/...) to out and creates
 * it. Returns 0, or -1 when there is no home or it cannot be created. */
int vkl_cache_dir(const char *sub, char *out, size_t n);
/* Sets MESA_SHADER_CACHE_DIR to the vklars cache unless already set. Must
 * run before the Vulkan driver loads. */
void vkl_shader_cache_setup(void);

#endif
