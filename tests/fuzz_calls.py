"""Random calls of every operation in the op table (tests/ops), and the checker of one call.

A call starts from one of the op's own samples (a valid call) or bad inputs (an
invalid one) and is then mutated: layouts (negative, huge and misaligned
strides, broadcast views, Fortran and big-endian order), dtypes, shapes (0-size
too), special values, labels, axes, options, and out= / grad_out= arrays that
alias the inputs. What the call must then do is worked out per argument from
its final state (``finalize``):

  VALID    it must return, and equal the float64 reference when comparable;
  INVALID  it must raise TypeError, ValueError or IndexError naming the argument;
  EITHER   it may do either (a raise must still be clear).

Nothing here knows an op by name, so a new op of the table is fuzzed as soon as
it is registered. Argument names come from ``inspect.signature(op.fn)``; what an
argument may hold (dtype kinds, shape relative to the first argument, magnitudes
and special values, 0-d and empty inputs, tuple axes) from what the op's samples
hold. A few argument names carry rules of their own: the options in
``OPTION_VALUES``, ``axis``, integer class labels beside an ``ignore_index``
option, and cross-entropy's ``lse`` / ``class_offset`` / ``num_classes`` slices.
"""
from __future__ import annotations

import copy
import inspect
import operator
import re
import traceback
import warnings
import zlib
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

import numpy as np

import reference as ref
from ops import OpInfo, Sample

ALLOWED = (TypeError, ValueError, IndexError)  # numpy's AxisError is a ValueError and an IndexError
# Text that leaks from pybind11 when a Python value reaches C++ unchecked.
PYBIND_NOISE = ("incompatible function arguments", "incompatible constructor arguments", "Invoked with", "pybind11::")
MAX_SAMPLE_ELEMENTS = 100_000   # larger samples (a 3 x 300000 one) are never fuzzed
MAX_BUFFER_BYTES = 16 << 20     # the largest buffer a strided layout may span (calloc: untouched pages are free)
NAN, INF = float("nan"), float("inf")
_TOO_HARD = getattr(np, "exceptions", np).TooHardError  # (numpy.exceptions: NumPy >= 1.25)
F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)


# --------------------------------------------------------------------------
# Choices: one interface over numpy's Generator (seeded loops) and Hypothesis
# --------------------------------------------------------------------------

class Chooser:
    """Every random decision of a call goes through ``integer``, so that
    Hypothesis, drawing them, shrinks a failing call towards fewer mutations."""

    def integer(self, lo: int, hi: int) -> int:  # in [lo, hi]; lo is the simplest
        raise NotImplementedError


class RngChooser(Chooser):
    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))


def pick(ch: Chooser, options: Sequence[Any]) -> Any:
    return options[ch.integer(0, len(options) - 1)]


def chance(ch: Chooser, p: float) -> bool:
    return ch.integer(0, 999) >= 1000 - round(p * 1000)   # shrinks to False


# --------------------------------------------------------------------------
# Verdicts: what a call must do
# --------------------------------------------------------------------------

class Expect(IntEnum):
    VALID = 0
    EITHER = 1
    INVALID = 2


@dataclass(frozen=True)
class Verdict:
    expect: Expect = Expect.VALID
    comparable: bool = True            # a returned result must equal the reference
    names: FrozenSet[str] = frozenset()  # what an error message may name
    exc: Tuple[type, ...] = ALLOWED
    match: Optional[str] = None        # a bad input's own pattern (and contains)
    contains: Tuple[str, ...] = ()


VALID = Verdict()
UNCHECKED = Verdict(comparable=False)


def either(*names: str, comparable: bool = True) -> Verdict:
    return Verdict(Expect.EITHER, comparable, frozenset(names))


def invalid(*names: str, exc: Tuple[type, ...] = ALLOWED) -> Verdict:
    return Verdict(Expect.INVALID, True, frozenset(names), exc)


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """The call's verdict: the worst of its arguments'. With two doubtful
    arguments either may be reported first, so only their names are kept."""
    comparable = all(v.comparable for v in verdicts)
    bad = [v for v in verdicts if v.expect != Expect.VALID]
    if not bad:
        return Verdict(comparable=comparable)
    if len(bad) == 1:
        return replace(bad[0], comparable=comparable)
    return Verdict(max(v.expect for v in bad), comparable, frozenset().union(*(v.names for v in bad)))


@dataclass
class FuzzCall:
    op: OpInfo
    args: List[Any]
    kwargs: Dict[str, Any]
    notes: List[str] = field(default_factory=list)
    verdicts: Dict[str, Verdict] = field(default_factory=dict)
    ref_drop: Set[str] = field(default_factory=set)  # keywords the reference ignores (given values equivalent)
    budget: int = 4096        # most elements its arrays may hold
    bad_input: bool = False   # built from op.bad_inputs(): its verdict stands
    lse_exact: bool = False   # lse= holds the logits' own log-sum-exp

    def verdict(self) -> Verdict:
        return combine(list(self.verdicts.values()))


# --------------------------------------------------------------------------
# What the op table says about an op's arguments
# --------------------------------------------------------------------------

def _kind_class(dt: np.dtype) -> str:
    """'i' for integers, 'f' for real and complex floats alike (complex does not change what an
    argument means, only which ops take it: OpFacts.complex_slots), else the dtype's kind."""
    return "i" if dt.kind in "iu" else "f" if dt.kind == "c" else dt.kind


def shape_relations(shape: Tuple[int, ...], primary: Tuple[int, ...]) -> Set[str]:
    """How an argument's shape relates to the first argument's: every relation that holds."""
    rels = set()
    if shape == primary:
        rels.add("same")
    if primary and shape == primary[:-1]:
        rels.add("lead")
    if primary and shape == primary[-1:]:
        rels.add("last")
    if primary and len(shape) == len(primary) and shape[:-1] == primary[:-1]:
        rels.add("rows")  # one row per row of the first argument, of another length (class ids)
    if primary and len(shape) == len(primary) and shape[-1:] == primary[-1:]:
        rels.add("columns")  # rows as wide as the first argument's (the margin losses' class rows)
    try:
        # "mutual": the two broadcast against each other to a larger shape (logsumexp's b)
        rels.add("broadcast" if np.broadcast_shapes(shape, primary) == primary else "mutual")
    except ValueError:
        pass
    return rels or {"other"}


def _main_relation(rels: Set[str]) -> str:
    for r in ("same", "lead", "last", "broadcast", "rows", "mutual", "columns", "other"):
        if r in rels:
            return r
    raise AssertionError(rels)


@dataclass
class OpFacts:
    op: OpInfo
    arg_names: List[str]                 # positional array parameters, in order
    required: Set[str]
    defaults: Dict[str, Any]             # every parameter with a default (out_kw too)
    samples: List[Sample]                # those small enough to fuzz
    bad_inputs: list
    array_kwargs: Set[str] = field(default_factory=set)  # keywords the samples give arrays
    kinds: Dict[str, Set[str]] = field(default_factory=dict)  # slot -> kind classes seen ('f', 'i')
    complex_slots: Set[str] = field(default_factory=set)      # slots a sample gives complex64/128
    relations: Dict[Tuple[str, str], Set[str]] = field(default_factory=dict)  # (slot, kind class) -> seen
    max_abs: Dict[str, float] = field(default_factory=dict)  # largest finite magnitude seen
    min_abs: Dict[str, float] = field(default_factory=dict)  # smallest nonzero finite magnitude seen
    specials: Dict[str, Set[float]] = field(default_factory=dict)  # the NaN / +inf / -inf seen
    tuple_axes: bool = False            # samples pass axis tuples or None
    scalar_primary: bool = False        # samples pass a 0-d first argument
    zero_axes: Set[int] = field(default_factory=set)  # negative axes at which a sample's first argument is empty
    label_slot: Optional[str] = None    # integer class labels beside an ignore_index option
    binary: Set[str] = field(default_factory=set)  # slots whose samples hold 0 and 1 only (flags)
    kinds_not_binary: Set[str] = field(default_factory=set)  # slots a sample gives other values
    int_floor: Dict[str, int] = field(default_factory=dict)  # integer-only slots: the smallest value seen
    int_only: Set[str] = field(default_factory=set)  # slots the samples give integers only (labels too)

    @property
    def primary(self) -> str:
        return self.arg_names[0]

    def semantic(self, slot: str) -> bool:
        """Whether the dtype kind of this argument changes its meaning (labels or probabilities)."""
        return len(self.kinds.get(slot, ())) > 1

    def seen_relations(self, slot: str, kind: str) -> Set[str]:
        if self.semantic(slot):
            return self.relations.get((slot, kind), set())
        return set().union(*(r for (s, _), r in self.relations.items() if s == slot))


_FACTS: Dict[str, OpFacts] = {}


def facts_of(op: OpInfo) -> OpFacts:
    if op.name not in _FACTS:
        _FACTS[op.name] = _derive_facts(op)
    return _FACTS[op.name]


def _derive_facts(op: OpInfo) -> OpFacts:
    params = inspect.signature(op.fn).parameters.values()
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    arg_names = [p.name for p in params if p.kind in positional and p.default is inspect.Parameter.empty]
    defaults = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
    facts = OpFacts(op, arg_names, set(arg_names), defaults, [], list(op.bad_inputs()))
    rng = np.random.default_rng(0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sample in op.samples():
            args, kwargs = sample.build(rng, F64)
            arrays = {name: np.asarray(a) for name, a in zip(arg_names, args)}
            arrays.update({k: np.asarray(v) for k, v in kwargs.items() if isinstance(v, np.ndarray)})
            if sum(a.size for a in arrays.values()) > MAX_SAMPLE_ELEMENTS:
                continue
            facts.samples.append(sample)
            _learn(facts, arrays, kwargs)
    if "ignore_index" in defaults:
        facts.label_slot = next((s for s in arg_names[1:] if "i" in facts.kinds.get(s, ())), None)
    facts.int_only = {k for k in facts.int_floor if facts.kinds.get(k) == {"i"}}
    facts.int_floor = {k: v for k, v in facts.int_floor.items() if k in facts.int_only and k != facts.label_slot}
    return facts


def _learn(facts: OpFacts, arrays: Dict[str, np.ndarray], kwargs: dict) -> None:
    primary = arrays[facts.primary]
    facts.scalar_primary |= primary.ndim == 0
    facts.zero_axes |= {ax - primary.ndim for ax, n in enumerate(primary.shape) if n == 0}
    axis = kwargs.get("axis", facts.defaults.get("axis", 0))
    facts.tuple_axes |= axis is None or isinstance(axis, tuple)
    for name, a in arrays.items():
        if name not in facts.arg_names:
            facts.array_kwargs.add(name)
        kind = _kind_class(a.dtype)
        facts.kinds.setdefault(name, set()).add(kind)
        if a.dtype.kind == "c":
            facts.complex_slots.add(name)
        if name != facts.primary:
            rel = _main_relation(shape_relations(a.shape, primary.shape))
            facts.relations.setdefault((name, kind), set()).add(rel)
            if a.size and a.dtype.kind in "biuf":
                flags = bool(np.all((a == 0) | (a == 1)))
                if flags and name not in facts.kinds_not_binary:
                    facts.binary.add(name)
                else:
                    facts.binary.discard(name)
                    facts.kinds_not_binary.add(name)
            if a.size and a.dtype.kind in "iu":
                facts.int_floor[name] = min(facts.int_floor.get(name, 0), int(a.min()))
        if a.dtype.kind == "f" and a.size:  # (special values and magnitudes of real samples only)
            found = {v for v, present in ((NAN, np.isnan(a).any()), (INF, np.isposinf(a).any()),
                                          (-INF, np.isneginf(a).any())) if present}
            facts.specials.setdefault(name, set()).update(found)
            magnitudes = np.abs(a[np.isfinite(a) & (a != 0)])
            if magnitudes.size:
                facts.max_abs[name] = max(facts.max_abs.get(name, 0.0), float(magnitudes.max()))
                facts.min_abs[name] = min(facts.min_abs.get(name, INF), float(magnitudes.min()))


# --------------------------------------------------------------------------
# Reading and writing a call's arguments ("slots")
# --------------------------------------------------------------------------

def slot_names(call: FuzzCall, facts: OpFacts) -> List[str]:
    """The arguments holding arrays: the positional ones and the array keywords given (out_kw excluded)."""
    names = facts.arg_names[:len(call.args)]
    return names + [k for k in facts.array_kwargs if call.kwargs.get(k) is not None]


def get_slot(call: FuzzCall, facts: OpFacts, name: str) -> Any:
    if name in facts.arg_names:
        return call.args[facts.arg_names.index(name)]
    return call.kwargs.get(name)


def set_slot(call: FuzzCall, facts: OpFacts, name: str, value: Any) -> None:
    if name in facts.arg_names:
        call.args[facts.arg_names.index(name)] = value
    else:
        call.kwargs[name] = value


def _ndarray_slots(call: FuzzCall, facts: OpFacts) -> List[str]:
    return [n for n in slot_names(call, facts) if isinstance(get_slot(call, facts, n), np.ndarray)]


def _as_array(value: Any) -> Optional[np.ndarray]:
    try:
        return np.asarray(value)
    except Exception:  # ragged lists and the like: the call must refuse them
        return None


def result_rule(dt: np.dtype) -> Optional[np.dtype]:
    """The result dtype of an argument of dtype ``dt`` (SPEC 0); None for dtypes the library refuses."""
    if dt.kind == "f" and dt.itemsize in (2, 4, 8):
        return np.dtype(dt.char)  # the native one (NumPy's own dtype object, not a copy)
    if dt.kind in "iub":
        return F64
    if dt.kind == "c" and dt.itemsize in (8, 16):
        return np.dtype(dt.char)
    return None


def result_dtypes(call: FuzzCall, facts: OpFacts) -> Set[np.dtype]:
    """The dtypes a result may have: the first argument's rule, or all numeric arguments' promoted."""
    rules, first = [], None
    for name in slot_names(call, facts):
        a = _as_array(get_slot(call, facts, name))
        if a is None or (name == facts.label_slot and a.dtype.kind in "iu"):
            continue
        r = result_rule(a.dtype)
        if r is None:
            return set()
        rules.append(r)
        first = r if name == facts.primary else first
    if first is None:
        return set()
    return {first, np.result_type(*rules)}


def class_count(call: FuzzCall, facts: OpFacts) -> Optional[int]:
    """Classes of the labels: none for labels that only group rows (OpInfo.free_labels),
    num_classes when given as an int, the axis the op names (OpInfo.classes_at),
    else the first argument's last axis."""
    if facts.op.free_labels:
        return None
    total = _strict_int(call.kwargs.get("num_classes"))
    if total is not None:
        return total
    if facts.op.classes_at is not None:
        pos, axis = facts.op.classes_at
        a = _as_array(get_slot(call, facts, facts.arg_names[pos]))
        return a.shape[axis] if a is not None and a.ndim > axis else None
    p = _as_array(get_slot(call, facts, facts.primary))
    return p.shape[-1] if p is not None and p.ndim else None


def _strict_int(v: Any) -> Optional[int]:
    """``operator.index(v)`` for ints that are not bools, else None."""
    if isinstance(v, (bool, np.bool_)):
        return None
    try:
        return operator.index(v)
    except TypeError:
        return None


# --------------------------------------------------------------------------
# Layouts: the same values in other memory
# --------------------------------------------------------------------------

def place(a: np.ndarray, ch: Chooser, misalign: bool = False) -> np.ndarray:
    """A copy of ``a`` in fresh memory: C or Fortran order, gaps between elements (strides up
    to a megabyte), reversed axes, and optionally an address that is not a multiple of the itemsize."""
    if a.dtype.hasobject:
        return a.copy()
    item = a.dtype.itemsize
    nd = a.ndim
    steps = [pick(ch, (1, 1, 1, 1, 2, 3, 17, 4096)) for _ in range(nd)]
    flips = [chance(ch, 0.3) for _ in range(nd)]
    inner_first = list(range(nd))[::-1] if not chance(ch, 0.3) else list(range(nd))  # C or F order
    for attempt in range(2):
        span, elem = 1, [0] * nd
        for ax in inner_first:
            elem[ax] = span * steps[ax]
            span = elem[ax] * max(a.shape[ax], 1)
        if span * item <= MAX_BUFFER_BYTES:
            break
        steps = [1] * nd
    off = 1 if misalign and item > 1 else 0
    buf = np.zeros(span * item + off, np.uint8)
    base = buf[off:].view(a.dtype)
    if a.size == 0:
        return base[:0].reshape(a.shape)
    start = sum((a.shape[ax] - 1) * elem[ax] for ax in range(nd) if flips[ax])
    strides = tuple((-elem[ax] if flips[ax] else elem[ax]) * item for ax in range(nd))
    v = np.lib.stride_tricks.as_strided(base[start:], a.shape, strides)
    v[...] = a
    return v


def _byteswapped(a: np.ndarray) -> np.ndarray:
    return a.astype(a.dtype.newbyteorder())


def _describe_array(a: np.ndarray) -> str:
    flags = "".join(f for f, on in (("C", a.flags.c_contiguous), ("F", a.flags.f_contiguous),
                                    ("u", not a.flags.aligned), ("r", not a.flags.writeable)) if on)
    return f"{a.dtype.str}{list(a.shape)} strides={a.strides} [{flags}]"


# --------------------------------------------------------------------------
# Option values and what each does to the call (name -> valid, either-but-compared,
# either-unchecked, invalid). Bools are refused wherever a number is meant.
# --------------------------------------------------------------------------

_FLAG = ([True, False, np.True_, np.False_, 1, 0], [], [], ["yes", "no", None, 2, 0.0, np.array([True, False])])
OPTION_VALUES: Dict[str, Tuple[list, list, list, list]] = {
    "temperature": ([0.5, 3.7, 2, np.float32(0.25), np.float16(1.5), np.float64(7.5), 1e-3, 1e3, 1e300, 1e-39,
                     1e-310, 1e-320], [np.array(2.0)], [],
                    [0.0, -0.0, -1.0, NAN, INF, -INF, "2", "hot", True, False, np.True_, None, 10**400, [1.0],
                     np.array([1.0, 2.0]), 1j]),
    "label_smoothing": ([0, 0.0, 0.1, 0.5, 1.0, 1, np.float32(0.2), 5e-324], [np.array(0.1)], [],
                        [-0.1, -5e-324, 1.5, 1.0000001, NAN, INF, "0.1", True, None, 10**400, [0.1]]),
    "z_loss": ([0, 0.0, 1e-4, 0.5, 3, np.float32(0.01)], [np.array(0.1)], [],
               [-1e-3, NAN, INF, -INF, "0", True, None, 10**400, [0.1]]),
    "reduction": (["mean", "sum", "none", np.str_("sum")], [], [],
                  ["avg", "", "MEAN", " mean", None, 0, b"mean", np.array(["mean"]), np.array(["mean", "sum"]),
                   ["mean"], ("sum",)]),
    "ignore_index": ([-100, -1, 0, 3, np.int64(-100), np.int32(2), 2**31, -2**63], [2**63, 3.0, np.uint64(2**63)],
                     [], [-100.7, 0.5, None, "-100", NAN, INF, [1], True]),
    "keepdims": _FLAG,
    "return_sign": _FLAG,
    "return_grad": _FLAG,
}
# An option of a future op that no table knows: any value may be refused, none compared.
GENERIC_OPTION_VALUES = [None, True, False, 0, 1, -1, 1.5, NAN, INF, "x", [1], np.array([1, 2]), np.float64(0.5)]
SLICE_OPTIONS = ("lse", "class_offset", "num_classes")


def _option_names(facts: OpFacts) -> List[str]:
    skip = {facts.op.out_kw, "axis", *facts.array_kwargs, *SLICE_OPTIONS}
    return [n for n in facts.defaults if n not in skip]


# --------------------------------------------------------------------------
# Mutations: each returns a note of what it did, or None when it does not apply
# --------------------------------------------------------------------------

Mutation = Callable[[FuzzCall, OpFacts, Chooser, np.random.Generator], Optional[str]]


def mutate_layout(call: FuzzCall, facts: OpFacts, ch: Chooser, rng: np.random.Generator) -> Optional[str]:
    names = _ndarray_slots(call, facts)
    if not names:
        return None
    name = pick(ch, names)
    a = get_slot(call, facts, name)
    how = pick(ch, ("place", "place", "place", "misaligned", "byteswap", "broadcast", "readonly", "list",
                    "own-dtype-object"))
    if how in ("place", "misaligned"):
        a = place(a, ch, misalign=how == "misaligned")
    elif how == "byteswap" and a.dtype.itemsize > 1 and not a.dtype.hasobject:
        a = _byteswapped(a)
    elif how == "broadcast" and a.ndim and a.shape[0]:
        ax = ch.integer(0, a.ndim - 1)
        if a.shape[ax] == 0:
            return None
        a = np.broadcast_to(np.take(a, [0], axis=ax), a.shape)  # stride 0 along ax
    elif how == "readonly":
        a = a.copy()
        a.flags.writeable = False
    elif how == "own-dtype-object" and a.dtype.isnative and not a.dtype.hasobject:
        a = a.view(a.dtype.newbyteorder("="))  # equal to NumPy's dtype, another object
    elif how == "list" and a.dtype in (F64, np.dtype(np.int64)) and a.size <= 5000:
        set_slot(call, facts, name, a.tolist())
        return f"{name}: as a list"
    else:
        return None
    set_slot(call, facts, name, a)
    return f"{name}: {how} -> {_describe_array(a)}"


_NUMERIC_DTYPES = [np.float16, np.float32, np.float64, ">f8", ">f4", ">f2", np.int8, np.int16, np.int32, np.int64,
                   np.uint8, np.uint16, np.uint32, np.uint64, ">i4", ">i8", ">u2", np.bool_]
_REFUSED_DTYPES = [np.complex64, np.complex128, np.longdouble, object, "U8", "S8", "datetime64[D]", "timedelta64[s]",
                   "V8"]


def _converted(a: np.ndarray, dt: np.dtype) -> np.ndarray:
    if dt.kind in "iu" and a.dtype.kind in "fc":
        # into the integer's range without wrapping: a wrapped NaN or negative value lands near
        # 2**63, where rows of nearly equal huge values outrun the float64 reference's own rounding
        info = np.iinfo(dt)
        a = np.clip(np.nan_to_num(np.real(a)), max(info.min, -1e4), min(info.max, 1e4))
    try:
        return a.astype(dt)
    except Exception:  # strings to numbers, floats to dates, ...
        return np.zeros(a.shape, dt)


def mutate_dtype(call: FuzzCall, facts: OpFacts, ch: Chooser, rng: np.random.Generator) -> Optional[str]:
    names = _ndarray_slots(call, facts)
    if not names:
        return None
    name = pick(ch, names)
    pool = _NUMERIC_DTYPES if not chance(ch, 0.2) else _REFUSED_DTYPES
    dt = np.dtype(pick(ch, pool))
    a = get_slot(call, facts, name)
    if dt == np.longdouble and np.dtype(np.longdouble) == F64:
        return None
    set_slot(call, facts, name, _converted(a, dt))
    return f"{name}: dtype {a.dtype.str} -> {dt.str}"


def mutate_values(call: FuzzCall, facts: OpFacts, ch: Chooser, rng: np.random.Generator) -> Optional[str]:
    """Zeros, extremes, subnormals, NaN and infinities. The call is compared with the reference
    only while the values stay within what the op's samples hold in that argument (NaN or
    infinities where they hold them, 1e30 where they do, subnormals in the first argument or
    where they hold tiny values): beyond, the comparisons' tolerances do not model the results
    (a subnormal weight makes subnormal gradients, 1e30 times a weight overflows float32)."""
    names = [n for n in _ndarray_slots(call, facts)
             if get_slot(call, facts, n).dtype.kind == "f" and get_slot(call, facts, n).size]
    if not names:
        return None
    name = pick(ch, names)
    a = np.array(get_slot(call, facts, name))
    top = facts.max_abs.get(name, 1.0)
    tiny = float(np.finfo(a.dtype).smallest_subnormal)
    modelled = [0.0, -0.0, top, -top, top / 2] + sorted(facts.specials.get(name, ()), key=str) * 2
    if name == facts.primary or facts.min_abs.get(name, 1.0) <= 1e-30:
        modelled += [tiny, -tiny]
    if top >= 1e29:
        modelled += [1e30, -1e30]
    beyond = [v for v in (NAN, INF, -INF, 1e30, -1e30, tiny) if v not in modelled or v != v]
    written = []
    for _ in range(ch.integer(1, 3)):
        i = ch.integer(0, a.size - 1)
        v = pick(ch, modelled) if not chance(ch, 0.25) else pick(ch, beyond)
        if not any(v == m or (v != v and m != m) for m in modelled):
            call.verdicts[f"values:{name}"] = UNCHECKED
        a.flat[i] = v
        written.append(f"[{i}]={v}")
    set_slot(call, facts, name, a)
    return f"{name}: values {' '.join(written)}"


def mutate_labels(call: FuzzCall, facts: OpFacts, ch: Chooser, rng: np.random.Generator) -> Optional[str]:
    """Class labels in and out of [0, C), the ignore value, the dtype's extremes."""
    name = facts.label_slot
    t = get_slot(call, facts, name) if name else None
    if not isinstance(t, np.ndarray) or t.dtype.kind not in "iu" or t.size == 0:
        return None
    C = class_count(call, facts) or 1
    ignore = _strict_int(call.kwargs.get("ignore_index", facts.defaults["ignore_index"]))
    info = np.iinfo(t.dtype)
    pool = [0, C - 1, C, C + 1, -1, -2, 2**31 - 1, 2**40, -2**40, int(info.max), int(info.min)]
    pool += [ignore] * 3 if ignore is not None else []
    t = np.array(t)
    written = []
    for _ in range(ch.integer(1, 2)):
        i = ch.integer(0, t.size - 1)
        v = pick(ch, pool)
        t.flat[i] = np.array(v).astype(t.dtype) if -2**63 <= v < 2**64 else 0
        written.append(f"[{i}]={t.flat[i]}")
    set_slot(call, facts, name, t)
    return f"{name}: labels {' '.join(written)}"


_SIZES = (0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129, 255, 257, 511, 513, 1025)


def remap_dim(call: FuzzCall, facts: OpFacts, old: int, new: int) -> None:
    """Every axis of size ``old`` of every array argument becomes ``new`` (cut or tiled), so
    that the arguments keep their shapes' relations."""
    for name in slot_names(call, facts):
        a = _as_array(get_slot(call, facts, name))
        if a is None or old not in a.shape:
            continue
        for ax, n in enumerate(a.shape):
            if n == old:
                a = np.take(a, np.arange(new) % old if old else np.zeros(0, np.intp), axis=ax)
        set_slot(call, facts, name, a)


def mutate_shape_size(call: FuzzCall, facts: OpFacts, ch: Chooser, rng: np.random.Generator) -> Optional[str]:
    p = _as_array(get_slot(call, facts, facts.primary))
    sizes = [n for n in (p.shape if p is not None else ()) if n]
    if not sizes:
        return None
    old = pick(ch, sizes)
    new = pick(ch, _SIZES) if not chance(ch, 0.3) else ch.integer(0, 300)
    before = _elements(call, facts)
    while new > old and before * new // old > call.budget:  # within the call's budget
        new //= 2
    remap_dim(call, facts, old, new)
    return f"axes of size {old} -> {new}"


def _elements(call: FuzzCall, facts: OpFacts) -> int:
    return sum(a.size for a in (_as_array(get_slot(call, facts, n)) for n in slot_names(call, facts))
               if a is not None)


def shrink(call: FuzzCall, facts: OpFacts, ch: Chooser, budget: int) -> None:
    """Cuts the largest axes until the arrays hold at most ``budget`` elements; labels are
    taken modulo the new class count so that the call stays valid."""
    for _ in range(6):
        if _elements(call, facts) <= budget:
            return
        p = _as_array(get_slot(call, facts, facts.primary))
        if p is None or not p.size:
            return
        old = max(p.shape)
        new = ch.integer(1, max(1, min(old - 1, 64)))
        remap_dim(call, facts, old, new)
        call.notes.append(f"shrunk: axes of size {old} -> {new}")
        _refit_labels(call, facts)


def _refit_labels(call: FuzzCall, facts: OpFacts) -> None:
    t = get_slot(call, facts, facts.label_slot) if facts.label_slot else None
    C = class_count(call, facts)
    ignore = _strict_int(call.kwargs.get("ignore_index", facts.defaults.get("ignore_index")))
    if isinstance(t, np.ndarray) and t.dtype.kind in "iu" and C:
        set_slot(call, facts, facts.label_slot, np.where(t == ignore, t, t % C).astype(t.dtype))


def mutate_other_shape(call: FuzzCall, facts: OpFacts, ch: Chooser, rng: np.random.Generator) -> Optional[str]:
    """A new shape for an argument other than the first: right, broadcastable or wrong."""
    names = [n for n in slot_names(call, facts) if n != facts.primary]
    p = _as_array(get_slot(call, facts, facts.primary))
    if not names or p is None:
        return None
    name = pick(ch, names)
    old = _as_array(get_slot(call, facts, name))
    ps = p.shape
    shapes = [ps, ps[:-1], ps[-1:], (), tuple(n + 1 for n in ps), ps[:-1] + (1,), (1,) + ps, ps[::-1],
              tuple(ch.integer(1, 5) for _ in range(ch.integer(1, 3)))]
    shape = pick(ch, shapes)
    dt = old.dtype if old is not None and old.dtype.kind in "fiub" else F64
    if dt.kind in "iu":
        a = rng.integers(0, max(1, class_count(call, facts) or 1), size=shape).astype(dt)
    else:
        a = rng.uniform(0.1, 2.0, size=shape).astype(dt)
    set_slot(call, facts, name, a)
    return f"{name}: shape {None if old is None else old.shape} -> {shape}"


def _ragged() -> list:
    return [[1.0, 2.0], [3.0]]


def mutate_value_type(call: FuzzCall, facts: OpFacts, ch: Chooser, rng: np.random.Generator) -> Optional[str]:
    """An argument replaced by something that is not an array of numbers (or a Python scalar)."""
    names = list(facts.arg_names[:len(call.args)]) + sorted(facts.array_kwargs)
    name = pick(ch, names)
    value = pick(ch, (None, "abc", 1.5, 3, _ragged(), {"a": 1}, [], [[]], object()))
    set_slot(call, facts, name, value)
    return f"{name} = {value!r}"


def _axis_pool(nd: int, tuple_axes: bool, ch: Chooser) -> List[Any]:
    k = ch.integer(-max(nd, 1), max(nd, 1) - 1)
    pool: List[Any] = [k, np.int64(k), None, nd, -nd - 1, 2**63, (k, k), 1.5, "0", True, False, np.True_,
                       [k], (), np.array(k), np.array([0, 1]), [[0]], (0, 1.5)]
    if nd:
        pool.append((k, (k % nd) - nd))  # the same axis twice, one negative
    if nd >= 2:
        axes = [a for a in range(nd) if chance(ch, 0.5)] or [0]
        pool += [tuple(a - nd if chance(ch, 0.5) else a for a in axes)] * 3
    return pool


def mutate_axis(call: FuzzCall, facts: OpFacts, ch: Chooser, rng: np.random.Generator) -> Optional[str]:
    if "axis" not in facts.defaults:
        return None
    p = _as_array(get_slot(call, facts, facts.primary))
    nd = p.ndim if p is not None else 1
    call.kwargs["axis"] = axis = pick(ch, _axis_pool(nd, facts.tuple_axes, ch))
    return f"axis = {axis!r}"


def mutate_option(call: FuzzCall, facts: OpFacts, ch: Chooser, rng: np.random.Generator) -> Optional[str]:
    names = _option_names(facts)
    if not names:
        return None
    name = pick(ch, names)
    if chance(ch, 0.1):
        call.kwargs.pop(name, None)
        call.verdicts.pop(f"option:{name}", None)
        return f"{name}: default"
    if name in OPTION_VALUES:
        valid, compared, unchecked, bad = OPTION_VALUES[name]
        groups = [(g, v) for g, v in ((valid, VALID), (compared, either(name)),
                                      (unchecked, either(name, comparable=False)), (bad, invalid(name))) if g]
        values, verdict = pick(ch, groups)
        value = pick(ch, values)
    else:
        value, verdict = pick(ch, GENERIC_OPTION_VALUES), either(name, comparable=False)
    call.kwargs[name] = value
    call.verdicts[f"option:{name}"] = verdict
    return f"{name} = {value!r}"


def mutate_array_kwarg(call: FuzzCall, facts: OpFacts, ch: Chooser, rng: np.random.Generator) -> Optional[str]:
    """Removes an optional array argument, or gives one of a shape its samples give it."""
    names = sorted(facts.array_kwargs)
    p = _as_array(get_slot(call, facts, facts.primary))
    if not names or p is None:
        return None
    name = pick(ch, names)
    if call.kwargs.get(name) is not None and chance(ch, 0.4):
        call.kwargs[name] = None
        return f"{name} = None"
    rels = sorted(facts.seen_relations(name, "f"))
    if not rels:
        return None
    rel = pick(ch, rels)
    shape = {"same": p.shape, "lead": p.shape[:-1], "last": p.shape[-1:]}.get(rel)
    if shape is None:  # broadcast: some axes of size 1, maybe fewer of them
        shape = tuple(1 if chance(ch, 0.5) else n for n in p.shape)[ch.integer(0, p.ndim):]
    dt = p.dtype if p.dtype.kind == "f" else F64
    call.kwargs[name] = rng.uniform(0.1, 2.0, size=shape).astype(dt)
    return f"{name}: new {dt.str}{list(shape)}"


MUTATIONS: List[Tuple[int, Mutation]] = [
    (5, mutate_layout), (2, mutate_dtype), (2, mutate_values), (2, mutate_labels), (2, mutate_shape_size),
    (1, mutate_other_shape), (1, mutate_value_type), (2, mutate_axis), (3, mutate_option), (1, mutate_array_kwarg),
]


# --------------------------------------------------------------------------
# Final phases: class slices (lse=) and outputs (out= / grad_out=)
# --------------------------------------------------------------------------

def mutate_slice(call: FuzzCall, facts: OpFacts, ch: Chooser, rng: np.random.Generator) -> Optional[str]:
    """lse / class_offset / num_classes: the whole class axis with its own log-sum-exp (the
    reference's numbers), a slice of it (checked for crashes only), or random combinations."""
    if not set(SLICE_OPTIONS) <= set(facts.defaults):
        return None
    x = _as_array(get_slot(call, facts, facts.primary))
    if x is None or result_rule(x.dtype) is None or x.dtype.kind == "c" or x.ndim == 0 or x.shape[-1] == 0:
        return None
    C = x.shape[-1]
    lse = ref.logsumexp(ref.f64(x), axis=-1)
    # Given as float64, a huge row's log-sum-exp drops its log S (1e30 + log 8 is 1e30): the
    # library's p = exp(x - lse) then differ from the reference's, which takes the logits' own.
    close = bool(np.all(np.abs(np.where(np.isfinite(lse), lse, 0.0)) <= 1e5))
    how = pick(ch, ("whole", "slice", "random"))
    if how == "whole":
        call.kwargs.update(lse=lse, class_offset=0, num_classes=C)
        call.lse_exact = close
        return "lse = the logits' own, class_offset=0, num_classes=C"
    if how == "slice":
        lo = ch.integer(0, C - 1)
        hi = ch.integer(lo + 1, C)
        set_slot(call, facts, facts.primary, x[..., lo:hi])
        call.kwargs.update(lse=lse, class_offset=lo, num_classes=C)
        return f"classes [{lo}, {hi}) of {C}, lse of all"
    lse_value = pick(ch, (None, lse, lse, lse.astype(np.float32), lse[..., None], "abc", lse.tolist()))
    call.lse_exact = lse_value is lse and close
    call.kwargs.update(lse=lse_value, class_offset=pick(ch, (0, 0, 1, -1, C, 1.5, "0", True, np.int64(1), None)),
                       num_classes=pick(ch, (None, C, C, C + 3, C - 1, 0, -1, 1.5, "5", True)))
    given = "given" if lse_value is not None else None
    return f"class_offset={call.kwargs['class_offset']!r} num_classes={call.kwargs['num_classes']!r} lse={given}"


def _views_of(out: np.ndarray, shape: Tuple[int, ...], ch: Chooser) -> List[np.ndarray]:
    """Views of ``out`` of the given shape: itself reversed, a row, a column, a prefix."""
    views = []
    if out.shape == shape:
        views += [out, out[::-1]] if out.ndim else [out]
    if out.ndim and out.shape[0] and out.shape[1:] == shape:
        views.append(out[ch.integer(0, out.shape[0] - 1), ...])  # (a 0-d view, not a scalar, when out is 1-d)
    if out.ndim and out.shape[-1] and out.shape[:-1] == shape:
        j = ch.integer(0, out.shape[-1] - 1)
        views.append(out[..., j:j + 1].reshape(shape))
    if out.ndim and out.shape[-1] and out.shape[:-1] + (1,) == shape:
        j = ch.integer(0, out.shape[-1] - 1)
        views.append(out[..., j:j + 1])
    if out.ndim and out.shape[0] and (1,) + out.shape[1:] == shape:
        views.append(out[:1])
    n = int(np.prod(shape))
    if out.flags.c_contiguous and 0 < n <= out.size:
        views.append(out.reshape(-1)[out.size - n:].reshape(shape))
    return views


def _overlapping_pair(a: np.ndarray, shape: Tuple[int, ...], dt: np.dtype, ch: Chooser):
    """A copy of ``a`` and an array of ``shape`` and ``dt`` in one buffer, overlapping, shifted."""
    n_in, n_out = a.size * a.itemsize, int(np.prod(shape)) * dt.itemsize
    unit = max(a.itemsize, dt.itemsize)
    shift = unit * ch.integer(1, max(1, min(n_in, n_out) // unit))
    out_first = chance(ch, 0.5)
    buf = np.zeros(max(n_in, n_out) + shift, np.uint8)
    at_in, at_out = (shift, 0) if out_first else (0, shift)
    inp = buf[at_in:at_in + n_in].view(a.dtype).reshape(a.shape)
    out = buf[at_out:at_out + n_out].view(dt).reshape(shape)
    inp[...] = a
    return inp, out, ("output first" if out_first else "input first") + f", shifted {shift} bytes"


def mutate_out(call: FuzzCall, facts: OpFacts, ch: Chooser, rng: np.random.Generator) -> Optional[str]:
    kw = facts.op.out_kw
    p = _as_array(get_slot(call, facts, facts.primary))
    dtypes = result_dtypes(call, facts)
    if not kw or p is None or not dtypes:
        return None
    dt = pick(ch, sorted(dtypes, key=str))
    shape = p.shape
    fine = VALID if len(dtypes) == 1 else either(kw)  # with mixed dtypes the result's is unknown
    wrong_dt = np.dtype(pick(ch, (np.float32, np.float64, np.float16, np.int64, object)))
    how = pick(ch, ("fresh", "fresh", "input-itself", "shifted-overlap", "input-view-of-out", "input-view-of-out",
                    "none", "byteswapped", "wrong-shape", "wrong-dtype", "read-only", "broadcast", "list",
                    "self-overlap"))
    inputs = [n for n in _ndarray_slots(call, facts) if get_slot(call, facts, n).size]
    verdict, out, note = fine, None, how
    if how == "fresh":
        out = place(np.zeros(shape, dt), ch, misalign=chance(ch, 0.3))
        note = f"fresh {_describe_array(out)}"
    elif how == "input-itself":
        same = [n for n in _ndarray_slots(call, facts) if get_slot(call, facts, n).dtype == dt
                and get_slot(call, facts, n).shape == shape and get_slot(call, facts, n).flags.writeable]
        if not same:
            return None
        name = pick(ch, same)
        out = get_slot(call, facts, name)
        note = f"{kw} is {name}"
    elif how == "shifted-overlap":
        if not inputs:
            return None
        name = pick(ch, inputs)
        inp, out, where = _overlapping_pair(get_slot(call, facts, name), shape, dt, ch)
        set_slot(call, facts, name, inp)
        note = f"{kw} overlaps {name} ({where})"
    elif how == "input-view-of-out":
        out = place(np.zeros(shape, dt), ch)
        names = [n for n in inputs if n != facts.label_slot]
        if not names:
            return None
        name = pick(ch, names)
        a = get_slot(call, facts, name)
        views = _views_of(out, a.shape, ch)
        if not views:
            return None
        v = pick(ch, views)
        v[...] = a
        set_slot(call, facts, name, v)
        note = f"{name} is a view of {kw}: {_describe_array(v)}"
    elif how == "none":
        out = None
    elif how == "byteswapped":
        out, verdict = np.zeros(shape, dt.newbyteorder()), either(kw)
    elif how == "wrong-shape":
        bad = pick(ch, [tuple(n + 1 for n in shape) or (1,), shape + (1,), shape[1:] if shape else (2,)])
        out, verdict = np.zeros(bad, dt), invalid(kw)
        note = f"wrong shape {bad}"
    elif how == "wrong-dtype":
        out = np.zeros(shape, wrong_dt)
        verdict = either(kw) if wrong_dt in dtypes else invalid(kw)
        note = f"wrong dtype {wrong_dt}"
    elif how == "read-only":
        out = np.zeros(shape, dt)
        out.flags.writeable = False
        verdict = invalid(kw)
    elif how == "broadcast":
        out, verdict = np.broadcast_to(np.zeros((1,) * len(shape), dt), shape), invalid(kw)
    elif how == "list":
        out, verdict = np.zeros(shape, dt).tolist(), invalid(kw)
    elif how == "self-overlap":  # writeable, every element of a row at one address
        if not shape or 0 in shape:
            return None
        out = np.lib.stride_tricks.as_strided(np.zeros(int(np.prod(shape[:-1], dtype=np.int64)) or 1, dt), shape,
                                              np.zeros(len(shape), np.intp).tolist())
        verdict = either(kw, comparable=False)
    call.kwargs[kw] = out
    call.verdicts[f"out:{kw}"] = verdict
    return f"{kw}: {note}"


# --------------------------------------------------------------------------
# The verdict of a finished call, from its final arguments
# --------------------------------------------------------------------------

def _dtype_names(dt: np.dtype) -> Tuple[str, ...]:
    return (str(dt), dt.name, dt.str)


def _array_verdict(call: FuzzCall, facts: OpFacts, name: str, p: Optional[np.ndarray]) -> Verdict:
    value = get_slot(call, facts, name)
    if value is None:
        return invalid(name) if name in facts.required else VALID
    a = _as_array(value)
    if a is None:
        return invalid(name)
    if result_rule(a.dtype) is None or (a.dtype.kind == "c" and name not in facts.complex_slots):
        # SPEC: a TypeError naming the dtype (unless its shape is refused first)
        return invalid(name, *_dtype_names(a.dtype), exc=(TypeError,) if name == facts.primary else ALLOWED)
    if name == facts.primary:
        if a.ndim == 0 and not facts.scalar_primary:
            return either(name)
        zero = {ax - a.ndim for ax, n in enumerate(a.shape) if n == 0}
        if not zero <= facts.zero_axes:
            return either(*slot_names(call, facts))
        return VALID
    kind = _kind_class(a.dtype)
    if name in facts.int_only and kind != "i":  # class ids and labels: integers only
        return invalid(name, exc=(TypeError,))
    if facts.semantic(name) and kind not in ("i", "f", "b"):
        return either(name, comparable=False)
    if p is None:
        return VALID  # the first argument's verdict decides
    seen = facts.seen_relations(name, kind)
    rels = shape_relations(a.shape, p.shape)
    C = class_count(call, facts)
    if p.ndim and C is not None and C != p.shape[-1]:  # a class slice: per-class arguments cover all classes
        rels = (rels - {"last"}) | ({"last"} & shape_relations(a.shape, p.shape[:-1] + (C,)))
    if rels & seen:
        return VALID
    return invalid(name, facts.primary)


def _values_verdict(call: FuzzCall, facts: OpFacts, name: str) -> Verdict:
    """Flags (a slot the samples give 0 and 1 only) must hold 0 and 1: ValueError naming it
    otherwise. Class ids (an integer-only slot) must lie in [the smallest value seen, C):
    IndexError naming it otherwise."""
    a = _as_array(get_slot(call, facts, name))
    if a is None or not a.size or a.dtype.kind not in "biuf":
        return VALID
    if name in facts.binary:
        with np.errstate(invalid="ignore"):
            return VALID if np.all((a == 0) | (a == 1)) else invalid(name, exc=(ValueError,))
    C = class_count(call, facts)
    if name in facts.int_floor and a.dtype.kind in "iu" and C is not None:
        values = a.ravel().tolist()
        if any(not facts.int_floor[name] <= v < C for v in values):
            return invalid(name, exc=(IndexError,))
    return VALID


def _labels_verdict(call: FuzzCall, facts: OpFacts) -> Verdict:
    """Labels must lie in [0, C) or equal ignore_index: IndexError naming the target otherwise."""
    t = _as_array(get_slot(call, facts, facts.label_slot))
    p = _as_array(get_slot(call, facts, facts.primary))
    C = class_count(call, facts)
    if t is None or p is None or t.dtype.kind not in "iu" or not p.ndim or t.shape != p.shape[:-1] or C is None:
        return VALID
    ignore = call.kwargs.get("ignore_index", facts.defaults["ignore_index"])
    if isinstance(ignore, float) and ignore.is_integer():
        ignore = int(ignore)
    ignore = _strict_int(ignore) if not isinstance(ignore, (bool, np.bool_)) else int(ignore)
    if any(not (0 <= v < C or v == ignore) for v in t.ravel().tolist()):
        return invalid(facts.label_slot, exc=(IndexError,))
    return VALID


def _slice_verdict(call: FuzzCall, facts: OpFacts) -> Verdict:
    lse, offset, total = (call.kwargs.get(n, facts.defaults[n]) for n in SLICE_OPTIONS)
    p = _as_array(get_slot(call, facts, facts.primary))
    if p is None or not p.ndim:
        return VALID
    C = p.shape[-1]
    off = _strict_int(offset)
    total = C if total is None else _strict_int(total)
    if off is None or total is None:
        return invalid(*SLICE_OPTIONS)
    if lse is None:
        return VALID if off == 0 and total == C else invalid(*SLICE_OPTIONS)
    t = _as_array(get_slot(call, facts, facts.label_slot)) if facts.label_slot else None
    a = _as_array(lse)
    if t is None or t.dtype.kind not in "iu" or a is None or result_rule(a.dtype) is None or a.dtype.kind == "c" \
            or a.shape != p.shape[:-1] or not 0 <= off <= total - C:
        return invalid(*SLICE_OPTIONS)
    if call.lse_exact and off == 0 and total == C:
        call.ref_drop |= set(SLICE_OPTIONS)
        return VALID
    return UNCHECKED  # a share of the loss: no reference here


def _temperature_verdict(call: FuzzCall, facts: OpFacts) -> Verdict:
    """No comparison where x / T itself is not exact enough: past 1e308 it overflows the
    reference, and with a float64 result and T not a power of two the reference's own rounding
    of x / T in float64 (|x / T| times 2^-53) can pass the tolerance. The library needs no
    clause: it subtracts the max before scaling, so its error is relative to (x - max) / T,
    not to |x / T| (docs/numerics.md)."""
    try:
        T = float(call.kwargs["temperature"])
    except Exception:
        return VALID
    top = 0.0
    for name in slot_names(call, facts):
        a = _as_array(get_slot(call, facts, name))
        if a is not None and a.dtype.kind in "fiuc" and a.size:
            with np.errstate(all="ignore"):
                v = np.abs(a).astype(F64)
            top = max(top, float(np.max(v, initial=0.0, where=np.isfinite(v))))
    if not T > 0:
        return VALID
    exact = np.frexp(T)[0] == 0.5
    dts = result_dtypes(call, facts)
    wide = F64 in dts or np.dtype(np.complex128) in dts
    rounding = top / T * 2.0**-53 if wide and not exact else 0.0
    if any(d.kind == "c" for d in dts) and not wide and not exact:
        # complex64: the phase of e^(i x/T) carries the complex64 rounding of x/T
        return UNCHECKED if top / T * 2.0**-24 > 1e-6 else VALID
    return UNCHECKED if top / T > 1e307 or rounding > 1e-15 else VALID


def finalize(call: FuzzCall, facts: OpFacts) -> FuzzCall:
    if call.bad_input:
        return call
    p = _as_array(get_slot(call, facts, facts.primary))
    p = p if p is not None and result_rule(p.dtype) is not None else None
    for name in sorted(set(facts.arg_names) | facts.array_kwargs):
        call.verdicts[f"array:{name}"] = _array_verdict(call, facts, name, p) if (
            name in facts.arg_names[:len(call.args)] or name in call.kwargs) else VALID
    if "axis" in facts.defaults:
        call.verdicts["axis"] = axis_verdict(call.kwargs.get("axis", facts.defaults["axis"]),
                                             _axis_ndim(call, facts, p), facts.tuple_axes)
    if facts.label_slot:
        call.verdicts["labels"] = _labels_verdict(call, facts)
    for name in sorted((facts.binary | set(facts.int_floor)) & set(slot_names(call, facts))):
        call.verdicts[f"values:{name}:domain"] = _values_verdict(call, facts, name)
    if set(SLICE_OPTIONS) <= set(facts.defaults):
        call.verdicts["slice"] = _slice_verdict(call, facts)
    if "temperature" in call.kwargs:
        call.verdicts["temperature-range"] = _temperature_verdict(call, facts)
    refused = facts.op.refused_options(call.kwargs) if facts.op.refused_options else ()
    if refused:
        call.verdicts["option-combination"] = invalid(*refused, exc=(ValueError, TypeError))
    return call


def _axis_ndim(call: FuzzCall, facts: OpFacts, p: Optional[np.ndarray]) -> Optional[int]:
    """The dimensions an axis counts: the first argument's, or the shape it broadcasts to
    with an argument that broadcasts both ways (logsumexp's b)."""
    if p is None:
        return None
    shape = p.shape
    for name in sorted(facts.array_kwargs):
        a = _as_array(call.kwargs.get(name))
        if a is not None and "mutual" in facts.seen_relations(name, _kind_class(a.dtype)):
            try:
                shape = np.broadcast_shapes(shape, a.shape)
            except ValueError:
                pass
    return len(shape)


def axis_verdict(axis: Any, nd: Optional[int], tuple_axes: bool) -> Verdict:
    """An int in [-nd, nd), or (where the samples use them) a tuple of distinct ones or None;
    bools, floats, strings and repeated axes are refused. A 0-d array takes None, 0, -1, (), (0,), (-1,)."""
    if nd is None:
        return VALID
    if axis is None:
        return VALID if tuple_axes or nd <= 1 else either("axis")
    if isinstance(axis, (tuple, list)):
        items = list(axis)
        if any(_strict_int(a) is None for a in items):
            return invalid("axis")
        idx = [_strict_int(a) for a in items]
        span = max(nd, 1)
        if any(not -span <= i < span for i in idx):
            return invalid("axis")
        if len({i % span for i in idx}) != len(idx):
            return invalid("axis")
        if isinstance(axis, list) or not items or not tuple_axes:
            return either("axis")
        return VALID
    if isinstance(axis, np.ndarray) and axis.ndim:
        return either("axis", comparable=False)
    i = _strict_int(axis)
    if i is None:
        return invalid("axis")
    if not -max(nd, 1) <= i < max(nd, 1):
        return invalid("axis")
    return either("axis") if isinstance(axis, np.ndarray) else VALID


# --------------------------------------------------------------------------
# A random call
# --------------------------------------------------------------------------

def random_call(op: OpInfo, ch: Chooser, budget: int = 4096) -> FuzzCall:
    """One random call of ``op``; most hold a few hundred elements, none more than ``budget``
    (beyond the op's bad inputs, which are small)."""
    facts = facts_of(op)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rng = np.random.default_rng(ch.integer(0, 2**32 - 1))
        if facts.bad_inputs and (chance(ch, 0.12) or not facts.samples):
            return _from_bad_input(op, facts, ch)
        if not facts.samples:
            raise ValueError(f"{op.name}: its op table entry has no samples (nor bad inputs) to fuzz")
        sample = pick(ch, facts.samples)
        dtype = pick(ch, (F32, F64))
        args, kwargs = sample.build(rng, dtype)
        call = FuzzCall(op, list(args), dict(kwargs), [f"sample {sample.desc!r} {dtype}"],
                        budget=min(budget, pick(ch, (300, 300, 300, 1500, budget))))
        shrink(call, facts, ch, call.budget)
        for _ in range(pick(ch, (0, 1, 1, 2, 2, 3, 4))):
            for _attempt in range(4):
                note = _weighted(ch)(call, facts, ch, rng)
                if note:
                    call.notes.append(note)
                    break
        for phase, p in ((mutate_slice, 0.15), (mutate_out, 0.35)):
            if chance(ch, p):
                note = phase(call, facts, ch, rng)
                call.notes += [note] if note else []
        return finalize(call, facts)


def _weighted(ch: Chooser) -> Mutation:
    total = sum(w for w, _ in MUTATIONS)
    k = ch.integer(0, total - 1)
    for w, m in MUTATIONS:
        if k < w:
            return m
        k -= w
    raise AssertionError


def _from_bad_input(op: OpInfo, facts: OpFacts, ch: Chooser) -> FuzzCall:
    """One of the op's bad inputs, its arrays moved to other layouts (same values): it must
    still raise the bad input's exception with its message."""
    case = pick(ch, facts.bad_inputs)
    args, kwargs = case.build()
    call = FuzzCall(op, list(args), dict(kwargs), [f"bad input {case.desc!r}"], bad_input=True)
    exc = case.exc if isinstance(case.exc, tuple) else (case.exc,)
    call.verdicts["bad-input"] = Verdict(Expect.INVALID, True, frozenset(), exc, case.match, tuple(case.contains))
    for _ in range(pick(ch, (0, 1, 1, 2))):
        names = [n for n in _ndarray_slots(call, facts) if not get_slot(call, facts, n).dtype.hasobject]
        if not names:
            break
        name = pick(ch, names)
        a = get_slot(call, facts, name)
        how = pick(ch, ("place", "misaligned", "readonly", "byteswap"))
        if how == "readonly":
            a = a.copy()
            a.flags.writeable = False
        elif how == "byteswap" and a.dtype.kind in "fiu" and a.dtype.itemsize > 1:
            a = _byteswapped(a)
        else:
            a = place(a, ch, misalign=how == "misaligned")
        set_slot(call, facts, name, a)
        call.notes.append(f"{name}: {how} -> {_describe_array(a)}")
    return call


# --------------------------------------------------------------------------
# Checking one call
# --------------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str                      # returned-checked, returned-unchecked, raised <Type>
    failure: Optional[str] = None  # None: the call did what its verdict allows
    detail: str = ""               # a traceback, where there is one
    warnings: Tuple[str, ...] = ()


def _leaves(result: Any) -> List[Any]:
    if isinstance(result, tuple):
        return [leaf for r in result for leaf in _leaves(r)]
    return [result]


def _shares(a: np.ndarray, b: Optional[np.ndarray]) -> bool:
    if b is None:
        return False
    try:
        return np.shares_memory(a, b, max_work=10_000)
    except _TOO_HARD:
        return True


def _inputs(call: FuzzCall) -> List[Tuple[str, Any]]:
    named = [(f"arg{i}", a) for i, a in enumerate(call.args)]
    return named + [(k, v) for k, v in call.kwargs.items() if k != call.op.out_kw]


def _snapshot(call: FuzzCall, out: Optional[np.ndarray]) -> List[Tuple[str, np.ndarray, bytes]]:
    """The input arrays the call must leave alone: all but those in the output's memory."""
    return [(name, a, a.tobytes()) for name, a in _inputs(call)
            if isinstance(a, np.ndarray) and not a.dtype.hasobject and not _shares(a, out)]


def _names_in(message: str, names: FrozenSet[str]) -> bool:
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", message) for n in names)


def check(call: FuzzCall) -> Outcome:
    """Runs the call and judges it by its verdict (see the module's docstring)."""
    op, verdict = call.op, call.verdict()
    out = call.kwargs.get(op.out_kw) if op.out_kw else None
    out = out if isinstance(out, np.ndarray) else None
    facts = facts_of(op)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        watched = _snapshot(call, out)
        before = (copy.deepcopy(call.args), {k: copy.deepcopy(v) for k, v in call.kwargs.items() if k != op.out_kw})
        dtypes = result_dtypes(call, facts)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            got = op.fn(*call.args, **call.kwargs)
        except ALLOWED as e:
            outcome = _judge_raise(verdict, e)
        except Exception as e:  # anything else is a defect (OverflowError, AssertionError of a guard, ...)
            outcome = Outcome(f"raised {type(e).__name__}",
                              f"raised {type(e).__name__}, not TypeError/ValueError/IndexError: {e}",
                              traceback.format_exc())
        else:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcome = _judge_return(call, verdict, got, before, out, dtypes)
    outcome.warnings = tuple(sorted({f"{w.category.__name__}: {w.message}" for w in caught}))
    changed = [name for name, a, data in watched if a.tobytes() != data]
    if changed and outcome.failure is None:
        outcome.failure = f"modified its input {', '.join(changed)}"
    return outcome


def _judge_raise(verdict: Verdict, e: BaseException) -> Outcome:
    kind, msg = f"raised {type(e).__name__}", str(e)
    said = f"{type(e).__name__}: {msg}"
    if any(noise in msg for noise in PYBIND_NOISE):
        return Outcome(kind, f"pybind11's message instead of a clear one: {said}")
    if verdict.expect == Expect.VALID:
        return Outcome(kind, f"refused a valid call: {said}")
    if not isinstance(e, verdict.exc):
        return Outcome(kind, f"expected {'/'.join(t.__name__ for t in verdict.exc)}, got {said}")
    if not msg.strip():
        return Outcome(kind, f"empty message: {type(e).__name__}")
    if verdict.match is not None:
        missing = [p for p in (verdict.match, *verdict.contains) if not re.search(p, msg)]
        if missing:
            return Outcome(kind, f"message lacks {missing}: {said}")
    elif verdict.names and not _names_in(msg, verdict.names):
        return Outcome(kind, f"message names none of {sorted(verdict.names)}: {said}")
    return Outcome(kind)


def _judge_return(call: FuzzCall, verdict: Verdict, got: Any, before, out, dtypes) -> Outcome:
    op = call.op
    if verdict.expect == Expect.INVALID:
        return Outcome("returned-unchecked", f"accepted an invalid call (bad: {sorted(verdict.names)}), returned "
                       f"{_short(got)}")
    leaves = _leaves(got)
    complex_in = {d for d in dtypes if d.kind == "c"}
    for leaf in leaves:
        if not isinstance(leaf, (np.ndarray, np.generic)) or leaf.dtype.kind not in ("fc" if complex_in else "f"):
            return Outcome("returned-unchecked", f"returned {type(leaf).__name__} {_short(leaf)}, not a float "
                           "NumPy array or scalar")
    dt = leaves[0].dtype
    # (float16 summaries are float32; a complex log-sum-exp with its sign is real)
    allowed = dtypes | ({F32} if F16 in dtypes else set()) | {np.finfo(d).dtype for d in complex_in}
    if allowed and dt not in allowed:
        return Outcome("returned-unchecked", f"result dtype {dt}, expected one of {sorted(map(str, allowed))}")
    if out is not None and op.out_kw == "out" and isinstance(got, np.ndarray) and got is not out:
        return Outcome("returned-unchecked", "out= given but another array returned")
    if out is not None and call.kwargs.get("return_grad") is True and isinstance(got, tuple) and got[-1] is not out:
        return Outcome("returned-unchecked", f"{op.out_kw}= given but another gradient returned")
    args, kwargs = before
    ref_kwargs = {k: v for k, v in kwargs.items() if k not in call.ref_drop}
    try:
        want = op.reference(*args, **ref_kwargs)
    except Exception:  # a call the reference does not model
        return Outcome("returned-unchecked")
    if verdict.expect == Expect.VALID and np.shape(_leaves(want)[0]) != np.shape(leaves[0]):
        return Outcome("returned-unchecked", f"result shape {np.shape(leaves[0])}, "
                       f"reference {np.shape(_leaves(want)[0])}")
    if not verdict.comparable or dt not in (F32, F64) or _beyond(want, dt):
        # no tolerance applies, but NaN where the reference is finite is wrong at any precision
        g0, w0 = (np.asarray(v, np.complex128 if np.iscomplexobj(v) else F64)
                  for v in (leaves[0], _leaves(want)[0]))
        if verdict.expect == Expect.VALID and g0.shape == w0.shape and np.any(np.isnan(g0) & np.isfinite(w0)):
            return Outcome("returned-unchecked", f"NaN where the reference is finite: got {_short(leaves[0])}")
        return Outcome("returned-unchecked")
    failure = _compare(op, got, want, args, kwargs, out, dt)
    if failure and failure.startswith("wrong result") and op.out_kw == "grad_out":
        got, out = _snap_gradient(got, want, out, dt)
        failure = _compare(op, got, want, args, kwargs, out, dt) and failure
    return Outcome("returned-checked", failure)


def _compare(op: OpInfo, got: Any, want: Any, args, kwargs, out, dt) -> Optional[str]:
    cmp_kwargs = dict(kwargs, **({op.out_kw: out} if out is not None else {}))
    try:
        op.compare(got, want, args, cmp_kwargs, dt)
    except AssertionError as e:
        return f"wrong result: {str(e)[:1500]}"
    except Exception as e:
        return f"checker error {type(e).__name__}: {e}\n{traceback.format_exc()}"
    return None


def _snap_gradient(got: Any, want: Any, out: Optional[np.ndarray], dt: np.dtype):
    """``got`` (or grad_out) with the gradient's elements that are within a few ulps of
    1 + |reference| set to the reference.

    A loss gradient is a difference of terms of size ~1 (``p_t - 1`` at the target, ``W q p - w q``
    with probabilities, the z_loss term beside them), formed in the working precision as PyTorch
    does (docs/numerics.md), so its error is absolute: where the terms cancel (p_t near 1, a
    single class) the comparison's tolerance, relative to the row's largest gradient, is too tight."""
    if not isinstance(want, tuple) or len(want) != 2:
        return got, out
    if isinstance(got, tuple) and len(got) == 2:
        return (got[0], _snapped(got[1], want[1], dt)), out
    if out is not None:
        return got, _snapped(out, want[1], dt)
    return got, out


def _snapped(g: np.ndarray, w: Any, dt: np.dtype) -> np.ndarray:
    ga, wa = np.asarray(g, F64), np.asarray(w, F64)
    if ga.shape != wa.shape:
        return g
    near = np.isfinite(ga) & np.isfinite(wa) & (np.abs(ga - wa) <= 16 * float(np.finfo(dt).eps) * (1 + np.abs(wa)))
    return np.where(near, wa, ga).astype(g.dtype)


def _beyond(want: Any, dt: np.dtype) -> bool:
    """Whether the reference holds finite values the result dtype cannot (its overflow to inf is right)."""
    top = float(np.finfo(dt).max)
    for leaf in _leaves(want):
        v = np.abs(np.asarray(leaf, F64))
        if np.any(np.isfinite(v) & (v > top)):
            return True
    return False


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray {_describe_array(value)}"
    return repr(value)[:120]


# --------------------------------------------------------------------------
# Reproducing and describing
# --------------------------------------------------------------------------

def seeded_call(op: OpInfo, seed: int, index: int, budget: int = 4096) -> FuzzCall:
    """Call ``index`` of the seeded sequence of ``op`` (independent of which other ops run)."""
    rng = np.random.default_rng([seed, index, zlib.crc32(op.name.encode())])
    return random_call(op, RngChooser(rng), budget)


def failure_signature(failure: str) -> str:
    """A failure's kind for counting: its first line, numbers and dtype sizes blanked."""
    return re.sub(r"\d+", "N", failure.split("\n")[0])[:160]


def describe(call: FuzzCall) -> str:
    facts = facts_of(call.op)
    lines = [f"{call.op.name}:"]
    for i, a in enumerate(call.args):
        name = facts.arg_names[i] if i < len(facts.arg_names) else f"arg{i}"
        lines.append(f"  {name} = {_show(a)}")
    lines += [f"  {k} = {_show(v)}" for k, v in call.kwargs.items()]
    v = call.verdict()
    lines.append(f"  verdict: {v.expect.name}{'' if v.comparable else ' (not compared)'} names={sorted(v.names)} "
                 f"exc={[t.__name__ for t in v.exc]}" + (f" match={v.match!r}" if v.match else ""))
    lines += [f"  - {n}" for n in call.notes]
    return "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, np.ndarray) and value.dtype.kind not in "OV":
        with np.printoptions(threshold=8, edgeitems=2, precision=4):
            return f"{_describe_array(value)} {np.array2string(value, separator=', ')}".replace("\n", "")
    return repr(value)[:200]
