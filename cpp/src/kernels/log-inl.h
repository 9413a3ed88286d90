// Vectorised natural log of doubles: log S for a block of short rows at once
// (shortrows-inl.h), where a libm call per row would cost a tenth of the row,
// and binary cross-entropy's log1p (bce-inl.h).
//
// Method and coefficients: fdlibm's e_log.c (Sun Microsystems, 1993).
// x = 2^k (1 + f) with 1 + f in [sqrt(2)/2, sqrt(2)); s = f / (2 + f);
//   log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))),
// R a degree-7 polynomial in s^2 (minimax for (log((1+s)/(1-s)) - 2s)/s, that
// file's Lg1..Lg7); k ln 2 is added in two parts, k ln2_hi being exact.
// fdlibm states an error below 1 ulp; tests/test_exp.py asserts that bound
// from the subnormals to 1e308 (measured: 0.68 ulp) and the special values:
// log(0) = -inf, log(x < 0) = NaN, log(+inf) = +inf, NaN stays NaN.
// Subnormal inputs are scaled by 2^54 first.
#pragma once

// k ln 2 + log(1 + f) for f in [sqrt(2)/2 - 1, sqrt(2) - 1] (fdlibm's kernel).
inline Vec<double> log_kernel(Vec<double> f, Vec<double> k) {
  using V = Vec<double>;
  const V s = f / (set1(2.0) + f);
  const V z = s * s, w = z * z;
  const V t1 = w * fmadd(w, fmadd(w, set1(1.531383769920937332e-01), set1(2.222219843214978396e-01)),
                         set1(3.999999999940941908e-01));
  const V t2 = z * fmadd(w, fmadd(w, fmadd(w, set1(1.479819860511658591e-01), set1(1.818357216161805012e-01)),
                                  set1(2.857142874366239149e-01)),
                         set1(6.666666666666735130e-01));
  const V R = t2 + t1;
  const V hfsq = set1(0.5) * f * f;
  return k * set1(6.93147180369123816490e-01) - ((hfsq - (s * (hfsq + R) + k * set1(1.90821492927058770002e-10))) - f);
}

// The same in float: the method of the float version e_logf.c (FreeBSD
// msun), R of degree 2 in s^2 (its Lg1..Lg4), ln 2 in two parts; an error
// below 1 ulp of float stated there.
inline Vec<float> log_kernel(Vec<float> f, Vec<float> k) {
  using V = Vec<float>;
  const V s = f / (set1(2.0f) + f);
  const V z = s * s, w = z * z;
  const V t1 = w * fmadd(w, set1(0xf89e26.0p-26f), set1(0xccce13.0p-25f));
  const V t2 = z * fmadd(w, set1(0x91e9ee.0p-25f), set1(0xaaaaaa.0p-24f));
  const V R = t2 + t1;
  const V hfsq = set1(0.5f) * f * f;
  return k * set1(6.9313812256e-01f) - ((hfsq - (s * (hfsq + R) + k * set1(9.0580006145e-06f))) - f);
}

inline Vec<double> vlog(Vec<double> x) {
  using V = Vec<double>;
  const V inf = set1(HUGE_VAL);
  const auto subnormal = lt(x, set1(2.2250738585072014e-308));  // also 0 and x < 0, fixed below
  const V xs = select(subnormal, x * set1(18014398509481984.0), x);  // 2^54
  V m;
  V k = split_exponent(xs, m);
  k = select(subnormal, k - set1(54.0), k);
  const auto above = lt(set1(1.4142135623730951), m);  // m > sqrt(2): use m/2 and k+1
  m = select(above, m * set1(0.5), m);
  k = select(above, k + set1(1.0), k);
  V r = log_kernel(m - set1(1.0), k);
  r = select(lt(x, inf), r, x);                           // +inf and NaN give themselves
  r = select(lt(x, set1(0.0)), set1(static_cast<double>(NAN)), r);
  return select(neq(x, set1(0.0)), r, set1(-HUGE_VAL));
}

// log(1 + e) for e in [0, 1] (NaN gives NaN), within ~1 ulp, with no
// rounding of 1 + e: f = e itself, or for 1 + e > sqrt(2), f = (e - 1) / 2
// and k = 1 (an error of at most half an ulp of 1/4 in f, ~0.5 ulp of the
// result).
template <class T>
inline Vec<T> vlog1p_unit(Vec<T> e) {
  const auto big = lt(set1(T(0.41421356237309503)), e);
  return log_kernel(select(big, (e - set1(T(1))) * set1(T(0.5)), e), select(big, set1(T(1)), set1(T(0))));
}
