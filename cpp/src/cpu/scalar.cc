// Kernels for the scalar level (flags set per file in CMakeLists.txt).
#define FSM_SIMD_LEVEL 0
#define FSM_NS scalar
#define FSM_NAME "scalar"
#include "cpu/isa-inl.h"
