// float64 probabilities rounded once: p = exp((x - M) s - log S) times a
// factor g, from x, with the argument carried in two parts and exp in two
// parts (vexp_parts), so that p g is rounded once. The float32 kernels'
// e f (e = exp((x - m_c) s), f = exp((m_c - M) s) / S, each rounded) rounds
// three times more, which in float64 puts the peers' e / S ahead of it
// (docs/numerics.md). The float64 writers compute exp again, from x
// (docs/performance.md gives the cost).
#pragma once

// A row's exp arguments for its probabilities: (x h + m + hi + lo)(s / h)
// = (x - M) s - log S, with m = -M h and hi + lo = -(log S / s) h.
struct ProbShift {
  double m, hi, lo;
};

// What log S = L (to an ulp or so) lacks, lanewise, S = S_hi + S_lo > 0
// (RowStats' two parts): one Newton step with exp in parts, (S - e)/e with
// e = exp(L), leaves about 2^-100. 0 where S is 0, infinite or NaN (L is
// then the answer, or NaN).
FSM_HOT Vec<double> log_rest(Vec<double> S_hi, Vec<double> S_lo, Vec<double> L) {
  const ExpParts<double> e = vexp_parts(L, set1(0.0));
  const Vec<double> r = ((S_hi - e.hi) + (S_lo - e.lo)) / e.hi;  // S_hi - e.hi exact: they are within 2x
  return select(neq(r - r, set1(0.0)), set1(0.0), r);
}
inline double log_rest(double S_hi, double S_lo, double L) { return first(log_rest(set1(S_hi), set1(S_lo), set1(L))); }

// a + b + c + lo rounded once, lanewise (two TwoSums; lo below their last
// places): float64 results from parts. Where the sum is infinite or NaN it
// is a + b + c as rounded (TwoSums of infinities leave NaN errors).
FSM_HOT Vec<double> sum_rounded_once(Vec<double> a, Vec<double> b, Vec<double> c, Vec<double> lo) {
  Vec<double> e1, e2;
  const Vec<double> t = two_sum(two_sum(a, b, e1), c, e2);
  return select(neq(t - t, set1(0.0)), t, t + ((e1 + e2) + lo));
}
inline double sum_rounded_once(double a, double b, double c, double lo) {
  return first(sum_rounded_once(set1(a), set1(b), set1(c), set1(lo)));
}

// The shift of a row with max M and log S = logS + L_lo (log_rest), for
// the scale 1/T = s + s_lo.
template <class Sc>
inline ProbShift prob_shift(double M, double logS, double L_lo, const Sc& scale) {
  const double s = static_cast<double>(scale.s), h = static_cast<double>(scale.h);
  const double q_hi = logS / s, q_lo = ((fma(-q_hi, s, logS) - q_hi * scale.s_lo) + L_lo) / s;  // log S T in two parts
  return {-M * h, -q_hi * h, -q_lo * h};
}

// p g, rounded once, of elements x of rows shifted by (m, hi, lo) (a row's
// ProbShift in every lane, or a tile's rows' one per lane); NaN as the
// positive quiet NaN, whichever NaN operand met first. T is double
// (templated so that float32 policies may name it in discarded branches).
template <class T, class Sc>
FSM_HOT Vec<T> exact_probs(Vec<T> x, Vec<T> m, Vec<T> hi, Vec<T> lo, Vec<T> g, const Sc& scale) {
  Vec<T> err;
  const Vec<T> d = scale.parts(x, m, hi, lo, err);
  const ExpParts<T> p = vexp_parts(d, err);
  const Vec<T> y = fused(p.hi, g, p.lo * g);
  return select(neq(y, y), set1(T(NAN)), y);  // one NaN: the compiler may order a NaN row's NaNs by lane
}

// The log-probabilities (x - M) s - log S of elements x, from the same
// parts, rounded once (float64 log_softmax); an infinite argument is
// returned as it comes (its error part is NaN), NaN as the positive quiet
// NaN (as exact_probs).
template <class T, class Sc>
FSM_HOT Vec<T> exact_log_probs(Vec<T> x, Vec<T> m, Vec<T> hi, Vec<T> lo, const Sc& scale) {
  Vec<T> err;
  const Vec<T> d = scale.parts(x, m, hi, lo, err);
  const Vec<T> y = select(neq(d - d, set1(T(0))), d, d + err);
  return select(neq(y, y), set1(T(NAN)), y);
}

// The probabilities of one row times g, element by element from x (the
// writers' e.vec(i) * f).
template <class T, class Sc>
struct ExactProbs {
  const T* x;
  Vec<T> m, hi, lo, g;
  Sc scale;
  FSM_HOT Vec<T> vec(int64_t i) const {
    prefetch_reread(x + i);
    return exact_probs(loadu(x + i), m, hi, lo, g, scale);
  }
  FSM_HOT T one(int64_t i) const { return first(exact_probs(set1(x[i]), m, hi, lo, g, scale)); }
};

template <class T, class Sc>
inline ExactProbs<T, Sc> exact_probs_of(const T* x, ProbShift sh, double g, const Sc& scale) {
  return {x, set1(static_cast<T>(sh.m)), set1(static_cast<T>(sh.hi)), set1(static_cast<T>(sh.lo)),
          set1(static_cast<T>(g)), scale};
}
