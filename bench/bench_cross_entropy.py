"""cross_entropy forward + gradient: fastsoftmax against NumPy, PyTorch (F.cross_entropy + backward)
and the floors (read the logits, write the gradient).

    python -m pytest bench/bench_cross_entropy.py [--bench-full]
"""
import pytest

from common import IMPLEMENTATIONS, XENT_OP, Inputs, record, runner_or_skip


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_cross_entropy(benchmark, implementation: str, xent_inputs: Inputs) -> None:
    run = runner_or_skip(implementation, XENT_OP, xent_inputs)
    record(benchmark, XENT_OP, xent_inputs)
    benchmark(run)
