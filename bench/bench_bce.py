"""binary_cross_entropy_with_logits forward + gradient: fastsoftmax against NumPy, PyTorch
(F.binary_cross_entropy_with_logits + backward) and the floors.

    python -m pytest bench/bench_bce.py [--bench-full]
"""
import pytest

from common import BCE_OP, IMPLEMENTATIONS, Inputs, record, runner_or_skip


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_binary_cross_entropy(benchmark, implementation: str, bce_inputs: Inputs) -> None:
    run = runner_or_skip(implementation, BCE_OP, bce_inputs)
    record(benchmark, BCE_OP, bce_inputs)
    benchmark(run)
