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
// p_c comes from the exp values kept by row_stats, rescaled once per chunk,
// or, for rows too long to keep (keep_exps), computed again by the writer.
// Rows of at most short_row_max classes go in blocks of one row per vector
// lane (shortrows-inl.h), each row's loss computed from its block's
// statistics; rows of at most tiny_row_max classes go transposed, a row per
// lane (tinyrows-inl.h).
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
  const double eps = a.label_smoothing, z = a.z_loss, gs = a.grad_scale;
  double Wsum = static_cast<double>(C);
  if (a.weight) {
    Wsum = 0.0;
    for (int64_t c = 0; c < C; ++c) Wsum += a.weight[c];
  }
  const int nt = threads_for(rows, rows * C);
  const bool blocks = C <= short_row_max<T>();
  const bool st = want_grad && stream_output(a.grad, a.ldg, rows, C);
  const T* wt = a.weight;
  const V vk = set1(static_cast<T>(gs * eps / static_cast<double>(C)));
  auto ignored = [&](int64_t r) { return a.target && a.target[r] == a.ignore_index; };

  // Row r's loss from lse = M + log S; fills its writer state and returns
  // the factor of exp(x_c - M) in its gradient (before chunk factors).
  auto finish_row = [&](int64_t r, double lse, double S, XentRowState& rs_out) FSM_HOT_LAMBDA {
    const T* x = a.x + r * a.ldx;
    const int64_t t = a.target ? a.target[r] : -1;
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
    return gs * pcoef / S;
  };
  auto ignore_row = [&](int64_t r, XentRowState& rs_out) {
    a.row_loss[r] = 0.0;
    rs_out = {a.target[r], true, 0.0};
  };

  // Tiny rows with probability targets (tinyrows-inl.h): the target rows
  // are transposed too, and Q = sum w q', D = sum w q' x run down the
  // columns before the exp values replace x; the gradient is the row
  // path's, a column at a time.
  if (a.probs && C <= tiny_row_max<T>()) {
    constexpr int N = V::N, ND = Vec<double>::N;
    const V a1 = set1(static_cast<T>(1.0 - eps)), a0 = set1(static_cast<T>(eps / static_cast<double>(C)));
    const V a1g = set1(static_cast<T>(gs * (1.0 - eps)));
    tiny_blocks<T>(rows, nt, [&](int64_t b, int64_t count, int64_t last) {
      TinyTile<T> tile, qt;
      tile.load(a.x, a.ldx, b, last, C);
      qt.load(a.probs, a.ldp, b, last, C);
      V Q = set1(T(0)), D = Q;
      for (int64_t j = 0; j < C; ++j) {
        V qp = fmadd(qt.col[j], a1, a0);
        if (wt) qp = qp * set1(wt[j]);
        Q = Q + qp;
        D = D + qp * tile.col[j];
      }
      if (want_grad) tile.template stats<true>(C, UnitScale<T>());
      else tile.template stats<false>(C, UnitScale<T>());
      // loss = Q lse - D (+ z lse^2), gradient factor grad_scale (Q + 2 z lse) / S, in double
      alignas(64) double Sd[N], logS[N], Md[N], Qd[N], Dd[N], loss[N], fac[N];
      lanes_to_double(tile.S, Sd);
      per_row_in_double<T>(Sd, logS, [](Vec<double> v) { return vlog(v); });
      lanes_to_double(tile.M, Md);
      lanes_to_double(Q, Qd);
      lanes_to_double(D, Dd);
      for (int k = 0; k < N; k += ND) {
        const Vec<double> lse = loadu(Md + k) + loadu(logS + k), q = loadu(Qd + k);
        Vec<double> l = q * lse - loadu(Dd + k), pc = q;
        if (z != 0) {
          l = l + set1(z) * lse * lse;
          pc = pc + set1(2.0 * z) * lse;
        }
        storeu(loss + k, l);
        storeu(fac + k, set1(gs) * pc / loadu(Sd + k));
      }
      for (int64_t k = 0; k < count; ++k) a.row_loss[b + k] = loss[k];
      if (!want_grad) return;
      const V vf = lanes_from_double<T>(fac);
      for (int64_t j = 0; j < C; ++j) {
        const V tq = fmadd(qt.col[j], a1g, vk);
        tile.col[j] = tile.col[j] * vf - (wt ? tq * set1(wt[j]) : tq);
      }
      tile.store(a.grad, a.ldg, b, count, C);
    });
    return;
  }

  // Tiny rows with index targets (tinyrows-inl.h): the gradient runs down
  // the columns, each lane's target compared with the column's class.
  if (C <= tiny_row_max<T>()) {
    constexpr int N = V::N;
    const bool plain = !wt && eps == 0 && z == 0;  // no weights, smoothing or z_loss
    tiny_blocks<T>(rows, nt, [&](int64_t b, int64_t count, int64_t last) {
      TinyTile<T> tile;
      tile.load(a.x, a.ldx, b, last, C);
      if (want_grad) tile.template stats<true>(C, UnitScale<T>());
      else tile.template stats<false>(C, UnitScale<T>());
      alignas(64) double Sd[N], logS[N];
      alignas(64) T Ms[N], target[N];
      V f, vhit, vlive;  // per row: gradient factor, what the target class loses, 1 unless ignored
      lanes_to_double(tile.S, Sd);
      per_row_in_double<T>(Sd, logS, [](Vec<double> s) { return vlog(s); });
      storeu(Ms, tile.M);
      if (plain) {
        // loss = M + log S - x_t, gradient factor grad_scale / S: N rows at once in double
        alignas(64) double Md[N], xt[N], alive[N], loss[N], factor[N], hits[N];
        for (int k = 0; k < N; ++k) {
          const bool on = k < count && !ignored(b + k);
          const int64_t t = on ? a.target[b + k] : 0;
          Md[k] = Ms[k];
          xt[k] = on ? static_cast<double>(a.x[(b + k) * a.ldx + t]) : 0.0;
          alive[k] = on ? 1.0 : 0.0;
          target[k] = on ? static_cast<T>(t) : T(-1);
        }
        const Vec<double> vgs = set1(gs), zero = set1(0.0);
        for (int k = 0; k < N; k += Vec<double>::N) {
          const Vec<double> on = loadu(alive + k);
          storeu(loss + k, select(neq(on, zero), loadu(Md + k) + loadu(logS + k) - loadu(xt + k), zero));
          storeu(factor + k, vgs / loadu(Sd + k) * on);
          storeu(hits + k, vgs * on);
        }
        f = lanes_from_double<T>(factor);
        vhit = lanes_from_double<T>(hits);
        vlive = lanes_from_double<T>(alive);
        for (int k = 0; k < count; ++k) a.row_loss[b + k] = loss[k];
      } else {
        alignas(64) T pscale[N], hit[N], live[N];
        for (int k = 0; k < N; ++k) {
          pscale[k] = hit[k] = live[k] = T(0);
          target[k] = T(-1);
          XentRowState rs;
          if (k >= count) continue;
          if (ignored(b + k)) {
            ignore_row(b + k, rs);
            continue;
          }
          pscale[k] = static_cast<T>(finish_row(b + k, static_cast<double>(Ms[k]) + logS[k], Sd[k], rs));
          hit[k] = static_cast<T>(rs.hit);
          live[k] = T(1);
          target[k] = static_cast<T>(rs.target);
        }
        f = loadu(pscale);
        vhit = loadu(hit);
        vlive = loadu(live);
      }
      if (!want_grad) return;
      const V vt = loadu(target), zero = set1(T(0));
      const V smooth = vlive * vk;
      const auto is_live = neq(vlive, zero);  // ignored rows get 0, even from NaN logits
      for (int64_t j = 0; j < C; ++j) {
        V g = tile.col[j] * f;
        if (eps > 0) g = g - (wt ? set1(wt[j]) * smooth : smooth);
        g = g - select(neq(vt, set1(static_cast<T>(j))), zero, vhit);
        tile.col[j] = select(is_live, g, zero);
      }
      tile.store(a.grad, a.ldg, b, count, C);
    });
    return;
  }

  const int per_slot = blocks ? V::N : 1;  // rows whose state a slot holds
  const bool keep = want_grad && keep_exps<T>(C);
  const WorkArrays<T> work(2 * nt, blocks ? block_shape<T>(C, want_grad) : row_shape<T>(C, keep));
  Buffer state(sizeof(XentRowState) * 2 * nt * per_slot);
  XentRowState* rstate = state.at<XentRowState>(0);  // per (worker, slot) and row of the slot

  // Ordinary rows (pipeline-inl.h), their exp values kept for the gradient
  // (Keep) or computed again by its writer (RecomputedExps, keep_exps).
  auto row_loss = [&](auto keep_flag, int worker, int64_t r, int slot, auto& out) FSM_HOT_LAMBDA {
    constexpr bool Keep = decltype(keep_flag)::value;
    XentRowState& rs_out = rstate[slot_index(worker, slot)];
    if (ignored(r)) {
      ignore_row(r, rs_out);
      out.write_all();
      return;
    }
    const T* x = a.x + r * a.ldx;
    const ChunkArrays<T> w = work[slot_index(worker, slot)];
    const RowStats<T> rs = row_stats<Keep, false>(x, static_cast<const T*>(nullptr), C, UnitScale<T>(), w, out);
    const double pscale = finish_row(r, static_cast<double>(rs.M) + log(rs.S), rs.S, rs_out);
    if (want_grad) writer_factors<Keep>(w, ceil_div(C, chunk_len<T>()), pscale);
  };

  // Short rows (shortrows-inl.h): rows r to r + count - 1 of a block, their
  // statistics in w; factor[k] becomes row k's gradient factor.
  auto block_loss = [&](int slot, const ChunkArrays<T>& w, int64_t r, int64_t count) {
    per_row_in_double(w, [](Vec<double> S) { return vlog(S); });
    for (int64_t k = 0; k < count; ++k) {
      XentRowState& rs_out = rstate[slot * V::N + k];
      if (ignored(r + k)) {
        ignore_row(r + k, rs_out);
        continue;
      }
      const double pscale = finish_row(r + k, static_cast<double>(w.ref[k]) + w.fac[k], w.csum[k], rs_out);
      w.factor[k] = static_cast<T>(pscale);
    }
  };

  // The writer of row r's gradient: e = its exp values (KeptExps or
  // RecomputedExps), factors = its chunk factors. Per-row values are copied
  // into the lambdas, which outlive this call. Plain (index targets, no
  // smoothing, no weights: the common case) leaves out the tests of those
  // per vector.
  auto grad_writer = [&](auto stream, auto plain, const XentRowState& rs, const auto& e, const T* factors, int64_t r) {
    constexpr bool Plain = decltype(plain)::value;
    const T* q = a.probs ? a.probs + r * a.ldp : nullptr;
    const V a1 = set1(static_cast<T>(gs * (1.0 - eps))), vhit = set1(static_cast<T>(rs.hit));
    const int64_t t = rs.target;
    const bool ign = rs.ignored;
    const V zero = set1(T(0));
    // the gradient at e_i = exp values, f = chunk factor, q_i, w_i (unused when absent)
    auto grad = [=](V e_i, V f, V q_i, V w_i) {
      V v = e_i * f;
      if (Plain) return v;
      if (q) {
        const V tq = fmadd(q_i, a1, vk);
        return v - (wt ? tq * w_i : tq);
      }
      if (eps > 0) v = v - (wt ? w_i * vk : vk);
      return v;
    };
    auto vec = [=](int64_t i, V f) {
      if (ign) return zero;
      V v = Plain ? e.vec(i) * f : grad(e.vec(i), f, q ? loadu(q + i) : zero, wt ? loadu(wt + i) : zero);
      if ((Plain || !q) && static_cast<uint64_t>(t - i) < static_cast<uint64_t>(V::N)) v = v - lane_is<T>(t - i) * vhit;
      return v;
    };
    auto one = [=](int64_t i, T f) {
      if (ign) return T(0);
      V v = grad(set1(e.one(i)), set1(f), q ? set1(q[i]) : zero, wt ? set1(wt[i]) : zero);
      if ((Plain || !q) && i == t) v = v - vhit;
      return first(v);
    };
    return chunk_writer<decltype(stream)::value>(a.grad + r * a.ldg, C, ign ? nullptr : factors, vec, one);
  };

  if (blocks) {
    with_flag(want_grad, [&](auto keep) {
      constexpr bool Keep = decltype(keep)::value;
      auto block_rows_with = [&](const auto& writer_for) {
        // the gradient rows, prefetched unless absent or streamed past the cache
        block_rows<Keep>(a.x, a.ldx, rows, C, UnitScale<T>(), nt, work, block_loss, writer_for,
                         Keep && !st ? a.grad : nullptr, a.ldg);
      };
      if constexpr (!Keep) {
        block_rows_with([](int, const ChunkArrays<T>&, int, int64_t) { return NoWriter(); });
      } else {
        with_flag(st, [&](auto stream) {
          with_flag(!a.probs && eps == 0 && !wt, [&](auto plain) {
            block_rows_with([&](int slot, const ChunkArrays<T>& w, int k, int64_t r) {
              return grad_writer(stream, plain, rstate[slot * V::N + k], KeptExps<T>{w.exps + k * C}, w.factor + k, r);
            });
          });
        });
      }
    });
  } else if (want_grad) {
    with_flag(keep, [&](auto keep_flag) {
      constexpr bool Keep = decltype(keep_flag)::value;
      with_flag(st, [&](auto stream) {
        with_flag(!a.probs && eps == 0 && !wt, [&](auto plain) {
          pipelined_rows(
              rows, nt, a.x, a.ldx,
              [&](int worker, int64_t r, int slot, auto& out) FSM_HOT_LAMBDA { row_loss(keep_flag, worker, r, slot, out); },
              [&](int worker, int64_t r, int slot) {
                const ChunkArrays<T> w = work[slot_index(worker, slot)];
                const XentRowState& rs = rstate[slot_index(worker, slot)];
                if constexpr (Keep) return grad_writer(stream, plain, rs, KeptExps<T>{w.exps}, w.factor, r);
                else return grad_writer(stream, plain, rs, recomputed_exps(a.x + r * a.ldx, UnitScale<T>(), w.ref), w.factor, r);
              });
        });
      });
    });
  } else {
    parallel_for(rows, nt, [&](int worker, int64_t r) {
      NoWriter none;
      row_loss(Flag<false>(), worker, r, 0, none);
    });
  }
}
