// ZLPR, the multi-label categorical cross-entropy (Su Jianlin, 2020), per row:
//   loss = log(1 + sum_{j neg} e^{x_j}) + log(1 + sum_{i pos} e^{-x_i})
// two log-sum-exps, of u = x over the negatives and of u = -x over the
// positives, each with one more term u = 0; a class with x = -inf takes part
// in neither. With M = max(0, u of the group) and S = e^{-M} + sum e^{u - M}:
//   loss_group = M + log S, or log1p(sum e^u) where M = 0 (a small loss keeps
//   its relative accuracy);
//   dl/dx = e^{u - M} / S on a negative, -e^{u - M} / S on a positive.
// One read of the row from memory: each chunk's maxes, then its sums (from
// L1), the running sums rescaled when a group's max grows; the gradient
// reads the row again (from cache for rows up to L2's size).
// A row's positives are read as a row of T flags (0/1) in per-thread
// scratch: the dense form's bytes converted (a loop the compiler
// vectorises), the sparse form's ids set and cleared again; the row code is
// the same, so the two forms agree bit for bit.
#pragma once

// u = -x on a positive, x on a negative, -inf on a removed class (x = -inf).
template <class T>
FSM_HOT Vec<T> zlpr_u(Vec<T> x, Vec<T> pos) {
  const Vec<T> zero = set1(T(0)), ninf = set1(-T(HUGE_VAL));
  const Vec<T> u = select(neq(pos, zero), zero - x, x);
  return select(lt(ninf, x), u, select(neq(x, x), x, ninf));  // NaN stays NaN
}

// One group's running (M, rest): M = max(0, u so far), rest = sum e^{u - M};
// S = e^{-M} + rest.
struct ZlprGroup {
  double M = 0.0, rest = 0.0;
  void raise_to(double m) {
    if (m > M) {
      rest *= exp(M - m);
      M = m;
    }
  }
  // M + log S; a +inf u gives +inf, a NaN u NaN
  double log_sum() const {
    if (M == HUGE_VAL) return rest != rest ? rest : M;
    return M == 0.0 ? log1p(rest) : M + log(exp(-M) + rest);
  }
  double sum() const { return exp(-M) + rest; }
};

template <class T>
struct ZlprRow {
  ZlprGroup pos, neg;
};

// The groups' (M, rest) of row x[0, C) with positive flags f. With `keep`,
// the exp values e^{u - M_c} go there and each chunk's (M_c pos, M_c neg)
// into refs (M_c: the group's running max after chunk c).
template <class T>
inline ZlprRow<T> zlpr_stats(const T* x, const T* f, int64_t C, T* keep, double* refs) {
  using V = Vec<T>;
  constexpr int64_t N = V::N, CH = chunk_len<T>();
  const V zero = set1(T(0)), ninf = set1(-T(HUGE_VAL));
  ZlprRow<T> row;
  for (int64_t off = 0; off < C; off += CH) {
    const int64_t len = min64(CH, C - off);
    V mp = zero, mn = zero;  // lanes past the row hold u = 0, which the 0 term bounds already
    for (int64_t i = 0; i < len; i += N) {
      const V p = load_n(f + off + i, len - i), u = zlpr_u(load_n(x + off + i, len - i), p);
      mp = vmax(select(neq(p, zero), u, ninf), mp);
      mn = vmax(select(neq(p, zero), ninf, u), mn);
    }
    row.pos.raise_to(static_cast<double>(hmax(mp)));
    row.neg.raise_to(static_cast<double>(hmax(mn)));
    const V Mp = set1(static_cast<T>(row.pos.M)), Mn = set1(static_cast<T>(row.neg.M));
    V sp = zero, sn = zero;
    for (int64_t i = 0; i < len; i += N) {
      const V p = load_n(f + off + i, len - i), u = zlpr_u(load_n(x + off + i, len - i), p);
      const auto is_pos = neq(p, zero);
      V e = vexp_bounded(u - select(is_pos, Mp, Mn));
      e = select(lt(u, set1(T(HUGE_VAL))), e, select(neq(u, u), u, zero));  // +inf: in M; NaN: kept
      if (i + N > len) e = select(lanes_below<T>(len - i), e, zero);
      if (keep) store_lanes(keep + off + i, min64(N, len - i), e);
      sp = sp + select(is_pos, e, zero);
      sn = sn + select(is_pos, zero, e);
    }
    row.pos.rest += hsum(sp);
    row.neg.rest += hsum(sn);
    if (refs) {
      refs[2 * (off / CH)] = row.pos.M;
      refs[2 * (off / CH) + 1] = row.neg.M;
    }
  }
  return row;
}

// g[0, C) = the row's gradient times grad_scale: chunk c's exp values
// e^{u - M_c} (kept in g, or computed again from x) times e^{M_c - M} / S of
// their group, signed; the two ways give the same bits. Computed again, a
// row's special values are handled: a negative at +inf makes its group's
// log-sum-exp +inf, its own gradient NaN and the group's others 0 (as
// autograd gives), a NaN makes its group NaN, a removed class gets 0.
// (g may be x itself when computed again: each vector is read before it is written.)
template <bool Kept, class T>
inline void zlpr_grad(const T* x, const T* f, int64_t C, const ZlprRow<T>& row, const double* refs,
                      double grad_scale, T* g) {
  using V = Vec<T>;
  constexpr int64_t N = V::N, CH = chunk_len<T>();
  const V zero = set1(T(0)), nan = set1(T(NAN)), inf = set1(T(HUGE_VAL)), ninf = set1(-T(HUGE_VAL));
  const bool neg_inf = row.neg.M == HUGE_VAL, neg_nan = row.neg.rest != row.neg.rest;
  const double sp = -grad_scale / row.pos.sum(), sn = grad_scale / row.neg.sum();
  for (int64_t off = 0; off < C; off += CH) {
    const int64_t end = min64(off + CH, C);
    const double mp = refs[2 * (off / CH)], mn = refs[2 * (off / CH) + 1];
    const V fp = set1(static_cast<T>(sp * exp(mp - row.pos.M))), fn = set1(static_cast<T>(sn * exp(mn - row.neg.M)));
    const V Mp = set1(static_cast<T>(mp)), Mn = set1(static_cast<T>(mn));
    for (int64_t i = off; i < end; i += N) {
      const V p = load_n(f + i, end - i);
      const auto is_pos = neq(p, zero);
      V gv;
      if (Kept) {
        gv = load_n(g + i, end - i) * select(is_pos, fp, fn);
      } else {
        const V xv = load_n(x + i, end - i), u = zlpr_u(xv, p);
        gv = vexp_bounded(u - select(is_pos, Mp, Mn)) * select(is_pos, fp, fn);
        if (neg_inf) gv = select(is_pos, gv, neg_nan ? nan : select(lt(xv, inf), zero, nan));
        gv = select(neq(xv, ninf), gv, zero);  // a removed class: 0, even beside a NaN
      }
      store_lanes(g + i, min64(N, end - i), gv);
    }
  }
}

template <class T>
void multilabel(const Context& ctx, const MultilabelArgs<T>& a) {
  if (a.rows <= 0) return;
  const int nt = threads_for(ctx, a.rows, a.rows * a.C);
  const size_t stride = static_cast<size_t>(a.C) + 64, bytes = static_cast<size_t>(nt) * stride * sizeof(T);
  Buffer flags(bytes);  // per thread: the row's positives as 0/1, all 0 between rows
  memset(flags.at<T>(0), 0, bytes);
  // the exp values kept in the gradient rows (one exp per element), unless the
  // gradient overwrites x, which a row's special values need read again
  const bool keep = a.grad && a.grad != a.x;
  const size_t nrefs = 2 * static_cast<size_t>(ceil_div(a.C, chunk_len<T>()) + 1);
  Buffer chunk_refs(a.grad ? static_cast<size_t>(nt) * nrefs * sizeof(double) : 0);
  parallel_for(a.rows, nt, [&](int tid, int64_t r) {
    const T* x = a.x + r * a.ldx;
    T* f = flags.at<T>(static_cast<size_t>(tid) * stride * sizeof(T));
    const int64_t* ids = a.t ? nullptr : a.ids + r * a.ldi;
    auto mark = [&](T v) {
      for (int64_t k = 0; k < a.k; ++k)
        if (static_cast<uint64_t>(ids[k]) < static_cast<uint64_t>(a.C)) f[ids[k]] = v;  // -1: padding
    };
    if (ids) {
      mark(T(1));
    } else {
      const uint8_t* t = a.t + r * a.ldt;
      for (int64_t i = 0; i < a.C; ++i) f[i] = static_cast<T>(t[i] != 0);
    }
    T* g = a.grad ? a.grad + r * a.ldg : nullptr;
    double* refs = g ? chunk_refs.at<double>(static_cast<size_t>(tid) * nrefs * sizeof(double)) : nullptr;
    const ZlprRow<T> row = zlpr_stats(x, f, a.C, keep ? g : nullptr, refs);
    a.row_loss[r] = row.pos.log_sum() + row.neg.log_sum();
    // rows with +inf or NaN take the recomputing pass, which gives their NaN as autograd does
    const bool special = !(row.neg.M < HUGE_VAL) || row.neg.rest != row.neg.rest || row.pos.rest != row.pos.rest;
    if (g && keep && !special) zlpr_grad<true>(x, f, a.C, row, refs, a.grad_scale, g);
    else if (g) zlpr_grad<false>(x, f, a.C, row, refs, a.grad_scale, g);
    if (ids) mark(T(0));
  });
}
