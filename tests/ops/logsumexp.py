"""logsumexp in the op table."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
import pytest

import reference as ref

from .common import INF, RTOL, TEMPERATURES, BadInput, OpInfo, Sample, assert_within, check_dtype, fail_elements
from .inputs import (axis_cases, dtype_cases, flag_cases, layout_cases, normal, special_rows, temperature_cases,
                     x_axis)


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
        shape = np.shape(x) if b is None else np.broadcast_shapes(np.shape(x), np.shape(b))
        reduced = [shape[a] for a in ref.axes_of(len(shape), axis)] if shape else [1]
        nonempty = np.full(np.shape(want), int(np.prod(reduced)) > 0)
        gs, ws = np.asarray(got_sign, np.float64), np.asarray(want_sign, np.float64)
        bad = nonempty & ~((gs == ws) | (np.isnan(gs) & np.isnan(ws)))
        if bad.any():
            fail_elements("logsumexp sign", np.atleast_1d(gs), np.atleast_1d(ws), np.atleast_1d(bad))
    check_dtype(got, dtype, "logsumexp")
    assert np.shape(got) == np.shape(want), f"logsumexp: shape {np.shape(got)}, expected {np.shape(want)}"
    with np.errstate(invalid="ignore"):
        tol = RTOL[dtype] * (1.0 + np.abs(want)) * np.where(np.isfinite(cond), cond, 1.0)
    assert_within(np.atleast_1d(got), np.atleast_1d(want), np.atleast_1d(tol), "logsumexp")


def _logsumexp_samples() -> List[Sample]:
    out = []
    for desc, build in layout_cases():
        out.append(Sample(desc, lambda rng, dt, b=build: x_axis(*b(rng, dt))))
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
    out.append(Sample("b-broadcast-both-ways", lambda rng, dt: (  # SciPy broadcasts x and b together
        (normal(rng, (4, 1, 7), dt),), {"b": rng.uniform(0.1, 1.0, (1, 3, 7)).astype(dt)})))
    out.append(Sample("b-wider-than-x", lambda rng, dt: (
        (normal(rng, (7,), dt),), {"axis": None, "b": rng.uniform(-1.0, 1.0, (3, 7)).astype(dt),
                                   "return_sign": True})))
    out.append(Sample("complex-rows", lambda rng, dt: ((_complex_rows(rng, (5, 40), dt),), {})))
    out.append(Sample("complex-b-sign-axis0", lambda rng, dt: (
        (_complex_rows(rng, (6, 9), dt),), {"axis": 0, "b": rng.uniform(-1.0, 1.0, (6, 9)).astype(dt),
                                            "return_sign": True})))
    out.append(Sample("real-x-complex-b", lambda rng, dt: (
        (normal(rng, (4, 17), dt),), {"b": _complex_rows(rng, (4, 17), dt), "keepdims": True})))
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


def _complex_of(dt) -> np.dtype:
    return np.result_type(dt, np.complex64)


def _complex_rows(rng, shape, dt) -> np.ndarray:
    return (normal(rng, shape, dt, 3.0) + 1j * normal(rng, shape, dt, 3.0)).astype(_complex_of(dt))


def _logsumexp_compare(got, want, args, kwargs, dtype):
    if np.iscomplexobj(args[0]) or np.iscomplexobj(kwargs.get("b")):
        values = (args[0], kwargs.get("b", 0.0))
        if not all(np.all(np.isfinite(np.asarray(v).astype(np.complex128))) for v in values):
            want = _scipy_complex(args[0], kwargs)  # infinities and NaN: SciPy's rules are the reference
        _complex_compare(got, want, kwargs.get("return_sign", False), _complex_result(args[0], kwargs.get("b")))
        return
    assert_logsumexp_close(got, args[0], kwargs.get("axis", -1), kwargs.get("b"), kwargs.get("keepdims", False),
                           kwargs.get("return_sign", False), kwargs.get("temperature", 1.0), dtype)


def _complex_result(x, b) -> np.dtype:
    """SciPy's rule: integers and bool count as float64, then promoted with complex64."""
    kinds = [np.asarray(v).dtype for v in (x, b) if v is not None]
    return np.result_type(*[np.float64 if d.kind in "iub" else d for d in kinds], np.complex64)


def _scipy_complex(x, kwargs):
    special = pytest.importorskip("scipy.special")
    T = kwargs.get("temperature", 1.0)
    z = np.asarray(x).astype(np.complex128)
    z.real, z.imag = z.real / T, z.imag / T  # part by part: a complex division makes infinities NaN
    with np.errstate(all="ignore"):
        return special.logsumexp(z, axis=kwargs.get("axis", -1), b=kwargs.get("b"),
                                 keepdims=kwargs.get("keepdims", False), return_sign=kwargs.get("return_sign", False))


def _complex_compare(got, want, return_sign, dtype):
    """Against the plain complex128 formula (the samples' values are moderate)."""
    rtol = 2e-5 if dtype == np.complex64 else 1e-12
    if return_sign:
        (got, got_sign), (want, want_sign) = got, want
        assert np.result_type(got_sign) == dtype, f"sign dtype {np.result_type(got_sign)}, expected {dtype}"
        np.testing.assert_allclose(got_sign, want_sign, rtol=rtol, atol=rtol)
    assert np.result_type(got) == (np.finfo(dtype).dtype if return_sign else dtype), \
        f"logsumexp dtype {np.result_type(got)}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def _logsumexp_bad_inputs() -> List[BadInput]:
    def call():
        return (np.ones((2, 3), np.float32),), {}

    def b_shape():
        return (np.ones((2, 3), np.float32),), {"b": np.ones((4, 5), np.float32)}

    def b_object():
        return (np.ones((2, 3), np.float32),), {"b": np.full((2, 3), 1.5, object)}
    return (dtype_cases(call, accepts_complex=True) + axis_cases(call) + temperature_cases(call) + flag_cases(call, "keepdims")
            + flag_cases(call, "return_sign") + [
        BadInput("b-shape", b_shape, ValueError, r"\bb\b", contains=(r"\(4, 5\)", r"\(2, 3\)")),
        BadInput("b-dtype-object", b_object, TypeError, r"\bb\b.*object"),
    ])


# --------------------------------------------------------------------------
# row_statistics / merge_row_statistics: the mergeable (max, sumexp) summary
# --------------------------------------------------------------------------

def _summary_dtype(*arrays) -> np.dtype:
    dt = np.result_type(*(np.asarray(a).dtype for a in arrays))
    dt = np.dtype(np.float64) if dt.kind in "iub" else dt
    return np.dtype(np.float32) if dt == np.float16 else dt


def _summary_of(m: np.ndarray, terms: np.ndarray, inf_terms: np.ndarray, nan: np.ndarray, axes) -> Tuple:
    """(M, S) from M (keepdims), exp terms where M is finite, the terms of the +inf case, and NaN flags."""
    with np.errstate(**ref._IGNORE):
        s = np.where(np.isposinf(m), np.sum(inf_terms, axis=axes, keepdims=True),
                     np.where(np.isneginf(m), 0.0, np.sum(terms, axis=axes, keepdims=True)))
    s = np.where(np.any(nan, axis=axes, keepdims=True), np.nan, s)
    return np.squeeze(m, axis=axes), np.squeeze(s, axis=axes)


def row_statistics_reference(x, axis=-1):
    """(max, sum exp(x - max)) in float64: (+inf, the count of +inf) for a
    slice holding +inf, (-inf, 0) for all -inf or empty, NaN sum with NaN."""
    z = ref.f64(x)
    if z.ndim == 0:
        z, axis = z.reshape(1), 0
    axes = ref.axes_of(z.ndim, axis)
    m = ref._max(np.where(np.isnan(z), -INF, z), axes)
    with np.errstate(**ref._IGNORE):
        terms = np.where(np.isneginf(z), 0.0, np.exp(z - np.where(np.isfinite(m), m, 0.0)))
    return _summary_of(m, terms, np.isposinf(z).astype(np.float64), np.isnan(z), axes)


def merge_row_statistics_reference(maxes, sums, axis=0):
    """M = max(maxes), S = sum(sums * exp(maxes - M)); parts at -inf add nothing,
    with M = +inf the parts at +inf add their sums."""
    m, s = ref.f64(maxes), ref.f64(sums)
    if m.ndim == 0:
        m, s, axis = m.reshape(1), s.reshape(1), 0
    axes = ref.axes_of(m.ndim, axis)
    M = ref._max(np.where(np.isnan(m), -INF, m), axes)
    with np.errstate(**ref._IGNORE):
        terms = np.where(np.isneginf(m), 0.0, s * np.exp(m - np.where(np.isfinite(M), M, 0.0)))
    return _summary_of(M, terms, np.where(np.isposinf(m), s, 0.0), np.isnan(m) | np.isnan(s), axes)


def _assert_summaries_close(got, want, dtype, what: str) -> None:
    """The max exactly, the sum within RTOL (float32 sums: the float32 exp's few ulps)."""
    assert isinstance(got, tuple) and len(got) == 2, f"{what} must give (max, sumexp), got {type(got)}"
    for g, w in zip(got, want):
        check_dtype(g, _summary_dtype(np.empty(0, dtype)), what)
        assert np.shape(g) == np.shape(w), f"{what}: shape {np.shape(g)}, expected {np.shape(w)}"
    assert_within(np.atleast_1d(got[0]), np.atleast_1d(want[0]), 0.0, what + " max")
    w = np.atleast_1d(np.asarray(want[1], np.float64))
    with np.errstate(invalid="ignore"):
        tol = RTOL[np.dtype(dtype)] * 4 * np.abs(w)
    assert_within(np.atleast_1d(got[1]), w, tol, what + " sumexp")


def _row_statistics_samples() -> List[Sample]:
    out = [Sample(desc, lambda rng, dt, b=build: x_axis(*b(rng, dt))) for desc, build in layout_cases()]
    out.append(Sample("0d-input", lambda rng, dt: ((np.asarray(1.25, dt),), {})))
    out.append(Sample("long-rows-split", lambda rng, dt: ((normal(rng, (3, 300_000), dt, 3.0),), {})))
    return out


def _parts(rng, dt, rows: int, n: int, pieces: int, special: bool = False):
    """The reference summaries of `pieces` slices of random rows, stacked on axis 0."""
    x = special_rows(n, dt) if special else normal(rng, (rows, n), dt, 4.0)
    cuts = np.array_split(np.arange(x.shape[-1]), pieces)
    parts = [row_statistics_reference(x[:, c]) for c in cuts]
    return (np.stack([p[0] for p in parts]).astype(dt), np.stack([p[1] for p in parts]).astype(dt))


def _merge_samples() -> List[Sample]:
    out = []
    for pieces in (1, 2, 3, 7, 33):
        out.append(Sample(f"pieces-{pieces}", lambda rng, dt, k=pieces: (_parts(rng, dt, 5, 200, k), {})))
    out.append(Sample("special-rows", lambda rng, dt: (_parts(rng, dt, 0, 40, 4, special=True), {})))
    out.append(Sample("axis-last", lambda rng, dt: (tuple(a.T.copy() for a in _parts(rng, dt, 6, 90, 5)),
                                                    {"axis": -1})))
    out.append(Sample("3d-axis1", lambda rng, dt: (tuple(np.stack([a, a[::-1]], 0) for a in _parts(rng, dt, 4, 50, 3)),
                                                   {"axis": 1})))
    out.append(Sample("strided", lambda rng, dt: (tuple(a[::2] for a in _parts(rng, dt, 4, 60, 6)), {})))
    out.append(Sample("empty-axis", lambda rng, dt: ((np.zeros((0, 3), dt), np.zeros((0, 3), dt)), {})))
    out.append(Sample("no-rows", lambda rng, dt: ((np.zeros((4, 0), dt), np.zeros((4, 0), dt)), {})))
    return out


def _summary_compare(what: str):
    def compare(got, want, args, kwargs, dtype):
        _assert_summaries_close(got, want, dtype, what)
    return compare


def _row_statistics_bad_inputs() -> List[BadInput]:
    def call():
        return (np.ones((2, 3), np.float32),), {}
    return dtype_cases(call) + axis_cases(call)


def _merge_bad_inputs() -> List[BadInput]:
    def call():
        return (np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)), {}

    def mismatch():
        return (np.zeros((2, 3), np.float32), np.ones((3, 3), np.float32)), {}
    return (dtype_cases(call, 0, "maxes") + dtype_cases(call, 1, "sums") + axis_cases(call) + [
        BadInput("maxes-sums-shapes", mismatch, ValueError, "maxes|sums", contains=(r"\(2, 3\)", r"\(3, 3\)"))])


def _row_statistics_peer(rng, dt, peers) -> None:
    """The max is PyTorch's amax exactly; max + log(sumexp) is SciPy's logsumexp."""
    import fastsoftmax as fs

    for shape, axis in (((6, 33), -1), ((5, 4000), -1), ((3, 4, 17), (0, 2)), ((7, 9), None)):
        x = normal(rng, shape, dt, 5.0)
        m, s = fs.row_statistics(x, axis=axis)
        assert np.array_equal(np.asarray(m), peers.torch.from_numpy(x).amax(dim=ref.axes_of(x.ndim, axis)).numpy())
        lse = peers.scipy_special.logsumexp(x.astype(np.float64), axis=axis)
        assert_within(np.log(np.asarray(s, np.float64)) + np.asarray(m, np.float64), lse,
                      RTOL[dt] * (2 * np.abs(lse) + 1), "row_statistics against SciPy's logsumexp")


def _merge_peer(rng, dt, peers) -> None:
    """Pieces of rows (whole pieces at -inf among them), merged: SciPy's logsumexp of the whole rows."""
    import fastsoftmax as fs

    for n, pieces in ((10, 3), (1000, 7), (70_000, 5)):
        x = normal(rng, (9, n), dt, 6.0)
        x[0, : n // 2] = -INF
        parts = [fs.row_statistics(x[:, c]) for c in np.array_split(np.arange(n), pieces)]
        m, s = fs.merge_row_statistics(np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts]))
        lse = peers.scipy_special.logsumexp(x.astype(np.float64), axis=-1)
        assert_within(np.asarray(m, np.float64) + np.log(np.asarray(s, np.float64)), lse,
                      RTOL[dt] * (2 * np.abs(lse) + 1), "merged pieces against SciPy's logsumexp")


OPS: List[OpInfo] = [
    OpInfo("logsumexp", "logsumexp", ref.logsumexp, _logsumexp_samples, _logsumexp_compare, _logsumexp_bad_inputs,
           lambda rng, dt: ((normal(rng, (600, 4000), dt, 4.0),), {})),
    OpInfo("row_statistics", "logsumexp", row_statistics_reference, _row_statistics_samples,
           _summary_compare("row_statistics"), _row_statistics_bad_inputs,
           lambda rng, dt: ((normal(rng, (600, 4000), dt, 4.0),), {}), peer=_row_statistics_peer),
    OpInfo("merge_row_statistics", "logsumexp", merge_row_statistics_reference, _merge_samples,
           _summary_compare("merge_row_statistics"), _merge_bad_inputs,
           lambda rng, dt: (_parts(rng, dt, 20_000, 64, 8), {}), benchmarked=False, peer=_merge_peer),
]
