"""Each op-table entry's comparison with its peer library (OpInfo.peer)."""
from types import SimpleNamespace

import pytest

import ops


@pytest.fixture(scope="module")
def peers(torch, scipy_special, pml):
    return SimpleNamespace(torch=torch, scipy_special=scipy_special, pml=pml)


@pytest.mark.numeric
@pytest.mark.parametrize("op", [op for op in ops.OPS if op.peer is not None], ids=lambda op: op.name)
def test_agrees_with_its_peer(op, dtype, rng, peers):
    op.peer(rng, dtype, peers)
