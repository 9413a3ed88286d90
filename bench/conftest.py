"""pytest glue for the benchmarks: collects bench_*.py, parametrises the inputs, records the machine."""
from __future__ import annotations

from pathlib import Path
from typing import Tuple

import pytest

from common import PEERS, Inputs, inputs_for, layout_id, layouts, ops_in
from common import machine_info as fastsoftmax_machine_info  # pytest-benchmark's hook argument takes the name


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-full", action="store_true",
                     help="time the full shapes of python -m fastsoftmax bench (default: its --quick shapes)")


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    # the project's python_files pattern is test_*.py; benchmark files are bench_*.py
    # (a file named on the command line is collected by pytest itself)
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    full = metafunc.config.getoption("--bench-full")
    # module scope: pytest orders the tests so each array is built once
    # bench_softmax.py: the ops of its area share each layout's arrays
    if "family_layout" in metafunc.fixturenames:
        metafunc.parametrize("family_layout", layouts(ops_in("softmax"), full), ids=layout_id, scope="module")
    # bench_cross_entropy.py: each loss with arrays of its own (targets or labels)
    if "loss_layout" in metafunc.fixturenames:
        cases = [(op, layout) for op in ops_in("cross_entropy") for layout in layouts((op,), full)]
        metafunc.parametrize("loss_layout", cases, ids=lambda c: f"{c[0]}-{layout_id(c[1])}", scope="module")


@pytest.fixture(scope="module")
def family_inputs(family_layout) -> Inputs:
    shape, dtype = family_layout
    return inputs_for(ops_in("softmax"), shape, dtype)


@pytest.fixture(scope="module")
def loss_inputs(loss_layout) -> Tuple[str, Inputs]:
    op, (shape, dtype) = loss_layout
    return op, inputs_for((op,), shape, dtype)


def pytest_report_header(config: pytest.Config) -> str:
    info = fastsoftmax_machine_info(PEERS)
    return f"fastsoftmax {info['fastsoftmax']}, CPU {info['cpu']}, SIMD {info['simd_level']}, threads {info['threads']}"


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info["fastsoftmax"] = fastsoftmax_machine_info(PEERS)
