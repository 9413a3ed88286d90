// A row loop that overlaps each row's stores with the next row's exp work.
//
// Each thread owns a contiguous block of rows and two slots of work arrays.
// While row r's statistics are computed chunk by chunk (into one slot),
// chunk c of row r-1's output is written (from the other slot) inside the
// exp loop of chunk c of row r, four vectors per step: the exp arithmetic
// keeps the multiply-add units busy while the loads, multiplies and stores
// (streamed past the cache for large outputs) fill the other ports. The
// arithmetic per element is unchanged, so the numbers are those of a plain
// row loop.
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

// What row_stats calls when no output is pending.
struct NoWriter {
  void begin(int64_t) {}
  void step() {}
  void finish() {}
  void write_all() {}
};

// Writes one row's output y[0, n), chunk range by chunk range:
// begin(c) starts chunk c's range (range_bound), step() writes up to four
// vectors of it, finish() writes what is left. vec(i, f) gives the vector at
// element i and one(i, f) element i alone, f being the chunk's factor fac[c]
// (null fac: the factor is unused). With Stream, full vectors go through
// non-temporal stores at aligned addresses; vec(i) must give the same
// numbers as one(i) lane by lane, so the alignment of y never changes a
// result.
// dodge(loads): the loop that hosts the writer reads its own row at the
// address `loads`, at the offsets the writer stores to. A store at the same
// address modulo 4 KB as a load that follows it stalls that load (4K
// aliasing), and with rows a multiple of 4 KB long (32768 float32 classes)
// and NumPy's input and output at the same page offset, as fresh arrays
// are, every store would (4000x32768 float32 log_softmax, 2 threads, AMD
// EPYC Zen 4: 0.159-0.210 ns per element with the output 0-64 bytes past
// the input modulo 4 KB, 0.127 with it 2 KB past). When y is within 1 KB of
// `loads` modulo 4 KB, each range is written from its middle to its end,
// then from its start.
template <bool Stream, class T, class VecF, class OneF>
struct ChunkWriter {
  static constexpr int64_t N = Vec<T>::N, CH = chunk_len<T>();
  T* y;
  int64_t n, nch;
  const T* fac;
  VecF vec;
  OneF one;
  int64_t pos = 0, hi = 0;           // being written: [pos, hi)
  int64_t next_lo = 0, next_hi = 0;  // then [next_lo, next_hi) (empty: nothing)
  bool rotate = false;               // each range from its middle (dodge)
  Vec<T> f = set1(T(0));

  void dodge(const void* loads) {
    const uintptr_t d = (reinterpret_cast<uintptr_t>(y) - reinterpret_cast<uintptr_t>(loads)) % 4096;
    rotate = d < 1024 || d >= 3072;
  }

  FSM_HOT T factor(int64_t i) const { return fac ? fac[i / CH] : T(0); }
  FSM_HOT void begin(int64_t c) {
    pos = range_bound(y, c, nch, n);
    hi = range_bound(y, c + 1, nch, n);
    if (Stream && pos == 0) {
      const int64_t head = min64(aligned_head(y), hi);
      for (; pos < head; ++pos) y[pos] = one(pos, factor(pos));
    }
    if (pos < c * CH && pos + N <= hi) {  // its first c*CH - pos lanes are in chunk c-1
      const Vec<T> both = fac ? select(lanes_below<T>(c * CH - pos), set1(fac[c - 1]), set1(fac[c])) : f;
      put<Stream>(y + pos, vec(pos, both));
      pos += N;
    }
    f = set1(factor(c * CH));
    next_lo = pos;
    next_hi = rotate ? pos + (hi - pos) / (2 * N) * N : pos;  // the middle, a whole number of vectors in
    pos = next_hi;
  }
  FSM_HOT void step() {
    if (pos + 4 * N > hi) {
      if (next_lo == next_hi) return;
      to_start();
      if (pos + 4 * N > hi) return;
    }
    put<Stream>(y + pos, vec(pos, f));
    put<Stream>(y + pos + N, vec(pos + N, f));
    put<Stream>(y + pos + 2 * N, vec(pos + 2 * N, f));
    put<Stream>(y + pos + 3 * N, vec(pos + 3 * N, f));
    pos += 4 * N;
  }
  FSM_HOT void finish() {
    if (next_lo != next_hi) to_start();
    rest();
  }
  // [pos, hi): vectors, then single elements
  FSM_HOT void rest() {
    for (; pos + N <= hi; pos += N) put<Stream>(y + pos, vec(pos, f));
    for (; pos < hi; ++pos) y[pos] = one(pos, factor(pos));
  }
  // the rest of the range's end, then on to its start
  FSM_HOT void to_start() {
    rest();
    pos = next_lo;
    hi = next_hi;
    next_lo = next_hi;
  }
  void write_all() {
    for (int64_t c = 0; c < nch; ++c) {
      begin(c);
      finish();
    }
  }
};

template <bool Stream, class T, class VecF, class OneF>
inline ChunkWriter<Stream, T, VecF, OneF> chunk_writer(T* y, int64_t n, const T* fac, const VecF& vec,
                                                       const OneF& one) {
  return {y, n, ceil_div(n, chunk_len<T>()), fac, vec, one};
}

// A compile-time flag (for generic lambdas: body(Flag<true>()) and
// decltype(flag)::value).
template <bool B>
struct Flag {
  static constexpr bool value = B;
};

template <class Body>
inline void with_flag(bool b, const Body& body) {
  if (b) body(Flag<true>());
  else body(Flag<false>());
}

// Index of a (worker, slot) pair in per-slot arrays of 2 * threads entries.
inline int slot_index(int worker, int slot) { return worker * 2 + slot; }

// stats(worker, r, slot, writer): compute row r into slot, calling
// writer.begin(c) / step() / finish() during chunk c (row_stats does).
// writer_for(worker, r, slot): the ChunkWriter of row r's output from slot.
// x + r * ldx: what stats reads of row r (ChunkWriter::dodge).
template <class T, class Stats, class WriterFor>
inline void pipelined_rows(int64_t rows, int nt, const T* x, int64_t ldx, const Stats& stats,
                           const WriterFor& writer_for) {
  parallel_for(nt, nt, [&](int, int64_t worker_index) {
    const int worker = static_cast<int>(worker_index);
    const int64_t r0 = rows * worker / nt, r1 = rows * (worker + 1) / nt;
    for (int64_t r = r0; r < r1; ++r) {
      const int slot = static_cast<int>((r - r0) & 1);
      if (r == r0) {
        NoWriter none;
        stats(worker, r, slot, none);
      } else {
        auto previous = writer_for(worker, r - 1, slot ^ 1);
        previous.dodge(x + r * ldx);
        stats(worker, r, slot, previous);
      }
    }
    if (r1 > r0) writer_for(worker, r1 - 1, static_cast<int>((r1 - 1 - r0) & 1)).write_all();
  });
}
