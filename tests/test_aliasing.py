"""Every input of every function with an output argument (``out=`` /
``grad_out=``), given as a view of that output, is read as it was before the
call: the result equals the one computed from separate arrays.

The views: the output itself (in-place use), the output's memory shifted by
one element (a partial overlap), and for the smaller inputs (class weights,
a broadcast ``pos_weight``, ``lse``) the first row, a column and the first elements
of the output. The cases come from the op table, so a new operation with an
output argument is checked here without a line of its own.
"""
from __future__ import annotations

from typing import Callable, Iterator, List, Tuple

import numpy as np
import pytest

import ops

# Samples above this many elements are left to the other tests.
MAX_ELEMENTS = 4096


def _views_of(out: np.ndarray, shape: Tuple[int, ...]) -> Iterator[Tuple[str, Callable[[], Tuple[np.ndarray, np.ndarray]]]]:
    """(description, make() -> (output, input view of its memory with ``shape``))."""
    size = int(np.prod(shape, dtype=np.int64))

    if shape == out.shape:
        def same():
            o = np.empty_like(out)
            return o, o
        yield "the-output-itself", same

        def shifted():
            buf = np.empty(out.size + 1, out.dtype)
            return buf[:out.size].reshape(out.shape), buf[1:].reshape(out.shape)
        yield "shifted-by-one", shifted
    if out.ndim == 2 and len(shape) == 1 and shape[0] == out.shape[1]:
        def row():  # written first, read by every later row
            o = np.empty_like(out)
            return o, o[0]
        yield "first-row", row
    if out.ndim == 2 and len(shape) == 1 and shape[0] == out.shape[0]:
        def column():
            o = np.empty_like(out)
            return o, o[:, 0]
        yield "first-column", column

        def last_column():
            o = np.empty_like(out)
            return o, o[:, -1]
        yield "last-column", last_column
    if 0 < size < out.size and shape != out.shape:
        def stretch():
            o = np.empty_like(out)
            return o, o.reshape(-1)[:size].reshape(shape)
        yield "first-elements", stretch


def _cases() -> List:
    params = []
    for op in ops.OPS:
        if op.out_kw is None:
            continue
        rng = np.random.default_rng(7)
        for sample in op.samples():
            for dt in (np.float32, np.float64):
                args, kwargs = sample.build(rng, np.dtype(dt))
                arrays = [(i, a) for i, a in enumerate(args) if isinstance(a, np.ndarray)]
                arrays += [(k, v) for k, v in kwargs.items() if isinstance(v, np.ndarray) and k != op.out_kw]
                if not arrays or arrays[0][1].size > MAX_ELEMENTS or arrays[0][1].ndim != 2:
                    continue
                params.append(pytest.param(op, sample, np.dtype(dt), id=f"{op.name}-{sample.desc}-{np.dtype(dt).name}"))
    return params


def _replace(args: tuple, kwargs: dict, key, value) -> Tuple[tuple, dict]:
    if isinstance(key, int):
        args = args[:key] + (value,) + args[key + 1:]
    else:
        kwargs = dict(kwargs, **{key: value})
    return args, kwargs


@pytest.mark.parametrize("op,sample,dtype", _cases())
def test_inputs_that_are_views_of_the_output(op, sample, dtype):
    args, kwargs = sample.build(np.random.default_rng(7), dtype)
    kwargs = dict(kwargs)
    kwargs.pop(op.out_kw, None)
    plain_out = None
    result = op.fn(*args, **kwargs) if op.out_kw == "out" else None
    if op.out_kw == "out":
        plain_out = result
    else:
        kwargs.setdefault("return_grad", True)
        result = op.fn(*args, **kwargs)
        plain_out = result[1]
    checked = 0
    inputs = [(i, a) for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    inputs += [(k, v) for k, v in kwargs.items() if isinstance(v, np.ndarray)]
    for key, value in inputs:
        if value.dtype != plain_out.dtype:
            continue  # integer labels cannot live in a float output
        for desc, make in _views_of(plain_out, value.shape):
            out, view = make()
            view[...] = value
            a, k = _replace(args, kwargs, key, view)
            got = op.fn(*a, **dict(k, **{op.out_kw: out}))
            where = f"{op.name}: input {key} as {desc} of {op.out_kw}"
            np.testing.assert_array_equal(out, plain_out, err_msg=where)
            if op.out_kw == "grad_out":
                np.testing.assert_array_equal(got[0], result[0], err_msg=where + " (loss)")
            checked += 1
    assert checked, f"{op.name} / {sample.desc}: no input could be given as a view of {op.out_kw}"
