// The row engine: every softmax-based operation is a policy of it.
//
// For each row the engine computes M = max of the logits x (unscaled; the
// scaled max is M s, s = 1/temperature) and S = sum exp((x - M) s) in one read
// (row_stats), gives them to the policy's finish, and writes the row's
// output through the policy's writer, whose elements come from the row's
// exp values (kept by row_stats, or computed again for rows too long to
// keep) or from x again. It picks the path by the row length and count:
//   - tiny rows (n <= tiny_row_max): the policy's tiny(), on a transposed
//     tile of N rows (tinyrows-inl.h);
//   - short rows (n <= short_row_max): blocks of N rows (shortrows-inl.h);
//   - ordinary rows: a thread a row, a row's writes inside the next row's
//     exp loop (pipeline-inl.h); with no output, a plain row loop;
//   - few long rows (split_rows, policies with kSplit): cut into kSegment
//     pieces over the threads (SegmentedStats), then written a piece at a
//     time.
// A row gives the same bits on every path it may take for a given shape
// and SIMD level, whatever the thread count.
//
// A policy P (one per operation and dtype T) provides:
//   using Row                      what its writer needs of a row besides the
//                                  chunk factors (a plain struct, held per slot)
//   kExps                          its output is built from the exp values
//   kPerRow                        the per-row value finish() receives (PerRow)
//   kSplit                         long rows may be cut over the threads
//   kOutput                        it may write rows of output ...
//   T* out; int64_t ldo            ... there (out null: this call writes none)
//   bool skip(r)                   rows whose statistics are not computed
//   void skipped(r, Row&)          ... and what they leave
//   double finish(r, st, d, Row&)  row r's results from its statistics
//                                  st (RowStats: M, S, S_lo) and d (kPerRow);
//                                  returns the factor of exp((x - M) s) in
//                                  its output (kExps)
//   writer<Stream>(r, off, len, exps, factors, const Row&)
//                                  a ChunkWriter of out[r][off, off + len)
//                                  (factors: ChunkFactors, factor-inl.h)
//   tiny(tile, b, count, last)     rows b .. b+count-1 of a tiny-row block
//                                  (tile: their x, transposed; last: the last
//                                  row of the block's thread)
// The transform of each logit on the fly is the engine's Sc argument
// (UnitScale, or Scale by 1/temperature: rowstats-inl.h).
#pragma once

// The per-row value a policy's finish receives: 1/S, log S, log|S| (a sum
// with negative weights), or nothing.
enum class PerRow { kNone, kInvS, kLogS, kLogAbsS };

// Whether a policy's sums of tiny rows carry their rounding errors (SumOf's
// Exact), where a lane adds a whole row: float64's always; float32's where
// log S is a result or a term of every result (logsumexp, log_softmax, the
// cross-entropy loss), which otherwise took up to two ulp from the float
// lane sums of rows of 7 (docs/numerics.md). float32 softmax (1/S) and row
// statistics keep plain sums. Short-row blocks do the same only at the
// scalar level, whose tiles hold rows of at most 2 (rows of 7 are blocks
// there): on the vector levels it cost short rows 1.5x (docs/performance.md).
template <class P, class T>
constexpr bool kExactSums = kExactProbs<T> || P::kPerRow == PerRow::kLogS || P::kPerRow == PerRow::kLogAbsS;
template <class P, class T>
constexpr bool kExactBlockSums = kExactProbs<T> || (kExactSums<P, T> && Vec<T>::N == 1);

// The per-row value a policy asks for, for one row (ordinary and split rows).
template <PerRow P>
inline double per_row_value(double S) {
  if (P == PerRow::kInvS) return 1.0 / S;
  if (P == PerRow::kLogS) return log(S);
  if (P == PerRow::kLogAbsS) return log(fabs(S));
  return 0.0;
}

// The same for the N rows of a block at once, from csum into fac.
template <PerRow P, class T>
inline void per_row_values(const ChunkArrays<T>& w) {
  if (P == PerRow::kInvS) per_row_in_double<T>(w.csum, w.fac, [](Vec<double> S) { return set1(1.0) / S; });
  if (P == PerRow::kLogS || P == PerRow::kLogAbsS)  // blocks have no negative weights
    per_row_in_double<T>(w.csum, w.fac, [](Vec<double> S) { return vlog(S); });
}

// S of the tile's N rows into Sd and Slo (two parts, RowStats; float32's
// both in Sd, and Slo only what Sd rounded of 1 + below); where one
// term dominates (1 <= S < 2) it is 1 + the terms below the max, summed
// apart (what dominated longer rows get from a second read, here the
// tile's lanes at once), and those terms go to below (-1 in the other
// lanes). Returns whether a lane dominated.
template <class T, class Sc>
inline bool tiny_sums(const TinyTile<T>& tile, int64_t n, const Sc& scale, bool kept, double* Sd, double* Slo,
                      double* below) {
  constexpr int N = Vec<T>::N;
  lanes_to_double(tile.S, Sd);
  lanes_to_double(tile.S_lo, Slo);
  bool any = false;
  for (int k = 0; k < N; ++k) {
    if (!kExactProbs<T>) {  // float32's two parts are one double
      Sd[k] += Slo[k];
      Slo[k] = 0.0;
    }
    below[k] = -1.0;
    any |= dominated(Sd[k]);
  }
  if (!any) return false;
  alignas(64) double terms[N], rests[N];
  Vec<T> rest;
  lanes_to_double(tile.below_max(n, scale, kept, rest), terms);
  lanes_to_double(rest, rests);
  for (int k = 0; k < N; ++k) {
    if (!dominated(Sd[k])) continue;
    below[k] = kExactProbs<T> ? terms[k] : terms[k] + rests[k];
    one_plus(below[k], kExactProbs<T> ? rests[k] : 0.0, Sd[k], Slo[k]);
  }
  return true;
}

// S in two parts (as tiny_sums) and log S of the tile's N rows into Sd,
// Slo and logS, with log1p of the terms below the max where one term
// dominates.
template <class T, class Sc>
inline void tiny_log_sums(const TinyTile<T>& tile, int64_t n, const Sc& scale, bool kept, double* Sd, double* Slo,
                          double* logS) {
  alignas(64) double below[Vec<T>::N];
  const bool any = tiny_sums(tile, n, scale, kept, Sd, Slo, below);
  per_row_in_double<T>(Sd, logS, [](Vec<double> s) { return vlog(s); });
  if (!any) return;
  for (int k = 0; k < Vec<T>::N; ++k)
    if (below[k] >= 0.0) logS[k] = log1p(below[k]);
}

// The probabilities' shifts (exact-inl.h) of a tile's N float64 rows, as
// lane vectors, from their maxima M and Sd, Slo, logS (tiny_log_sums);
// what log S rounded away (log_rest) also goes to Llo where given.
template <class T>
struct TinyShifts {
  Vec<T> m, hi, lo;
};
template <class T, class Sc>
inline TinyShifts<T> tiny_prob_shifts(Vec<T> M, const double* Sd, const double* Slo, const double* logS,
                                      const Sc& scale, double* Llo = nullptr) {
  constexpr int N = Vec<T>::N;
  alignas(64) double rests[N];
  double* L = Llo ? Llo : rests;
  for (int k = 0; k < N; k += Vec<double>::N)
    storeu(L + k, log_rest(loadu(Sd + k), loadu(Slo + k), loadu(logS + k)));
  alignas(64) T Ms[N], ms[N], his[N], los[N];
  storeu(Ms, M);
  for (int k = 0; k < N; ++k) {
    const ProbShift sh = prob_shift(Ms[k], logS[k], L[k], scale);
    ms[k] = static_cast<T>(sh.m);
    his[k] = static_cast<T>(sh.hi);
    los[k] = static_cast<T>(sh.lo);
  }
  return {loadu(ms), loadu(his), loadu(los)};
}

// Whether a row's exp values are kept for its writer (two rows of them a
// thread: the row in work and the row being written) or computed again
// from x. Kept values that outgrow the caches cost a write and a read of
// memory shared by every thread; recomputing costs an exp, which is cheap
// on AVX-512 and not on AVX2. Both give the same bits, so the choice never
// changes a result. Rows over 4 MB recompute on every level, which bounds
// the work arrays.
constexpr int64_t kKeepRowBytes = int64_t(1) << 20, kKeepRowBytesAvx2 = int64_t(4) << 20;
template <class T>
constexpr bool keep_exps(int64_t n) {
  return n * static_cast<int64_t>(sizeof(T)) <= (FSM_SIMD_LEVEL == 3 ? kKeepRowBytes : kKeepRowBytesAvx2);
}

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
  void compute(const Context& ctx, const T* x, int64_t ldx, const T* b, int64_t ldb, const Sc& scale) {
    const int64_t nseg = ceil_div(n, kSegment), items = rows * nseg, per_segment = kSegment / chunk_len<T>();
    static_assert(kSegment % chunk_len<T>() == 0, "segments start on chunk boundaries");
    parallel_for(items, threads_for(ctx, items, rows * n), [&](int, int64_t it) {
      const int64_t r = it / nseg, k = it % nseg, off = k * kSegment;
      NoWriter none;
      row_chunks<false, HasB>(x + r * ldx + off, HasB ? b + r * ldb + off : nullptr, min64(kSegment, n - off), scale,
                              work[r].from_chunk(k * per_segment), none);
    });
    for (int64_t r = 0; r < rows; ++r)
      row[r] = combine_chunks(work[r], ceil_div(n, chunk_len<T>()), scale);
  }
};

// The rows x n block the engine reads: x (row stride ldx) and, with HasB,
// per-element weights b of the exp terms (logsumexp's b).
template <class T>
struct RowInput {
  const T* x; int64_t ldx;
  const T* b; int64_t ldb;
  int64_t rows, n;
};

// Per-row policy state in one allocation made before the parallel region.
template <class Row>
struct RowStates {
  Buffer buf;
  Row* at;
  explicit RowStates(int64_t count) : buf(static_cast<size_t>(count) * sizeof(Row)), at(buf.at<Row>(0)) {}
};

// Ordinary rows with an output: a thread a row, pipelined.
template <bool Stream, class P, class T, class Sc>
void engine_rows(const RowInput<T>& in, const Sc& scale, P& p, int nt) {
  const int64_t n = in.n, nch = ceil_div(n, chunk_len<T>());
  const WorkArrays<T> work(2 * nt, row_shape<T>(n, P::kExps && keep_exps<T>(n)));  // per (worker, slot)
  RowStates<typename P::Row> state(2 * nt);
  with_flag(P::kExps && keep_exps<T>(n), [&](auto keep_flag) {
    constexpr bool Keep = decltype(keep_flag)::value;
    pipelined_rows(
        in.rows, nt, in.x, in.ldx,
        [&](int worker, int64_t r, int slot, auto& out) FSM_HOT_LAMBDA {
          typename P::Row& row = state.at[slot_index(worker, slot)];
          if (p.skip(r)) {
            p.skipped(r, row);
            out.write_all();
            return;
          }
          const ChunkArrays<T> w = work[slot_index(worker, slot)];
          const RowStats<T> rs = row_stats<Keep, false>(in.x + r * in.ldx, static_cast<const T*>(nullptr), n, scale,
                                                        w, out);
          const double factor = p.finish(r, rs, per_row_value<P::kPerRow>(rs.S), row);
          if (P::kExps) writer_factors<Keep>(w, nch, factor, scale.h);
        },
        [&](int worker, int64_t r, int slot) {
          const ChunkArrays<T> w = work[slot_index(worker, slot)];
          const typename P::Row& row = state.at[slot_index(worker, slot)];
          if constexpr (Keep) return p.template writer<Stream>(r, 0, n, KeptExps<T>{w.exps}, w.factors(), row);
          else return p.template writer<Stream>(r, 0, n, recomputed_exps(in.x + r * in.ldx, scale, w.ref), w.factors(),
                                                row);
        });
  });
}

// Ordinary rows with no output (a loss without gradient, logsumexp).
template <bool HasB, class P, class T, class Sc>
void engine_rows_without_output(const RowInput<T>& in, const Sc& scale, P& p, int nt) {
  const WorkArrays<T> work(nt, row_shape<T>(in.n, false));
  RowStates<typename P::Row> state(nt);
  parallel_for(in.rows, nt, [&](int tid, int64_t r) {
    typename P::Row& row = state.at[tid];
    if (p.skip(r)) {
      p.skipped(r, row);
      return;
    }
    const RowStats<T> rs = row_stats<false, HasB>(in.x + r * in.ldx, HasB ? in.b + r * in.ldb : nullptr, in.n, scale,
                                                  work[tid]);
    p.finish(r, rs, per_row_value<P::kPerRow>(rs.S), row);
  });
}

// Short rows: blocks of N rows (shortrows-inl.h).
template <bool Stream, class P, class T, class Sc>
void engine_blocks(const RowInput<T>& in, const Sc& scale, P& p, int nt) {
  constexpr int N = Vec<T>::N;
  const int64_t n = in.n;
  const WorkArrays<T> work(2 * nt, block_shape<T>(n, P::kExps && p.out));
  RowStates<typename P::Row> state(2 * nt * N);  // per (worker, slot) and row of the block
  auto finish = [&](int slot, const ChunkArrays<T>& w, int64_t r, int64_t count) {
    per_row_values<P::kPerRow>(w);
    for (int64_t k = 0; k < count; ++k) {
      typename P::Row& row = state.at[slot * N + k];
      if (p.skip(r + k)) {
        p.skipped(r + k, row);
        continue;
      }
      const double factor = p.finish(r + k, RowStats<T>{w.ref[k], w.csum[k], w.csum_lo[k]}, w.fac[k], row);
      if (P::kExps) split_factor(factor, w.factor[k], w.factor_lo[k]);
    }
  };
  with_flag(p.out != nullptr, [&](auto writes) {
    constexpr bool Writes = P::kOutput && decltype(writes)::value, Keep = Writes && P::kExps;
    auto writer_for = [&](int slot, const ChunkArrays<T>& w, int k, int64_t r) {
      if constexpr (!Writes) return NoWriter();
      else return p.template writer<Stream>(r, 0, n, KeptExps<T>{Keep ? w.exps + k * n : nullptr}, w.factors(k),
                                            state.at[slot * N + k]);
    };
    // the output rows, prefetched unless absent or streamed past the cache
    block_rows<Keep, kExactBlockSums<P, T>>(in.x, in.ldx, in.rows, n, scale, nt, work, finish, writer_for,
                                            Stream ? nullptr : p.out, p.ldo);
  });
}

// Few long rows cut into pieces: the pieces' statistics, then the pieces'
// writes, with the writers of whole rows (exp values computed again).
template <bool HasB, class P, class T, class Sc>
void engine_split(const Context& ctx, const RowInput<T>& in, const Sc& scale, P& p, bool stream_it) {
  const int64_t rows = in.rows, n = in.n, nch = ceil_div(n, chunk_len<T>()), nseg = ceil_div(n, kSegment);
  const int64_t per_segment = kSegment / chunk_len<T>(), items = rows * nseg;
  SegmentedStats<T> seg(rows, n);
  seg.template compute<HasB>(ctx, in.x, in.ldx, in.b, in.ldb, scale);
  RowStates<typename P::Row> state(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const double factor = p.finish(r, seg.row[r], per_row_value<P::kPerRow>(seg.row[r].S), state.at[r]);
    if (P::kExps) writer_factors<false>(seg.work[r], nch, factor, scale.h);
  }
  if (!P::kOutput || !p.out) return;
  with_flag(stream_it, [&](auto stream) {
    parallel_for(items, threads_for(ctx, items, rows * n), [&](int, int64_t it) {
      const int64_t r = it / nseg, k = it % nseg, off = k * kSegment;
      const ChunkArrays<T> w = seg.work[r].from_chunk(k * per_segment);
      p.template writer<decltype(stream)::value>(r, off, min64(kSegment, n - off),
                                                 recomputed_exps(in.x + r * in.ldx + off, scale, w.ref), w.factors(),
                                                 state.at[r])
          .write_all();
    });
  });
}

// Runs policy p over the rows of `in` (rows of 0 elements: tiny rows, or
// ordinary rows with b).
template <bool HasB, class P, class T, class Sc>
void run_rows(const Context& ctx, const RowInput<T>& in, const Sc& scale, P& p) {
  const int64_t rows = in.rows, n = in.n;
  if (rows <= 0) return;
  const bool stream_it = p.out && stream_output(p.out, p.ldo, rows, n);
  if (P::kSplit && split_rows(ctx, rows, n)) {
    engine_split<HasB>(ctx, in, scale, p, stream_it);
    return;
  }
  const int nt = threads_for(ctx, rows, rows * n);
  if (!HasB && n <= tiny_row_max<T>()) {
    tiny_blocks<T>(rows, nt, [&](int64_t b, int64_t count, int64_t last) {
      TinyTile<T> tile;
      tile.load(in.x, in.ldx, b, last, n);
      p.tiny(tile, b, count, last);
    });
    return;
  }
  if (!HasB && n <= short_row_max<T>()) {
    with_flag(stream_it, [&](auto stream) { engine_blocks<decltype(stream)::value>(in, scale, p, nt); });
    return;
  }
  if (!P::kOutput || !p.out) {
    engine_rows_without_output<HasB>(in, scale, p, nt);
    return;
  }
  if constexpr (P::kOutput)
    with_flag(stream_it, [&](auto stream) { engine_rows<decltype(stream)::value>(in, scale, p, nt); });
}
