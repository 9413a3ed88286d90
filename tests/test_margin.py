"""margin_cross_entropy: the float64 reference (op table), and the edge
cases of SPEC section 3 and issue 16: cos(theta) at +-1, the arcface logit
past theta = pi - margin, ignored and empty batches, zero-norm embeddings."""
import math

import numpy as np
import pytest

import fastsoftmax as fs

import ops

MARGIN_OPS = ops.ops_in("margin")
LOSSES = ("normface", "cosface", "arcface", "sphereface", "lsoftmax", "combined")


@pytest.mark.numeric
@pytest.mark.parametrize("op,sample,dtype", ops.sample_params(MARGIN_OPS))
def test_matches_float64_reference(op, sample, dtype, rng):
    ops.run_sample(op, sample, dtype, rng)


def _at_angles(theta, d=3):
    """Unit embeddings at the given angles from the class row e_0 (class 0), and a second class."""
    x = np.zeros((len(theta), d))
    x[:, 0], x[:, 1] = np.cos(theta), np.sin(theta)
    w = np.eye(2, d)
    return x, w, np.zeros(len(theta), np.int64)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cos_at_plus_and_minus_one_gives_finite_gradients(loss, dtype):
    w = np.array([[1.0, 2.0, -0.5], [0.3, -1.0, 2.0]], dtype)
    x = np.concatenate([w[:1] * 3.0, -w[:1] * 0.5, w[1:] * 2.0]).astype(dtype)  # cos = 1, -1 and 1
    labels = np.array([0, 0, 1])
    loss_value, (gx, gw) = fs.margin_cross_entropy(x, w, labels, loss=loss, return_grad=True)
    assert np.isfinite(loss_value) and np.all(np.isfinite(gx)) and np.all(np.isfinite(gw))


def _target_logit(loss, theta, **kw):
    """The target logit at each angle: the loss of a row whose only other class has logit 0."""
    x, w, labels = _at_angles(theta)
    w[1] = [0.0, 0.0, 1.0]  # orthogonal to every x: logit 0 (lsoftmax, sphereface) or scale * 0
    rows = fs.margin_cross_entropy(x, w, labels, loss=loss, reduction="none", **kw)
    # loss = log(1 + exp(0 - f)) = softplus(-f): f = -log(expm1(loss))
    return -np.log(np.expm1(rows))


def test_arcface_past_pi_minus_margin_is_monotone_and_continuous():
    m, s = 0.5, 4.0
    theta = np.linspace(0.0, math.pi, 2001)
    f = _target_logit("arcface", theta, margin=m, scale=s)
    assert np.all(np.diff(f) <= 1e-12), "the target logit rises somewhere"
    # continuous: no step larger than the slope allows (|df/dtheta| <= s)
    assert np.max(np.abs(np.diff(f))) <= s * (theta[1] - theta[0]) * 1.01
    edge = math.pi - m
    past = theta > edge
    np.testing.assert_allclose(f[past], s * (np.cos(theta[past]) + math.cos(m) - 1.0), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(f[~past], s * np.cos(theta[~past] + m), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_sphereface_psi_is_monotone_and_continuous(m):
    theta = np.linspace(0.0, math.pi, 1001)
    x, w, labels = _at_angles(theta)
    w[1] = [0.0, 0.0, 1.0]
    f = -np.log(np.expm1(fs.margin_cross_entropy(x, w, labels, loss="sphereface", margin=m, reduction="none")))
    assert np.all(np.diff(f) <= 1e-9)
    assert np.max(np.abs(np.diff(f))) <= m * m * (theta[1] - theta[0]) * 1.01 + 1e-12
    np.testing.assert_allclose(f[[0, -1]], [1.0, 1.0 - 2.0 * m], atol=1e-12)


@pytest.mark.parametrize("reduction,want", [("mean", 0.0), ("sum", 0.0)])
def test_an_all_ignored_batch_has_zero_loss_and_gradient(reduction, want, rng):
    x, w = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    loss, (gx, gw) = fs.margin_cross_entropy(x, w, np.full(4, -1), reduction=reduction, return_grad=True)
    assert loss == want and not gx.any() and not gw.any()


def test_a_class_without_rows_only_gets_the_negative_gradient(rng):
    x, w = rng.normal(size=(6, 4)), rng.normal(size=(5, 4))
    labels = np.array([0, 1, 2, 0, 1, 2])  # classes 3 and 4 have no rows
    _, (_, gw) = fs.margin_cross_entropy(x, w, labels, loss="cosface", return_grad=True)
    # a class that is never a target only gets pushed away: its logits' gradients are all >= 0
    assert np.all(np.isfinite(gw)) and np.any(gw[3:] != 0)


@pytest.mark.parametrize("loss", LOSSES)
def test_zero_norm_embeddings_and_weights_give_finite_values(loss, rng):
    x, w = rng.normal(size=(4, 3)), rng.normal(size=(3, 3))
    x[1] = 0.0
    w[2] = 0.0
    value, (gx, gw) = fs.margin_cross_entropy(x, w, np.array([0, 1, 2, 2]), loss=loss, return_grad=True)
    assert np.isfinite(value) and np.all(np.isfinite(gx)) and np.all(np.isfinite(gw))


def test_float16_inputs_compute_in_float32(rng):
    x, w = rng.normal(size=(5, 4)), rng.normal(size=(6, 4))
    labels = rng.integers(0, 6, 5)
    loss, (gx, gw) = fs.margin_cross_entropy(x.astype(np.float16), w.astype(np.float16), labels, return_grad=True)
    assert loss.dtype == np.float16 and gx.dtype == np.float16 and gw.dtype == np.float16
    want, (wx, ww) = fs.margin_cross_entropy(x.astype(np.float16).astype(np.float32),
                                             w.astype(np.float16).astype(np.float32), labels, return_grad=True)
    assert loss == want.astype(np.float16)
    np.testing.assert_array_equal(gx, wx.astype(np.float16))


def test_mixed_dtypes_compute_in_the_wider(rng):
    x, w = rng.normal(size=(5, 4)), rng.normal(size=(6, 4))
    labels = rng.integers(0, 6, 5)
    loss, (gx, gw) = fs.margin_cross_entropy(x.astype(np.float32), w, labels, return_grad=True)
    assert loss.dtype == gx.dtype == gw.dtype == np.float64  # NumPy's promotion of the two
    want, (wx, ww) = fs.margin_cross_entropy(x.astype(np.float32).astype(np.float64), w, labels, return_grad=True)
    assert loss == want
    np.testing.assert_array_equal(gx, wx)


def test_integral_float_margin_is_taken_for_sphereface(rng):
    x, w = rng.normal(size=(5, 4)), rng.normal(size=(6, 4))
    labels = rng.integers(0, 6, 5)
    a = fs.margin_cross_entropy(x, w, labels, loss="sphereface", margin=3)
    assert fs.margin_cross_entropy(x, w, labels, loss="sphereface", margin=3.0) == a
