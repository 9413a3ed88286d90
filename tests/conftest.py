"""Shared fixtures: peers (SciPy, PyTorch), dtypes, a random generator and a
guard that restores the thread count.

The suite runs against the *installed* package: nothing here touches
sys.path, so ``import fastsoftmax`` finds site-packages, never ``python/``.

Peers: outside CI a missing SciPy / PyTorch skips the peer tests; with
``CI`` set (``CI=true`` in every CI service) a missing peer is an error, so
the parity tests can never silently vanish from a CI run.
"""
from __future__ import annotations

import functools
import inspect
import os
import shlex
import sys
import zlib

import numpy as np
import pytest

import fastsoftmax
from fastsoftmax import _core

# Set by test_threads_and_simd.py in the child pytest it starts for each SIMD
# level; the child must not start children of its own.
SIMD_CHILD_ENV = "FASTSOFTMAX_TEST_SIMD_CHILD"

IN_CI = bool(os.environ.get("CI"))


def python_command() -> list:
    """The command that starts a child Python like this one.

    Under an emulator (.ci/aarch64 runs the suite in an aarch64 Python under
    qemu-user, and the host cannot start an aarch64 binary by itself),
    FASTSOFTMAX_TEST_EMULATOR holds the emulator's command, put in front.
    """
    return shlex.split(os.environ.get("FASTSOFTMAX_TEST_EMULATOR", "")) + [sys.executable]


FLOAT_DTYPES = [np.float32, np.float64]


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "numeric: numeric parity test, re-run in a child process under every SIMD level",
    )
    # Hypothesis imports libcst to print a patch for a failing example; libcst
    # trips a third-party DeprecationWarning that warnings-as-errors would turn
    # into an INTERNALERROR hiding the real failure.
    config.addinivalue_line("filterwarnings",
                            "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")


def _import_peer(name: str):
    if IN_CI:
        # A missing peer must fail the test in CI, not skip it.
        return __import__(name)
    return pytest.importorskip(name)


@pytest.fixture(scope="session")
def torch():
    return _import_peer("torch")


@pytest.fixture(scope="session")
def pml():
    """pytorch-metric-learning, the margin losses' peer."""
    _import_peer("pytorch_metric_learning")
    import pytorch_metric_learning.distances
    import pytorch_metric_learning.losses
    import pytorch_metric_learning.miners
    import pytorch_metric_learning.reducers

    return pytorch_metric_learning


@pytest.fixture(scope="session")
def tensorflow():
    """TensorFlow (CPU), the sampled losses' peer."""
    return _import_peer("tensorflow")


@pytest.fixture(scope="session")
def scipy_special():
    _import_peer("scipy")
    import scipy.special

    return scipy.special


@pytest.fixture(params=FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng(request):
    # One seed per test id, so a failure reproduces on its own.
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


@pytest.fixture
def restore_threads():
    """Whatever a test does to the thread count, the next test gets it back."""
    before = fastsoftmax.get_num_threads()
    yield before
    fastsoftmax.set_num_threads(before)


# Derived from fastsoftmax.__all__, never listed: the public names that are not
# configuration (fastsoftmax._config) are the functions that compute
# something, and so are the functions of the namespace modules (SPEC:
# fastsoftmax.sampled), named "<module>.<function>" (their classes, the
# samplers, are tested in their area's test file). Each is wrapped by the
# input guard below, and each must have an entry in the op table, tests/ops/
# (test_public_api.py checks both).
CONFIG_NAMES = ("__version__", *fastsoftmax._config.__all__)
NAMESPACE_FUNCTIONS = tuple(f"{module.__name__.rsplit('.', 1)[1]}.{name}"
                            for module in fastsoftmax._NAMESPACE_MODULES for name in module.__all__
                            if inspect.isfunction(getattr(module, name)))
PUBLIC_FUNCTIONS = tuple(name for name in fastsoftmax.__all__ if name not in CONFIG_NAMES) + NAMESPACE_FUNCTIONS
OUTPUT_ARGS = ("out", "grad_out")


def _never_modifies_inputs(fn, name):
    """fn, checking after every call that no input array changed (except
    out=/grad_out= and whatever shares memory with them: in-place use)."""
    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        outs = [kwargs[k] for k in OUTPUT_ARGS if isinstance(kwargs.get(k), np.ndarray)]
        watched = []
        for i, a in enumerate(list(args) + list(kwargs.items())):
            key, a = (f"argument {i}", a) if i < len(args) else (f"{a[0]}=", a[1])
            if not isinstance(a, np.ndarray) or key.rstrip("=") in OUTPUT_ARGS or a.dtype == object:
                continue
            if any(np.shares_memory(a, o) for o in outs):
                continue
            watched.append((key, a, a.copy()))
        result = fn(*args, **kwargs)
        for key, a, copy in watched:
            assert a.tobytes() == copy.tobytes(), f"fastsoftmax.{name} modified its input {key}"
        return result
    return guarded


@pytest.fixture(autouse=True)
def _inputs_are_never_modified(monkeypatch):
    """SPEC: never modify an input unless it is out=/grad_out=. Checked on
    every call any test makes through the fastsoftmax namespace."""
    for name in PUBLIC_FUNCTIONS:
        *space, short = name.split(".")
        owner = getattr(fastsoftmax, space[0]) if space else fastsoftmax
        monkeypatch.setattr(owner, short, _never_modifies_inputs(getattr(owner, short), name))
    yield


@pytest.fixture(scope="session", autouse=True)
def _forced_simd_level_is_active():
    """In a SIMD-level child run, every test must really run on that level."""
    forced = os.environ.get("FASTSOFTMAX_SIMD")
    if os.environ.get(SIMD_CHILD_ENV) and forced:
        assert _core.simd_level() == forced, (
            f"FASTSOFTMAX_SIMD={forced} but the kernels use {_core.simd_level()}")
    yield
