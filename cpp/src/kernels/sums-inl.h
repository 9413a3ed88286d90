// Sums of per-element vector terms over a row, in a fixed order.
#pragma once

// Sum over a row of f(i) (a vector) in chunks: float chunk sums, added in
// double, so the error does not grow with the row length; the chunks of
// each kSegment piece are added first, then the pieces, as a row cut into
// pieces adds them (piecewise_row_sums), so the bits are the same either
// way. During chunk c `out` writes its chunk c (a pending row's output,
// pipeline-inl.h), four vectors a step; the order of the sum is the same
// with any writer.
template <class T, class F, class Writer>
FSM_HOT double chunked_sum(int64_t n, const F& f, Writer& out) {
  using V = Vec<T>;
  constexpr int64_t N = V::N, CH = chunk_len<T>();
  static_assert(kSegment % CH == 0, "pieces end on chunk boundaries");
  double total = 0.0, piece = 0.0;
  for (int64_t off = 0, c = 0; off < n; off += CH, ++c) {
    const int64_t len = min64(CH, n - off);
    out.begin(c);
    V s0 = set1(T(0)), s1 = s0;
    int64_t i = 0;
    for (; i + 4 * N <= len; i += 4 * N) {
      s0 = s0 + f(off + i, N);
      s1 = s1 + f(off + i + N, N);
      s0 = s0 + f(off + i + 2 * N, N);
      s1 = s1 + f(off + i + 3 * N, N);
      out.step();
    }
    for (; i + 2 * N <= len; i += 2 * N) {
      s0 = s0 + f(off + i, N);
      s1 = s1 + f(off + i + N, N);
    }
    for (; i < len; i += N) s0 = s0 + f(off + i, len - i);
    out.finish();
    piece += hsum(s0 + s1);
    if ((off + len) % kSegment == 0 || off + len == n) {
      total += piece;
      piece = 0.0;
    }
  }
  return total;
}

template <class T, class F>
inline double chunked_sum(int64_t n, const F& f) {
  NoWriter none;
  return chunked_sum<T>(n, f, none);
}

// x + y as (sum, error): sum + error == x + y exactly (Knuth's TwoSum;
// needs no ordering of |x| and |y|).
template <class V>
FSM_HOT V two_sum(V x, V y, V& err) {
  const V t = x + y, z = t - x;
  err = (x - (t - z)) + (y - z);
  return t;
}

// Whether the policies write T's probabilities rounded once (float64:
// exact-inl.h).
template <class T>
constexpr bool kExactProbs = sizeof(T) == 8;

// The lanes of s, and their errors c, added in double in lane order:
// the total as hi + lo (Fast2Sum), the lanes' rounding errors carried.
template <class T>
inline double lanes_total(Vec<T> s, Vec<T> c, double& lo) {
  constexpr int N = Vec<T>::N;
  alignas(64) T sums[N], errs[N];
  storeu(sums, s);
  storeu(errs, c);
  double hi = 0.0, rest = 0.0;
  for (int k = 0; k < N; ++k) {
    double err;
    hi = two_sum(hi, static_cast<double>(sums[k]), err);
    rest += err + static_cast<double>(errs[k]);
  }
  const double total = hi + rest;
  lo = rest - (total - hi);
  return total;
}

// An accumulator of exp terms, lane by lane: float32 adds them plainly
// (its sums are taken in double later); float64 carries each lane's
// rounding errors (TwoSum), since its S enters every float64 probability,
// which is otherwise rounded once (exact-inl.h), and gives its total in
// two parts. Exact: carry them for float32 too (a tiny row's whole sum in
// one lane: tinyrows-inl.h).
template <class T, bool Exact = kExactProbs<T>>
struct SumOf {
  Vec<T> s = set1(T(0)), c = set1(T(0));
  FSM_HOT void add(Vec<T> v) {
    if constexpr (Exact) {
      Vec<T> err;
      s = two_sum(s, v, err);
      c = c + err;
    } else {
      s = s + v;
    }
  }
  // v + v_lo, v_lo below v's last place (float64: a term in two parts)
  FSM_HOT void add(Vec<T> v, Vec<T> v_lo) {
    add(v);
    c = c + v_lo;
  }
  FSM_HOT SumOf merged(const SumOf& o) const {
    SumOf m;
    if constexpr (Exact) {
      Vec<T> err;
      m.s = two_sum(s, o.s, err);
      m.c = (c + o.c) + err;
    } else {
      m.s = s + o.s;
    }
    return m;
  }
  FSM_HOT Vec<T> value() const { return Exact ? s + c : s; }
  // What value() = v rounded away, per lane (0 unless Exact).
  FSM_HOT Vec<T> rest(Vec<T> v) const { return Exact ? c - (v - s) : set1(T(0)); }
  // The sum of the lanes in double, and (Exact) what it rounded into lo.
  FSM_HOT double total(double& lo) const {
    if constexpr (Exact) return lanes_total<T>(s, c, lo);
    lo = 0.0;
    return static_cast<double>(hsum(s));
  }
};

// The sum over a row of f(i, left, part) (a vector of terms, lanes from
// `left` on 0, each term plus what f puts in `part`, 0 unless it gives
// terms in two parts) with each lane's rounding errors carried along
// (TwoSum), the lanes then added in double in lane order, their errors
// likewise; what the total rounded away goes to lo. The second read of
// rows dominated by one term, whose small remainder (log1p's argument, or
// S - 1) keeps its last digits, where plain lane sums of a thousand equal
// terms lose two of them.
template <class T, class F>
inline double compensated_sum(int64_t n, const F& f, double& lo) {
  using V = Vec<T>;
  constexpr int64_t N = V::N;
  V s = set1(T(0)), c = s;
  for (int64_t i = 0; i < n; i += N) {
    V part = set1(T(0)), err;
    s = two_sum(s, f(i, min64(N, n - i), part), err);
    c = c + (err + part);
  }
  return lanes_total<T>(s, c, lo);
}
