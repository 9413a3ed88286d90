// Cross-entropy of tiny rows (tinyrows-inl.h): the tile's N rows at once,
// down the columns of the transposed tile. For probability targets the
// targets are a tile too (Q = sum w q' and D = sum w q' (M - x) summed down
// the columns); for class indices each lane's target is compared with the
// column's class. The loss and the gradient factor of a row come from its
// lane's M and log S, in double, with the formulas of CrossEntropyPolicy
// (xent-inl.h), whose members these read.
#pragma once

// The tile's statistics: col[j] becomes exp(x - M) where a float32
// gradient is written (float64 gradients are formed from x: exact-inl.h);
// S in two parts and log S per lane into Sd, Slo and logS (tiny_log_sums).
template <class P, class T>
inline void xent_tiny_stats(const P& p, TinyTile<T>& tile, double* Sd, double* Slo, double* logS) {
  const bool keep = p.out && !kExactProbs<T>;
  if (keep) tile.template stats<true, kExactSums<P, T>>(p.a.C, UnitScale<T>());
  else tile.template stats<false, kExactSums<P, T>>(p.a.C, UnitScale<T>());
  tiny_log_sums(tile, p.a.C, UnitScale<T>(), keep, Sd, Slo, logS);
}

// The gradient's p_c times each lane's factor f: exp values times f, or
// for float64 rounded once from x with the lanes' shifts (m, hi, lo).
template <class T>
FSM_HOT Vec<T> tiny_scaled_probs(Vec<T> col, const Factor<T>& f, Vec<T> m, Vec<T> hi, Vec<T> lo) {
  if constexpr (kExactProbs<T>) return exact_probs(col, m, hi, lo, f.hi, UnitScale<T>());
  else return times(col, f);
}

// Probability targets: Q and D down the columns before the exp values
// replace x; loss and gradient factor in double, N rows at once.
template <class P, class T>
void xent_tiny_probs(const P& p, TinyTile<T>& tile, int64_t b, int64_t count, int64_t last) {
  using V = Vec<T>;
  constexpr int N = V::N, ND = Vec<double>::N;
  const auto& a = p.a;
  const int64_t C = a.C;
  const T* wt = p.cw;
  const V a1 = set1(static_cast<T>(1.0 - p.eps)), a0 = set1(static_cast<T>(p.eps / static_cast<double>(C)));
  TinyTile<T> qt;
  qt.load(a.probs, a.ldp, b, last, C);
  V Q = set1(T(0)), D = Q, M = set1(-T(HUGE_VAL));
  for (int64_t j = 0; j < C; ++j) M = vmax(tile.col[j], M);
  for (int64_t j = 0; j < C; ++j) {
    V qp = fmadd(qt.col[j], a1, a0);
    if (wt) qp = qp * set1(wt[j]);
    Q = Q + qp;
    D = D + P::times_gap(qp, M, tile.col[j]);
  }
  alignas(64) double Sd[N], Slo[N], logS[N], Md[N], Qd[N], Dd[N], loss[N], fac[N];
  xent_tiny_stats(p, tile, Sd, Slo, logS);
  lanes_to_double(tile.M, Md);
  lanes_to_double(Q, Qd);
  lanes_to_double(D, Dd);
  for (int k = 0; k < N; k += ND) {
    const Vec<double> lse = loadu(Md + k) + loadu(logS + k), q = loadu(Qd + k);
    Vec<double> l = q * loadu(logS + k) + loadu(Dd + k), pc = q;  // lse - M = log S
    if (p.z != 0) {
      l = l + set1(p.z) * lse * lse;
      pc = pc + set1(2.0 * p.z) * lse;
    }
    storeu(loss + k, l);
    storeu(fac + k, kExactProbs<T> ? set1(p.gs) * pc : set1(p.gs) * pc / loadu(Sd + k));
  }
  for (int64_t k = 0; k < count; ++k) a.row_loss[b + k] = loss[k];
  if (!p.out) return;
  TinyShifts<T> sh{set1(T(0)), set1(T(0)), set1(T(0))};
  if constexpr (kExactProbs<T>) sh = tiny_prob_shifts(tile.M, Sd, Slo, logS, UnitScale<T>());
  const Factor<T> vf = factor_lanes<T>(fac);
  const V a1g = set1(static_cast<T>(p.gs * (1.0 - p.eps)));
  for (int64_t j = 0; j < C; ++j) {
    const V tq = fmadd(qt.col[j], a1g, p.vk);
    tile.col[j] = tiny_scaled_probs(tile.col[j], vf, sh.m, sh.hi, sh.lo) - (wt ? tq * set1(wt[j]) : tq);
  }
  tile.store(p.out, p.ldo, b, count, C);
}

// Per lane of a tile of index targets: the gradient factor f, what the
// target class loses (hit), 1 for a row that counts (live), its target;
// for float64 the probabilities' shifts (m, hi, lo: exact-inl.h).
template <class T>
struct TinyTargets {
  Factor<T> f;
  Vec<T> hit, live, target, m, hi, lo;
};

// No weights, smoothing, z_loss or given lse: loss = (M - x_t) + log S and
// the factors in double, N rows at once (log S is exact where x_t = M, S < 2;
// float64's loss is rounded once, with what log S rounded away: log_rest).
template <class P, class T>
TinyTargets<T> xent_tiny_plain_rows(const P& p, int64_t b, int64_t count, const T* Ms, const double* Sd,
                                    const double* Slo, const double* logS) {
  constexpr int N = Vec<T>::N;
  const auto& a = p.a;
  alignas(64) double Md[N], xt[N], alive[N], loss[N], factor[N], hits[N], Llo[N];
  alignas(64) T target[N];
  for (int k = 0; k < N; ++k) {
    const bool on = k < count && !p.skip(b + k);
    const int64_t t = on ? a.target[b + k] : 0;
    Md[k] = Ms[k];
    xt[k] = on ? static_cast<double>(a.x[(b + k) * a.ldx + t]) : 0.0;
    alive[k] = on ? 1.0 : 0.0;
    target[k] = on ? static_cast<T>(t) : T(-1);
  }
  const Vec<double> vgs = set1(p.gs), zero = set1(0.0);
  TinyShifts<T> sh{set1(T(0)), set1(T(0)), set1(T(0))};
  if constexpr (kExactProbs<T>) sh = tiny_prob_shifts(loadu(Ms), Sd, Slo, logS, UnitScale<T>(), Llo);
  for (int k = 0; k < N; k += Vec<double>::N) {
    const Vec<double> on = loadu(alive + k), L_lo = kExactProbs<T> ? loadu(Llo + k) : zero;
    storeu(loss + k, select(neq(on, zero), sum_rounded_once(loadu(Md + k), zero - loadu(xt + k), loadu(logS + k), L_lo), zero));
    storeu(factor + k, (kExactProbs<T> ? vgs : vgs / loadu(Sd + k)) * on);
    storeu(hits + k, vgs * on);
  }
  for (int k = 0; k < count; ++k) a.row_loss[b + k] = loss[k];
  return {factor_lanes<T>(factor), lanes_from_double<T>(hits), lanes_from_double<T>(alive), loadu(target),
          sh.m, sh.hi, sh.lo};
}

// Otherwise: the policy's finish, a row at a time.
template <class P, class T>
TinyTargets<T> xent_tiny_finished_rows(const P& p, int64_t b, int64_t count, const T* Ms, const double* Sd,
                                       const double* Slo, const double* logS) {
  constexpr int N = Vec<T>::N;
  alignas(64) double pscale[N];
  alignas(64) T hit[N], live[N], target[N], m[N], hi[N], lo[N];
  for (int k = 0; k < N; ++k) {
    pscale[k] = 0.0;
    hit[k] = live[k] = m[k] = hi[k] = lo[k] = T(0);
    target[k] = T(-1);
    typename P::Row row;
    if (k >= count) continue;
    if (p.skip(b + k)) {
      p.skipped(b + k, row);
      continue;
    }
    pscale[k] = p.finish(b + k, RowStats<T>{Ms[k], Sd[k], Slo[k]}, logS[k], row);
    hit[k] = static_cast<T>(row.hit);
    live[k] = T(1);
    target[k] = static_cast<T>(row.target);
    m[k] = static_cast<T>(row.shift.m);
    hi[k] = static_cast<T>(row.shift.hi);
    lo[k] = static_cast<T>(row.shift.lo);
  }
  return {factor_lanes<T>(pscale), loadu(hit), loadu(live), loadu(target), loadu(m), loadu(hi), loadu(lo)};
}

// Class-index targets: the rows' losses and factors, then the gradient
// down the columns.
template <class P, class T>
void xent_tiny_indices(const P& p, TinyTile<T>& tile, int64_t b, int64_t count) {
  using V = Vec<T>;
  constexpr int N = V::N;
  const int64_t C = p.a.C;
  const T* wt = p.cw;
  alignas(64) double Sd[N], Slo[N], logS[N];
  alignas(64) T Ms[N];
  xent_tiny_stats(p, tile, Sd, Slo, logS);
  storeu(Ms, tile.M);
  const TinyTargets<T> rows = !wt && p.eps == 0 && p.z == 0 && !p.a.lse
                                  ? xent_tiny_plain_rows(p, b, count, Ms, Sd, Slo, logS)
                                  : xent_tiny_finished_rows(p, b, count, Ms, Sd, Slo, logS);
  if (!p.out) return;
  const V zero = set1(T(0)), smooth = rows.live * p.vk;
  const auto is_live = neq(rows.live, zero);  // ignored rows get 0, even from NaN logits
  for (int64_t j = 0; j < C; ++j) {
    V g = tiny_scaled_probs(tile.col[j], rows.f, rows.m, rows.hi, rows.lo);
    if (p.eps > 0) g = g - (wt ? set1(wt[j]) * smooth : smooth);
    g = g - select(neq(rows.target, set1(static_cast<T>(j))), zero, rows.hit);
    tile.col[j] = select(is_live, g, zero);
  }
  tile.store(p.out, p.ldo, b, count, C);
}
