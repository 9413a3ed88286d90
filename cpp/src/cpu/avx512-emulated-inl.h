// The AVX-512F intrinsics that kernels/simd-inl.h uses, computed lane by lane
// on a CPU without AVX-512: the test build FASTSOFTMAX_EMULATE_AVX512
// (docs/numerics.md, "Instruction sets"). Every one is an exact lane operation (IEEE add, sub,
// mul, div, fma, max with x86's NaN rule, compares, conversions, shuffles and
// masked moves), so the emulated level computes the bits the real one does,
// 16 float or 8 double lanes and the same reduction trees, and its accuracy
// and bitwise digests can be checked on any x86-64 CPU with AVX2.
//
// Included inside the avx512 namespace, before simd-inl.h: these functions
// hide GCC's (which would need -mavx512f) from the kernels' unqualified calls.
// GCC's vector types of 64 bytes are kept; without AVX-512 it lowers their
// operators to two 256-bit halves. Masked loads and stores touch only the
// selected lanes, as the hardware does.
#pragma once

// GCC defines the intrinsics that take an immediate as macros at -O0.
#undef _mm512_cmp_ps_mask
#undef _mm512_cmp_pd_mask
#undef _mm512_extractf64x4_pd
#undef _mm512_shuffle_ps
#undef _mm512_shuffle_f32x4
#undef _mm512_shuffle_f64x2
#undef _mm512_slli_epi32
#undef _mm512_slli_epi64
#undef _mm512_srli_epi64

namespace emulated {
template <class V, class E>
inline V broadcast(E x) {
  V r;
  for (int i = 0; i < int(sizeof(V) / sizeof(E)); ++i) r[i] = x;
  return r;
}
template <class H, class V>
inline H half(V v, int i) {
  H h;
  memcpy(&h, reinterpret_cast<const char*>(&v) + 32 * i, 32);
  return h;
}
template <class V, class H>
inline V join(H lo, H hi) {
  V r;
  memcpy(&r, &lo, 32);
  memcpy(reinterpret_cast<char*>(&r) + 32, &hi, 32);
  return r;
}
// op (a 256-bit instruction) on the low halves of its operands, then on the
// high halves.
template <class H, class Op, class V, class... Rest>
inline V by_halves(const Op& op, V a, Rest... rest) {
  return join<V>(op(half<H>(a, 0), half<H>(rest, 0)...), op(half<H>(a, 1), half<H>(rest, 1)...));
}
// The bit mask of the lanes of a vector compare's result (all ones or zero).
template <class M, class V>
inline M lane_bits(V c) {
  M m = 0;
  for (int i = 0; i < int(sizeof(V) / sizeof(c[0])); ++i) m = M(m | ((c[i] != 0 ? 1u : 0u) << i));
  return m;
}
template <class V, class M>
inline V blend(M m, V a, V b) {  // lane i: b where bit i of m is set, else a
  for (int i = 0; i < int(sizeof(V) / sizeof(a[0])); ++i)
    if ((m >> i) & 1) a[i] = b[i];
  return a;
}
// Lanes within 128-bit blocks (E per block), as unpacklo / unpackhi.
template <class V, int E>
inline V unpack(V a, V b, int from) {
  V r;
  for (int blk = 0; blk < 4; ++blk)
    for (int i = 0; i < E / 2; ++i) {
      r[blk * E + 2 * i] = a[blk * E + from + i];
      r[blk * E + 2 * i + 1] = b[blk * E + from + i];
    }
  return r;
}
// Whole 128-bit blocks (E lanes each): a's blocks imm[1:0], imm[3:2], then
// b's blocks imm[5:4], imm[7:6].
template <class V, int E>
inline V shuffle_blocks(V a, V b, int imm) {
  V r;
  for (int blk = 0; blk < 4; ++blk) {
    const V& src = blk < 2 ? a : b;
    const int from = (imm >> (2 * blk)) & 3;
    for (int i = 0; i < E; ++i) r[blk * E + i] = src[from * E + i];
  }
  return r;
}
template <class V, class E, class M>
inline V masked_load(V src, M m, const E* p) {
  for (int i = 0; i < int(sizeof(V) / sizeof(E)); ++i)
    if ((m >> i) & 1) src[i] = p[i];
  return src;
}
template <class V, class E, class M>
inline void masked_store(E* p, M m, V a) {
  for (int i = 0; i < int(sizeof(V) / sizeof(E)); ++i)
    if ((m >> i) & 1) p[i] = a[i];
}
// The same bits as another type of the same size.
template <class To, class From>
inline To as(From v) {
  static_assert(sizeof(To) == sizeof(From), "a reinterpretation keeps the size");
  To r;
  memcpy(&r, &v, sizeof r);
  return r;
}
// The two predicates the kernels use; any other stops the process rather
// than answer wrongly.
template <class M, class V>
inline M compare(V a, V b, int predicate) {
  if (predicate == _CMP_LT_OQ) return lane_bits<M>(a < b);
  if (predicate == _CMP_NEQ_UQ) return lane_bits<M>(a != b);  // true where either is NaN
  abort();
}
template <class V>
inline V load(const void* p) {
  V r;
  memcpy(&r, p, sizeof(V));
  return r;
}
}  // namespace emulated

inline __m512 _mm512_set1_ps(float a) { return emulated::broadcast<__m512>(a); }
inline __m512d _mm512_set1_pd(double a) { return emulated::broadcast<__m512d>(a); }
inline __m512i _mm512_set1_epi64(long long a) { return emulated::broadcast<__m512i>(a); }
inline __m512 _mm512_loadu_ps(const void* p) { return emulated::load<__m512>(p); }
inline __m512d _mm512_loadu_pd(const void* p) { return emulated::load<__m512d>(p); }
inline __m512 _mm512_mask_loadu_ps(__m512 src, __mmask16 m, const void* p) {
  return emulated::masked_load(src, m, static_cast<const float*>(p));
}
inline __m512d _mm512_mask_loadu_pd(__m512d src, __mmask8 m, const void* p) {
  return emulated::masked_load(src, m, static_cast<const double*>(p));
}
inline void _mm512_storeu_ps(void* p, __m512 a) { memcpy(p, &a, sizeof a); }
inline void _mm512_storeu_pd(void* p, __m512d a) { memcpy(p, &a, sizeof a); }
inline void _mm512_stream_ps(void* p, __m512 a) { memcpy(p, &a, sizeof a); }
inline void _mm512_stream_pd(void* p, __m512d a) { memcpy(p, &a, sizeof a); }
inline void _mm512_mask_storeu_ps(void* p, __mmask16 m, __m512 a) { emulated::masked_store(static_cast<float*>(p), m, a); }
inline void _mm512_mask_storeu_pd(void* p, __mmask8 m, __m512d a) { emulated::masked_store(static_cast<double*>(p), m, a); }

inline __m512 _mm512_add_ps(__m512 a, __m512 b) { return a + b; }
inline __m512d _mm512_add_pd(__m512d a, __m512d b) { return a + b; }
inline __m512 _mm512_sub_ps(__m512 a, __m512 b) { return a - b; }
inline __m512d _mm512_sub_pd(__m512d a, __m512d b) { return a - b; }
inline __m512 _mm512_mul_ps(__m512 a, __m512 b) { return a * b; }
inline __m512d _mm512_mul_pd(__m512d a, __m512d b) { return a * b; }
inline __m512 _mm512_div_ps(__m512 a, __m512 b) { return a / b; }
inline __m512d _mm512_div_pd(__m512d a, __m512d b) { return a / b; }
// fma and max through the AVX2 instructions: one rounding, and max's rule
// for NaN and signed zeros (the second operand) is the AVX-512 one.
inline __m512 _mm512_fmadd_ps(__m512 a, __m512 b, __m512 c) {
  return emulated::by_halves<__m256>([](__m256 x, __m256 y, __m256 z) { return _mm256_fmadd_ps(x, y, z); }, a, b, c);
}
inline __m512d _mm512_fmadd_pd(__m512d a, __m512d b, __m512d c) {
  return emulated::by_halves<__m256d>([](__m256d x, __m256d y, __m256d z) { return _mm256_fmadd_pd(x, y, z); }, a, b, c);
}
inline __m512 _mm512_max_ps(__m512 a, __m512 b) {
  return emulated::by_halves<__m256>([](__m256 x, __m256 y) { return _mm256_max_ps(x, y); }, a, b);
}
inline __m512d _mm512_max_pd(__m512d a, __m512d b) {
  return emulated::by_halves<__m256d>([](__m256d x, __m256d y) { return _mm256_max_pd(x, y); }, a, b);
}
inline __mmask16 _mm512_cmp_ps_mask(__m512 a, __m512 b, int p) { return emulated::compare<__mmask16>(a, b, p); }
inline __mmask8 _mm512_cmp_pd_mask(__m512d a, __m512d b, int p) { return emulated::compare<__mmask8>(a, b, p); }
inline __m512 _mm512_mask_blend_ps(__mmask16 m, __m512 a, __m512 b) { return emulated::blend(m, a, b); }
inline __m512d _mm512_mask_blend_pd(__mmask8 m, __m512d a, __m512d b) { return emulated::blend(m, a, b); }
inline __m512 _mm512_maskz_mov_ps(__mmask16 m, __m512 a) { return emulated::blend(m, __m512{}, a); }
inline __m512d _mm512_maskz_mov_pd(__mmask8 m, __m512d a) { return emulated::blend(m, __m512d{}, a); }

inline float _mm512_cvtss_f32(__m512 a) { return a[0]; }
inline double _mm512_cvtsd_f64(__m512d a) { return a[0]; }
inline __m256 _mm512_castps512_ps256(__m512 a) { return emulated::half<__m256>(a, 0); }
inline __m256d _mm512_castpd512_pd256(__m512d a) { return emulated::half<__m256d>(a, 0); }
inline __m256d _mm512_extractf64x4_pd(__m512d a, int i) { return emulated::half<__m256d>(a, i & 1); }
inline __m512d _mm512_cvtps_pd(__m256 a) { return __builtin_convertvector(a, __m512d); }
inline __m512d _mm512_castps_pd(__m512 a) { return emulated::as<__m512d>(a); }
inline __m512i _mm512_castps_si512(__m512 a) { return emulated::as<__m512i>(a); }
inline __m512i _mm512_castpd_si512(__m512d a) { return emulated::as<__m512i>(a); }
inline __m512 _mm512_castsi512_ps(__m512i a) { return emulated::as<__m512>(a); }
inline __m512d _mm512_castsi512_pd(__m512i a) { return emulated::as<__m512d>(a); }

inline __m512 _mm512_unpacklo_ps(__m512 a, __m512 b) { return emulated::unpack<__m512, 4>(a, b, 0); }
inline __m512 _mm512_unpackhi_ps(__m512 a, __m512 b) { return emulated::unpack<__m512, 4>(a, b, 2); }
inline __m512d _mm512_unpacklo_pd(__m512d a, __m512d b) { return emulated::unpack<__m512d, 2>(a, b, 0); }
inline __m512d _mm512_unpackhi_pd(__m512d a, __m512d b) { return emulated::unpack<__m512d, 2>(a, b, 1); }
// Within each 128-bit block: a's lanes imm[1:0], imm[3:2], then b's imm[5:4], imm[7:6].
inline __m512 _mm512_shuffle_ps(__m512 a, __m512 b, int imm) {
  __m512 r;
  for (int blk = 0; blk < 4; ++blk)
    for (int i = 0; i < 4; ++i) r[4 * blk + i] = (i < 2 ? a : b)[4 * blk + ((imm >> (2 * i)) & 3)];
  return r;
}
inline __m512 _mm512_shuffle_f32x4(__m512 a, __m512 b, int imm) { return emulated::shuffle_blocks<__m512, 4>(a, b, imm); }
inline __m512d _mm512_shuffle_f64x2(__m512d a, __m512d b, int imm) { return emulated::shuffle_blocks<__m512d, 2>(a, b, imm); }

inline __m512i _mm512_cvtepu8_epi32(__m128i a) {
  const __v16qu bytes = emulated::as<__v16qu>(a);
  __v16si r;
  for (int i = 0; i < 16; ++i) r[i] = bytes[i];
  return emulated::as<__m512i>(r);
}
inline __m512i _mm512_cvtepu8_epi64(__m128i a) {
  const __v16qu bytes = emulated::as<__v16qu>(a);
  __m512i r;
  for (int i = 0; i < 8; ++i) r[i] = bytes[i];
  return r;
}
inline __mmask16 _mm512_test_epi32_mask(__m512i a, __m512i b) {
  return emulated::lane_bits<__mmask16>(emulated::as<__v16si>(a) & emulated::as<__v16si>(b));
}
inline __mmask8 _mm512_test_epi64_mask(__m512i a, __m512i b) { return emulated::lane_bits<__mmask8>(a & b); }
inline __m512i _mm512_and_si512(__m512i a, __m512i b) { return a & b; }
inline __m512i _mm512_or_si512(__m512i a, __m512i b) { return a | b; }
// Shifts by 32 (64) or more give zeros, as the instructions do.
inline __m512i _mm512_slli_epi32(__m512i a, unsigned int n) {
  return n > 31 ? __m512i{} : emulated::as<__m512i>(emulated::as<__v16su>(a) << n);
}
inline __m512i _mm512_slli_epi64(__m512i a, unsigned int n) {
  return n > 63 ? __m512i{} : emulated::as<__m512i>(emulated::as<__v8du>(a) << n);
}
inline __m512i _mm512_srli_epi64(__m512i a, unsigned int n) {
  return n > 63 ? __m512i{} : emulated::as<__m512i>(emulated::as<__v8du>(a) >> n);
}
