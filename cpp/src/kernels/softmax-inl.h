// softmax and log_softmax over rows: two policies of the row engine.
//
//   softmax(x)_i     = exp((x_i - M) s) / S          (s = 1/temperature)
//   log_softmax(x)_i = (x_i - M) s - log S
// (where one term dominates, S < 2, the terms below the max are summed
// again apart: S = 1 + them, log S = log1p of them)
// with M (the max of x, unscaled), S from row_stats (rowstats-inl.h).
// float32 softmax rescales the row's exp values (kept, or computed again for
// rows too long to keep) by exp((m_c - M) s) / S per chunk; float64 softmax
// computes exp((x - M) s - log S) from x, rounded once (exact-inl.h);
// log_softmax reads x again (float64: rounded once from the same argument).
// Error: exp within 1.5 ulp; float32 softmax within exp's error, S's and one
// rounding (the factor in two parts: factor-inl.h), + |(x - M) s| ulp (the
// rounding of the argument); float64 rounded once from parts good to
// about 2^-100 (docs/numerics.md).
#pragma once

// The writer of one softmax row: y = e f, e the row's exp values
// (KeptExps or RecomputedExps) and f its chunk factors exp((m_c - M) s) / S.
template <bool Stream, class T, class Exps>
inline auto softmax_writer(T* y, int64_t n, const Exps& e, const ChunkFactors<T>& factors) {
  auto vec = [=](int64_t i, const Factor<T>& f) { return times(e.vec(i), f); };
  auto one = [=](int64_t i, const Factor<T>& f) { return first(times(set1(e.one(i)), f)); };
  return chunk_writer<Stream>(y, n, factors, vec, one);
}

// What a log_softmax writer needs of its row: M and log S; float64 the
// shift of its log-probabilities rounded once (exact-inl.h).
template <class T>
struct LogSoftmaxRow {
  T M, logS;
  ProbShift shift;
};

// The writer of one log_softmax row: y = (x - M) s - log S.
template <bool Stream, class T, class Sc>
inline auto log_softmax_writer(T* y, const T* x, int64_t n, const Sc& scale, const LogSoftmaxRow<T>& row) {
  const Vec<T> vM = set1(-row.M * scale.h), vlogS = set1(row.logS);
  const Vec<T> m = set1(static_cast<T>(row.shift.m)), hi = set1(static_cast<T>(row.shift.hi)),
               lo = set1(static_cast<T>(row.shift.lo));
  auto value = [=](Vec<T> v) {
    if constexpr (kExactProbs<T>) return exact_log_probs(v, m, hi, lo, scale);
    else return scale(v, vM) - vlogS;
  };
  auto vec = [=](int64_t i, const Factor<T>&) {
    prefetch_reread(x + i);
    return value(loadu(x + i));
  };
  auto one = [=](int64_t i, const Factor<T>&) { return first(value(set1(x[i]))); };
  return chunk_writer<Stream>(y, n, ChunkFactors<T>(), vec, one);
}

// What the two policies share: the rows they read and write, no skipped rows.
template <class T, class Sc>
struct SoftmaxRows {
  static constexpr bool kSplit = true, kOutput = true;
  const SoftmaxArgs<T>& a;
  Sc scale;
  T* out;
  int64_t ldo;
  SoftmaxRows(const SoftmaxArgs<T>& args, const Sc& sc) : a(args), scale(sc), out(args.y), ldo(args.ldy) {}
  bool skip(int64_t) const { return false; }
  template <class Row>
  void skipped(int64_t, Row&) const {}
};

template <class T, class Sc>
struct SoftmaxPolicy : SoftmaxRows<T, Sc> {
  using Row = ProbShift;  // float64: the row's shift (kExactProbs)
  static constexpr bool kExps = !kExactProbs<T>;
  static constexpr PerRow kPerRow = kExactProbs<T> ? PerRow::kLogS : PerRow::kInvS;
  using SoftmaxRows<T, Sc>::SoftmaxRows;

  // 1/S (float64: the row's shift, from log S; d is 1/S or log S as
  // kPerRow says), with S = 1 + the terms below the max summed apart where
  // one term dominates: the small probabilities keep their relative
  // accuracy (a second read of such rows only).
  double finish(int64_t r, const RowStats<T>& st, double d, Row& row) const {
    const LogSum ls = log_sum_exact(this->a.x + r * this->a.ldx, this->a.n, this->scale, st, d);
    if constexpr (kExactProbs<T>) {
      row = prob_shift(st.M, ls.L, log_rest(ls.S, ls.S_lo, ls.L), this->scale);
      return 0.0;
    }
    return dominated(st.S) ? 1.0 / ls.S : d;
  }
  template <bool Stream, class Exps>
  auto writer(int64_t r, int64_t off, int64_t len, const Exps& e, const ChunkFactors<T>& factors,
              const Row& row) const {
    T* y = this->out + r * this->ldo + off;
    if constexpr (kExactProbs<T>) {
      const auto p = exact_probs_of(this->a.x + r * this->a.ldx + off, row, 1.0, this->scale);
      auto vec = [=](int64_t i, const Factor<T>&) { return p.vec(i); };
      auto one = [=](int64_t i, const Factor<T>&) { return p.one(i); };
      return chunk_writer<Stream>(y, len, ChunkFactors<T>(), vec, one);
    } else {
      return softmax_writer<Stream>(y, len, e, factors);
    }
  }
  void tiny(TinyTile<T>& tile, int64_t b, int64_t count, int64_t) const {
    // d: log S (float64) or 1/S
    alignas(64) double Sd[Vec<T>::N], Slo[Vec<T>::N], d[Vec<T>::N];
    tile.template stats<!kExactProbs<T>, kExactSums<SoftmaxPolicy, T>>(this->a.n, this->scale);
    if constexpr (kExactProbs<T>) {
      tiny_log_sums(tile, this->a.n, this->scale, false, Sd, Slo, d);
      const TinyShifts<T> sh = tiny_prob_shifts(tile.M, Sd, Slo, d, this->scale);
      for (int64_t j = 0; j < this->a.n; ++j)
        tile.col[j] = exact_probs(tile.col[j], sh.m, sh.hi, sh.lo, set1(1.0), this->scale);
    } else {
      alignas(64) double below[Vec<T>::N];
      tiny_sums(tile, this->a.n, this->scale, true, Sd, Slo, below);
      per_row_in_double<T>(Sd, d, [](Vec<double> s) { return set1(1.0) / s; });
      const Factor<T> f = factor_lanes<T>(d);
      for (int64_t j = 0; j < this->a.n; ++j) tile.col[j] = times(tile.col[j], f);
    }
    tile.store(this->out, this->ldo, b, count, this->a.n);
  }
};

template <class T, class Sc>
struct LogSoftmaxPolicy : SoftmaxRows<T, Sc> {
  using Row = LogSoftmaxRow<T>;
  static constexpr bool kExps = false;
  static constexpr PerRow kPerRow = PerRow::kLogS;
  using SoftmaxRows<T, Sc>::SoftmaxRows;

  double finish(int64_t r, const RowStats<T>& st, double logS, Row& row) const {
    const LogSum ls = log_sum_exact(this->a.x + r * this->a.ldx, this->a.n, this->scale, st, logS);
    row = {st.M, static_cast<T>(ls.L), {0.0, 0.0, 0.0}};
    if constexpr (kExactProbs<T>) row.shift = prob_shift(st.M, ls.L, log_rest(ls.S, ls.S_lo, ls.L), this->scale);
    return 0.0;
  }
  template <bool Stream, class Exps>
  auto writer(int64_t r, int64_t off, int64_t len, const Exps&, const ChunkFactors<T>&, const Row& row) const {
    return log_softmax_writer<Stream>(this->out + r * this->ldo + off, this->a.x + r * this->a.ldx + off, len,
                                      this->scale, row);
  }
  void tiny(TinyTile<T>& tile, int64_t b, int64_t count, int64_t) const {
    alignas(64) double Sd[Vec<T>::N], Slo[Vec<T>::N], logS[Vec<T>::N];
    tile.template stats<false, kExactSums<LogSoftmaxPolicy, T>>(this->a.n, this->scale);
    tiny_log_sums(tile, this->a.n, this->scale, false, Sd, Slo, logS);
    if constexpr (kExactProbs<T>) {
      const TinyShifts<T> sh = tiny_prob_shifts(tile.M, Sd, Slo, logS, this->scale);
      for (int64_t j = 0; j < this->a.n; ++j)
        tile.col[j] = exact_log_probs(tile.col[j], sh.m, sh.hi, sh.lo, this->scale);
    } else {
      const Vec<T> f = lanes_from_double<T>(logS);
      for (int64_t j = 0; j < this->a.n; ++j) tile.col[j] = this->scale(tile.col[j], tile.neg_M) - f;
    }
    tile.store(this->out, this->ldo, b, count, this->a.n);
  }
};

template <template <class, class> class Policy, class T, class Sc>
void run_softmax_policy(const Context& ctx, const SoftmaxArgs<T>& a, const Sc& scale) {
  Policy<T, Sc> p(a, scale);
  run_rows<false>(ctx, RowInput<T>{a.x, a.ldx, nullptr, 0, a.rows, a.n}, scale, p);
}

template <class T>
void softmax(const Context& ctx, const SoftmaxArgs<T>& a) {
  if (a.n <= 0) return;
  with_scale(a.inv_temp, a.inv_temp_lo, [&](const auto& scale) {
    if (a.log) run_softmax_policy<LogSoftmaxPolicy>(ctx, a, scale);
    else run_softmax_policy<SoftmaxPolicy>(ctx, a, scale);
  });
}
