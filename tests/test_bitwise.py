"""Results stay bitwise what tests/bitwise/golden.json recorded (see
tests/bitwise_sweep.py), at 1, 2 and 3 threads, at every SIMD level (the
numeric marker re-runs this under each level the CPU supports)."""
import pytest

from fastsoftmax import _core

import bitwise_sweep


@pytest.fixture(scope="module")
def recorded():
    golden = bitwise_sweep.load_golden().get(_core.simd_level())
    if golden is None:
        pytest.skip(f"tests/bitwise/golden.json has no digests for the {_core.simd_level()} level")
    return golden


@pytest.mark.numeric
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_results_are_bitwise_those_recorded(threads, recorded, restore_threads):
    got = bitwise_sweep.digests(threads)
    assert set(got) == set(recorded), "the sweep's cases differ from those recorded: rewrite golden.json"
    changed = sorted(name for name in got if got[name] != recorded[name])
    assert not changed, f"{len(changed)} of {len(got)} calls changed at {threads} threads: {changed[:20]}"


def test_every_public_function_is_in_the_sweep():
    from conftest import PUBLIC_FUNCTIONS

    import ops

    names = set(bitwise_sweep.all_cases())
    for name in PUBLIC_FUNCTIONS:
        if ops.OPS_BY_NAME[name].blas:  # its bits are the BLAS's (OpInfo.blas)
            assert f"{name}-table-big-float32" not in names
            continue
        assert f"{name}-table-big-float32" in names, f"{name} is not in the sweep"
