// Kernels for the AArch64 NEON level (Advanced SIMD: no extra flags).
#define FSM_SIMD_LEVEL 1
#define FSM_NS neon
#define FSM_NAME "neon"
#include "cpu/isa-inl.h"
