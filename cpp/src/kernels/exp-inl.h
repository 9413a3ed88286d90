// Vectorised exp.
//
// Method (Cephes expf / exp, S. Moshier): n = round(x / ln 2) by the
// shifter trick, r = x - n ln 2 with ln 2 split in two (Cody & Waite: n
// ln2_hi is exact, so r carries no error from the rounding of ln 2, which
// would grow with |n|), exp(r) by a polynomial on |r| <= ln(2)/2, times 2^n
// built in the exponent bits.
//  - float: exp(r) is a degree-6 polynomial with p(0) = 1, fitted here
//    (Lawson's iteration for the minimax relative error, 2.0e-9 on the
//    interval; 0.9 ulp with Horner's roundings in float).
//  - double: exp(r) is a degree-11 polynomial, the Chebyshev interpolant of
//    exp on the interval (mpmath's chebyfit), relative error 1.7e-17 with
//    its coefficients rounded to double.
// Inputs below about ln(smallest normal) - 0.35 give exactly 0; between that
// and ln(smallest normal) the result is a denormal within three (float) or
// one (double) denormal spacings of exp(x) (all below 1.2e-38 / 2.2e-308);
// inputs above the largest finite result give +inf; NaN gives NaN.
// Error against a float64 / long double reference over the whole input range
// (tests/test_exp.py): float at most 1.5 ulp (measured 1.05, the scalar
// level's float a*b+c being taken in double), double at most 2 ulp
// (measured 0.93, and 1.17 at the scalar level, whose a*b+c rounds twice),
// on every SIMD level.
#pragma once

template <class T> struct ExpConstants;
template <> struct ExpConstants<float> {
  static constexpr float floor = -88.0f;    // rounds to n = -127: the result is exactly 0
  static constexpr float hi = 88.37626f;    // largest x with round(x/ln2) <= 127
  static constexpr float max = 88.72283935546875f;  // ln(FLT_MAX)
  static constexpr float big = 64.0f;       // x - big is exact for x near hi
  static constexpr float exp_big = 6.2351490808116168829e27f;
  static constexpr float log2e = 1.44269504088896341f;
  // 1.5 * 2^23 + 127: adding it rounds x/ln2 to an integer n and leaves
  // n + 127 (the biased exponent of 2^n) in the low mantissa bits.
  static constexpr float shifter = 12583039.0f;
  static constexpr float ln2_hi = 0.693359375f;
  static constexpr float ln2_lo = -2.12194440e-4f;
  static constexpr int mantissa_bits = 23;
  static constexpr float min_normal = 1.17549435082228751e-38f;  // FLT_MIN
};
template <> struct ExpConstants<double> {
  static constexpr double floor = -709.0;   // rounds to n = -1023: the result is exactly 0
  static constexpr double hi = 709.0895657128241;   // round(x/ln2) <= 1023
  static constexpr double max = 709.782712893384;   // ln(DBL_MAX)
  static constexpr double big = 512.0;
  static constexpr double exp_big = 2.2844135865397566e222;
  static constexpr double log2e = 1.4426950408889634;
  static constexpr double shifter = 6755399441056767.0;  // 1.5 * 2^52 + 1023
  static constexpr double ln2_hi = 0.693145751953125;
  static constexpr double ln2_lo = 1.42860682030941723212e-6;
  static constexpr double ln2_hi42 = 0.6931471805598903;     // ln 2 to 42 bits (vexp_parts)
  static constexpr double ln2_lo42 = 5.497923018708371e-14;
  static constexpr int mantissa_bits = 52;
  static constexpr double min_normal = 2.2250738585072014e-308;  // DBL_MIN
};

// c[0] r^(K-1) + ... + c[K-1] by Horner's scheme in multiply-adds.
template <class T, int K>
FSM_HOT Vec<T> horner(Vec<T> r, const T (&c)[K]) {
  Vec<T> p = set1(c[0]);
  for (int k = 1; k < K; ++k) p = fmadd(p, r, set1(c[k]));
  return p;
}

// exp(r) for |r| <= ln(2)/2.
inline Vec<float> exp_poly(Vec<float> r) {
  static constexpr float c[] = {1.3843652559444308e-3f, 8.37415549904108e-3f, 4.166800156235695e-2f,
                                1.6666431725025177e-1f, 4.999999403953552e-1f, 1.0f, 1.0f};
  return horner(r, c);
}

inline Vec<double> exp_poly(Vec<double> r) {
  static constexpr double c[] = {2.5110037605963777e-08, 2.763263963904103e-07, 2.755724091857897e-06,
                                 2.4801485482328494e-05, 1.9841269890047113e-04, 1.3888888952314775e-03,
                                 8.333333333319601e-03,  4.16666666664881e-02,   1.666666666666668e-01,
                                 5.000000000000019e-01,  1.0,                    1.0};
  return horner(r, c);
}

// (exp(a) - 1 - a - a^2/2) / a^3 for |a| <= ln(2)/2: degree 9, the
// Chebyshev interpolant (mpmath's chebyfit), error 1e-18 relative to exp(a)
// in a^3 times it.
FSM_HOT Vec<double> exp_tail3(Vec<double> a) {
  static constexpr double c[] = {2.091122972995766e-09,  2.5100375832840034e-08, 2.755728298405546e-07,
                                 2.755726848030944e-06,  2.4801587317135164e-05, 1.9841269863040545e-04,
                                 1.3888888888886554e-03, 8.333333333330065e-03,  4.1666666666666664e-02,
                                 1.6666666666666669e-01};
  return horner(a, c);
}

// exp(x) for x <= hi (the kernels' arguments x - max are <= 0): no overflow
// check. Below `floor` the biased exponent is 0, so the result is exactly 0;
// NaN stays NaN (vmax keeps a NaN in its second operand).
template <class T>
inline Vec<T> vexp_bounded(Vec<T> x) {
  using C = ExpConstants<T>;
  x = vmax(set1(C::floor), x);
  const Vec<T> t = fmadd(x, set1(C::log2e), set1(C::shifter));
  const Vec<T> n = t - set1(C::shifter);
  const Vec<T> r = fmadd(n, set1(-C::ln2_lo), fmadd(n, set1(-C::ln2_hi), x));
  return exp_poly(r) * exponent_bits<C::mantissa_bits>(t);
}

// exp(x + lo) for x <= hi and |lo| <= ulp(x), unrounded: hi + lo (ExpParts)
// within 0.02 ulp of it, for the float64 outputs rounded once (exact-inl.h;
// 0.508 ulp once rounded). x = n ln 2 + a + c with ln 2 split at 42 bits:
// a = x - n ln2_hi42 is exact and c = lo - n ln2_lo42 below 1e-10, so
// exp(x + lo) = 2^n (exp(a) + c exp(a)) to 1e-20; exp(a) = 1 + a + a^2/2
// + a^3 q(a), whose two large terms are added exactly (Fast2Sum, a^2 split
// by a fused product), so only terms below 0.01 round.
template <class T>
struct ExpParts {
  Vec<T> hi, lo;
};

FSM_HOT ExpParts<double> vexp_parts(Vec<double> x, Vec<double> lo) {
  using C = ExpConstants<double>;
  const Vec<double> zero = set1(0.0), one = set1(1.0), half = set1(0.5);
  const Vec<double> low = select(lt(x, set1(C::floor)), zero, lo);  // no -inf - -inf from the caller's lo
  x = vmax(set1(C::floor), x);
  const Vec<double> t = fmadd(x, set1(C::log2e), set1(C::shifter));
  const Vec<double> n = t - set1(C::shifter);
  const Vec<double> a = fmadd(n, set1(-C::ln2_hi42), x);  // exact: 11 + 42 bits, and within 2x of x
  const Vec<double> c = fmadd(n, set1(-C::ln2_lo42), low);
  const Vec<double> a2 = a * a, a2_lo = fused(a, a, zero - a2);
  const Vec<double> h1 = one + a, h2 = half * a2, h = h1 + h2;
  const Vec<double> rest = (((one - h1) + a) + ((h1 - h) + h2)) + fmadd(half, a2_lo, a2 * a * exp_tail3(a));
  const Vec<double> scale = exponent_bits<C::mantissa_bits>(t);
  return {h * scale, fmadd(c, h + rest, rest) * scale};
}

// exp(x) for every x: between hi and ln(max) as exp(x - big) exp(big) (2^n
// would overflow the exponent field), +inf above.
template <class T>
inline Vec<T> vexp(Vec<T> x) {
  using C = ExpConstants<T>;
  Vec<T> y = vexp_bounded(x);
  y = select(lt(set1(C::hi), x), vexp_bounded(x - set1(C::big)) * set1(C::exp_big), y);
  return select(lt(set1(C::max), x), set1(T(HUGE_VAL)), y);
}
