// Row statistics: M = max_i x_i and S = sum_i b_i exp((x_i - M) s), read once.
// The max is of the raw x (s > 0, so the scaled max is M s): x - M is exact
// near the max (Sterbenz), where x s - M s would carry the rounding of x s,
// an error relative to |x s| rather than to the argument.
//
// The row is cut into chunks of chunk_len<T>() elements (Milakov &
// Gimelshein 2018's online normaliser, at chunk granularity): each chunk is
// read from memory once for its max m_c (inside the exp loop of chunk c-2),
// then exp((x - m_c) s) is summed from L1 while chunk c+3 is prefetched, so
// the exp work overlaps the memory traffic. Chunk sums are combined in
// double:
//   S = sum_c S_c * exp((m_c - M) s),
// with exp((m_c - M) s) computed in double from exact differences. A float32
// chunk sum adds at most 16 terms per accumulator lane, so S has a relative
// error below ~20 ulp(float) in the worst case and ~1 ulp typically.
// Special values (SciPy's and PyTorch's behaviour follows from these):
//   - x = -inf contributes 0; a chunk of only -inf uses reference 0, not -inf,
//     so no -inf - -inf = NaN appears; all -inf gives M = -inf and S = 0.
//   - NaN is skipped by the max but reaches S (exp(NaN) = NaN).
//   - +inf gives M = +inf and S = NaN (inf - inf); logsumexp treats it apart.
// With exps != null the chunk's exp((x - m_c) s) values are kept there (the
// caller rescales them by exp((m_c - M) s) / S instead of computing exp again).
#pragma once

template <class T>
struct RowStats {
  T M;          // max of x over the row, unscaled (elements with b == 0 excluded)
  double S;     // sum of b * exp((x - M) s)
  double S_lo;  // float64: what S rounded away (S + S_lo to about 2^-100); float32: 0
};

// S = 1 + below + below_lo in two parts, below < 1 the terms under a
// dominating max summed apart (S - 1 is exact: Fast2Sum).
inline void one_plus(double below, double below_lo, double& S, double& S_lo) {
  S = 1.0 + below;
  S_lo = (below - (S - 1.0)) + below_lo;
}

// Per-chunk work arrays for a row of up to n elements.
template <class T>
struct ChunkArrays {
  T* exps = nullptr;      // [nchunks * chunk_len] or null
  T* ref = nullptr;       // [nchunks] chunk max (softmax recomputing: its exp_shift)
  double* csum = nullptr; // [nchunks]
  double* csum_lo = nullptr; // [nchunks] what csum rounded away (0 for plain float32 sums)
  double* fac = nullptr;  // [nchunks] exp((m_c - M) s)
  T* factor = nullptr;    // [nchunks] the row writer's factor per chunk (short rows: per row) ...
  T* factor_lo = nullptr; // [nchunks] ... and what rounding it to T left (factor-inl.h)

  // The same arrays from chunk c on (a segment of a row starting there).
  ChunkArrays from_chunk(int64_t c) const {
    return {exps ? exps + c * chunk_len<T>() : nullptr, ref + c, csum + c, csum_lo + c, fac + c, factor + c,
            factor_lo + c};
  }
  // the writer's factors from chunk c on
  ChunkFactors<T> factors(int64_t c = 0) const { return {factor + c, factor_lo + c}; }
};

// What one set of ChunkArrays holds: `values` entries of ref, csum, fac and
// factor (in two parts), and room for `exps` kept exp values.
struct WorkShape {
  int64_t values, exps;
};

// For the chunks of a row of up to n elements.
template <class T>
inline WorkShape row_shape(int64_t n, bool with_exps) {
  const int64_t nch = ceil_div(n, chunk_len<T>()) + 1;
  return {nch, with_exps ? nch * chunk_len<T>() : 0};
}

// `count` sets of ChunkArrays in one allocation (one per thread, or per
// (thread, slot) for the pipelined row loop), made before the parallel
// region.
template <class T>
class WorkArrays {
 public:
  WorkArrays(int64_t count, WorkShape shape)
      : shape_(shape), stride_(bytes()), buf_(stride_ * static_cast<size_t>(count)) {}
  ChunkArrays<T> operator[](int64_t index) const {
    ChunkArrays<T> a;
    size_t off = stride_ * static_cast<size_t>(index);
    if (shape_.exps > 0) a.exps = buf_.at<T>(off);
    off += line_up(shape_.exps * sizeof(T));
    a.csum = buf_.at<double>(off);
    off += line_up(shape_.values * sizeof(double));
    a.csum_lo = buf_.at<double>(off);
    off += line_up(shape_.values * sizeof(double));
    a.fac = buf_.at<double>(off);
    off += line_up(shape_.values * sizeof(double));
    a.ref = buf_.at<T>(off);
    off += line_up(shape_.values * sizeof(T));
    a.factor = buf_.at<T>(off);
    off += line_up(shape_.values * sizeof(T));
    a.factor_lo = buf_.at<T>(off);
    return a;
  }

 private:
  // each array starts on a 64-byte line
  static size_t line_up(int64_t bytes) { return (static_cast<size_t>(bytes) + 63) & ~size_t(63); }
  size_t bytes() const {
    return line_up(shape_.exps * sizeof(T)) + 3 * line_up(shape_.values * sizeof(double)) +
           3 * line_up(shape_.values * sizeof(T));
  }
  WorkShape shape_;
  size_t stride_;
  Buffer buf_;
};

// x where b != 0, else -inf (SciPy drops the b == 0 terms before the max).
template <bool HasB, class T>
FSM_HOT Vec<T> masked_x(const T* x, const T* b, int64_t i, int64_t left) {
  const T ninf = -T(HUGE_VAL);
  Vec<T> v = left >= Vec<T>::N ? loadu(x + i) : load_partial(x + i, left, ninf);
  if (HasB) {
    Vec<T> bv = left >= Vec<T>::N ? loadu(b + i) : load_partial(b + i, left, T(0));
    v = select(neq(bv, set1(T(0))), v, set1(ninf));
  }
  return v;
}

// What an exp argument adds to x (before the factor h below): -ref, or 0
// for a chunk of only -inf (no -inf - -inf = NaN).
template <class T>
FSM_HOT T exp_shift(T ref) {
  return ref == -T(HUGE_VAL) ? T(0) : -ref;
}

// x + m + hi + lo as a sum and its error (into err), for the float64
// arguments carried in parts (exact-inl.h): m = -M, hi + lo = -log S.
// Each TwoSum is exact, so no part is lost where M is huge and log S is
// below its last place. err is small in absolute terms (|err| < 1e-13
// where the sum is above exp's floor); x = -inf leaves a NaN there, which
// vexp_parts drops below its floor.
template <class T>
FSM_HOT Vec<T> exact_parts(Vec<T> x, Vec<T> m, Vec<T> hi, Vec<T> lo, Vec<T>& err) {
  Vec<T> e1, e2;
  const Vec<T> d = two_sum(two_sum(x, m, e1), hi, e2);
  err = (e1 + e2) + lo;
  return d;
}

// The 1/temperature factor s: scale(x, shift) is the exp argument
// (x h + shift) (s / h), shift = h exp_shift(M), i.e. (x - M) s. With s < 1,
// h = 1/2: x - M may overflow where (x - M) s does not, x/2 - M/2 cannot,
// and the products by 1/2 and 2 are exact (x h inside a multiply-add).
// UnitScale (temperature 1: the common case, and cross-entropy's only one)
// spends no multiply on it; products by 1 are exact, so both give the same
// bits.
template <class T>
struct UnitScale {
  static constexpr T s = T(1), h = T(1);
  static constexpr double s_lo = 0.0;
  Vec<T> operator()(Vec<T> x, Vec<T> shift) const { return x + shift; }
  // The same argument unrounded, with the shift in parts (exact_parts):
  // returns it as a sum, its error into err.
  Vec<T> parts(Vec<T> x, Vec<T> m, Vec<T> hi, Vec<T> lo, Vec<T>& err) const {
    return exact_parts(x, m, hi, lo, err);
  }
};
// s_lo = 1/T - s, what s rounded away: parts() multiplies by s + s_lo, so
// float64 results rounded once are those of x/T, not of x times a rounded
// 1/T (at T = 0.01 that rounding alone cost 6.7 eps of softmax).
template <class T>
struct Scale {
  T s, h;
  double s_lo;
  Vec<T> vh, vsh, vslo;  // h, s / h, s_lo / h
  Vec<T> operator()(Vec<T> x, Vec<T> shift) const { return fmadd(x, vh, shift) * vsh; }
  Vec<T> parts(Vec<T> x, Vec<T> m, Vec<T> hi, Vec<T> lo, Vec<T>& err) const {
    Vec<T> e;
    const Vec<T> d = exact_parts(x * vh, m, hi, lo, e), z = d * vsh;
    err = fmadd(d, vslo, fmadd(e, vsh, fused(d, vsh, set1(T(0)) - z)));
    return z;
  }
};

// body(scale) with the scale type matching s (and s_lo = 1/T - s).
template <class T, class Body>
inline void with_scale(T s, double s_lo, const Body& body) {
  if (s == T(1) && s_lo == 0.0) {
    body(UnitScale<T>());
  } else {
    const T h = s < T(1) ? T(0.5) : T(1);
    body(Scale<T>{s, h, s_lo, set1(h), set1(s / h), set1(static_cast<T>(s_lo / static_cast<double>(h)))});
  }
}

// exp((x - M) s) of elements x below the max, 0 at the max (its argument is
// exactly 0), m = -M h: float64 in two parts (the return value and lo), from
// the exact argument of exact-inl.h, so that a cold row's (T = 0.01) terms
// keep no rounding of x - M or of its product by 1/T; float32 plain.
template <class T, class Sc>
FSM_HOT Vec<T> below_max_term(Vec<T> x, Vec<T> m, const Sc& scale, Vec<T>& lo) {
  const Vec<T> zero = set1(T(0));
  if constexpr (kExactProbs<T>) {
    Vec<T> err;
    const Vec<T> d = scale.parts(x, m, zero, zero, err);
    const ExpParts<T> e = vexp_parts(d, err);
    lo = select(lt(d, zero), e.lo, zero);
    return select(lt(d, zero), e.hi, zero);
  } else {
    // below -80, exp(d + 24) e^-24 (d + 24 is exact there): float's
    // subnormal terms, which vexp_bounded leaves 0, and with them a
    // log-probability of -4e-40 at the max (a gap of 91)
    const Vec<T> d = scale(x, m);
    lo = zero;
    const Vec<T> e = select(lt(d, set1(T(-80))), vexp_bounded(d + set1(T(24))) * set1(T(3.775134544279098e-11)),
                            vexp_bounded(d));
    return select(lt(d, zero), e, zero);
  }
}

// The sum of exp((x - M) s) over the elements below M: S without its largest
// term, and what it rounded away into lo. Where one element is M (S < 2:
// each such element adds 1), log S = log1p(this) keeps the terms that
// S = 1 + s rounds away (the log S of [0, -40] is 0 in double, not
// 4.25e-18: SciPy's gh-18295). Compensated: it is read for those rows only.
template <class T, class Sc>
inline double sum_below_max(const T* x, int64_t n, const Sc& scale, T M, double& lo) {
  using V = Vec<T>;
  const V vm = set1(exp_shift(M) * scale.h), zero = set1(T(0));
  return compensated_sum<T>(
      n,
      [&](int64_t i, int64_t left, V& part) {
        const V e = below_max_term(load_n(x + i, left), vm, scale, part);
        if (left >= V::N) return e;
        part = select(lanes_below<T>(left), part, zero);
        return select(lanes_below<T>(left), e, zero);
      },
      lo);
}

// Whether one term of a row's sum dominates: 1 <= S < 2, so exactly one
// element is at the max and S = 1 + sum_below_max.
inline bool dominated(double S) { return S >= 1.0 && S < 2.0; }

// A row's S in two parts and L = log S (to an ulp; log_rest carries it
// further).
struct LogSum {
  double S, S_lo, L;
};

// The statistics' S and log_S of a row, or where one term dominates
// S = 1 + sum_below_max and L = log1p of that sum: -log S is then
// log_softmax's largest element, near 0, and keeps its relative accuracy
// (a second read of such rows only).
template <class T, class Sc>
inline LogSum log_sum_exact(const T* x, int64_t n, const Sc& scale, const RowStats<T>& st, double log_S) {
  if (!dominated(st.S)) return {st.S, st.S_lo, log_S};
  double lo;
  const double below = sum_below_max(x, n, scale, st.M, lo);
  LogSum r;
  one_plus(below, lo, r.S, r.S_lo);
  r.L = log1p(below);
  return r;
}

// Max of one chunk's x (b == 0 excluded), in one accumulator (a max is
// cheap and exact; registers are not: the exp loop that hosts it needs
// them). The same order wherever it runs, so the same bits (max of -0 and +0
// depends on the order).
template <bool HasB, class T>
struct ChunkMax {
  Vec<T> m = set1(-T(HUGE_VAL));
  FSM_HOT void group(const T* x, const T* b, int64_t i) {
    constexpr int64_t N = Vec<T>::N;
    m = vmax(masked_x<HasB>(x, b, i, N), m);
    m = vmax(masked_x<HasB>(x, b, i + N, N), m);
    m = vmax(masked_x<HasB>(x, b, i + 2 * N, N), m);
    m = vmax(masked_x<HasB>(x, b, i + 3 * N, N), m);
  }
  // the groups and vectors of [i, len) not yet done
  FSM_HOT void rest(const T* x, const T* b, int64_t i, int64_t len) {
    constexpr int64_t N = Vec<T>::N;
    for (; i + 4 * N <= len; i += 4 * N) group(x, b, i);
    for (; i < len; i += N) m = vmax(masked_x<HasB>(x, b, i, len - i), m);
  }
  FSM_HOT T value() const { return hmax(m); }
};

// Locality hint of the prefetches of the chunk ahead: to L2 only on
// AVX-512, whose loop takes 4 lines a step, and to L1 on AVX2, where the
// L2 hint measured slower.
constexpr int kPrefetchLocality = FSM_SIMD_LEVEL == 3 ? 1 : 3;

// A row writer that reads x again (log_softmax, softmax recomputing its exp
// values) prefetches it two chunks ahead on AVX-512, for long rows that
// have left L2; on AVX2 it measured slower.
template <class T>
FSM_HOT void prefetch_reread(const T* p) {
  if (FSM_SIMD_LEVEL == 3) __builtin_prefetch(p + 2 * chunk_len<T>(), 0, kPrefetchLocality);
}

// Sum of b exp((x - ref) s) over one chunk, xc[0, len) (kept in ec when
// Store), while taking the max of next_len elements at xn into `next`,
// prefetching the lines of `ahead` and writing through `out` (begun and
// finished by the caller): the exp arithmetic binds the multiply-add units,
// and the loads, max and stores fill the other ports. Returns the four
// accumulators merged (lanes not yet added). float64 terms with weights b
// are formed in parts (exact_parts, vexp_parts): signed weights cancel, and
// the sum keeps each term's error below a hundredth of its last place;
// float32's as the rounded product b e and its error.
// Exact: the accumulators carry their rounding errors (SumOf).
template <bool Store, bool HasB, bool Exact, class T, class Sc, class Writer>
FSM_HOT SumOf<T, Exact> chunk_exp_sum(const T* xc, const T* bc, int64_t len, T ref, const Sc& scale, T* ec, const T* xn,
                             const T* bn, int64_t next_len, const T* ahead, ChunkMax<HasB, T>& next, Writer& out) {
  static_assert(!(Store && HasB), "weighted terms are never kept");
  static_assert(Exact || !HasB, "weighted sums carry their errors (kExactWeightedSums)");
  using V = Vec<T>;
  constexpr int64_t N = V::N;
  const V neg_ref = set1(exp_shift(ref) * scale.h);
  SumOf<T, Exact> s0, s1, s2, s3;
  auto term = [&](SumOf<T, Exact>& acc, int64_t j, int64_t left) {
    const V x = masked_x<HasB>(xc, bc, j, left);
    if constexpr (HasB) {
      const V b = left >= N ? loadu(bc + j) : load_partial(bc + j, left, T(0));
      if constexpr (kExactProbs<T>) {
        const V zero = set1(T(0));
        V err;
        const ExpParts<T> e = vexp_parts(scale.parts(x, neg_ref, zero, zero, err), err);
        const V t = e.hi * b;
        acc.add(t, fused(e.hi, b, zero - t) + e.lo * b);
      } else {
        const V e = vexp_bounded(scale(x, neg_ref)), t = e * b;
        acc.add(t, fused(e, b, set1(T(0)) - t));
      }
    } else {
      const V e = vexp_bounded(scale(x, neg_ref));
      if (Store) storeu(ec + j, e);
      acc.add(e);
    }
  };
  const int64_t next_groups = next_len / (4 * N) * (4 * N);
  int64_t i = 0;
  for (; i + 4 * N <= len; i += 4 * N) {
    for (int64_t line = 0; line < 4 * N; line += 64 / static_cast<int64_t>(sizeof(T)))
      __builtin_prefetch(ahead + i + line, 0, kPrefetchLocality);
    term(s0, i, N);
    term(s1, i + N, N);
    term(s2, i + 2 * N, N);
    term(s3, i + 3 * N, N);
    if (i < next_groups) next.group(xn, bn, i);
    out.step();
  }
  const int64_t grouped = i;  // the groups of `next` below this are done
  for (; i < len; i += N) term(s0, i, len - i);
  next.rest(xn, bn, min64(grouped, next_groups), next_len);
  return s0.merged(s1).merged(s2.merged(s3));
}

// sum_c v[c] f[c] over [lo, hi), pairwise: where one chunk holds the row's
// dominant term (a confident row, S near 1), the many small chunk sums are
// added to each other before they meet it, not rounded away one by one.
inline double weighted_sum_pairwise(const double* v, const double* f, int64_t lo, int64_t hi) {
  constexpr int64_t kLeaf = 8;
  if (hi - lo <= kLeaf) {
    double s = 0.0;
    for (int64_t c = lo; c < hi; ++c) s += v[c] * f[c];
    return s;
  }
  const int64_t mid = lo + (hi - lo) / 2;
  return weighted_sum_pairwise(v, f, lo, mid) + weighted_sum_pairwise(v, f, mid, hi);
}

// float64's S in two parts from its chunks: S = sum_c (csum + csum_lo)
// (fac + fac_lo), fac in two parts from the exact argument (m_c - M) s
// (vexp_parts), the products and their sum carried as TwoSums: the chunk
// factors' roundings do not reach the probabilities (exact-inl.h).
template <class T, class Sc>
inline RowStats<T> combine_chunks_exact(const ChunkArrays<T>& w, int64_t nch, const Sc& scale, T M) {
  const double h = scale.h, sh = static_cast<double>(scale.s / scale.h), Mh = static_cast<double>(M) * h;
  double S = 0.0, S_lo = 0.0;
  for (int64_t c = 0; c < nch; ++c) {
    double f = 0.0, f_lo = 0.0;
    if (w.ref[c] != -HUGE_VAL) {
      double d_lo;
      const double d = two_sum(static_cast<double>(w.ref[c]) * h, -Mh, d_lo), z = d * sh;
      const ExpParts<double> e = vexp_parts(set1(z), set1(fma(d, sh, -z) + d_lo * sh));
      f = first(e.hi);
      f_lo = first(e.lo);
    }
    w.fac[c] = f;
    const double p = w.csum[c] * f, p_lo = fma(w.csum[c], f, -p) + (w.csum[c] * f_lo + w.csum_lo[c] * f);
    double err;
    S = two_sum(S, p, err);
    S_lo += err + p_lo;
  }
  const double total = S + S_lo;
  return {M, total, S_lo - (total - S)};
}

// M, fac and S of a row from its nch chunks' ref and csum: M = the largest
// ref, fac[c] = exp((m_c - M) s) in double, as (m_c h - M h) (s / h) (Scale;
// 0 for chunks without a finite max),
// S = sum_c csum[c] fac[c] (pairwise), in chunk order (float64: in two
// parts, combine_chunks_exact). A row cut into segments
// (softmax-inl.h) fills ref and csum segment by segment and combines them
// here too, so its (M, S) are the bits of the whole row's.
template <class T, class Sc>
inline RowStats<T> combine_chunks(const ChunkArrays<T>& w, int64_t nch, const Sc& scale) {
  const T ninf = -T(HUGE_VAL);
  T M = ninf;
  for (int64_t c = 0; c < nch; ++c)
    if (w.ref[c] > M) M = w.ref[c];
  if constexpr (kExactProbs<T>) return combine_chunks_exact(w, nch, scale, M);
  if (nch == 1) {
    w.fac[0] = w.ref[0] == ninf ? 0.0 : 1.0;  // a short row: m_0 is M
  } else {
    using VD = Vec<double>;
    constexpr int64_t ND = VD::N;
    const double h = scale.h, sh = static_cast<double>(scale.s / scale.h), Mh = static_cast<double>(M) * h;
    for (int64_t c = 0; c < nch; ++c)
      w.fac[c] = w.ref[c] == ninf ? -HUGE_VAL : (static_cast<double>(w.ref[c]) * h - Mh) * sh;
    for (int64_t c = 0; c < nch; c += ND) {
      const int64_t left = nch - c;
      VD v = vexp(left >= ND ? loadu(w.fac + c) : load_partial(w.fac + c, left, 0.0));
      if (left >= ND) storeu(w.fac + c, v); else store_partial(w.fac + c, left, v);
    }
  }
  return {M, weighted_sum_pairwise(w.csum, w.fac, 0, nch), 0.0};
}

// Whether a row's chunk sums carry their rounding errors: float64's always;
// float32's with weights b, whose signs cancel (logsumexp's signed family:
// 3.5 eps at the NEON level with plain float sums, docs/numerics.md), each
// term b e in two parts. float32's chunk totals are taken in double, so its
// csum_lo stays unused.
template <bool HasB, class T>
constexpr bool kExactWeightedSums = kExactProbs<T> || HasB;

// One pass over the row, chunk by chunk, filling ref[c] = m_c and csum[c]
// (and exps with Store). Chunk c's exp loop also takes the max of chunk c+2
// (two ahead: a chunk's max is reduced long before its exp loop needs it),
// prefetches chunk c+3 and, through `out`, writes chunk c of the previous
// row's output (pipeline-inl.h).
template <bool Store, bool HasB, class T, class Sc, class Writer>
FSM_HOT void row_chunks(const T* x, const T* b, int64_t n, const Sc& scale, const ChunkArrays<T>& w, Writer& out) {
  constexpr int64_t CH = chunk_len<T>(), kAhead = 2;
  const T ninf = -T(HUGE_VAL);
  const int64_t nch = ceil_div(n, CH);
  auto chunk_length = [&](int64_t c) { return c < nch ? min64(CH, n - c * CH) : int64_t(0); };
  T pending[kAhead] = {ninf, ninf};  // maxima of chunks c and c+1
  for (int64_t k = 0; k < kAhead && k < nch; ++k) {
    ChunkMax<HasB, T> mk;
    mk.rest(x + k * CH, HasB ? b + k * CH : nullptr, 0, chunk_length(k));
    pending[k] = mk.value();
  }
  for (int64_t c = 0; c < nch; ++c) {
    const int64_t off = c * CH;
    const T* bc = HasB ? b + off : nullptr;
    const T ref = pending[0];
    w.ref[c] = ref;
    // the chunk after next: its pointers may point past the row (prefetches never fault)
    const T* xn = x + off + kAhead * CH;
    const int64_t next_len = chunk_length(c + kAhead);
    ChunkMax<HasB, T> next;
    out.begin(c);
    const SumOf<T, kExactWeightedSums<HasB, T>> sum = chunk_exp_sum<Store, HasB, kExactWeightedSums<HasB, T>>(
        x + off, bc, chunk_length(c), ref, scale, Store ? w.exps + off : nullptr, xn, HasB ? bc + kAhead * CH : nullptr,
        next_len, xn + CH, next, out);
    pending[0] = pending[1];
    if (next_len > 0) pending[1] = next.value();
    out.finish();
    w.csum[c] = sum.total(w.csum_lo[c]);
  }
}

// The row's statistics in one pass (row_chunks, then combine_chunks).
template <bool Store, bool HasB, class T, class Sc, class Writer>
FSM_HOT RowStats<T> row_stats(const T* x, const T* b, int64_t n, const Sc& scale, const ChunkArrays<T>& w,
                             Writer& out) {
  row_chunks<Store, HasB>(x, b, n, scale, w, out);
  return combine_chunks(w, ceil_div(n, chunk_len<T>()), scale);
}

template <bool Store, bool HasB, class T, class Sc>
inline RowStats<T> row_stats(const T* x, const T* b, int64_t n, const Sc& scale, const ChunkArrays<T>& w) {
  NoWriter none;
  return row_stats<Store, HasB>(x, b, n, scale, w, none);
}

// Where a row writer gets exp((x_i - m_c) s), c the chunk of i: the values
// row_stats kept (Store) ...
template <class T>
struct KeptExps {
  const T* e;
  FSM_HOT Vec<T> vec(int64_t i) const { return loadu(e + i); }
  FSM_HOT T one(int64_t i) const { return e[i]; }
};

// ... or the same computed again from x, shifts[c] = h exp_shift(m_c): the
// arithmetic of chunk_exp_sum, so bit for bit the kept values, and no
// storage for rows too long to keep (keep_exps, softmax-inl.h).
template <class T, class Sc>
struct RecomputedExps {
  static constexpr int64_t N = Vec<T>::N, CH = chunk_len<T>();
  const T* x;
  Sc scale;
  const T* shifts;
  // lanes of the vector at i: its first lanes may be in the chunk before
  FSM_HOT Vec<T> shift(int64_t i) const {
    const int64_t c = (i + N - 1) / CH, before = c * CH - i;
    if (before > 0) return select(lanes_below<T>(before), set1(shifts[c - 1]), set1(shifts[c]));
    return set1(shifts[c]);
  }
  FSM_HOT Vec<T> vec(int64_t i) const {
    prefetch_reread(x + i);
    return vexp_bounded(scale(loadu(x + i), shift(i)));
  }
  FSM_HOT T one(int64_t i) const { return first(vexp_bounded(scale(set1(x[i]), set1(shifts[i / CH])))); }
};

template <class T, class Sc>
inline RecomputedExps<T, Sc> recomputed_exps(const T* x, const Sc& scale, const T* shifts) {
  return {x, scale, shifts};
}

// What a row writer multiplies chunk c's exp values by: fac[c] * scale
// (softmax: 1/S; cross-entropy: its gradient's factor); and, when they are
// computed again (not Keep), ref[c] becomes the shift RecomputedExps adds
// (h: the Scale's).
template <bool Keep, class T>
inline void writer_factors(const ChunkArrays<T>& w, int64_t nch, double scale, T h) {
  for (int64_t c = 0; c < nch; ++c) {
    split_factor(w.fac[c] * scale, w.factor[c], w.factor_lo[c]);
    if (!Keep) w.ref[c] = exp_shift(w.ref[c]) * h;
  }
}
