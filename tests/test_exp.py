"""The kernels' vectorised exp (fastsoftmax._core.exp) and float64 log
(fastsoftmax._core.log, the log S of short-row blocks): error in ULP over a
dense sample of the whole input range, special values, and lane
consistency (a value gets the same bits in a full vector and in a tail).

Bounds asserted (the kernel's header documents them): float32 <= 1.5 ULP,
float64 <= 2 ULP; log <= 1 ULP (fdlibm's bound for its method). References: float64 exp for float32 (its error is far
below a float32 ulp); extended precision (np.longdouble, 64-bit mantissa on
x86-64) for float64, itself checked against mpmath on a subsample.
"""
from __future__ import annotations

import numpy as np
import pytest

from fastsoftmax import _core

MAX_ULP = {np.float32: 1.5, np.float64: 2.0}
RANGE = {np.float32: (-87.3, 88.3), np.float64: (-708.0, 709.0)}
N = 1_000_000


def vexp(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    _core.exp(x, out)
    return out


def vlog(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    _core.log(x, out)
    return out


def ulp_of(value: np.ndarray, mant_bits: int) -> np.ndarray:
    """The spacing of the target format at each (positive, normal) value."""
    _, e = np.frexp(np.asarray(value, np.float64))   # value = m 2**e, m in [0.5, 1)
    return np.ldexp(1.0, e - mant_bits)


def dense_sample(dtype, rng) -> np.ndarray:
    lo, hi = RANGE[dtype]
    grid = np.linspace(lo, hi, N // 2)
    rand = rng.uniform(lo, hi, N // 2)
    # values near 0 (where r is tiny and the polynomial's low terms matter)
    small = np.concatenate([rng.uniform(-1e-3, 1e-3, 5000), np.linspace(-1, 1, 5001)])
    # multiples of ln 2 and their neighbours (the reduction's boundaries)
    k = np.arange(int(lo / np.log(2)) + 1, int(hi / np.log(2)))
    bounds = (k[:, None] * np.log(2) + np.array([-1e-6, -0.5 * np.log(2) + 1e-7, 0.0, 0.5 * np.log(2) - 1e-7,
                                                  1e-6])[None, :]).ravel()
    x = np.concatenate([grid, rand, small, bounds]).astype(dtype)
    return x[(x >= lo) & (x <= hi)]


@pytest.mark.numeric
def test_float32_ulp_error(rng):
    x = dense_sample(np.float32, rng)
    got = vexp(x).astype(np.float64)
    want = np.exp(x.astype(np.float64))
    err = np.abs(got - want) / ulp_of(want, 24)
    excess = err - MAX_ULP[np.float32]
    worst = int(np.argmax(excess))
    assert excess.max() <= 0, (
        f"float32 exp: {err[worst]:.3f} ulp at x={x[worst]!r} (got {got[worst]!r}, want {want[worst]!r})")


def _reference_exp_float64(x: np.ndarray):
    """exp in extended precision as (hi, rel): hi = exp(x) rounded to float64,
    rel = (exp(x) - hi) / hi, so that exp(x) = hi (1 + rel) to ~2**-63
    (kept relative: an absolute low part would underflow near 1e-308)."""
    ld = np.exp(x.astype(np.longdouble))
    hi = ld.astype(np.float64)
    rel = ((ld - hi.astype(np.longdouble)) / hi.astype(np.longdouble)).astype(np.float64)
    return hi, rel


@pytest.mark.numeric
def test_float64_ulp_error(rng):
    if np.finfo(np.longdouble).nmant < 60:
        pytest.skip("needs an extended-precision long double for the float64 reference")
    x = dense_sample(np.float64, rng)
    got = vexp(x)
    hi, rel = _reference_exp_float64(x)
    # (got - hi) is exact (the two are within a few ulps)
    err = np.abs((got - hi) / hi - rel) * hi / ulp_of(hi, 53)
    worst = int(np.argmax(err))
    assert err.max() <= MAX_ULP[np.float64], (
        f"float64 exp: {err.max():.3f} ulp at x={x[worst]!r} (got {got[worst]!r}, want {hi[worst]!r})")


def test_float64_reference_agrees_with_mpmath(rng):
    # The long double reference above is trusted only because of this check.
    mpmath = pytest.importorskip("mpmath")
    if np.finfo(np.longdouble).nmant < 60:
        pytest.skip("no extended-precision long double on this platform")
    mpmath.mp.prec = 120
    x = np.concatenate([rng.uniform(*RANGE[np.float64], 3000), [-708.0, -707.9, 708.9, 709.0]])
    hi, rel = _reference_exp_float64(x)
    for xi, h, r in zip(x, hi, rel):
        exact = mpmath.exp(mpmath.mpf(float(xi)))
        approx = mpmath.mpf(float(h)) * (1 + mpmath.mpf(float(r)))
        assert abs((approx - exact) / exact) < 2.0**-60, xi


@pytest.mark.numeric
def test_float64_ulp_error_against_mpmath_subsample(rng):
    # An independent check of the float64 bound that needs no long double.
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.prec = 100
    x = rng.uniform(*RANGE[np.float64], 4000)
    got = vexp(x)
    worst = 0.0
    for xi, gi in zip(x, got):
        exact = mpmath.exp(mpmath.mpf(float(xi)))
        ulp = 2.0 ** (int(mpmath.floor(mpmath.log(exact, 2))) - 52)
        worst = max(worst, float(abs(mpmath.mpf(float(gi)) - exact) / ulp))
    assert worst <= MAX_ULP[np.float64], worst


@pytest.mark.numeric
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(dtype):
    x = np.array([-np.inf, np.nan, np.inf, 0.0, -0.0, 1e30 if dtype == np.float32 else 1e300,
                  -1e30 if dtype == np.float32 else -1e300], dtype)
    y = vexp(x)
    assert y[0] == 0.0
    assert np.isnan(y[1])
    assert y[2] == np.inf
    assert y[3] == 1.0 and y[4] == 1.0
    assert y[5] == np.inf
    assert y[6] == 0.0


@pytest.mark.numeric
def test_float32_results_below_the_smallest_normal_are_zero_or_denormal_accurate():
    # documented: below ln(2**-126) = -87.3365 the result is 0 or, down to
    # about -87.68, a denormal within three denormal spacings of exp(x)
    # (the float relative error, 2.5 + 87/20 ulp, is 2.3 spacings there)
    x = np.array([-87.35, -87.5, -87.6, -87.7, -90.0, -100.0, -104.0, -200.0, -1e10], np.float32)
    y = vexp(x).astype(np.float64)
    want = np.exp(x.astype(np.float64))
    assert (y < np.finfo(np.float32).tiny).all()
    above = x > -87.7
    np.testing.assert_allclose(y[above], want[above], rtol=0, atol=2.0 ** -149 * 3)
    assert (y[~above] == 0.0).all()


@pytest.mark.numeric
def test_float32_exp_is_finite_up_to_the_overflow_threshold():
    # exp(x) is finite for x <= ln(FLT_MAX) = 88.7228...; the header promises
    # +inf only "above the largest finite result".
    x = np.array([88.3, 88.4, 88.5, 88.6, 88.7, 88.72], np.float32)
    y = vexp(x)
    want = np.exp(x.astype(np.float64))
    assert np.isfinite(y).all(), f"exp({x[~np.isfinite(y)]}) gave inf, want {want[~np.isfinite(y)]}"
    np.testing.assert_allclose(y, want, rtol=3e-7)
    assert vexp(np.array([88.73, 89.0], np.float32)).tolist() == [np.inf, np.inf]


@pytest.mark.numeric
def test_float64_exp_is_finite_up_to_the_overflow_threshold():
    x = np.array([709.0, 709.1, 709.3, 709.5, 709.7, 709.78])
    y = vexp(x)
    assert np.isfinite(y).all(), f"exp({x[~np.isfinite(y)]}) gave inf, want {np.exp(x[~np.isfinite(y)])}"
    np.testing.assert_allclose(y, np.exp(x), rtol=5e-16)
    assert vexp(np.array([709.79, 710.0])).tolist() == [np.inf, np.inf]


@pytest.mark.numeric
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_in_full_vectors_and_tails(dtype, rng):
    # The kernels rely on a lane giving the same value whether it is computed
    # in a full vector or in a row's ragged end.
    x = rng.uniform(-80, 80, 4099).astype(dtype)
    full = vexp(x)
    for start in (0, 1, 3, 7, 13):
        for n in (1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 33, 100):
            np.testing.assert_array_equal(vexp(x[start:start + n].copy()), full[start:start + n])


# ---------------------------------------------------------------- log (float64)

LOG_MAX_ULP = 1.0


def log_sample(rng) -> np.ndarray:
    wide = 10.0 ** rng.uniform(-307, 308, N // 4)
    # the range log S takes (S in [1, row length]) and the reduction's edges
    sums = np.concatenate([rng.uniform(1, 4096, N // 4), np.geomspace(1, 2.0 ** 40, 5001)])
    near_one = 1 + rng.uniform(-1e-3, 1e-3, 20000)
    edges = np.sqrt(2) * 2.0 ** np.arange(-60, 61)
    edges = np.concatenate([edges, np.nextafter(edges, 0), np.nextafter(edges, np.inf), 2.0 ** np.arange(-1022, 1024)])
    subnormal = np.concatenate([np.array([5e-324, 1e-320, 1e-310]), rng.uniform(5e-324, 2.2e-308, 1000)])
    x = np.concatenate([wide, sums, near_one, edges, subnormal])
    return x[x != 1.0]


@pytest.mark.numeric
def test_float64_log_ulp_error(rng):
    if np.finfo(np.longdouble).nmant < 60:
        pytest.skip("needs an extended-precision long double for the float64 reference")
    x = log_sample(rng)
    got = vlog(x)
    want = np.log(x.astype(np.longdouble))
    hi = want.astype(np.float64)
    err = np.abs((got.astype(np.longdouble) - want) / ulp_of(np.abs(hi), 53).astype(np.longdouble)).astype(np.float64)
    worst = int(np.argmax(err))
    assert err.max() <= LOG_MAX_ULP, (
        f"float64 log: {err.max():.3f} ulp at x={x[worst]!r} (got {got[worst]!r}, want {hi[worst]!r})")


@pytest.mark.numeric
def test_float64_log_ulp_error_against_mpmath_subsample(rng):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.prec = 100
    x = np.concatenate([10.0 ** rng.uniform(-300, 300, 2000), rng.uniform(0.5, 2.0, 2000)])
    got = vlog(x)
    worst = 0.0
    for xi, gi in zip(x, got):
        exact = mpmath.log(mpmath.mpf(float(xi)))
        if exact == 0:
            continue
        ulp = 2.0 ** (int(mpmath.floor(mpmath.log(abs(exact), 2))) - 52)
        worst = max(worst, float(abs(mpmath.mpf(float(gi)) - exact) / ulp))
    assert worst <= LOG_MAX_ULP, worst


@pytest.mark.numeric
def test_log_special_values():
    x = np.array([1.0, 0.0, -0.0, -1.0, -np.inf, np.inf, np.nan, 2.0, 0.5])
    y = vlog(x)
    assert y[0] == 0.0
    assert y[1] == -np.inf and y[2] == -np.inf
    assert np.isnan(y[3]) and np.isnan(y[4])
    assert y[5] == np.inf
    assert np.isnan(y[6])
    assert y[7] == np.log(2.0) and y[8] == -np.log(2.0)


@pytest.mark.numeric
def test_log_same_bits_in_full_vectors_and_tails(rng):
    x = 10.0 ** rng.uniform(-300, 300, 1031)
    full = vlog(x)
    for start in (0, 1, 3, 7):
        for n in (1, 2, 3, 5, 7, 8, 9, 17):
            np.testing.assert_array_equal(vlog(x[start:start + n].copy()), full[start:start + n])
