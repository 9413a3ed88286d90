"""Input builders every area uses: random arrays, rows of special values,
the shape / layout / axis cases, and the bad-input cases shared by every
op (dtypes, axes, temperatures, out= / grad_out=)."""
from __future__ import annotations

import re
from typing import Callable, List, Tuple

import numpy as np

from .common import INF, NAN, TAIL_LENGTHS, BadInput

# --------------------------------------------------------------------------
# Sample inputs
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


def layout_cases() -> List[Tuple[str, Callable]]:
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
    cases.append(("unaligned-rows", lambda rng, dt: (unaligned(normal(rng, (4, 23), dt)), -1)))
    # Size-0 axes.
    cases.append(("empty-rows-0x5", lambda rng, dt: (np.zeros((0, 5), dt), -1)))
    cases.append(("empty-axis-3x0", lambda rng, dt: (np.zeros((3, 0), dt), -1)))
    cases.append(("empty-axis0-0x5", lambda rng, dt: (np.zeros((0, 5), dt), 0)))
    # Special values, short rows and rows longer than a chunk.
    for n in (2, 5, 37, 1100, 2500):
        cases.append((f"special-{n}", lambda rng, dt, n=n: (special_rows(n, dt), -1)))
    cases.append(("special-axis0", lambda rng, dt: (special_rows(37, dt).T.copy(), 0)))
    return cases


def unaligned(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` whose data pointer is not a multiple of its itemsize."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    v = buf[1:].view(a.dtype).reshape(a.shape)
    v[...] = a
    assert not v.flags.aligned
    return v


def x_axis(x, axis):
    """(args, kwargs) of a one-array call along ``axis``."""
    return (x,), {"axis": axis}


# --------------------------------------------------------------------------
# Bad inputs shared by every op
# --------------------------------------------------------------------------

def temperature_cases(call_args: Callable[[], Tuple[tuple, dict]]) -> List[BadInput]:
    cases = []
    for T in (0.0, -1.0, NAN, INF, -INF):
        def build(T=T):
            a, k = call_args()
            return a, dict(k, temperature=T)
        cases.append(BadInput(f"temperature={T}", build, ValueError, "temperature"))
    # Not real numbers (float() would take the string and the bool), and an
    # int past the float range (float() raises OverflowError).
    for T, exc in (("2", TypeError), (True, TypeError), (np.ones(2), TypeError), (10**400, ValueError)):
        def build(T=T):
            a, k = call_args()
            return a, dict(k, temperature=T)
        cases.append(BadInput(f"temperature={str(T)[:8]}", build, exc, "temperature"))
    return cases


def dtype_cases(call_args: Callable[[], Tuple[tuple, dict]], pos: int = 0, name: str = "x",
                accepts_complex: bool = False) -> List[BadInput]:
    cases = []
    bad_dtypes = [("object", np.array([[1.0, "a", None]], dtype=object)),
                  ("str", np.array([["a", "b", "c"]])),
                  ("datetime", np.array([["2020-01-01"] * 3], dtype="datetime64[D]"))]
    if not accepts_complex:
        bad_dtypes.insert(0, ("complex", np.ones((2, 3), np.complex128)))
    elif np.dtype(np.clongdouble).itemsize > 16:  # complex64/128 accepted, a long double complex is not
        bad_dtypes.insert(0, ("clongdouble", np.ones((2, 3), np.clongdouble)))
    for label, bad in bad_dtypes:
        dt = bad.dtype

        def build(bad=bad):
            a, k = call_args()
            a = list(a)
            a[pos] = np.broadcast_to(bad, (2, 3)).copy() if bad.dtype != object else np.full((2, 3), 1.5, object)
            return tuple(a), k
        pattern = "|".join(re.escape(s) for s in {str(dt), dt.name, dt.str})
        cases.append(BadInput(f"{name}-dtype-{label}", build, TypeError, pattern))

    def ragged():  # NumPy refuses a ragged nested list; the message must name the argument
        a, k = call_args()
        a = list(a)
        a[pos] = [[1.0, 2.0], [3.0]]
        return tuple(a), k
    cases.append(BadInput(f"{name}-ragged-list", ragged, ValueError, rf"\b{name}\b"))
    return cases


def flag_cases(call_args: Callable[[], Tuple[tuple, dict]], name: str) -> List[BadInput]:
    """A yes/no option given as something else: a string whose truth would be taken, None, an array."""
    cases = []
    for value in ("no", None, 2, np.array([True, False])):
        def build(value=value):
            a, k = call_args()
            return a, dict(k, **{name: value})
        cases.append(BadInput(f"{name}={str(value)[:8]}", build, TypeError, name))
    return cases


def axis_cases(call_args: Callable[[], Tuple[tuple, dict]]) -> List[BadInput]:
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
    for axis in (True, 1.0, "1", (0, False)):  # NumPy refuses a bool axis too
        def build(axis=axis):
            a, k = call_args()
            return a, dict(k, axis=axis)
        cases.append(BadInput(f"axis={axis!r}-not-an-int", build, TypeError, "axis"))
    return cases


def out_cases(call_args: Callable[[], Tuple[tuple, dict]], kw: str, shape, dtype) -> List[BadInput]:
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



def with_options(call_args: Callable[[], Tuple[tuple, dict]], **kw) -> Callable[[], Tuple[tuple, dict]]:
    """The call with these keyword arguments changed."""
    def build():
        a, k = call_args()
        return a, dict(k, **kw)
    return build


def with_argument(call_args: Callable[[], Tuple[tuple, dict]], pos: int, value) -> Callable[[], Tuple[tuple, dict]]:
    """The call with positional argument ``pos`` replaced."""
    def build():
        a, k = call_args()
        a = list(a)
        a[pos] = value
        return tuple(a), k
    return build
