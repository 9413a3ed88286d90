#include "fastsoftmax/threads.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <thread>
#ifdef FASTSOFTMAX_HAVE_OPENMP
#include <omp.h>
#include <pthread.h>
#endif

namespace fastsoftmax {
namespace {

// At most this many threads per processor: more only adds switching, and
// libgomp cannot create tens of thousands of threads (it aborts the process
// or crashes).
constexpr int kThreadsPerProcessor = 4;

int processors() {
#ifdef FASTSOFTMAX_HAVE_OPENMP
  return omp_get_num_procs();
#else
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
#endif
}

struct ThreadDefault {
  int n;
  std::string problem;
};

// The first of FASTSOFTMAX_NUM_THREADS and OMP_NUM_THREADS that holds a
// positive integer ("4,2", OMP's nested form, reads as 4), clamped to
// max_threads(); all cores when neither does.
ThreadDefault read_default() {
  ThreadDefault d{processors(), ""};
  for (const char* name : {"FASTSOFTMAX_NUM_THREADS", "OMP_NUM_THREADS"}) {
    const char* s = std::getenv(name);
    if (!s || !*s) continue;
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(s, &end, 10);
    if (end == s || v <= 0 || errno == ERANGE || (*end != '\0' && *end != ',')) {
      d.problem += std::string(d.problem.empty() ? "" : "; ") + name + "=" + s +
                   " is not a positive integer: ignored";
      continue;
    }
    d.n = static_cast<int>(v < max_threads() ? v : max_threads());
    if (v > max_threads())
      d.problem += std::string(d.problem.empty() ? "" : "; ") + name + "=" + s + " is more than " +
                   std::to_string(max_threads()) + " threads (" + std::to_string(kThreadsPerProcessor) +
                   " per processor): using " + std::to_string(max_threads());
    return d;
  }
  return d;
}

const ThreadDefault& thread_default() {
  static const ThreadDefault d = read_default();
  return d;
}

std::atomic<int>& thread_setting() {
  static std::atomic<int> n{thread_default().n};
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

int max_threads() { return kThreadsPerProcessor * processors(); }

std::string thread_request_problem() { return thread_default().problem; }

bool openmp_enabled() {
#ifdef FASTSOFTMAX_HAVE_OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace fastsoftmax
