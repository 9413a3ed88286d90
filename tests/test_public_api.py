"""One list of public names, and the op table covering it.

fastsoftmax.__all__ is built from the ``__all__`` of the modules in
fastsoftmax._PUBLIC_MODULES; conftest.PUBLIC_FUNCTIONS (the names that compute
something) is derived from it. Every one of those has an entry in the op
table (tests/ops/), which gives it the parity, bad-input, thread and SIMD
sweeps, and is wrapped by the input-immutability guard.
"""
import inspect
from pathlib import Path

import numpy as np
import pytest

import fastsoftmax as fs
from fastsoftmax import _bench

import ops
from conftest import CONFIG_NAMES, PUBLIC_FUNCTIONS, _never_modifies_inputs

TESTS_DIR = Path(__file__).resolve().parent
# SPEC section 0: the configuration beside the operations.
SPEC_CONFIG_NAMES = {"set_num_threads", "get_num_threads", "show_config", "__version__"}


def test_public_names():
    # the operations of the table and the configuration, nothing else, once each
    expected = {op.name for op in ops.OPS if "." not in op.name} | SPEC_CONFIG_NAMES
    assert sorted(fs.__all__) == sorted(expected)
    for name in fs.__all__:
        assert hasattr(fs, name)


def test_every_public_function_has_an_op_table_entry():
    missing = [name for name in PUBLIC_FUNCTIONS if name not in ops.OPS_BY_NAME]
    assert not missing, (f"fastsoftmax.{', '.join(missing)} has no entry in the op table: add an OpInfo to the "
                         "OPS of its area in tests/ops/ (or a new area module, named in ops.AREAS)")


def test_every_op_table_entry_is_a_public_function():
    assert [op.name for op in ops.OPS if op.name not in PUBLIC_FUNCTIONS] == []
    assert len(ops.OPS_BY_NAME) == len(ops.OPS), "an op is registered twice"


def test_configuration_names_are_the_specified_ones():
    # what is exempt from the op table is exactly the configuration
    assert set(CONFIG_NAMES) == SPEC_CONFIG_NAMES


def test_public_names_come_from_the_public_modules():
    assert fs.__all__ == ["__version__", *(name for module in fs._PUBLIC_MODULES for name in module.__all__)]
    for module in fs._PUBLIC_MODULES:
        for name in module.__all__:
            assert inspect.unwrap(getattr(fs, name)) is getattr(module, name), f"fastsoftmax.{name}"


def test_no_public_function_is_left_out_of_all():
    # a module star-imported by fastsoftmax/__init__.py but missing from
    # _PUBLIC_MODULES would leave its functions out of __all__
    for name, value in vars(fs).items():
        if name.startswith("_") or not callable(value):
            continue
        if getattr(inspect.unwrap(value), "__module__", "").startswith("fastsoftmax"):
            assert name in fs.__all__, f"fastsoftmax.{name} is bound but not in __all__"


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_every_computing_function_is_under_the_input_guard(name):
    fn = ops.public_function(name)
    assert fn is not inspect.unwrap(fn), f"conftest's input guard does not wrap fastsoftmax.{name}"


def test_the_input_guard_catches_a_modified_input():
    def scribbles(x, out=None):
        x[0] = 1.0
        return x

    x = np.zeros(3)
    with pytest.raises(AssertionError, match="modified its input argument 0"):
        _never_modifies_inputs(scribbles, "scribbles")(x)
    y = np.zeros(3)
    _never_modifies_inputs(scribbles, "scribbles")(y, out=y)  # in place through out=: allowed


@pytest.mark.parametrize("op", ops.OPS, ids=lambda op: op.name)
def test_every_op_has_its_area_module_and_a_peer_comparison(op):
    modules = {area.__name__.rsplit(".", 1)[1]: area for area in ops.AREAS}
    assert op.area in modules and op in modules[op.area].OPS, f"{op.name} is not in tests/ops/{op.area}.py"
    # the parity tests of the area run from tests/test_<area>.py; a peer
    # comparison is the op entry's `peer`, or in that file
    assert (TESTS_DIR / f"test_{op.area}.py").exists(), f"{op.name}: no tests/test_{op.area}.py"
    if op.peer is None:
        source = (TESTS_DIR / f"test_{op.area}.py").read_text()
        peer_tests = source + "".join(p.read_text() for p in TESTS_DIR.glob(f"test_{op.area}_*.py"))
        assert any(peer in peer_tests for peer in ("torch", "scipy", "tensorflow")), f"{op.name}: no peer comparison"


def test_the_benchmark_times_the_ops_the_table_says():
    # an op of the table is benchmarked (an entry of _bench.BENCH_OPS) unless
    # its OpInfo says benchmarked=False
    table = sorted(op.name for op in ops.OPS if op.benchmarked)
    assert table == sorted(_bench.BENCH_OPS_BY_NAME), "add a BenchOp to fastsoftmax/_bench.py, or benchmarked=False"
    assert len(_bench.BENCH_OPS_BY_NAME) == len(_bench.BENCH_OPS), "a BenchOp is listed twice"


@pytest.mark.parametrize("bench_op", _bench.BENCH_OPS, ids=lambda op: op.name)
def test_every_benchmarked_op_has_its_bench_file(bench_op):
    bench_dir = TESTS_DIR.parent / "bench"
    if not bench_dir.is_dir():
        pytest.skip("no bench/ beside tests/")
    assert (bench_dir / f"bench_{bench_op.area}.py").exists(), f"{bench_op.name}: no bench/bench_{bench_op.area}.py"
