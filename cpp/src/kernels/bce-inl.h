// Binary cross-entropy with logits, element-wise. PyTorch's loss
//   (1 - t) x + (1 + (pw - 1) t) softplus(-x)
// is computed in the equal form (1 - t) softplus(x) + pw t softplus(-x),
// which keeps full relative accuracy for x << 0 (no x + softplus(-x)
// cancellation); softplus(+-x) = log1p(exp(-|x|)) + max(+-x, 0).
//   dl/dx = (1 - t) + (1 + (pw - 1) t) (sigmoid(x) - 1)
// times the element weight, evaluated as lw q - pw t for x < 0 and as
// (1 - t) - lw q for x >= 0, with lw = 1 + (pw - 1) t and q = sigmoid(-|x|)
// = e / (1 + e): neither form rounds a sigmoid near 1, so the gradient
// cancels only where its two terms truly do (sigmoid(x) near t).
//
// Vectorised in the input's precision: e = exp(-|x|) (exp-inl.h), log1p(e)
// by vlog1p_unit (log-inl.h: no rounding of 1 + e, so softplus keeps its
// relative accuracy for every |x|: measured 1 ulp in double).
// exp(-|x|) below the smallest normal (|x| > 87.3 in float, 708.4 in
// double) is 0, so a loss that small reads 0. Losses are summed by
// chunked_sum (float chunk sums, added in double).
// Rows longer than kSegment are cut into kSegment pieces (several threads
// for a few long rows); their partial sums are added in piece order, so a
// row's sum is the same for any thread count.
#pragma once

// Vec<T>::N elements p[0], p[stride], ...; lanes from `left` on are 0.
template <class T>
inline Vec<T> load_strided(const T* p, int64_t stride, int64_t left) {
  constexpr int64_t N = Vec<T>::N;
  if (stride == 1) return load_n(p, left);
  if (stride == 0) return set1(*p);
  alignas(64) T lanes[N];
  for (int64_t k = 0; k < N; ++k) lanes[k] = k < left ? p[k * stride] : T(0);
  return loadu(lanes);
}

// Elements [lo, hi) of row r: writes the element losses and gradients asked
// for and returns the sum of the losses.
template <class T>
inline double bce_piece(const BceArgs<T>& a, int64_t r, int64_t lo, int64_t hi) {
  using V = Vec<T>;
  constexpr int64_t N = V::N;
  const V one = set1(T(1)), zero = set1(T(0)), grad_scale = set1(static_cast<T>(a.grad_scale));
  const T* x = a.x + r * a.ldx;
  const T* t = a.t + r * a.ldt;
  // elements [lo + j, lo + j + min(left, N)): their losses (other lanes 0), their outputs written
  auto step = [&](int64_t j, int64_t left) FSM_HOT_LAMBDA {
    const int64_t i = lo + j;
    const V xv = load_n(x + i, left), tv = load_n(t + i, left);
    const V w = a.w ? load_strided(a.w + r * a.ldw + i * a.cw, a.cw, left) : one;
    const V pw = a.pw ? load_strided(a.pw + r * a.ldpw + i * a.cpw, a.cpw, left) : one;
    const V e = vexp_bounded(zero - vmax(xv, zero - xv));  // exp(-|x|); NaN stays NaN
    const V log1p_e = vlog1p_unit(e);
    const V softplus_pos = log1p_e + vmax(xv, zero), softplus_neg = log1p_e + vmax(zero - xv, zero);
    const V loss = w * ((one - tv) * softplus_pos + (pw * tv) * softplus_neg);
    if (a.loss) store_lanes(a.loss + r * a.ldl + i, left, loss);
    if (a.grad) {
      const V q = e / (one + e);  // sigmoid(-|x|)
      const V lw = one + (pw - one) * tv;
      const V dl = select(lt(xv, zero), lw * q - pw * tv, (one - tv) - lw * q);
      store_lanes(a.grad + r * a.ldgr + i, left, grad_scale * w * dl);
    }
    return left >= N ? loss : select(lanes_below<T>(left), loss, zero);
  };
  return chunked_sum<T>(hi - lo, step);
}

template <class T>
void bce(const Context& ctx, const BceArgs<T>& a) {
  if (a.rows <= 0) return;
  piecewise_row_sums(ctx, a.rows, a.n, a.n > kSegment, a.rows * a.n * 8, a.row_loss,
                     [&](int64_t r, int64_t lo, int64_t len) { return bce_piece(a, r, lo, lo + len); });
}
