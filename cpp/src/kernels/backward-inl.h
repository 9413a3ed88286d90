// Backward passes of softmax and log_softmax (vector-Jacobian products):
//   softmax:     dx = y (g - sum(g y)) s
//   log_softmax: dx = (g - exp(y) sum(g)) s
// Each row is read twice (the sum, then the write) and written once. Rows
// that split_rows cuts into segments (very long rows, or a few long ones)
// spread over the threads: partial sums per segment, added in segment order
// (the same for any thread count), then the writes per segment.
#pragma once

template <class T>
void softmax_backward(const SoftmaxBackwardArgs<T>& a) {
  using V = Vec<T>;
  const int64_t rows = a.rows, n = a.n;
  if (rows <= 0 || n <= 0) return;
  const bool st = stream_output(a.dx, a.lddx, rows, n);
  const V vs = set1(a.inv_temp);
  // sum(g y) (softmax) or sum(g) (log_softmax) over row r's [lo, lo + len)
  auto partial_sum = [&](int64_t r, int64_t lo, int64_t len) {
    const T* g = a.g + r * a.ldg + lo;
    const T* y = a.y + r * a.ldy + lo;
    if (a.log) return chunked_sum<T>(len, [&](int64_t i, int64_t left) { return load_n(g + i, left); });
    return chunked_sum<T>(len, [&](int64_t i, int64_t left) { return load_n(g + i, left) * load_n(y + i, left); });
  };
  // dx over row r's [lo, lo + len), given the row's sum
  auto write = [&](int64_t r, int64_t lo, int64_t len, T sum) {
    const T* g = a.g + r * a.ldg + lo;
    const T* y = a.y + r * a.ldy + lo;
    T* dx = a.dx + r * a.lddx + lo;
    const V vsum = set1(sum);
    if (a.log)
      write_range(st, dx, 0, len, [&](int64_t i) { return (loadu(g + i) - vexp(loadu(y + i)) * vsum) * vs; },
                  [&](int64_t i) { return first((set1(g[i]) - vexp(set1(y[i])) * vsum) * vs); });
    else
      write_range(st, dx, 0, len, [&](int64_t i) { return loadu(y + i) * (loadu(g + i) - vsum) * vs; },
                  [&](int64_t i) { return first(set1(y[i]) * (set1(g[i]) - vsum) * vs); });
  };
  if (!split_rows(rows, n)) {
    parallel_for(rows, threads_for(rows, rows * n), [&](int, int64_t r) {
      write(r, 0, n, static_cast<T>(partial_sum(r, 0, n)));
    });
    return;
  }
  Buffer row_sums(static_cast<size_t>(rows) * sizeof(double));
  double* sums = row_sums.at<double>(0);
  piecewise_row_sums(rows, n, true, rows * n, sums, partial_sum);
  const int64_t nseg = ceil_div(n, kSegment), items = rows * nseg;
  parallel_for(items, threads_for(items, rows * n), [&](int, int64_t it) {
    const int64_t r = it / nseg, off = (it % nseg) * kSegment;
    write(r, off, min64(kSegment, n - off), static_cast<T>(sums[r]));
  });
}
