"""The table of operations that drives the checks (PyTorch's OpInfo idea).

Each public function is registered once with
  * its float64 reference (tests/reference.py),
  * its sample inputs: shapes hitting vector tails and chunk edges, layouts
    (transposed, strided, negative strides), axes, special values,
  * a comparison with the tolerances the library promises for each dtype,
  * its bad-input cases (exception type and a message pattern).
The parity tests (test_<area>.py), the error tests (test_errors.py) and the
thread / SIMD sweeps (test_threads_and_simd.py) iterate over OPS, so a new
operation gets all of them by adding one entry here.

Samples are built lazily (``build(rng, dtype)``) so that collecting the
suite allocates nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest

import fastsoftmax

import reference as ref

INF, NAN = np.inf, np.nan

# Row lengths around every vector width (4, 8, 16 lanes) and chunk length
# (64 vectors: 256 / 512 / 1024 elements), plus odd sizes.
TAIL_LENGTHS = (1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 255, 256, 257,
                511, 512, 513, 1000, 1023, 1024, 1025, 2049, 4097)
# A subset for the heavier ops (losses).
LOSS_LENGTHS = (1, 2, 7, 8, 9, 16, 17, 33, 257, 511, 512, 513, 1000, 1025, 4097)
TEMPERATURES = (1.0, 0.5, 3.7)  # 3.7: 1/T is not exact in binary
# Outputs of at least 24 MiB are written with non-temporal (streaming) stores
# (kStreamBytes in cpp/src/kernels/parallel-inl.h): the big samples exceed it.
STREAM_BYTES = 26 << 20


def stream_rows(dtype, n: int) -> int:
    """Rows of n elements whose output is over the streaming-store threshold."""
    return -(-STREAM_BYTES // (n * np.dtype(dtype).itemsize))

# What the library promises (SPEC section 0), per compute dtype:
#   RTOL: relative error of softmax / logsumexp (float64: 1e-13, a little
#         looser than the spec's 1e-14 to leave the float64 reference its own
#         few ulps);
#   UNIT: unit roundoff; softmax's argument x/T - max is rounded to the dtype,
#         so an element with argument a has an extra relative error |a|*UNIT
#         (documented in the library's softmax kernel header);
#   TINY: elements below this are outside the relative promise.
RTOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-13}
UNIT = {np.dtype(np.float32): 6e-8, np.dtype(np.float64): 1.2e-16}
TINY = {np.dtype(np.float32): 1e-30, np.dtype(np.float64): 1e-290}
LOSS_RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


# --------------------------------------------------------------------------
# Registry types
# --------------------------------------------------------------------------

@dataclass
class Sample:
    """One call: ``build(rng, dtype) -> (args, kwargs)``."""
    desc: str
    build: Callable[[np.random.Generator, np.dtype], Tuple[tuple, dict]]


@dataclass
class BadInput:
    """A call that must raise ``exc`` with a message matching ``match``."""
    desc: str
    build: Callable[[], Tuple[tuple, dict]]
    exc: Any
    match: str
    # Regular expressions that must all be found in the message (both shapes,
    # the row and the value of a bad label).
    contains: Sequence[str] = ()


@dataclass
class OpInfo:
    name: str
    area: str
    reference: Callable[..., Any]
    samples: Callable[[], List[Sample]]
    compare: Callable[[Any, Any, tuple, dict, np.dtype], None]
    bad_inputs: Callable[[], List[BadInput]]
    # A large sample (> 2**15 elements over many rows) so that every thread
    # gets work and the output is large enough for the streaming stores.
    big_sample: Callable[[np.random.Generator, np.dtype], Tuple[tuple, dict]]
    out_kw: Optional[str] = None

    @property
    def fn(self) -> Callable[..., Any]:
        return getattr(fastsoftmax, self.name)

    def __repr__(self) -> str:
        return self.name


# --------------------------------------------------------------------------
# Comparison helpers
# --------------------------------------------------------------------------

def _fail(what: str, got, want, bad: np.ndarray, extra: str = "") -> None:
    idx = np.argwhere(bad)[:5]
    lines = [f"{what}: {int(bad.sum())} of {bad.size} elements out of tolerance {extra}"]
    for i in idx:
        i = tuple(i)
        lines.append(f"  at {i}: got {got[i]!r}, expected {want[i]!r}")
    raise AssertionError("\n".join(lines))


def assert_same_specials(got: np.ndarray, want: np.ndarray, what: str) -> np.ndarray:
    """NaN where the reference is NaN, the same infinities; returns the finite mask."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    bad = np.isnan(want) != np.isnan(got)
    if bad.any():
        _fail(what + " (NaN pattern)", got, want, bad)
    inf = np.isinf(want) | np.isinf(got)
    bad = inf & (got != want) & ~np.isnan(want)
    if bad.any():
        _fail(what + " (infinities)", got, want, bad)
    return np.isfinite(want)


def assert_within(got, want, tol, what: str) -> None:
    """|got - want| <= tol elementwise, with NaN / inf matched exactly."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    fin = assert_same_specials(got, want, what)
    tol = np.broadcast_to(np.asarray(tol, np.float64), want.shape)
    with np.errstate(invalid="ignore"):
        bad = fin & ~(np.abs(got - want) <= tol)
    if bad.any():
        _fail(what, got, want, bad, f"(tol e.g. {tol[bad][0]:.3g})")


def check_dtype(got, dtype: np.dtype, what: str) -> None:
    got_dt = np.asarray(got).dtype
    assert got_dt == dtype, f"{what}: dtype {got_dt}, expected {dtype}"


def assert_softmax_close(got, x, axis, temperature, dtype) -> None:
    """Relative error <= RTOL + |x/T - max| * UNIT for elements above TINY."""
    dtype = np.dtype(dtype)
    want = ref.softmax(x, axis, temperature)
    check_dtype(got, dtype, "softmax")
    with np.errstate(invalid="ignore"):
        arg = np.abs(ref.scaled_shift(x, axis, temperature))
        arg = np.where(np.isfinite(arg), arg, 0.0)
        rel = RTOL[dtype] + arg * UNIT[dtype]
        tol = np.where(want > TINY[dtype], want * rel, TINY[dtype])
    assert_within(got, want, tol, "softmax")


def assert_log_softmax_close(got, x, axis, temperature, dtype) -> None:
    """Absolute error <= RTOL * (1 + |value|)."""
    dtype = np.dtype(dtype)
    want = ref.log_softmax(x, axis, temperature)
    check_dtype(got, dtype, "log_softmax")
    with np.errstate(invalid="ignore"):
        tol = RTOL[dtype] * (1.0 + np.abs(want))
    assert_within(got, want, tol, "log_softmax")


def assert_logsumexp_close(got, x, axis=-1, b=None, keepdims=False, return_sign=False, temperature=1.0,
                           dtype=None) -> None:
    """Error <= RTOL * (1 + |value|) * condition.

    Relative error where |lse| >= 1; near 0 (x/T - max cancelling log S)
    only the absolute error is meaningful. ``condition`` (1 without b) is how
    much negative weights amplify the rounding of the sum.
    """
    dtype = np.dtype(dtype)
    want = ref.logsumexp(x, axis, b, keepdims, return_sign, temperature)
    cond = ref.logsumexp_condition(x, axis, b, temperature)
    if keepdims:
        cond = np.reshape(cond, np.shape(want[0] if return_sign else want))
    if return_sign:
        assert isinstance(got, tuple) and len(got) == 2, f"return_sign=True must give (lse, sign), got {type(got)}"
        (got, got_sign), (want, want_sign) = got, want
        check_dtype(got_sign, dtype, "logsumexp sign")
        assert np.shape(got_sign) == np.shape(want_sign)
        # An empty reduction has no meaningful sign (SciPy itself reports -1).
        shape = np.shape(x)
        reduced = [shape[a] for a in ref.axes_of(len(shape), axis)] if shape else [1]
        nonempty = np.full(np.shape(want), int(np.prod(reduced)) > 0)
        gs, ws = np.asarray(got_sign, np.float64), np.asarray(want_sign, np.float64)
        bad = nonempty & ~((gs == ws) | (np.isnan(gs) & np.isnan(ws)))
        if bad.any():
            _fail("logsumexp sign", np.atleast_1d(gs), np.atleast_1d(ws), np.atleast_1d(bad))
    check_dtype(got, dtype, "logsumexp")
    assert np.shape(got) == np.shape(want), f"logsumexp: shape {np.shape(got)}, expected {np.shape(want)}"
    with np.errstate(invalid="ignore"):
        tol = RTOL[dtype] * (1.0 + np.abs(want)) * np.where(np.isfinite(cond), cond, 1.0)
    assert_within(np.atleast_1d(got), np.atleast_1d(want), np.atleast_1d(tol), "logsumexp")


def assert_backward_close(got, grad, y, axis, temperature, dtype, *, log: bool) -> None:
    """|err| <= RTOL * scale, the rounding of the backward formula:
    softmax:     scale = |y| (|g| + sum|g y|) / T   (from g - sum(g y))
    log_softmax: scale = (|g| + exp(y) sum|g|) / T."""
    dtype = np.dtype(dtype)
    name = "log_softmax_backward" if log else "softmax_backward"
    want = (ref.log_softmax_backward if log else ref.softmax_backward)(grad, y, axis, temperature)
    check_dtype(got, dtype, name)
    g, yy = ref.f64(grad), ref.f64(y)
    axes = ref.axes_of(g.ndim, axis)
    if log:
        scale = (np.abs(g) + np.exp(yy) * np.sum(np.abs(g), axis=axes, keepdims=True)) / temperature
    else:
        scale = np.abs(yy) * (np.abs(g) + np.sum(np.abs(g * yy), axis=axes, keepdims=True)) / temperature
    assert_within(got, want, RTOL[dtype] * scale + 1e-300, name)


def assert_loss_close(got, want, dtype, what: str, reduction: str, lead_shape) -> None:
    dtype = np.dtype(dtype)
    rtol = LOSS_RTOL[dtype]
    if reduction == "none":
        assert isinstance(got, np.ndarray), f"{what}: 'none' must give an array, got {type(got)}"
        assert got.shape == tuple(lead_shape), f"{what}: shape {got.shape}, expected {tuple(lead_shape)}"
    else:
        # A NumPy scalar of the result dtype, not a Python float or 0-d array.
        assert isinstance(got, np.generic), f"{what}: '{reduction}' must give a NumPy scalar, got {type(got)}"
    check_dtype(got, dtype, what)
    w = np.asarray(want, np.float64)
    # Relative, with an absolute floor of rtol: a row whose target has p ~ 1
    # has a loss ~ 0 computed as lse - x_t, accurate only in absolute terms.
    assert_within(np.atleast_1d(got), np.atleast_1d(w), rtol * (np.abs(np.atleast_1d(w)) + 1.0), what)


def assert_grad_close(got, want, dtype, what: str, atol: float = 0.0) -> None:
    """Per row: |err| <= rtol * (|want| + max_row |want|) + atol."""
    dtype = np.dtype(dtype)
    check_dtype(got, dtype, what)
    want = np.asarray(want, np.float64)
    assert np.shape(got) == want.shape, f"{what}: shape {np.shape(got)}, expected {want.shape}"
    if want.size == 0:
        return
    row_scale = np.max(np.abs(want), axis=-1, keepdims=True) if want.ndim else np.abs(want)
    assert_within(got, want, LOSS_RTOL[dtype] * (np.abs(want) + row_scale) + max(atol, 1e-300), what)


# --------------------------------------------------------------------------
# Input builders
# --------------------------------------------------------------------------

def normal(rng, shape, dtype, scale=1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


def special_rows(n: int, dtype) -> np.ndarray:
    """Rows of length n >= 2 holding the peers' special cases, spread so that
    the special element lands in a later chunk for long rows."""
    base = np.linspace(-3.0, 2.0, n)
    rows = []
    mid = n // 2
    last = n - 1

    def row(**at):
        r = base.copy()
        for k, v in at.items():
            r[int(k[1:])] = v
        return r

    rows.append(base.copy())
    big = row(**{f"i{mid}": 1e30, "i0": -1e30})           # huge finite spread
    rows.append(big)
    rows.append(np.full(n, -1e30))                         # all equal, huge negative
    r = base.copy(); r[: n // 2] = -INF; rows.append(r)    # -inf half (whole chunks -inf)
    rows.append(np.full(n, -INF))                          # all -inf: softmax NaN, lse -inf
    r = np.full(n, -INF); r[last] = 3.0; rows.append(r)    # one finite value, at the end
    r = np.full(n, -INF); r[mid] = -7.5; rows.append(r)    # one finite value, in the middle
    rows.append(row(**{f"i{mid}": NAN}))                    # NaN propagates
    rows.append(row(**{f"i{last}": INF}))                   # +inf: softmax NaN, lse +inf
    r = np.full(n, INF); rows.append(r)                     # all +inf
    r = row(**{f"i{mid}": NAN}); r[0] = -INF; rows.append(r)
    return np.array(rows).astype(dtype)


def _layout_cases(sm_axis_cases: bool = True) -> List[Tuple[str, Callable]]:
    """(desc, build(rng, dtype) -> (x, axis)) over shapes, layouts, axes, values."""
    cases: List[Tuple[str, Callable]] = []
    for n in TAIL_LENGTHS:
        cases.append((f"rows-3x{n}", lambda rng, dt, n=n: (normal(rng, (3, n), dt), -1)))
    cases.append(("scale10-5x1000", lambda rng, dt: (normal(rng, (5, 1000), dt, 10.0), -1)))
    cases.append(("scale10-4x37", lambda rng, dt: (normal(rng, (4, 37), dt, 10.0), 1)))
    cases.append(("many-short-rows-3000x5", lambda rng, dt: (normal(rng, (3000, 5), dt, 3.0), -1)))
    cases.append(("1d-33", lambda rng, dt: (normal(rng, (33,), dt), -1)))
    cases.append(("1d-33-axis0", lambda rng, dt: (normal(rng, (33,), dt), 0)))
    cases.append(("1d-axisNone", lambda rng, dt: (normal(rng, (20,), dt), None)))
    for axis in (0, 1, 2, -1, -2, (0, 2), (1, 2), (0, 1, 2), (2, 0), None):
        cases.append((f"3d-axis{axis}", lambda rng, dt, a=axis: (normal(rng, (3, 4, 37), dt, 2.0), a)))
    for axis in (0, 3, -3, (0, 3), (1, 2), (3, 1, 0), None):
        cases.append((f"4d-axis{axis}", lambda rng, dt, a=axis: (normal(rng, (2, 3, 4, 9), dt), a)))
    # Layouts the fast path does not take: the same numbers are required.
    cases.append(("transposed-axis0", lambda rng, dt: (normal(rng, (33, 6), dt).T, 0)))
    cases.append(("transposed-axis1", lambda rng, dt: (normal(rng, (33, 6), dt).T, 1)))
    cases.append(("strided-cols", lambda rng, dt: (normal(rng, (5, 66), dt)[:, ::2], -1)))
    cases.append(("strided-rows", lambda rng, dt: (normal(rng, (10, 17), dt)[::3], -1)))
    cases.append(("negative-stride-cols", lambda rng, dt: (normal(rng, (5, 40), dt)[:, ::-1], -1)))
    cases.append(("negative-stride-rows", lambda rng, dt: (normal(rng, (7, 40), dt)[::-1], -1)))
    cases.append(("negative-stride-both-axis0", lambda rng, dt: (normal(rng, (9, 11), dt)[::-2, ::-1], 0)))
    cases.append(("fortran-order", lambda rng, dt: (np.asfortranarray(normal(rng, (6, 70), dt)), -1)))
    cases.append(("3d-sliced", lambda rng, dt: (normal(rng, (4, 6, 20), dt)[1:, ::2, 3:], -1)))
    cases.append(("broadcast-view", lambda rng, dt: (np.broadcast_to(normal(rng, (1, 19), dt), (4, 19)), -1)))
    cases.append(("unaligned-rows", lambda rng, dt: (_unaligned(normal(rng, (4, 23), dt)), -1)))
    # Size-0 axes.
    cases.append(("empty-rows-0x5", lambda rng, dt: (np.zeros((0, 5), dt), -1)))
    cases.append(("empty-axis-3x0", lambda rng, dt: (np.zeros((3, 0), dt), -1)))
    cases.append(("empty-axis0-0x5", lambda rng, dt: (np.zeros((0, 5), dt), 0)))
    # Special values, short rows and rows longer than a chunk.
    for n in (2, 5, 37, 1100, 2500):
        cases.append((f"special-{n}", lambda rng, dt, n=n: (special_rows(n, dt), -1)))
    cases.append(("special-axis0", lambda rng, dt: (special_rows(37, dt).T.copy(), 0)))
    return cases


def _unaligned(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` whose data pointer is not a multiple of its itemsize."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    v = buf[1:].view(a.dtype).reshape(a.shape)
    v[...] = a
    assert not v.flags.aligned
    return v


# --------------------------------------------------------------------------
# softmax / log_softmax
# --------------------------------------------------------------------------

def _softmax_samples() -> List[Sample]:
    out = []
    for desc, build in _layout_cases():
        out.append(Sample(desc, lambda rng, dt, b=build: _x_axis(*b(rng, dt))))
    for T in TEMPERATURES[1:]:
        out.append(Sample(f"T{T}-4x513", lambda rng, dt, T=T: ((normal(rng, (4, 513), dt, 5.0),),
                                                               {"axis": -1, "temperature": T})))
        out.append(Sample(f"T{T}-special-37", lambda rng, dt, T=T: ((special_rows(37, dt),),
                                                                    {"temperature": T})))
    out.append(Sample("default-axis", lambda rng, dt: ((normal(rng, (3, 4, 9), dt),), {})))
    return out


def _x_axis(x, axis):
    return (x,), {"axis": axis}


def _softmax_compare(got, want, args, kwargs, dtype):
    assert_softmax_close(got, args[0], kwargs.get("axis", -1), kwargs.get("temperature", 1.0), dtype)


def _log_softmax_compare(got, want, args, kwargs, dtype):
    assert_log_softmax_close(got, args[0], kwargs.get("axis", -1), kwargs.get("temperature", 1.0), dtype)


def _softmax_big(rng, dt):
    return (normal(rng, (stream_rows(dt, 4000), 4000), dt, 4.0),), {}


def _temperature_cases(call_args: Callable[[], Tuple[tuple, dict]]) -> List[BadInput]:
    cases = []
    for T in (0.0, -1.0, NAN, INF, -INF):
        def build(T=T):
            a, k = call_args()
            return a, dict(k, temperature=T)
        cases.append(BadInput(f"temperature={T}", build, ValueError, "temperature"))
    return cases


def _dtype_cases(call_args: Callable[[], Tuple[tuple, dict]], pos: int = 0, name: str = "x") -> List[BadInput]:
    cases = []
    for label, bad in (("complex", np.ones((2, 3), np.complex128)),
                       ("object", np.array([[1.0, "a", None]], dtype=object)),
                       ("str", np.array([["a", "b", "c"]])),
                       ("datetime", np.array([["2020-01-01"] * 3], dtype="datetime64[D]"))):
        dt = bad.dtype

        def build(bad=bad):
            a, k = call_args()
            a = list(a)
            a[pos] = np.broadcast_to(bad, (2, 3)).copy() if bad.dtype != object else np.full((2, 3), 1.5, object)
            return tuple(a), k
        pattern = "|".join(re.escape(s) for s in {str(dt), dt.name, dt.str})
        cases.append(BadInput(f"{name}-dtype-{label}", build, TypeError, pattern))
    return cases


def _axis_cases(call_args: Callable[[], Tuple[tuple, dict]]) -> List[BadInput]:
    cases = []
    for axis in (2, -3, (0, 2)):
        def build(axis=axis):
            a, k = call_args()
            return a, dict(k, axis=axis)
        # numpy.exceptions.AxisError is a ValueError (and an IndexError)
        cases.append(BadInput(f"axis={axis}-out-of-range", build, ValueError, "axis"))
    for axis in ((0, 0), (1, -1)):
        def build(axis=axis):
            a, k = call_args()
            return a, dict(k, axis=axis)
        cases.append(BadInput(f"axis={axis}-repeated", build, ValueError, "axis|repeat"))
    return cases


def _out_cases(call_args: Callable[[], Tuple[tuple, dict]], kw: str, shape, dtype) -> List[BadInput]:
    """out=/grad_out= of the wrong shape, dtype, or read-only (the call makes float32 results)."""
    wrong_shape = (shape[0], shape[1] + 1)

    def bad_shape():
        a, k = call_args()
        return a, dict(k, **{kw: np.empty(wrong_shape, dtype)})

    def bad_dtype():
        a, k = call_args()
        return a, dict(k, **{kw: np.empty(shape, np.float64 if dtype == np.float32 else np.float32)})

    def read_only():
        a, k = call_args()
        o = np.empty(shape, dtype)
        o.flags.writeable = False
        return a, dict(k, **{kw: o})

    def not_an_array():
        a, k = call_args()
        return a, dict(k, **{kw: np.empty(shape, dtype).tolist()})

    return [
        BadInput(f"{kw}-wrong-shape", bad_shape, ValueError, re.escape(kw),
                 contains=(re.escape(str(wrong_shape)), re.escape(str(tuple(shape))))),
        BadInput(f"{kw}-wrong-dtype", bad_dtype, TypeError, re.escape(kw)),
        BadInput(f"{kw}-read-only", read_only, ValueError, re.escape(kw)),
        BadInput(f"{kw}-a-list", not_an_array, (TypeError, ValueError), re.escape(kw)),
    ]


def _softmax_bad_inputs() -> List[BadInput]:
    def call():
        return (np.ones((2, 3), np.float32),), {}
    return (_dtype_cases(call) + _axis_cases(call) + _temperature_cases(call)
            + _out_cases(call, "out", (2, 3), np.float32))


# --------------------------------------------------------------------------
# logsumexp
# --------------------------------------------------------------------------

def _logsumexp_samples() -> List[Sample]:
    out = []
    for desc, build in _layout_cases():
        out.append(Sample(desc, lambda rng, dt, b=build: _x_axis(*b(rng, dt))))
    for keep in (True, False):
        for axis in (-1, 0, (0, 2), None):
            out.append(Sample(f"keepdims{keep}-axis{axis}", lambda rng, dt, a=axis, k=keep: (
                (normal(rng, (3, 4, 5), dt),), {"axis": a, "keepdims": k})))
    for T in TEMPERATURES[1:]:
        out.append(Sample(f"T{T}-4x513", lambda rng, dt, T=T: ((normal(rng, (4, 513), dt, 5.0),),
                                                               {"temperature": T})))
        out.append(Sample(f"T{T}-special-37", lambda rng, dt, T=T: ((special_rows(37, dt),), {"temperature": T})))
    # Weights b: positive, zero (the element is dropped, even +inf / the max),
    # negative (sign), broadcast (SciPy broadcasts b against x).
    for n in (1, 7, 9, 17, 513, 1025):
        out.append(Sample(f"b-positive-{n}", lambda rng, dt, n=n: (
            (normal(rng, (3, n), dt, 3.0),), {"b": rng.uniform(0.1, 2.0, (3, n)).astype(dt)})))
        out.append(Sample(f"b-mixed-sign-{n}", lambda rng, dt, n=n: (
            (normal(rng, (3, n), dt, 3.0),), {"b": rng.uniform(-0.3, 1.0, (3, n)).astype(dt),
                                             "return_sign": True})))
    out.append(Sample("b-with-zeros", lambda rng, dt: _b_zeros(rng, dt, False)))
    out.append(Sample("b-with-zeros-sign", lambda rng, dt: _b_zeros(rng, dt, True)))
    out.append(Sample("b-negative-sum-no-sign", lambda rng, dt: (
        (normal(rng, (2, 9), dt),), {"b": -np.ones((2, 9), dt)})))
    out.append(Sample("b-negative-sum-sign", lambda rng, dt: (
        (normal(rng, (2, 9), dt),), {"b": -np.ones((2, 9), dt), "return_sign": True})))
    out.append(Sample("b-cancel-to-zero-sign", lambda rng, dt: (
        (np.array([[1.0, 1.0, 2.0, 2.0]], dt),), {"b": np.array([[1.0, -1.0, 2.0, -2.0]], dt),
                                                   "return_sign": True})))
    out.append(Sample("b-broadcast-row", lambda rng, dt: (
        (normal(rng, (4, 11), dt),), {"b": rng.uniform(0.1, 1.0, (1, 11)).astype(dt)})))
    out.append(Sample("b-broadcast-scalar", lambda rng, dt: (
        (normal(rng, (4, 11), dt),), {"b": np.asarray(2.5, dt)})))
    out.append(Sample("b-axis0-3d", lambda rng, dt: (
        (normal(rng, (5, 3, 8), dt),), {"axis": (0, 2), "b": rng.uniform(0.1, 1.0, (5, 3, 8)).astype(dt)})))
    out.append(Sample("b-special", lambda rng, dt: (
        (special_rows(37, dt),), {"b": np.where(np.arange(37) % 3 == 0, 0.0, 1.5).astype(dt) + np.zeros((11, 37), dt),
                                  "return_sign": True})))
    out.append(Sample("b-strided", lambda rng, dt: (
        (normal(rng, (4, 40), dt)[:, ::-2],), {"b": rng.uniform(0.1, 1.0, (4, 40)).astype(dt)[:, 1::2]})))
    out.append(Sample("sign-no-b", lambda rng, dt: ((special_rows(9, dt),), {"return_sign": True})))
    out.append(Sample("0d-input", lambda rng, dt: ((np.asarray(1.25, dt),), {})))
    return out


def _b_zeros(rng, dt, sign):
    x = normal(rng, (4, 33), dt, 3.0)
    x[0, 5] = INF           # +inf whose weight is 0: excluded, not +inf
    x[1, 7] = 40.0          # the max, weight 0: must not set the reference
    b = rng.uniform(0.5, 1.5, (4, 33)).astype(dt)
    b[0, 5] = 0
    b[1, 7] = 0
    b[2] = 0                # every weight 0: log(0) = -inf
    b[3, ::2] = 0
    kw = {"b": b}
    if sign:
        kw["return_sign"] = True
    return (x,), kw


def _logsumexp_compare(got, want, args, kwargs, dtype):
    assert_logsumexp_close(got, args[0], kwargs.get("axis", -1), kwargs.get("b"), kwargs.get("keepdims", False),
                           kwargs.get("return_sign", False), kwargs.get("temperature", 1.0), dtype)


def _logsumexp_bad_inputs() -> List[BadInput]:
    def call():
        return (np.ones((2, 3), np.float32),), {}

    def b_shape():
        return (np.ones((2, 3), np.float32),), {"b": np.ones((4, 5), np.float32)}

    def b_complex():
        return (np.ones((2, 3), np.float32),), {"b": np.ones((2, 3), np.complex64)}
    return (_dtype_cases(call) + _axis_cases(call) + _temperature_cases(call) + [
        BadInput("b-shape", b_shape, ValueError, r"\bb\b", contains=(r"\(4, 5\)", r"\(2, 3\)")),
        BadInput("b-dtype-complex", b_complex, TypeError, "complex64"),
    ])


# --------------------------------------------------------------------------
# softmax_backward / log_softmax_backward
# --------------------------------------------------------------------------

def _backward_samples(log: bool) -> List[Sample]:
    fwd = ref.log_softmax if log else ref.softmax
    out = []

    def make(build, T=1.0):
        def inner(rng, dt):
            x, axis = build(rng, dt)
            if not np.isfinite(ref.f64(x)).all():
                x = np.nan_to_num(ref.f64(x), nan=0.0, posinf=3.0, neginf=-3.0).astype(dt)
            # y: the exact forward result rounded to the dtype (independent of the library)
            y = fwd(x, axis, T).astype(dt)
            g = normal(rng, x.shape, dt)
            return (g, y), {"axis": axis, "temperature": T}
        return inner

    for desc, build in _layout_cases():
        if desc.startswith("special") or desc in ("unaligned-rows", "broadcast-view"):
            continue
        out.append(Sample(desc, make(build)))
    for T in TEMPERATURES[1:]:
        out.append(Sample(f"T{T}-4x513", make(lambda rng, dt: (normal(rng, (4, 513), dt, 3.0), -1), T)))

    def strided(rng, dt):
        x = normal(rng, (5, 64), dt)
        y = fwd(x, -1, 1.0).astype(dt)
        g = normal(rng, (5, 128), dt)[:, ::2]   # non-contiguous grad
        return (g, y[:, ::-1].copy()[:, ::-1]), {}
    out.append(Sample("grad-strided-y-negative-stride", strided))
    return out


def _backward_compare(log: bool):
    def compare(got, want, args, kwargs, dtype):
        assert_backward_close(got, args[0], args[1], kwargs.get("axis", -1), kwargs.get("temperature", 1.0), dtype,
                              log=log)
    return compare


def _backward_bad_inputs() -> List[BadInput]:
    def call():
        return (np.ones((2, 3), np.float32), np.full((2, 3), 1 / 3, np.float32)), {}

    def mismatch():
        return (np.ones((2, 3), np.float32), np.ones((2, 4), np.float32)), {}
    return (_dtype_cases(call, 0, "grad") + _dtype_cases(call, 1, "y") + _axis_cases(call)
            + _temperature_cases(call) + _out_cases(call, "out", (2, 3), np.float32) + [
                BadInput("grad-y-shapes", mismatch, ValueError, "grad|y", contains=(r"\(2, 3\)", r"\(2, 4\)"))])


def _backward_big(log: bool):
    def big(rng, dt):
        x = normal(rng, (stream_rows(dt, 4000), 4000), dt, 3.0)
        y = (ref.log_softmax if log else ref.softmax)(x).astype(dt)
        return (normal(rng, x.shape, dt), y), {}
    return big


# --------------------------------------------------------------------------
# cross_entropy
# --------------------------------------------------------------------------

def index_target(rng, lead_shape, C, ignore_frac=0.0, ignore_index=-100):
    t = rng.integers(0, C, size=lead_shape).astype(np.int64)
    if ignore_frac:
        mask = rng.random(lead_shape) < ignore_frac
        t = np.where(mask, ignore_index, t)
    return t


def prob_target(rng, shape, dt):
    q = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]) if shape[-1] else np.zeros(shape)
    return q.astype(dt)


def _xent_samples() -> List[Sample]:
    out = []
    for C in LOSS_LENGTHS:
        for red in ("mean", "sum", "none"):
            out.append(Sample(f"index-5x{C}-{red}", lambda rng, dt, C=C, r=red: (
                (normal(rng, (5, C), dt, 2.0), index_target(rng, (5,), C)),
                {"reduction": r, "return_grad": True})))
    for C in (9, 513, 1025):
        out.append(Sample(f"probs-6x{C}", lambda rng, dt, C=C: (
            (normal(rng, (6, C), dt, 2.0), prob_target(rng, (6, C), dt)), {"return_grad": True})))
        out.append(Sample(f"all-options-index-7x{C}", lambda rng, dt, C=C: (
            (normal(rng, (7, C), dt, 2.0), index_target(rng, (7,), C, 0.3)),
            {"weight": rng.uniform(0.2, 2.0, C).astype(dt), "label_smoothing": 0.1, "z_loss": 1e-2,
             "return_grad": True})))
        out.append(Sample(f"all-options-probs-7x{C}", lambda rng, dt, C=C: (
            (normal(rng, (7, C), dt, 2.0), prob_target(rng, (7, C), dt)),
            {"weight": rng.uniform(0.2, 2.0, C).astype(dt), "label_smoothing": 0.2, "z_loss": 1e-2,
             "return_grad": True})))
    for red in ("mean", "sum", "none"):
        out.append(Sample(f"weight-{red}", lambda rng, dt, r=red: (
            (normal(rng, (8, 17), dt, 2.0), index_target(rng, (8,), 17)),
            {"weight": rng.uniform(0.1, 3.0, 17).astype(dt), "reduction": r, "return_grad": True})))
        out.append(Sample(f"ignore-{red}", lambda rng, dt, r=red: (
            (normal(rng, (12, 10), dt, 2.0), index_target(rng, (12,), 10, 0.4)),
            {"reduction": r, "return_grad": True})))
        out.append(Sample(f"weight-ignore-smoothing-{red}", lambda rng, dt, r=red: (
            (normal(rng, (12, 10), dt, 2.0), index_target(rng, (12,), 10, 0.4)),
            {"weight": rng.uniform(0.1, 3.0, 10).astype(dt), "label_smoothing": 0.25, "reduction": r,
             "return_grad": True})))
        out.append(Sample(f"smoothing-{red}", lambda rng, dt, r=red: (
            (normal(rng, (6, 33), dt, 2.0), index_target(rng, (6,), 33)),
            {"label_smoothing": 0.1, "reduction": r, "return_grad": True})))
        out.append(Sample(f"z_loss-ignore-{red}", lambda rng, dt, r=red: (
            (normal(rng, (9, 40), dt, 3.0), index_target(rng, (9,), 40, 0.3)),
            {"z_loss": 1e-1, "reduction": r, "return_grad": True})))
        out.append(Sample(f"z_loss-weight-{red}", lambda rng, dt, r=red: (
            (normal(rng, (9, 40), dt, 3.0), index_target(rng, (9,), 40, 0.3)),
            {"z_loss": 1e-2, "weight": rng.uniform(0.1, 3.0, 40).astype(dt), "reduction": r,
             "return_grad": True})))
        out.append(Sample(f"probs-smoothing-weight-{red}", lambda rng, dt, r=red: (
            (normal(rng, (6, 33), dt, 2.0), prob_target(rng, (6, 33), dt)),
            {"label_smoothing": 0.3, "weight": rng.uniform(0.1, 3.0, 33).astype(dt), "reduction": r,
             "return_grad": True})))
    out.append(Sample("custom-ignore-index-in-range", lambda rng, dt: (
        (normal(rng, (10, 6), dt), np.array([0, 3, 3, 1, 5, 3, 2, 4, 3, 0])),
        {"ignore_index": 3, "return_grad": True})))
    out.append(Sample("custom-ignore-index-negative", lambda rng, dt: (
        (normal(rng, (6, 6), dt), np.array([0, -1, 2, -1, 5, 1])),
        {"ignore_index": -1, "return_grad": True})))
    out.append(Sample("3d-index", lambda rng, dt: (
        (normal(rng, (2, 3, 17), dt, 2.0), index_target(rng, (2, 3), 17, 0.2)), {"return_grad": True})))
    out.append(Sample("3d-index-none", lambda rng, dt: (
        (normal(rng, (2, 3, 17), dt, 2.0), index_target(rng, (2, 3), 17)),
        {"reduction": "none", "return_grad": True})))
    out.append(Sample("3d-probs", lambda rng, dt: (
        (normal(rng, (2, 3, 17), dt, 2.0), prob_target(rng, (2, 3, 17), dt)), {"return_grad": True})))
    out.append(Sample("1d-logits-0d-target", lambda rng, dt: (
        (normal(rng, (11,), dt), np.int64(4)), {"return_grad": True})))
    out.append(Sample("1d-logits-0d-target-none", lambda rng, dt: (
        (normal(rng, (11,), dt), np.int64(4)), {"reduction": "none", "return_grad": True})))
    out.append(Sample("scale10", lambda rng, dt: (
        (normal(rng, (16, 100), dt, 10.0), index_target(rng, (16,), 100)), {"return_grad": True})))
    out.append(Sample("huge-logits", lambda rng, dt: (
        (_huge_logits(dt), np.array([0, 1, 2, 3])), {"reduction": "none", "return_grad": True})))
    out.append(Sample("masked-classes-minus-inf", lambda rng, dt: _masked_classes(rng, dt)))
    out.append(Sample("ignored-rows-hold-nan-and-inf", lambda rng, dt: _ignored_garbage(rng, dt)))
    out.append(Sample("strided-logits", lambda rng, dt: (
        (normal(rng, (6, 40), dt)[:, ::2], index_target(rng, (6,), 20)), {"return_grad": True})))
    out.append(Sample("negative-stride-logits", lambda rng, dt: (
        (normal(rng, (6, 20), dt)[::-1, ::-1], index_target(rng, (6,), 20)), {"return_grad": True})))
    out.append(Sample("transposed-logits", lambda rng, dt: (
        (normal(rng, (20, 6), dt).T, index_target(rng, (6,), 20)), {"return_grad": True})))
    out.append(Sample("strided-target", lambda rng, dt: (
        (normal(rng, (6, 20), dt), index_target(rng, (12,), 20)[::2]), {"return_grad": True})))
    out.append(Sample("strided-probs", lambda rng, dt: (
        (normal(rng, (6, 20), dt), prob_target(rng, (6, 40), dt)[:, ::2] * 2), {"return_grad": True})))
    for it in (np.int32, np.int16, np.uint8, np.uint64):
        out.append(Sample(f"target-{np.dtype(it).name}", lambda rng, dt, it=it: (
            (normal(rng, (5, 9), dt), index_target(rng, (5,), 9).astype(it)), {"return_grad": True})))
    out.append(Sample("no-grad-mean", lambda rng, dt: (
        (normal(rng, (5, 9), dt), index_target(rng, (5,), 9)), {})))
    out.append(Sample("no-grad-none", lambda rng, dt: (
        (normal(rng, (5, 9), dt), index_target(rng, (5,), 9)), {"reduction": "none"})))
    for red in ("mean", "sum", "none"):
        out.append(Sample(f"all-ignored-{red}", lambda rng, dt, r=red: (
            (normal(rng, (4, 9), dt), np.full(4, -100)), {"reduction": r, "return_grad": True})))
        out.append(Sample(f"empty-batch-{red}", lambda rng, dt, r=red: (
            (np.zeros((0, 9), dt), np.zeros(0, np.int64)), {"reduction": r, "return_grad": True})))
    out.append(Sample("all-ignored-weighted-mean", lambda rng, dt: (
        (normal(rng, (4, 9), dt), np.full(4, -100)),
        {"weight": np.linspace(0.5, 2, 9).astype(dt), "label_smoothing": 0.1, "z_loss": 0.1,
         "return_grad": True})))
    out.append(Sample("empty-batch-probs-mean", lambda rng, dt: (
        (np.zeros((0, 9), dt), np.zeros((0, 9), dt)), {"return_grad": True})))
    out.append(Sample("single-class", lambda rng, dt: (
        (normal(rng, (4, 1), dt), np.zeros(4, np.int64)), {"return_grad": True, "label_smoothing": 0.2})))
    return out


def _huge_logits(dt):
    x = np.array([[1e30, -1e30, 0.0, 5.0],
                  [-1e30, 1e30, 0.0, 5.0],
                  [-1e30, -1e30, 0.0, 0.0],
                  [3e4, 3e4 - 2, -1e30, 3e4 + 1]])
    return x.astype(dt)


def _masked_classes(rng, dt):
    # -inf logits on non-target classes (masked vocabulary): finite loss, zero
    # gradient there.
    x = normal(rng, (5, 20), dt)
    t = index_target(rng, (5,), 10)
    x[:, 10:] = -INF
    return (x, t), {"return_grad": True}


def _ignored_garbage(rng, dt):
    # Padding rows hold garbage; masking them must not leak inf or NaN.
    x = normal(rng, (6, 12), dt)
    t = index_target(rng, (6,), 12)
    x[1] = NAN
    x[3, 4] = INF
    x[4] = -INF
    t[[1, 3, 4]] = -100
    return (x, t), {"return_grad": True}


def _xent_reference(logits, target, **kw):
    kw = {k: v for k, v in kw.items() if k not in ("return_grad", "grad_out")}
    return ref.cross_entropy(logits, target, **kw)


def _xent_compare(got, want, args, kwargs, dtype):
    logits = args[0]
    lead = np.shape(logits)[:-1]
    red = kwargs.get("reduction", "mean")
    if kwargs.get("return_grad") or kwargs.get("grad_out") is not None:
        if kwargs.get("return_grad"):
            assert isinstance(got, tuple) and len(got) == 2, f"return_grad=True must give (loss, grad), got {type(got)}"
            loss, grad = got
        else:
            loss, grad = got, kwargs["grad_out"]
        assert_loss_close(loss, want[0], dtype, "cross_entropy loss", red, lead)
        assert_grad_close(grad, want[1], dtype, "cross_entropy grad")
    else:
        assert_loss_close(got, want[0], dtype, "cross_entropy loss", red, lead)


def _xent_bad_inputs() -> List[BadInput]:
    def call():
        return (np.zeros((8, 4), np.float32), np.array([0, 1, 2, 3, 0, 1, 2, 3])), {"return_grad": True}

    def with_args(logits=None, target=None, **kw):
        def build():
            a, k = call()
            a = (a[0] if logits is None else logits(), a[1] if target is None else target())
            return a, dict(k, **kw)
        return build

    cases = _dtype_cases(call, 0, "logits") + _out_cases(call, "grad_out", (8, 4), np.float32)
    cases += [
        BadInput("target-shape", with_args(target=lambda: np.zeros(7, np.int64)), ValueError, "target",
                 contains=(r"\(7,\)", r"\(8, 4\)")),
        BadInput("target-2d-shape", with_args(target=lambda: np.zeros((8, 2), np.int64)), (TypeError, ValueError),
                 "target"),
        BadInput("label-too-large", with_args(target=lambda: np.array([0, 1, 2, 3, 0, 1, 13, 3])), IndexError,
                 "target", contains=(r"\b6\b", r"\b13\b")),
        BadInput("label-equal-C", with_args(target=lambda: np.array([0, 1, 2, 3, 4, 1, 2, 3])), IndexError,
                 "target", contains=(r"\b4\b",)),
        BadInput("label-negative", with_args(target=lambda: np.array([0, 1, -1, 3, 0, 1, 2, 3])), IndexError,
                 "target", contains=(r"\b2\b", r"-1\b")),
        BadInput("label-negative-custom-ignore", with_args(target=lambda: np.array([0, 1, 2, 3, 0, -100, 2, 3]),
                                                           ignore_index=-1), IndexError, "target",
                 contains=(r"\b5\b", r"-100\b")),
        BadInput("reduction", with_args(reduction="avg"), ValueError, "reduction",
                 contains=("mean", "sum", "none")),
        BadInput("reduction-None", with_args(reduction=None), ValueError, "reduction"),
        BadInput("classes-empty", with_args(logits=lambda: np.zeros((8, 0), np.float32)), ValueError,
                 "logits|class"),
        BadInput("float-target-index-shape", with_args(target=lambda: np.zeros(8, np.float32)),
                 (TypeError, ValueError), "target"),
        BadInput("int-target-logits-shape", with_args(target=lambda: np.zeros((8, 4), np.int64)),
                 (TypeError, ValueError), "target"),
        BadInput("probs-target-shape", with_args(target=lambda: np.full((8, 5), 0.2, np.float32)), ValueError,
                 "target", contains=(r"\(8, 5\)", r"\(8, 4\)")),
        BadInput("target-complex", with_args(target=lambda: np.zeros(8, np.complex64)), TypeError, "target"),
        BadInput("weight-shape", with_args(weight=np.ones(5, np.float32)), ValueError, "weight",
                 contains=(r"\(5,\)",)),
        BadInput("weight-2d", with_args(weight=np.ones((1, 4), np.float32)), ValueError, "weight"),
    ]
    for v in (NAN, INF, -0.1, 1.5):
        cases.append(BadInput(f"label_smoothing={v}", with_args(label_smoothing=v), ValueError, "label_smoothing"))
    for v in (NAN, INF, -INF):
        cases.append(BadInput(f"z_loss={v}", with_args(z_loss=v), ValueError, "z_loss"))
    return cases


def _xent_big(rng, dt):
    rows = stream_rows(dt, 4500)
    x = normal(rng, (rows, 4500), dt, 3.0)
    return (x, index_target(rng, (rows,), 4500, 0.1)), {"return_grad": True, "label_smoothing": 0.1,
                                                       "weight": np.linspace(0.5, 2.0, 4500).astype(dt),
                                                       "z_loss": 1e-3}


# --------------------------------------------------------------------------
# binary_cross_entropy_with_logits
# --------------------------------------------------------------------------

def _bce_samples() -> List[Sample]:
    out = []
    for n in LOSS_LENGTHS:
        for red in ("mean", "sum", "none"):
            out.append(Sample(f"5x{n}-{red}", lambda rng, dt, n=n, r=red: (
                (normal(rng, (5, n), dt, 3.0), rng.random((5, n)).astype(dt)),
                {"reduction": r, "return_grad": True})))
    for red in ("mean", "sum", "none"):
        out.append(Sample(f"weight-full-{red}", lambda rng, dt, r=red: (
            (normal(rng, (6, 13), dt, 3.0), (rng.random((6, 13)) < 0.5).astype(dt)),
            {"weight": rng.uniform(0.1, 2.0, (6, 13)).astype(dt), "reduction": r, "return_grad": True})))
        out.append(Sample(f"pos_weight-{red}", lambda rng, dt, r=red: (
            (normal(rng, (6, 13), dt, 3.0), rng.random((6, 13)).astype(dt)),
            {"pos_weight": rng.uniform(0.1, 5.0, 13).astype(dt), "reduction": r, "return_grad": True})))
        out.append(Sample(f"both-weights-3d-{red}", lambda rng, dt, r=red: (
            (normal(rng, (2, 4, 9), dt, 3.0), rng.random((2, 4, 9)).astype(dt)),
            {"weight": rng.uniform(0.1, 2.0, (4, 1)).astype(dt),
             "pos_weight": rng.uniform(0.1, 5.0, 9).astype(dt), "reduction": r, "return_grad": True})))
    out.append(Sample("weight-row-broadcast", lambda rng, dt: (
        (normal(rng, (6, 13), dt), rng.random((6, 13)).astype(dt)),
        {"weight": rng.uniform(0.1, 2.0, (6, 1)).astype(dt), "return_grad": True})))
    out.append(Sample("weight-scalar", lambda rng, dt: (
        (normal(rng, (6, 13), dt), rng.random((6, 13)).astype(dt)),
        {"weight": np.asarray(0.7, dt), "pos_weight": np.asarray(3.0, dt), "return_grad": True})))
    out.append(Sample("pos_weight-2d", lambda rng, dt: (
        (normal(rng, (6, 13), dt), rng.random((6, 13)).astype(dt)),
        {"pos_weight": rng.uniform(0.1, 5.0, (6, 13)).astype(dt), "return_grad": True, "reduction": "sum"})))
    out.append(Sample("extreme-logits", lambda rng, dt: (
        (np.array([[1e30, -1e30, 100.0, -100.0, 0.0, 40.0, -40.0, 1e-30]], dt),
         np.array([[0.0, 1.0, 0.3, 0.7, 0.5, 0.0, 1.0, 1.0]], dt)),
        {"reduction": "none", "return_grad": True, "pos_weight": np.full(8, 2.0, dt)})))
    out.append(Sample("1d", lambda rng, dt: ((normal(rng, (37,), dt), rng.random(37).astype(dt)),
                                             {"return_grad": True})))
    out.append(Sample("0d", lambda rng, dt: ((np.asarray(0.3, dt), np.asarray(1.0, dt)),
                                             {"reduction": "none", "return_grad": True})))
    out.append(Sample("4d", lambda rng, dt: ((normal(rng, (2, 3, 2, 5), dt), rng.random((2, 3, 2, 5)).astype(dt)),
                                             {"return_grad": True})))
    out.append(Sample("strided", lambda rng, dt: (
        (normal(rng, (5, 40), dt)[:, ::2], rng.random((5, 40)).astype(dt)[:, ::-2]), {"return_grad": True})))
    out.append(Sample("transposed", lambda rng, dt: (
        (normal(rng, (20, 5), dt).T, rng.random((5, 20)).astype(dt)), {"return_grad": True,
                                                                       "reduction": "none"})))
    out.append(Sample("empty-sum", lambda rng, dt: ((np.zeros((0, 5), dt), np.zeros((0, 5), dt)),
                                                    {"reduction": "sum", "return_grad": True})))
    out.append(Sample("empty-none", lambda rng, dt: ((np.zeros((3, 0), dt), np.zeros((3, 0), dt)),
                                                     {"reduction": "none", "return_grad": True})))
    out.append(Sample("no-grad", lambda rng, dt: ((normal(rng, (5, 9), dt), rng.random((5, 9)).astype(dt)), {})))
    return out


def _bce_reference(logits, target, **kw):
    kw = {k: v for k, v in kw.items() if k not in ("return_grad", "grad_out")}
    return ref.binary_cross_entropy_with_logits(logits, target, **kw)


def _bce_compare(got, want, args, kwargs, dtype):
    red = kwargs.get("reduction", "mean")
    shape = np.shape(args[0])
    if kwargs.get("return_grad") or kwargs.get("grad_out") is not None:
        if kwargs.get("return_grad"):
            assert isinstance(got, tuple) and len(got) == 2
            loss, grad = got
        else:
            loss, grad = got, kwargs["grad_out"]
        assert_loss_close(loss, want[0], dtype, "bce loss", red, shape)
        # Elementwise: relative to the size of the two terms (1-t) and
        # (1 + (pw-1) t) sigmoid(-x), which may cancel.
        check_dtype(grad, dtype, "bce grad")
        x, t = ref.f64(args[0]), ref.f64(args[1])
        w = np.broadcast_to(ref.f64(kwargs["weight"]), x.shape) if kwargs.get("weight") is not None else 1.0
        pw = np.broadcast_to(ref.f64(kwargs["pos_weight"]), x.shape) if kwargs.get("pos_weight") is not None else 1.0
        terms = np.abs(w) * (np.abs(1 - t) + np.abs(1 + (pw - 1) * t))
        scale = 1.0 / x.size if red == "mean" and x.size else 1.0
        # (evaluated in the input's precision, the cancellation costs a few eps * terms)
        eps = np.finfo(np.dtype(dtype)).eps
        assert_within(grad, want[1], LOSS_RTOL[np.dtype(dtype)] * np.abs(want[1]) + 4 * eps * terms * scale,
                      "bce grad")
    else:
        assert_loss_close(got, want[0], dtype, "bce loss", red, shape)


def _bce_bad_inputs() -> List[BadInput]:
    def call():
        return (np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32)), {"return_grad": True}

    def with_args(target=None, **kw):
        def build():
            a, k = call()
            return (a[0], a[1] if target is None else target()), dict(k, **kw)
        return build

    return _dtype_cases(call, 0, "logits") + _out_cases(call, "grad_out", (4, 3), np.float32) + [
        BadInput("target-shape", with_args(target=lambda: np.zeros((4, 2), np.float32)), ValueError, "target",
                 contains=(r"\(4, 2\)", r"\(4, 3\)")),
        BadInput("target-complex", with_args(target=lambda: np.zeros((4, 3), np.complex64)), TypeError, "target"),
        BadInput("weight-shape", with_args(weight=np.ones(5, np.float32)), ValueError, r"\bweight"),
        BadInput("pos_weight-shape", with_args(pos_weight=np.ones((2, 3), np.float32)), ValueError, "pos_weight"),
        BadInput("reduction", with_args(reduction="batchmean"), ValueError, "reduction",
                 contains=("mean", "sum", "none")),
    ]


def _bce_big(rng, dt):
    x = normal(rng, (stream_rows(dt, 2000), 2000), dt, 3.0)
    return (x, rng.random(x.shape).astype(dt)), {"return_grad": True, "pos_weight": np.linspace(0.5, 2, 2000).astype(dt)}


# --------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------

OPS: List[OpInfo] = [
    OpInfo("softmax", "softmax", ref.softmax, _softmax_samples, _softmax_compare, _softmax_bad_inputs,
           _softmax_big, out_kw="out"),
    OpInfo("log_softmax", "softmax", ref.log_softmax, _softmax_samples, _log_softmax_compare, _softmax_bad_inputs,
           _softmax_big, out_kw="out"),
    OpInfo("logsumexp", "logsumexp", ref.logsumexp, _logsumexp_samples, _logsumexp_compare, _logsumexp_bad_inputs,
           lambda rng, dt: ((normal(rng, (600, 4000), dt, 4.0),), {})),
    OpInfo("softmax_backward", "backward", ref.softmax_backward, lambda: _backward_samples(False),
           _backward_compare(False), _backward_bad_inputs, _backward_big(False), out_kw="out"),
    OpInfo("log_softmax_backward", "backward", ref.log_softmax_backward, lambda: _backward_samples(True),
           _backward_compare(True), _backward_bad_inputs, _backward_big(True), out_kw="out"),
    OpInfo("cross_entropy", "cross_entropy", _xent_reference, _xent_samples, _xent_compare, _xent_bad_inputs,
           _xent_big, out_kw="grad_out"),
    OpInfo("binary_cross_entropy_with_logits", "bce", _bce_reference, _bce_samples, _bce_compare, _bce_bad_inputs,
           _bce_big, out_kw="grad_out"),
]
OPS_BY_NAME: Dict[str, OpInfo] = {op.name: op for op in OPS}


def ops_in(area: str) -> List[OpInfo]:
    return [op for op in OPS if op.area == area]


# --------------------------------------------------------------------------
# Running a sample: input immutability is checked on every call
# --------------------------------------------------------------------------

def _arrays_in(args: tuple, kwargs: dict, skip=()) -> List[Tuple[str, np.ndarray]]:
    found = [(f"arg{i}", a) for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    found += [(k, v) for k, v in kwargs.items() if isinstance(v, np.ndarray) and k not in skip]
    return found


def call_checked(op: OpInfo, args: tuple, kwargs: dict):
    """Calls op and asserts that no input (other than out=/grad_out=) changed."""
    skip = (op.out_kw,) if op.out_kw else ()
    before = [(name, a, a.copy()) for name, a in _arrays_in(args, kwargs, skip)
              if not (op.out_kw and kwargs.get(op.out_kw) is not None and np.shares_memory(a, kwargs[op.out_kw]))]
    result = op.fn(*args, **kwargs)
    for name, a, copy in before:
        assert a.tobytes() == copy.tobytes(), f"{op.name} modified its input {name}"
    return result


def run_sample(op: OpInfo, sample: Sample, dtype, rng) -> None:
    args, kwargs = sample.build(rng, np.dtype(dtype))
    got = call_checked(op, args, kwargs)
    want = op.reference(*args, **kwargs)
    op.compare(got, want, args, kwargs, np.dtype(dtype))


def sample_params(ops: List[OpInfo], dtypes=(np.float32, np.float64)):
    """pytest params (op, sample, dtype) with readable ids."""
    params = []
    for op in ops:
        for s in op.samples():
            for dt in dtypes:
                params.append(pytest.param(op, s, np.dtype(dt), id=f"{op.name}-{s.desc}-{np.dtype(dt).name}"))
    return params
