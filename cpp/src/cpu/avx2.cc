// Kernels for the avx2 level (flags set per file in CMakeLists.txt).
#define FSM_SIMD_LEVEL 2
#define FSM_NS avx2
#define FSM_NAME "avx2"
#include "cpu/isa-inl.h"
