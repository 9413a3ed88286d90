"""logsumexp: reference parity over the sample table, SciPy (b, return_sign,
special values) and PyTorch, temperature semantics, empty axes, long rows."""
from __future__ import annotations

import numpy as np
import pytest

import fastsoftmax as fs

import ops
import reference as ref
from ops import assert_logsumexp_close, normal

LSE_OPS = ops.ops_in("logsumexp")


@pytest.mark.numeric
@pytest.mark.parametrize("op,sample,dtype", ops.sample_params(LSE_OPS))
def test_matches_float64_reference(op, sample, dtype, rng):
    ops.run_sample(op, sample, dtype, rng)


# ---------------------------------------------------------------- SciPy

SCIPY_CASES = [
    ("rows", (6, 33), -1, False),
    ("axis0", (6, 33), 0, False),
    ("tuple-axes", (3, 4, 17), (0, 2), False),
    ("all-axes", (3, 4, 17), None, False),
    ("keepdims", (3, 4, 17), 1, True),
    ("keepdims-tuple", (3, 4, 17), (0, 2), True),
    ("keepdims-none", (3, 4, 17), None, True),
]


@pytest.mark.parametrize("case,shape,axis,keepdims", SCIPY_CASES, ids=[c[0] for c in SCIPY_CASES])
@pytest.mark.parametrize("weights", ["none", "positive", "mixed-sign"])
def test_matches_scipy(case, shape, axis, keepdims, weights, dtype, rng, scipy_special):
    x = normal(rng, shape, dtype, 3.0)
    b = {"none": None, "positive": rng.uniform(0.1, 2.0, shape),
         "mixed-sign": rng.uniform(-1.0, 1.0, shape)}[weights]
    b = None if b is None else b.astype(dtype)
    got, got_sign = fs.logsumexp(x, axis=axis, b=b, keepdims=keepdims, return_sign=True)
    want, want_sign = scipy_special.logsumexp(x.astype(np.float64), axis=axis, b=None if b is None else
                                              b.astype(np.float64), keepdims=keepdims, return_sign=True)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_array_equal(got_sign, want_sign)
    # mixed signs cancel: the rounding of the terms is amplified by sum|b e| / |sum b e|
    cond = ref.logsumexp_condition(x, axis, b)
    cond = np.reshape(cond, np.shape(want))
    tol = (3e-6 if dtype == np.float32 else 1e-13) * (1.0 + np.abs(want)) * cond
    assert (np.abs(got - want) <= tol).all(), np.max(np.abs(got - want) / tol)


def test_matches_scipy_on_special_values(dtype, scipy_special):
    x = ops.special_rows(37, dtype)
    b = np.where(np.arange(37) % 4 == 1, 0.0, 1.0).astype(dtype) * np.ones((1, 37), dtype)
    for kwargs in ({}, {"b": b}, {"return_sign": True}, {"b": -b, "return_sign": True}):
        got = fs.logsumexp(x, axis=-1, **kwargs)
        want = scipy_special.logsumexp(x.astype(np.float64), axis=-1,
                                       **{k: (v.astype(np.float64) if k == "b" else v) for k, v in kwargs.items()})
        # SciPy multiplies b == 0 by exp(inf) (NaN); we drop b == 0 terms as
        # documented, so rows with an infinite x under a zero weight differ.
        same_rule = ~(np.isinf(x) & (np.broadcast_to(kwargs.get("b", 1.0), x.shape) == 0)).any(axis=-1)
        for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
            g, w = np.asarray(g, np.float64)[same_rule], np.asarray(w)[same_rule]
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=str(kwargs))
            np.testing.assert_array_equal(np.isinf(g) * np.sign(g), np.isinf(w) * np.sign(w), err_msg=str(kwargs))
            fin = np.isfinite(w)
            np.testing.assert_allclose(g[fin], w[fin], rtol=3e-6, err_msg=str(kwargs))


def test_scalar_result_for_1d_input_like_scipy(dtype, rng):
    x = normal(rng, (50,), dtype)
    r = fs.logsumexp(x)
    assert isinstance(r, np.generic) and r.dtype == dtype
    r, s = fs.logsumexp(x, return_sign=True)
    assert isinstance(r, np.generic) and isinstance(s, np.generic) and s == 1


# ---------------------------------------------------------------- PyTorch

@pytest.mark.parametrize("shape,dim", [((6, 33), -1), ((6, 33), 0), ((3, 4, 1025), 2), ((3, 4, 17), (0, 2))])
def test_matches_torch(shape, dim, dtype, rng, torch):
    x = normal(rng, shape, dtype, 5.0)
    got = fs.logsumexp(x, axis=dim)
    want = torch.logsumexp(torch.from_numpy(x.astype(np.float64)), dim=dim).numpy()
    rtol = 3e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


# ---------------------------------------------------------------- semantics

def test_temperature_gives_the_normaliser_not_t_times_it(dtype):
    # log(exp(0/2) + exp(0/2)) = log 2; T * that would be 2 log 2.
    x = np.zeros((1, 2), dtype)
    np.testing.assert_allclose(fs.logsumexp(x, temperature=2.0), [np.log(2.0)], rtol=1e-6)
    x = np.array([[2.0, 4.0, 6.0]], dtype)
    want = np.log(np.exp(1.0) + np.exp(2.0) + np.exp(3.0))
    np.testing.assert_allclose(fs.logsumexp(x, temperature=2.0), [want], rtol=2e-6)


@pytest.mark.parametrize("shape,axis,want_shape", [((3, 0), -1, (3,)), ((0, 5), -1, (0,)), ((0, 5), 0, (5,)),
                                                   ((2, 0, 3), (1, 2), (2,)), ((0, 5), None, ())])
def test_empty_axis_gives_minus_inf(shape, axis, want_shape, dtype):
    r = fs.logsumexp(np.zeros(shape, dtype), axis=axis)
    assert np.shape(r) == want_shape
    assert np.asarray(r).dtype == dtype
    if 0 not in want_shape:
        # the reduced axis is empty: log(0) = -inf, as in SciPy
        assert (np.asarray(r) == -np.inf).all()


def test_empty_axis_keepdims_shape(dtype):
    r = fs.logsumexp(np.zeros((3, 0), dtype), axis=-1, keepdims=True)
    assert r.shape == (3, 1) and (r == -np.inf).all()


def test_special_values_spelled_out(dtype):
    x = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [np.nan, 1.0], [np.inf, -np.inf], [-np.inf, 2.0]], dtype)
    r = fs.logsumexp(x)
    assert r[0] == -np.inf
    assert r[1] == np.inf
    assert np.isnan(r[2])
    assert r[3] == np.inf
    assert r[4] == dtype.type(2.0)


def test_zero_weight_excludes_inf_and_nan_free(dtype):
    x = np.array([[np.inf, 0.0, 0.0], [np.nan, 0.0, 0.0]], dtype)
    b = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]], dtype)
    r = fs.logsumexp(x, b=b)
    np.testing.assert_allclose(r[0], np.log(2.0), rtol=1e-6)
    assert np.isnan(r[1])


def test_negative_sum_without_sign_is_nan_and_with_sign_negative(dtype):
    x = np.array([1.0, 2.0], dtype)
    b = np.array([1.0, -1.0], dtype)
    assert np.isnan(fs.logsumexp(x, b=b))
    r, s = fs.logsumexp(x, b=b, return_sign=True)
    assert s == -1
    np.testing.assert_allclose(r, np.log(np.exp(2.0) - np.exp(1.0)), rtol=2e-6)
    # exact cancellation: log(0) = -inf with sign 0
    r, s = fs.logsumexp(np.array([3.0, 3.0], dtype), b=np.array([2.0, -2.0], dtype), return_sign=True)
    assert r == -np.inf and s == 0


@pytest.mark.parametrize("int_dtype", [np.int16, np.int64, np.uint8, np.bool_])
def test_integers_and_bool_compute_in_float64(int_dtype, rng):
    x = rng.integers(0, 2 if int_dtype == np.bool_ else 100, (3, 40)).astype(int_dtype)
    r = fs.logsumexp(x)
    assert r.dtype == np.float64
    assert_logsumexp_close(r, x.astype(np.float64), dtype=np.float64)


def test_float16_in_float16_out(rng):
    x = normal(rng, (5, 300), np.float16, 3.0)
    r = fs.logsumexp(x)
    assert r.dtype == np.float16
    np.testing.assert_allclose(r.astype(np.float64), ref.logsumexp(x), rtol=2**-11 * 1.01)


# ---------------------------------------------------------------- long rows (segmented path)

LONG = 1_100_000


@pytest.mark.numeric
@pytest.mark.parametrize("weights", ["none", "positive", "mixed-sign"])
@pytest.mark.parametrize("shape", [(2, LONG), (3, 300_000)], ids=["2x1100000", "3x300000"])
def test_long_rows(weights, shape, dtype, rng):
    # rows of >= 4 * 2**16 elements, cut into segments when threads would idle
    x = normal(rng, shape, dtype, 3.0)
    x[0, shape[1] - 3] = 20.0      # the max in the last segment
    b = {"none": None, "positive": rng.uniform(0.1, 2.0, x.shape).astype(dtype),
         "mixed-sign": rng.uniform(-0.2, 1.0, x.shape).astype(dtype)}[weights]
    if b is not None:
        b[1, : 65536 * 2] = 0       # whole segments weighted out
    kw = {"b": b, "return_sign": weights == "mixed-sign"}
    assert_logsumexp_close(fs.logsumexp(x, **kw), x, b=b, return_sign=kw["return_sign"], dtype=dtype)


@pytest.mark.numeric
def test_long_rows_special_values(dtype):
    x = np.zeros((5, LONG), dtype)
    x[:] = np.linspace(-5, 5, LONG, dtype=dtype)
    x[0, : 2 * 65536 + 17] = -np.inf
    x[1] = -np.inf
    x[2, LONG - 1] = np.nan
    x[3, 70_000] = np.inf
    x[4, :] = -np.inf
    x[4, 900_000] = 1.0
    r = fs.logsumexp(x, temperature=0.5)
    assert_logsumexp_close(r, x, temperature=0.5, dtype=dtype)
    assert r[1] == -np.inf and np.isnan(r[2]) and r[3] == np.inf
    assert r[4] == dtype.type(2.0)


@pytest.mark.numeric
def test_long_row_tuple_axes(dtype, rng):
    # axes (0, 2) of a (1100, 2, 1000) array: 1.1M elements per result
    x = normal(rng, (1100, 2, 1000), dtype, 2.0)
    assert_logsumexp_close(fs.logsumexp(x, axis=(0, 2)), x, axis=(0, 2), dtype=dtype)


# ---------------------------------------------------------------- row summaries
# (their peer comparisons are in their op entries: tests/ops/logsumexp.py)

def test_merging_keeps_infinities_and_nan():
    m, s = fs.merge_row_statistics(np.array([[np.inf, -np.inf, 1.0, np.nan],
                                             [np.inf, 2.0, -np.inf, 0.0]]),
                                   np.array([[2.0, 0.0, 1.0, 1.0],
                                             [1.0, 1.0, 0.0, 1.0]]))
    assert m.tolist()[:3] == [np.inf, 2.0, 1.0] and s.tolist()[:3] == [3.0, 1.0, 1.0]
    assert m[3] == 0.0 and np.isnan(s[3])


# Results near 0: the largest term is 1 and the others are below the rounding
# of 1 + s (SciPy's gh-18295). Rows of n elements (tiny tiles, blocks,
# pipelined rows) with the dominant 0 first, last or in the middle.
NEAR_ZERO_ROWS = [([0.0, -40.0], 4.248354255291589e-18), ([0.0, -20.0], None), ([-1e-10, -40.0], None),
                  ([0.0, -20.0, -20.0, -20.0], None), ([-0.5, -0.5 - 745.0, -30.0], None)]


def _lse_mpmath(x, temperature=1.0) -> float:
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    return float(mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v)) / mpmath.mpf(temperature)) for v in x)))


@pytest.mark.numeric
@pytest.mark.parametrize("row,expected", NEAR_ZERO_ROWS, ids=[str(r[0]) for r in NEAR_ZERO_ROWS])
@pytest.mark.parametrize("pad", [0, 30, 3000], ids=["bare", "pad30", "pad3000"])
def test_results_near_zero_keep_their_relative_accuracy(row, expected, pad, dtype):
    # padding with -inf keeps the value and moves the row onto another path
    x = np.array(row + [-np.inf] * pad, dtype)
    want = _lse_mpmath(x[np.isfinite(x)])
    if expected is not None:
        assert want == expected
    rtol = 4 * ops.UNIT[dtype] * 2  # a few ulps: the exp values' own error (docs/numerics.md)
    for rows in (1, 5, 40):
        got = fs.logsumexp(np.tile(np.roll(x, pad // 2), (rows, 1)))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0, err_msg=f"{rows} rows")
    np.testing.assert_allclose(fs.logsumexp(x * 2, temperature=2.0), want, rtol=rtol, atol=0)


@pytest.mark.numeric
@pytest.mark.parametrize("row,expected", NEAR_ZERO_ROWS, ids=[str(r[0]) for r in NEAR_ZERO_ROWS])
@pytest.mark.parametrize("pad", [0, 30, 3000, 1 << 19], ids=["bare", "pad30", "pad3000", "pad2^19"])
def test_log_softmax_largest_element_near_zero_keeps_its_relative_accuracy(row, expected, pad, dtype):
    # log_softmax's largest element is M - lse = -log S: it came out 0 for
    # [0, -40] (as SciPy's and PyTorch's do), not -4.25e-18
    x = np.array(row + [-np.inf] * pad, dtype)
    top = int(np.argmax(x))
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50  # -log S = M - lse, from the exact values (x - M rounds for [-1e-10, -40])
    finite = [mpmath.mpf(float(v)) for v in x[np.isfinite(x)]]
    want = float(mpmath.mpf(float(x[top])) - mpmath.log(mpmath.fsum(mpmath.exp(v) for v in finite)))
    rtol = 4 * ops.UNIT[dtype] * 2
    for rows in ((1, 5, 40) if pad < 4096 else (1, 2)):
        got = fs.log_softmax(np.tile(x, (rows, 1)))[:, top]
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0, err_msg=f"{rows} rows")
    np.testing.assert_allclose(fs.log_softmax(x * 2, temperature=2.0)[top], want, rtol=rtol, atol=0)


def test_x_and_b_broadcast_against_each_other_like_scipy(rng):
    # b was only broadcast to x's shape; SciPy broadcasts the two together
    scipy_special = pytest.importorskip("scipy.special")
    x = np.zeros((4, 1, 2, 1))
    b = np.ones((3, 1, 5))
    assert fs.logsumexp(x, axis=None, b=b) == pytest.approx(scipy_special.logsumexp(x, b=b), rel=1e-15)
    x, b = rng.standard_normal((4, 1, 6)), rng.uniform(-1, 1, (3, 6))
    for axis in (-1, 0, (0, 2)):
        got, sign = fs.logsumexp(x, axis=axis, b=b, return_sign=True)
        want, want_sign = scipy_special.logsumexp(x, axis=axis, b=b, return_sign=True)
        np.testing.assert_allclose(got, want, rtol=1e-12)
        np.testing.assert_array_equal(sign, want_sign)
