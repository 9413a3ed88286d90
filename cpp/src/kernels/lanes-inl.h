// Helpers built from the Vec primitives of simd-inl.h: partial loads and
// stores of a row's last vector, and moving a vector's lanes to and from
// doubles (per-row values of a block of rows, one row per lane).
#pragma once

// The vector at p with lanes from `left` on 0.
template <class T>
inline Vec<T> load_n(const T* p, int64_t left) {
  return left >= Vec<T>::N ? loadu(p) : load_partial(p, left, T(0));
}

// y[0, len) = the first len lanes of v. A partial vector goes out in pieces
// of N/2, N/4, ... lanes, each a fixed-size copy (one move): a masked store
// is slow on some CPUs, and a loop of len scalars becomes a memmove call.
template <class T>
FSM_HOT void store_lanes(T* y, int64_t len, Vec<T> v) {
  constexpr int64_t N = Vec<T>::N;
  if (len >= N) {
    storeu(y, v);
    return;
  }
  alignas(64) T lanes[N];
  storeu(lanes, v);
  int64_t i = 0;
  for (int64_t piece = N / 2; piece > 0; piece /= 2) {
    if (len & piece) {
      memcpy(y + i, lanes + i, static_cast<size_t>(piece) * sizeof(T));
      i += piece;
    }
  }
}

// out[k] = lane k of v, in double.
template <class T>
inline void lanes_to_double(Vec<T> v, double* out) {
  alignas(64) T lanes[Vec<T>::N];
  storeu(lanes, v);
  for (int k = 0; k < Vec<T>::N; ++k) out[k] = lanes[k];
}

// The vector whose lane k is d[k] rounded to T (lanes_to_double reversed).
template <class T>
inline Vec<T> lanes_from_double(const double* d) {
  alignas(64) T lanes[Vec<T>::N];
  for (int k = 0; k < Vec<T>::N; ++k) lanes[k] = static_cast<T>(d[k]);
  return loadu(lanes);
}

// out[k] = f(in[k]) for the N rows of a block (N = Vec<T>::N), f on vectors
// of doubles: 1/S or log S for N rows at once.
template <class T, class F>
inline void per_row_in_double(const double* in, double* out, const F& f) {
  for (int64_t k = 0; k < Vec<T>::N; k += Vec<double>::N) storeu(out + k, f(loadu(in + k)));
}
