"""Property tests (hypothesis): invariants that hold for any input, checked
on generated arrays of any shape and axis; and parity with the float64
reference (tests/reference.py) on rows of any length holding special values,
a few examples long enough for the kernels' long-row paths."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Tuple

import numpy as np
import pytest
from hypothesis import example, given, settings
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


# --------------------------------------------------------------------------
# Reference parity on rows of any length, special values included
# --------------------------------------------------------------------------
# Most examples are small (tails, short-row blocks). A few reach the paths
# that small arrays never take (cpp/src/kernels):
#   long:   rows of 2**16 to 2**18 elements (256 KB to 1 MB of float32), a
#           thread a row; past 1 MB (float64 here) their exps are recomputed
#           rather than kept on AVX-512 (keep_exps);
#   split:  rows of 4 kSegment pieces or more (past 1 MB of float32), 1 to 3
#           of them on 2 or 3 threads: cut into pieces spread over the
#           threads (split_rows), exps recomputed;
#   stream: outputs past the 24 MiB streaming-store threshold (ops.STREAM_BYTES),
#           many short rows or one long row (past 4 MB: recomputed on AVX2 too).
# The arrays are built by NumPy from a drawn seed: hypothesis draws only sizes,
# seeds and where the special values go, so a long example costs no drawing.

SPECIAL_VALUES = (np.inf, -np.inf, np.nan)
SIZE_CLASSES = ("small",) * 12 + ("long", "split", "stream")  # 1 example in 5 is large
LARGE_SETTINGS = settings(max_examples=40, deadline=None, database=None)


@dataclass(frozen=True)
class Special:
    """A run of one special value in one row: from start * n, length * n
    elements long (at least one)."""
    row: int
    start: float
    length: float
    value: float

    def apply(self, a: np.ndarray) -> None:
        n = a.shape[-1]
        lo = min(int(self.start * n), n - 1)
        a[self.row % a.shape[0], lo:lo + max(1, int(self.length * n))] = self.value


@dataclass(frozen=True)
class Rows:
    """A (rows, n) array: standard normal times ``scale``, then the specials."""
    dtype: np.dtype
    rows: int
    n: int
    threads: int
    seed: int
    scale: float = 4.0
    specials: Tuple[Special, ...] = ()

    def rng(self, offset: int = 0) -> np.random.Generator:
        return np.random.default_rng(self.seed + offset)

    def build(self) -> np.ndarray:
        x = ops.normal(self.rng(), (self.rows, self.n), self.dtype, self.scale)
        for special in self.specials:
            special.apply(x)
        return x


def specials(max_count=4):
    # mostly single elements, sometimes a run (whole chunks of -inf, a whole row)
    length = st.one_of(st.just(0.0), st.floats(0.0, 1.0))
    one = st.builds(Special, row=st.integers(0, 20), start=st.floats(0.0, 1.0, exclude_max=True), length=length,
                    value=st.sampled_from(SPECIAL_VALUES))
    return st.lists(one, max_size=max_count).map(tuple)


@st.composite
def rows_of_any_length(draw):
    dt = draw(DTYPES)
    size = draw(st.sampled_from(SIZE_CLASSES))
    threads = draw(st.sampled_from([2, 3, 1]))
    if size == "small":
        rows, n = draw(st.integers(1, 12)), draw(st.integers(1, 300))
    elif size == "long":
        rows, n = draw(st.integers(1, 4)), draw(st.integers(2**16 + 1, 2**18 - 1))
    elif size == "split":
        rows, n, threads = draw(st.integers(1, 3)), draw(st.integers(2**18 + 1, 600_000)), draw(st.sampled_from([2, 3]))
    elif draw(st.booleans()):  # stream: many short rows ...
        n = draw(st.integers(64, 5000))
        rows = ops.stream_rows(dt, n)
    else:  # ... or one long row, cut over the threads too
        rows, n, threads = 1, ops.stream_rows(dt, 1) + draw(st.integers(0, 1000)), draw(st.sampled_from([2, 3]))
    return Rows(dt, rows, n, threads, draw(st.integers(0, 2**32 - 1)), draw(st.sampled_from([4.0, 1.0, 30.0])),
                draw(specials()))


# One of each large class in every run, whatever hypothesis draws.
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
LARGE_EXAMPLES = (
    Rows(F32, 3, 2**16 + 1029, 2, 1, specials=(Special(0, 0.0, 0.5, -np.inf), Special(1, 0.7, 0.0, np.inf),
                                                 Special(2, 0.3, 0.0, np.nan))),
    Rows(F32, 1, 2**18 + 17, 2, 2, specials=(Special(0, 0.1, 0.4, -np.inf),)),
    Rows(F64, 3, 300_001, 2, 3, specials=(Special(1, 0.9, 0.0, np.inf), Special(2, 0.0, 1.0, -np.inf))),
    Rows(F32, 1, ops.stream_rows(F32, 1) + 5, 3, 4, specials=(Special(0, 0.5, 0.0, -np.inf),)),
    Rows(F32, ops.stream_rows(F32, 1000), 1000, 2, 5, specials=(Special(3, 0.2, 0.0, np.nan),
                                                               Special(5, 0.0, 1.0, -np.inf))),
)


def with_large_examples(**more):
    """The LARGE_EXAMPLES as explicit examples; ``more``: the test's other
    arguments, each a function of the example's index."""
    def decorate(test):
        for i, rows in enumerate(LARGE_EXAMPLES):
            test = example(rows=rows, **{name: value(i) for name, value in more.items()})(test)
        return test
    return decorate


@contextlib.contextmanager
def threads(n):
    # (not the restore_threads fixture: hypothesis runs every example in one test call)
    before = fs.get_num_threads()
    fs.set_num_threads(n)
    try:
        yield
    finally:
        fs.set_num_threads(before)


@LARGE_SETTINGS
@given(rows=rows_of_any_length())
@with_large_examples()
def test_softmax_family_matches_reference_on_rows_of_any_length(rows):
    x = rows.build()
    # powers of 2: x/T is exact, so the error model of assert_softmax_close
    # (the rounding of x/T - max) holds at any scale; the op table's samples
    # cover an inexact 1/T (3.7) on moderate values
    temperature = rows.rng(1).choice([1.0, 0.5, 2.0])
    with threads(rows.threads):
        ops.assert_softmax_close(fs.softmax(x, temperature=temperature), x, -1, temperature, x.dtype)
        ops.assert_log_softmax_close(fs.log_softmax(x, temperature=temperature), x, -1, temperature, x.dtype)
        ops.assert_logsumexp_close(fs.logsumexp(x, temperature=temperature), x, -1, temperature=temperature,
                                   dtype=x.dtype)
        # weights: positive, of both signs (with the sign), some zero (the term dropped)
        b = rows.rng(2).uniform(-0.3, 1.0, x.shape).astype(x.dtype)
        b[:, ::7] = 0
        ops.assert_logsumexp_close(fs.logsumexp(x, b=b, return_sign=True), x, -1, b, return_sign=True,
                                   dtype=x.dtype)


@LARGE_SETTINGS
@given(rows=rows_of_any_length(), log=st.booleans(), grad_specials=specials())
@with_large_examples(log=lambda i: i % 2 == 1,
                     grad_specials=lambda i: (Special(i, 0.5, 0.0, SPECIAL_VALUES[i % 3]),) if i % 2 else ())
def test_backward_matches_reference_on_rows_of_any_length(rows, log, grad_specials):
    x = rows.build()
    # y: the exact forward result rounded to the dtype (NaN rows, zeros and
    # -inf where x holds special values), as the op table builds it
    y = (ref.log_softmax if log else ref.softmax)(x).astype(x.dtype)
    g = ops.normal(rows.rng(1), x.shape, x.dtype)
    for special in grad_specials:
        special.apply(g)
    backward = fs.log_softmax_backward if log else fs.softmax_backward
    with threads(rows.threads):
        got = backward(g, y, temperature=0.7)
    if log:
        got = _nan_allowed_where_exp_underflows(got, g, y, 0.7)
    ops.assert_backward_close(got, g, y, -1, 0.7, x.dtype, log=log)


def _nan_allowed_where_exp_underflows(got, g, y, temperature):
    """log_softmax_backward is (g - exp(y) sum(g)) / T. The kernel's exp in
    the dtype is 0 a little below the dtype's normal range (y < about -87.4
    in float32) where float64's is not; in a row whose sum(g) is infinite
    that 0 * inf is NaN where the float64 reference has an infinity. Either
    is right there: a NaN is replaced by the reference's value, anything else
    is left for the comparison."""
    with np.errstate(under="ignore", invalid="ignore"):
        tiny_exp = np.exp(y.astype(np.float64)) < 2 * np.finfo(y.dtype).tiny
        infinite_sum = ~np.isfinite(np.sum(g.astype(np.float64), axis=-1, keepdims=True))
    allowed = tiny_exp & infinite_sum & np.isnan(got)
    return np.where(allowed, ref.log_softmax_backward(g, y, -1, temperature), got).astype(got.dtype)


@LARGE_SETTINGS
@given(rows=rows_of_any_length(), label_smoothing=st.sampled_from([0.0, 0.1]), z_loss=st.sampled_from([0.0, 1e-3]),
       weighted=st.booleans())
@with_large_examples(label_smoothing=lambda i: 0.1 * (i % 2), z_loss=lambda i: 1e-3 * (i % 3 == 0),
                     weighted=lambda i: i % 2 == 0)
def test_cross_entropy_matches_reference_on_rows_of_any_length(rows, label_smoothing, z_loss, weighted):
    x = rows.build()
    rng = rows.rng(1)
    target = ops.index_target(rng, (rows.rows,), rows.n, 0.2)
    kw = dict(label_smoothing=label_smoothing, z_loss=z_loss, reduction="none")
    if weighted:
        kw["weight"] = rng.uniform(0.2, 2.0, rows.n).astype(x.dtype)
    with threads(rows.threads):
        loss, grad = fs.cross_entropy(x, target, return_grad=True, **kw)
    want_loss, want_grad = ref.cross_entropy(x, target, **kw)
    ops.assert_loss_close(loss, want_loss, x.dtype, "cross_entropy loss", "none", (rows.rows,))
    # p_t - 1 is formed from p_t (as PyTorch does), so where p_t is near 1
    # (large logits) its error is p_t's (docs/numerics.md: 2e-6 relative in
    # float32) times the row's coefficient of p: at most the largest weight
    # plus 2 z_loss |lse| (as test_threads_and_simd.py's short-row test asks)
    p_error = 2e-6 if x.dtype == np.float32 else 1e-14
    lse = np.abs(ref.logsumexp(x, axis=-1))
    coefficient = np.max(kw.get("weight", 1.0)) + 2 * z_loss * np.max(lse[np.isfinite(lse)], initial=0.0)
    ops.assert_grad_close(grad, want_grad, x.dtype, "cross_entropy grad", atol=coefficient * p_error)
