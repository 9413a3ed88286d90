"""The softmax family: softmax, log_softmax, logsumexp, their backward passes,
and the mergeable row summaries of chunked and sharded softmax."""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Optional, Tuple, Union

import numpy as np

from . import _core
from ._arrays import (AxisArg, OutputRows, as_float_array, check_finite, check_out, flag, input_rows, narrowed,
                      normalize_axes, separate_from)
from ._complex_lse import complex_from, complex_logsumexp_rows

__all__ = ["softmax", "log_softmax", "logsumexp", "softmax_backward", "log_softmax_backward", "row_statistics",
           "merge_row_statistics"]


class _Layout:
    """How an array maps to a 2-D row block: reduced axes last, flattened."""

    def __init__(self, shape: Tuple[int, ...], axes: Tuple[int, ...]):
        keep = [i for i in range(len(shape)) if i not in axes]
        self.perm = keep + list(axes)
        self.lead_shape = tuple(shape[i] for i in keep)
        self.n = int(np.prod([shape[i] for i in axes], dtype=np.int64))
        self.rows = int(np.prod(self.lead_shape, dtype=np.int64))
        self.nred = len(axes)
        self.axes = axes

    def input_block(self, a: np.ndarray, compute: np.dtype) -> np.ndarray:
        t = a.transpose(self.perm)
        if self.nred == 1:
            return input_rows(t, compute)
        return np.array(t, dtype=compute, order="C", copy=True).reshape(self.rows, self.n)

    def output(self, target: np.ndarray, compute: np.dtype) -> OutputRows:
        return OutputRows(target.transpose(self.perm), compute, self.nred)


def _array_or_scalar(v: np.ndarray) -> Any:
    """A NumPy scalar for a 0-d result, as SciPy and NumPy's ufuncs return."""
    return v[()] if v.ndim == 0 else v


def _layout(a: np.ndarray, axis: AxisArg) -> Tuple[np.ndarray, _Layout]:
    if a.ndim == 0:  # a scalar is a single element along axis None, 0, -1, () or (0,), as in SciPy
        try:
            normalize_axes(axis, 1)
        except ValueError:  # an AxisError too: raised again for the scalar's 0 dimensions
            normalize_axes(axis, 0)
            raise
        a = a.reshape(1)
        axis = 0
    return a, _Layout(a.shape, normalize_axes(axis, a.ndim))


class _Temperature:
    """The kernels multiply by ``inv`` = 1/T. Where 1/T is not a normal number
    of the compute dtype (T below about 3e-39 or above 3e38 in float32) the
    call computes in float64 (``compute``), whose range holds x/T for every
    float32 x; past float64's range (T below about 1e-308) ``inv`` is 1 and
    the values are divided by T in float64 first (``scaled``), so that every
    finite T > 0 gives the rounded x/T."""

    def __init__(self, temperature: Any, compute: np.dtype):
        self.t = check_finite(temperature, "temperature", positive=True)
        inv = 1.0 / self.t

        def normal(dtype: Any) -> bool:
            info = np.finfo(dtype)
            return float(info.tiny) <= inv <= float(info.max)

        self.compute = compute if normal(compute) else np.promote_types(compute, np.float64)
        self.divide = not normal(self.compute)
        self.inv = 1.0 if self.divide else inv
        # what the float64 1/T rounded away (exact: Fraction), for results taken in two parts
        self.inv_lo = 0.0 if self.divide else float(Fraction(1) / Fraction(self.t) - Fraction(inv))

    def scaled(self, block: np.ndarray) -> np.ndarray:
        if not self.divide:
            return block
        with np.errstate(over="ignore", under="ignore"):  # x/T overflowing to inf is the answer
            return np.divide(block, self.t, dtype=np.float64).astype(block.dtype)


def _softmax_impl(x: Any, axis: AxisArg, temperature: Any, out: Optional[np.ndarray], log: bool) -> np.ndarray:
    a, compute, result = as_float_array(x, "x")
    shape = a.shape
    temp = _Temperature(temperature, compute)
    compute = temp.compute
    a, lay = _layout(a, axis)
    target = np.empty(a.shape, result) if out is None else check_out(out, "out", shape, result).reshape(a.shape)
    dst = lay.output(target, compute)
    src = separate_from(temp.scaled(lay.input_block(a, compute)), dst.block)
    _core.softmax_rows(src, dst.block, temp.inv, temp.inv_lo, log)
    dst.finish()
    return out if out is not None else _array_or_scalar(target.reshape(shape))


def softmax(x: Any, axis: AxisArg = -1, *, temperature: float = 1.0,
            out: Optional[np.ndarray] = None) -> np.ndarray:
    """Softmax along ``axis``: ``exp(x/T - m) / sum(exp(x/T - m))``, m = max(x/T).

    Parameters
    ----------
    x : array_like
        Logits, any shape, layout and real dtype (float16 is computed in float32,
        integers and bool in float64).
    axis : int, tuple of ints or None
        The axes to normalise over (default ``-1``; SciPy's default is ``None``).
    temperature : float
        T > 0, finite; the logits are divided by it.
    out : ndarray, optional
        Preallocated result of ``x``'s shape and result dtype; may be ``x`` itself.

    Returns
    -------
    ndarray of ``x``'s shape: non-negative, summing to 1 along ``axis``. A row of
    all ``-inf``, or holding ``+inf`` or NaN, gives NaN (as SciPy and PyTorch).

    Examples
    --------
    >>> import fastsoftmax as fs
    >>> fs.softmax([1.0, 2.0, 3.0]).round(4)
    array([0.09  , 0.2447, 0.6652])
    """
    return _softmax_impl(x, axis, temperature, out, log=False)


def log_softmax(x: Any, axis: AxisArg = -1, *, temperature: float = 1.0,
                out: Optional[np.ndarray] = None) -> np.ndarray:
    """Log of the softmax along ``axis``: ``(x/T - m) - log(sum(exp(x/T - m)))``.

    Equal to ``x/T - logsumexp(x, axis, keepdims=True, temperature=T)``, computed
    without forming the softmax. Arguments as in :func:`softmax`.

    Examples
    --------
    >>> import fastsoftmax as fs
    >>> fs.log_softmax([1.0, 2.0, 3.0]).round(4)
    array([-2.4076, -1.4076, -0.4076])
    """
    return _softmax_impl(x, axis, temperature, out, log=True)


def logsumexp(x: Any, axis: AxisArg = -1, *, b: Any = None, keepdims: bool = False,
              return_sign: bool = False, temperature: float = 1.0
              ) -> Union[np.ndarray, np.generic, Tuple[Any, Any]]:
    """``log(sum(b * exp(x/T)))`` along ``axis``, computed stably.

    Follows ``scipy.special.logsumexp``: ``b`` are weights broadcastable to
    ``x`` (negative and zero allowed; ``b == 0`` drops the element), and with
    ``return_sign=True`` the result is ``(log|s|, sign(s))``; without it a
    negative sum gives NaN. With a temperature the result is the normaliser of
    ``softmax(x, temperature=T)``: ``log_softmax(x, T) == x/T - logsumexp(x, T)``.
    All ``-inf`` gives ``-inf``; a ``+inf`` entry ``+inf``; NaN propagates; an
    empty axis gives ``-inf``. The default axis is ``-1`` (SciPy: ``None``).
    ``x`` and ``b`` broadcast against each other. Complex ``x`` or ``b``
    (complex64/128) give SciPy's complex results: the phase in ``(-pi, pi]``,
    and with ``return_sign=True`` a real ``log|s|`` and the complex ``s/|s|``.

    Examples
    --------
    >>> import fastsoftmax as fs
    >>> round(float(fs.logsumexp([1.0, 2.0, 3.0])), 4)
    3.4076
    """
    a, compute, result = as_float_array(x, "x", complex_ok=True)
    keepdims, return_sign = flag(keepdims, "keepdims"), flag(return_sign, "return_sign")
    shape = a.shape
    bb = None
    if b is not None:  # x and b broadcast against each other, as in SciPy
        b_arr, b_compute, b_result = as_float_array(b, "b", complex_ok=True)
        try:
            shape = np.broadcast_shapes(shape, b_arr.shape)
        except ValueError:
            raise ValueError(f"b has shape {b_arr.shape}, which does not broadcast with x's shape {shape}") from None
        a, b_arr = np.broadcast_to(a, shape), np.broadcast_to(b_arr, shape)
        compute = np.promote_types(compute, b_compute)
        result = np.promote_types(result, b_result)
        bb = b_arr
    temp = _Temperature(temperature, compute)
    compute = temp.compute
    a, lay = _layout(a, axis)
    block = lay.input_block(a, compute)
    b_block = lay.input_block(bb.reshape(a.shape), compute) if bb is not None else None
    if compute.kind == "c":
        if temp.t != 1:  # x / T part by part: a complex division would turn infinities into NaN
            with np.errstate(over="ignore", under="ignore"):
                block = complex_from(block.real / temp.t, block.imag / temp.t, compute)
        out, sign = complex_logsumexp_rows(block, b_block, return_sign)
    else:
        block = temp.scaled(block)
        out = np.empty(lay.rows, compute)
        sign = np.empty(lay.rows, compute) if return_sign else None
        _core.logsumexp_rows(block, b_block, out, sign, temp.inv, temp.inv_lo)

    def shaped(v: np.ndarray) -> Any:
        v = narrowed(v, result if v.dtype.kind == result.kind else np.finfo(result).dtype)  # log|s| of complex
        v = v.reshape(lay.lead_shape)
        if keepdims:
            full = list(shape) if shape else [1]
            for ax in lay.axes:
                full[ax] = 1
            v = v.reshape(full if shape else ())
        return _array_or_scalar(v)

    return (shaped(out), shaped(sign)) if return_sign else shaped(out)


def _summaries(kernel: Any, lay: _Layout, compute: np.dtype, result: np.dtype, *blocks: np.ndarray) -> Tuple[Any, Any]:
    """(max, sumexp) per row from ``kernel(*blocks, max, sumexp)``, in the reduced shape (NumPy scalars when 0-d)."""
    if result == np.float16:  # a float16 sum of exponentials overflows past 65504 terms
        result = np.dtype(np.float32)
    m, s = np.empty(lay.rows, compute), np.empty(lay.rows, compute)
    kernel(*blocks, m, s)
    shaped = [narrowed(v, result).reshape(lay.lead_shape) for v in (m, s)]
    return tuple(_array_or_scalar(v) for v in shaped)


def row_statistics(x: Any, axis: AxisArg = -1) -> Tuple[Any, Any]:
    """Each slice's ``(max, sumexp)`` along ``axis``: ``m = max(x)``, ``s = sum(exp(x - m))``.

    The exact, mergeable summary of a softmax row: ``m + log(s)`` is its
    ``logsumexp``, and the summaries of the pieces of a row (chunks or shards of
    its classes) merge into the whole row's with :func:`merge_row_statistics`,
    so that a softmax or cross-entropy over a class axis split across arrays
    or machines needs only these two numbers per row from each piece.

    Special values: a slice of all ``-inf`` gives ``(-inf, 0)``; one holding
    ``+inf`` gives ``(+inf, number of its +inf entries)`` (``exp(x - m)`` taken
    as 1 where ``x == m``); NaN gives a NaN sum. An empty axis gives ``(-inf, 0)``.
    Both results have ``x``'s result dtype (float16 input: float32, as a float16
    sum of exponentials overflows past 65504 terms).

    Examples
    --------
    >>> import numpy as np, fastsoftmax as fs
    >>> m, s = fs.row_statistics(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, -np.inf]]))
    >>> m, s.round(4)
    (array([3., 0.]), array([1.5032, 2.    ]))
    """
    a, compute, result = as_float_array(x, "x")
    a, lay = _layout(a, axis)
    return _summaries(_core.row_statistics_rows, lay, compute, result, lay.input_block(a, compute))


def merge_row_statistics(maxes: Any, sums: Any, axis: AxisArg = 0) -> Tuple[Any, Any]:
    """Merges ``(max, sumexp)`` summaries (:func:`row_statistics`) along ``axis``.

    ``M = max(maxes)`` and ``S = sum(sums * exp(maxes - M))`` over ``axis``, in
    float64, so that the summaries of the pieces of a row merge into the whole
    row's (to rounding): ``M + log(S)`` is the row's ``logsumexp``. Pieces at
    ``-inf`` add nothing; with ``M = +inf`` the sums of the pieces at ``+inf``
    add up. ``maxes`` and ``sums`` have the same shape; the results have that
    shape without ``axis``.

    Examples
    --------
    >>> import numpy as np, fastsoftmax as fs
    >>> x = np.array([[1.0, 2.0, 3.0, 4.0]])
    >>> parts = [fs.row_statistics(x[:, :2]), fs.row_statistics(x[:, 2:])]
    >>> m, s = fs.merge_row_statistics(np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts]))
    >>> float(m[0] + np.log(s[0])) == float(fs.logsumexp(x)[0])
    True
    """
    mx, m_compute, m_result = as_float_array(maxes, "maxes")
    sm, s_compute, s_result = as_float_array(sums, "sums")
    if mx.shape != sm.shape:
        raise ValueError(f"maxes has shape {mx.shape} but sums has shape {sm.shape}; they must match")
    compute = np.promote_types(m_compute, s_compute)
    result = np.promote_types(m_result, s_result)
    mx, lay = _layout(mx, axis)
    return _summaries(_core.merge_statistics_rows, lay, compute, result, lay.input_block(mx, compute),
                      lay.input_block(sm.reshape(mx.shape), compute))


def _backward(grad: Any, y: Any, axis: AxisArg, temperature: Any, out: Optional[np.ndarray], log: bool) -> np.ndarray:
    g, g_compute, g_result = as_float_array(grad, "grad")
    yy, y_compute, y_result = as_float_array(y, "y")
    if g.shape != yy.shape:
        raise ValueError(f"grad has shape {g.shape} but y has shape {yy.shape}; they must match")
    compute = np.promote_types(g_compute, y_compute)
    result = np.promote_types(g_result, y_result)
    shape = g.shape
    temp = _Temperature(temperature, compute)
    compute = temp.compute
    g, lay = _layout(g, axis)
    yy = yy.reshape(g.shape)
    target = np.empty(g.shape, result) if out is None else check_out(out, "out", shape, result).reshape(g.shape)
    dst = lay.output(target, compute)
    gb = separate_from(lay.input_block(g, compute), dst.block)
    yb = separate_from(lay.input_block(yy, compute), dst.block)
    _core.softmax_backward_rows(gb, yb, dst.block, temp.inv, log)
    if temp.divide:  # dx = (the gradient at T = 1) / T
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            dst.block[...] = np.divide(dst.block, temp.t, dtype=np.float64)
    dst.finish()
    return out if out is not None else _array_or_scalar(target.reshape(shape))


def softmax_backward(grad: Any, y: Any, axis: AxisArg = -1, *, temperature: float = 1.0,
                     out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient through ``y = softmax(x, axis, temperature=T)``.

    ``dx = y * (grad - sum(grad * y, axis)) / T``, the vector-Jacobian product.

    Examples
    --------
    >>> import numpy as np, fastsoftmax as fs
    >>> y = fs.softmax(np.array([1.0, 2.0]))
    >>> fs.softmax_backward(np.array([1.0, 0.0]), y).round(4)
    array([ 0.1966, -0.1966])
    """
    return _backward(grad, y, axis, temperature, out, log=False)


def log_softmax_backward(grad: Any, y: Any, axis: AxisArg = -1, *, temperature: float = 1.0,
                         out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient through ``y = log_softmax(x, axis, temperature=T)``.

    ``dx = (grad - exp(y) * sum(grad, axis)) / T``.

    Examples
    --------
    >>> import numpy as np, fastsoftmax as fs
    >>> y = fs.log_softmax(np.array([1.0, 2.0]))
    >>> fs.log_softmax_backward(np.array([1.0, 0.0]), y).round(4)
    array([ 0.7311, -0.7311])
    """
    return _backward(grad, y, axis, temperature, out, log=True)
