"""pytest glue for the benchmarks: collects bench_*.py, parametrises the inputs, records the machine."""
from __future__ import annotations

from pathlib import Path

import pytest

from common import BCE_OP, FAMILY_OPS, PEERS, XENT_OP, Inputs, layout_id, layouts, make_inputs
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
    for argument, ops in (("family_layout", FAMILY_OPS), ("xent_layout", (XENT_OP,)), ("bce_layout", (BCE_OP,))):
        if argument in metafunc.fixturenames:
            # module scope: pytest orders the tests so each array is built once
            metafunc.parametrize(argument, layouts(ops, full), ids=layout_id, scope="module")


@pytest.fixture(scope="module")
def family_inputs(family_layout) -> Inputs:
    shape, dtype = family_layout
    return make_inputs(shape, dtype)


@pytest.fixture(scope="module")
def xent_inputs(xent_layout) -> Inputs:
    shape, dtype = xent_layout
    return make_inputs(shape, dtype, with_target=True)


@pytest.fixture(scope="module")
def bce_inputs(bce_layout) -> Inputs:
    shape, dtype = bce_layout
    return make_inputs(shape, dtype, with_labels=True)


def pytest_report_header(config: pytest.Config) -> str:
    info = fastsoftmax_machine_info(PEERS)
    return f"fastsoftmax {info['fastsoftmax']}, CPU {info['cpu']}, SIMD {info['simd_level']}, threads {info['threads']}"


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info["fastsoftmax"] = fastsoftmax_machine_info(PEERS)
