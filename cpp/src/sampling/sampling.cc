// Candidate draws (fastsoftmax/sampling.h).
#include "fastsoftmax/sampling.h"

#include <math.h>
#include <vector>

namespace fastsoftmax {
namespace {

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

inline uint64_t next(uint64_t s[4]) {
  const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

// uniform in [0, 1), 53 random bits
inline double uniform01(uint64_t s[4]) { return static_cast<double>(next(s) >> 11) * 0x1.0p-53; }

// uniform in [0, n) by a 128-bit product (bias below n / 2^64)
inline int64_t uniform_below(uint64_t s[4], int64_t n) {
  return static_cast<int64_t>((static_cast<unsigned __int128>(next(s)) * static_cast<uint64_t>(n)) >> 64);
}

inline int64_t draw(const SamplerSpec& spec, uint64_t s[4], double log_range) {
  switch (spec.kind) {
    case kLogUniformSampler: {
      // P(k) = log((k + 2) / (k + 1)) / log(range + 1): k = floor(e^{u log(range + 1)}) - 1
      const int64_t k = static_cast<int64_t>(exp(uniform01(s) * log_range)) - 1;
      return k < spec.range ? k : spec.range - 1;
    }
    case kUnigramSampler: {
      const int64_t i = uniform_below(s, spec.range);
      return uniform01(s) < spec.alias_prob[i] ? i : spec.alias[i];
    }
    default:
      return uniform_below(s, spec.range);
  }
}

// The ids drawn so far, for unique draws: open addressing, 2x the ids at least.
class IdSet {
 public:
  explicit IdSet(int64_t n) {
    size_t cap = 16;
    while (cap < static_cast<size_t>(2 * n)) cap *= 2;
    slots_.assign(cap, -1);
  }
  bool insert(int64_t id) {
    const size_t mask = slots_.size() - 1;
    for (size_t h = (static_cast<uint64_t>(id) * 0x9E3779B97F4A7C15ull) >> 7 & mask;; h = (h + 1) & mask) {
      if (slots_[h] == id) return false;
      if (slots_[h] < 0) {
        slots_[h] = id;
        return true;
      }
    }
  }

 private:
  std::vector<int64_t> slots_;
};

}  // namespace

void seed_generator(uint64_t seed, uint64_t state[4]) {
  uint64_t x = seed;
  for (int i = 0; i < 4; ++i) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    state[i] = z ^ (z >> 31);
  }
}

int64_t draw_candidates(const SamplerSpec& spec, uint64_t state[4], int64_t num_sampled, bool unique, int64_t* out) {
  const double log_range = log1p(static_cast<double>(spec.range));
  if (!unique) {
    for (int64_t k = 0; k < num_sampled; ++k) out[k] = draw(spec, state, log_range);
    return num_sampled;
  }
  IdSet seen(num_sampled);
  int64_t tries = 0;
  for (int64_t k = 0; k < num_sampled; ++tries) {
    const int64_t id = draw(spec, state, log_range);
    if (seen.insert(id)) out[k++] = id;
  }
  return tries;
}

void build_alias_table(const double* w, int64_t n, double* prob, int64_t* alias) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += w[i];
  std::vector<int64_t> small, large;
  for (int64_t i = 0; i < n; ++i) {
    prob[i] = w[i] * static_cast<double>(n) / total;
    alias[i] = i;
    (prob[i] < 1.0 ? small : large).push_back(i);
  }
  while (!small.empty() && !large.empty()) {
    const int64_t s = small.back(), l = large.back();
    small.pop_back();
    alias[s] = l;
    prob[l] -= 1.0 - prob[s];
    if (prob[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // what is left is 1 up to rounding
  for (int64_t i : large) prob[i] = 1.0;
  for (int64_t i : small) prob[i] = 1.0;
}

}  // namespace fastsoftmax
