// Vectorised exp.
//
// Method (Cephes expf / exp, S. Moshier): n = round(x / ln 2),
// r = x - n ln 2 with ln 2 split in two (Cody & Waite) so that r is exact to
// a few ulps, exp(r) by a polynomial on |r| <= ln(2)/2, times 2^n built in
// the exponent bits.
//  - float: Cephes' degree-7 minimax polynomial (1 + r + r^2 P5(r)).
//  - double: the Taylor series to degree 13 (remainder < 5e-18 relative).
// Inputs below ln(smallest normal) give 0 (no denormal results: those are
// below 1.2e-38 / 2.2e-308, under every tolerance the kernels promise);
// inputs above the largest finite result give +inf; NaN gives NaN.
// Measured error against a float64 / mpmath reference over the whole input
// range (tests/test_exp.py): at most 2 ulp (float) and 2 ulp (double) on
// every SIMD level.
#pragma once

template <class T> struct ExpConstants;
template <> struct ExpConstants<float> {
  static constexpr float lo = -87.33654f;   // ln(2^-126)
  static constexpr float hi = 88.37626f;    // largest x with round(x/ln2) <= 127
  static constexpr float log2e = 1.44269504088896341f;
  static constexpr float ln2_hi = 0.693359375f;
  static constexpr float ln2_lo = -2.12194440e-4f;
};
template <> struct ExpConstants<double> {
  static constexpr double lo = -708.3964185322641;  // ln(2^-1022)
  static constexpr double hi = 709.0895657128241;   // round(x/ln2) <= 1023
  static constexpr double log2e = 1.4426950408889634;
  static constexpr double ln2_hi = 0.693145751953125;
  static constexpr double ln2_lo = 1.42860682030941723212e-6;
};

inline Vec<float> exp_poly(Vec<float> r) {
  Vec<float> p = set1(1.9875691500e-4f);
  p = fmadd(p, r, set1(1.3981999507e-3f));
  p = fmadd(p, r, set1(8.3334519073e-3f));
  p = fmadd(p, r, set1(4.1665795894e-2f));
  p = fmadd(p, r, set1(1.6666665459e-1f));
  p = fmadd(p, r, set1(5.0000001201e-1f));
  return fmadd(p, r * r, r) + set1(1.0f);
}

inline Vec<double> exp_poly(Vec<double> r) {
  // 1/k! for k = 13 .. 2
  Vec<double> p = set1(1.0 / 6227020800.0);
  p = fmadd(p, r, set1(1.0 / 479001600.0));
  p = fmadd(p, r, set1(1.0 / 39916800.0));
  p = fmadd(p, r, set1(1.0 / 3628800.0));
  p = fmadd(p, r, set1(1.0 / 362880.0));
  p = fmadd(p, r, set1(1.0 / 40320.0));
  p = fmadd(p, r, set1(1.0 / 5040.0));
  p = fmadd(p, r, set1(1.0 / 720.0));
  p = fmadd(p, r, set1(1.0 / 120.0));
  p = fmadd(p, r, set1(1.0 / 24.0));
  p = fmadd(p, r, set1(1.0 / 6.0));
  p = fmadd(p, r, set1(0.5));
  return fmadd(p, r * r, r) + set1(1.0);
}

template <class T>
inline Vec<T> vexp(Vec<T> x) {
  using C = ExpConstants<T>;
  Vec<T> n = round_nearest(x * set1(C::log2e));
  Vec<T> r = fmadd(n, set1(-C::ln2_hi), x);
  r = fmadd(n, set1(-C::ln2_lo), r);
  Vec<T> y = exp_poly(r) * pow2i(n);
  // NaN: every comparison is false, and y is already NaN.
  y = select(lt(x, set1(C::lo)), set1(T(0)), y);
  y = select(lt(set1(C::hi), x), set1(T(HUGE_VAL)), y);
  return y;
}
