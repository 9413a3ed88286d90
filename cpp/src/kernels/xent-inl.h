// Cross-entropy forward and gradient, fused: one read of the logits row, one
// write of the gradient row.
//
// With lse = log sum_c exp(x_c), p_c = exp(x_c - lse), eps = label smoothing,
// w = class weights (1 when absent), W = sum_c w_c (PyTorch's definition):
//   index target t:  loss = (1-eps) w_t (lse - x_t) + eps/C (W lse - sum_c w_c x_c)
//                    grad = p_c ((1-eps) w_t + eps W / C) - (1-eps) w_t [c = t] - eps/C w_c
//   probabilities q: q'_c = (1-eps) q_c + eps/C,  Q = sum_c w_c q'_c
//                    loss = Q lse - sum_c w_c q'_c x_c,  grad = p_c Q - w_c q'_c
//   z_loss adds z lse^2 to the loss and 2 z lse p_c to the gradient.
// The gradient is scaled by grad_scale (1/sum of weights for "mean").
// p_c comes from the exp values kept by row_stats, rescaled once per chunk.
#pragma once

// Per (worker, slot): what writing a row's gradient needs besides its chunk factors.
struct XentRowState {
  int64_t target;  // class index (-1: probabilities), or the ignore value
  bool ignored;
  double hit;      // subtracted at c == target
};

template <class T>
void cross_entropy(const CrossEntropyArgs<T>& a) {
  using V = Vec<T>;
  const int64_t rows = a.rows, C = a.C;
  if (rows <= 0 || C <= 0) return;
  const bool want_grad = a.grad != nullptr;
  const bool st = want_grad && stream_output<T>(rows, C);
  const double eps = a.label_smoothing, z = a.z_loss, gs = a.grad_scale;
  double Wsum = static_cast<double>(C);
  if (a.weight) {
    Wsum = 0.0;
    for (int64_t c = 0; c < C; ++c) Wsum += a.weight[c];
  }
  const int nt = threads_for(rows, rows * C);
  const int64_t nch = ceil_div(C, chunk_len<T>());
  const size_t stride = ChunkArrays<T>::bytes(C, want_grad);
  Buffer work(stride * nt * 2), state(sizeof(XentRowState) * 2 * nt);
  XentRowState* rstate = state.at<XentRowState>(0);
  auto slot_arrays = [&](int worker, int slot) {
    return ChunkArrays<T>::carve(work, stride, worker * 2 + slot, C, want_grad);
  };
  const T* wt = a.weight;
  const V vk = set1(static_cast<T>(gs * eps / static_cast<double>(C)));

  auto row_loss = [&](int worker, int64_t r, int slot, const auto& hook) {
    const T* x = a.x + r * a.ldx;
    XentRowState& rs_out = rstate[worker * 2 + slot];
    int64_t t = -1;
    if (a.target) {
      t = a.target[r];
      if (t == a.ignore_index) {
        a.row_loss[r] = 0.0;
        rs_out = {t, true, 0.0};
        for (int64_t c = 0; c < nch; ++c) hook(c);
        return;
      }
    }
    const ChunkArrays<T> w = slot_arrays(worker, slot);
    const RowStats<T> rs = want_grad ? row_stats<true, false>(x, static_cast<const T*>(nullptr), C, T(1), w, hook)
                                     : row_stats<false, false>(x, static_cast<const T*>(nullptr), C, T(1), w, hook);
    const double lse = static_cast<double>(rs.M) + log(rs.S);
    const T* q = a.probs ? a.probs + r * a.ldp : nullptr;
    double loss, pcoef;  // pcoef: the multiplier of p_c in the gradient (before grad_scale)
    double hit = 0.0;
    if (q) {
      // Q = sum w q',  D = sum w q' x, with q' = (1-eps) q + eps/C
      const V a1 = set1(static_cast<T>(1.0 - eps)), a0 = set1(static_cast<T>(eps / static_cast<double>(C)));
      auto qprime = [&](int64_t i, int64_t left) {
        V v = fmadd(load_n(q + i, left), a1, a0);
        if (left < V::N) v = select(lanes_below<T>(left), v, set1(T(0)));
        return wt ? v * load_n(wt + i, left) : v;
      };
      const double Q = chunked_sum<T>(C, qprime);
      const double D = chunked_sum<T>(C, [&](int64_t i, int64_t left) { return qprime(i, left) * load_n(x + i, left); });
      loss = Q * lse - D;
      pcoef = Q;
    } else {
      const double wy = wt ? static_cast<double>(wt[t]) : 1.0;
      loss = (1.0 - eps) * wy * (lse - static_cast<double>(x[t]));
      pcoef = (1.0 - eps) * wy;
      if (eps > 0) {
        const double D = chunked_sum<T>(C, [&](int64_t i, int64_t left) {
          return wt ? load_n(x + i, left) * load_n(wt + i, left) : load_n(x + i, left);
        });
        loss += eps / static_cast<double>(C) * (Wsum * lse - D);
        pcoef += eps * Wsum / static_cast<double>(C);
      }
      hit = gs * (1.0 - eps) * wy;
    }
    if (z != 0) {
      loss += z * lse * lse;
      pcoef += 2.0 * z * lse;
    }
    a.row_loss[r] = loss;
    rs_out = {t, false, hit};
    if (want_grad) {
      const double pscale = gs * pcoef / rs.S;
      for (int64_t c = 0; c < nch; ++c) w.ref[c] = static_cast<T>(w.fac[c] * pscale);
    }
  };

  auto write_grad = [&](int worker, int64_t r, int slot, int64_t c) {
    T* g = a.grad + r * a.ldg;
    const int64_t lo = range_bound(g, c, nch, C), hi = range_bound(g, c + 1, nch, C);
    const XentRowState& rs = rstate[worker * 2 + slot];
    if (rs.ignored) {
      auto zero = [&](int64_t) { return set1(T(0)); };
      auto zero1 = [&](int64_t) { return T(0); };
      write_range(st, g, lo, hi, zero, zero1);
      return;
    }
    const ChunkArrays<T> w = slot_arrays(worker, slot);
    const T* e = w.exps;
    const T* q = a.probs ? a.probs + r * a.ldp : nullptr;
    if (q) {
      const V a1 = set1(static_cast<T>(gs * (1.0 - eps))), a0 = vk;
      auto vec = [&](int64_t i, V f) {
        V tq = fmadd(loadu(q + i), a1, a0);
        if (wt) tq = tq * loadu(wt + i);
        return loadu(e + i) * f - tq;
      };
      auto one = [&](int64_t i, T f) {
        V tq = fmadd(set1(q[i]), a1, a0);
        if (wt) tq = tq * set1(wt[i]);
        return first(set1(e[i]) * set1(f) - tq);
      };
      write_range_chunked(st, g, lo, hi, w.ref, vec, one);
      return;
    }
    const int64_t t = rs.target;
    const V vhit = set1(static_cast<T>(rs.hit));
    auto vec = [&](int64_t i, V f) {
      V v = loadu(e + i) * f;
      if (eps > 0) v = v - (wt ? loadu(wt + i) * vk : vk);
      if (static_cast<uint64_t>(t - i) < static_cast<uint64_t>(V::N)) v = v - lane_is<T>(t - i) * vhit;
      return v;
    };
    auto one = [&](int64_t i, T f) {
      V v = set1(e[i]) * set1(f);
      if (eps > 0) v = v - (wt ? set1(wt[i]) * vk : vk);
      if (i == t) v = v - vhit;
      return first(v);
    };
    write_range_chunked(st, g, lo, hi, w.ref, vec, one);
  };

  if (want_grad) {
    pipelined_rows(rows, nch, nt, row_loss, write_grad);
  } else {
    parallel_for(rows, nt, [&](int worker, int64_t r) { row_loss(worker, r, 0, NoHook()); });
  }
}
