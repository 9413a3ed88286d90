// Row statistics: M = max_i x_i*s and S = sum_i b_i exp(x_i*s - M), read once.
//
// The row is cut into chunks of chunk_len<T>() elements (Milakov &
// Gimelshein 2018's online normaliser, at chunk granularity): each chunk is
// read from memory once for its max m_c, then exp(x*s - m_c) is summed from
// L1 while the prefetcher brings the next chunk in, so the exp work overlaps
// the memory traffic. Chunk sums are combined in double:
//   S = sum_c S_c * exp(m_c - M),
// with exp(m_c - M) computed in double from exact differences. A float32
// chunk sum adds at most 16 terms per accumulator lane, so S has a relative
// error below ~20 ulp(float) in the worst case and ~1 ulp typically.
// Special values (SciPy's and PyTorch's behaviour follows from these):
//   - x = -inf contributes 0; a chunk of only -inf uses reference 0, not -inf,
//     so no -inf - -inf = NaN appears; all -inf gives M = -inf and S = 0.
//   - NaN is skipped by the max but reaches S (exp(NaN) = NaN).
//   - +inf gives M = +inf and S = NaN (inf - inf); logsumexp treats it apart.
// With exps != null the chunk's exp(x*s - m_c) values are kept there (the
// caller rescales them by exp(m_c - M) / S instead of computing exp again).
#pragma once

template <class T>
struct RowStats {
  T M;       // max of x*s over the row (elements with b == 0 excluded)
  double S;  // sum of b * exp(x*s - M)
};

// Per-chunk work arrays for a row of up to n elements.
template <class T>
struct ChunkArrays {
  T* exps = nullptr;      // [nchunks * chunk_len] or null
  T* ref = nullptr;       // [nchunks] chunk max, then the chunk's output factor
  double* csum = nullptr; // [nchunks]
  double* fac = nullptr;  // [nchunks] exp(m_c - M)

  static size_t bytes(int64_t n, bool with_exps) {
    const int64_t nch = ceil_div(n, chunk_len<T>()) + 1;
    size_t b = static_cast<size_t>(nch) * (sizeof(T) + 2 * sizeof(double) + 64);
    if (with_exps) b += static_cast<size_t>(nch * chunk_len<T>()) * sizeof(T);
    return (b + 255) & ~size_t(255);
  }
  static ChunkArrays carve(const Buffer& buf, size_t stride, int tid, int64_t n, bool with_exps) {
    ChunkArrays a;
    const int64_t nch = ceil_div(n, chunk_len<T>()) + 1;
    size_t off = stride * static_cast<size_t>(tid);
    if (with_exps) { a.exps = buf.at<T>(off); off += static_cast<size_t>(nch * chunk_len<T>()) * sizeof(T); }
    a.csum = buf.at<double>(off); off += static_cast<size_t>(nch) * sizeof(double);
    a.fac = buf.at<double>(off); off += static_cast<size_t>(nch) * sizeof(double);
    a.ref = buf.at<T>(off);
    return a;
  }
};

// x where b != 0, else -inf (SciPy drops the b == 0 terms before the max).
template <bool HasB, class T>
inline Vec<T> masked_x(const T* x, const T* b, int64_t i, int64_t left) {
  const T ninf = -T(HUGE_VAL);
  Vec<T> v = left >= Vec<T>::N ? loadu(x + i) : load_partial(x + i, left, ninf);
  if (HasB) {
    Vec<T> bv = left >= Vec<T>::N ? loadu(b + i) : load_partial(b + i, left, T(0));
    v = select(neq(bv, set1(T(0))), v, set1(ninf));
  }
  return v;
}

struct NoHook {
  void operator()(int64_t) const {}
};

// after_chunk(c) runs once chunk c is done: the pipelined row loop
// (pipeline-inl.h) writes the previous row's output there.
template <bool Store, bool HasB, class T, class Hook = NoHook>
inline RowStats<T> row_stats(const T* x, const T* b, int64_t n, T s, const ChunkArrays<T>& w,
                             const Hook& after_chunk = Hook()) {
  using V = Vec<T>;
  constexpr int64_t N = V::N, CH = chunk_len<T>();
  const T ninf = -T(HUGE_VAL);
  const int64_t nch = ceil_div(n, CH);
  const V vs = set1(s);
  T M = ninf;
  for (int64_t c = 0; c < nch; ++c) {
    const int64_t off = c * CH, len = min64(CH, n - off);
    const T* xc = x + off;
    const T* bc = HasB ? b + off : nullptr;
    V m0 = set1(ninf), m1 = m0, m2 = m0, m3 = m0;
    int64_t i = 0;
    for (; i + 4 * N <= len; i += 4 * N) {
      m0 = vmax(masked_x<HasB>(xc, bc, i, N), m0);
      m1 = vmax(masked_x<HasB>(xc, bc, i + N, N), m1);
      m2 = vmax(masked_x<HasB>(xc, bc, i + 2 * N, N), m2);
      m3 = vmax(masked_x<HasB>(xc, bc, i + 3 * N, N), m3);
    }
    for (; i < len; i += N) m0 = vmax(masked_x<HasB>(xc, bc, i, len - i), m0);
    const T ref = hmax(vmax(vmax(m0, m1), vmax(m2, m3))) * s;
    w.ref[c] = ref;
    if (ref > M) M = ref;
    const V neg_ref = set1(ref == ninf ? T(0) : -ref);
    V s0 = set1(T(0)), s1 = s0, s2 = s0, s3 = s0;
    T* ec = Store ? w.exps + off : nullptr;
    auto term = [&](int64_t j, int64_t left) {
      V e = vexp_bounded(masked_x<HasB>(xc, bc, j, left) * vs + neg_ref);
      if (HasB) e = e * (left >= N ? loadu(bc + j) : load_partial(bc + j, left, T(0)));
      if (Store) storeu(ec + j, e);
      return e;
    };
    // The next chunk's lines are requested while this one's exp work runs,
    // so its max pass finds them in cache.
    const char* next = reinterpret_cast<const char*>(xc + CH);
    const int64_t next_bytes = min64(CH, n - off - CH) * static_cast<int64_t>(sizeof(T));
    int64_t pf = 0;
    for (i = 0; i + 4 * N <= len; i += 4 * N) {
      for (const int64_t stop = pf + 4 * N * static_cast<int64_t>(sizeof(T)); pf < stop && pf < next_bytes; pf += 64)
        __builtin_prefetch(next + pf);
      s0 = s0 + term(i, N);
      s1 = s1 + term(i + N, N);
      s2 = s2 + term(i + 2 * N, N);
      s3 = s3 + term(i + 3 * N, N);
    }
    for (; i < len; i += N) s0 = s0 + term(i, len - i);
    w.csum[c] = hsum((s0 + s1) + (s2 + s3));
    after_chunk(c);
  }
  // fac[c] = exp(m_c - M) in double; 0 for chunks without a finite max.
  if (nch == 1) {
    w.fac[0] = w.ref[0] == ninf ? 0.0 : 1.0;  // a short row: m_0 is M
  } else {
    using VD = Vec<double>;
    constexpr int64_t ND = VD::N;
    const double Md = M;
    for (int64_t c = 0; c < nch; ++c)
      w.fac[c] = w.ref[c] == ninf ? -HUGE_VAL : static_cast<double>(w.ref[c]) - Md;
    for (int64_t c = 0; c < nch; c += ND) {
      const int64_t left = nch - c;
      VD v = vexp(left >= ND ? loadu(w.fac + c) : load_partial(w.fac + c, left, 0.0));
      if (left >= ND) storeu(w.fac + c, v); else store_partial(w.fac + c, left, v);
    }
  }
  double S = 0.0;
  for (int64_t c = 0; c < nch; ++c) S += w.csum[c] * w.fac[c];
  return {M, S};
}

// The factor vector for element i when chunk c's elements are scaled by
// f[c], for a vector that straddles two chunks.
template <class T>
inline Vec<T> straddling_factor(const T* f, int64_t i) {
  constexpr int64_t N = Vec<T>::N, CH = chunk_len<T>();
  alignas(64) T tmp[N];
  for (int64_t j = 0; j < N; ++j) tmp[j] = f[(i + j) / CH];
  return loadu(tmp);
}

// Writes y[lo, hi) for outputs scaled per chunk: vec(i, fv) and one(i, f)
// get the chunk's factor, hoisted out of the inner loop. lo is 0 or a
// vector-aligned index of y (see range_bound).
template <bool Stream, class T, class VecF, class OneF>
inline void write_range_chunked(T* y, int64_t lo, int64_t hi, const T* fac, const VecF& vec, const OneF& one) {
  constexpr int64_t N = Vec<T>::N, CH = chunk_len<T>();
  int64_t i = lo;
  if (Stream && i == 0) {
    const int64_t head = min64(aligned_head<T>(y), hi);
    for (; i < head; ++i) y[i] = one(i, fac[i / CH]);
  }
  while (i + N <= hi) {
    const int64_t end = min64((i / CH + 1) * CH, hi);
    const Vec<T> f = set1(fac[i / CH]);
    for (; i + N <= end; i += N) put<Stream>(y + i, vec(i, f));
    if (i < end && i + N <= hi) {
      put<Stream>(y + i, vec(i, straddling_factor(fac, i)));
      i += N;
    }
  }
  for (; i < hi; ++i) y[i] = one(i, fac[i / CH]);
}

template <class T, class VecF, class OneF>
inline void write_range_chunked(bool stream_it, T* y, int64_t lo, int64_t hi, const T* fac, const VecF& vec,
                                const OneF& one) {
  if (stream_it) write_range_chunked<true>(y, lo, hi, fac, vec, one);
  else write_range_chunked<false>(y, lo, hi, fac, vec, one);
}
