// Cross-entropy forward and gradient, fused: a policy of the row engine
// (one read of the logits row, one write of the gradient row).
//
// With lse = log sum_c exp(x_c), p_c = exp(x_c - lse), eps = label smoothing,
// w = class weights (1 when absent), W = sum_c w_c (PyTorch's definition):
//   index target t:  loss = (1-eps) w_t (lse - x_t) + eps/C sum_c w_c (lse - x_c)
//                    grad = p_c ((1-eps) w_t + eps W / C) - (1-eps) w_t [c = t] - eps/C w_c
//   probabilities q: q'_c = (1-eps) q_c + eps/C,  Q = sum_c w_c q'_c
//                    loss = sum_c w_c q'_c (lse - x_c),  grad = p_c Q - w_c q'_c
//   z_loss adds z lse^2 to the loss and 2 z lse p_c to the gradient.
// A sum of c (lse - x_c) is taken as (sum c)(lse - M) + sum c (M - x_c), M
// the row's max: its terms are >= 0, so huge logits do not cancel.
// The gradient is scaled by grad_scale (1/sum of weights for "mean"); its
// float64 p_c times their factor is rounded once (exact-inl.h).
// Tiny rows run down the columns of a transposed tile (xent-tiny-inl.h).
// With a given lse (CrossEntropyArgs), x is a slice of the classes: p_c =
// exp(x_c - M) exp(M - lse), and the loss terms are the slice's share.
#pragma once

// Plain: index targets, no weights and no smoothing (the common case),
// whose gradient writer leaves out the tests of those per vector.
template <class T, bool Plain>
struct CrossEntropyPolicy {
  using V = Vec<T>;
  struct Row {
    int64_t target;  // class index (-1: probabilities), or the ignore value
    bool ignored;
    double hit;      // subtracted at c == target
    ProbShift shift; // float64: the probabilities' shift (exact-inl.h) ...
    double g;        // ... and their factor in the gradient
  };
  static constexpr bool kExps = !kExactProbs<T>, kSplit = false, kOutput = true;
  static constexpr PerRow kPerRow = PerRow::kLogS;
  const CrossEntropyArgs<T>& a;
  T* out;
  int64_t ldo;
  const T* cw;       // the weights of x's classes (null: all 1)
  double eps, z, gs;
  double Wsum, Wx;   // the sum of all class weights, and of x's classes' weights
  V vk;              // grad_scale eps / num_classes

  explicit CrossEntropyPolicy(const CrossEntropyArgs<T>& args)
      : a(args), out(args.grad), ldo(args.ldg), cw(args.weight ? args.weight + args.class_offset : nullptr),
        eps(args.label_smoothing), z(args.z_loss), gs(args.grad_scale), Wsum(static_cast<double>(args.num_classes)),
        Wx(static_cast<double>(args.C)), vk(set1(static_cast<T>(gs * eps / static_cast<double>(args.num_classes)))) {
    if (a.weight) {
      Wsum = Wx = 0.0;
      for (int64_t c = 0; c < a.num_classes; ++c) Wsum += a.weight[c];
      for (int64_t c = 0; c < a.C; ++c) Wx += cw[c];
    }
  }

  bool skip(int64_t r) const { return a.target && a.target[r] == a.ignore_index; }
  void skipped(int64_t r, Row& row) const {
    a.row_loss[r] = 0.0;
    row = {a.target[r], true, 0.0, {0.0, 0.0, 0.0}, 0.0};
  }
  // q' = (1-eps) q + eps/C, times the class weight, for the lanes of [i, i + left)
  V weighted_q(const T* q, int64_t i, int64_t left) const {
    V v = fmadd(load_n(q + i, left), set1(static_cast<T>(1.0 - eps)), set1(static_cast<T>(eps / a.C)));
    if (left < V::N) v = select(lanes_below<T>(left), v, set1(T(0)));
    return cw ? v * load_n(cw + i, left) : v;
  }
  // c (M - x), 0 where c = 0: a class masked with a -inf logit and no target
  // mass (or weight) adds nothing (0 log 0 = 0), where the product would be NaN.
  static V times_gap(V c, V M, V x) { return select(neq(c, set1(T(0))), c * (M - x), set1(T(0))); }
  // Row r's loss from lse = M + log S (or the lse given); returns the
  // factor of exp(x_c - M) in its gradient (float64: of p_c, g).
  double finish(int64_t r, const RowStats<T>& st, double logS, Row& row) const {
    const T* x = a.x + r * a.ldx;
    const T M = st.M;
    double S = st.S, S_lo = st.S_lo;
    if (!a.lse) {  // where one term dominates, the others summed again apart (a second read)
      const LogSum ls = log_sum_exact(x, a.C, UnitScale<T>(), st, logS);
      S = ls.S;
      S_lo = ls.S_lo;
      logS = ls.L;
    }
    // float64: what log S rounded away (exact-inl.h)
    const double L_lo = kExactProbs<T> && !a.lse ? log_rest(S, S_lo, logS) : 0.0;
    const double lse = a.lse ? a.lse[r] : static_cast<double>(M) + logS;
    const double above_max = a.lse ? lse - static_cast<double>(M) : logS;  // lse - M
    const V vM = set1(M);
    const double Ct = static_cast<double>(a.num_classes);
    const int64_t C = a.C, t = a.target ? a.target[r] : -1, local = t - a.class_offset;
    const bool here = a.probs || static_cast<uint64_t>(local) < static_cast<uint64_t>(C);  // the target is in x
    double loss, pcoef, hit = 0.0;  // pcoef: the multiplier of p_c in the gradient (before grad_scale)
    if (a.probs) {
      const T* q = a.probs + r * a.ldp;
      const double Q = chunked_sum<T>(C, [&](int64_t i, int64_t left) { return weighted_q(q, i, left); });
      const double D = chunked_sum<T>(C, [&](int64_t i, int64_t left) {
        return times_gap(weighted_q(q, i, left), vM, load_n(x + i, left));
      });
      loss = Q * above_max + D;
      pcoef = Q;
    } else {
      const double wy = a.weight ? static_cast<double>(a.weight[t]) : 1.0;
      if (here) {  // x[local] exists only then
        // lse - x_t as (M - x_t) + log S: no cancellation of a huge M against a huge x_t, and
        // where x_t is the row's one maximum the loss is log S = log1p(the other terms)
        const double margin = a.lse ? lse - static_cast<double>(x[local])
                                    : sum_rounded_once(static_cast<double>(M), -static_cast<double>(x[local]), logS, L_lo);
        loss = (1.0 - eps) * wy * margin;
      } else {
        loss = 0.0;
      }
      pcoef = (1.0 - eps) * wy;
      if (eps > 0) {
        const double D = chunked_sum<T>(C, [&](int64_t i, int64_t left) {
          const V c = cw ? load_n(cw + i, left) : set1(T(1));
          const V gap = times_gap(c, vM, load_n(x + i, left));
          return left < V::N ? select(lanes_below<T>(left), gap, set1(T(0))) : gap;
        });
        loss += eps / Ct * (Wx * above_max + D);
        pcoef += eps * Wsum / Ct;
      }
      hit = here ? gs * (1.0 - eps) * wy : 0.0;
    }
    if (z != 0) {
      if (a.class_offset == 0) loss += z * lse * lse;  // once per row: in the slice of class 0
      pcoef += 2.0 * z * lse;
    }
    a.row_loss[r] = loss;
    row = {here ? local : -1, false, hit, {0.0, 0.0, 0.0}, gs * pcoef};
    if constexpr (kExactProbs<T>) {
      row.shift = a.lse ? ProbShift{-lse, 0.0, 0.0} : prob_shift(M, logS, L_lo, UnitScale<T>());
      return row.g;
    }
    return a.lse ? gs * pcoef * exp(static_cast<double>(M) - lse) : gs * pcoef / S;
  }
  // The writer of gradient row r's elements [off, off + len): e = their exp
  // values, factors = their chunk factors.
  template <bool Stream, class Exps>
  auto writer(int64_t r, int64_t off, int64_t len, const Exps& e, const ChunkFactors<T>& factors,
              const Row& row) const {
    const T* q = a.probs ? a.probs + r * a.ldp + off : nullptr;
    const T* wt = cw ? cw + off : nullptr;
    const V a1 = set1(static_cast<T>(gs * (1.0 - eps))), vhit = set1(static_cast<T>(row.hit)), vk_ = vk;
    const int64_t t = row.target - off;
    const bool ign = row.ignored, smooth = eps > 0;
    const V zero = set1(T(0));
    // p_i times the row's factor: e_i f (e_i the exp values, f the chunk
    // factor), or for float64 rounded once from x (exact-inl.h)
    const auto exact = exact_probs_of(a.x + r * a.ldx + off, row.shift, row.g, UnitScale<T>());
    auto prob = [=](int64_t i, const Factor<T>& f) {
      if constexpr (kExactProbs<T>) return exact.vec(i);
      else return times(e.vec(i), f);
    };
    auto prob_one = [=](int64_t i, const Factor<T>& f) {
      if constexpr (kExactProbs<T>) return set1(exact.one(i));
      else return times(set1(e.one(i)), f);
    };
    // the gradient at p_f = p_i times the factor, q_i, w_i (unused when absent)
    auto grad = [=](V v, V q_i, V w_i) {
      if (Plain) return v;
      if (q) {
        const V tq = fmadd(q_i, a1, vk_);
        return v - (wt ? tq * w_i : tq);
      }
      if (smooth) v = v - (wt ? w_i * vk_ : vk_);
      return v;
    };
    auto vec = [=](int64_t i, const Factor<T>& f) {
      if (ign) return zero;
      V v = Plain ? prob(i, f) : grad(prob(i, f), q ? loadu(q + i) : zero, wt ? loadu(wt + i) : zero);
      if ((Plain || !q) && static_cast<uint64_t>(t - i) < static_cast<uint64_t>(V::N)) v = v - lane_is<T>(t - i) * vhit;
      return v;
    };
    auto one = [=](int64_t i, const Factor<T>& f) {
      if (ign) return T(0);
      V v = grad(prob_one(i, f), q ? set1(q[i]) : zero, wt ? set1(wt[i]) : zero);
      if ((Plain || !q) && i == t) v = v - vhit;
      return first(v);
    };
    const ChunkFactors<T> used = ign || kExactProbs<T> ? ChunkFactors<T>() : factors;
    return chunk_writer<Stream>(out + r * ldo + off, len, used, vec, one);
  }
  void tiny(TinyTile<T>& tile, int64_t b, int64_t count, int64_t last) const {
    if (a.probs) xent_tiny_probs(*this, tile, b, count, last);
    else xent_tiny_indices(*this, tile, b, count);
  }
};

template <class T>
void cross_entropy(const Context& ctx, const CrossEntropyArgs<T>& a) {
  if (a.rows <= 0 || a.C <= 0) return;
  const RowInput<T> in{a.x, a.ldx, nullptr, 0, a.rows, a.C};
  with_flag(a.grad && !a.probs && a.label_smoothing == 0 && !a.weight, [&](auto plain) {
    CrossEntropyPolicy<T, decltype(plain)::value> p(a);
    run_rows<false>(ctx, in, UnitScale<T>(), p);
  });
}
