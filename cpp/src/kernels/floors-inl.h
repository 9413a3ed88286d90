// What the benchmarks compare against: an exp-and-sum pass with no output
// (the arithmetic floor), a parallel copy (the memory floor), and the
// element-wise exp and log the accuracy tests measure.
#pragma once

template <class T>
void exp_array(const Context& ctx, const T* x, T* y, int64_t n) {
  constexpr int64_t N = Vec<T>::N;
  parallel_for(ceil_div(n, kSegment), threads_for(ctx, ceil_div(n, kSegment), n), [&](int, int64_t k) {
    const int64_t off = k * kSegment, len = min64(kSegment, n - off);
    int64_t i = 0;
    for (; i + N <= len; i += N) storeu(y + off + i, vexp(loadu(x + off + i)));
    if (i < len) store_partial(y + off + i, len - i, vexp(load_partial(x + off + i, len - i, T(0))));
  });
}

inline void log_array(const double* x, double* y, int64_t n) {
  constexpr int64_t N = Vec<double>::N;
  int64_t i = 0;
  for (; i + N <= n; i += N) storeu(y + i, vlog(loadu(x + i)));
  if (i < n) store_partial(y + i, n - i, vlog(load_partial(x + i, n - i, 1.0)));
}

template <class T>
double exp_sum(const Context& ctx, const T* x, int64_t n) {
  using V = Vec<T>;
  constexpr int64_t N = V::N;
  const int64_t blocks = ceil_div(n, kSegment);
  Buffer parts(static_cast<size_t>(blocks) * sizeof(double));
  double* p = parts.at<double>(0);
  parallel_for(blocks, threads_for(ctx, blocks, n), [&](int, int64_t k) {
    const int64_t off = k * kSegment, len = min64(kSegment, n - off);
    V s0 = set1(T(0)), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 4 * N <= len; i += 4 * N) {
      s0 = s0 + vexp_bounded(loadu(x + off + i));
      s1 = s1 + vexp_bounded(loadu(x + off + i + N));
      s2 = s2 + vexp_bounded(loadu(x + off + i + 2 * N));
      s3 = s3 + vexp_bounded(loadu(x + off + i + 3 * N));
    }
    for (; i < len; i += N) s0 = s0 + vexp_bounded(load_partial(x + off + i, len - i, -T(HUGE_VAL)));
    p[k] = hsum((s0 + s1) + (s2 + s3));
  });
  double total = 0.0;
  for (int64_t k = 0; k < blocks; ++k) total += p[k];
  return total;
}

inline void parallel_copy(const Context& ctx, void* dst, const void* src, int64_t bytes) {
  const int64_t block = int64_t(1) << 20;
  const int64_t blocks = ceil_div(bytes, block);
  const int nt = threads_for(ctx, blocks, bytes / 4);
  // one contiguous range per thread, as a hand-written parallel copy would do
  const int64_t per = ceil_div(blocks, nt) * block;
  parallel_for(nt, nt, [&](int, int64_t k) {
    const int64_t off = k * per;
    if (off < bytes) memcpy(static_cast<char*>(dst) + off, static_cast<const char*>(src) + off, static_cast<size_t>(min64(per, bytes - off)));
  });
}
