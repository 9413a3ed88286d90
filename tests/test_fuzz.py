"""Random calls of every op in the table (tests/ops), built by tests/fuzz_calls.py.

Each call starts from one of the op's samples or bad inputs and is mutated
(layouts, dtypes, shapes, special values, labels, axes, options, outputs that
alias the inputs). It must return the float64 reference's numbers (when it is
a valid call the reference models) or raise a TypeError / ValueError /
IndexError whose message names the argument, and leave its inputs unchanged.

Two short runs for CI: Hypothesis, which shrinks a failing call to fewer
mutations, and a fixed seeded sequence per op, which reports every kind of
failure at once with the command that replays it. The long run is
``python tools/fuzz.py --calls 1000000 --seed 1``.
"""
from __future__ import annotations

import os
from typing import Dict, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_calls
import ops

# Under an emulator (.ci/aarch64: qemu-user, tens of times slower) a fifth of the calls.
SCALE = 5 if os.environ.get("FASTSOFTMAX_TEST_EMULATOR") else 1
SEED = 14                     # of the seeded sequences (tools/fuzz.py --seed)
SEEDED_CALLS = 1500 // SCALE  # per op
EXAMPLES = 100 // SCALE       # Hypothesis examples per op
BUDGET = 2000                 # elements of a call's arrays at most (most calls have a few hundred)
FUZZED = [op for op in ops.OPS if op.fuzzed]


class HypothesisChooser(fuzz_calls.Chooser):
    """Every decision a draw, so that Hypothesis shrinks a failure towards fewer mutations."""

    def __init__(self, data: st.DataObject):
        self.data = data

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))


def _report(call: fuzz_calls.FuzzCall, outcome: fuzz_calls.Outcome) -> str:
    detail = f"\n{outcome.detail}" if outcome.detail else ""
    return f"{outcome.failure}\n{fuzz_calls.describe(call)}{detail}"


@pytest.mark.parametrize("op", FUZZED, ids=lambda op: op.name)
@settings(derandomize=True, deadline=None, max_examples=EXAMPLES, database=None,
          suppress_health_check=list(HealthCheck), print_blob=False)
@given(data=st.data())
def test_random_calls(op, data):
    call = fuzz_calls.random_call(op, HypothesisChooser(data), BUDGET)
    outcome = fuzz_calls.check(call)
    assert outcome.failure is None, _report(call, outcome)


@pytest.mark.parametrize("op", FUZZED, ids=lambda op: op.name)
def test_seeded_calls(op):
    first: Dict[str, Tuple[int, str]] = {}
    for index in range(SEEDED_CALLS):
        call = fuzz_calls.seeded_call(op, SEED, index, BUDGET)
        outcome = fuzz_calls.check(call)
        if outcome.failure:
            first.setdefault(fuzz_calls.failure_signature(outcome.failure), (index, _report(call, outcome)))
    assert not first, f"{len(first)} kinds of failure:\n\n" + "\n\n".join(
        f"{text}\nreplay: python tools/fuzz.py --seed {SEED} --budget {BUDGET} --replay {op.name}:{index}"
        for index, text in first.values())
