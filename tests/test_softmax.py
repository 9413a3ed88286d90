"""softmax and log_softmax: reference parity over the sample table, peers,
dtype rules, special values, the long-row (segmented) path, out= and in-place."""
from __future__ import annotations

import numpy as np
import pytest

import fastsoftmax as fs

import ops
import reference as ref
from ops import (assert_log_softmax_close, assert_softmax_close, normal)

SOFTMAX_OPS = ops.ops_in("softmax")
# looked up at call time, so the conftest's input guard wraps every call
FUNCS = {"softmax": lambda *a, **k: fs.softmax(*a, **k), "log_softmax": lambda *a, **k: fs.log_softmax(*a, **k)}
REFS = {"softmax": ref.softmax, "log_softmax": ref.log_softmax}
CHECKS = {"softmax": assert_softmax_close, "log_softmax": assert_log_softmax_close}


@pytest.mark.numeric
@pytest.mark.parametrize("op,sample,dtype", ops.sample_params(SOFTMAX_OPS))
def test_matches_float64_reference(op, sample, dtype, rng):
    ops.run_sample(op, sample, dtype, rng)


# ---------------------------------------------------------------- peers

PEER_CASES = [((6, 33), -1), ((6, 33), 0), ((3, 4, 17), (0, 2)), ((3, 4, 17), None), ((5, 1025), -1),
              ((2, 3, 4, 5), 1)]


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", PEER_CASES)
def test_matches_scipy(name, shape, axis, dtype, rng, scipy_special):
    x = normal(rng, shape, dtype, 3.0)
    got = FUNCS[name](x, axis=axis)
    want = getattr(scipy_special, name)(x.astype(np.float64), axis=axis)
    rtol = 3e-6 if dtype == np.float32 else 1e-13
    if name == "softmax":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-30)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def test_default_axis_is_last_not_scipys_none(rng, scipy_special):
    # SciPy's default is axis=None (the whole array); ours is -1.
    x = normal(rng, (4, 7), np.float64)
    np.testing.assert_allclose(fs.softmax(x), scipy_special.softmax(x, axis=-1), rtol=1e-13)
    assert not np.allclose(fs.softmax(x), scipy_special.softmax(x))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((6, 33), -1), ((6, 33), 0), ((3, 4, 513), 1), ((2, 4097), -1)])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_matches_torch(name, shape, dim, temperature, dtype, rng, torch):
    x = normal(rng, shape, dtype, 3.0)
    got = FUNCS[name](x, axis=dim, temperature=temperature)
    t = torch.from_numpy(x.astype(np.float64)) / temperature
    want = getattr(torch, name)(t, dim=dim).numpy()
    rtol = 3e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-30 if name == "softmax" else rtol)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_special_values_match_torch(name, dtype, torch):
    # The rows the peers agree on: all -inf, a +inf entry, NaN, -inf entries.
    x = ops.special_rows(37, dtype)
    got = FUNCS[name](x)
    want = getattr(torch, name)(torch.from_numpy(x.astype(np.float64)), dim=-1).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=3e-6, atol=3e-6 * np.abs(want[fin]).max())
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])


# ---------------------------------------------------------------- special values

def test_special_values_spelled_out(dtype):
    x = np.array([[-np.inf, -np.inf, -np.inf],     # all -inf: NaN (both peers)
                  [np.inf, 1.0, 2.0],              # +inf: NaN (both peers)
                  [np.nan, 1.0, 2.0],              # NaN propagates
                  [-np.inf, 5.0, -np.inf],         # one finite value: exactly 1
                  [1e30, -1e30, 0.0]], dtype)      # huge spread: no overflow
    y = fs.softmax(x)
    assert np.isnan(y[0]).all()
    assert np.isnan(y[1]).all()
    assert np.isnan(y[2]).all()
    np.testing.assert_array_equal(y[3], [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(y[4], [1.0, 0.0, 0.0])
    ly = fs.log_softmax(x)
    assert np.isnan(ly[0]).all()
    assert np.isnan(ly[1, 0])
    assert np.isnan(ly[2]).all()
    np.testing.assert_array_equal(ly[3], [-np.inf, 0.0, -np.inf])
    assert ly[4, 0] == 0.0 and ly[4, 1] == dtype.type(-2e30) and ly[4, 2] == dtype.type(-1e30)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(0, 5), (3, 0), (0,), (2, 0, 4)])
def test_empty_arrays(name, shape, dtype):
    x = np.zeros(shape, dtype)
    for axis in range(len(shape)):
        y = FUNCS[name](x, axis=axis)
        assert y.shape == shape and y.dtype == dtype


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_scalar_input_is_one_element(name):
    # SciPy: softmax of a scalar is 1 (log: 0), shape ().
    y = FUNCS[name](np.float64(3.5))
    assert np.shape(y) == ()
    assert float(y) == (1.0 if name == "softmax" else 0.0)


def test_plain_python_list_computes_in_float64():
    y = fs.softmax([1.0, 2.0, 3.0])
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, ref.softmax(np.array([1.0, 2.0, 3.0])), rtol=1e-14)


# ---------------------------------------------------------------- dtype rules

@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_float16_computed_in_float32_returned_float16(name, rng):
    x = normal(rng, (7, 300), np.float16, 4.0)
    y = FUNCS[name](x, axis=-1)
    assert y.dtype == np.float16
    want = REFS[name](x, -1)
    # float16 rounding of the float64 result: half an ulp (2**-11 relative),
    # plus the float16 subnormal spacing for tiny probabilities.
    np.testing.assert_allclose(y.astype(np.float64), want, rtol=2**-11 * 1.01,
                               atol=6e-8 if name == "softmax" else 2**-11 * 1.01)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("int_dtype", [np.int8, np.int32, np.int64, np.uint16, np.bool_])
def test_integers_and_bool_compute_in_float64(name, int_dtype, rng):
    x = rng.integers(0, 2 if int_dtype == np.bool_ else 50, (4, 19)).astype(int_dtype)
    y = FUNCS[name](x)
    assert y.dtype == np.float64
    CHECKS[name](y, x.astype(np.float64), -1, 1.0, np.float64)


# ---------------------------------------------------------------- long rows (segmented path)

LONG = 1_100_000  # rows of 4 segments (2**16 elements each) or more: cut when threads would idle
LONG_SHAPES = [(2, LONG), (3, 300_000)]


def _long_rows(shape, dtype, rng):
    x = normal(rng, shape, dtype, 3.0)
    x[1, :70_000] -= 30.0          # the max sits in a later segment
    x[1, shape[1] - 5] = 12.0
    return x


@pytest.mark.numeric
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", LONG_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_long_rows(name, shape, dtype, rng):
    x = _long_rows(shape, dtype, rng)
    CHECKS[name](FUNCS[name](x), x, -1, 1.0, dtype)


@pytest.mark.numeric
def test_long_rows_with_temperature_and_axis0(dtype, rng):
    x = _long_rows((2, LONG), dtype, rng).T  # the reduced axis is 0, the rows are strided
    assert_softmax_close(fs.softmax(x, axis=0, temperature=2.5), x, 0, 2.5, dtype)


@pytest.mark.numeric
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_long_rows_special_values(name, dtype):
    x = np.zeros((5, LONG), dtype)
    x[:] = np.linspace(-5, 5, LONG, dtype=dtype)
    x[0, : 2 * 65536 + 17] = -np.inf   # whole segments of -inf
    x[1] = -np.inf                      # all -inf
    x[2, LONG - 1] = np.nan             # NaN in the last segment
    x[3, 70_000] = np.inf               # +inf in a middle segment
    x[4, :] = -np.inf
    x[4, 900_000] = 1.0                 # a single finite value
    y = FUNCS[name](x)
    CHECKS[name](y, x, -1, 1.0, dtype)


# ---------------------------------------------------------------- rows too long to keep their exp values

# softmax keeps a row's exp values for its writer while they take at most
# 1 MB; rows longer than that (and not cut into segments: 64 rows take a
# thread each) compute them again from x, which must give the same
# bits, chunk by chunk, whatever the output's alignment or the thread count.
def _unkept_rows(dtype, rng):
    n = (1 << 20) // np.dtype(dtype).itemsize + 1029   # over 1 MB a row, a ragged last chunk
    x = normal(rng, (64, n), dtype, 3.0)
    x[1, :70_000] -= 30.0           # chunk maxima far apart: a lane with the wrong chunk's shift shows
    x[2, 5000:9000] = -np.inf       # whole chunks of -inf
    x[3, 12_345] = np.nan
    x[4] = -np.inf
    x[5, n - 3] = 40.0              # the max in the last chunk
    return x


@pytest.mark.numeric
def test_rows_too_long_to_keep_their_exps(dtype, rng):
    x = _unkept_rows(dtype, rng)
    for temperature in (1.0, 0.7):
        assert_softmax_close(fs.softmax(x, temperature=temperature), x, -1, temperature, dtype)


def test_rows_too_long_to_keep_their_exps_ignore_alignment_and_threads(dtype, rng, restore_threads):
    x = _unkept_rows(dtype, rng)
    expected = fs.softmax(x)
    base = np.empty(x.size + 16, dtype)
    for offset in (1, 3):
        out = base[offset:offset + x.size].reshape(x.shape)
        fs.softmax(x, out=out)
        np.testing.assert_array_equal(out, expected, err_msg=f"output offset {offset} elements")
    for threads in (1, 3):
        fs.set_num_threads(threads)
        np.testing.assert_array_equal(fs.softmax(x), expected, err_msg=f"{threads} threads")


@pytest.mark.numeric
def test_many_rows_of_over_2_to_the_20(rng):
    # 64 rows or more go a thread a row however long they are; rows over
    # 4 MB compute their exp values again on every SIMD level.
    n = (1 << 20) + 1029
    x = normal(rng, (64, n), np.float32, 3.0)
    x[1, :70_000] -= 30.0
    x[2, n - 3] = 40.0
    assert_softmax_close(fs.softmax(x), x, -1, 1.0, np.float32)
    assert_log_softmax_close(fs.log_softmax(x), x, -1, 1.0, np.float32)


# ---------------------------------------------------------------- out= and in-place

@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", [((7, 513), -1), ((3, 4, 17), 1), ("stream", -1)])
def test_in_place_gives_the_same_numbers(name, shape, axis, dtype, rng):
    if shape == "stream":  # an output over the streaming-store threshold
        shape = (ops.stream_rows(dtype, 4000), 4000)
    x = normal(rng, shape, dtype, 3.0)
    expected = FUNCS[name](x, axis=axis)
    buf = x.copy()
    result = FUNCS[name](buf, axis=axis, out=buf)
    assert result is buf
    np.testing.assert_array_equal(buf, expected)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_out_receives_result(name, dtype, rng):
    x = normal(rng, (9, 100), dtype)
    out = np.full_like(x, np.nan)
    result = FUNCS[name](x, out=out)
    assert result is out
    CHECKS[name](out, x, -1, 1.0, dtype)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("view", ["strided", "negative-stride", "transposed"])
def test_out_may_be_any_view(name, view, dtype, rng):
    x = normal(rng, (6, 50), dtype)
    big = np.full((60, 100), 7.0, dtype)
    out = {"strided": big[:12:2, ::2], "negative-stride": big[:6, :50][::-1, ::-1],
           "transposed": big[:50, :6].T}[view]
    FUNCS[name](x, out=out)
    CHECKS[name](out, x, -1, 1.0, dtype)
    # Only the view was written.
    touched = np.zeros(big.shape, bool)
    {"strided": lambda t: t.__setitem__((slice(0, 12, 2), slice(None, None, 2)), True),
     "negative-stride": lambda t: t.__setitem__((slice(0, 6), slice(0, 50)), True),
     "transposed": lambda t: t.__setitem__((slice(0, 50), slice(0, 6)), True)}[view](touched)
    assert (big[~touched] == 7.0).all()


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_out_overlapping_the_input_reversed(name, dtype, rng):
    # out is the input's own memory seen backwards: writing row elements
    # straight into it would overwrite inputs that were not read yet.
    x = normal(rng, (5, 40), dtype, 2.0)
    buf = x.copy()
    FUNCS[name](buf, out=buf[:, ::-1])
    CHECKS[name](buf[:, ::-1], x, -1, 1.0, dtype)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_float16_out(name, rng):
    x = normal(rng, (3, 20), np.float16)
    out = np.empty_like(x)
    FUNCS[name](x, out=out)
    np.testing.assert_array_equal(out, FUNCS[name](x))
    buf = x.copy()
    FUNCS[name](buf, out=buf)    # in place through the float32 compute copy
    np.testing.assert_array_equal(buf, out)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_output_alignment_does_not_change_results(name, dtype, rng):
    # Over the streaming-store threshold full vectors are stored at aligned
    # addresses and a misaligned head element by element: both must give the
    # same bits. Offsets of 1..5 elements misalign the output and every row.
    x = normal(rng, (ops.stream_rows(dtype, 4001), 4001), dtype, 3.0)
    expected = FUNCS[name](x)
    base = np.empty(x.size + 16, dtype)
    for offset in (1, 2, 3, 5):
        out = base[offset:offset + x.size].reshape(x.shape)
        FUNCS[name](x, out=out)
        np.testing.assert_array_equal(out, expected, err_msg=f"output offset {offset} elements")
    for offset in (1, 3):
        xin = base[offset:offset + x.size].reshape(x.shape)
        xin[...] = x
        np.testing.assert_array_equal(FUNCS[name](xin), expected, err_msg=f"input offset {offset}")


def test_repeated_calls_are_identical(dtype, rng):
    x = normal(rng, (64, 3000), dtype, 3.0)
    first = fs.softmax(x)
    for _ in range(3):
        np.testing.assert_array_equal(fs.softmax(x), first)


_HEAP_CHECK = """
import numpy as np, fastsoftmax as fs
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
  for shape in ((2, 1_100_000), (3, 300_000)):
    x = rng.standard_normal(shape).astype(dtype)
    b = np.ones_like(x)
    for _ in range(3):
        fs.softmax(x); fs.log_softmax(x); fs.logsumexp(x); fs.logsumexp(x, b=b)
        junk = [np.empty(n) for n in range(1, 2000, 7)]   # churn the allocator
        del junk
print("heap intact")
"""


def test_long_rows_leave_the_heap_intact():
    # In a child process, so that heap corruption by the segmented (long-row)
    # path is reported as this test's failure instead of aborting the suite.
    import os
    import subprocess

    from conftest import python_command
    env = dict(os.environ, MALLOC_CHECK_="3", MALLOC_PERTURB_="165")
    r = subprocess.run([*python_command(), "-c", _HEAP_CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "heap intact" in r.stdout, (
        f"long-row kernels corrupted the heap (exit code {r.returncode}):\n{r.stderr[-2000:]}")


@pytest.mark.parametrize("func", [fs.softmax, fs.log_softmax])
def test_scalar_input_gives_a_numpy_scalar_like_scipy(func):
    # a 0-d array came back; SciPy and NumPy's ufuncs return a NumPy scalar
    y = func(1000)
    assert isinstance(y, np.generic) and y.dtype == np.float64
    assert isinstance(fs.softmax_backward(np.float32(1.0), np.float32(1.0)), np.generic)
    out = np.empty((), np.float64)
    assert func(1000.0, out=out) is out  # out= is returned as given


@pytest.mark.numeric
@pytest.mark.parametrize("n", [1000, 32000, 150000])  # one chunk group, many chunks, a row split over threads
@pytest.mark.parametrize("fill", [-40.0, -20.0])
def test_float64_row_dominated_by_one_term(n, fill):
    # S = 1 + (n-1) e^fill: the chunk sums were added to the chunk holding the 1
    # one by one, rounding each away (75 eps at n = 32000 at the scalar level,
    # 7.8 at AVX2; SciPy 1.2); they are summed pairwise now
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    x = np.full(n, fill)
    x[n // 3] = 0.0
    e = mpmath.exp(fill)
    S = 1 + (n - 1) * e
    want_top, want_other = float(1 / S), float(e / S)
    y = fs.softmax(x)
    eps = np.finfo(np.float64).eps
    assert abs(y[n // 3] - want_top) <= 6 * eps * want_top
    others = np.delete(y, n // 3)
    assert np.max(np.abs(others - want_other)) <= 6 * eps * want_other
