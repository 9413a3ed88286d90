// Run-time choice of the instruction set, made once at first use.
#pragma once
#include <string>
#include <vector>
#include "fastsoftmax/kernels.h"

namespace fastsoftmax {

// The table for the chosen level: the best the CPU supports, or the lower
// level named by FASTSOFTMAX_SIMD.
const KernelTable& kernels();

// Levels compiled into this build that the CPU can run, lowest first.
std::vector<std::string> supported_simd_levels();

// What FASTSOFTMAX_SIMD asked for ("" when unset) and, when it could not be
// honoured, why (empty otherwise).
std::string requested_simd_level();
std::string simd_request_problem();

}  // namespace fastsoftmax
