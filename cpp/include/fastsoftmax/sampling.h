// Candidate sampling for sampled softmax and NCE (TensorFlow's candidate
// samplers' distributions): uniform, log-uniform (Zipf-like) and unigram
// (alias method) draws from a seedable generator, sequential, so the same
// seed gives the same samples for any thread count.
#pragma once
#include <stdint.h>

namespace fastsoftmax {

// xoshiro256** (Blackman & Vigna, 2018): four 64-bit words of state, seeded
// from one 64-bit seed by splitmix64 (Steele, Lea & Flood, 2014).
void seed_generator(uint64_t seed, uint64_t state[4]);

// Which distribution over [0, range) a draw follows.
enum SamplerKind { kUniformSampler = 0, kLogUniformSampler = 1, kUnigramSampler = 2 };

struct SamplerSpec {
  int kind;
  int64_t range;
  const double* alias_prob = nullptr;  // unigram: Vose's alias table, [range] each
  const int64_t* alias = nullptr;
};

// num_sampled draws into out; with unique, draws until num_sampled distinct
// ids (the caller checks that many have nonzero probability). Returns the
// number of draws made (TensorFlow's num_tries).
int64_t draw_candidates(const SamplerSpec& spec, uint64_t state[4], int64_t num_sampled, bool unique, int64_t* out);

// Vose's alias table of the distribution proportional to w[0, n) (w >= 0,
// sum > 0): draw i uniform in [0, n), keep it with probability prob[i], else
// take alias[i].
void build_alias_table(const double* w, int64_t n, double* prob, int64_t* alias);

}  // namespace fastsoftmax
