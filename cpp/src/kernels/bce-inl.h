// Binary cross-entropy with logits, element-wise. PyTorch's loss
//   (1 - t) x + (1 + (pw - 1) t) softplus(-x)
// is computed in the equal form (1 - t) softplus(x) + pw t softplus(-x),
// which keeps full relative accuracy for x << 0 (no x + softplus(-x)
// cancellation); softplus(+-x) = log1p(exp(-|x|)) + max(+-x, 0).
//   dl/dx = (1 - t) + (1 + (pw - 1) t) (sigmoid(x) - 1)
// times the element weight. Computed in double with libm (log1p keeps
// softplus exact for large |x|); row sums in double for the reductions.
#pragma once

template <class T>
void bce(const BceArgs<T>& a) {
  const int64_t rows = a.rows, n = a.n;
  if (rows <= 0) return;
  parallel_for(rows, threads_for(rows, rows * n * 8), [&](int, int64_t r) {
    const T* x = a.x + r * a.ldx;
    const T* t = a.t + r * a.ldt;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double xi = x[i], ti = t[i];
      const double wi = a.w ? static_cast<double>(a.w[r * a.ldw + i * a.cw]) : 1.0;
      const double pwi = a.pw ? static_cast<double>(a.pw[r * a.ldpw + i * a.cpw]) : 1.0;
      const double lw = 1.0 + (pwi - 1.0) * ti;
      const double l1p = log1p(exp(-fabs(xi)));
      const double sp_neg = l1p + (xi < 0 ? -xi : 0.0), sp_pos = l1p + (xi > 0 ? xi : 0.0);
      const double l = wi * ((1.0 - ti) * sp_pos + pwi * ti * sp_neg);
      sum += l;
      if (a.loss) a.loss[r * a.ldl + i] = static_cast<T>(l);
      if (a.grad) {
        // sigmoid(x) - 1 = -sigmoid(-x), without overflow for either sign
        const double e = exp(-fabs(xi));
        const double sig_m1 = xi >= 0 ? -e / (1.0 + e) : -1.0 / (1.0 + e);
        a.grad[r * a.ldgr + i] = static_cast<T>(a.grad_scale * wi * ((1.0 - ti) + lw * sig_m1));
      }
    }
    a.row_loss[r] = sum;
  });
}
