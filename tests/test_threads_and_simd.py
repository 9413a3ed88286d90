"""Threads and SIMD dispatch.

* Every operation of the table gives bitwise identical results for 1, 2 and
  3 threads and from call to call (reductions in a fixed order).
* The numeric tests (marker ``numeric``) are re-run in a child pytest under
  every SIMD level the CPU supports, FASTSOFTMAX_SIMD forcing the level; the
  child asserts the level really is the forced one (conftest.py).
* A bad FASTSOFTMAX_SIMD value warns at import; thread defaults come from the
  environment; show_config reports the configuration.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import fastsoftmax as fs
from fastsoftmax import _core

import ops
from conftest import SIMD_CHILD_ENV, python_command

TESTS_DIR = Path(__file__).resolve().parent
ALL_LEVELS = ("scalar", "neon", "avx2", "avx512")  # the levels a build can have (NEON on AArch64)


def _leaves(r):
    """The arrays of a result, nested tuples ((loss, (grad_x, grad_weight))) flattened."""
    return [leaf for v in r for leaf in _leaves(v)] if isinstance(r, tuple) else [np.asarray(r).copy()]


def _results_of(op, args, kwargs):
    return _leaves(ops.call_checked(op, args, kwargs))


def _assert_bitwise(a, b, what):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.dtype == v.dtype and u.shape == v.shape
        assert u.tobytes() == v.tobytes(), what


# ---------------------------------------------------------------- threads

@pytest.mark.parametrize("op", ops.OPS, ids=lambda op: op.name)
def test_thread_count_does_not_change_a_bit(op, dtype, rng, restore_threads):
    args, kwargs = op.big_sample(rng, dtype)
    fs.set_num_threads(1)
    one = _results_of(op, args, kwargs)
    for n in (2, 3):
        fs.set_num_threads(n)
        _assert_bitwise(one, _results_of(op, args, kwargs), f"{op.name}: {n} threads differ from 1")
    # and call to call
    _assert_bitwise(one, _results_of(op, args, kwargs), f"{op.name}: a repeated call differs")


LONG_SHAPES = [(2, 1_100_000), (1, 600_000), (3, 300_000)]


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("shape", LONG_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_thread_count_does_not_change_a_bit_on_long_rows(name, shape, rng, restore_threads):
    # A few long rows are cut into segments spread over the threads when a
    # thread a row would leave threads idle; a row's bits must not depend on
    # the thread count.
    x = ops.normal(rng, shape, np.float64, 3.0)
    fn = getattr(fs, name)
    fs.set_num_threads(1)
    one = np.asarray(fn(x)).copy()
    for n in (2, 3):
        fs.set_num_threads(n)
        assert np.asarray(fn(x)).tobytes() == one.tobytes(), f"{name} {shape}: {n} threads differ"


def _few_long_rows(rows, dtype, rng):
    n = 4 * 65536 + 1029  # 5 pieces of 2**16, the last one ragged
    x = ops.normal(rng, (rows, n), dtype, 3.0)
    x[0, : 2 * 65536 + 17] = -np.inf  # whole pieces of -inf
    x[0, n - 3] = 40.0                # the max in the last piece
    if rows > 1:
        x[1, 70_000] = np.inf         # +inf in a middle piece
    if rows > 2:
        x[2] = -np.abs(x[2])          # the max is a zero: -0.0 in one piece, +0.0 in a later one
        x[2, 100] = -0.0
        x[2, 200_000] = 0.0
    return x


FEW_LONG_ROWS = {
    "softmax": lambda x, b: fs.softmax(x, temperature=0.7),
    "log_softmax": lambda x, b: fs.log_softmax(x),
    "logsumexp": lambda x, b: fs.logsumexp(x, temperature=1.3),
    "logsumexp-b": lambda x, b: np.stack(fs.logsumexp(x, b=b, return_sign=True)),
    "softmax_backward": lambda x, b: fs.softmax_backward(b, fs.softmax(x)),
    "log_softmax_backward": lambda x, b: fs.log_softmax_backward(b, fs.log_softmax(x)),
}


@pytest.mark.parametrize("name", FEW_LONG_ROWS)
@pytest.mark.parametrize("rows", [1, 2, 3])
def test_few_long_rows_give_the_same_bits_cut_or_whole(name, rows, dtype, rng, restore_threads):
    # Long rows that would leave threads idle (fewer rows than threads, 3
    # rows on 2 threads) are cut into pieces spread over the threads; other
    # thread counts take them whole (split_rows, parallel-inl.h). Both must
    # give the same bits, special values included, and the right values.
    x = _few_long_rows(rows, dtype, rng)
    b = rng.uniform(-0.2, 1.0, x.shape).astype(dtype)
    fs.set_num_threads(1)
    whole = np.asarray(FEW_LONG_ROWS[name](x, b)).copy()
    if name == "softmax":
        ops.assert_softmax_close(whole, x, -1, 0.7, dtype)
    for threads in (2, 3, 4):
        fs.set_num_threads(threads)
        got = np.asarray(FEW_LONG_ROWS[name](x, b))
        assert got.tobytes() == whole.tobytes(), f"{name}, {rows} rows: {threads} threads differ from 1"


CHECKS = {"softmax": lambda got, x, dt: ops.assert_softmax_close(got, x, -1, 1.0, dt),
          "log_softmax": lambda got, x, dt: ops.assert_log_softmax_close(got, x, -1, 1.0, dt),
          "logsumexp": lambda got, x, dt: ops.assert_logsumexp_close(got, x, dtype=dt)}


@pytest.mark.numeric
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("n", [3, 9, 16, 40, 100, 256, 257, 512])
def test_short_rows_depend_on_neither_their_block_nor_the_thread_count(name, n, dtype, rng, restore_threads):
    # Short rows go in blocks of one row per vector lane, each thread taking
    # its own run of rows (cpp/src/kernels/shortrows-inl.h). A row's bits must
    # not depend on the thread count, nor on the block or lane it lands in
    # (the same rows shifted by 1, 3 and 5 places), and must be right.
    rows = max(1003, 70_000 // n + 3)  # enough work for several threads, blocks left partial
    x = ops.normal(rng, (rows, n), dtype, 4.0)
    x[7] = -np.inf  # an all -inf row inside a block
    x[12, 1] = np.nan
    x[30, 0] = np.inf
    fn = getattr(fs, name)
    fs.set_num_threads(1)
    one = np.asarray(fn(x)).copy()
    CHECKS[name](one, x, dtype)
    for threads in (2, 3):
        fs.set_num_threads(threads)
        assert np.asarray(fn(x)).tobytes() == one.tobytes(), f"{name} {x.shape}: {threads} threads differ from 1"
    for shift in (1, 3, 5):
        assert np.asarray(fn(x[shift:])).tobytes() == one[shift:].tobytes(), f"{name}: rows shifted by {shift} differ"


XENT_REFERENCE = ops.OPS_BY_NAME["cross_entropy"].reference
XENT_VARIANTS = {
    "plain": lambda rng, C, dt: {},
    "smoothing-weights-zloss": lambda rng, C, dt: {"label_smoothing": 0.1, "z_loss": 1e-3,
                                                   "weight": np.linspace(0.5, 2.0, C).astype(dt)},
}


@pytest.mark.numeric
@pytest.mark.parametrize("variant", list(XENT_VARIANTS) + ["probabilities"])
@pytest.mark.parametrize("C", [3, 10, 16, 100, 512])
def test_short_row_cross_entropy_depends_on_neither_its_block_nor_the_thread_count(variant, C, dtype, rng,
                                                                                  restore_threads):
    # The same block path (or, for index targets and C <= 2 vector lengths,
    # transposed tile path) for the loss and its gradient; ignored rows
    # inside blocks get a zero gradient.
    rows = max(1003, 70_000 // C + 3)
    x = ops.normal(rng, (rows, C), dtype, 4.0)
    if variant == "probabilities":
        target, kw = ops.prob_target(rng, (rows, C), dtype), {}
    else:
        target, kw = ops.index_target(rng, (rows,), C, 0.1), XENT_VARIANTS[variant](rng, C, dtype)
    kw.update(reduction="sum", return_grad=True)

    def run(lo=0):
        loss_rows = fs.cross_entropy(x[lo:], target[lo:], **dict(kw, return_grad=False, reduction="none"))
        _, grad = fs.cross_entropy(x[lo:], target[lo:], **kw)
        return np.asarray(loss_rows).copy(), grad.copy()

    fs.set_num_threads(1)
    loss_rows, grad = run()
    ops.assert_loss_close(loss_rows, XENT_REFERENCE(x, target, **dict(kw, reduction="none"))[0], dtype,
                          "cross_entropy rows", "none", (rows,))
    # p_t - 1 is formed from p_t (as PyTorch does), so where p_t is near 1 its
    # error is p_t's (docs/numerics.md: 2e-6 relative in float32), times the
    # row's coefficient of p (at most 2 here), not relative to p_t - 1
    p_error = 2e-6 if dtype == np.float32 else 1e-14
    ops.assert_grad_close(grad, XENT_REFERENCE(x, target, **kw)[1], dtype, "cross_entropy grad",
                          atol=2 * p_error)
    for threads in (2, 3):
        fs.set_num_threads(threads)
        l2, g2 = run()
        assert l2.tobytes() == loss_rows.tobytes() and g2.tobytes() == grad.tobytes(), f"{threads} threads differ"
    for shift in (1, 5):
        l2, g2 = run(shift)
        assert l2.tobytes() == loss_rows[shift:].tobytes() and g2.tobytes() == grad[shift:].tobytes(), shift


def aligned_empty(shape, dtype, alignment=64):
    """An empty C-contiguous array whose data starts on an `alignment` boundary."""
    size = int(np.prod(shape))
    buf = np.empty(size + alignment, dtype)
    skip = (-buf.ctypes.data % alignment) // buf.itemsize
    return buf[skip:skip + size].reshape(shape)


@pytest.mark.numeric
@pytest.mark.parametrize("n", [101, 128])
def test_short_rows_over_the_streaming_threshold_are_right(n, dtype, rng, restore_threads):
    # Outputs over the streaming threshold: short rows stream only when every
    # row fills whole 64-byte lines (n = 128 into a 64-byte-aligned out=);
    # either way the numbers are the same as for a small output.
    x = ops.normal(rng, (ops.stream_rows(dtype, n), n), dtype, 4.0)
    fs.set_num_threads(2)
    for name in ("softmax", "log_softmax"):
        got = getattr(fs, name)(x, out=aligned_empty(x.shape, dtype))
        sample = slice(0, None, 997)  # the float64 reference on a sample of rows
        CHECKS[name](got[sample], x[sample], dtype)
        assert got[:200].tobytes() == getattr(fs, name)(x[:200]).tobytes()


def test_cross_entropy_mean_over_many_rows_is_thread_independent(rng, restore_threads):
    x = ops.normal(rng, (20000, 37), np.float32, 3.0)
    t = ops.index_target(rng, (20000,), 37, 0.1)
    fs.set_num_threads(1)
    one = fs.cross_entropy(x, t, return_grad=True)
    fs.set_num_threads(2)
    two = fs.cross_entropy(x, t, return_grad=True)
    assert one[0].tobytes() == two[0].tobytes()
    assert one[1].tobytes() == two[1].tobytes()


def test_set_and_get_num_threads(restore_threads):
    for n in (1, 3, 2):
        fs.set_num_threads(n)
        # a build without OpenMP runs one thread whatever is asked
        assert fs.get_num_threads() == (n if _core.openmp_enabled() else 1)


def _child_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("FASTSOFTMAX_SIMD", "FASTSOFTMAX_NUM_THREADS", "OMP_NUM_THREADS")}
    env.update(extra)
    return env


def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([*python_command(), "-c", code], env=_child_env(**env), capture_output=True, text=True,
                          cwd=str(TESTS_DIR), timeout=120)


@pytest.mark.skipif(not _core.openmp_enabled(), reason="single-threaded build")
@pytest.mark.parametrize("env,expected", [({"FASTSOFTMAX_NUM_THREADS": "1"}, 1),
                                          ({"OMP_NUM_THREADS": "3"}, 3),
                                          ({"FASTSOFTMAX_NUM_THREADS": "2", "OMP_NUM_THREADS": "5"}, 2)])
def test_default_thread_count_from_environment(env, expected):
    r = _python("import fastsoftmax; print(fastsoftmax.get_num_threads())", **env)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == expected


@pytest.mark.skipif(not _core.openmp_enabled(), reason="single-threaded build")
def test_default_thread_count_is_all_cores():
    r = _python("import fastsoftmax; print(fastsoftmax.get_num_threads())")
    assert r.returncode == 0, r.stderr
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert int(r.stdout) == cores


# ---------------------------------------------------------------- SIMD levels

def test_simd_levels_reported():
    supported = list(_core.supported_simd_levels())
    assert supported[0] == "scalar"
    assert set(supported) <= set(ALL_LEVELS)
    assert _core.simd_level() in supported


@pytest.mark.numeric
def test_forced_level_is_active():
    forced = os.environ.get("FASTSOFTMAX_SIMD")
    if forced:
        assert _core.simd_level() == forced
        assert _core.requested_simd_level() == forced
    else:
        # unforced: the best level the CPU runs
        assert _core.simd_level() == list(_core.supported_simd_levels())[-1]


def _levels_for_children():
    here = _core.simd_level()
    return [lvl for lvl in _core.supported_simd_levels() if lvl != here]


@pytest.mark.skipif(bool(os.environ.get(SIMD_CHILD_ENV)), reason="already a SIMD-level child run")
@pytest.mark.parametrize("level", _levels_for_children())
def test_numeric_tests_pass_under_simd_level(level):
    """The numeric tests under a lower level (this process covers its own)."""
    env = _child_env(FASTSOFTMAX_SIMD=level, **{SIMD_CHILD_ENV: "1"})
    r = subprocess.run([*python_command(), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "numeric",
                        str(TESTS_DIR)], env=env, capture_output=True, text=True, cwd=str(TESTS_DIR.parent),
                       timeout=540)
    tail = (r.stdout + r.stderr)[-6000:]
    assert r.returncode == 0, f"numeric tests failed under FASTSOFTMAX_SIMD={level}:\n{tail}"
    assert " passed" in r.stdout, tail


_WARN_CODE = """
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import fastsoftmax
    from fastsoftmax import _core
for w in caught:
    print("WARNING", w.category.__name__, str(w.message))
print("LEVEL", _core.simd_level())
"""


def _unsupported_levels():
    return [lvl for lvl in ALL_LEVELS if lvl not in _core.supported_simd_levels()]


@pytest.mark.parametrize("value", ["bogus", "AVX2", *_unsupported_levels()])
def test_bad_simd_request_warns_and_falls_back_to_the_best_level(value):
    r = _python(_WARN_CODE, FASTSOFTMAX_SIMD=value)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stdout.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, r.stdout
    assert warnings[0].startswith("WARNING RuntimeWarning") and "FASTSOFTMAX_SIMD" in warnings[0]
    assert value in warnings[0]
    best = list(_core.supported_simd_levels())[-1]
    assert f"LEVEL {best}" in r.stdout


@pytest.mark.parametrize("level", list(_core.supported_simd_levels()))
def test_valid_simd_request_is_silent_and_honoured(level):
    r = _python(_WARN_CODE, FASTSOFTMAX_SIMD=level)
    assert r.returncode == 0, r.stderr
    assert "WARNING" not in r.stdout, r.stdout
    assert f"LEVEL {level}" in r.stdout


def test_bad_simd_request_is_an_error_under_warnings_as_errors():
    # With -W error (as this suite runs) the warning surfaces at import.
    r = subprocess.run([*python_command(), "-W", "error::RuntimeWarning", "-c", "import fastsoftmax"],
                       env=_child_env(FASTSOFTMAX_SIMD="bogus"), capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "RuntimeWarning" in r.stderr


# ---------------------------------------------------------------- configuration

def test_show_config_reports_the_configuration(restore_threads):
    fs.set_num_threads(3)
    buf = io.StringIO()
    fs.show_config(file=buf)
    text = buf.getvalue()
    assert fs.__version__ in text
    assert _core.simd_level() in text
    threads = 3 if _core.openmp_enabled() else 1
    assert re.search(rf"threads\W+{threads}\b", text), text
    assert "OpenMP" in text and "CUDA" in text
    # a build without OpenMP says so
    assert ("single-threaded" in text) != _core.openmp_enabled(), text


def test_show_config_prints_to_the_current_stdout():
    # print()'s convention: sys.stdout as it is at call time (redirect_stdout,
    # Jupyter, pytest's capsys all swap it after import).
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fs.show_config()
    assert fs.__version__ in buf.getvalue()


def test_version_matches_the_installed_distribution():
    assert fs.__version__ == metadata.version("fastsoftmax")


def test_tests_run_against_the_installed_package():
    # The suite must exercise the build that pip installed, not python/.
    pkg = Path(fs.__file__).resolve()
    assert (TESTS_DIR.parent / "python") not in pkg.parents


# ---------------------------------------------------------------- output placement

WRITERS = {
    "softmax": lambda x, out: fs.softmax(x, out=out),
    "log_softmax": lambda x, out: fs.log_softmax(x, out=out),
    "log_softmax_backward": lambda x, out: fs.log_softmax_backward(x, x * 0.5 - 3.0, out=out),
    "cross_entropy": lambda x, out: fs.cross_entropy(x, np.arange(x.shape[0]) % x.shape[1], return_grad=True,
                                                     grad_out=out)[1],
}


@pytest.mark.numeric
@pytest.mark.parametrize("name", sorted(WRITERS))
@pytest.mark.parametrize("n", [300, 1024])   # short rows in blocks; 4 KB rows, pipelined
def test_output_page_offset_does_not_change_results(name, n, dtype, rng):
    # The row writers go through a chunk's range in another order when the
    # output sits within 1 KB of the input modulo 4 KB (ChunkWriter::dodge);
    # outputs at 0, 1, 2 and 3 KB past the input take both orders.
    x_base = np.empty(64 * n + 4096, dtype)
    x = x_base[:64 * n].reshape(64, n)
    x[...] = ops.normal(rng, (64, n), dtype, 3.0)
    expected = WRITERS[name](x, None).copy()
    out_base = np.empty(64 * n + 8192, dtype)
    item = np.dtype(dtype).itemsize
    for kb in range(4):
        start = ((x.ctypes.data - out_base.ctypes.data) % 4096 + kb * 1024) // item
        out = out_base[start:start + 64 * n].reshape(64, n)
        WRITERS[name](x, out)
        np.testing.assert_array_equal(out, expected, err_msg=f"output {kb} KB past the input modulo 4 KB")


# ---------------------------------------------------------------- fork

_FORK_AFTER_PARALLEL_WORK = """
import multiprocessing, os, sys, time
import numpy as np
import fastsoftmax as fs
from fastsoftmax import _core

threads = 2 if _core.openmp_enabled() else 1
fs.set_num_threads(2)
x = np.random.default_rng(0).standard_normal((256, 4096)).astype(np.float32)
want = fs.softmax(x)                      # a parallel region in the parent first

def child_work(seed):
    fs.set_num_threads(4)                 # a child asking for threads gets one, not a hang
    y = fs.softmax(x)
    return bool(np.array_equal(y, want)) and fs.get_num_threads() == 1

pid = os.fork()
if pid == 0:
    os._exit(0 if child_work(0) else 3)
for _ in range(600):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    sys.exit("the forked child hung")
assert os.waitstatus_to_exitcode(status) == 0, status

with multiprocessing.get_context("fork").Pool(2) as pool:
    assert all(pool.map_async(child_work, range(4)).get(timeout=60))
assert fs.get_num_threads() == threads and np.array_equal(fs.softmax(x), want)   # the parent keeps its threads
print("ok")
"""


def test_forked_children_after_parallel_work_run_single_threaded():
    r = _python(_FORK_AFTER_PARALLEL_WORK)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


# ---------------------------------------------------------------- thread limits

@pytest.mark.parametrize("n", ["max+1", 100_000, 2**31, 2**70, 0, -3])
def test_thread_counts_the_machine_cannot_run_are_refused(n, restore_threads):
    n = _core.max_threads() + 1 if n == "max+1" else n
    with pytest.raises(ValueError, match=rf"set_num_threads.*between 1 and {_core.max_threads()}.*{n}"):
        fs.set_num_threads(n)
    assert fs.get_num_threads() == restore_threads


def test_the_most_threads_allowed_run(restore_threads):
    # a few threads per processor: oversubscribed, but it must work
    assert _core.max_threads() >= 4 * (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    fs.set_num_threads(_core.max_threads())
    x = np.random.default_rng(0).standard_normal((4000, 64))
    assert np.allclose(fs.softmax(x).sum(axis=-1), 1.0)


@pytest.mark.parametrize("value", ["0", "-3", "abc", "1e3", "2.5", "99999999999999999999"])
@pytest.mark.parametrize("name", ["FASTSOFTMAX_NUM_THREADS", "OMP_NUM_THREADS"])
def test_invalid_thread_variables_warn_and_are_ignored(name, value):
    r = _python("import warnings; warnings.simplefilter('always'); import fastsoftmax, os; "
                "print(fastsoftmax.get_num_threads())", **{name: value})
    assert r.returncode == 0, r.stderr
    assert f"{name}={value} is not a positive integer" in r.stderr, r.stderr
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert int(r.stdout) == (cores if _core.openmp_enabled() else 1)


def test_too_many_threads_from_the_environment_are_clamped_with_a_warning():
    r = _python("import warnings; warnings.simplefilter('always'); import fastsoftmax, numpy as np; "
                "from fastsoftmax import _core; "
                "print(fastsoftmax.get_num_threads(), _core.max_threads(), "
                "fastsoftmax.softmax(np.zeros((50000, 8))).sum())", FASTSOFTMAX_NUM_THREADS="100000")
    assert r.returncode == 0, r.stderr
    got, most, total = r.stdout.split()
    assert int(got) == (int(most) if _core.openmp_enabled() else 1) and float(total) == 50000
    assert f"FASTSOFTMAX_NUM_THREADS=100000 is more than {most} threads" in r.stderr, r.stderr
