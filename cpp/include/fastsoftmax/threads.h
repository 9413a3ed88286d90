// The thread count every kernel uses.
#pragma once

namespace fastsoftmax {

// Default: FASTSOFTMAX_NUM_THREADS, then OMP_NUM_THREADS, then all cores.
int get_num_threads();
void set_num_threads(int n);  // n >= 1, checked by the caller
bool openmp_enabled();

}  // namespace fastsoftmax
