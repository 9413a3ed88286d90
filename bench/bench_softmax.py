"""softmax, log_softmax and logsumexp: fastsoftmax against NumPy, SciPy, PyTorch and the floors.

    python -m pytest bench/bench_softmax.py [--bench-full]
"""
import pytest

from common import IMPLEMENTATIONS, Inputs, ops_in, record, runner_or_skip


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("op", ops_in("softmax"))
def test_softmax_family(benchmark, op: str, implementation: str, family_inputs: Inputs) -> None:
    run = runner_or_skip(implementation, op, family_inputs)
    record(benchmark, op, family_inputs)
    benchmark(run)
