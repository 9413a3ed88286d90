"""cross_entropy: reference parity over the sample table, PyTorch (loss and
autograd gradient, class axis moved), the documented differences from
PyTorch, z_loss, dtype rules, grad_out= and in-place gradients."""
from __future__ import annotations

import numpy as np
import pytest

import fastsoftmax as fs

import ops
import reference as ref
from ops import assert_grad_close, assert_loss_close, index_target, normal, prob_target

XENT_OPS = ops.ops_in("cross_entropy")


@pytest.mark.numeric
@pytest.mark.parametrize("op,sample,dtype", ops.sample_params(XENT_OPS))
def test_matches_float64_reference(op, sample, dtype, rng):
    ops.run_sample(op, sample, dtype, rng)


# ---------------------------------------------------------------- PyTorch

def torch_cross_entropy(torch, logits, target, reduction="mean", **kw):
    """PyTorch's loss and d(loss)/d(logits) ("none": of the sum), class axis last."""
    x = torch.from_numpy(np.ascontiguousarray(logits, np.float64)).requires_grad_(True)
    xm = x.movedim(-1, 1) if x.ndim > 2 else x   # PyTorch: classes on axis 1
    t = np.asarray(target)
    if t.dtype.kind == "f":
        tt = torch.from_numpy(np.ascontiguousarray(t, np.float64))
        tt = tt.movedim(-1, 1) if tt.ndim > 2 else tt
    else:
        tt = torch.from_numpy(np.ascontiguousarray(t, np.int64))
    if "weight" in kw and kw["weight"] is not None:
        kw["weight"] = torch.from_numpy(np.asarray(kw["weight"], np.float64))
    loss = torch.nn.functional.cross_entropy(xm, tt, reduction=reduction, **kw)
    loss.sum().backward()
    return loss.detach().numpy(), x.grad.numpy()


TORCH_CASES = {
    "plain": dict(),
    "weight": dict(weight=True),
    "ignore": dict(ignore=True),
    "custom-ignore_index": dict(ignore=True, ignore_index=2),
    "smoothing": dict(label_smoothing=0.15),
    "weight-ignore-smoothing": dict(weight=True, ignore=True, label_smoothing=0.2),
    "probs": dict(probs=True),
    "probs-weight-smoothing": dict(probs=True, weight=True, label_smoothing=0.3),
}


@pytest.mark.parametrize("case", list(TORCH_CASES))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(16, 9), (4, 1025), (2, 3, 17)], ids=["16x9", "4x1025", "2x3x17"])
def test_matches_torch(case, reduction, shape, dtype, rng, torch):
    opts = TORCH_CASES[case]
    C = shape[-1]
    x = normal(rng, shape, dtype, 3.0)
    ignore_index = opts.get("ignore_index", -100)
    if opts.get("probs"):
        target = prob_target(rng, shape, dtype)
    else:
        target = index_target(rng, shape[:-1], C, 0.3 if opts.get("ignore") else 0.0, ignore_index)
        target.reshape(-1)[0] = 0 if ignore_index != 0 else 1   # at least one row counts
    weight = rng.uniform(0.2, 2.0, C).astype(dtype) if opts.get("weight") else None
    eps = opts.get("label_smoothing", 0.0)
    loss, grad = fs.cross_entropy(x, target, weight=weight, ignore_index=ignore_index, reduction=reduction,
                                  label_smoothing=eps, return_grad=True)
    want_loss, want_grad = torch_cross_entropy(torch, x, target, reduction, weight=weight,
                                               ignore_index=ignore_index, label_smoothing=eps)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    assert np.shape(loss) == np.shape(want_loss)
    np.testing.assert_allclose(loss, want_loss, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=rtol * np.abs(want_grad).max())


def test_all_ignored_mean_is_zero_where_torch_gives_nan(dtype, rng, torch):
    x = normal(rng, (4, 7), dtype)
    t = np.full(4, -100)
    loss, grad = fs.cross_entropy(x, t, return_grad=True)
    assert loss == 0.0 and np.isfinite(loss)
    assert (grad == 0).all()
    # the documented difference: PyTorch divides 0 by 0
    want, _ = torch_cross_entropy(torch, x, t)
    assert np.isnan(want)


def test_empty_batch_mean_is_zero(dtype):
    loss, grad = fs.cross_entropy(np.zeros((0, 5), dtype), np.zeros(0, np.int64), return_grad=True)
    assert loss == 0.0 and isinstance(loss, np.generic) and loss.dtype == dtype
    assert grad.shape == (0, 5) and grad.dtype == dtype


# ---------------------------------------------------------------- z_loss, options

def test_z_loss_adds_lse_squared_per_counted_row(dtype, rng):
    x = normal(rng, (6, 20), dtype, 3.0)
    t = index_target(rng, (6,), 20)
    t[2] = -100
    z = 0.05
    base = fs.cross_entropy(x, t, reduction="none")
    with_z = fs.cross_entropy(x, t, reduction="none", z_loss=z)
    lse = ref.logsumexp(x, axis=-1)
    want = np.where(t != -100, z * lse**2, 0.0)
    np.testing.assert_allclose(with_z.astype(np.float64) - base.astype(np.float64), want,
                               rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-5)
    # "mean" divides the z term by the same count of non-ignored rows
    mean_z = fs.cross_entropy(x, t, z_loss=z) - fs.cross_entropy(x, t)
    np.testing.assert_allclose(mean_z, want.sum() / 5, rtol=1e-4 if dtype == np.float32 else 1e-12)


def test_index_target_equals_one_hot_probabilities(dtype, rng):
    # PyTorch's two target forms agree for one-hot probabilities, smoothing and
    # weights included (for "sum"; the means use different divisors).
    x = normal(rng, (9, 33), dtype, 2.0)
    t = index_target(rng, (9,), 33)
    onehot = np.eye(33, dtype=dtype)[t]
    w = rng.uniform(0.5, 1.5, 33).astype(dtype)
    kw = dict(weight=w, label_smoothing=0.1, reduction="sum", return_grad=True)
    l1, g1 = fs.cross_entropy(x, t, **kw)
    l2, g2 = fs.cross_entropy(x, onehot, **kw)
    assert_loss_close(l1, float(l2), dtype, "index vs one-hot loss", "sum", ())
    assert_grad_close(g1, g2.astype(np.float64), dtype, "index vs one-hot grad")


def test_return_grad_false_returns_only_the_loss(dtype, rng):
    x = normal(rng, (5, 9), dtype)
    t = index_target(rng, (5,), 9)
    loss = fs.cross_entropy(x, t)
    assert isinstance(loss, np.generic) and loss.dtype == dtype
    assert_loss_close(loss, ref.cross_entropy(x, t)[0], dtype, "loss", "mean", ())


# ---------------------------------------------------------------- dtypes

def test_float16_logits(rng):
    x = normal(rng, (8, 50), np.float16, 2.0)
    t = index_target(rng, (8,), 50)
    loss, grad = fs.cross_entropy(x, t, return_grad=True)
    assert loss.dtype == np.float16 and grad.dtype == np.float16
    want_loss, want_grad = ref.cross_entropy(x, t)
    np.testing.assert_allclose(float(loss), want_loss, rtol=2e-3)
    np.testing.assert_allclose(grad.astype(np.float64), want_grad, rtol=2e-3, atol=2e-3 * np.abs(want_grad).max())


def test_integer_logits_compute_in_float64(rng):
    x = rng.integers(-5, 5, (6, 11))
    t = index_target(rng, (6,), 11)
    loss, grad = fs.cross_entropy(x, t, return_grad=True)
    assert loss.dtype == np.float64 and grad.dtype == np.float64
    want_loss, want_grad = ref.cross_entropy(x, t)
    assert_loss_close(loss, want_loss, np.float64, "loss", "mean", ())
    assert_grad_close(grad, want_grad, np.float64, "grad")


# ---------------------------------------------------------------- grad_out= and in-place

@pytest.mark.parametrize("target_kind", ["index", "probs"])
@pytest.mark.parametrize("shape", [(7, 513), "stream"], ids=["7x513", "stream"])
def test_grad_out_logits_overwrites_them_with_the_same_gradient(target_kind, shape, dtype, rng):
    if shape == "stream":  # a gradient over the streaming-store threshold
        shape = (ops.stream_rows(dtype, 4100), 4100)
    x = normal(rng, shape, dtype, 3.0)
    t = index_target(rng, shape[:-1], shape[-1], 0.2) if target_kind == "index" else prob_target(rng, shape, dtype)
    kw = dict(label_smoothing=0.1, z_loss=1e-3, weight=np.linspace(0.5, 2, shape[-1]).astype(dtype))
    loss, grad = fs.cross_entropy(x, t, return_grad=True, **kw)
    buf = x.copy()
    loss2, grad2 = fs.cross_entropy(buf, t, return_grad=True, grad_out=buf, **kw)
    assert grad2 is buf
    assert loss2 == loss
    np.testing.assert_array_equal(buf, grad)


def test_grad_out_preallocated_and_strided(dtype, rng):
    x = normal(rng, (6, 40), dtype)
    t = index_target(rng, (6,), 40)
    _, grad = fs.cross_entropy(x, t, return_grad=True)
    out = np.full_like(x, np.nan)
    loss, g = fs.cross_entropy(x, t, return_grad=True, grad_out=out)
    assert g is out
    np.testing.assert_array_equal(out, grad)
    big = np.zeros((6, 80), dtype)
    fs.cross_entropy(x, t, return_grad=True, grad_out=big[:, ::-2])
    np.testing.assert_array_equal(big[:, ::-2], grad)
    assert (big[:, ::2] == 0).all()


# ---------------------------------------------------------------- rows too long to keep their exp values

XENT_LONG_CASES = {
    "plain": dict(),
    "weight-ignore-smoothing": dict(weight=True, ignore=True, label_smoothing=0.2, z_loss=1e-3),
    "probs-weight-smoothing": dict(probs=True, weight=True, label_smoothing=0.3),
}


@pytest.mark.numeric
@pytest.mark.parametrize("case", list(XENT_LONG_CASES))
def test_vocabularies_too_long_to_keep_their_exps(case, dtype, rng, restore_threads):
    # Rows over 1 MB (AVX-512) or 4 MB (other levels) do not keep their exp
    # values for the gradient: its writer computes them again, with each
    # chunk's own shift. Right, and the same bits for any thread count and
    # output alignment.
    opts = XENT_LONG_CASES[case]
    C = (1 << 22) // np.dtype(dtype).itemsize + 1029   # over 4 MB a row, a ragged last chunk
    x = normal(rng, (3, C), dtype, 3.0)
    x[1, :70_000] -= 60.0          # chunk maxima far apart: a lane with the wrong chunk's shift shows
    x[2, C - 3] = 30.0             # the max in the last chunk
    if opts.get("probs"):
        t = prob_target(rng, x.shape, dtype)
    else:
        t = np.array([5, C - 3, -100 if opts.get("ignore") else 70_001])
    kw = dict(label_smoothing=opts.get("label_smoothing", 0.0), z_loss=opts.get("z_loss", 0.0),
              weight=np.linspace(0.5, 2, C).astype(dtype) if opts.get("weight") else None)
    loss, grad = fs.cross_entropy(x, t, reduction="sum", return_grad=True, **kw)
    want_loss, want_grad = ref.cross_entropy(x, t, reduction="sum", **kw)
    assert_loss_close(loss, want_loss, dtype, "loss", "sum", ())
    assert_grad_close(grad, want_grad, dtype, "grad")
    base = np.empty(x.size + 16, dtype)
    out = base[3:3 + x.size].reshape(x.shape)
    fs.cross_entropy(x, t, reduction="sum", return_grad=True, grad_out=out, **kw)
    np.testing.assert_array_equal(out, grad, err_msg="output 3 elements off its alignment")
    for threads in (1, 3):
        fs.set_num_threads(threads)
        np.testing.assert_array_equal(fs.cross_entropy(x, t, reduction="sum", return_grad=True, **kw)[1], grad,
                                      err_msg=f"{threads} threads")


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_special_logits_in_counted_rows_match_torch(label_smoothing, dtype, torch):
    # +inf and NaN make the row NaN, -inf is a class of probability 0 (the
    # op table's counted-rows-hold-inf-and-nan samples check the same against
    # tests/reference.py)
    x = np.zeros((6, 9), dtype)
    x[:] = np.linspace(-2, 2, 9)
    x[0, 4] = np.inf
    x[1, 0] = np.inf
    x[2, 5] = np.nan
    x[3, :5] = -np.inf
    x[4, 5:] = -np.inf
    x[5] = -np.inf
    t = np.array([0, 0, 1, 2, 3, 4])
    loss, grad = fs.cross_entropy(x, t, reduction="none", label_smoothing=label_smoothing, return_grad=True)
    want_loss, want_grad = torch_cross_entropy(torch, x, t, "none", label_smoothing=label_smoothing)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(loss, want_loss, rtol=rtol, atol=rtol)   # NaN and inf where torch has them
    np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=rtol)


# ---------------------------------------------------------------- a class axis in slices

@pytest.mark.parametrize("C,cuts", [(10, (4,)), (37, (5, 20)), (5000, (1300, 2600, 3900))])
@pytest.mark.parametrize("options", ["plain", "ignore", "smoothing-weights-z"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_slices_of_the_classes_add_up_to_the_whole(C, cuts, options, reduction, dtype, rng, torch):
    x = normal(rng, (23, C), dtype, 3.0)
    t = rng.integers(0, C, 23)
    kw = {}
    if options != "plain":
        t[::4] = -100
    if options == "smoothing-weights-z":
        kw = {"weight": rng.uniform(0.2, 2.0, C).astype(dtype), "label_smoothing": 0.15, "z_loss": 1e-2}
    whole_loss, whole_grad = fs.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
    lse = fs.logsumexp(x.astype(np.float64))
    bounds = (0, *cuts, C)
    losses, grads = [], []
    for lo, hi in zip(bounds, bounds[1:]):
        loss, grad = fs.cross_entropy(np.ascontiguousarray(x[:, lo:hi]), t, reduction=reduction, return_grad=True,
                                      lse=lse, class_offset=lo, num_classes=C, **kw)
        losses.append(np.asarray(loss, np.float64))
        grads.append(grad)
    tol = ops.LOSS_RTOL[dtype]
    np.testing.assert_allclose(sum(losses), np.asarray(whole_loss, np.float64), rtol=tol, atol=tol)
    np.testing.assert_allclose(np.concatenate(grads, axis=1), whole_grad, rtol=tol, atol=tol * np.abs(whole_grad).max())
    # and the whole against PyTorch, the slices' sum with it
    if options != "smoothing-weights-z":
        want = torch.nn.functional.cross_entropy(torch.from_numpy(x.astype(np.float64)), torch.from_numpy(t),
                                                 reduction=reduction).numpy()
        np.testing.assert_allclose(sum(losses), want, rtol=tol, atol=tol)


def test_a_slice_without_the_target_gets_the_softmax_gradient(rng):
    x = normal(rng, (4, 12), np.float64)
    t = np.array([0, 1, 11, 2])
    lse = fs.logsumexp(x)
    loss, grad = fs.cross_entropy(x[:, 6:].copy(), t, reduction="none", return_grad=True, lse=lse,
                                  class_offset=6, num_classes=12)
    p = np.exp(x - lse[:, None])[:, 6:]
    p[2, 5] -= 1.0
    assert loss.tolist()[:2] == [0.0, 0.0] and loss[3] == 0.0
    np.testing.assert_allclose(loss[2], lse[2] - x[2, 11], rtol=1e-14)
    np.testing.assert_allclose(grad, p, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("kwargs,exc,pattern", [
    ({"class_offset": 2}, ValueError, "lse"),
    ({"num_classes": 9}, ValueError, "lse"),
    ({"lse": np.zeros(3)}, ValueError, r"lse.*\(3,\).*\(4,\)"),
    ({"lse": np.zeros(4), "class_offset": 5, "num_classes": 9}, ValueError, "class_offset=5"),
    ({"lse": np.zeros(4), "class_offset": -1, "num_classes": 9}, ValueError, "class_offset=-1"),
    ({"lse": np.zeros(4), "num_classes": 2}, ValueError, "num_classes=2"),
    ({"lse": np.zeros(4), "class_offset": 1.5, "num_classes": 9}, TypeError, "class_offset"),
    ({"lse": np.zeros(4), "num_classes": 9, "weight": np.ones(5)}, ValueError, r"weight.*\(5,\).*\(9,\)"),
    ({"lse": np.zeros(4, complex), "num_classes": 9}, TypeError, "lse"),
])
def test_bad_slices_are_refused(kwargs, exc, pattern):
    x = np.zeros((4, 5))
    with pytest.raises(exc, match=pattern):
        fs.cross_entropy(x, np.array([0, 1, 2, 3]), **kwargs)


def test_slices_take_class_indices_only_and_check_them_against_all_classes():
    x = np.zeros((2, 5))
    with pytest.raises(ValueError, match="lse"):
        fs.cross_entropy(x, np.full((2, 5), 0.2), lse=np.zeros(2))
    with pytest.raises(IndexError, match=r"target\[1\] = 9"):
        fs.cross_entropy(x, np.array([8, 9]), lse=np.zeros(2), class_offset=3, num_classes=9)
    fs.cross_entropy(x, np.array([8, 0]), lse=np.zeros(2), class_offset=3, num_classes=9)  # both valid


@pytest.mark.numeric
@pytest.mark.parametrize("n", [7, 128, 1000])
def test_confident_rows_keep_the_loss_accurate(n, dtype, rng):
    # the target is each row's maximum and the loss small: against 50-digit
    # mpmath within 4 ulps, where lse - x_t lost up to 1900 (PyTorch: 690)
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    x = (rng.standard_normal((24, n)) * 4.0).astype(dtype)
    t = np.argmax(x, axis=1)
    for rows in (x[:3], x):  # tiny tiles and ordinary rows
        got = fs.cross_entropy(rows, t[:len(rows)], reduction="none")
        for r, (row, ti) in enumerate(zip(rows, t)):
            v = [mpmath.mpf(float(e)) for e in row]
            want = mpmath.log(mpmath.fsum(mpmath.exp(e) for e in v)) - v[ti]
            err = abs(mpmath.mpf(float(got[r])) - want) / (abs(want) * np.finfo(dtype).eps)
            assert err <= 4, f"row {r}: {float(err):.1f} ulps"
