// Tiny rows (at most 2N elements, N = the lanes of a vector): a block of N
// rows is loaded a row per vector and transposed in registers, so that
// vector j holds element j of the N rows. The max, exp and sum then run
// down the columns with no horizontal work and no masked tail per row; the
// outputs are transposed back and stored a row at a time. A row of 10
// floats otherwise pays the fixed costs of shortrows-inl.h for two vectors
// of exp work. Every lane is its own row, so a row's bits depend neither on
// its block nor on the thread count; a row sums at most 2N terms.
#pragma once

template <class T>
constexpr int64_t tiny_row_max() {
  return 2 * Vec<T>::N;
}

// One block of N tiny rows, held as columns.
template <class T>
struct TinyTile {
  using V = Vec<T>;
  static constexpr int N = V::N;
  V col[2 * N];  // rows, then (after the transpose) columns, of tile t at t*N
  V M, neg_M, S, S_lo;  // S_lo: what S rounded away

  // Rows b .. b+N-1 of x (n elements each); rows past `last` repeat it
  // (computed, never stored).
  FSM_HOT void load(const T* x, int64_t ldx, int64_t b, int64_t last, int64_t n) {
    for (int64_t t = 0; t < ceil_div(n, N); ++t) {
      const int64_t len = min64(N, n - t * N);
      for (int k = 0; k < N; ++k) {
        const T* xr = x + min64(b + k, last) * ldx + t * N;
        col[t * N + k] = len >= N ? loadu(xr) : load_partial(xr, len, T(0));
      }
      transpose(col + t * N);
    }
  }

  // M = max of x, S (+ S_lo) = sum of exp((x - M) s) per lane; col[j] stays x, or
  // becomes exp((x - M) s) with Keep. Exact: the lane sums carry their
  // rounding errors (SumOf; a lane adds a whole row: kExactSums).
  template <bool Keep, bool Exact, class Sc>
  FSM_HOT void stats(int64_t n, const Sc& scale) {
    M = set1(-T(HUGE_VAL));
    for (int64_t j = 0; j < n; ++j) {
      M = vmax(col[j], M);  // skips NaN, as ChunkMax
    }
    // -M h, or 0 for a row of -inf only (no -inf - -inf): scale's shift
    neg_M = (set1(T(0)) - select(lt(set1(-T(HUGE_VAL)), M), M, set1(T(0)))) * set1(scale.h);
    SumOf<T, Exact> sum;
    for (int64_t j = 0; j < n; ++j) {
      const V e = vexp_bounded(scale(col[j], neg_M));
      sum.add(e);
      if (Keep) col[j] = e;
    }
    S = sum.value();
    S_lo = sum.rest(S);
  }

  // Per lane, the sum of exp((x - M) s) over the elements below M
  // (sum_below_max for N rows at once), and what it rounded away into rest;
  // col[j] holds x, or its exp values when kept (an element at M has 1
  // there).
  template <class Sc>
  FSM_HOT V below_max(int64_t n, const Sc& scale, bool kept, V& rest) const {
    const V zero = set1(T(0)), one = set1(T(1));
    SumOf<T, true> B;
    for (int64_t j = 0; j < n; ++j) {
      if (kept) {
        B.add(select(lt(col[j], one), col[j], zero));
      } else {
        V lo;
        const V e = below_max_term(col[j], neg_M, scale, lo);
        B.add(e, lo);
      }
    }
    const V total = B.value();
    rest = B.rest(total);
    return total;
  }

  // Rows b .. b+count-1 of y from the columns.
  FSM_HOT void store(T* y, int64_t ldy, int64_t b, int64_t count, int64_t n) {
    for (int64_t t = 0; t < ceil_div(n, N); ++t) {
      const int64_t len = min64(N, n - t * N);
      transpose(col + t * N);
      for (int64_t k = 0; k < count; ++k) store_lanes(y + (b + k) * ldy + t * N, len, col[t * N + k]);
    }
  }
};

// block(b, count, last) for the blocks of N rows [b, b + count) that split
// rows [0, rows) over nt threads; last = the last row of the block's thread.
template <class T, class Block>
inline void tiny_blocks(int64_t rows, int nt, const Block& block) {
  constexpr int N = Vec<T>::N;
  parallel_for(nt, nt, [&](int, int64_t worker) {
    const int64_t r0 = rows * worker / nt, r1 = rows * (worker + 1) / nt;
    for (int64_t b = r0; b < r1; b += N) block(b, min64(N, r1 - b), r1 - 1);
  });
}
