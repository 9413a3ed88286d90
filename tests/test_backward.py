"""softmax_backward and log_softmax_backward: reference parity over the
sample table, PyTorch autograd, dtype rules, out= and in-place."""
from __future__ import annotations

import numpy as np
import pytest

import fastsoftmax as fs

import ops
import reference as ref
from ops import assert_backward_close, normal

BACKWARD_OPS = ops.ops_in("backward")
# looked up at call time, so the conftest's input guard wraps every call
FUNCS = {"softmax": lambda *a, **k: fs.softmax_backward(*a, **k),
         "log_softmax": lambda *a, **k: fs.log_softmax_backward(*a, **k)}
FORWARD = {"softmax": ref.softmax, "log_softmax": ref.log_softmax}


@pytest.mark.numeric
@pytest.mark.parametrize("op,sample,dtype", ops.sample_params(BACKWARD_OPS))
def test_matches_float64_reference(op, sample, dtype, rng):
    ops.run_sample(op, sample, dtype, rng)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((6, 33), -1), ((6, 33), 0), ((3, 4, 513), 1), ((2, 4097), -1)])
@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_matches_torch_autograd(name, shape, dim, temperature, dtype, rng, torch):
    x = normal(rng, shape, dtype, 2.0)
    g = normal(rng, shape, dtype)
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    yt = getattr(torch, name)(xt / temperature, dim=dim)
    yt.backward(torch.from_numpy(g.astype(np.float64)))
    y = yt.detach().numpy().astype(dtype)
    got = FUNCS[name](g, y, axis=dim, temperature=temperature)
    assert got.dtype == dtype
    want = xt.grad.numpy()
    # y is rounded to the dtype before our call; torch differentiates the exact y.
    scale = np.abs(g).max() * (1 if name == "softmax" else 2) / temperature
    tol = (2e-6 if dtype == np.float32 else 1e-13) * scale
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * 4)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(1, 600_000), (3, 300_001)], ids=lambda s: "x".join(map(str, s)))
def test_long_rows_split_over_threads_match_reference_and_ignore_the_thread_count(name, shape, dtype, rng,
                                                                                  restore_threads):
    # A few long rows are cut into segments spread over the threads (partial
    # sums added in segment order): right, and the same bits for any count.
    x = normal(rng, shape, dtype, 3.0)
    y = FORWARD[name](x).astype(dtype)
    g = normal(rng, shape, dtype)
    fs.set_num_threads(1)
    one = FUNCS[name](g, y)
    assert_backward_close(one, g, y, -1, 1.0, dtype, log=name == "log_softmax")
    for threads in (2, 3):
        fs.set_num_threads(threads)
        assert FUNCS[name](g, y).tobytes() == one.tobytes(), f"{threads} threads differ from 1"


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_gradient_of_a_sum_is_zero(name, dtype, rng):
    # d/dx sum(softmax(x)) = 0 and d/dx sum(log_softmax(x) * 0 + ...): a
    # constant upstream gradient through softmax vanishes (rows sum to 1).
    x = normal(rng, (5, 300), dtype, 2.0)
    y = FORWARD[name](x).astype(dtype)
    if name == "softmax":
        dx = fs.softmax_backward(np.ones_like(x), y)
        np.testing.assert_allclose(dx, 0.0, atol=1e-5 if dtype == np.float32 else 1e-14)
    else:
        # upstream softmax(x): dx = y_soft - exp(y) * 1 = 0
        dx = fs.log_softmax_backward(ref.softmax(x).astype(dtype), y)
        np.testing.assert_allclose(dx, 0.0, atol=1e-5 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_float16_in_float16_out(name, rng):
    x = normal(rng, (4, 100), np.float16)
    y = FORWARD[name](x).astype(np.float16)
    g = normal(rng, x.shape, np.float16)
    got = FUNCS[name](g, y)
    assert got.dtype == np.float16
    want = getattr(ref, name + "_backward")(g, y)
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=2e-3, atol=2e-3 * np.abs(want).max())


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_integer_grad_computes_in_float64(name, rng):
    y = FORWARD[name](normal(rng, (3, 10), np.float64))
    g = rng.integers(-3, 4, (3, 10))
    got = FUNCS[name](g, y)
    assert got.dtype == np.float64
    assert_backward_close(got, g.astype(np.float64), y, -1, 1.0, np.float64, log=name == "log_softmax")


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("into", ["grad", "y"])
def test_in_place_gives_the_same_numbers(name, into, dtype, rng):
    x = normal(rng, (300, 513), dtype, 2.0)
    y = FORWARD[name](x).astype(dtype)
    g = normal(rng, x.shape, dtype)
    expected = FUNCS[name](g, y)
    g2, y2 = g.copy(), y.copy()
    target = g2 if into == "grad" else y2
    result = FUNCS[name](g2, y2, out=target)
    assert result is target
    np.testing.assert_array_equal(target, expected)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_out_strided_view(name, dtype, rng):
    x = normal(rng, (6, 40), dtype)
    y = FORWARD[name](x).astype(dtype)
    g = normal(rng, x.shape, dtype)
    big = np.zeros((6, 80), dtype)
    FUNCS[name](g, y, out=big[:, ::2])
    assert_backward_close(big[:, ::2], g, y, -1, 1.0, dtype, log=name == "log_softmax")
    assert (big[:, 1::2] == 0).all()


@pytest.mark.numeric
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_rows_written_inside_the_next_rows_sum_loop(name, dtype, rng, restore_threads):
    # log_softmax_backward writes row r-1 inside row r's sum loop (rows over
    # 2 KB, several a thread); here with a ragged row length, an output over
    # the streaming threshold, misaligned outputs and 1 to 3 threads.
    n = 4097
    shape = (ops.stream_rows(dtype, n), n)
    y = FORWARD[name](normal(rng, shape, dtype, 3.0)).astype(dtype)
    g = normal(rng, shape, dtype)
    expected = FUNCS[name](g, y, temperature=0.7)
    assert_backward_close(expected, g, y, -1, 0.7, dtype, log=name == "log_softmax")
    base = np.empty(g.size + 16, dtype)
    for offset in (1, 3):
        out = base[offset:offset + g.size].reshape(shape)
        FUNCS[name](g, y, temperature=0.7, out=out)
        np.testing.assert_array_equal(out, expected, err_msg=f"output offset {offset} elements")
    for threads in (1, 3):
        fs.set_num_threads(threads)
        np.testing.assert_array_equal(FUNCS[name](g, y, temperature=0.7), expected, err_msg=f"{threads} threads")
