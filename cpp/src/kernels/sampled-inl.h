// Candidate correction of sampled logits (sampled softmax, NCE): each row
// holds its num_true label columns, then the S sampled ones. A shift is
// added to each column (minus log Q, the sampled columns' biases folded in
// by the caller) in one pass over the rows, and the accidental hits listed
// by the caller become -inf: zero probability and zero gradient in
// cross_entropy, where TensorFlow's -FLT_MAX turns label smoothing into inf.
#pragma once

template <class T>
void candidate_correction(const Context& ctx, const CandidateCorrectionArgs<T>& a) {
  const int64_t width = a.num_true + a.S;
  if (a.rows <= 0 || width <= 0) return;
  const bool dense = a.sampled_shift != nullptr || a.out != a.x;
  const bool stream_it = a.out != a.x && stream_output(a.out, a.ldo, a.rows, width);
  parallel_for(a.rows, threads_for(ctx, a.rows, dense ? a.rows * width : a.rows * a.num_true), [&](int, int64_t r) {
    const T* x = a.x + r * a.ldx;
    T* y = a.out + r * a.ldo;
    const T* ts = a.true_shift + r * a.ldt;
    for (int64_t j = 0; j < a.num_true; ++j) y[j] = x[j] + ts[j];
    if (!dense) return;
    const T* xs = x + a.num_true;
    T* ys = y + a.num_true;
    const T* cs = a.sampled_shift;
    if (cs) {
      write_range(stream_it, ys, 0, a.S, [&](int64_t i) { return loadu(xs + i) + loadu(cs + i); },
                  [&](int64_t i) { return xs[i] + cs[i]; });
    } else {
      write_range(stream_it, ys, 0, a.S, [&](int64_t i) { return loadu(xs + i); }, [&](int64_t i) { return xs[i]; });
    }
  });
  for (int64_t k = 0; k < a.hits; ++k) a.out[a.hit_row[k] * a.ldo + a.num_true + a.hit_col[k]] = -T(HUGE_VAL);
}
