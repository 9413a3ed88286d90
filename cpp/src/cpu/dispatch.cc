// CPU detection and the one table of kernels, chosen once.
#include "fastsoftmax/dispatch.h"

#include <cstdlib>
#include <cstring>

namespace fastsoftmax {
namespace scalar { const KernelTable& table(); }
#ifdef FASTSOFTMAX_HAVE_NEON
namespace neon { const KernelTable& table(); }
#endif
#ifdef FASTSOFTMAX_HAVE_X86
namespace avx2 { const KernelTable& table(); }
namespace avx512 { const KernelTable& table(); }
#endif

namespace {

struct Level {
  const char* name;
  const KernelTable& (*table)();
  bool (*cpu_has)();
};

bool always() { return true; }
#ifdef FASTSOFTMAX_HAVE_X86
// __builtin_cpu_supports also checks that the OS saves the wider registers.
bool has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#ifdef FASTSOFTMAX_EMULATE_AVX512
bool has_avx512() { return has_avx2(); }  // the test build's lane-by-lane AVX-512
#else
bool has_avx512() { return has_avx2() && __builtin_cpu_supports("avx512f"); }
#endif
#endif

const Level kLevels[] = {
    {"scalar", scalar::table, always},
#ifdef FASTSOFTMAX_HAVE_NEON
    {"neon", neon::table, always},  // Advanced SIMD is mandatory on AArch64
#endif
#ifdef FASTSOFTMAX_HAVE_X86
    {"avx2", avx2::table, has_avx2},
    {"avx512", avx512::table, has_avx512},
#endif
};
constexpr int kNumLevels = sizeof(kLevels) / sizeof(kLevels[0]);

struct Choice {
  const KernelTable* table = nullptr;
  std::string requested, problem;
};

Choice choose() {
  Choice c;
  int best = 0;
  for (int i = 0; i < kNumLevels; ++i)
    if (kLevels[i].cpu_has()) best = i;
  const char* env = std::getenv("FASTSOFTMAX_SIMD");
  int pick = best;
  if (env && *env) {
    c.requested = env;
    int found = -1;
    for (int i = 0; i < kNumLevels; ++i)
      if (c.requested == kLevels[i].name) found = i;
    if (found < 0) {
      c.problem = "FASTSOFTMAX_SIMD=" + c.requested + " is not a level of this build (";
      for (int i = 0; i < kNumLevels; ++i) c.problem += std::string(i ? ", " : "") + kLevels[i].name;
      c.problem += "); using " + std::string(kLevels[best].name);
    } else if (found > best) {
      c.problem = "FASTSOFTMAX_SIMD=" + c.requested + " is not supported by this CPU; using " +
                  kLevels[best].name;
    } else {
      pick = found;
    }
  }
  c.table = &kLevels[pick].table();
  return c;
}

const Choice& choice() {
  static const Choice c = choose();
  return c;
}

}  // namespace

const KernelTable& kernels() { return *choice().table; }

std::vector<std::string> supported_simd_levels() {
  std::vector<std::string> out;
  for (const Level& l : kLevels)
    if (l.cpu_has()) out.push_back(l.name);
  return out;
}

std::string requested_simd_level() { return choice().requested; }
std::string simd_request_problem() { return choice().problem; }

}  // namespace fastsoftmax
