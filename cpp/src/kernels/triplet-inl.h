// Triplet loss over a batch (Hermans, Beyer & Leibe 2017), after its
// pairwise distance matrix d (a BLAS product, in Python): the mining, the
// hinge and, for batch-hard, the gradient with respect to the embeddings;
// for batch-all, the gradient with respect to d (whose chain rule to the
// embeddings is two BLAS products, in Python).
// A triplet's term is h(v), v = (d_ap - d_an) f (f undoes the embeddings'
// power-of-2 scaling, so is applied in double): max(0, v + margin), or
// log(1 + e^v) when soft. Losses and slopes are in double.
#pragma once

// The triplet term h(v) and its slope h'(v).
template <bool Soft>
inline double triplet_term(double v, double margin, double& slope) {
  if (Soft) {
    const double loss = v > 0 ? v + log1p(exp(-v)) : log1p(exp(v));
    slope = exp(v - loss);  // sigmoid(v)
    return loss;
  }
  const double t = v + margin;
  slope = t > 0 ? 1.0 : 0.0;
  return t > 0 ? t : 0.0;
}

// The distance of rows xa, xb of length n from their difference (exact for
// close points, where d's |a|^2 + |b|^2 - 2 a.b cancels), and the factor k
// of its derivative: d/dxa = k (xa - xb) (euclidean, squared), or, for
// cosine (1 - xa.xb), d/dxa = -xb.
template <class T>
inline double pair_distance(const T* xa, const T* xb, int64_t n, int distance, double& k) {
  double s = 0.0;
  if (distance == kTripletCosine) {
    for (int64_t j = 0; j < n; ++j) s += static_cast<double>(xa[j]) * static_cast<double>(xb[j]);
    k = -1.0;
    return 1.0 - s;
  }
  for (int64_t j = 0; j < n; ++j) {
    const double e = static_cast<double>(xa[j]) - static_cast<double>(xb[j]);
    s += e * e;
  }
  if (distance == kTripletSquared) {
    k = 2.0;
    return s;
  }
  const double dist = sqrt(s);
  k = dist > 0 ? 1.0 / dist : 0.0;  // coincident embeddings: gradient 0
  return dist;
}

// Batch-hard: per anchor its farthest positive and nearest negative in d
// (the first on ties), their distances again from x, the term; the
// gradient of the terms' sum into a.grad.
template <class T>
void triplet_hard(const Context& ctx, const TripletArgs<T>& a) {
  const int64_t N = a.N;
  Buffer picks(static_cast<size_t>(N) * (2 * sizeof(int64_t) + 2 * sizeof(double)));
  int64_t* pos = picks.at<int64_t>(0);
  int64_t* neg = pos + N;
  double* kp = picks.at<double>(2 * N * sizeof(int64_t));  // the terms' slopes times the pairs' k
  double* kn = kp + N;
  parallel_for(N, threads_for(ctx, N, N * N), [&](int, int64_t i) {
    const T* row = a.d + i * a.ldd;
    const int64_t L = a.labels[i];
    int64_t p = -1, n = -1;
    for (int64_t j = 0; j < N; ++j) {
      if (a.labels[j] == L) {
        if (j != i && (p < 0 || row[j] > row[p])) p = j;
      } else if (n < 0 || row[j] < row[n]) {
        n = j;
      }
    }
    pos[i] = p;
    neg[i] = n;
    a.row_loss[i] = 0.0;
    kp[i] = kn[i] = 0.0;
    if (p < 0 || n < 0) return;
    const T* x = a.x + i * a.ldx;
    double k_ap, k_an, slope;
    const double d_ap = pair_distance(x, a.x + p * a.ldx, a.dim, a.distance, k_ap);
    const double d_an = pair_distance(x, a.x + n * a.ldx, a.dim, a.distance, k_an);
    a.row_loss[i] = a.soft ? triplet_term<true>((d_ap - d_an) * a.f, a.margin, slope)
                          : triplet_term<false>((d_ap - d_an) * a.f, a.margin, slope);
    kp[i] = slope * k_ap;
    kn[i] = slope * k_an;
  });
  int64_t valid = 0;
  for (int64_t i = 0; i < N; ++i) valid += pos[i] >= 0 && neg[i] >= 0;
  *a.count = valid;
  if (!a.grad) return;
  // The gradient, a column block per thread (anchors scatter into their
  // pairs' rows, so rows are shared, columns are not). With e_b = x_i - x_b:
  //   euclidean, squared: g_i += kp e_p - kn e_n, g_p -= kp e_p, g_n += kn e_n;
  //   cosine (k = -1):    g_i += kp x_p - kn x_n, g_p += kp x_i, g_n -= kn x_i.
  const bool cosine = a.distance == kTripletCosine;
  constexpr int64_t kCols = 64;
  const int64_t blocks = ceil_div(a.dim, kCols);
  parallel_for(blocks, threads_for(ctx, blocks, N * a.dim), [&](int, int64_t b) {
    const int64_t lo = b * kCols, hi = min64(lo + kCols, a.dim);
    for (int64_t i = 0; i < N; ++i) {
      T* g = a.grad + i * a.ldg;
      for (int64_t j = lo; j < hi; ++j) g[j] = T(0);
    }
    for (int64_t i = 0; i < N; ++i) {
      if (pos[i] < 0 || neg[i] < 0) continue;
      const T* xi = a.x + i * a.ldx;
      const T* xp = a.x + pos[i] * a.ldx;
      const T* xn = a.x + neg[i] * a.ldx;
      T* gi = a.grad + i * a.ldg;
      T* gp = a.grad + pos[i] * a.ldg;
      T* gn = a.grad + neg[i] * a.ldg;
      const T cp = static_cast<T>(kp[i]), cn = static_cast<T>(kn[i]);
      for (int64_t j = lo; j < hi; ++j) {
        const T ep = cosine ? xp[j] : xi[j] - xp[j], en = cosine ? xn[j] : xi[j] - xn[j];
        gi[j] += cp * ep - cn * en;
        gp[j] += cosine ? cp * xi[j] : -(cp * ep);
        gn[j] += cosine ? -(cn * xi[j]) : cn * en;
      }
    }
  });
}

// Batch-all: per anchor, every positive against every negative; the row's
// sum of terms, its number of terms > 0 (in T, as a T loss would count) and,
// into a.gd, the gradient of the terms' sum with respect to the anchor's row
// of d.
template <class T>
void triplet_all(const Context& ctx, const TripletArgs<T>& a) {
  const int64_t N = a.N;
  const int nt = threads_for(ctx, N, N * N);
  Buffer work(static_cast<size_t>(nt) * static_cast<size_t>(N) * (sizeof(int64_t) + 2 * sizeof(double)) + 64);
  Buffer counts(static_cast<size_t>(N) * sizeof(int64_t));
  int64_t* count = counts.at<int64_t>(0);
  parallel_for(N, nt, [&](int tid, int64_t i) {
    const size_t base = static_cast<size_t>(tid) * static_cast<size_t>(N) * (sizeof(int64_t) + 2 * sizeof(double));
    int64_t* idx = work.at<int64_t>(base);
    double* dn = work.at<double>(base + static_cast<size_t>(N) * sizeof(int64_t));
    double* gn = dn + N;
    const T* row = a.d + i * a.ldd;
    T* gd = a.gd ? a.gd + i * a.ldgd : nullptr;
    if (gd)
      for (int64_t j = 0; j < N; ++j) gd[j] = T(0);
    const int64_t L = a.labels[i];
    int64_t m = 0;  // the anchor's negatives, gathered
    for (int64_t j = 0; j < N; ++j)
      if (a.labels[j] != L) {
        idx[m] = j;
        dn[m] = static_cast<double>(row[j]);
        gn[m++] = 0.0;
      }
    double loss = 0.0;
    int64_t above = 0;
    // the positive at distance d_ap against every negative; returns the slopes' sum
    auto against = [&](double d_ap, auto soft) {
      double slopes = 0.0;
      for (int64_t k = 0; k < m; ++k) {
        double slope;
        const double term = triplet_term<decltype(soft)::value>((d_ap - dn[k]) * a.f, a.margin, slope);
        loss += term;
        above += static_cast<T>(term) > T(0);
        slopes += slope;
        gn[k] += slope;
      }
      return slopes;
    };
    for (int64_t p = 0; p < N && m > 0; ++p) {
      if (p == i || a.labels[p] != L) continue;
      const double d_ap = static_cast<double>(row[p]);
      const double slopes = a.soft ? against(d_ap, Flag<true>()) : against(d_ap, Flag<false>());
      if (gd) gd[p] = static_cast<T>(slopes);
    }
    if (gd)
      for (int64_t k = 0; k < m; ++k) gd[idx[k]] = static_cast<T>(-gn[k]);
    a.row_loss[i] = loss;
    count[i] = above;
  });
  int64_t total = 0;
  for (int64_t i = 0; i < N; ++i) total += count[i];
  *a.count = total;
}

template <class T>
void triplet(const Context& ctx, const TripletArgs<T>& a) {
  if (a.N <= 0) {
    *a.count = 0;
    return;
  }
  if (a.mining == kTripletBatchAll) triplet_all(ctx, a);
  else triplet_hard(ctx, a);
}
