// Backward passes of softmax and log_softmax (vector-Jacobian products):
//   softmax:     dx = y (g - sum(g y)) s
//   log_softmax: dx = (g - exp(y) sum(g)) s
// Each row is read twice (the sum, then the write) and written once.
// log_softmax's rows longer than kShortRowBytes are pipelined like the
// forward pass (pipeline-inl.h): row r-1's dx, with its exp, is written
// inside the sum loop of row r, so that work overlaps row r's reads.
// softmax's write has no exp to hide, and the same pipeline made it slower,
// so its rows are summed, then written, as are log_softmax's rows over
// kPipelinedBackwardBytes. Long
// rows that would leave threads idle (split_rows) are cut into segments
// spread over the threads: partial sums per segment, added in segment
// order as a whole row's are (chunked_sum), then the writes per segment.
#pragma once

template <bool Log, class T>
FSM_HOT Vec<T> backward_dx(Vec<T> g, Vec<T> y, Vec<T> sum, Vec<T> s) {
  return Log ? (g - vexp(y) * sum) * s : y * ((g - sum) * s);  // y last: a tiny y times s keeps its digits
}

// sum(g y) (softmax) or sum(g) (log_softmax) over n elements, `out` writing
// a pending row meanwhile.
template <bool Log, class T, class Writer>
FSM_HOT double backward_sum(const T* g, const T* y, int64_t n, Writer& out) {
  if (Log) return chunked_sum<T>(n, [&](int64_t i, int64_t left) { return load_n(g + i, left); }, out);
  return chunked_sum<T>(n, [&](int64_t i, int64_t left) { return load_n(g + i, left) * load_n(y + i, left); }, out);
}

template <bool Log, class T>
inline double backward_sum(const T* g, const T* y, int64_t n) {
  NoWriter none;
  return backward_sum<Log>(g, y, n, none);
}

// dx[0, n) from g, y and their row's sum, in one go.
template <bool Log, class T>
inline void backward_write(bool stream_it, const T* g, const T* y, T* dx, int64_t n, T sum, T s) {
  const Vec<T> vsum = set1(sum), vs = set1(s);
  write_range(stream_it, dx, 0, n, [&](int64_t i) { return backward_dx<Log>(loadu(g + i), loadu(y + i), vsum, vs); },
              [&](int64_t i) { return first(backward_dx<Log>(set1(g[i]), set1(y[i]), vsum, vs)); });
}

// The same as a ChunkWriter, for the pipeline.
template <bool Stream, bool Log, class T>
inline auto backward_writer(const T* g, const T* y, T* dx, int64_t n, T sum, T s) {
  const Vec<T> vsum = set1(sum), vs = set1(s);
  auto vec = [=](int64_t i, const Factor<T>&) { return backward_dx<Log>(loadu(g + i), loadu(y + i), vsum, vs); };
  auto one = [=](int64_t i, const Factor<T>&) { return first(backward_dx<Log>(set1(g[i]), set1(y[i]), vsum, vs)); };
  return chunk_writer<Stream>(dx, n, ChunkFactors<T>(), vec, one);
}

// Longer rows than this are summed, then written, one row at a time: the
// pipelined writer re-reads the previous row's g and y, which only L2 holds
// for it.
constexpr int64_t kPipelinedBackwardBytes = int64_t(256) << 10;

template <bool Log, class T>
void backward_impl(const Context& ctx, const SoftmaxBackwardArgs<T>& a) {
  const int64_t rows = a.rows, n = a.n;
  const bool st = stream_output(a.dx, a.lddx, rows, n);
  auto g_row = [&](int64_t r) { return a.g + r * a.ldg; };
  auto y_row = [&](int64_t r) { return a.y + r * a.ldy; };
  auto dx_row = [&](int64_t r) { return a.dx + r * a.lddx; };
  if (!split_rows(ctx, rows, n)) {
    const int nt = threads_for(ctx, rows, rows * n);
    const int64_t row_bytes = n * static_cast<int64_t>(sizeof(T));
    if (!Log || row_bytes <= kShortRowBytes || row_bytes > kPipelinedBackwardBytes) {
      parallel_for(rows, nt, [&](int, int64_t r) {
        const T sum = static_cast<T>(backward_sum<Log>(g_row(r), y_row(r), n));
        backward_write<Log>(st, g_row(r), y_row(r), dx_row(r), n, sum, a.inv_temp);
      });
      return;
    }
    Buffer state(sizeof(T) * 2 * nt);
    T* sums = state.at<T>(0);  // per (worker, slot): the sum of the row in the slot
    with_flag(st, [&](auto stream) {
      pipelined_rows(
          rows, nt, a.g, a.ldg,
          [&](int worker, int64_t r, int slot, auto& out) FSM_HOT_LAMBDA {
            sums[slot_index(worker, slot)] = static_cast<T>(backward_sum<Log>(g_row(r), y_row(r), n, out));
          },
          [&](int worker, int64_t r, int slot) {
            return backward_writer<decltype(stream)::value, Log>(g_row(r), y_row(r), dx_row(r), n,
                                                                 sums[slot_index(worker, slot)], a.inv_temp);
          });
    });
    return;
  }
  Buffer row_sums(static_cast<size_t>(rows) * sizeof(double));
  double* sums = row_sums.at<double>(0);
  piecewise_row_sums(ctx, rows, n, true, rows * n, sums, [&](int64_t r, int64_t lo, int64_t len) {
    return backward_sum<Log>(g_row(r) + lo, y_row(r) + lo, len);
  });
  const int64_t nseg = ceil_div(n, kSegment), items = rows * nseg;
  parallel_for(items, threads_for(ctx, items, rows * n), [&](int, int64_t it) {
    const int64_t r = it / nseg, off = (it % nseg) * kSegment;
    backward_write<Log>(st, g_row(r) + off, y_row(r) + off, dx_row(r) + off, min64(kSegment, n - off),
                        static_cast<T>(sums[r]), a.inv_temp);
  });
}

template <class T>
void softmax_backward(const Context& ctx, const SoftmaxBackwardArgs<T>& a) {
  if (a.rows <= 0 || a.n <= 0) return;
  with_flag(a.log, [&](auto log) { backward_impl<decltype(log)::value>(ctx, a); });
}
