// A row loop that overlaps each row's stores with the next row's exp work.
//
// Each thread owns a contiguous block of rows and two slots of work arrays.
// While row r's statistics are computed chunk by chunk (into one slot),
// chunk c of row r-1's output is written (from the other slot) right after
// chunk c of row r: the stores, streamed past the cache for large outputs,
// then overlap the exp arithmetic instead of following it. The arithmetic
// per element is unchanged, so the numbers are those of a plain row loop.
#pragma once

// End of the output range of chunk k (of nch) in row y: a vector-aligned
// index of y, so that ranges other than the first and last start and end on
// vector boundaries and stream without scalar stores in the middle.
template <class T>
inline int64_t range_bound(const T* y, int64_t k, int64_t nch, int64_t n) {
  if (k <= 0) return 0;
  if (k >= nch) return n;
  return k * chunk_len<T>() - static_cast<int64_t>((reinterpret_cast<uintptr_t>(y) / sizeof(T)) % Vec<T>::N);
}

// stats(worker, r, slot, hook): compute row r into slot, calling hook(c)
// after chunk c (every c in [0, nch) exactly once, also for a row it skips).
// emit(worker, r, slot, c): write chunk c's output range of row r.
template <class Stats, class Emit>
inline void pipelined_rows(int64_t rows, int64_t nch, int nt, const Stats& stats, const Emit& emit) {
  parallel_for(nt, nt, [&](int, int64_t worker_index) {
    const int worker = static_cast<int>(worker_index);
    const int64_t r0 = rows * worker / nt, r1 = rows * (worker + 1) / nt;
    int64_t prev = -1;
    int prev_slot = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const int slot = static_cast<int>((r - r0) & 1);
      stats(worker, r, slot, [&](int64_t c) {
        if (prev >= 0) emit(worker, prev, prev_slot, c);
      });
      prev = r;
      prev_slot = slot;
    }
    if (prev >= 0)
      for (int64_t c = 0; c < nch; ++c) emit(worker, prev, prev_slot, c);
  });
}
