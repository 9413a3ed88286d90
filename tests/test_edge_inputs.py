"""Inputs at the edges of what is valid: temperatures near the ends of the
float range, big-endian and misaligned arrays, masked classes without target
mass, means over a zero denominator. Each test failed on an earlier build
(NaN, a refused or misread argument, or a misaligned load found by UBSan)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastsoftmax as fs

import ops
import reference as ref

TINY_T = {np.dtype(np.float32): 1e-39, np.dtype(np.float64): 1e-310}


# --------------------------------------------------------------------------
# Temperatures whose reciprocal is not a normal number of the dtype
# --------------------------------------------------------------------------

def _divided(x: np.ndarray, T: float) -> np.ndarray:
    """x / T rounded to x's dtype: what the peers compute before their softmax."""
    with np.errstate(over="ignore", under="ignore"):
        return np.divide(x, T, dtype=np.float64).astype(x.dtype)


def test_tiny_temperature_is_the_argmax(dtype):
    # 1/T overflows the dtype: it gave NaN everywhere
    x = np.array([1e-30, 2e-30, 0.0], dtype) if dtype == np.float32 else np.array([1e-10, 2e-10, 0.0])
    T = TINY_T[dtype]
    np.testing.assert_array_equal(fs.softmax(x, temperature=T), [0.0, 1.0, 0.0])
    np.testing.assert_allclose(fs.logsumexp(x, temperature=T), 2e9 if dtype == np.float32 else 2e300, rtol=1e-6)
    logp = fs.log_softmax(x, temperature=T)
    assert logp[1] == 0.0 and np.all(logp[[0, 2]] < -1e8)


@pytest.mark.parametrize("T", ["tiny", "huge"])
@pytest.mark.parametrize("n", [3, 40, 3000])
def test_extreme_temperature_matches_dividing_first(dtype, T, n, rng):
    # huge T: 1/T is subnormal or 0 in float32, losing its digits
    T = TINY_T[dtype] if T == "tiny" else (1e39 if dtype == np.float32 else 1e308)
    scale = 1e-30 if T < 1 else T / 100
    x = (rng.standard_normal((4, n)) * scale).astype(dtype)
    x32 = _divided(x, T)
    ops.assert_softmax_close(fs.softmax(x, temperature=T), x32, -1, 1.0, dtype)
    want = ref.logsumexp(x32, axis=-1)
    np.testing.assert_allclose(fs.logsumexp(x, temperature=T), want, rtol=ops.RTOL[dtype])


@pytest.mark.parametrize("n", [33, 1000])
@pytest.mark.parametrize("T", [0.001, 0.01])
def test_small_temperature_error_is_relative_to_the_argument(n, T):
    # x - max is exact near the max, then scaled: rounding x/T first gave an
    # error of |x/T| * 2^-24 in the exponent (about 1000 eps in softmax here)
    rng = np.random.default_rng(20240615 + n)
    x = rng.standard_normal((16, n)).astype(np.float32)
    x64 = x.astype(np.float64)
    m = x64.max(-1, keepdims=True)
    d = (x64 - m) / T
    log_s = np.log(np.exp(d).sum(-1, keepdims=True))
    eps = np.finfo(np.float32).eps
    want = np.exp(d - log_s)
    big = want > 1e-6
    got = fs.softmax(x, temperature=T).astype(np.float64)
    assert np.max(np.abs(got - want)[big] / want[big]) < 8 * eps
    got = fs.log_softmax(x, temperature=T).astype(np.float64)
    assert np.max(np.abs(got - (d - log_s)) / (1.0 + np.abs(d - log_s))) < 8 * eps
    got = fs.logsumexp(x, axis=-1, temperature=T).astype(np.float64)
    want = (m / T + log_s)[:, 0]
    assert np.max(np.abs(got - want) / np.abs(want)) < 4 * eps


def test_huge_temperature_on_huge_logits_keeps_the_difference():
    # x - max overflows float32 where (x - max) / T does not
    x = np.array([-2e38, 2e38, 1e38], np.float32)
    T = 5e37
    want = ref.log_softmax(x, -1, T)
    np.testing.assert_allclose(fs.log_softmax(x, temperature=T), want, rtol=1e-6)
    np.testing.assert_allclose(fs.softmax(x, temperature=T), ref.softmax(x, -1, T), rtol=1e-5)


def test_tiny_temperature_backward_divides_the_gradient(dtype):
    y = np.array([0.25, 0.75], dtype)
    g = np.array([1.0, 0.0], dtype)
    T = TINY_T[dtype]
    got = fs.softmax_backward(g, y, temperature=T)
    at_one = fs.softmax_backward(g, y)
    with np.errstate(over="ignore"):
        want = np.divide(at_one, T, dtype=np.float64).astype(dtype)
    np.testing.assert_array_equal(got, want)
    assert abs(got[0]) > 1e38  # 0.1875 / T: inf in float64, 1.875e38 in float32
    zero = fs.softmax_backward(np.array([1.0, 1.0], dtype), y, temperature=T)
    np.testing.assert_array_equal(zero, [0.0, 0.0])  # 0 / T, not 0 * inf = NaN


# --------------------------------------------------------------------------
# Byte order and alignment
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["f4", "f8", "i4", "i8"])
def test_big_endian_inputs_are_converted(kind, rng):
    x = (rng.standard_normal((5, 9)) * 3).astype(kind)
    big = x.astype(">" + kind)
    np.testing.assert_array_equal(fs.softmax(big), fs.softmax(x))
    np.testing.assert_array_equal(fs.logsumexp(big, b=big), fs.logsumexp(x, b=x))
    np.testing.assert_array_equal(fs.binary_cross_entropy_with_logits(big, big, pos_weight=big[0]),
                                  fs.binary_cross_entropy_with_logits(x, x, pos_weight=x[0]))


def test_big_endian_targets_and_weights(rng):
    x = rng.standard_normal((6, 5))
    t = np.array([0, 4, 2, 1, 3, 0])
    w = rng.uniform(0.5, 2.0, 5)
    q = fs.softmax(rng.standard_normal((6, 5)))
    want = fs.cross_entropy(x, t, weight=w, return_grad=True)
    got = fs.cross_entropy(x.astype(">f8"), t.astype(">i8"), weight=w.astype(">f8"), return_grad=True)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(fs.cross_entropy(x, q.astype(">f8")), fs.cross_entropy(x, q))


@pytest.mark.parametrize("arg", ["weight", "pos_weight"])
@pytest.mark.parametrize("shape", [(), (1,), (4,), (1, 4), (3, 4)])  # () and (1,): stride-0 scalar loads
def test_misaligned_bce_weights(arg, shape, rng):
    # a broadcast (row stride 0) view at an odd byte offset reached the kernel
    x = rng.standard_normal((3, 4)).astype(np.float32)
    t = rng.uniform(0, 1, (3, 4)).astype(np.float32)
    w = rng.uniform(0.5, 2.0, shape).astype(np.float32)
    bad = ops.unaligned(w)
    for reduction in ("mean", "none"):
        want = fs.binary_cross_entropy_with_logits(x, t, reduction=reduction, return_grad=True, **{arg: w})
        got = fs.binary_cross_entropy_with_logits(x, t, reduction=reduction, return_grad=True, **{arg: bad})
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_kernels_refuse_misaligned_arrays():
    # the binding's own check, behind the Python layer's copies
    from fastsoftmax import _core
    x = ops.unaligned(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="aligned"):
        _core.softmax_rows(x, np.empty((2, 4), np.float32), 1.0, 0.0, False)
    w = ops.unaligned(np.ones(4, np.float32))
    with pytest.raises(ValueError, match="weight.*aligned"):
        _core.bce_rows(np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32),
                       np.broadcast_to(w, (2, 4)), None, 1.0, np.empty(2), None, None)


# --------------------------------------------------------------------------
# Masked classes and zero denominators
# --------------------------------------------------------------------------

@pytest.mark.parametrize("rows,C", [(3, 5), (40, 5), (2, 3000)])  # tiny-row tiles, blocks, long rows
def test_probability_target_zero_on_masked_class(dtype, rows, C, rng):
    x = rng.standard_normal((rows, C)).astype(dtype)
    x[:, 1] = -np.inf
    q = rng.uniform(0, 1, (rows, C))
    q[:, 1] = 0.0
    q = (q / q.sum(axis=1, keepdims=True)).astype(dtype)
    loss, grad = fs.cross_entropy(x, q, reduction="none", return_grad=True)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))  # NaN from 0 * -inf before
    np.testing.assert_array_equal(grad[:, 1], 0.0)
    finite = x.astype(np.float64)
    finite[:, 1] = -1e4  # exp underflows to 0 as exp(-inf) does, and 0 * -1e4 = 0
    want, want_grad = ref.cross_entropy(finite, q, reduction="none")
    ops.assert_loss_close(loss, want, dtype, "loss", "none", (rows,))
    ops.assert_grad_close(grad, want_grad, dtype, "grad")
    # smoothing puts mass on the masked class: the loss is +inf, not NaN
    smoothed = fs.cross_entropy(x, q, reduction="none", label_smoothing=0.1)
    assert np.all(smoothed == np.inf)


def test_zero_weight_masked_class_in_smoothing(dtype):
    x = np.array([[0.0, -np.inf, 1.0]] * 2, dtype)
    w = np.array([1.0, 0.0, 1.0], dtype)
    loss, grad = fs.cross_entropy(x, np.array([0, 2]), weight=w, label_smoothing=0.1, reduction="none",
                                  return_grad=True)
    finite = x.astype(np.float64)
    finite[:, 1] = -1e4
    want, want_grad = ref.cross_entropy(finite, np.array([0, 2]), weight=w, reduction="none", label_smoothing=0.1)
    ops.assert_loss_close(loss, want, dtype, "loss", "none", (2,))
    ops.assert_grad_close(grad, want_grad, dtype, "grad")


def test_weighted_mean_over_zero_weights_is_zero(dtype):
    x = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]], dtype)
    loss, grad = fs.cross_entropy(x, np.array([1, 1]), weight=np.array([1.0, 0.0, 1.0], dtype), return_grad=True)
    assert loss == 0.0 and loss.dtype == dtype
    np.testing.assert_array_equal(grad, 0.0)


def test_unpickled_arrays_are_accepted(rng):
    # their dtype is an equal descriptor, not NumPy's own object (arrays that
    # went through multiprocessing): the binding compared identity
    import pickle
    x = rng.standard_normal((3, 5))
    t = np.array([0, 4, 2])
    again = pickle.loads(pickle.dumps((x, t)))
    np.testing.assert_array_equal(fs.softmax(again[0]), fs.softmax(x))
    assert fs.cross_entropy(*again) == fs.cross_entropy(x, t)


@pytest.mark.parametrize("kind", [np.int32, np.float16, np.bool_])
def test_empty_last_axis_of_a_converted_dtype(kind):
    x = np.zeros((3, 0), kind)
    assert fs.softmax(x).shape == (3, 0)
    np.testing.assert_array_equal(fs.logsumexp(x), np.full(3, -np.inf))
    m, s = fs.row_statistics(x)
    np.testing.assert_array_equal(s, 0.0)


# --------------------------------------------------------------------------
# Found by the fuzz driver (tools/fuzz.py)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [np.float16, np.float32])
def test_narrow_dtype_tiny_temperature_on_ordinary_logits(kind):
    # 1/T = 1e39 is past float32: x/T was rounded to float32 (inf) and gave NaN;
    # the call now computes in float64 and rounds only the results
    x = np.array([1.0, 2.0, 0.0], kind)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a result past the dtype's range is inf, without a RuntimeWarning
        np.testing.assert_array_equal(fs.softmax(x, temperature=1e-39), [0.0, 1.0, 0.0])
        np.testing.assert_array_equal(fs.log_softmax(x, temperature=1e-39), [-np.inf, 0.0, -np.inf])
        assert fs.logsumexp(x, temperature=1e-39) == np.inf
        dx = fs.softmax_backward(np.array([1.0, 0.0, 0.0], kind), np.array([0.25, 0.25, 0.5], kind),
                                 temperature=1e-39)
    want = np.array([0.25 * 0.75, 0.25 * -0.25, 0.5 * -0.25]) / 1e-39
    with np.errstate(over="ignore"):  # float16: inf
        np.testing.assert_array_equal(dx, want.astype(kind))


def test_backward_keeps_the_digits_of_a_subnormal_y():
    # y (g - sum) / T: multiplying the subnormal y last (it came first: -0 or 2 digits)
    g = np.array([1.0, 0.3], np.float32)
    y = np.array([1.0, 1e-44], np.float32)  # 7 units of the last place: y (g - sum) = 4.9 of them rounded to 5
    dx = fs.softmax_backward(g, y, temperature=1e-3)
    y64, g64 = y.astype(np.float64), g.astype(np.float64)
    want = y64 * (g64 - np.dot(g64, y64)) / 1e-3
    np.testing.assert_allclose(dx, want, rtol=1e-3)


def test_merge_of_pieces_all_at_minus_inf_is_the_empty_summary():
    # as row_statistics of an all -inf row: (-inf, 0), whatever sums came with them
    m, s = fs.merge_row_statistics(np.full((3, 2), -np.inf), np.array([[3.0, 1.0], [2.0, 0.0], [1.0, 5.0]]))
    np.testing.assert_array_equal(m, [-np.inf, -np.inf])
    np.testing.assert_array_equal(s, [0.0, 0.0])


def test_given_lse_of_plus_inf_gives_nan(rng):
    # as a row holding +inf does without lse= (it gave +inf)
    x = rng.standard_normal((2, 5))
    lse = np.array([np.inf, ref.logsumexp(x[1], axis=-1)])
    loss, grad = fs.cross_entropy(x, np.array([1, 2]), reduction="none", return_grad=True, lse=lse,
                                  class_offset=0, num_classes=5)
    assert np.isnan(loss[0]) and np.isnan(grad[0]).all()
    np.testing.assert_allclose(loss[1], ref.logsumexp(x[1], axis=-1) - x[1, 2], rtol=1e-12)


@pytest.mark.parametrize("C", [1, 2, 7, 3000])  # tiny-row tiles and long rows
def test_huge_equal_logits_do_not_cancel(dtype, C):
    # sum_c c (lse - x_c) was taken as (sum c) lse - sum_c c x_c: at x = 3e38 both
    # terms overflow or cancel (a loss of 7e18 for one class of 1e30)
    big = 3e38 if dtype == np.float32 else 1e300
    x = np.full((4, C), big, dtype)
    q = np.full((4, C), 1.0 / C, dtype)
    np.testing.assert_allclose(fs.cross_entropy(x, q, reduction="none"), np.log(C), rtol=1e-6, atol=1e-6)
    t = np.zeros(4, np.int64)
    np.testing.assert_allclose(fs.cross_entropy(x, t, label_smoothing=0.3, reduction="none"), np.log(C),
                               rtol=1e-6, atol=1e-6)
    w = np.linspace(0.5, 2.0, C).astype(dtype)
    want = (0.7 * w[0] + 0.3 / C * w.sum()) * np.log(C)
    np.testing.assert_allclose(fs.cross_entropy(x, t, weight=w, label_smoothing=0.3, reduction="none"), want,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", [False, True, np.True_, np.array([0, 0])])
def test_scalar_input_refuses_a_non_integer_axis(axis):
    # a 0-d input compared axis with a tuple of the axes it takes: False == 0 was
    # accepted, np.True_ and arrays raised NumPy's "truth value is ambiguous"
    with pytest.raises(TypeError, match="axis"):
        fs.softmax(np.float32(3.0), axis=axis)


def test_mean_over_zero_weights_has_a_zero_gradient_beside_nan(dtype):
    # grad_scale 0 times a NaN exp value gave NaN in that row
    x = np.array([[np.nan, 2.0, 3.0], [0.5, 0.0, -1.0]], dtype)
    loss, grad = fs.cross_entropy(x, np.array([1, 1]), weight=np.array([1.0, 0.0, 1.0], dtype), return_grad=True)
    assert loss == 0.0
    np.testing.assert_array_equal(grad, 0.0)
