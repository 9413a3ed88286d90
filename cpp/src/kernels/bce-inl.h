// Binary cross-entropy with logits, element-wise. PyTorch's loss
//   (1 - t) x + (1 + (pw - 1) t) softplus(-x)
// is computed in the equal form (1 - t) softplus(x) + pw t softplus(-x),
// which keeps full relative accuracy for x << 0 (no x + softplus(-x)
// cancellation); softplus(+-x) = log1p(exp(-|x|)) + max(+-x, 0).
//   dl/dx = (1 - t) + (1 + (pw - 1) t) (sigmoid(x) - 1)
// times the element weight.
//
// Vectorised in double (float inputs widened exactly, results rounded once).
// With e = exp(-|x|), log1p(e) by vlog1p_unit (log-inl.h: no rounding of
// 1 + e, so softplus keeps ~1 ulp of double for every |x|), and
//   sigmoid(x) - 1 = -(x < 0 ? 1 : e) / (1 + e). exp(-|x|) below
// the smallest normal double (|x| > 708.4) is 0, so a loss below 2.2e-308
// reads 0.
// Rows longer than kSegment are cut into kSegment pieces (several threads
// for a few long rows); their partial sums are added in piece order, so a
// row's sum is the same for any thread count.
#pragma once

// Vec<double>::N elements p[0], p[stride], ... as doubles; lanes from `left`
// on are 0.
template <class T>
inline Vec<double> load_as_double(const T* p, int64_t stride, int64_t left) {
  constexpr int64_t N = Vec<double>::N;
  if (stride == 1) return left >= N ? load_widened(p) : load_widened_partial(p, left);
  if (stride == 0) return set1(static_cast<double>(*p));
  alignas(64) double lanes[N];
  for (int64_t k = 0; k < N; ++k) lanes[k] = k < left ? static_cast<double>(p[k * stride]) : 0.0;
  return loadu(lanes);
}

// The first min(left, N) lanes of v into p, rounded to T.
template <class T>
inline void store_from_double(T* p, Vec<double> v, int64_t left) {
  constexpr int64_t N = Vec<double>::N;
  if (left >= N) return store_narrowed(p, v);
  alignas(64) double lanes[N];
  storeu(lanes, v);
  for (int64_t k = 0; k < left; ++k) p[k] = static_cast<T>(lanes[k]);
}

// Elements [lo, hi) of row r: writes the element losses and gradients asked
// for and returns the sum of the losses.
template <class T>
inline double bce_piece(const BceArgs<T>& a, int64_t r, int64_t lo, int64_t hi) {
  using V = Vec<double>;
  constexpr int64_t N = V::N;
  const V one = set1(1.0), zero = set1(0.0), grad_scale = set1(a.grad_scale);
  const T* x = a.x + r * a.ldx;
  const T* t = a.t + r * a.ldt;
  // one vector's losses (lanes past hi zeroed), its outputs written
  auto step = [&](int64_t i) FSM_HOT_LAMBDA {
    const int64_t left = hi - i;
    const V xv = load_as_double(x + i, 1, left), tv = load_as_double(t + i, 1, left);
    const V w = a.w ? load_as_double(a.w + r * a.ldw + i * a.cw, a.cw, left) : one;
    const V pw = a.pw ? load_as_double(a.pw + r * a.ldpw + i * a.cpw, a.cpw, left) : one;
    const V e = vexp_bounded(zero - vmax(xv, zero - xv));  // exp(-|x|); NaN stays NaN
    const V log1p_e = vlog1p_unit(e);
    const V softplus_pos = log1p_e + vmax(xv, zero), softplus_neg = log1p_e + vmax(zero - xv, zero);
    const V loss = w * ((one - tv) * softplus_pos + (pw * tv) * softplus_neg);
    if (a.loss) store_from_double(a.loss + r * a.ldl + i, loss, left);
    if (a.grad) {
      const V sigmoid_minus_1 = zero - select(lt(xv, zero), one, e) / (one + e);
      const V lw = one + (pw - one) * tv;
      store_from_double(a.grad + r * a.ldgr + i, grad_scale * w * ((one - tv) + lw * sigmoid_minus_1), left);
    }
    return left >= N ? loss : select(lanes_below<double>(left), loss, zero);
  };
  V sum = zero;
  int64_t i = lo;
  for (; i + 2 * N <= hi; i += 2 * N) {  // two vectors a step: their long exp-log chains overlap
    const V first = step(i), second = step(i + N);
    sum = sum + first;
    sum = sum + second;
  }
  for (; i < hi; i += N) sum = sum + step(i);
  return hsum(sum);
}

template <class T>
void bce(const BceArgs<T>& a) {
  const int64_t rows = a.rows, n = a.n;
  if (rows <= 0) return;
  const int64_t pieces = n > kSegment ? ceil_div(n, kSegment) : 1, items = rows * pieces;
  Buffer partial_sums(pieces > 1 ? static_cast<size_t>(items) * sizeof(double) : 0);
  double* part = pieces > 1 ? partial_sums.at<double>(0) : a.row_loss;
  parallel_for(items, threads_for(items, rows * n * 8), [&](int, int64_t it) {
    const int64_t r = it / pieces, lo = (it % pieces) * kSegment;
    part[it] = bce_piece(a, r, lo, min64(n, lo + kSegment));
  });
  if (pieces == 1) return;
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0.0;
    for (int64_t k = 0; k < pieces; ++k) sum += part[r * pieces + k];
    a.row_loss[r] = sum;
  }
}
