# VKLARS_FUZZ=ON (included by the top CMakeLists.txt before any target):
# everything is compiled with libFuzzer's coverage instrumentation,
# AddressSanitizer and UndefinedBehaviorSanitizer (errors abort, so the
# fuzzer sees them), and linked with the sanitizers' runtime. The
# harnesses themselves also link libFuzzer (fuzz/CMakeLists.txt).
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR
    "VKLARS_FUZZ=ON needs clang (libFuzzer), but the C compiler is ${CMAKE_C_COMPILER_ID} "
    "(${CMAKE_C_COMPILER}). Configure a fresh build directory with clang, e.g.\n"
    "  cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang-14 -DVKLARS_FUZZ=ON -DVKLARS_BUILD_TESTS=OFF\n"
    "or run scripts/fuzz.sh, which does it (Debian: apt-get install clang-14 libclang-rt-14-dev).")
endif()
include(CheckCSourceCompiles)
set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer,address,undefined")
set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=fuzzer,address,undefined")
unset(VKLARS_HAVE_LIBFUZZER CACHE) # checked again each time: the package may have been installed
check_c_source_compiles([[
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return (int)(data && size) * 0; }
]] VKLARS_HAVE_LIBFUZZER)
unset(CMAKE_REQUIRED_FLAGS)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
if(NOT VKLARS_HAVE_LIBFUZZER)
  message(FATAL_ERROR
    "VKLARS_FUZZ=ON: ${CMAKE_C_COMPILER} cannot link a libFuzzer program with "
    "-fsanitize=fuzzer,address,undefined: its runtime libraries are missing "
    "(Debian 12: apt-get install libclang-rt-14-dev for clang-14).")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                    -fno-sanitize-recover=undefined)
add_link_options(-fsanitize=address,undefined)
