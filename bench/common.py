"""The harness shared by the pytest-benchmark files.

The timing logic lives in ``fastsoftmax._bench`` (it backs ``python -m
fastsoftmax bench`` too, so both time exactly the same calls); this module adds
what pytest needs: one runner per implementation name, skipping peers that are
not installed, and the shapes to parametrise over. The ops and their shapes
come from ``fastsoftmax._bench.BENCH_OPS``; each op's ``area`` names the
bench_<area>.py that times it.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import pytest

from fastsoftmax._bench import (
    FLOORS,
    FULL_CASES,
    PEERS,
    PEERS_BY_NAME,
    QUICK_CASES,
    Inputs,
    Layout,
    Runner,
    bytes_moved,
    fastsoftmax_runner,
    inputs_for,
    machine_info,
    make_inputs,
    ops_in,
    shape_id,
)

__all__ = [
    "PEERS", "IMPLEMENTATIONS", "Inputs", "Layout", "layouts", "layout_id", "inputs_for",
    "make_inputs", "machine_info", "ops_in", "runner_or_skip", "record",
]

# fastsoftmax with out= and allocating, every peer, and the floors beside them
IMPLEMENTATIONS: Tuple[str, ...] = ("fastsoftmax", "fastsoftmax allocating", *PEERS_BY_NAME, *FLOORS)


def layouts(ops: Sequence[str], full: bool) -> List[Layout]:
    """The (shape, dtype) pairs that ``python -m fastsoftmax bench`` times for these ops."""
    cases = FULL_CASES if full else QUICK_CASES
    return list(dict.fromkeys((case.shape, case.dtype) for case in cases if case.op in ops))


def layout_id(layout: Layout) -> str:
    shape, dtype = layout
    return f"{shape_id(shape)}-{dtype}"


def runner_or_skip(implementation: str, op: str, inputs: Inputs) -> Runner:
    if implementation in FLOORS:
        return FLOORS[implementation](inputs)
    if implementation.startswith("fastsoftmax"):
        return fastsoftmax_runner(op, inputs, allocate=implementation == "fastsoftmax allocating")
    peer = PEERS_BY_NAME[implementation]
    if not peer.available():
        pytest.skip(f"{peer.module} is not installed")
    runner = peer.make_runner(op, inputs, op not in peer.out_ops)
    if runner is None:
        pytest.skip(f"{peer.name} has no {op}")
    return runner


def record(benchmark, op: str, inputs: Inputs) -> None:
    """Groups the implementations of one op and layout together in pytest-benchmark's table."""
    benchmark.group = f"{op} {shape_id(inputs.x.shape)} {inputs.x.dtype}"
    benchmark.extra_info["bytes_moved"] = bytes_moved(op, inputs)
