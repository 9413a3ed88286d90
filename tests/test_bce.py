"""binary_cross_entropy_with_logits: reference parity over the sample table,
PyTorch (loss and autograd gradient, weight / pos_weight broadcasting),
dtype rules, grad_out= and in-place gradients."""
from __future__ import annotations

import numpy as np
import pytest

import fastsoftmax as fs

import ops
import reference as ref
from ops import normal

BCE_OPS = ops.ops_in("bce")


def bce(*args, **kwargs):
    # looked up at call time, so the conftest's input guard wraps every call
    return fs.binary_cross_entropy_with_logits(*args, **kwargs)


@pytest.mark.numeric
@pytest.mark.parametrize("op,sample,dtype", ops.sample_params(BCE_OPS))
def test_matches_float64_reference(op, sample, dtype, rng):
    ops.run_sample(op, sample, dtype, rng)


def torch_bce(torch, logits, target, reduction="mean", weight=None, pos_weight=None):
    x = torch.from_numpy(np.array(logits, np.float64)).requires_grad_(True)
    t = torch.from_numpy(np.array(target, np.float64))
    w = None if weight is None else torch.from_numpy(np.array(weight, np.float64))
    pw = None if pos_weight is None else torch.from_numpy(np.array(pos_weight, np.float64))
    loss = torch.nn.functional.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction=reduction)
    loss.sum().backward()
    return loss.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weights", ["none", "weight-full", "weight-row", "pos_weight", "both"])
@pytest.mark.parametrize("shape", [(8, 13), (3, 4, 33)], ids=["8x13", "3x4x33"])
def test_matches_torch(reduction, weights, shape, dtype, rng, torch):
    x = normal(rng, shape, dtype, 4.0)
    t = rng.random(shape).astype(dtype)
    C = shape[-1]
    weight = {"weight-full": rng.uniform(0.1, 2, shape), "weight-row": rng.uniform(0.1, 2, shape[:-1] + (1,)),
              "both": rng.uniform(0.1, 2, (C,))}.get(weights)
    pos_weight = rng.uniform(0.2, 5, (C,)) if weights in ("pos_weight", "both") else None
    weight = None if weight is None else weight.astype(dtype)
    pos_weight = None if pos_weight is None else pos_weight.astype(dtype)
    loss, grad = bce(x, t, weight=weight, pos_weight=pos_weight, reduction=reduction, return_grad=True)
    want_loss, want_grad = torch_bce(torch, x, t, reduction, weight, pos_weight)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    assert np.shape(loss) == np.shape(want_loss)
    assert np.asarray(loss).dtype == dtype and grad.dtype == dtype
    np.testing.assert_allclose(loss, want_loss, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=rtol * np.abs(want_grad).max())


def test_extreme_logits_stay_finite_like_torch(dtype, torch):
    x = np.array([1e30, -1e30, 80.0, -80.0, 0.0], dtype)
    t = np.array([1.0, 0.0, 1.0, 0.0, 0.5], dtype)
    loss, grad = bce(x, t, reduction="none", return_grad=True)
    want_loss, want_grad = torch_bce(torch, x, t, "none")
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=1e-30)


def test_infinite_and_nan_logits_like_torch(dtype, torch):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, np.inf, -np.inf, 5.0, -5.0, 1.0], dtype)
    t = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.5, 0.5, np.nan], dtype)
    loss, grad = bce(x, t, reduction="none", return_grad=True)
    want_loss, want_grad = torch_bce(torch, x, t, "none")
    # x = -inf with t = 1 is a certain miss: the loss is +inf. PyTorch's form
    # (1 - t) x + softplus(-x) gives 0 * -inf = NaN there.
    assert loss[5] == np.inf and np.isnan(want_loss[5])
    want_loss[5] = np.inf
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6)   # NaN where torch has NaN
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6)


def _softplus_reference(x):
    """log(1 + exp(x)) in 50 digits."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    return np.array([float(mpmath.log1p(mpmath.exp(mpmath.mpf(float(v))))) for v in x])


@pytest.mark.numeric
def test_softplus_keeps_its_relative_accuracy(dtype, rng):
    # t = 1 gives the loss softplus(-x), t = 0 softplus(x), over every |x| from
    # the tiny (softplus ~ log 2) to where exp(-|x|) leaves the normal range,
    # both signs. Bound: 2 ulp (measured 1.0 in double, 1.34 in float, whose
    # exp is within 1.5 ulp: exp-inl.h).
    top = 708.0 if dtype == np.float64 else 87.0
    mag = np.concatenate([[0.0, 1e-30, 1e-20, 1e-8, 0.5, np.log(2.0), 0.88137, 1.0, 30.0, top],
                          np.exp(rng.uniform(np.log(1e-12), np.log(top), 3000))]).astype(dtype)
    x = np.concatenate([mag, -mag])
    bound = 2.0
    for t in (0.0, 1.0):
        loss = bce(x, np.full_like(x, t), reduction="none").astype(np.float64)
        want = _softplus_reference(x if t == 0.0 else -x)
        err = np.abs(loss - want) / np.spacing(np.abs(want).astype(dtype)).astype(np.float64)
        worst = int(np.argmax(err - bound))
        assert (err <= bound).all(), f"t={t}: {err[worst]:.2f} ulp at x={x[worst]!r}"


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 9, 10, 13, 70_001])
def test_element_results_do_not_depend_on_the_layout(n, dtype, rng):
    # Contiguous operands run as one flat row; a strided target keeps the
    # rows apart. Each element's loss and gradient must be bitwise the same.
    rows = max(1, 60 // n) + 2
    x = normal(rng, (rows, n), dtype, 4.0)
    t = rng.random((rows, n)).astype(dtype)
    t_strided = np.repeat(t, 2, axis=1)[:, ::2]
    assert not t_strided.flags.c_contiguous
    flat = bce(x, t, reduction="none", return_grad=True)
    by_row = bce(x, t_strided, reduction="none", return_grad=True)
    for got, want in zip(flat, by_row):
        assert got.tobytes() == want.tobytes()
    total = bce(x, t, reduction="sum")
    np.testing.assert_allclose(total, np.sum(ref.f64(flat[0])), rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("n", [1, 3, 10, 300])
def test_row_weights_group_rows_without_changing_an_element(n, dtype, rng):
    # Weights of shape (n,) with contiguous logits: groups of 2048 // n rows
    # run as one row with the weights tiled, the last rows % k as they are.
    # Each element's loss and gradient must be bitwise those of the row by
    # row run (a strided target), and the loss that of the reference.
    k = 2048 // n
    rows = 3 * k + k // 2 + 1
    x = normal(rng, (rows, n), dtype, 4.0)
    t = rng.random((rows, n)).astype(dtype)
    t_strided = np.repeat(t, 2, axis=1)[:, ::2]
    pos_weight = rng.uniform(0.5, 3.0, n).astype(dtype)
    weight = rng.uniform(0.1, 2.0, (rows, n)).astype(dtype)
    for kw in ({"pos_weight": pos_weight}, {"weight": pos_weight}, {"pos_weight": pos_weight, "weight": weight}):
        grouped = bce(x, t, reduction="none", return_grad=True, **kw)
        by_row = bce(x, t_strided, reduction="none", return_grad=True, **kw)
        for got, want in zip(grouped, by_row):
            assert got.tobytes() == want.tobytes(), kw
        want_loss = ref.binary_cross_entropy_with_logits(x, t, reduction="sum", **kw)[0]
        np.testing.assert_allclose(bce(x, t, reduction="sum", **kw), want_loss,
                                   rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("shape", [(65536, 10), (1, 600_000), (3, 200_001)], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("strided", [False, True], ids=["flat", "rows"])
def test_thread_count_does_not_change_a_bit(shape, strided, rng, restore_threads):
    # flat runs and long rows are cut at fixed offsets, whatever the threads
    x = normal(rng, shape, np.float32, 4.0)
    t = rng.random(shape).astype(np.float32)
    if strided:
        t = np.repeat(t, 2, axis=1)[:, ::2]
    results = []
    for threads in (1, 2, 3):
        fs.set_num_threads(threads)
        loss, grad = bce(x, t, reduction="sum", return_grad=True)
        results.append((loss.tobytes(), grad.tobytes()))
    assert results[1] == results[0] and results[2] == results[0]


def test_empty_mean_is_zero(dtype):
    loss, grad = bce(np.zeros((0, 4), dtype), np.zeros((0, 4), dtype), return_grad=True)
    assert loss == 0 and np.isfinite(loss) and grad.shape == (0, 4)


def test_float16_logits(rng):
    x = normal(rng, (6, 40), np.float16, 3.0)
    t = rng.random((6, 40)).astype(np.float16)
    loss, grad = bce(x, t, return_grad=True)
    assert loss.dtype == np.float16 and grad.dtype == np.float16
    want_loss, want_grad = ref.binary_cross_entropy_with_logits(x, t)
    np.testing.assert_allclose(float(loss), want_loss, rtol=2e-3)
    np.testing.assert_allclose(grad.astype(np.float64), want_grad, rtol=2e-3, atol=1e-7)


def test_integer_target_with_float_logits(dtype, rng):
    x = normal(rng, (5, 7), dtype)
    t = rng.integers(0, 2, (5, 7))
    loss = bce(x, t)
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss, ref.binary_cross_entropy_with_logits(x, t)[0],
                               rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("shape", [(7, 33), "stream"], ids=["7x33", "stream"])
def test_grad_out_logits_in_place(shape, dtype, rng):
    if shape == "stream":
        shape = (ops.stream_rows(dtype, 4000), 4000)
    x = normal(rng, shape, dtype, 3.0)
    t = rng.random(shape).astype(dtype)
    pw = np.linspace(0.5, 3, shape[-1]).astype(dtype)
    loss, grad = bce(x, t, pos_weight=pw, return_grad=True)
    buf = x.copy()
    loss2, g2 = bce(buf, t, pos_weight=pw, return_grad=True, grad_out=buf)
    assert g2 is buf and loss2 == loss
    np.testing.assert_array_equal(buf, grad)


def test_grad_out_strided(dtype, rng):
    x = normal(rng, (5, 30), dtype)
    t = rng.random((5, 30)).astype(dtype)
    _, grad = bce(x, t, return_grad=True)
    big = np.zeros((10, 30), dtype)
    bce(x, t, return_grad=True, grad_out=big[::-2])
    np.testing.assert_array_equal(big[::-2], grad)
    assert (big[::2] == 0).all()


# ---------------------------------------------------------------- weights that are views of grad_out

@pytest.mark.parametrize("which", ["weight", "pos_weight"])
@pytest.mark.parametrize("shape,view", [((3, 4), "row0"), ((1000, 8), "row0"), ((6, 5), "whole"),
                                        ((6, 5), "column")])
def test_a_weight_that_is_a_view_of_grad_out_is_read_as_it_was(which, shape, view, rng):
    # the weight is read before the kernel writes the gradient over it (a
    # broadcast row of grad_out made every row but the first see gradients)
    x = normal(rng, shape, np.float64)
    t = (rng.random(shape) < 0.5).astype(np.float64)
    g = np.empty(shape)
    g[...] = rng.uniform(0.5, 2.0, shape)
    w = {"row0": g[0], "whole": g, "column": g[:, :1]}[view]
    want = fs.binary_cross_entropy_with_logits(x, t, reduction="sum", return_grad=True, **{which: w.copy()})
    loss = fs.binary_cross_entropy_with_logits(x, t, reduction="sum", grad_out=g, **{which: w})
    assert loss == want[0]
    assert np.array_equal(g, want[1])


def test_the_reported_aliasing_case():
    x, t = np.zeros((3, 4)), np.ones((3, 4))
    g = np.zeros((3, 4))
    g[0] = 2.0
    loss = fs.binary_cross_entropy_with_logits(x, t, weight=g[0], reduction="sum", grad_out=g)
    assert np.isclose(loss, 12 * 2 * np.log(2)) and np.allclose(g, -1.0)
