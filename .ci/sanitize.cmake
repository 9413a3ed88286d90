# Read after project() by .ci/sanitize (CMAKE_PROJECT_INCLUDE) next to
# FASTSOFTMAX_SANITIZE=ON: every UBSan finding fatal, and the sanitized
# targets at -O0. Deferred to the end of CMakeLists.txt so that these options
# follow the kernels' own -O3 and win: with ASan + UBSan, GCC 12 spends about
# 15 minutes on each instruction-set source at -O3, and 1.5 at -O0.
cmake_language(DEFER CALL target_compile_options fastsoftmax_cpu PRIVATE -O0 -g -fno-sanitize-recover=undefined)
cmake_language(DEFER CALL target_compile_options _core PRIVATE -O0 -g -fno-sanitize-recover=undefined)
