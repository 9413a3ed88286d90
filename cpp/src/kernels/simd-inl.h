// A thin vector type over the instruction set this translation unit is
// compiled for: Vec<float> / Vec<double> with N lanes, and the handful of
// operations the kernels use. Included inside a per-ISA namespace
// (cpp/src/cpu/*.cc), so an AVX-512 inline function can never be linked into
// the scalar path. The ISA is chosen by FSM_SIMD_LEVEL (0 scalar, 1 AArch64
// NEON, 2 AVX2+FMA, 3 AVX-512F), set by the including file.
// System headers are included by cpu/isa-inl.h, outside the namespace.
#pragma once

// For the small pieces of the hot loops (row_stats' chunk max and output
// writer): GCC stops inlining them once the kernels' lambdas grow, and a
// call per group of vectors costs more than the group's loads.
#define FSM_HOT inline __attribute__((always_inline))
#define FSM_HOT_LAMBDA __attribute__((always_inline))

template <class T> struct Vec;

// The first min(k, sizeof(W)) bytes at p as a word W (none read past
// p + k), zeros after: the flag bytes of a vector's lanes (flags_mask).
template <class W>
inline W flag_bytes(const uint8_t* p, int64_t k) {
  W w;
  memset(&w, 0, sizeof(W));
  if (k >= static_cast<int64_t>(sizeof(W))) memcpy(&w, p, sizeof(W));
  else if (k > 0) memcpy(&w, p, static_cast<size_t>(k));
  return w;
}

// ------------------------------------------------------------------ scalar
#if FSM_SIMD_LEVEL == 0
template <class T> struct Vec {
  static constexpr int N = 1;
  T v;
};
template <class T> using Mask = bool;
template <class T> inline Vec<T> set1(T a) { return {a}; }
template <class T> inline Vec<T> loadu(const T* p) { return {*p}; }
template <class T> inline Vec<T> load_partial(const T* p, int64_t k, T fill) { return {k > 0 ? *p : fill}; }
template <class T> inline void storeu(T* p, Vec<T> a) { *p = a.v; }
template <class T> inline void stream(T* p, Vec<T> a) { *p = a.v; }
template <class T> inline void store_partial(T* p, int64_t k, Vec<T> a) { if (k > 0) *p = a.v; }
template <class T> inline Vec<T> operator+(Vec<T> a, Vec<T> b) { return {a.v + b.v}; }
template <class T> inline Vec<T> operator-(Vec<T> a, Vec<T> b) { return {a.v - b.v}; }
template <class T> inline Vec<T> operator*(Vec<T> a, Vec<T> b) { return {a.v * b.v}; }
template <class T> inline Vec<T> operator/(Vec<T> a, Vec<T> b) { return {a.v / b.v}; }
// a*b+c: no FMA on baseline x86-64, so double's rounds twice here; float's
// is taken in double, where a*b is exact, so it rounds as a fused one does
// (but for the rare double-rounding tie) and the float kernels' bits at
// this level mostly match the vector levels'.
template <class T> inline Vec<T> fmadd(Vec<T> a, Vec<T> b, Vec<T> c) { return {a.v * b.v + c.v}; }
inline Vec<float> fmadd(Vec<float> a, Vec<float> b, Vec<float> c) {
  return {static_cast<float>(static_cast<double>(a.v) * b.v + c.v)};
}
// max that ignores a NaN in `a` (the kernels propagate NaN through the sums)
template <class T> inline Vec<T> vmax(Vec<T> a, Vec<T> b) { return {a.v > b.v ? a.v : b.v}; }
template <class T> inline bool lt(Vec<T> a, Vec<T> b) { return a.v < b.v; }
template <class T> inline bool neq(Vec<T> a, Vec<T> b) { return !(a.v == b.v); }
template <class T> inline Vec<T> select(bool m, Vec<T> a, Vec<T> b) { return m ? a : b; }
template <class T> inline T hmax(Vec<T> a) { return a.v; }
template <class T> inline T first(Vec<T> a) { return a.v; }
template <class T> inline double hsum(Vec<T> a) { return static_cast<double>(a.v); }
template <class T> inline void transpose(Vec<T>*) {}
template <class T> inline Vec<T> hmax_each(const Vec<T>* v) { return v[0]; }
template <class T> inline Vec<T> hsum_each(const Vec<T>* v) { return v[0]; }
template <class T> inline Vec<T> lane_is(int64_t j) { return {j == 0 ? T(1) : T(0)}; }
template <class T> inline bool lanes_below(int64_t k) { return k > 0; }
// lanes j < k whose byte p[j] is not 0 (a row of 0/1 flags)
template <class T> inline bool flags_mask(const uint8_t* p, int64_t k) { return k > 0 && *p != 0; }
// round to nearest even, |a| < 2^22 (float) / 2^51 (double); larger |a| only
// reach this in lanes the caller masks afterwards.
// The float whose bits are those of t shifted left by M (the exponent trick
// of exp-inl.h: t's low mantissa bits hold a biased exponent).
template <int M> inline Vec<float> exponent_bits(Vec<float> t) {
  uint32_t b; memcpy(&b, &t.v, 4); b <<= M;
  float r; memcpy(&r, &b, 4); return {r};
}
template <int M> inline Vec<double> exponent_bits(Vec<double> t) {
  uint64_t b; memcpy(&b, &t.v, 8); b <<= M;
  double r; memcpy(&r, &b, 8); return {r};
}
// x = m 2^k with m in [1, 2), for positive normal x; returns k.
inline Vec<double> split_exponent(Vec<double> x, Vec<double>& m) {
  int e;
  m.v = 2 * frexp(x.v, &e);
  return {static_cast<double>(e - 1)};
}
inline void stream_fence() {}

// -------------------------------------------------------------------- NEON
// AArch64 Advanced SIMD (every AArch64 CPU has it, with fused multiply-add):
// 128-bit vectors. It has no masked loads or stores and no streaming store,
// so partial vectors go through a small stack buffer and stream() is an
// ordinary store.
#elif FSM_SIMD_LEVEL == 1
template <> struct Vec<float> { static constexpr int N = 4; float32x4_t v; };
template <> struct Vec<double> { static constexpr int N = 2; float64x2_t v; };
template <class T> struct MaskOf;
template <> struct MaskOf<float> { using type = uint32x4_t; };
template <> struct MaskOf<double> { using type = uint64x2_t; };
template <class T> using Mask = typename MaskOf<T>::type;

inline Vec<float> set1(float a) { return {vdupq_n_f32(a)}; }
inline Vec<double> set1(double a) { return {vdupq_n_f64(a)}; }
inline Vec<float> loadu(const float* p) { return {vld1q_f32(p)}; }
inline Vec<double> loadu(const double* p) { return {vld1q_f64(p)}; }
inline void storeu(float* p, Vec<float> a) { vst1q_f32(p, a.v); }
inline void storeu(double* p, Vec<double> a) { vst1q_f64(p, a.v); }
inline void stream(float* p, Vec<float> a) { vst1q_f32(p, a.v); }
inline void stream(double* p, Vec<double> a) { vst1q_f64(p, a.v); }
// the first k lanes from p (none read past p + k), the others `fill`
template <class T>
inline Vec<T> load_partial(const T* p, int64_t k, T fill) {
  alignas(16) T lanes[Vec<T>::N];
  for (int j = 0; j < Vec<T>::N; ++j) lanes[j] = j < k ? p[j] : fill;
  return loadu(lanes);
}
template <class T>
inline void store_partial(T* p, int64_t k, Vec<T> a) {
  alignas(16) T lanes[Vec<T>::N];
  storeu(lanes, a);
  for (int j = 0; j < Vec<T>::N; ++j)
    if (j < k) p[j] = lanes[j];
}
inline Vec<float> operator+(Vec<float> a, Vec<float> b) { return {vaddq_f32(a.v, b.v)}; }
inline Vec<double> operator+(Vec<double> a, Vec<double> b) { return {vaddq_f64(a.v, b.v)}; }
inline Vec<float> operator-(Vec<float> a, Vec<float> b) { return {vsubq_f32(a.v, b.v)}; }
inline Vec<double> operator-(Vec<double> a, Vec<double> b) { return {vsubq_f64(a.v, b.v)}; }
inline Vec<float> operator*(Vec<float> a, Vec<float> b) { return {vmulq_f32(a.v, b.v)}; }
inline Vec<double> operator*(Vec<double> a, Vec<double> b) { return {vmulq_f64(a.v, b.v)}; }
inline Vec<float> operator/(Vec<float> a, Vec<float> b) { return {vdivq_f32(a.v, b.v)}; }
inline Vec<double> operator/(Vec<double> a, Vec<double> b) { return {vdivq_f64(a.v, b.v)}; }
inline Vec<float> fmadd(Vec<float> a, Vec<float> b, Vec<float> c) { return {vfmaq_f32(c.v, a.v, b.v)}; }
inline Vec<double> fmadd(Vec<double> a, Vec<double> b, Vec<double> c) { return {vfmaq_f64(c.v, a.v, b.v)}; }
inline Mask<float> lt(Vec<float> a, Vec<float> b) { return vcltq_f32(a.v, b.v); }
inline Mask<double> lt(Vec<double> a, Vec<double> b) { return vcltq_f64(a.v, b.v); }
inline Mask<float> neq(Vec<float> a, Vec<float> b) { return vmvnq_u32(vceqq_f32(a.v, b.v)); }
inline Mask<double> neq(Vec<double> a, Vec<double> b) {
  return vreinterpretq_u64_u32(vmvnq_u32(vreinterpretq_u32_u64(vceqq_f64(a.v, b.v))));
}
inline Vec<float> select(Mask<float> m, Vec<float> a, Vec<float> b) { return {vbslq_f32(m, a.v, b.v)}; }
inline Vec<double> select(Mask<double> m, Vec<double> a, Vec<double> b) { return {vbslq_f64(m, a.v, b.v)}; }
// x86's max: b unless a > b, so a NaN in `a` is skipped (NEON's fmax would
// return the NaN).
template <class T>
inline Vec<T> vmax(Vec<T> a, Vec<T> b) { return select(lt(b, a), a, b); }
inline float first(Vec<float> a) { return vgetq_lane_f32(a.v, 0); }
inline double first(Vec<double> a) { return vgetq_lane_f64(a.v, 0); }
inline float hmax(Vec<float> a) {
  const Vec<float> m = vmax(a, Vec<float>{vextq_f32(a.v, a.v, 2)});
  return first(vmax(m, Vec<float>{vextq_f32(m.v, m.v, 1)}));
}
inline double hmax(Vec<double> a) { return first(vmax(a, Vec<double>{vextq_f64(a.v, a.v, 1)})); }
// Sum of the lanes in double precision, in a fixed order.
inline double hsum(Vec<double> a) { return vgetq_lane_f64(a.v, 0) + vgetq_lane_f64(a.v, 1); }
inline double hsum(Vec<float> a) {
  return hsum(Vec<double>{vaddq_f64(vcvt_f64_f32(vget_low_f32(a.v)), vcvt_high_f64_f32(a.v))});
}
// v[k] becomes the vector of element k of v[0], ..., v[N-1] (an N x N
// transpose in registers).
FSM_HOT void transpose(Vec<float>* v) {
  const float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(v[0].v, v[1].v));
  const float64x2_t t1 = vreinterpretq_f64_f32(vtrn2q_f32(v[0].v, v[1].v));
  const float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(v[2].v, v[3].v));
  const float64x2_t t3 = vreinterpretq_f64_f32(vtrn2q_f32(v[2].v, v[3].v));
  v[0].v = vreinterpretq_f32_f64(vtrn1q_f64(t0, t2));
  v[1].v = vreinterpretq_f32_f64(vtrn1q_f64(t1, t3));
  v[2].v = vreinterpretq_f32_f64(vtrn2q_f64(t0, t2));
  v[3].v = vreinterpretq_f32_f64(vtrn2q_f64(t1, t3));
}
FSM_HOT void transpose(Vec<double>* v) {
  const float64x2_t a = v[0].v, b = v[1].v;
  v[0].v = vtrn1q_f64(a, b);
  v[1].v = vtrn2q_f64(a, b);
}
// Lane k: the max / sum of v[k]'s lanes, by a transpose and a tree that is
// the same in every lane.
template <class T, class Op>
inline Vec<T> reduce_each(const Vec<T>* v, const Op& op) {
  Vec<T> t[Vec<T>::N];
  for (int k = 0; k < Vec<T>::N; ++k) t[k] = v[k];
  transpose(t);
  if constexpr (Vec<T>::N == 4) return op(op(t[0], t[2]), op(t[1], t[3]));
  else return op(t[0], t[1]);
}
template <class T>
inline Vec<T> hmax_each(const Vec<T>* v) { return reduce_each(v, [](Vec<T> a, Vec<T> b) { return vmax(a, b); }); }
template <class T>
inline Vec<T> hsum_each(const Vec<T>* v) { return reduce_each(v, [](Vec<T> a, Vec<T> b) { return a + b; }); }
// 1 in lane j, 0 elsewhere
template <class T> inline Vec<T> lane_is(int64_t j);
template <> inline Vec<float> lane_is<float>(int64_t j) {
  const uint32x4_t lanes = {0, 1, 2, 3};
  return {vreinterpretq_f32_u32(vandq_u32(vceqq_u32(vdupq_n_u32(static_cast<uint32_t>(j)), lanes),
                                          vreinterpretq_u32_f32(vdupq_n_f32(1.f))))};
}
template <> inline Vec<double> lane_is<double>(int64_t j) {
  const uint64x2_t lanes = {0, 1};
  return {vreinterpretq_f64_u64(vandq_u64(vceqq_u64(vdupq_n_u64(static_cast<uint64_t>(j)), lanes),
                                          vreinterpretq_u64_f64(vdupq_n_f64(1.))))};
}
template <class T> inline Mask<T> lanes_below(int64_t k);
template <> inline Mask<float> lanes_below<float>(int64_t k) {
  const int32x4_t lanes = {0, 1, 2, 3};
  return vcgtq_s32(vdupq_n_s32(static_cast<int32_t>(k < 0 ? 0 : (k > 4 ? 4 : k))), lanes);
}
template <> inline Mask<double> lanes_below<double>(int64_t k) {
  const int64x2_t lanes = {0, 1};
  return vcgtq_s64(vdupq_n_s64(k), lanes);
}
template <class T> inline Mask<T> flags_mask(const uint8_t* p, int64_t k);
template <> inline Mask<float> flags_mask<float>(const uint8_t* p, int64_t k) {
  const uint32x4_t v = vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(flag_bytes<uint32_t>(p, k))))));
  return vtstq_u32(v, v);
}
template <> inline Mask<double> flags_mask<double>(const uint8_t* p, int64_t k) {
  const uint8x8_t b = vreinterpret_u8_u16(vdup_n_u16(flag_bytes<uint16_t>(p, k)));
  const uint64x2_t v = vmovl_u32(vget_low_u32(vmovl_u16(vget_low_u16(vmovl_u8(b)))));
  return vtstq_u64(v, v);
}
template <int M> inline Vec<float> exponent_bits(Vec<float> t) {
  return {vreinterpretq_f32_u32(vshlq_n_u32(vreinterpretq_u32_f32(t.v), M))};
}
template <int M> inline Vec<double> exponent_bits(Vec<double> t) {
  return {vreinterpretq_f64_u64(vshlq_n_u64(vreinterpretq_u64_f64(t.v), M))};
}
// As the AVX2 version.
inline Vec<double> split_exponent(Vec<double> x, Vec<double>& m) {
  const uint64x2_t bits = vreinterpretq_u64_f64(x.v);
  m.v = vreinterpretq_f64_u64(vorrq_u64(vandq_u64(bits, vdupq_n_u64(0x000FFFFFFFFFFFFF)),
                                        vdupq_n_u64(0x3FF0000000000000)));
  const uint64x2_t e = vorrq_u64(vshrq_n_u64(bits, 52), vdupq_n_u64(0x4330000000000000));
  return {vsubq_f64(vreinterpretq_f64_u64(e), vdupq_n_f64(4503599627370496.0 + 1023.0))};
}
inline void stream_fence() {}

// -------------------------------------------------------------------- AVX2
#elif FSM_SIMD_LEVEL == 2
template <> struct Vec<float> { static constexpr int N = 8; __m256 v; };
template <> struct Vec<double> { static constexpr int N = 4; __m256d v; };
template <class T> using Mask = Vec<T>;

inline Vec<float> set1(float a) { return {_mm256_set1_ps(a)}; }
inline Vec<double> set1(double a) { return {_mm256_set1_pd(a)}; }
inline Vec<float> loadu(const float* p) { return {_mm256_loadu_ps(p)}; }
inline Vec<double> loadu(const double* p) { return {_mm256_loadu_pd(p)}; }
inline __m256i prefix_mask32(int64_t k) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline __m256i prefix_mask64(int64_t k) {
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(k), _mm256_setr_epi64x(0, 1, 2, 3));
}
inline Vec<float> load_partial(const float* p, int64_t k, float fill) {
  __m256i m = prefix_mask32(k);
  return {_mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m))};
}
inline Vec<double> load_partial(const double* p, int64_t k, double fill) {
  __m256i m = prefix_mask64(k);
  return {_mm256_blendv_pd(_mm256_set1_pd(fill), _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m))};
}
inline void storeu(float* p, Vec<float> a) { _mm256_storeu_ps(p, a.v); }
inline void storeu(double* p, Vec<double> a) { _mm256_storeu_pd(p, a.v); }
inline void stream(float* p, Vec<float> a) { _mm256_stream_ps(p, a.v); }
inline void stream(double* p, Vec<double> a) { _mm256_stream_pd(p, a.v); }
inline void store_partial(float* p, int64_t k, Vec<float> a) { _mm256_maskstore_ps(p, prefix_mask32(k), a.v); }
inline void store_partial(double* p, int64_t k, Vec<double> a) { _mm256_maskstore_pd(p, prefix_mask64(k), a.v); }
inline Vec<float> operator+(Vec<float> a, Vec<float> b) { return {_mm256_add_ps(a.v, b.v)}; }
inline Vec<double> operator+(Vec<double> a, Vec<double> b) { return {_mm256_add_pd(a.v, b.v)}; }
inline Vec<float> operator-(Vec<float> a, Vec<float> b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline Vec<double> operator-(Vec<double> a, Vec<double> b) { return {_mm256_sub_pd(a.v, b.v)}; }
inline Vec<float> operator*(Vec<float> a, Vec<float> b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline Vec<double> operator*(Vec<double> a, Vec<double> b) { return {_mm256_mul_pd(a.v, b.v)}; }
inline Vec<float> operator/(Vec<float> a, Vec<float> b) { return {_mm256_div_ps(a.v, b.v)}; }
inline Vec<double> operator/(Vec<double> a, Vec<double> b) { return {_mm256_div_pd(a.v, b.v)}; }
inline Vec<float> fmadd(Vec<float> a, Vec<float> b, Vec<float> c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline Vec<double> fmadd(Vec<double> a, Vec<double> b, Vec<double> c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
// maxps returns its second operand when either is NaN: a NaN in `a` is skipped.
inline Vec<float> vmax(Vec<float> a, Vec<float> b) { return {_mm256_max_ps(a.v, b.v)}; }
inline Vec<double> vmax(Vec<double> a, Vec<double> b) { return {_mm256_max_pd(a.v, b.v)}; }
inline Mask<float> lt(Vec<float> a, Vec<float> b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ)}; }
inline Mask<double> lt(Vec<double> a, Vec<double> b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_LT_OQ)}; }
inline Mask<float> neq(Vec<float> a, Vec<float> b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_NEQ_UQ)}; }
inline Mask<double> neq(Vec<double> a, Vec<double> b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_NEQ_UQ)}; }
inline Vec<float> select(Mask<float> m, Vec<float> a, Vec<float> b) { return {_mm256_blendv_ps(b.v, a.v, m.v)}; }
inline Vec<double> select(Mask<double> m, Vec<double> a, Vec<double> b) { return {_mm256_blendv_pd(b.v, a.v, m.v)}; }
inline float first(Vec<float> a) { return _mm256_cvtss_f32(a.v); }
inline double first(Vec<double> a) { return _mm256_cvtsd_f64(a.v); }
inline float hmax(Vec<float> a) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}
inline double hmax(Vec<double> a) {
  __m128d m = _mm_max_pd(_mm256_castpd256_pd128(a.v), _mm256_extractf128_pd(a.v, 1));
  m = _mm_max_sd(m, _mm_unpackhi_pd(m, m));
  return _mm_cvtsd_f64(m);
}
// Sum of the lanes in double precision, in a fixed order.
inline double hsum(Vec<double> a) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a.v), _mm256_extractf128_pd(a.v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
inline double hsum(Vec<float> a) {
  Vec<double> lo{_mm256_cvtps_pd(_mm256_castps256_ps128(a.v))};
  Vec<double> hi{_mm256_cvtps_pd(_mm256_extractf128_ps(a.v, 1))};
  return hsum(lo + hi);
}
// Lane k: op over the lanes of v[k], for N vectors at once (a transposed
// reduction: 3 levels of shuffles for 8 results instead of 3 per result).
// Every lane sees the same tree (low half op high half at each level), so a
// result does not depend on k.
template <class Op>
inline Vec<float> reduce_each(const Vec<float>* v, const Op& op) {
  __m256 t[4];
  for (int p = 0; p < 4; ++p)
    t[p] = op(_mm256_unpacklo_ps(v[2 * p].v, v[2 * p + 1].v), _mm256_unpackhi_ps(v[2 * p].v, v[2 * p + 1].v));
  const __m256 u0 = op(_mm256_shuffle_ps(t[0], t[1], 0x44), _mm256_shuffle_ps(t[0], t[1], 0xEE));
  const __m256 u1 = op(_mm256_shuffle_ps(t[2], t[3], 0x44), _mm256_shuffle_ps(t[2], t[3], 0xEE));
  return {op(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31))};
}
template <class Op>
inline Vec<double> reduce_each(const Vec<double>* v, const Op& op) {
  const __m256d t0 = op(_mm256_unpacklo_pd(v[0].v, v[1].v), _mm256_unpackhi_pd(v[0].v, v[1].v));
  const __m256d t1 = op(_mm256_unpacklo_pd(v[2].v, v[3].v), _mm256_unpackhi_pd(v[2].v, v[3].v));
  return {op(_mm256_permute2f128_pd(t0, t1, 0x20), _mm256_permute2f128_pd(t0, t1, 0x31))};
}
inline Vec<float> hmax_each(const Vec<float>* v) { return reduce_each(v, [](__m256 a, __m256 b) { return _mm256_max_ps(a, b); }); }
inline Vec<double> hmax_each(const Vec<double>* v) { return reduce_each(v, [](__m256d a, __m256d b) { return _mm256_max_pd(a, b); }); }
inline Vec<float> hsum_each(const Vec<float>* v) { return reduce_each(v, [](__m256 a, __m256 b) { return _mm256_add_ps(a, b); }); }
inline Vec<double> hsum_each(const Vec<double>* v) { return reduce_each(v, [](__m256d a, __m256d b) { return _mm256_add_pd(a, b); }); }
// v[k] becomes the vector of element k of v[0], ..., v[N-1] (an N x N
// transpose in registers).
FSM_HOT void transpose(Vec<float>* v) {
  __m256 t[8], u[8];
  for (int p = 0; p < 4; ++p) {
    t[2 * p] = _mm256_unpacklo_ps(v[2 * p].v, v[2 * p + 1].v);
    t[2 * p + 1] = _mm256_unpackhi_ps(v[2 * p].v, v[2 * p + 1].v);
  }
  for (int h = 0; h < 2; ++h) {  // rows 0-3, then 4-7
    u[4 * h] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
    u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
    u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
    u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
  }
  for (int k = 0; k < 4; ++k) {
    v[k].v = _mm256_permute2f128_ps(u[k], u[k + 4], 0x20);
    v[k + 4].v = _mm256_permute2f128_ps(u[k], u[k + 4], 0x31);
  }
}
FSM_HOT void transpose(Vec<double>* v) {
  const __m256d t0 = _mm256_unpacklo_pd(v[0].v, v[1].v), t1 = _mm256_unpackhi_pd(v[0].v, v[1].v);
  const __m256d t2 = _mm256_unpacklo_pd(v[2].v, v[3].v), t3 = _mm256_unpackhi_pd(v[2].v, v[3].v);
  v[0].v = _mm256_permute2f128_pd(t0, t2, 0x20);
  v[1].v = _mm256_permute2f128_pd(t1, t3, 0x20);
  v[2].v = _mm256_permute2f128_pd(t0, t2, 0x31);
  v[3].v = _mm256_permute2f128_pd(t1, t3, 0x31);
}
// 1 in lane j, 0 elsewhere
template <class T> inline Vec<T> lane_is(int64_t j);
template <> inline Vec<float> lane_is<float>(int64_t j) {
  const __m256i m = _mm256_cmpeq_epi32(_mm256_set1_epi32(static_cast<int>(j)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  return {_mm256_and_ps(_mm256_castsi256_ps(m), _mm256_set1_ps(1.f))};
}
template <> inline Vec<double> lane_is<double>(int64_t j) {
  const __m256i m = _mm256_cmpeq_epi64(_mm256_set1_epi64x(j), _mm256_setr_epi64x(0, 1, 2, 3));
  return {_mm256_and_pd(_mm256_castsi256_pd(m), _mm256_set1_pd(1.))};
}
template <class T> inline Mask<T> lanes_below(int64_t k);
template <> inline Mask<float> lanes_below<float>(int64_t k) { return {_mm256_castsi256_ps(prefix_mask32(k))}; }
template <> inline Mask<double> lanes_below<double>(int64_t k) { return {_mm256_castsi256_pd(prefix_mask64(k))}; }
template <class T> inline Mask<T> flags_mask(const uint8_t* p, int64_t k);
template <> inline Mask<float> flags_mask<float>(const uint8_t* p, int64_t k) {
  const __m256i v = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(flag_bytes<uint64_t>(p, k))));
  return {_mm256_castsi256_ps(_mm256_cmpgt_epi32(v, _mm256_setzero_si256()))};
}
template <> inline Mask<double> flags_mask<double>(const uint8_t* p, int64_t k) {
  const __m256i v = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128(static_cast<int>(flag_bytes<uint32_t>(p, k))));
  return {_mm256_castsi256_pd(_mm256_cmpgt_epi64(v, _mm256_setzero_si256()))};
}
template <int M> inline Vec<float> exponent_bits(Vec<float> t) {
  return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t.v), M))};
}
template <int M> inline Vec<double> exponent_bits(Vec<double> t) {
  return {_mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(t.v), M))};
}
// x = m 2^k with m in [1, 2), for positive normal x; returns k. The biased
// exponent e becomes the double 2^52 + e by or-ing it into 2^52's mantissa.
inline Vec<double> split_exponent(Vec<double> x, Vec<double>& m) {
  const __m256i bits = _mm256_castpd_si256(x.v);
  m.v = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0x000FFFFFFFFFFFFF)),
                                            _mm256_set1_epi64x(0x3FF0000000000000)));
  const __m256i e = _mm256_or_si256(_mm256_srli_epi64(bits, 52), _mm256_set1_epi64x(0x4330000000000000));
  return {_mm256_sub_pd(_mm256_castsi256_pd(e), _mm256_set1_pd(4503599627370496.0 + 1023.0))};
}
inline void stream_fence() { _mm_sfence(); }

// ----------------------------------------------------------------- AVX-512
#elif FSM_SIMD_LEVEL == 3
template <> struct Vec<float> { static constexpr int N = 16; __m512 v; };
template <> struct Vec<double> { static constexpr int N = 8; __m512d v; };
template <class T> struct MaskOf;
template <> struct MaskOf<float> { using type = __mmask16; };
template <> struct MaskOf<double> { using type = __mmask8; };
template <class T> using Mask = typename MaskOf<T>::type;

inline Vec<float> set1(float a) { return {_mm512_set1_ps(a)}; }
inline Vec<double> set1(double a) { return {_mm512_set1_pd(a)}; }
inline Vec<float> loadu(const float* p) { return {_mm512_loadu_ps(p)}; }
inline Vec<double> loadu(const double* p) { return {_mm512_loadu_pd(p)}; }
inline __mmask16 prefix16(int64_t k) { return k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (k > 0 ? k : 0)) - 1); }
inline __mmask8 prefix8(int64_t k) { return k >= 8 ? __mmask8(0xFF) : __mmask8((1u << (k > 0 ? k : 0)) - 1); }
inline Vec<float> load_partial(const float* p, int64_t k, float fill) { return {_mm512_mask_loadu_ps(_mm512_set1_ps(fill), prefix16(k), p)}; }
inline Vec<double> load_partial(const double* p, int64_t k, double fill) { return {_mm512_mask_loadu_pd(_mm512_set1_pd(fill), prefix8(k), p)}; }
inline void storeu(float* p, Vec<float> a) { _mm512_storeu_ps(p, a.v); }
inline void storeu(double* p, Vec<double> a) { _mm512_storeu_pd(p, a.v); }
inline void stream(float* p, Vec<float> a) { _mm512_stream_ps(p, a.v); }
inline void stream(double* p, Vec<double> a) { _mm512_stream_pd(p, a.v); }
inline void store_partial(float* p, int64_t k, Vec<float> a) { _mm512_mask_storeu_ps(p, prefix16(k), a.v); }
inline void store_partial(double* p, int64_t k, Vec<double> a) { _mm512_mask_storeu_pd(p, prefix8(k), a.v); }
inline Vec<float> operator+(Vec<float> a, Vec<float> b) { return {_mm512_add_ps(a.v, b.v)}; }
inline Vec<double> operator+(Vec<double> a, Vec<double> b) { return {_mm512_add_pd(a.v, b.v)}; }
inline Vec<float> operator-(Vec<float> a, Vec<float> b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline Vec<double> operator-(Vec<double> a, Vec<double> b) { return {_mm512_sub_pd(a.v, b.v)}; }
inline Vec<float> operator*(Vec<float> a, Vec<float> b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline Vec<double> operator*(Vec<double> a, Vec<double> b) { return {_mm512_mul_pd(a.v, b.v)}; }
inline Vec<float> operator/(Vec<float> a, Vec<float> b) { return {_mm512_div_ps(a.v, b.v)}; }
inline Vec<double> operator/(Vec<double> a, Vec<double> b) { return {_mm512_div_pd(a.v, b.v)}; }
inline Vec<float> fmadd(Vec<float> a, Vec<float> b, Vec<float> c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline Vec<double> fmadd(Vec<double> a, Vec<double> b, Vec<double> c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }
inline Vec<float> vmax(Vec<float> a, Vec<float> b) { return {_mm512_max_ps(a.v, b.v)}; }
inline Vec<double> vmax(Vec<double> a, Vec<double> b) { return {_mm512_max_pd(a.v, b.v)}; }
inline Mask<float> lt(Vec<float> a, Vec<float> b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ); }
inline Mask<double> lt(Vec<double> a, Vec<double> b) { return _mm512_cmp_pd_mask(a.v, b.v, _CMP_LT_OQ); }
inline Mask<float> neq(Vec<float> a, Vec<float> b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_NEQ_UQ); }
inline Mask<double> neq(Vec<double> a, Vec<double> b) { return _mm512_cmp_pd_mask(a.v, b.v, _CMP_NEQ_UQ); }
inline Vec<float> select(Mask<float> m, Vec<float> a, Vec<float> b) { return {_mm512_mask_blend_ps(m, b.v, a.v)}; }
inline Vec<double> select(Mask<double> m, Vec<double> a, Vec<double> b) { return {_mm512_mask_blend_pd(m, b.v, a.v)}; }
inline float first(Vec<float> a) { return _mm512_cvtss_f32(a.v); }
inline double first(Vec<double> a) { return _mm512_cvtsd_f64(a.v); }
inline float hmax(Vec<float> a) {
  __m256 h = _mm256_max_ps(_mm512_castps512_ps256(a.v),
                           _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a.v), 1)));
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}
inline double hmax(Vec<double> a) {
  __m256d h = _mm256_max_pd(_mm512_castpd512_pd256(a.v), _mm512_extractf64x4_pd(a.v, 1));
  __m128d m = _mm_max_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
  m = _mm_max_sd(m, _mm_unpackhi_pd(m, m));
  return _mm_cvtsd_f64(m);
}
inline double hsum(Vec<double> a) {
  __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(a.v), _mm512_extractf64x4_pd(a.v, 1));
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
inline double hsum(Vec<float> a) {
  Vec<double> lo{_mm512_cvtps_pd(_mm512_castps512_ps256(a.v))};
  Vec<double> hi{_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a.v), 1)))};
  return hsum(lo + hi);
}
// Shuffles of whole 128-bit blocks: even(a, b) = blocks 0, 2 of a, then
// of b; odd(a, b) = blocks 1, 3 of a, then of b.
struct BlocksF32 {
  static __m512 even(__m512 a, __m512 b) { return _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)); }
  static __m512 odd(__m512 a, __m512 b) { return _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)); }
};
struct BlocksF64 {
  static __m512d even(__m512d a, __m512d b) { return _mm512_shuffle_f64x2(a, b, _MM_SHUFFLE(2, 0, 2, 0)); }
  static __m512d odd(__m512d a, __m512d b) { return _mm512_shuffle_f64x2(a, b, _MM_SHUFFLE(3, 1, 3, 1)); }
};
// b[0..3], four blocks each: out[q] = block q of b[0], b[1], b[2], b[3]
// (the last two stages of a transpose).
template <class Blocks, class V>
FSM_HOT void transpose_blocks(const V* b, V* out) {
  const V c0 = Blocks::even(b[0], b[1]), c1 = Blocks::odd(b[0], b[1]);
  const V c2 = Blocks::even(b[2], b[3]), c3 = Blocks::odd(b[2], b[3]);
  out[0] = Blocks::even(c0, c2);
  out[1] = Blocks::even(c1, c3);
  out[2] = Blocks::odd(c0, c2);
  out[3] = Blocks::odd(c1, c3);
}
// u[0..3], four blocks each: block q of the result = op over the blocks of
// u[q], as (b0 op b1) op (b2 op b3).
template <class Blocks, class V, class Op>
FSM_HOT V reduce_blocks(const V* u, const Op& op) {
  const V c01 = op(Blocks::even(u[0], u[1]), Blocks::odd(u[0], u[1]));
  const V c23 = op(Blocks::even(u[2], u[3]), Blocks::odd(u[2], u[3]));
  return op(Blocks::even(c01, c23), Blocks::odd(c01, c23));
}
// v[k] becomes the vector of element k of v[0], ..., v[N-1] (an N x N
// transpose in registers: pairs within 128-bit blocks, then whole blocks).
FSM_HOT void transpose(Vec<float>* v) {
  __m512 a[16], b[16];
  for (int i = 0; i < 8; ++i) {
    a[2 * i] = _mm512_unpacklo_ps(v[2 * i].v, v[2 * i + 1].v);
    a[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i].v, v[2 * i + 1].v);
  }
  // b[j * 4 + i], block q: element 4q + j of rows 4i .. 4i + 3
  for (int i = 0; i < 4; ++i) {
    b[i] = _mm512_shuffle_ps(a[4 * i], a[4 * i + 2], 0x44);
    b[4 + i] = _mm512_shuffle_ps(a[4 * i], a[4 * i + 2], 0xEE);
    b[8 + i] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
    b[12 + i] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {
    __m512 out[4];
    transpose_blocks<BlocksF32>(b + 4 * j, out);
    for (int q = 0; q < 4; ++q) v[4 * q + j].v = out[q];
  }
}
FSM_HOT void transpose(Vec<double>* v) {
  __m512d b[8];
  // b[j * 4 + i], block q: element 2q + j of rows 2i, 2i + 1
  for (int i = 0; i < 4; ++i) {
    b[i] = _mm512_unpacklo_pd(v[2 * i].v, v[2 * i + 1].v);
    b[4 + i] = _mm512_unpackhi_pd(v[2 * i].v, v[2 * i + 1].v);
  }
  for (int j = 0; j < 2; ++j) {
    __m512d out[4];
    transpose_blocks<BlocksF64>(b + 4 * j, out);
    for (int q = 0; q < 4; ++q) v[2 * q + j].v = out[q];
  }
}
// Lane k: op over the lanes of v[k], for N vectors at once (a transposed
// reduction, as on AVX2: pairs within 128-bit blocks, then blocks). Every
// lane sees the same tree, so a result does not depend on k.
template <class Op>
inline Vec<float> reduce_each(const Vec<float>* v, const Op& op) {
  __m512 t[8], u[4];
  for (int p = 0; p < 8; ++p)
    t[p] = op(_mm512_unpacklo_ps(v[2 * p].v, v[2 * p + 1].v), _mm512_unpackhi_ps(v[2 * p].v, v[2 * p + 1].v));
  for (int q = 0; q < 4; ++q)  // block b of u[q]: rows 4q .. 4q + 3, their lanes of block b
    u[q] = op(_mm512_shuffle_ps(t[2 * q], t[2 * q + 1], 0x44), _mm512_shuffle_ps(t[2 * q], t[2 * q + 1], 0xEE));
  return {reduce_blocks<BlocksF32>(u, op)};
}
template <class Op>
inline Vec<double> reduce_each(const Vec<double>* v, const Op& op) {
  __m512d u[4];  // block b of u[q]: rows 2q, 2q + 1, their lanes of block b
  for (int q = 0; q < 4; ++q)
    u[q] = op(_mm512_unpacklo_pd(v[2 * q].v, v[2 * q + 1].v), _mm512_unpackhi_pd(v[2 * q].v, v[2 * q + 1].v));
  return {reduce_blocks<BlocksF64>(u, op)};
}
inline Vec<float> hmax_each(const Vec<float>* v) { return reduce_each(v, [](__m512 a, __m512 b) { return _mm512_max_ps(a, b); }); }
inline Vec<double> hmax_each(const Vec<double>* v) { return reduce_each(v, [](__m512d a, __m512d b) { return _mm512_max_pd(a, b); }); }
inline Vec<float> hsum_each(const Vec<float>* v) { return reduce_each(v, [](__m512 a, __m512 b) { return _mm512_add_ps(a, b); }); }
inline Vec<double> hsum_each(const Vec<double>* v) { return reduce_each(v, [](__m512d a, __m512d b) { return _mm512_add_pd(a, b); }); }
template <class T> inline Vec<T> lane_is(int64_t j);
template <> inline Vec<float> lane_is<float>(int64_t j) {
  return {_mm512_maskz_mov_ps(__mmask16(1u << j), _mm512_set1_ps(1.f))};
}
template <> inline Vec<double> lane_is<double>(int64_t j) {
  return {_mm512_maskz_mov_pd(__mmask8(1u << j), _mm512_set1_pd(1.))};
}
template <class T> inline Mask<T> lanes_below(int64_t k);
template <> inline Mask<float> lanes_below<float>(int64_t k) { return prefix16(k); }
template <> inline Mask<double> lanes_below<double>(int64_t k) { return prefix8(k); }
template <class T> inline Mask<T> flags_mask(const uint8_t* p, int64_t k);
template <> inline Mask<float> flags_mask<float>(const uint8_t* p, int64_t k) {
  const __m128i b = k >= 16 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)) : flag_bytes<__m128i>(p, k);
  const __m512i v = _mm512_cvtepu8_epi32(b);
  return _mm512_test_epi32_mask(v, v);
}
template <> inline Mask<double> flags_mask<double>(const uint8_t* p, int64_t k) {
  const __m512i v = _mm512_cvtepu8_epi64(_mm_cvtsi64_si128(static_cast<long long>(flag_bytes<uint64_t>(p, k))));
  return _mm512_test_epi64_mask(v, v);
}
template <int M> inline Vec<float> exponent_bits(Vec<float> t) {
  return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(t.v), M))};
}
template <int M> inline Vec<double> exponent_bits(Vec<double> t) {
  return {_mm512_castsi512_pd(_mm512_slli_epi64(_mm512_castpd_si512(t.v), M))};
}
// As the AVX2 version.
inline Vec<double> split_exponent(Vec<double> x, Vec<double>& m) {
  const __m512i bits = _mm512_castpd_si512(x.v);
  m.v = _mm512_castsi512_pd(_mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi64(0x000FFFFFFFFFFFFF)),
                                            _mm512_set1_epi64(0x3FF0000000000000)));
  const __m512i e = _mm512_or_si512(_mm512_srli_epi64(bits, 52), _mm512_set1_epi64(0x4330000000000000));
  return {_mm512_sub_pd(_mm512_castsi512_pd(e), _mm512_set1_pd(4503599627370496.0 + 1023.0))};
}
inline void stream_fence() { _mm_sfence(); }
#else
#error "FSM_SIMD_LEVEL must be 0, 1, 2 or 3"
#endif

// a*b + c rounded once on every level (the scalar level's fmadd rounds
// twice): the error-free products of exact-inl.h need it.
template <class T>
FSM_HOT Vec<T> fused(Vec<T> a, Vec<T> b, Vec<T> c) {
#if FSM_SIMD_LEVEL == 0
  return {fma(a.v, b.v, c.v)};
#else
  return fmadd(a, b, c);
#endif
}
