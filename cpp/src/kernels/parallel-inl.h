// Work splitting, scratch buffers and the output writer shared by the kernels.
#pragma once

constexpr int64_t kSegment = int64_t(1) << 16;  // fixed, so results ignore the thread count
constexpr int64_t kStreamBytes = int64_t(24) << 20;  // outputs larger than a typical L3 bypass the cache
constexpr int64_t kShortRowBytes = 2048;  // rows this short: partial lines matter, blocks of rows pay
constexpr int64_t kMinParallelElems = int64_t(1) << 15;  // less work than this: one thread

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
constexpr int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Chunk length of the row statistics: 64 vectors, a few KB that stay in L1
// between the max pass and the exp pass over the chunk.
template <class T> constexpr int64_t chunk_len() { return 64 * Vec<T>::N; }

// 64-byte aligned scratch, allocated before a parallel region, never inside
// (a failure throws std::bad_alloc there, which the binding turns into
// MemoryError).
struct Buffer {
  void* p = nullptr;
  explicit Buffer(size_t bytes) {
    if (bytes && posix_memalign(&p, 64, (bytes + 63) & ~size_t(63)) != 0) throw std::bad_alloc();
  }
  ~Buffer() { free(p); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  template <class T> T* at(size_t byte_offset) const {
    return reinterpret_cast<T*>(static_cast<char*>(p) + byte_offset);
  }
};

inline int threads_for(int64_t items, int64_t elems) {
  int nt = get_num_threads();
  if (elems < kMinParallelElems) nt = 1;
  if (items < nt) nt = static_cast<int>(items < 1 ? 1 : items);
  return nt;
}

// Whether rows are cut into kSegment pieces spread over the threads: rows of
// 4 pieces or more that, a thread a row, would leave a fifth of the thread
// time idle or more (fewer rows than threads, 3 rows on 2 threads). Whole
// rows are faster otherwise: the pipelined row loop overlaps a row's writes
// with the next row's exp work, which the two passes over pieces cannot
// (64x2^20 float32, 2 threads, AMD EPYC Zen 4: softmax 17.4 -> 13.4 ms,
// log_softmax 18.1 -> 8.7; AVX2 level: softmax 19.2 -> 14.7-15.1). A row
// gives the same bits cut or whole (segmented_stats, chunked_sum), so the
// choice may follow the thread count.
inline bool split_rows(int64_t rows, int64_t n) {
  const int64_t nt = get_num_threads();
  if (nt < 2 || n < 4 * kSegment) return false;
  const int64_t busiest = ceil_div(rows, nt);  // the rows of the busiest thread
  return 4 * busiest * nt >= 5 * rows;
}

inline int thread_id() {
#ifdef FASTSOFTMAX_HAVE_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// body(tid, i) for i in [0, items), statically split over nt threads. Each
// thread fences its own non-temporal stores before the region ends.
template <class F>
inline void parallel_for(int64_t items, int nt, const F& body) {
#ifdef FASTSOFTMAX_HAVE_OPENMP
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {
      const int tid = thread_id();
#pragma omp for schedule(static) nowait
      for (int64_t i = 0; i < items; ++i) body(tid, i);
      stream_fence();
    }
    return;
  }
#endif
  (void)nt;
  for (int64_t i = 0; i < items; ++i) body(0, i);
  stream_fence();
}

// out[r] = the sum of piece_sum(r, lo, len) over row r's pieces [lo, lo +
// len): kSegment elements each when `split`, else the whole row. Pieces are
// spread over the threads (work: the elements to share, for threads_for)
// and added in piece order, so the sums ignore the thread count.
template <class PieceSum>
inline void piecewise_row_sums(int64_t rows, int64_t n, bool split, int64_t work, double* out,
                               const PieceSum& piece_sum) {
  const int64_t pieces = split ? ceil_div(n, kSegment) : 1, len = split ? kSegment : n, items = rows * pieces;
  Buffer partial(pieces > 1 ? static_cast<size_t>(items) * sizeof(double) : 0);
  double* part = pieces > 1 ? partial.at<double>(0) : out;
  parallel_for(items, threads_for(items, work), [&](int, int64_t it) {
    const int64_t lo = (it % pieces) * len;
    part[it] = piece_sum(it / pieces, lo, min64(len, n - lo));
  });
  if (pieces == 1) return;
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0.0;
    for (int64_t k = 0; k < pieces; ++k) sum += part[r * pieces + k];
    out[r] = sum;
  }
}

// Writes y[0, n) from vec(i) (the vector at element i) and one(i) (element i
// alone). With Stream, full vectors go through non-temporal stores at aligned
// addresses, so a large output is not read before it is written; vec(i) must
// give the same numbers as one(i) lane by lane, so the alignment of y never
// changes a result.
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

// Writes y[lo, hi); lo is 0 or a vector-aligned index of y (range_bound).
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
// fills whole lines. A row that starts or ends inside a line leaves a
// write-combining buffer partly filled, which on a short row costs more than
// the read the stream saves (65536x100 float32, 2 threads, AMD EPYC: 7.0 ms
// streamed, 2.6 ms with ordinary stores). NumPy's own arrays are 16-byte
// aligned, so short rows stream only into an output the caller aligned.
template <class T>
inline bool stream_output(const T* y, int64_t ldy, int64_t rows, int64_t n) {
  const int64_t size = static_cast<int64_t>(sizeof(T));
  if (rows * n * size < kStreamBytes) return false;
  return n * size > kShortRowBytes || whole_lines(y, ldy, n);
}
