/* stb_image_write's implementation, for the image fixtures of test_data.c
 * (PNG and JPEG). In its own translation unit so that the sanitized build
 * can exempt this third-party code, and nothing else, from UBSan's shift
 * check (tests/CMakeLists.txt): its JPEG bit writer (stbiw__jpg_writeBits)
 * shifts bits of an int past its sign bit, undefined in C11 but compiled to
 * the intended bit pattern by GCC and Clang. */
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
