"""What every area of the op table shares: the registry types, the
tolerances the library promises per dtype, and the comparison helpers.

Area modules (softmax.py, logsumexp.py, ...) import from here and from
inputs.py, never from the package itself, so that ``ops/__init__.py`` can
import them without a cycle.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

import fastsoftmax

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


def public_function(name: str) -> Callable[..., Any]:
    """fastsoftmax.<name>; a dotted name is in a namespace module (``sampled.nce_loss``)."""
    obj: Any = fastsoftmax
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


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
    # Whether ``python -m fastsoftmax bench`` times it: an entry of
    # fastsoftmax._bench.BENCH_OPS (test_public_api.py checks the two agree).
    benchmarked: bool = True
    # Its comparison with a peer library: peer(rng, dtype, peers) asserts
    # agreement on inputs of its own (tests/test_peers.py runs it; peers has
    # .torch and .scipy_special, imported as CI requires). None: its peer
    # tests live in tests/test_<area>.py.
    peer: Optional[Callable[[np.random.Generator, np.dtype, Any], None]] = None
    # Its results go through NumPy's matrix products, whose bits depend on the
    # BLAS and the CPU it picks kernels for: left out of the recorded digests
    # (tests/bitwise), still checked for the same bits at any thread count.
    blas: bool = False
    # Where the labels' classes are counted, (argument position, axis), when
    # not along the first argument's last axis (margin losses: weight's rows).
    classes_at: Optional[Tuple[int, int]] = None
    # Integer labels that only group the rows (any values, no class count).
    free_labels: bool = False
    # The options whose combination in these keyword arguments is refused
    # (ValueError or TypeError naming one of them), for the fuzzer: rules
    # between options that no single sample shows.
    refused_options: Optional[Callable[[dict], Sequence[str]]] = None
    # (argument position, dense gradient) pairs from the gradient the op
    # returns with return_grad=True (tests/test_gradients.py). None: one
    # gradient per array argument from the first on.
    grads_by_argument: Optional[Callable[[tuple, Any], Sequence[Tuple[int, np.ndarray]]]] = None
    # Whether tests/test_fuzz.py mutates its calls. The fuzzer's model of a
    # valid call (one array of logits, integer arguments as class ids
    # counted along it) does not describe the sampled functions, whose
    # integer arguments are labels, candidates, num_sampled and num_classes
    # of several arrays; their bad inputs are the table's and test_sampled's.
    fuzzed: bool = True

    @property
    def fn(self) -> Callable[..., Any]:
        return public_function(self.name)

    def __repr__(self) -> str:
        return self.name


# --------------------------------------------------------------------------
# Comparison helpers (each area's own, e.g. assert_softmax_close, lives in
# its module)
# --------------------------------------------------------------------------

def fail_elements(what: str, got, want, bad: np.ndarray, extra: str = "") -> None:
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
        fail_elements(what + " (NaN pattern)", got, want, bad)
    inf = np.isinf(want) | np.isinf(got)
    bad = inf & (got != want) & ~np.isnan(want)
    if bad.any():
        fail_elements(what + " (infinities)", got, want, bad)
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
        fail_elements(what, got, want, bad, f"(tol e.g. {tol[bad][0]:.3g})")


def check_dtype(got, dtype: np.dtype, what: str) -> None:
    got_dt = np.asarray(got).dtype
    assert got_dt == dtype, f"{what}: dtype {got_dt}, expected {dtype}"


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


def assert_loss_part_close(got, want, kwargs, dtype, what: str, rows: int, default_reduction: str = "mean"):
    """The loss of a call (its first result with return_grad=True) against
    the reference's; returns (got gradient, reference gradient) with
    return_grad, else None."""
    red = kwargs.get("reduction", default_reduction)
    if not kwargs.get("return_grad"):
        assert_loss_close(got, want, dtype, what, red, (rows,))
        return None
    assert_loss_close(got[0], want[0], dtype, what, red, (rows,))
    return got[1], want[1]


def assert_grad_close(got, want, dtype, what: str, atol: float = 0.0) -> None:
    """Per row: |err| <= rtol * (|want| + max_row |want|) + atol."""
    dtype = np.dtype(dtype)
    check_dtype(got, dtype, what)
    want = np.asarray(want, np.float64)
    assert np.shape(got) == want.shape, f"{what}: shape {np.shape(got)}, expected {want.shape}"
    if want.size == 0:
        return
    # (over the finite elements: a NaN beside them must not make the tolerance NaN)
    finite = np.where(np.isfinite(want), np.abs(want), 0.0)
    row_scale = np.max(finite, axis=-1, keepdims=True) if want.ndim else finite
    # (the smallest subnormal: a gradient below the dtype's range rounds to 0 or to it)
    floor = max(atol, float(np.finfo(dtype).smallest_subnormal))
    assert_within(got, want, LOSS_RTOL[dtype] * (np.abs(want) + row_scale) + floor, what)

