// logsumexp over rows: a policy of the row engine with no output rows.
//
//   logsumexp(x) = M s + log|S|,  S = sum_i b_i exp((x_i - M) s)
// with M (the max of x, unscaled), S from row_stats (b == 0 drops an element, as in SciPy), and
// sign(S) when asked for. A row holding +inf follows SciPy's rule
// (logsumexp_inf_row).
#pragma once

// Ms + log|S| + lo (Ms the scaled max, log_abs_S given, lo what their
// parts add: float64's, rounded once) and sign(S); a negative sum is NaN
// unless its sign is asked for.
template <class T>
inline void logsumexp_finish(double Ms, double S, double log_abs_S, double lo, T* out, T* sign) {
  const double sg = S > 0 ? 1.0 : (S < 0 ? -1.0 : (S == 0 ? 0.0 : S));
  double v = sum_rounded_once(Ms, log_abs_S, 0.0, lo);
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
  logsumexp_finish(0.0, acc, log(fabs(acc)), 0.0, out, sign);
}

// log S for logsumexp: a second read of the rows whose result Ms + log S may
// be near 0 (one dominant term, |Ms| < 1, Ms = M s; above, S's rounding is
// below the result's).
template <class T, class Sc>
inline LogSum log_sum_near_one(const T* x, int64_t n, const Sc& scale, const RowStats<T>& st, double Ms, double log_S) {
  return fabs(Ms) < 1.0 ? log_sum_exact(x, n, scale, st, log_S) : LogSum{st.S, st.S_lo, log_S};
}

template <class T, class Sc>
struct LogSumExpPolicy {
  struct Row {};
  static constexpr bool kExps = false, kSplit = true, kOutput = false;
  static constexpr PerRow kPerRow = PerRow::kLogAbsS;
  const LogSumExpArgs<T>& a;
  Sc scale;
  T* out = nullptr;
  int64_t ldo = 0;

  bool skip(int64_t) const { return false; }
  void skipped(int64_t, Row&) const {}
  // Row r's result from its statistics and log|S| (exact already, or
  // `exact_near_one`: a second read where it may be near 0), with M/T in
  // two parts (M s + M inv_temp_lo; float32's M s is exact in double);
  // float64 also adds what log|S| rounded away (log_rest, from S in two
  // parts), so the result is rounded once.
  void write(int64_t r, const RowStats<T>& st, double log_abs_S, bool exact_near_one) const {
    T* sg = a.sign ? a.sign + r : nullptr;
    const T M = st.M;
    const double s = static_cast<double>(scale.s), Ms = static_cast<double>(M) * s;
    if (M == T(HUGE_VAL)) {
      logsumexp_inf_row(a.x + r * a.ldx, a.b ? a.b + r * a.ldb : nullptr, a.n, a.inv_temp, a.out + r, sg);
      return;
    }
    const LogSum ls = a.b || !exact_near_one ? LogSum{st.S, st.S_lo, log_abs_S}
                                             : log_sum_near_one(a.x + r * a.ldx, a.n, scale, st, Ms, log_abs_S);
    double lo = isfinite(Ms) ? fma(static_cast<double>(M), s, -Ms) + static_cast<double>(M) * scale.s_lo : 0.0;
    if constexpr (kExactProbs<T>) {
      const bool neg = ls.S < 0;
      lo += log_rest(neg ? -ls.S : ls.S, neg ? -ls.S_lo : ls.S_lo, ls.L);
    }
    logsumexp_finish(Ms, ls.S, ls.L, lo, a.out + r, sg);
  }
  double finish(int64_t r, const RowStats<T>& st, double log_abs_S, Row&) const {
    write(r, st, log_abs_S, true);
    return 0.0;
  }
  template <bool Stream, class Exps>
  NoWriter writer(int64_t, int64_t, int64_t, const Exps&, const ChunkFactors<T>&, const Row&) const {
    return {};
  }
  void tiny(TinyTile<T>& tile, int64_t b, int64_t count, int64_t) const {
    constexpr int N = Vec<T>::N;
    alignas(64) double Sd[N], Slo[N], logS[N];
    alignas(64) T Ms[N];
    tile.template stats<false, kExactSums<LogSumExpPolicy, T>>(a.n, scale);
    tiny_log_sums(tile, a.n, scale, false, Sd, Slo, logS);
    storeu(Ms, tile.M);
    for (int64_t k = 0; k < count; ++k) write(b + k, RowStats<T>{Ms[k], Sd[k], Slo[k]}, logS[k], false);
  }
};

template <class T, class Sc>
void run_logsumexp(const Context& ctx, const LogSumExpArgs<T>& a, const Sc& scale) {
  LogSumExpPolicy<T, Sc> p{a, scale};
  const RowInput<T> in{a.x, a.ldx, a.b, a.ldb, a.rows, a.n};
  if (a.b) run_rows<true>(ctx, in, scale, p);
  else run_rows<false>(ctx, in, scale, p);
}

template <class T>
void logsumexp(const Context& ctx, const LogSumExpArgs<T>& a) {
  if (a.rows <= 0) return;
  with_scale(a.inv_temp, a.inv_temp_lo, [&](const auto& scale) { run_logsumexp(ctx, a, scale); });
}

// The (M, S) of a row holding +inf: M = +inf, S = the count of its +inf
// entries (NaN if it holds NaN).
template <class T>
inline double infinite_row_sum(const T* x, int64_t n) {
  double count = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] == T(HUGE_VAL)) count += 1.0;
    else if (x[i] != x[i]) return NAN;
  }
  return count;
}

// row_statistics: the engine's (M, S) of each row, written out.
template <class T>
struct RowStatisticsPolicy {
  struct Row {};
  static constexpr bool kExps = false, kSplit = true, kOutput = false;
  static constexpr PerRow kPerRow = PerRow::kNone;
  const RowStatisticsArgs<T>& a;
  T* out = nullptr;  // no rows of output: a.out has the per-row results
  int64_t ldo = 0;

  bool skip(int64_t) const { return false; }
  void skipped(int64_t, Row&) const {}
  double finish(int64_t r, const RowStats<T>& st, double, Row&) const {
    a.out.max[r] = st.M;
    a.out.sumexp[r] = static_cast<T>(st.M == T(HUGE_VAL) ? infinite_row_sum(a.x + r * a.ldx, a.n) : st.S);
    return 0.0;
  }
  template <bool Stream, class Exps>
  NoWriter writer(int64_t, int64_t, int64_t, const Exps&, const ChunkFactors<T>&, const Row&) const {
    return {};
  }
  void tiny(TinyTile<T>& tile, int64_t b, int64_t count, int64_t) const {
    alignas(64) double Sd[Vec<T>::N];
    alignas(64) T Ms[Vec<T>::N];
    tile.template stats<false, kExactSums<RowStatisticsPolicy, T>>(a.n, UnitScale<T>());
    lanes_to_double(tile.S, Sd);
    storeu(Ms, tile.M);
    Row none;
    for (int64_t k = 0; k < count; ++k) finish(b + k, RowStats<T>{Ms[k], Sd[k], 0.0}, 0.0, none);
  }
};

template <class T>
void row_statistics(const Context& ctx, const RowStatisticsArgs<T>& a) {
  RowStatisticsPolicy<T> p{a};
  run_rows<false>(ctx, RowInput<T>{a.x, a.ldx, nullptr, 0, a.rows, a.n}, UnitScale<T>(), p);
}

// merge_statistics: M = max_j m_j (NaN skipped, as the row max skips it),
// S = sum_j s_j exp(m_j - M) in double, in part order; parts at -inf add
// nothing (all at -inf: S = 0, as row_statistics gives an all -inf row),
// and with M = +inf S sums the parts at +inf.
template <class T>
void merge_statistics(const Context& ctx, const MergeStatisticsArgs<T>& a) {
  parallel_for(a.rows, threads_for(ctx, a.rows, a.rows * a.k), [&](int, int64_t r) {
    const T* m = a.m + r * a.ldm;
    const T* s = a.s + r * a.lds;
    double M = -HUGE_VAL, S = 0.0;
    for (int64_t j = 0; j < a.k; ++j)
      if (m[j] > M) M = m[j];
    for (int64_t j = 0; j < a.k; ++j) {
      const double mj = m[j], sj = s[j];
      if (mj != mj || sj != sj) S += NAN;
      else if (mj == HUGE_VAL) S += sj;  // M is +inf too
      else if (mj != -HUGE_VAL) S += sj * exp(mj - M);
    }
    a.out.max[r] = static_cast<T>(M);
    a.out.sumexp[r] = static_cast<T>(S);
  });
}
