// Short rows, a block of N at a time (N = the lanes of a vector).
//
// On a row of a few hundred elements row_stats' fixed costs show: the wait
// for the row's max before its exp loop, the horizontal max and sum, and a
// libm log or divide per row. Here each thread takes its rows in blocks of
// N:
//  - row k of block b is summed by chunk_exp_sum (rowstats-inl.h), whose
//    loop also takes the max of row k of block b+1, prefetches row k of
//    block b+2 and writes row k of block b-1's output. That writer never
//    rotates its range (ChunkWriter::dodge): each group's stores follow
//    its own loads, and a rotated half row put the stores just before the
//    next group's loads at the same offset modulo 4 KB;
//  - the N maxima and N sums of a block are reduced together (hmax_each,
//    hsum_each), and 1/S or log S comes from one vector operation in double
//    for the N rows (log-inl.h).
// Every lane's arithmetic is that of its own row, with the same reduction
// tree in every lane, so a row's result depends neither on its block nor on
// the thread count. A row is one chunk (n <= chunk_len), so its float sum
// adds at most 16 terms per accumulator lane, as in row_stats.
#pragma once

// Rows at most this long go in blocks: one chunk (so the float sums keep
// row_stats' bound) and at most 2 KB (a block's kept exp values, N rows, at
// most 16 KB on AVX2); beyond that the gain over row_stats fades.
template <class T>
constexpr int64_t short_row_max() {
  return min64(chunk_len<T>(), kShortRowBytes / static_cast<int64_t>(sizeof(T)));
}

// Per (worker, slot) arrays of a block: ref = the rows' max of x, csum =
// their sums S (csum_lo: float64's rest), fac and factor = what the finisher leaves for the writer
// (in double; the writer's factor); exps (with Keep) = row k's exp values at
// k*n.
template <class T>
inline WorkShape block_shape(int64_t n, bool keep) {
  return {Vec<T>::N, keep ? Vec<T>::N * n : 0};
}

// The same from a block's sums (csum) into fac.
template <class T, class F>
inline void per_row_in_double(const ChunkArrays<T>& w, const F& f) {
  per_row_in_double<T>(w.csum, w.fac, f);
}

// The N rows' sums of a block into csum (and csum_lo): plain float32
// sums reduced together (hsum_each), the others each in two parts.
template <class T, bool Exact>
FSM_HOT void block_sums(const SumOf<T, Exact>* sums, const ChunkArrays<T>& w) {
  constexpr int N = Vec<T>::N;
  if constexpr (Exact) {
    for (int k = 0; k < N; ++k) w.csum[k] = sums[k].total(w.csum_lo[k]);
  } else {
    Vec<T> v[N];
    for (int k = 0; k < N; ++k) {
      v[k] = sums[k].value();
      w.csum_lo[k] = 0.0;
    }
    lanes_to_double(hsum_each(v), w.csum);
  }
}

// Asks for the lines of an output row ahead of its stores, one request per
// 512 bytes (the hardware prefetcher carries on from each; a request per
// line costs more than it saves when the output is in cache).
template <class T>
FSM_HOT void prefetch_for_write(const T* y, int64_t n) {
  const char* p = reinterpret_cast<const char*>(y);
  for (int64_t off = 0; off < n * static_cast<int64_t>(sizeof(T)); off += 512) __builtin_prefetch(p + off, 1, 3);
}

// Row statistics of rows [0, rows) of x (row stride ldx), n <= short_row_max,
// in blocks over nt threads. work: WorkArrays(2 * nt, block_shape(n, Keep)).
// finish(slot, w, r, count): after block statistics, rows r to r + count - 1
// in w = work[slot]. writer_for(slot, w, k, r): the output writer of row r,
// row k of the block in w = work[slot]. y (row stride ldy): the rows those
// writers fill, each prefetched a block ahead (null: no output). Exact:
// the sums carry their rounding errors (SumOf).
template <bool Keep, bool Exact, class T, class Sc, class Finish, class WriterFor>
inline void block_rows(const T* x, int64_t ldx, int64_t rows, int64_t n, const Sc& scale, int nt,
                       const WorkArrays<T>& work, const Finish& finish, const WriterFor& writer_for, const T* y,
                       int64_t ldy) {
  using V = Vec<T>;
  constexpr int N = V::N;
  parallel_for(nt, nt, [&](int, int64_t worker_index) {
    const int worker = static_cast<int>(worker_index);
    const int64_t r0 = rows * worker / nt, r1 = rows * (worker + 1) / nt;
    if (r1 <= r0) return;
    const int64_t nb = ceil_div(r1 - r0, N);
    // row k of block b; rows past the worker's last repeat it (computed, never written)
    auto row = [&](int64_t b, int k) { return min64(r0 + b * N + k, r1 - 1); };
    auto count = [&](int64_t b) { return min64(N, r1 - r0 - b * N); };
    V mx[N];
    for (int k = 0; k < N; ++k) {
      ChunkMax<false, T> m;
      m.rest(x + row(0, k) * ldx, nullptr, 0, n);
      mx[k] = m.m;
    }
    for (int64_t b = 0; b < nb; ++b) {
      const int slot = slot_index(worker, static_cast<int>(b & 1));
      const ChunkArrays<T> w = work[slot];
      storeu(w.ref, hmax_each(mx));
      const int64_t next_len = b + 1 < nb ? n : 0;
      SumOf<T, Exact> sums[N];
      auto sum_row = [&](int k, auto& out) FSM_HOT_LAMBDA {
        const T* xr = x + row(b, k) * ldx;
        if (y) prefetch_for_write(y + row(b, k) * ldy, n);
        ChunkMax<false, T> next;
        out.begin(0);
        sums[k] = chunk_exp_sum<Keep, false, Exact>(xr, static_cast<const T*>(nullptr), n, w.ref[k], scale,
                                             Keep ? w.exps + k * n : nullptr, x + row(b + 1, k) * ldx,
                                             static_cast<const T*>(nullptr), next_len, x + row(b + 2, k) * ldx,
                                             next, out);
        out.finish();
        mx[k] = next.m;
      };
      if (b == 0) {
        NoWriter none;
        for (int k = 0; k < N; ++k) sum_row(k, none);
      } else {  // block b-1 is full: only the last block can be short
        const int prev = slot_index(worker, static_cast<int>((b - 1) & 1));
        const ChunkArrays<T> wp = work[prev];
        for (int k = 0; k < N; ++k) {
          auto out = writer_for(prev, wp, k, row(b - 1, k));
          sum_row(k, out);
        }
      }
      block_sums(sums, w);
      finish(slot, w, r0 + b * N, count(b));
    }
    const int last = slot_index(worker, static_cast<int>((nb - 1) & 1));
    for (int k = 0; k < count(nb - 1); ++k) writer_for(last, work[last], k, row(nb - 1, k)).write_all();
  });
}
