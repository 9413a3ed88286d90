// Kernels for the avx512 level (flags set per file in CMakeLists.txt).
#define FSM_SIMD_LEVEL 3
#define FSM_NS avx512
#define FSM_NAME "avx512"
#include "cpu/isa-inl.h"
