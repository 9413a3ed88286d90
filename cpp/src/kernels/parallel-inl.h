// Work splitting over threads, scratch buffers and the sizes every kernel shares.
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

// The threads for `items` independent pieces of `elems` elements in all.
inline int threads_for(const Context& ctx, int64_t items, int64_t elems) {
  int nt = ctx.threads;
  if (elems < kMinParallelElems) nt = 1;
  if (items < nt) nt = static_cast<int>(items < 1 ? 1 : items);
  return nt;
}

// Whether rows are cut into kSegment pieces spread over the threads: rows of
// 4 pieces or more that, a thread a row, would leave a fifth of the thread
// time idle or more (fewer rows than threads, 3 rows on 2 threads). Whole
// rows are faster otherwise: the pipelined row loop overlaps a row's writes
// with the next row's exp work, which the two passes over pieces cannot. A
// row gives the same bits cut or whole (SegmentedStats, chunked_sum), so
// the choice may follow the thread count.
inline bool split_rows(const Context& ctx, int64_t rows, int64_t n) {
  const int64_t nt = ctx.threads;
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
inline void piecewise_row_sums(const Context& ctx, int64_t rows, int64_t n, bool split, int64_t work, double* out,
                               const PieceSum& piece_sum) {
  const int64_t pieces = split ? ceil_div(n, kSegment) : 1, len = split ? kSegment : n, items = rows * pieces;
  Buffer partial(pieces > 1 ? static_cast<size_t>(items) * sizeof(double) : 0);
  double* part = pieces > 1 ? partial.at<double>(0) : out;
  parallel_for(items, threads_for(ctx, items, work), [&](int, int64_t it) {
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
