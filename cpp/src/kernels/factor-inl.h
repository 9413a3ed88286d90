// The factor a row writer multiplies exp values by (softmax: exp((m_c - M)
// s) / S per chunk; cross-entropy: its gradient's), in two parts: f = hi +
// lo, lo what rounding f to T left. A float32 output e f is formed as
// fma(e, hi, e lo), rounded once, where e times a rounded f carried that
// rounding (up to half an ulp) into every element of the chunk
// (docs/numerics.md). float64's writers round their outputs from x
// (exact-inl.h) and leave lo 0.
#pragma once

template <class T>
struct Factor {
  Vec<T> hi, lo;
};

// e f, rounded once from e hi + e lo.
template <class T>
FSM_HOT Vec<T> times(Vec<T> e, const Factor<T>& f) {
  return fused(e, f.hi, e * f.lo);
}

// f rounded to T, and what that rounding left.
template <class T>
inline void split_factor(double f, T& hi, T& lo) {
  hi = static_cast<T>(f);
  lo = static_cast<T>(f - static_cast<double>(hi));
}

// The factors of the N rows of a block (one row per lane), from double.
template <class T>
inline Factor<T> factor_lanes(const double* f) {
  alignas(64) T hi[Vec<T>::N], lo[Vec<T>::N];
  for (int k = 0; k < Vec<T>::N; ++k) split_factor(f[k], hi[k], lo[k]);
  return {loadu(hi), loadu(lo)};
}

// A row's chunk factors: chunk c's is hi[c] + lo[c]. Null hi: the writer
// uses none.
template <class T>
struct ChunkFactors {
  const T* hi = nullptr;
  const T* lo = nullptr;
  FSM_HOT Factor<T> at(int64_t c) const {
    if (!hi) return {set1(T(0)), set1(T(0))};
    return {set1(hi[c]), set1(lo[c])};
  }
  // the first `below` lanes chunk c-1's, the others chunk c's
  FSM_HOT Factor<T> straddling(int64_t below, int64_t c) const {
    const auto first = lanes_below<T>(below);
    return {select(first, set1(hi[c - 1]), set1(hi[c])), select(first, set1(lo[c - 1]), set1(lo[c]))};
  }
};
