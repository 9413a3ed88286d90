// softmax, log_softmax, logsumexp and their backward passes over rows.
//
//   softmax(x)_i     = exp(x_i s - M) / S          (s = 1/temperature)
//   log_softmax(x)_i = (x_i s - M) - log S
//   logsumexp(x)     = M + log S
// with M, S from row_stats (rowstats-inl.h). Ordinary rows: one thread a
// row, the row read from memory once (softmax rescales the kept exp values;
// log_softmax re-reads x from L2) and written once, the writes of one row
// overlapping the exp work of the next (pipeline-inl.h). Very long rows, or
// a few long ones (split_rows), are cut into kSegment pieces spread over the
// threads: partial (M, S) per piece, combined in piece order, then a second
// pass computes exp again and writes.
// Error: exp within 2.5 + |x s - M|/20 ulp; softmax within ~5 ulp +
// |x s - M| ulp (the rounding of the argument x s - M, as in any float
// implementation).
#pragma once

// (M, S) for each of `count` rows or row pieces, in one allocation.
template <class T>
struct RowTotals {
  Buffer buf;
  double* S;
  T* M;
  explicit RowTotals(int64_t count)
      : buf(static_cast<size_t>(count) * (sizeof(double) + sizeof(T))),
        S(buf.at<double>(0)),
        M(buf.at<T>(static_cast<size_t>(count) * sizeof(double))) {}
};

// Row (M, S) for rows split into segments: per-segment partials, then a
// combination in segment order (the same for any thread count).
template <bool HasB, class T, class Sc>
inline void segmented_stats(const T* x, int64_t ldx, const T* b, int64_t ldb, int64_t rows, int64_t n,
                            const Sc& scale, RowTotals<T>& out) {
  const int64_t nseg = ceil_div(n, kSegment), items = rows * nseg;
  const int nt = threads_for(items, rows * n);
  const WorkArrays<T> work(nt, kSegment, false);
  RowTotals<T> part(items);
  parallel_for(items, nt, [&](int tid, int64_t it) {
    const int64_t r = it / nseg, off = (it % nseg) * kSegment;
    RowStats<T> st = row_stats<false, HasB>(x + r * ldx + off, HasB ? b + r * ldb + off : nullptr,
                                            min64(kSegment, n - off), scale, work[tid]);
    part.M[it] = st.M;
    part.S[it] = st.S;
  });
  const T ninf = -T(HUGE_VAL);
  for (int64_t r = 0; r < rows; ++r) {
    T M = ninf;
    for (int64_t k = 0; k < nseg; ++k) if (part.M[r * nseg + k] > M) M = part.M[r * nseg + k];
    double S = 0.0;
    for (int64_t k = 0; k < nseg; ++k) {
      const T m = part.M[r * nseg + k];
      const double f = m == ninf ? 0.0 : exp(static_cast<double>(m) - static_cast<double>(M));
      S += part.S[r * nseg + k] * f;
    }
    out.M[r] = M;
    out.S[r] = S;
  }
}

template <class T, class Sc>
void softmax_impl(const SoftmaxArgs<T>& a, const Sc& scale) {
  using V = Vec<T>;
  const int64_t rows = a.rows, n = a.n;
  const bool st = stream_output<T>(rows, n);
  if (!split_rows(rows, n)) {
    const int nt = threads_for(rows, rows * n);
    const bool keep = !a.log;  // softmax rescales the kept exp values; log_softmax re-reads x
    const int64_t nch = ceil_div(n, chunk_len<T>());
    const WorkArrays<T> work(2 * nt, n, keep);  // per (worker, slot)
    Buffer state(sizeof(T) * 4 * nt);
    T* shift = state.at<T>(0);  // per (worker, slot): M and log S of the row in the slot
    with_flag(st, [&](auto stream) {
      constexpr bool Stream = decltype(stream)::value;
      if (a.log) {
        pipelined_rows(
            rows, nt,
            [&](int worker, int64_t r, int slot, auto& out) {
              const RowStats<T> rs = row_stats<false, false>(a.x + r * a.ldx, static_cast<const T*>(nullptr), n,
                                                             scale, work[slot_index(worker, slot)], out);
              shift[slot_index(worker, slot) * 2] = rs.M;
              shift[slot_index(worker, slot) * 2 + 1] = static_cast<T>(log(rs.S));
            },
            [&](int worker, int64_t r, int slot) {
              const T* x = a.x + r * a.ldx;
              const V vM = set1(-shift[slot_index(worker, slot) * 2]);
              const V vlogS = set1(shift[slot_index(worker, slot) * 2 + 1]);
              auto vec = [=](int64_t i, V) { return scale(loadu(x + i)) + vM - vlogS; };
              auto one = [=](int64_t i, T) { return first(scale(set1(x[i])) + vM - vlogS); };
              return chunk_writer<Stream>(a.y + r * a.ldy, n, static_cast<const T*>(nullptr), vec, one);
            });
      } else {
        pipelined_rows(
            rows, nt,
            [&](int worker, int64_t r, int slot, auto& out) {
              const ChunkArrays<T> w = work[slot_index(worker, slot)];
              const RowStats<T> rs = row_stats<true, false>(a.x + r * a.ldx, static_cast<const T*>(nullptr), n,
                                                            scale, w, out);
              const double inv = 1.0 / rs.S;
              for (int64_t c = 0; c < nch; ++c) w.ref[c] = static_cast<T>(w.fac[c] * inv);
            },
            [&](int worker, int64_t r, int slot) {
              const ChunkArrays<T> w = work[slot_index(worker, slot)];
              const T* e = w.exps;
              auto vec = [=](int64_t i, V f) { return loadu(e + i) * f; };
              auto one = [=](int64_t i, T f) { return first(set1(e[i]) * set1(f)); };
              return chunk_writer<Stream>(a.y + r * a.ldy, n, static_cast<const T*>(w.ref), vec, one);
            });
      }
    });
    return;
  }
  RowTotals<T> totals(rows);
  segmented_stats<false>(a.x, a.ldx, static_cast<const T*>(nullptr), 0, rows, n, scale, totals);
  const int64_t nseg = ceil_div(n, kSegment), items = rows * nseg;
  parallel_for(items, threads_for(items, rows * n), [&](int, int64_t it) {
    const int64_t r = it / nseg, off = (it % nseg) * kSegment, len = min64(kSegment, n - off);
    const T* x = a.x + r * a.ldx + off;
    T* y = a.y + r * a.ldy + off;
    const T M = totals.M[r];
    const V vM = set1(-M);
    if (a.log) {
      const T logS = static_cast<T>(log(totals.S[r]));
      const V vlogS = set1(logS);
      write_range(st, y, 0, len, [&](int64_t i) { return scale(loadu(x + i)) + vM - vlogS; },
                [&](int64_t i) { return first(scale(set1(x[i])) + vM - vlogS); });
    } else {
      const T inv = static_cast<T>(1.0 / totals.S[r]);
      const V vinv = set1(inv);
      write_range(st, y, 0, len, [&](int64_t i) { return vexp_bounded(scale(loadu(x + i)) + vM) * vinv; },
                [&](int64_t i) { return first(vexp_bounded(scale(set1(x[i])) + vM) * vinv); });
    }
  });
}

template <class T>
void softmax(const SoftmaxArgs<T>& a) {
  if (a.rows <= 0 || a.n <= 0) return;
  with_scale(a.inv_temp, [&](const auto& scale) { softmax_impl(a, scale); });
}

// log|S| + M and sign(S); a negative sum is NaN unless its sign is asked for.
template <class T>
inline void logsumexp_finish(T M, double S, T* out, T* sign) {
  const double sg = S > 0 ? 1.0 : (S < 0 ? -1.0 : (S == 0 ? 0.0 : S));
  double v = static_cast<double>(M) + log(fabs(S));
  if (!sign && sg < 0) v = NAN;
  *out = static_cast<T>(v);
  if (sign) *sign = static_cast<T>(sg);
}

// SciPy's rule for a row holding +inf: reference 0, sum in double.
template <class T>
inline void logsumexp_inf_row(const T* x, const T* b, int64_t n, T s, T* out, T* sign) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double bi = b ? static_cast<double>(b[i]) : 1.0;
    if (bi == 0.0) continue;
    acc += bi * exp(static_cast<double>(x[i]) * static_cast<double>(s));
  }
  logsumexp_finish(T(0), acc, out, sign);
}

template <bool HasB, class T, class Sc>
void logsumexp_impl(const LogSumExpArgs<T>& a, const Sc& scale) {
  const int64_t rows = a.rows, n = a.n;
  const T s = a.inv_temp, pinf = T(HUGE_VAL);
  auto finish = [&](int64_t r, T M, double S) {
    T* sg = a.sign ? a.sign + r : nullptr;
    if (M == pinf) logsumexp_inf_row(a.x + r * a.ldx, HasB ? a.b + r * a.ldb : nullptr, n, s, a.out + r, sg);
    else logsumexp_finish(M, S, a.out + r, sg);
  };
  if (!split_rows(rows, n)) {
    const int nt = threads_for(rows, rows * n);
    const WorkArrays<T> work(nt, n, false);
    parallel_for(rows, nt, [&](int tid, int64_t r) {
      const RowStats<T> rs = row_stats<false, HasB>(a.x + r * a.ldx, HasB ? a.b + r * a.ldb : nullptr, n, scale, work[tid]);
      finish(r, rs.M, rs.S);
    });
    return;
  }
  RowTotals<T> totals(rows);
  segmented_stats<HasB>(a.x, a.ldx, a.b, a.ldb, rows, n, scale, totals);
  for (int64_t r = 0; r < rows; ++r) finish(r, totals.M[r], totals.S[r]);
}

template <class T>
void logsumexp(const LogSumExpArgs<T>& a) {
  if (a.rows <= 0) return;
  with_scale(a.inv_temp, [&](const auto& scale) {
    if (a.b) logsumexp_impl<true>(a, scale);
    else logsumexp_impl<false>(a, scale);
  });
}

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

// softmax:     dx = y (g - sum(g y)) s
// log_softmax: dx = (g - exp(y) sum(g)) s
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
