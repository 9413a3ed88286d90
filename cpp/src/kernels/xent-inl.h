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
  const size_t stride = ChunkArrays<T>::bytes(C, want_grad);
  Buffer work(stride * nt);
  const T* wt = a.weight;
  const T kSmooth = static_cast<T>(gs * eps / static_cast<double>(C));
  parallel_for(rows, nt, [&](int tid, int64_t r) {
    const T* x = a.x + r * a.ldx;
    T* g = want_grad ? a.grad + r * a.ldg : nullptr;
    int64_t t = -1;
    if (a.target) {
      t = a.target[r];
      if (t == a.ignore_index) {
        a.row_loss[r] = 0.0;
        if (g) write_row(st, g, C, [&](int64_t) { return set1(T(0)); }, [&](int64_t) { return T(0); });
        return;
      }
    }
    const ChunkArrays<T> w = ChunkArrays<T>::carve(work, stride, tid, C, want_grad);
    const RowStats<T> rs = want_grad ? row_stats<true, false>(x, static_cast<const T*>(nullptr), C, T(1), w)
                                     : row_stats<false, false>(x, static_cast<const T*>(nullptr), C, T(1), w);
    const double lse = static_cast<double>(rs.M) + log(rs.S);
    const T* q = a.probs ? a.probs + r * a.ldp : nullptr;
    double loss, pcoef;  // pcoef: the multiplier of p_c in the gradient (before grad_scale)
    T hit = 0;            // index target: subtracted at c == t
    if (q) {
      // Q = sum w q',  D = sum w q' x, with q' = (1-eps) q + eps/C
      const V a1 = set1(static_cast<T>(1.0 - eps)), a0 = set1(static_cast<T>(eps / static_cast<double>(C)));
      auto qprime = [&](int64_t i, int64_t left) {
        // q' on the first `left` lanes, 0 beyond
        V v = fmadd(load_n(q + i, left), a1, a0);
        if (left < V::N) v = select(lanes_below<T>(left), v, set1(T(0)));
        return wt ? v * load_n(wt + i, left) : v;
      };
      const double Q = chunked_sum<T>(C, qprime);
      const double D = chunked_sum<T>(C, [&](int64_t i, int64_t left) { return qprime(i, left) * load_n(x + i, left); });
      loss = Q * lse - D;
      pcoef = Q;
    } else {
      if (t < 0 || t >= C) t = 0;  // unreachable: the binding checked the labels
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
      hit = static_cast<T>(gs * (1.0 - eps) * wy);
    }
    if (z != 0) {
      loss += z * lse * lse;
      pcoef += 2.0 * z * lse;
    }
    a.row_loss[r] = loss;
    if (!g) return;
    const int64_t nch = ceil_div(C, chunk_len<T>());
    const double pscale = gs * pcoef / rs.S;
    for (int64_t c = 0; c < nch; ++c) w.ref[c] = static_cast<T>(w.fac[c] * pscale);
    const V vk = set1(kSmooth), vhit = set1(hit);
    const T* e = w.exps;
    if (q) {
      const V a1 = set1(static_cast<T>(gs * (1.0 - eps))), a0 = vk;
      write_row_chunked(st, g, C, w.ref,
                        [&](int64_t i, V f) {
                          V tq = fmadd(loadu(q + i), a1, a0);
                          if (wt) tq = tq * loadu(wt + i);
                          return loadu(e + i) * f - tq;
                        },
                        [&](int64_t i, T f) {
                          V tq = fmadd(set1(q[i]), a1, a0);
                          if (wt) tq = tq * set1(wt[i]);
                          return first(set1(e[i]) * set1(f) - tq);
                        });
    } else {
      write_row_chunked(st, g, C, w.ref,
                        [&](int64_t i, V f) {
                          V v = loadu(e + i) * f;
                          if (eps > 0) v = v - (wt ? loadu(wt + i) * vk : vk);
                          if (static_cast<uint64_t>(t - i) < static_cast<uint64_t>(V::N)) v = v - lane_is<T>(t - i) * vhit;
                          return v;
                        },
                        [&](int64_t i, T f) {
                          V v = set1(e[i]) * set1(f);
                          if (eps > 0) v = v - (wt ? set1(wt[i]) * vk : vk);
                          if (i == t) v = v - vhit;
                          return first(v);
                        });
    }
  });
}
