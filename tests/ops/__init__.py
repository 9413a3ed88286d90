"""The table of operations that drives the checks (PyTorch's OpInfo idea).

Each public function is registered once, in the module of its area
(softmax.py, logsumexp.py, backward.py, cross_entropy.py, bce.py, multilabel.py,
margin.py, triplet.py, sampled.py), with
  * its float64 reference (tests/reference.py),
  * its sample inputs: shapes hitting vector tails and chunk edges, layouts
    (transposed, strided, negative strides), axes, special values,
  * a comparison with the tolerances the library promises for each dtype,
  * its bad-input cases (exception type and a message pattern).
The parity tests (test_<area>.py), the error tests (test_errors.py) and the
thread / SIMD sweeps (test_threads_and_simd.py) iterate over OPS, so a new
operation gets all of them by adding one entry to its area's ``OPS`` (a new
area: a module here, named in AREAS). test_public_api.py checks that every
public function of fastsoftmax has an entry.

The shared pieces live in common.py (registry types, tolerances, comparison
helpers) and inputs.py (input and bad-input builders); this package
re-exports them, so tests use ``ops.<name>`` whatever the file.

Samples are built lazily (``build(rng, dtype)``) so that collecting the
suite allocates nothing.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
import pytest

from . import backward, bce, cross_entropy, logsumexp, margin, multilabel, sampled, softmax, triplet
# re-exported (noqa: F401): the tests use ops.<name> whichever module defines it
from .backward import assert_backward_close
from .common import (INF, LOSS_LENGTHS, LOSS_RTOL, NAN, RTOL, STREAM_BYTES, TAIL_LENGTHS, TEMPERATURES, TINY, UNIT,
                     BadInput, OpInfo, Sample, assert_grad_close, assert_loss_close, assert_loss_part_close, assert_same_specials,
                     assert_within, check_dtype, fail_elements, public_function, stream_rows)
from .cross_entropy import index_target, prob_target
from .inputs import (axis_cases, dtype_cases, layout_cases, normal, out_cases, special_rows, temperature_cases,
                     unaligned, x_axis)
from .logsumexp import assert_logsumexp_close
from .softmax import assert_log_softmax_close, assert_softmax_close

# The area modules, in the order of the table (and of the test ids).
AREAS = (softmax, logsumexp, backward, cross_entropy, bce, multilabel, margin, triplet, sampled)

OPS: List[OpInfo] = [op for area in AREAS for op in area.OPS]
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
