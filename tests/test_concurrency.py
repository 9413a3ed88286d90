"""Concurrent callers: many Python threads in the kernels at once (the GIL is
released), while another thread keeps changing the thread count.

Every public function promises results bitwise independent of the thread
count, losses included (README; test_threads_and_simd.py checks 1, 2 and 3
threads one call at a time). Here the op-table samples run from 8 threads
at once, on inputs all threads share and on private copies (with a private
out= / grad_out= where the op has one), and every result must be bitwise
the single-threaded one computed beforehand. Bad inputs run concurrently
too and must still raise their exception.

The table's samples are small, and calls under 2**15 elements run on one
thread whatever the setting (kMinParallelElems, parallel-inl.h), so each op
also gets a medium input cut from its big sample: a few hundred thousand
elements, which every thread count splits differently.
"""
from __future__ import annotations

import threading
import time
import zlib

import numpy as np
import pytest

import fastsoftmax as fs
from fastsoftmax import _core

import ops

CALLERS = 8
ROUNDS = 3
# Samples above this many input elements are left out: they add time, not
# paths (row_statistics' 3 x 300000, rows cut into pieces, stays in).
MAX_ELEMENTS = 1 << 20
MEDIUM_ELEMENTS = 1 << 18


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("/".join(map(str, key)).encode()))


def _arrays(args, kwargs) -> list:
    return [a for a in (*args, *kwargs.values()) if isinstance(a, np.ndarray)]


def _copies(args, kwargs):
    """Fresh copies of the array arguments (contiguous inputs keep their layout)."""
    fresh = lambda a: a.copy() if isinstance(a, np.ndarray) else a  # noqa: E731
    return tuple(fresh(a) for a in args), {k: fresh(v) for k, v in kwargs.items()}


def _medium(op, dtype):
    """The op's big sample cut to about MEDIUM_ELEMENTS: the leading rows of
    every array whose first axis is the first argument's."""
    args, kwargs = op.big_sample(_rng(op.name, "big", np.dtype(dtype).name), np.dtype(dtype))
    rows = args[0].shape[0]
    keep = max(1, MEDIUM_ELEMENTS * rows // args[0].size)
    cut = lambda a: a[:keep].copy() if isinstance(a, np.ndarray) and a.ndim and a.shape[0] == rows else a  # noqa: E731
    return tuple(cut(a) for a in args), {k: cut(v) for k, v in kwargs.items()}


def _leaves(result) -> list:
    """The arrays of a result, nested tuples ((loss, (grad_x, grad_weight))) flattened."""
    return [leaf for part in result for leaf in _leaves(part)] if isinstance(result, tuple) else [result]


def _bits(result, out=None) -> list:
    """dtype, shape and bytes of every array in a result (and of out=)."""
    parts = _leaves(result)
    if out is not None:
        parts.append(out)
    return [(np.asarray(p).dtype.str, np.shape(p), np.asarray(p).tobytes()) for p in parts]


class Case:
    """One call of one op, with its single-threaded bits. ``make()`` gives
    fresh inputs equal to the shared ones, in the same layout."""

    def __init__(self, op, name, make):
        self.op, self.name, self.make = op, name, make
        self.args, self.kwargs = make()
        result = op.fn(*self.args, **self.kwargs)
        self.expected = _bits(result)
        # The array that out= / grad_out= would receive: the result (out=)
        # or the gradient (grad_out=, the second element with return_grad).
        target = result if op.out_kw == "out" else (result[1] if op.out_kw and isinstance(result, tuple) else None)
        self.out_like = target if isinstance(target, np.ndarray) and target.ndim else None
        self.expected_private = self._private() if self.out_like is not None else self.expected

    def _private(self):
        """A call on fresh inputs, into a fresh out= / grad_out= where the op has one."""
        args, kwargs = self.make()
        if self.out_like is None:
            return _bits(self.op.fn(*args, **kwargs))
        out = np.empty_like(self.out_like)
        return _bits(self.op.fn(*args, **dict(kwargs, **{self.op.out_kw: out})), out)

    def run(self, private: bool):
        """Calls once; returns a description of what differs, or None."""
        if private:
            same = self._private() == self.expected_private
        else:
            same = _bits(self.op.fn(*self.args, **self.kwargs)) == self.expected
        return None if same else f"{self.name} ({'private' if private else 'shared'} inputs)"


def _maker(op, sample, dtype):
    """The sample's inputs, built afresh from the same seed at each call."""
    return lambda: sample.build(_rng(op.name, sample.desc, np.dtype(dtype).name), np.dtype(dtype))


def _cases():
    cases = []
    for op in ops.OPS:
        for dtype in (np.float32, np.float64):
            dt = np.dtype(dtype).name
            for sample in op.samples():
                make = _maker(op, sample, dtype)
                if sum(a.size for a in _arrays(*make())) <= MAX_ELEMENTS:
                    cases.append(Case(op, f"{op.name}-{sample.desc}-{dt}", make))
            medium = _medium(op, dtype)
            cases.append(Case(op, f"{op.name}-medium-{dt}", lambda m=medium: _copies(*m)))
    return cases


@pytest.mark.skipif(not _core.openmp_enabled(), reason="single-threaded build: no thread count to change")
def test_concurrent_callers_get_the_single_threaded_bits(restore_threads):
    fs.set_num_threads(1)
    cases = _cases()
    bad = [(op, case) for op in ops.OPS for case in op.bad_inputs()]
    most = _core.max_threads()
    stop = threading.Event()
    failures: list = []
    changes = [0]

    def change_threads():
        n = 1
        while not stop.is_set():
            n = n % most + 1
            fs.set_num_threads(n)
            changes[0] += 1
            time.sleep(0.0005)

    def caller(k: int):
        try:
            order = np.random.default_rng(k).permutation(len(cases))
            for r in range(ROUNDS):
                for i in order:
                    # each case alternates between shared and private inputs
                    msg = cases[i].run(private=(i + k + r) % 2 == 1)
                    if msg:
                        failures.append(msg)
                for op, case in bad[k::CALLERS]:
                    args, kwargs = case.build()
                    try:
                        op.fn(*args, **kwargs)
                    except case.exc:
                        pass
                    else:
                        failures.append(f"{op.name}-{case.desc} did not raise")
        except BaseException as e:  # reported below, not lost in the thread
            failures.append(f"caller {k}: {type(e).__name__}: {e}")

    changer = threading.Thread(target=change_threads)
    callers = [threading.Thread(target=caller, args=(k,)) for k in range(CALLERS)]
    changer.start()
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    stop.set()
    changer.join()
    assert not failures, f"{len(failures)} calls differ from their single-threaded bits: {sorted(set(failures))[:20]}"
    assert changes[0] > 10, "the thread count barely changed during the calls"
