#include "fastsoftmax/threads.h"

#include <atomic>
#include <cstdlib>
#include <thread>
#ifdef FASTSOFTMAX_HAVE_OPENMP
#include <omp.h>
#endif

namespace fastsoftmax {
namespace {

int positive_env(const char* name) {
  const char* s = std::getenv(name);
  if (!s || !*s) return 0;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);  // "4,2" (OMP's nested form) reads as 4
  return (end != s && v > 0 && v < (1 << 20)) ? static_cast<int>(v) : 0;
}

int default_threads() {
  if (int n = positive_env("FASTSOFTMAX_NUM_THREADS")) return n;
  if (int n = positive_env("OMP_NUM_THREADS")) return n;
#ifdef FASTSOFTMAX_HAVE_OPENMP
  return omp_get_num_procs();
#else
  return 1;
#endif
}

std::atomic<int>& thread_setting() {
  static std::atomic<int> n{default_threads()};
  return n;
}

}  // namespace

int get_num_threads() {
#ifdef FASTSOFTMAX_HAVE_OPENMP
  return thread_setting().load(std::memory_order_relaxed);
#else
  return 1;
#endif
}

void set_num_threads(int n) { thread_setting().store(n, std::memory_order_relaxed); }

bool openmp_enabled() {
#ifdef FASTSOFTMAX_HAVE_OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace fastsoftmax
