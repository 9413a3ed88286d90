"""Bad input gets a clear Python exception naming the argument, never a
crash or a wrong answer. The cases live in the operation table (tests/ops/)."""
from __future__ import annotations

import re

import numpy as np
import pytest

import fastsoftmax as fs

import ops


def _bad_input_params():
    params = []
    for op in ops.OPS:
        for case in op.bad_inputs():
            params.append(pytest.param(op, case, id=f"{op.name}-{case.desc}"))
    return params


@pytest.mark.parametrize("op,case", _bad_input_params())
def test_bad_input_raises_a_clear_error(op, case):
    args, kwargs = case.build()
    snapshots = [(a, a.copy()) for a in list(args) + list(kwargs.values())
                 if isinstance(a, np.ndarray) and a.dtype != object]
    with pytest.raises(case.exc, match=case.match) as info:
        op.fn(*args, **kwargs)
    message = str(info.value)
    for internal in ("incompatible function arguments", "Invoked with", "_core."):
        assert internal not in message, f"message {message!r} shows the binding's internals"
    for pattern in case.contains:
        assert re.search(pattern, message), f"message {message!r} lacks {pattern!r}"
    # a rejected call must not have touched anything either
    for a, copy in snapshots:
        assert a.tobytes() == copy.tobytes()


def test_every_operation_has_bad_input_cases():
    for op in ops.OPS:
        kinds = {c.exc if isinstance(c.exc, type) else c.exc[0] for c in op.bad_inputs()}
        assert TypeError in kinds and ValueError in kinds, op.name


def test_index_error_names_row_of_multidimensional_target():
    # target[1, 2] = 9 with 5 classes: the message must locate the row
    x = np.zeros((2, 3, 5), np.float32)
    t = np.zeros((2, 3), np.int64)
    t[1, 2] = 9
    with pytest.raises(IndexError, match="target") as info:
        fs.cross_entropy(x, t)
    msg = str(info.value)
    assert re.search(r"\b9\b", msg)
    assert re.search(r"1, 2|\b5\b", msg), msg   # (1, 2) or the flat row 5


def test_probability_target_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\)") as info:
        fs.cross_entropy(np.zeros((3, 5), np.float32), np.full((3, 4), 0.25, np.float32))
    assert "(3, 5)" in str(info.value)


def test_temperature_not_a_number_type():
    with pytest.raises((TypeError, ValueError), match="temperature"):
        fs.softmax(np.ones(3), temperature="hot")


@pytest.mark.parametrize("n", [0, -1])
def test_set_num_threads_rejects_non_positive(n, restore_threads):
    with pytest.raises(ValueError, match="n|thread"):
        fs.set_num_threads(n)
    assert fs.get_num_threads() == restore_threads


@pytest.mark.parametrize("n", [1.5, True, "2", None])
def test_set_num_threads_rejects_non_integers(n, restore_threads):
    with pytest.raises(TypeError, match="set_num_threads: n: expected an int"):
        fs.set_num_threads(n)
    assert fs.get_num_threads() == restore_threads


def test_exp_rejects_bad_arrays():
    from fastsoftmax import _core
    with pytest.raises(TypeError, match="float32|float64"):
        _core.exp(np.ones(4, np.int32), np.ones(4, np.int32))
    with pytest.raises(ValueError, match="shape"):
        _core.exp(np.ones(4, np.float32), np.ones(5, np.float32))
    with pytest.raises(ValueError):
        _core.exp(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32))
    ro = np.ones(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _core.exp(np.ones(4, np.float32), ro)
