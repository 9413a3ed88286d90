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

// Sum of f(i, left) over [0, n) with every addition compensated (TwoSum,
// Knuth TAOCP vol. 2, 4.2.2): for the rare second reads (sum_below_max),
// where many like terms would drift by a few ulps in plain lane sums.
template <class T, class F>
inline double compensated_sum(int64_t n, const F& f) {
  using V = Vec<T>;
  constexpr int64_t N = V::N;
  V s = set1(T(0)), c = s;
  for (int64_t i = 0; i < n; i += N) {
    const V v = f(i, n - i), t = s + v, bv = t - s;
    c = c + ((s - (t - bv)) + (v - bv));
    s = t;
  }
  alignas(64) T lanes[2 * N];
  storeu(lanes, s);
  storeu(lanes + N, c);
  double total = 0.0, err = 0.0;
  for (int64_t k = 0; k < 2 * N; ++k) {
    const double v = static_cast<double>(lanes[k]), t = total + v, bv = t - total;
    err += (total - (t - bv)) + (v - bv);
    total = t;
  }
  return total + err;
}
