// ZLPR, the multi-label categorical cross-entropy (Su Jianlin, 2020), per row:
//   loss = log(1 + sum_{j neg} e^{x_j}) + log(1 + sum_{i pos} e^{-x_i})
// two log-sum-exps, of u = x over the negatives and of u = -x over the
// positives, each with one more term u = 0; a class with x = -inf takes part
// in neither. With a reference R >= 0 per group and
// S = e^{-R} + sum e^{u - R}:
//   loss_group = R + log S, or log1p(sum e^u) where R = 0 (a small loss keeps
//   its relative accuracy);
//   dl/dx = e^{u - R} / S on a negative, -e^{u - R} / S on a positive.
// R stays 0 while every u - R is within exp's range (u <= 64 in float, 512
// in double: most rows), and is raised to the group's running max in a
// chunk where it is not, so the row is read from memory once and each
// element costs one exp; the gradient reads the row's kept exps again (from
// cache for rows up to L2's size).
// A row's positives are read as 0/1 bytes: the dense form's own, the sparse
// form's ids set in per-thread scratch and cleared again; the row code is
// the same, so the two forms agree bit for bit.
#pragma once

// u = -x on a positive, x on a negative, -inf on a removed class (x = -inf).
template <class T>
FSM_HOT Vec<T> zlpr_u(Vec<T> x, Mask<T> is_pos) {
  const Vec<T> ninf = set1(-T(HUGE_VAL));
  const Vec<T> u = select(is_pos, set1(T(0)) - x, x);
  return select(lt(ninf, x), u, select(neq(x, x), x, ninf));  // NaN stays NaN
}

// One group's running (M, rest): M its reference R (0, or a max of its u),
// rest = sum e^{u - M}; S = e^{-M} + rest.
struct ZlprGroup {
  double M = 0.0, rest = 0.0;
  // R becomes m where m - R is past exp's range (a chunk whose exps stay in
  // range keeps R, so that removing a class never moves it)
  template <class T>
  void raise_past_range(T m) {
    if (m > static_cast<T>(M) + ExpConstants<T>::big) {
      rest *= exp(M - static_cast<double>(m));
      M = static_cast<double>(m);
    }
  }
  // M + log S; a +inf u gives +inf, a NaN u NaN
  double log_sum() const {
    if (M == HUGE_VAL) return rest != rest ? rest : M;
    return M == 0.0 ? log1p(rest) : M + log(exp(-M) + rest);
  }
  double sum() const { return exp(-M) + rest; }
};

struct ZlprRow {
  ZlprGroup pos, neg;
};

// One chunk's sums of e^{u - R} per group, and the largest u - R.
template <class T>
struct ZlprChunk {
  double pos_sum, neg_sum;
  T top;
};

// The sums of chunk x[0, len) (positives flagged in f) against references
// (rp, rn), the exp values stored in keep if given. Exact: u by zlpr_u, a
// +inf u kept out of the sums (it is in R) and NaN kept in. Otherwise
// u = -x or x, and `top` tells the caller whether every u - R was within
// exp's range and none +inf (a removed positive, a negative at +inf).
template <bool Exact, class T>
FSM_HOT ZlprChunk<T> zlpr_chunk(const T* x, const uint8_t* f, int64_t len, T rp, T rn, T* keep) {
  using V = Vec<T>;
  constexpr int64_t N = V::N;
  const V zero = set1(T(0)), Rp = set1(rp), Rn = set1(rn);
  V top = set1(-T(HUGE_VAL)), sp = zero, sn = zero;
  for (int64_t i = 0; i < len; i += N) {
    const auto is_pos = flags_mask<T>(f + i, len - i);
    const V xv = load_n(x + i, len - i);
    const V u = Exact ? zlpr_u(xv, is_pos) : select(is_pos, zero - xv, xv);
    const V v = u - select(is_pos, Rp, Rn);
    if (!Exact) top = vmax(v, top);
    V e = vexp_bounded(v);
    if (Exact) e = select(lt(u, set1(T(HUGE_VAL))), e, select(neq(u, u), u, zero));
    if (i + N > len) e = select(lanes_below<T>(len - i), e, zero);
    if (keep) store_lanes(keep + i, min64(N, len - i), e);
    sp = sp + select(is_pos, e, zero);
    sn = sn + select(is_pos, zero, e);
  }
  return {hsum(sp), hsum(sn), hmax(top)};
}

// The groups' (R, rest) of row x[0, C) with positives flagged in f: each
// chunk's exps against the groups' references; a chunk that fails the range
// check raises them to its maxes where those are past the range, and is
// summed again. With
// `keep`, the exp values go there and each chunk's references (pos, neg)
// into refs.
template <class T>
inline ZlprRow zlpr_stats(const T* x, const uint8_t* f, int64_t C, T* keep, double* refs) {
  using V = Vec<T>;
  constexpr int64_t N = V::N, CH = chunk_len<T>();
  const V zero = set1(T(0)), ninf = set1(-T(HUGE_VAL));
  ZlprRow row;
  for (int64_t off = 0; off < C; off += CH) {
    const int64_t len = min64(CH, C - off);
    T* k = keep ? keep + off : nullptr;
    ZlprChunk<T> c = zlpr_chunk<false>(x + off, f + off, len, static_cast<T>(row.pos.M), static_cast<T>(row.neg.M), k);
    if (!(c.top <= ExpConstants<T>::big)) {
      V mp = zero, mn = zero;  // lanes past the row hold u = 0, which the 0 term bounds already
      for (int64_t i = 0; i < len; i += N) {
        const auto is_pos = flags_mask<T>(f + off + i, len - i);
        const V u = zlpr_u(load_n(x + off + i, len - i), is_pos);
        mp = vmax(select(is_pos, u, ninf), mp);
        mn = vmax(select(is_pos, ninf, u), mn);
      }
      row.pos.raise_past_range<T>(hmax(mp));
      row.neg.raise_past_range<T>(hmax(mn));
      c = zlpr_chunk<true>(x + off, f + off, len, static_cast<T>(row.pos.M), static_cast<T>(row.neg.M), k);
    }
    row.pos.rest += c.pos_sum;
    row.neg.rest += c.neg_sum;
    if (refs) {
      refs[2 * (off / CH)] = row.pos.M;
      refs[2 * (off / CH) + 1] = row.neg.M;
    }
  }
  return row;
}

// g[0, C) = the row's gradient times grad_scale: chunk c's exp values
// e^{u - R_c} (kept in g, or computed again from x) times e^{R_c - R} / S
// of their group, signed; the two ways give the same bits. Where that factor
// is below T's smallest normal (the group's reference rose far past R_c later
// in the row), the chunk takes e^{u - R} / S instead, from x, both ways: kept
// values up to e^{64} times a denormal factor would lose their digits.
// Computed again, a row's special values are handled: a negative at +inf
// makes its group's log-sum-exp +inf, its own gradient NaN and the group's
// others 0 (as autograd gives), a NaN makes its group NaN, a removed class
// gets 0.
// (g may be x itself when computed again: each vector is read before it is written.)
template <bool Kept, class T>
inline void zlpr_grad(const T* x, const uint8_t* f, int64_t C, const ZlprRow& row, const double* refs,
                      double grad_scale, T* g) {
  using V = Vec<T>;
  constexpr int64_t N = V::N, CH = chunk_len<T>();
  const V zero = set1(T(0)), nan = set1(T(NAN)), inf = set1(T(HUGE_VAL)), ninf = set1(-T(HUGE_VAL));
  const bool neg_inf = row.neg.M == HUGE_VAL, neg_nan = row.neg.rest != row.neg.rest;
  const double sp = -grad_scale / row.pos.sum(), sn = grad_scale / row.neg.sum();
  // chunk c's factor against its reference, or against R where that one is too small
  auto factor = [&](double ref, double R, double s, double& ref_used) {
    const double fac = s * exp(ref - R);
    const bool far = grad_scale != 0 && R < HUGE_VAL && fabs(fac) < static_cast<double>(ExpConstants<T>::min_normal);
    ref_used = far ? R : ref;
    return far ? s : fac;
  };
  for (int64_t off = 0; off < C; off += CH) {
    const int64_t end = min64(off + CH, C);
    const double* ref = refs + 2 * (off / CH);
    double rp, rn;
    const V fp = set1(static_cast<T>(factor(ref[0], row.pos.M, sp, rp)));
    const V fn = set1(static_cast<T>(factor(ref[1], row.neg.M, sn, rn)));
    const V Rp = set1(static_cast<T>(rp)), Rn = set1(static_cast<T>(rn));
    if (Kept && rp == ref[0] && rn == ref[1]) {
      for (int64_t i = off; i < end; i += N)
        store_lanes(g + i, min64(N, end - i), load_n(g + i, end - i) * select(flags_mask<T>(f + i, end - i), fp, fn));
      continue;
    }
    for (int64_t i = off; i < end; i += N) {
      const auto is_pos = flags_mask<T>(f + i, end - i);
      const V xv = load_n(x + i, end - i), u = zlpr_u(xv, is_pos);
      V gv = vexp_bounded(u - select(is_pos, Rp, Rn)) * select(is_pos, fp, fn);
      if (neg_inf) gv = select(is_pos, gv, neg_nan ? nan : select(lt(xv, inf), zero, nan));
      gv = select(neq(xv, ninf), gv, zero);  // a removed class: 0, even beside a NaN
      store_lanes(g + i, min64(N, end - i), gv);
    }
  }
}

template <class T>
void multilabel(const Context& ctx, const MultilabelArgs<T>& a) {
  if (a.rows <= 0) return;
  const int nt = threads_for(ctx, a.rows, a.rows * a.C);
  // per thread, for the sparse form: the row's positives as 0/1 bytes, all 0 between rows
  const size_t stride = static_cast<size_t>(a.C) + 64, bytes = a.t ? 0 : static_cast<size_t>(nt) * stride;
  Buffer flags(bytes);
  if (bytes) memset(flags.at<uint8_t>(0), 0, bytes);
  // the exp values kept in the gradient rows (one exp per element), unless the
  // gradient overwrites x, which a row's special values need read again
  const bool keep = a.grad && a.grad != a.x;
  const size_t nrefs = 2 * static_cast<size_t>(ceil_div(a.C, chunk_len<T>()) + 1);
  Buffer chunk_refs(a.grad ? static_cast<size_t>(nt) * nrefs * sizeof(double) : 0);
  parallel_for(a.rows, nt, [&](int tid, int64_t r) {
    const T* x = a.x + r * a.ldx;
    const int64_t* ids = a.t ? nullptr : a.ids + r * a.ldi;
    uint8_t* marks = ids ? flags.at<uint8_t>(static_cast<size_t>(tid) * stride) : nullptr;
    auto mark = [&](uint8_t v) {
      for (int64_t k = 0; k < a.k; ++k)
        if (static_cast<uint64_t>(ids[k]) < static_cast<uint64_t>(a.C)) marks[ids[k]] = v;  // -1: padding
    };
    if (ids) mark(1);
    const uint8_t* f = ids ? marks : a.t + r * a.ldt;
    T* g = a.grad ? a.grad + r * a.ldg : nullptr;
    double* refs = g ? chunk_refs.at<double>(static_cast<size_t>(tid) * nrefs * sizeof(double)) : nullptr;
    const ZlprRow row = zlpr_stats(x, f, a.C, keep ? g : nullptr, refs);
    a.row_loss[r] = row.pos.log_sum() + row.neg.log_sum();
    // rows with +inf or NaN take the recomputing pass, which gives their NaN as autograd does
    const bool special = !(row.neg.M < HUGE_VAL) || row.neg.rest != row.neg.rest || row.pos.rest != row.pos.rest;
    if (g && keep && !special) zlpr_grad<true>(x, f, a.C, row, refs, a.grad_scale, g);
    else if (g) zlpr_grad<false>(x, f, a.C, row, refs, a.grad_scale, g);
    if (ids) mark(0);
  });
}
