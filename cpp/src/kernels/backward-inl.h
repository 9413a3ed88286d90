// Backward passes of softmax and log_softmax (vector-Jacobian products):
//   softmax:     dx = y (g - sum(g y)) s
//   log_softmax: dx = (g - exp(y) sum(g)) s
// Each row is read twice (the sum, then the write) and written once.
#pragma once

// Sum over a row of f(i) (a vector) in chunks: float chunk sums, added in
// double, so the error does not grow with the row length.
template <class T, class F>
inline double chunked_sum(int64_t n, const F& f) {
  using V = Vec<T>;
  constexpr int64_t N = V::N, CH = chunk_len<T>();
  double total = 0.0;
  for (int64_t off = 0; off < n; off += CH) {
    const int64_t len = min64(CH, n - off);
    V s0 = set1(T(0)), s1 = s0;
    int64_t i = 0;
    for (; i + 2 * N <= len; i += 2 * N) {
      s0 = s0 + f(off + i, N);
      s1 = s1 + f(off + i + N, N);
    }
    for (; i < len; i += N) s0 = s0 + f(off + i, len - i);
    total += hsum(s0 + s1);
  }
  return total;
}

template <class T>
inline Vec<T> load_n(const T* p, int64_t left) {
  return left >= Vec<T>::N ? loadu(p) : load_partial(p, left, T(0));
}

template <class T>
void softmax_backward(const SoftmaxBackwardArgs<T>& a) {
  using V = Vec<T>;
  const int64_t rows = a.rows, n = a.n;
  if (rows <= 0 || n <= 0) return;
  const bool st = stream_output<T>(rows, n);
  const T s = a.inv_temp;
  const V vs = set1(s);
  parallel_for(rows, threads_for(rows, rows * n), [&](int, int64_t r) {
    const T* g = a.g + r * a.ldg;
    const T* y = a.y + r * a.ldy;
    T* dx = a.dx + r * a.lddx;
    if (a.log) {
      const T sg = static_cast<T>(chunked_sum<T>(n, [&](int64_t i, int64_t left) { return load_n(g + i, left); }));
      const V vsg = set1(sg);
      write_range(st, dx, 0, n, [&](int64_t i) { return (loadu(g + i) - vexp(loadu(y + i)) * vsg) * vs; },
                [&](int64_t i) { return first((set1(g[i]) - vexp(set1(y[i])) * vsg) * vs); });
    } else {
      const T dot = static_cast<T>(chunked_sum<T>(n, [&](int64_t i, int64_t left) { return load_n(g + i, left) * load_n(y + i, left); }));
      const V vdot = set1(dot);
      write_range(st, dx, 0, n, [&](int64_t i) { return loadu(y + i) * (loadu(g + i) - vdot) * vs; },
                [&](int64_t i) { return first(set1(y[i]) * (set1(g[i]) - vdot) * vs); });
    }
  });
}
