#include "fastsoftmax/threads.h"

#include <atomic>
#include <cstdlib>
#include <thread>
#ifdef FASTSOFTMAX_HAVE_OPENMP
#include <omp.h>
#include <pthread.h>
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

#ifdef FASTSOFTMAX_HAVE_OPENMP
// A child made by fork() after the parent ran a parallel region inherits
// libgomp's pool without its threads, and its next parallel region waits for
// them forever. The child runs single-threaded instead (PyTorch's and
// OpenBLAS's answer too), whatever set_num_threads asks later.
std::atomic<bool> forked_child{false};

void after_fork_in_child() { forked_child.store(true, std::memory_order_relaxed); }

const int at_fork_registered = pthread_atfork(nullptr, nullptr, after_fork_in_child);
#endif

}  // namespace

int get_num_threads() {
#ifdef FASTSOFTMAX_HAVE_OPENMP
  if (forked_child.load(std::memory_order_relaxed)) return 1;
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
