// The thread count every kernel call is given (the binding reads it into
// the kernels' Context).
#pragma once
#include <string>

namespace fastsoftmax {

// Default: FASTSOFTMAX_NUM_THREADS, then OMP_NUM_THREADS, then all cores;
// a forked child runs one thread.
int get_num_threads();
void set_num_threads(int n);  // 1 <= n <= max_threads(), checked by the caller
bool openmp_enabled();

// The most threads a caller may ask for: a few per processor.
int max_threads();

// What was wrong with the thread variables of the environment ("" if
// nothing): values that are not positive integers (ignored) or above
// max_threads() (clamped).
std::string thread_request_problem();

}  // namespace fastsoftmax
