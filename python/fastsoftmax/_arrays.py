"""Input conversion shared by every public function: dtypes, axes, row blocks.

The C++ kernels take 2-D blocks of contiguous rows. These helpers turn any
array, axis and layout into such a block (a view when the memory already has
that shape, a copy otherwise) and check ``out=`` arguments.
"""
from __future__ import annotations

import numbers
import operator
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

AxisArg = Union[int, Sequence[int], None]

_COMPUTE = {np.dtype(np.float32): np.float32, np.dtype(np.float64): np.float64}


def as_array(x: Any, name: str) -> np.ndarray:
    """``np.asarray(x)``, with NumPy's refusal of a ragged nested sequence naming the argument."""
    try:
        return np.asarray(x)
    except ValueError as e:
        raise ValueError(f"{name}: cannot be made an array ({e})") from None


def flag(value: Any, name: str) -> bool:
    """A yes/no option: a bool, a NumPy bool or the ints 0 and 1; anything else (a string,
    None, an array) is a TypeError."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name}: expected True or False, got {value!r}")


def as_float_array(x: Any, name: str, complex_ok: bool = False) -> Tuple[np.ndarray, np.dtype, np.dtype]:
    """``(array, compute dtype, result dtype)`` by SciPy's rules.

    float32/float64 stay; integers and bool compute as float64; float16
    computes in float32 and returns float16; with ``complex_ok``,
    complex64/complex128 stay. Anything else is a TypeError.
    """
    a = as_array(x, name)
    if not a.dtype.isnative and a.dtype.kind in "fiuc":  # converted, as SciPy does
        a = a.astype(np.dtype(a.dtype.type))
    dt = a.dtype
    if dt in _COMPUTE:
        return a, dt, dt
    if dt == np.float16:
        return a, np.dtype(np.float32), dt
    if dt.kind in "iub":
        return a, np.dtype(np.float64), np.dtype(np.float64)
    if complex_ok and dt in (np.complex64, np.complex128):
        return a, dt, dt
    kinds = "a float (float16/32/64), complex (complex64/128)" if complex_ok else "a float (float16/32/64)"
    raise TypeError(f"{name}: unsupported dtype {dt}; expected {kinds}, integer or bool array")


def _as_int(value: Any, message: str) -> int:
    """operator.index(value), a bool or a non-integer raising TypeError(message)."""
    if isinstance(value, (bool, np.bool_)):  # operator.index takes True as 1 (np.True_ too, NumPy < 2.3)
        raise TypeError(message)
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(message) from None


def normalize_axes(axis: AxisArg, ndim: int, name: str = "axis") -> Tuple[int, ...]:
    """Sorted, non-negative axes; None means all of them."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        raw = list(axis)
    else:
        raw = [axis]
    out = []
    for ax in raw:
        ax = _as_int(ax, f"{name}: expected an int, a tuple of ints or None, got {axis!r}")
        if not -ndim <= ax < ndim:
            raise np.exceptions.AxisError(ax, ndim) if hasattr(np, "exceptions") else ValueError(
                f"{name} {ax} is out of bounds for an array of dimension {ndim}")
        out.append(ax % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def rows_view(a: np.ndarray) -> Optional[np.ndarray]:
    """``a`` seen as (rows, a.shape[-1]) with contiguous rows and no copy, or None."""
    if a.ndim == 0:
        return None
    n = a.shape[-1]
    item = a.itemsize
    if n > 1 and a.strides[-1] != item:
        return None
    if not a.flags.aligned:
        return None
    lead = [(s, st) for s, st in zip(a.shape[:-1], a.strides[:-1]) if s != 1]
    rows = int(np.prod(a.shape[:-1], dtype=np.int64))
    if not lead:
        row_stride = n * item
    else:
        # the leading axes must collapse into one with a constant stride
        for (s_outer, st_outer), (s_inner, st_inner) in zip(lead, lead[1:]):
            if st_outer != st_inner * s_inner:
                return None
        row_stride = lead[-1][1]
    return np.lib.stride_tricks.as_strided(a, shape=(rows, n), strides=(row_stride, item),
                                           writeable=a.flags.writeable)


def input_rows(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A read-only 2-D row block of ``a`` (last axis = rows) in ``dtype``."""
    if a.dtype == dtype:
        v = rows_view(a)
        if v is not None:
            return v
    # np.array copies, so the block is also aligned (ascontiguousarray would
    # hand back an unaligned contiguous array unchanged)
    n = a.shape[-1] if a.ndim else 1
    rows = int(np.prod(a.shape[:-1], dtype=np.int64))  # not -1: a reshape cannot infer it when n is 0
    return np.array(a, dtype=dtype, order="C", copy=True).reshape(rows, n)


def narrowed(v: Any, dtype: np.dtype) -> Any:
    """``v`` (an array or a float) in ``dtype``; a value past its range rounds to +-inf without a RuntimeWarning."""
    with np.errstate(over="ignore"):
        return v.astype(dtype, copy=False) if isinstance(v, np.ndarray) else dtype.type(v)


def check_out(out: Any, name: str, shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape} but the result has shape {tuple(shape)}")
    if out.dtype != dtype:
        raise TypeError(f"{name} has dtype {out.dtype} but the result has dtype {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out


class OutputRows:
    """Where a kernel writes the 2-D row block that lands in ``target``.

    ``target``'s last ``nred`` axes form the rows. ``block`` is a view into
    ``target`` when its layout allows; otherwise a scratch array that
    ``finish()`` copies (and casts) into ``target``.
    """

    def __init__(self, target: np.ndarray, compute: np.dtype, nred: int = 1):
        self.target = target
        n = int(np.prod(target.shape[target.ndim - nred:], dtype=np.int64))
        rows = int(np.prod(target.shape[:target.ndim - nred], dtype=np.int64))
        view = rows_view(target) if (target.dtype == compute and nred == 1) else None
        self.direct = view is not None
        self.block = view if view is not None else np.empty((rows, n), compute)

    def finish(self) -> None:
        if not self.direct:
            with np.errstate(over="ignore"):  # past the target dtype's range is +-inf
                np.copyto(self.target, self.block.reshape(self.target.shape), casting="unsafe")


def separate_from(inp: np.ndarray, out_block: np.ndarray) -> np.ndarray:
    """``inp``, or a copy of it when it overlaps ``out_block`` other than exactly.

    Exact aliasing (the same rows at the same addresses, e.g. ``out=x``) is
    safe: every kernel reads an element before writing it.
    """
    if not np.may_share_memory(inp, out_block):
        return inp
    same = (inp.__array_interface__["data"][0] == out_block.__array_interface__["data"][0]
            and inp.shape == out_block.shape and inp.strides == out_block.strides)
    return inp if same else inp.copy()


def integer(value: Any, name: str, low: Optional[int] = -2**63, high: Optional[int] = 2**63 - 1) -> int:
    """``value`` as a Python int in [low, high] (None: unbounded); bools and non-integers are a TypeError."""
    v = _as_int(value, f"{name}: expected an int, got {value!r}")
    if low is not None and high is not None and not low <= v <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {v}")
    return v


def check_finite(value: Any, name: str, *, positive: bool = False, low: Optional[float] = None,
                 high: Optional[float] = None) -> float:
    """``value`` as a float: a real number (not a bool or a string), finite, optionally > 0 or in [low, high]."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{name} must be finite, got an integer of {len(str(abs(int(value))))} digits") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if positive and not v > 0:
        raise ValueError(f"{name} must be > 0, got {v}")
    if low is not None and high is not None and not low <= v <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {v}")
    return v
