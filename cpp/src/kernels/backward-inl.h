// Backward passes of softmax and log_softmax (vector-Jacobian products):
//   softmax:     dx = y (g - sum(g y)) s
//   log_softmax: dx = (g - exp(y) sum(g)) s
// Each row is read twice (the sum, then the write) and written once.
#pragma once

template <class T>
void softmax_backward(const SoftmaxBackwardArgs<T>& a) {
  using V = Vec<T>;
  const int64_t rows = a.rows, n = a.n;
  if (rows <= 0 || n <= 0) return;
  const bool st = stream_output(a.dx, a.lddx, rows, n);
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
