"""The losses, forward + gradient: cross_entropy, binary_cross_entropy_with_logits and ZLPR (dense
and sparse) against NumPy, PyTorch (the functional loss + backward, ZLPR in PyTorch ops) and the
floors (read the logits, write the gradient).

    python -m pytest bench/bench_cross_entropy.py [--bench-full]
"""
from typing import Tuple

import pytest

from common import IMPLEMENTATIONS, Inputs, record, runner_or_skip


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_loss(benchmark, implementation: str, loss_inputs: Tuple[str, Inputs]) -> None:
    op, inputs = loss_inputs
    run = runner_or_skip(implementation, op, inputs)
    record(benchmark, op, inputs)
    benchmark(run)
