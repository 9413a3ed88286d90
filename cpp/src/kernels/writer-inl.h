// Writing a row's output: ordinary or streaming stores (stream_output),
// whole (write_range) or a chunk range at a time inside another row's loop
// (ChunkWriter, for the pipelined loops of pipeline-inl.h and
// shortrows-inl.h).
#pragma once

// Elements before the first vector-aligned address of y.
template <class T>
inline int64_t aligned_head(const T* y) {
  constexpr int64_t N = Vec<T>::N;
  const int64_t mis = static_cast<int64_t>((reinterpret_cast<uintptr_t>(y) / sizeof(T)) % N);
  return mis ? N - mis : 0;
}

template <bool Stream, class T>
inline void put(T* p, Vec<T> v) {
  if (Stream) stream(p, v); else storeu(p, v);
}

// Writes y[lo, hi) from vec(i) (the vector at element i) and one(i) (element
// i alone); lo is 0 or a vector-aligned index of y (range_bound). With
// Stream, full vectors go through non-temporal stores at aligned addresses,
// so a large output is not read before it is written; vec(i) must give the
// same numbers as one(i) lane by lane, so the alignment of y never changes
// a result.
template <bool Stream, class T, class VecF, class OneF>
inline void write_range(T* y, int64_t lo, int64_t hi, const VecF& vec, const OneF& one) {
  constexpr int64_t N = Vec<T>::N;
  int64_t i = lo;
  if (Stream && i == 0) {
    const int64_t head = min64(aligned_head(y), hi);
    for (; i < head; ++i) y[i] = one(i);
  }
  for (; i + N <= hi; i += N) put<Stream>(y + i, vec(i));
  for (; i < hi; ++i) y[i] = one(i);
}

// The same with the streaming choice made at run time.
template <class T, class VecF, class OneF>
inline void write_range(bool stream_it, T* y, int64_t lo, int64_t hi, const VecF& vec, const OneF& one) {
  if (stream_it) write_range<true>(y, lo, hi, vec, one);
  else write_range<false>(y, lo, hi, vec, one);
}

// Whether every row of y (row stride ldy, n elements) fills whole 64-byte lines.
template <class T>
inline bool whole_lines(const T* y, int64_t ldy, int64_t n) {
  const int64_t size = static_cast<int64_t>(sizeof(T));
  return reinterpret_cast<uintptr_t>(y) % 64 == 0 && ldy * size % 64 == 0 && n * size % 64 == 0;
}

// Whether a rows x n output at y is written with streaming stores: when it
// is larger than a typical L3, and, for short rows, only when every row
// fills whole lines (a row that starts or ends inside a line leaves a
// write-combining buffer partly filled, which on a short row costs more
// than the read the stream saves). NumPy's own arrays are 16-byte aligned,
// so short rows stream only into an output the caller aligned.
template <class T>
inline bool stream_output(const T* y, int64_t ldy, int64_t rows, int64_t n) {
  const int64_t size = static_cast<int64_t>(sizeof(T));
  if (rows * n * size < kStreamBytes) return false;
  return n * size > kShortRowBytes || whole_lines(y, ldy, n);
}

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
  void dodge(const void*) {}
  void begin(int64_t) {}
  void step() {}
  void finish() {}
  void write_all() {}
};

// Writes one row's output y[0, n), chunk range by chunk range:
// begin(c) starts chunk c's range (range_bound), step() writes up to four
// vectors of it, finish() writes what is left. vec(i, f) gives the vector at
// element i and one(i, f) element i alone (its first lane), f being the
// chunk's Factor, fac.at(c) (factor-inl.h; no fac: unused). With Stream,
// full vectors go through non-temporal stores at aligned addresses; vec(i)
// must give the same numbers as one(i) lane by lane, so the alignment of y
// never changes a result.
// dodge(loads): the loop that hosts the writer reads its own row at
// `loads`, at the offsets the writer stores to. A store at the same address
// modulo 4 KB as a load that follows it stalls that load (4K aliasing), as
// happens with rows a multiple of 4 KB long and NumPy's input and output at
// the same page offset; so when y is within 1 KB of `loads` modulo 4 KB,
// each range is written from its middle to its end, then from its start.
template <bool Stream, class T, class VecF, class OneF>
struct ChunkWriter {
  static constexpr int64_t N = Vec<T>::N, CH = chunk_len<T>();
  T* y;
  int64_t n, nch;
  ChunkFactors<T> fac;
  VecF vec;
  OneF one;
  int64_t pos = 0, hi = 0;           // being written: [pos, hi)
  int64_t next_lo = 0, next_hi = 0;  // then [next_lo, next_hi) (empty: nothing)
  bool rotate = false;               // each range from its middle (dodge)
  Factor<T> f = {set1(T(0)), set1(T(0))};

  void dodge(const void* loads) {
    const uintptr_t d = (reinterpret_cast<uintptr_t>(y) - reinterpret_cast<uintptr_t>(loads)) % 4096;
    rotate = d < 1024 || d >= 3072;
  }

  FSM_HOT Factor<T> factor(int64_t i) const { return fac.at(i / CH); }
  FSM_HOT void begin(int64_t c) {
    pos = range_bound(y, c, nch, n);
    hi = range_bound(y, c + 1, nch, n);
    if (Stream && pos == 0) {
      const int64_t head = min64(aligned_head(y), hi);
      for (; pos < head; ++pos) y[pos] = one(pos, factor(pos));
    }
    if (pos < c * CH && pos + N <= hi) {  // its first c*CH - pos lanes are in chunk c-1
      const Factor<T> both = fac.hi ? fac.straddling(c * CH - pos, c) : f;
      put<Stream>(y + pos, vec(pos, both));
      pos += N;
    }
    f = factor(c * CH);
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
inline ChunkWriter<Stream, T, VecF, OneF> chunk_writer(T* y, int64_t n, const ChunkFactors<T>& fac, const VecF& vec,
                                                       const OneF& one) {
  return {y, n, ceil_div(n, chunk_len<T>()), fac, vec, one};
}
