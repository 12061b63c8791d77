/* Linked into vklars and every test executable in the VKLARS_SANITIZE build
 * only (CMakeLists.txt): a dlclose() that keeps the library mapped.
 *
 * Why: the Vulkan loader dlclose()s the driver (Mesa's lavapipe, with LLVM)
 * and the layers (the Khronos validation layer) in vkDestroyInstance, and
 * LeakSanitizer looks for leaks at exit. By then their one-time allocations
 * are no longer referenced by any mapped global, so LSan reports them, and
 * their stack frames point into unmapped memory ("<unknown module>", or the
 * name of whatever library was mapped there later). Such a report cannot be
 * told apart from a leak in our own code, nor suppressed by module name.
 * Keeping every library mapped until exit makes the driver's allocations
 * reachable again (most reports vanish) and names the module of every frame,
 * so tests/lsan.supp can match the driver and layer libraries by name and
 * nothing else. Our code is linked statically into the executables and is
 * never dlopen'ed, so this changes nothing in what LSan checks of it.
 *
 * The executable's definition takes precedence over libc's for every caller
 * (the loader, the layers), since the executable comes first in the global
 * lookup scope and the linker exports it (libvulkan.so.1 references it). */
#include <dlfcn.h>

int dlclose(void *handle) {
  (void)handle;
  return 0;
}
