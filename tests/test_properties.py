"""Property tests (hypothesis): invariants that hold for any input, checked
on generated arrays of any shape and axis."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastsoftmax as fs

import ops
import reference as ref

SETTINGS = settings(max_examples=40, deadline=None, database=None)
DTYPES = st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])


@st.composite
def arrays_and_axis(draw, dtype=None, min_side=1, max_side=40, lo=-60.0, hi=60.0):
    dt = draw(DTYPES) if dtype is None else np.dtype(dtype)
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=max_side))
    x = draw(hnp.arrays(dt, shape, elements=st.floats(lo, hi, width=dt.itemsize * 8)))
    nd = len(shape)
    axis = draw(st.one_of(st.integers(-nd, nd - 1), st.none(),
                          st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True).map(tuple)))
    return x, axis


def _keepdims_axes(x, axis):
    return ref.axes_of(x.ndim, axis)


@SETTINGS
@given(data=st.data())
def test_softmax_is_invariant_to_an_exact_shift(data):
    # x on a grid of 1/8 and an integer shift: x + c is exact, and so is
    # x + c - max(x + c), so the results must be bitwise equal.
    dt = data.draw(DTYPES)
    limit = 2**12 if dt == np.float32 else 2**30
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=40))
    k = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-limit, limit)))
    c = data.draw(st.integers(-limit, limit))
    temperature = data.draw(st.sampled_from([1.0, 0.5, 2.0, 0.25]))  # powers of 2: exact scaling
    x = (k / 8).astype(dt)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    for fn in (fs.softmax, fs.log_softmax):
        a = fn(x, axis=axis, temperature=temperature)
        b = fn(x + dt.type(c), axis=axis, temperature=temperature)
        np.testing.assert_array_equal(a, b, err_msg=fn.__name__)


@SETTINGS
@given(arrays_and_axis())
def test_softmax_rows_sum_to_one(x_axis):
    x, axis = x_axis
    y = fs.softmax(x, axis=axis)
    axes = _keepdims_axes(x, axis)
    n = int(np.prod([x.shape[a] for a in axes]))
    s = np.sum(y.astype(np.float64), axis=axes)
    # each element within ~RTOL + its rounding; the sum within n * that
    tol = (4e-6 if x.dtype == np.float32 else 2e-13) + n * float(np.finfo(x.dtype).eps)
    assert np.all(np.abs(s - 1.0) <= tol), np.max(np.abs(s - 1.0))
    assert (y >= 0).all() and (y <= 1).all()


@SETTINGS
@given(arrays_and_axis(), st.sampled_from([1.0, 0.3, 2.5]))
def test_log_softmax_equals_x_over_t_minus_logsumexp(x_axis, temperature):
    x, axis = x_axis
    ls = fs.log_softmax(x, axis=axis, temperature=temperature).astype(np.float64)
    lse = np.asarray(fs.logsumexp(x, axis=axis, keepdims=True, temperature=temperature), np.float64)
    z = x.astype(np.float64) / temperature
    rtol = ops.RTOL[x.dtype]
    tol = 2 * rtol * (1.0 + np.abs(z) + np.abs(lse))
    assert np.all(np.abs(ls - (z - lse)) <= tol)


@SETTINGS
@given(arrays_and_axis(), st.sampled_from([1.0, 0.7]))
def test_softmax_equals_exp_of_log_softmax(x_axis, temperature):
    x, axis = x_axis
    y = fs.softmax(x, axis=axis, temperature=temperature).astype(np.float64)
    ls = fs.log_softmax(x, axis=axis, temperature=temperature).astype(np.float64)
    e = np.exp(ls)
    rtol = ops.RTOL[x.dtype]
    arg = np.abs(ref.scaled_shift(x, axis, temperature))
    tol = e * (2 * rtol * (1.0 + np.abs(ls)) + 2 * arg * ops.UNIT[x.dtype]) + ops.TINY[x.dtype]
    assert np.all(np.abs(y - e) <= tol)


@SETTINGS
@given(arrays_and_axis(lo=-30, hi=30))
def test_logsumexp_with_unit_weights_equals_without(x_axis):
    x, axis = x_axis
    a = np.asarray(fs.logsumexp(x, axis=axis), np.float64)
    b = np.asarray(fs.logsumexp(x, axis=axis, b=np.ones_like(x)), np.float64)
    np.testing.assert_allclose(a, b, rtol=ops.RTOL[x.dtype], atol=ops.RTOL[x.dtype])


@SETTINGS
@given(data=st.data())
def test_cross_entropy_index_targets_equal_one_hot_probabilities(data):
    dt = data.draw(DTYPES)
    n = data.draw(st.integers(1, 12))
    C = data.draw(st.integers(1, 70))
    x = data.draw(hnp.arrays(dt, (n, C), elements=st.floats(-20, 20, width=dt.itemsize * 8)))
    t = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, C - 1)))
    eps = data.draw(st.sampled_from([0.0, 0.1, 0.5]))
    onehot = np.eye(C, dtype=dt)[t]
    l1, g1 = fs.cross_entropy(x, t, label_smoothing=eps, reduction="none", return_grad=True)
    l2, g2 = fs.cross_entropy(x, onehot, label_smoothing=eps, reduction="none", return_grad=True)
    ops.assert_loss_close(l1, l2.astype(np.float64), dt, "index vs one-hot", "none", (n,))
    ops.assert_grad_close(g1, g2.astype(np.float64), dt, "index vs one-hot grad")


@SETTINGS
@given(data=st.data())
def test_cross_entropy_gradient_rows_sum_to_zero(data):
    # Without weights, each row's gradient is p - q with both summing to 1
    # (plus z_loss * 2 lse p, which sums to 2 z lse).
    dt = data.draw(DTYPES)
    n, C = data.draw(st.integers(1, 10)), data.draw(st.integers(2, 300))
    x = data.draw(hnp.arrays(dt, (n, C), elements=st.floats(-30, 30, width=dt.itemsize * 8)))
    t = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, C - 1)))
    eps = data.draw(st.sampled_from([0.0, 0.2]))
    _, g = fs.cross_entropy(x, t, label_smoothing=eps, reduction="sum", return_grad=True)
    s = g.astype(np.float64).sum(axis=-1)
    assert np.all(np.abs(s) <= C * float(np.finfo(dt).eps) * 4 + (2e-6 if dt == np.float32 else 1e-14))


@SETTINGS
@given(arrays_and_axis(lo=-40, hi=40))
def test_matches_reference_on_generated_inputs(x_axis):
    x, axis = x_axis
    ops.assert_softmax_close(fs.softmax(x, axis=axis), x, axis, 1.0, x.dtype)
    ops.assert_log_softmax_close(fs.log_softmax(x, axis=axis), x, axis, 1.0, x.dtype)
    ops.assert_logsumexp_close(fs.logsumexp(x, axis=axis), x, axis, dtype=x.dtype)


@SETTINGS
@given(data=st.data())
def test_bce_is_symmetric_under_flipping_logit_and_target(data):
    # l(x, t) = l(-x, 1 - t) for pos_weight = 1; the gradients are opposite.
    dt = data.draw(DTYPES)
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=30))
    x = data.draw(hnp.arrays(dt, shape, elements=st.floats(-50, 50, width=dt.itemsize * 8)))
    t = data.draw(hnp.arrays(dt, shape, elements=st.sampled_from([0.0, 0.25, 0.5, 1.0])))
    l1, g1 = fs.binary_cross_entropy_with_logits(x, t, reduction="none", return_grad=True)
    l2, g2 = fs.binary_cross_entropy_with_logits(-x, (1 - t).astype(dt), reduction="none", return_grad=True)
    rtol = ops.LOSS_RTOL[dt]
    # PyTorch's formula (1-t) x + softplus(-x) cancels for x << 0, t = 0
    # (-23 + 23.0000000001): an absolute error ~1e-16 |x| that the flipped
    # form does not have. Only that much is asked.
    ops.assert_within(l1, l2, rtol * np.abs(l2.astype(np.float64)) + 1e-15 * (1 + np.abs(x)), "bce loss")
    # (1 - t) - sigmoid(-x) cancels near sigmoid(x) = t: ~1e-16 absolute
    np.testing.assert_allclose(g1, -g2, rtol=rtol, atol=1e-15)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5)])
def test_hypothesis_strategies_reach_every_axis_form(shape):
    # Guards the strategies above: ints, tuples and None all valid for the
    # library's axis normaliser.
    x = np.zeros(shape)
    for axis in (None, -1, 0, tuple(range(len(shape)))):
        assert fs.softmax(x, axis=axis).shape == shape
