// softmax, log_softmax and logsumexp over rows.
//
//   softmax(x)_i     = exp(x_i s - M) / S          (s = 1/temperature)
//   log_softmax(x)_i = (x_i s - M) - log S
//   logsumexp(x)     = M + log S
// with M, S from row_stats (rowstats-inl.h). Ordinary rows: one thread a
// row, the row read from memory once (softmax rescales the kept exp values,
// or computes them again for rows too long to keep; log_softmax re-reads x
// from L2) and written once, the writes of one row
// overlapping the exp work of the next (pipeline-inl.h). Short rows go in
// blocks of one row per vector lane (shortrows-inl.h), tiny ones transposed
// (tinyrows-inl.h). Long rows that would leave threads idle (split_rows)
// are cut into kSegment pieces spread over the threads: the pieces' chunk
// statistics, combined as a whole row's, then a second pass writes with a
// whole row's writers, so a row's bits do not depend on the cut.
// Error: exp within 2.5 + |x s - M|/20 ulp; softmax within ~5 ulp +
// |x s - M| ulp (the rounding of the argument x s - M, as in any float
// implementation).
#pragma once

// Statistics of rows cut into kSegment pieces (split_rows), the pieces
// spread over the threads: each piece's chunks fill its part of the row's
// chunk arrays (work[r]), then each row's chunks are combined as a whole
// row's are (combine_chunks) into row[r], so a row gives the same bits cut
// or whole, whatever the thread count.
template <class T>
struct SegmentedStats {
  int64_t rows, n;
  WorkArrays<T> work;
  Buffer totals;
  RowStats<T>* row;

  SegmentedStats(int64_t rows_, int64_t n_)
      : rows(rows_), n(n_), work(rows_, row_shape<T>(n_, false)),
        totals(static_cast<size_t>(rows_) * sizeof(RowStats<T>)), row(totals.at<RowStats<T>>(0)) {}

  template <bool HasB, class Sc>
  void compute(const T* x, int64_t ldx, const T* b, int64_t ldb, const Sc& scale) {
    const int64_t nseg = ceil_div(n, kSegment), items = rows * nseg, per_segment = kSegment / chunk_len<T>();
    static_assert(kSegment % chunk_len<T>() == 0, "segments start on chunk boundaries");
    parallel_for(items, threads_for(items, rows * n), [&](int, int64_t it) {
      const int64_t r = it / nseg, k = it % nseg, off = k * kSegment;
      NoWriter none;
      row_chunks<false, HasB>(x + r * ldx + off, HasB ? b + r * ldb + off : nullptr, min64(kSegment, n - off), scale,
                              work[r].from_chunk(k * per_segment), none);
    });
    for (int64_t r = 0; r < rows; ++r) row[r] = combine_chunks(work[r], ceil_div(n, chunk_len<T>()));
  }
};

// The writer of one softmax row: y = e * f, e the row's exp values
// (KeptExps or RecomputedExps) and f its chunk factors exp(m_c - M) / S.
template <bool Stream, class T, class Exps>
inline auto softmax_writer(T* y, int64_t n, const Exps& e, const T* factors) {
  auto vec = [=](int64_t i, Vec<T> f) { return e.vec(i) * f; };
  auto one = [=](int64_t i, T f) { return first(set1(e.one(i)) * set1(f)); };
  return chunk_writer<Stream>(y, n, factors, vec, one);
}

// The writer of one log_softmax row: y = (x s - M) - log S.
template <bool Stream, class T, class Sc>
inline auto log_softmax_writer(T* y, const T* x, int64_t n, const Sc& scale, T M, T logS) {
  const Vec<T> vM = set1(-M), vlogS = set1(logS);
  auto vec = [=](int64_t i, Vec<T>) {
    prefetch_reread(x + i);
    return scale(loadu(x + i)) + vM - vlogS;
  };
  auto one = [=](int64_t i, T) { return first(scale(set1(x[i])) + vM - vlogS); };
  return chunk_writer<Stream>(y, n, static_cast<const T*>(nullptr), vec, one);
}

// Whether softmax keeps a row's exp values for its writer (two rows of them
// a thread: the row in work and the row being written) or computes them
// again from x. Kept values that outgrow the caches cost a write and a read
// of memory shared by every thread; recomputing costs an exp, which is cheap
// on AVX-512. 64x10^6 float32 (4 MB rows): Intel Xeon (Emerald Rapids)
// 18.9 ms kept, 14.3 ms recomputed on 2 threads, 13.1 and 2.8 ms on 16; AMD
// EPYC Zen 4, 2 threads, 11.8-13.5 kept, 11.6-11.8 recomputed with the
// writer's prefetch (prefetch_reread). 4096x32000 and 512x131072 keep
// (Xeon, 2 threads: 28.1 against 29.4 ms; Zen 4: 12.7 against 16.5 at
// 512x131072). On AVX2 the exp costs as much as the copy, and the values
// are kept (Zen 4, 64x10^6: 13.1 kept, 16.2 recomputed). Both writers give
// the same bits, so this choice never changes a result.
// Rows over 4 MB recompute on every level, which bounds the work arrays
// (two rows a thread).
constexpr int64_t kKeepRowBytes = int64_t(1) << 20, kKeepRowBytesAvx2 = int64_t(4) << 20;
template <class T>
constexpr bool keep_exps(int64_t n) {
  return n * static_cast<int64_t>(sizeof(T)) <= (FSM_SIMD_LEVEL == 3 ? kKeepRowBytes : kKeepRowBytesAvx2);
}

// Ordinary rows: a thread a row, pipelined (pipeline-inl.h).
template <bool Stream, class T, class Sc>
void softmax_rows(const SoftmaxArgs<T>& a, const Sc& scale, int nt) {
  const int64_t n = a.n, nch = ceil_div(n, chunk_len<T>());
  // softmax rescales the kept exp values, or computes them again from x for
  // rows too long to keep (keep_exps); log_softmax re-reads x
  const bool keep = !a.log && keep_exps<T>(n);
  const WorkArrays<T> work(2 * nt, row_shape<T>(n, keep));  // per (worker, slot)
  Buffer state(sizeof(T) * 4 * nt);
  T* shift = state.at<T>(0);  // per (worker, slot): M and log S of the row in the slot
  if (a.log) {
    pipelined_rows(
        a.rows, nt, a.x, a.ldx,
        [&](int worker, int64_t r, int slot, auto& out) FSM_HOT_LAMBDA {
          const RowStats<T> rs = row_stats<false, false>(a.x + r * a.ldx, static_cast<const T*>(nullptr), n, scale,
                                                         work[slot_index(worker, slot)], out);
          shift[slot_index(worker, slot) * 2] = rs.M;
          shift[slot_index(worker, slot) * 2 + 1] = static_cast<T>(log(rs.S));
        },
        [&](int worker, int64_t r, int slot) {
          const T* st = shift + slot_index(worker, slot) * 2;
          return log_softmax_writer<Stream>(a.y + r * a.ldy, a.x + r * a.ldx, n, scale, st[0], st[1]);
        });
  } else {
    with_flag(keep, [&](auto keep_flag) {
      constexpr bool Keep = decltype(keep_flag)::value;
      pipelined_rows(
          a.rows, nt, a.x, a.ldx,
          [&](int worker, int64_t r, int slot, auto& out) FSM_HOT_LAMBDA {
            const ChunkArrays<T> w = work[slot_index(worker, slot)];
            const RowStats<T> rs = row_stats<Keep, false>(a.x + r * a.ldx, static_cast<const T*>(nullptr), n, scale,
                                                          w, out);
            writer_factors<Keep>(w, nch, 1.0 / rs.S);
          },
          [&](int worker, int64_t r, int slot) {
            const ChunkArrays<T> w = work[slot_index(worker, slot)];
            T* y = a.y + r * a.ldy;
            if constexpr (Keep) return softmax_writer<Stream>(y, n, KeptExps<T>{w.exps}, w.factor);
            else return softmax_writer<Stream>(y, n, recomputed_exps(a.x + r * a.ldx, scale, w.ref), w.factor);
          });
    });
  }
}

// Short rows (n <= short_row_max): blocks of N rows (shortrows-inl.h).
template <bool Stream, class T, class Sc>
void softmax_blocks(const SoftmaxArgs<T>& a, const Sc& scale, int nt) {
  const int64_t n = a.n;
  if (a.log) {
    const WorkArrays<T> work(2 * nt, block_shape<T>(n, false));
    block_rows<false>(
        a.x, a.ldx, a.rows, n, scale, nt, work,
        [&](int, const ChunkArrays<T>& w, int64_t, int64_t) { per_row_in_double(w, [](Vec<double> S) { return vlog(S); }); },
        [&](int, const ChunkArrays<T>& w, int k, int64_t r) {
          return log_softmax_writer<Stream>(a.y + r * a.ldy, a.x + r * a.ldx, n, scale, w.ref[k],
                                            static_cast<T>(w.fac[k]));
        },
        Stream ? nullptr : a.y, a.ldy);  // streamed rows skip the cache
  } else {
    const WorkArrays<T> work(2 * nt, block_shape<T>(n, true));
    block_rows<true>(
        a.x, a.ldx, a.rows, n, scale, nt, work,
        [&](int, const ChunkArrays<T>& w, int64_t, int64_t) {
          per_row_in_double(w, [](Vec<double> S) { return set1(1.0) / S; });
          for (int k = 0; k < Vec<T>::N; ++k) w.factor[k] = static_cast<T>(w.fac[k]);
        },
        [&](int, const ChunkArrays<T>& w, int k, int64_t r) {
          return softmax_writer<Stream>(a.y + r * a.ldy, n, KeptExps<T>{w.exps + k * n}, w.factor + k);
        },
        Stream ? nullptr : a.y, a.ldy);
  }
}

template <class T, class Sc>
void softmax_impl(const SoftmaxArgs<T>& a, const Sc& scale) {
  const int64_t rows = a.rows, n = a.n;
  const bool st = stream_output(a.y, a.ldy, rows, n);
  if (!split_rows(rows, n)) {
    const int nt = threads_for(rows, rows * n);
    if (n <= tiny_row_max<T>()) {
      auto none = [](int64_t, T, double, double) {};
      if (a.log) tiny_rows<TinyOutput::kLogSoftmax>(a.x, a.ldx, a.y, a.ldy, rows, n, scale, nt, none);
      else tiny_rows<TinyOutput::kSoftmax>(a.x, a.ldx, a.y, a.ldy, rows, n, scale, nt, none);
      return;
    }
    const bool blocks = n <= short_row_max<T>();
    with_flag(st, [&](auto stream) {
      constexpr bool Stream = decltype(stream)::value;
      if (blocks) softmax_blocks<Stream>(a, scale, nt);
      else softmax_rows<Stream>(a, scale, nt);
    });
    return;
  }
  // Few long rows: the pieces' statistics, then the pieces' writes, with
  // the writers of whole rows (softmax computing its exp values again), so
  // the bits are those of whole rows.
  const int64_t nch = ceil_div(n, chunk_len<T>()), nseg = ceil_div(n, kSegment), items = rows * nseg;
  const int64_t per_segment = kSegment / chunk_len<T>();
  SegmentedStats<T> seg(rows, n);
  seg.template compute<false>(a.x, a.ldx, static_cast<const T*>(nullptr), 0, scale);
  if (!a.log)
    for (int64_t r = 0; r < rows; ++r) writer_factors<false>(seg.work[r], nch, 1.0 / seg.row[r].S);
  with_flag(st, [&](auto stream) {
    constexpr bool Stream = decltype(stream)::value;
    parallel_for(items, threads_for(items, rows * n), [&](int, int64_t it) {
      const int64_t r = it / nseg, k = it % nseg, off = k * kSegment, len = min64(kSegment, n - off);
      const T* x = a.x + r * a.ldx + off;
      T* y = a.y + r * a.ldy + off;
      if (a.log) {
        log_softmax_writer<Stream>(y, x, len, scale, seg.row[r].M, static_cast<T>(log(seg.row[r].S))).write_all();
      } else {
        const ChunkArrays<T> w = seg.work[r].from_chunk(k * per_segment);
        softmax_writer<Stream>(y, len, recomputed_exps(x, scale, w.ref), w.factor).write_all();
      }
    });
  });
}

template <class T>
void softmax(const SoftmaxArgs<T>& a) {
  if (a.rows <= 0 || a.n <= 0) return;
  with_scale(a.inv_temp, [&](const auto& scale) { softmax_impl(a, scale); });
}

// M + log|S| (log_abs_S given) and sign(S); a negative sum is NaN unless its
// sign is asked for.
template <class T>
inline void logsumexp_finish(T M, double S, double log_abs_S, T* out, T* sign) {
  const double sg = S > 0 ? 1.0 : (S < 0 ? -1.0 : (S == 0 ? 0.0 : S));
  double v = static_cast<double>(M) + log_abs_S;
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
  logsumexp_finish(T(0), acc, log(fabs(acc)), out, sign);
}

template <bool HasB, class T, class Sc>
void logsumexp_impl(const LogSumExpArgs<T>& a, const Sc& scale) {
  const int64_t rows = a.rows, n = a.n;
  const T s = a.inv_temp, pinf = T(HUGE_VAL);
  auto finish = [&](int64_t r, T M, double S, double log_abs_S) {
    T* sg = a.sign ? a.sign + r : nullptr;
    if (M == pinf) logsumexp_inf_row(a.x + r * a.ldx, HasB ? a.b + r * a.ldb : nullptr, n, s, a.out + r, sg);
    else logsumexp_finish(M, S, log_abs_S, a.out + r, sg);
  };
  if (split_rows(rows, n)) {
    SegmentedStats<T> seg(rows, n);
    seg.template compute<HasB>(a.x, a.ldx, a.b, a.ldb, scale);
    for (int64_t r = 0; r < rows; ++r) finish(r, seg.row[r].M, seg.row[r].S, log(fabs(seg.row[r].S)));
    return;
  }
  const int nt = threads_for(rows, rows * n);
  if (!HasB && n <= tiny_row_max<T>()) {
    tiny_rows<TinyOutput::kLogSumExp>(a.x, a.ldx, static_cast<T*>(nullptr), 0, rows, n, scale, nt, finish);
    return;
  }
  if (!HasB && n <= short_row_max<T>()) {  // S >= 0 without b
    const WorkArrays<T> work(2 * nt, block_shape<T>(n, false));
    block_rows<false>(
        a.x, a.ldx, rows, n, scale, nt, work,
        [&](int, const ChunkArrays<T>& w, int64_t r, int64_t count) {
          per_row_in_double(w, [](Vec<double> S) { return vlog(S); });
          for (int64_t k = 0; k < count; ++k) finish(r + k, w.ref[k], w.csum[k], w.fac[k]);
        },
        [](int, const ChunkArrays<T>&, int, int64_t) { return NoWriter(); }, static_cast<T*>(nullptr), 0);
    return;
  }
  const WorkArrays<T> work(nt, row_shape<T>(n, false));
  parallel_for(rows, nt, [&](int tid, int64_t r) {
    const RowStats<T> rs = row_stats<false, HasB>(a.x + r * a.ldx, HasB ? a.b + r * a.ldb : nullptr, n, scale, work[tid]);
    finish(r, rs.M, rs.S, log(fabs(rs.S)));
  });
}

template <class T>
void logsumexp(const LogSumExpArgs<T>& a) {
  if (a.rows <= 0) return;
  with_scale(a.inv_temp, [&](const auto& scale) {
    if (a.b) logsumexp_impl<true>(a, scale);
    else logsumexp_impl<false>(a, scale);
  });
}
