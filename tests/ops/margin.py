"""margin_cross_entropy (NormFace, CosFace, ArcFace, SphereFace, L-Softmax,
combined) in the op table; its peer is pytorch-metric-learning."""
from __future__ import annotations

import warnings
from typing import List

import numpy as np

import reference as ref

from .common import LOSS_RTOL, BadInput, OpInfo, Sample, assert_grad_close, assert_loss_close, assert_loss_part_close
from .inputs import dtype_cases, flag_cases, normal, with_argument, with_options

LOSSES = ("normface", "cosface", "arcface", "sphereface", "lsoftmax", "combined")
OPTIONS = {"combined": {"m1": 1.1, "m2": 0.3, "m3": 0.2}, "lsoftmax": {"lambda_": 0.5, "margin": 3}}


def _labels(rng, N, C, ignored=()):
    lab = rng.integers(0, C, N)
    lab[list(ignored)] = -1
    return lab


def _problem(N, d, C, loss, ignored=(), **kw):
    def build(rng, dt):
        x, w = normal(rng, (N, d), dt), normal(rng, (C, d), dt)
        return (x, w, _labels(rng, N, C, ignored)), dict(OPTIONS.get(loss, {}), loss=loss, return_grad=True, **kw)
    return build


def _samples() -> List[Sample]:
    out = []
    for loss in LOSSES:
        for red in ("mean", "sum", "none"):
            out.append(Sample(f"{loss}-9x5x7-{red}", _problem(9, 5, 7, loss, (3,), reduction=red)))
        out.append(Sample(f"{loss}-1x2x1", _problem(1, 2, 1, loss)))
        out.append(Sample(f"{loss}-3x40x2-scale", _problem(3, 40, 2, loss, scale=7.5)))
        out.append(Sample(f"{loss}-no-grad", lambda rng, dt, loss=loss: (
            _problem(6, 4, 5, loss)(rng, dt)[0], dict(OPTIONS.get(loss, {}), loss=loss))))
    out.append(Sample("arcface-past-pi", _past_pi))
    out.append(Sample("sphereface-every-k", _every_k))
    out.append(Sample("all-ignored", lambda rng, dt: (
        (normal(rng, (4, 3), dt), normal(rng, (5, 3), dt), np.full(4, -1)), {"return_grad": True})))
    out.append(Sample("ignore-index-7", lambda rng, dt: (
        (normal(rng, (4, 3), dt), normal(rng, (5, 3), dt), np.array([7, 0, 7, 4])),
        {"return_grad": True, "ignore_index": 7, "loss": "cosface"})))
    out.append(Sample("empty-batch", lambda rng, dt: (
        (np.zeros((0, 3), dt), normal(rng, (5, 3), dt), np.zeros(0, np.int64)), {"return_grad": True})))
    out.append(Sample("float-scale-int-labels", lambda rng, dt: (
        (normal(rng, (5, 3), dt), normal(rng, (4, 3), dt), np.array([0, 1, 2, 3, 0], np.int32)),
        {"return_grad": True, "loss": "normface", "scale": 3})))
    return out


def _past_pi(rng, dt):
    """Targets at angles past pi - margin (x against minus its class row)."""
    w = normal(rng, (3, 4), dt)
    x = (-w[[0, 1, 2, 0]] + 0.05 * normal(rng, (4, 4), dt)).astype(dt)
    return (x, w, np.array([0, 1, 2, 0])), {"return_grad": True, "loss": "arcface", "margin": 0.7}


def _every_k(rng, dt):
    """Angles across [0, pi], so that each branch k of psi is taken."""
    theta = np.linspace(0.1, np.pi - 0.1, 8)
    x = np.stack([np.cos(theta), np.sin(theta), np.zeros(8)], 1) * 2.0
    w = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    return (x.astype(dt), w.astype(dt), np.zeros(8, np.int64)), {"return_grad": True, "loss": "sphereface"}


def _real(v) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_, complex, np.complexfloating))


def _refused_options(kw: dict) -> List[str]:
    """Options valid alone, refused together (the fuzzer's rule): m1-m3 belong to
    "combined", lambda_ to "lsoftmax", no margin for normface and combined, an
    integer margin for sphereface and lsoftmax. (Values that are not real
    numbers are the fuzzer's own concern.)"""
    loss = kw.get("loss", "arcface")
    if not isinstance(loss, str) or loss not in LOSSES:
        return []
    bad = []
    if loss != "combined" and any(_real(kw.get(k, d)) and kw.get(k, d) != d
                                  for k, d in (("m1", 1.0), ("m2", 0.0), ("m3", 0.0))):
        bad += ["m1", "m2", "m3"]
    if loss != "lsoftmax" and _real(kw.get("lambda_", 0.0)) and kw.get("lambda_", 0.0) != 0.0:
        bad.append("lambda_")
    margin = kw.get("margin")
    if margin is not None and (loss in ("normface", "combined") or (
            loss in ("sphereface", "lsoftmax") and _real(margin) and not float(margin).is_integer())):
        bad.append("margin")
    return bad


def _reference(x, weight, labels, **kw):
    return ref.margin_cross_entropy(x, weight, labels, **kw)


def _compare(got, want, args, kwargs, dtype):
    grads = assert_loss_part_close(got, want, kwargs, dtype, "margin loss", np.shape(args[0])[0])
    if grads is None:
        return
    (gx, gw), _ = grads
    # the gradients' terms are as large as scale * |x| / |x|: relative to their row's largest
    atol = LOSS_RTOL[np.dtype(dtype)] * 10 * max(1.0, float(np.max(np.abs(want[1][0]), initial=0.0)))
    assert_grad_close(gx, want[1][0], dtype, "margin grad_x", atol)
    assert_grad_close(gw, want[1][1], dtype, "margin grad_weight", atol)


def _call():
    return (np.ones((4, 3), np.float32), np.ones((5, 3), np.float32), np.array([0, 1, 2, 3])), {"return_grad": True}


def _bad() -> List[BadInput]:
    return dtype_cases(_call, 0, "x") + dtype_cases(_call, 1, "weight") + flag_cases(_call, "return_grad") + [
        BadInput("loss-unknown", with_options(_call, loss="circleloss"), ValueError, "loss", contains=("arcface", "circleloss")),
        BadInput("loss-not-str", with_options(_call, loss=3), ValueError, "loss"),
        BadInput("reduction", with_options(_call, reduction="batchmean"), ValueError, "reduction"),
        BadInput("margin-float-sphereface", with_options(_call, loss="sphereface", margin=2.5), TypeError, "margin",
                 contains=("integer", "2.5")),
        BadInput("margin-zero-lsoftmax", with_options(_call, loss="lsoftmax", margin=0), ValueError, "margin"),
        BadInput("margin-str", with_options(_call, loss="arcface", margin="0.5"), TypeError, "margin"),
        BadInput("margin-negative", with_options(_call, loss="cosface", margin=-0.1), ValueError, "margin"),
        BadInput("margin-normface", with_options(_call, loss="normface", margin=0.2), ValueError, "margin"),
        BadInput("scale-zero", with_options(_call, scale=0.0), ValueError, "scale"),
        BadInput("scale-nan", with_options(_call, scale=np.nan), ValueError, "scale"),
        BadInput("m2-without-combined", with_options(_call, loss="arcface", m2=0.3), ValueError, "m1, m2, m3"),
        BadInput("lambda-without-lsoftmax", with_options(_call, loss="sphereface", lambda_=1.0), ValueError, "lambda_"),
        BadInput("lambda-negative", with_options(_call, loss="lsoftmax", lambda_=-1.0), ValueError, "lambda_"),
        BadInput("x-1d", with_argument(_call, 0, np.ones(3, np.float32)), ValueError, "x", contains=(r"\(3,\)",)),
        BadInput("weight-3d", with_argument(_call, 1, np.ones((5, 3, 1), np.float32)), ValueError, "weight"),
        BadInput("d-mismatch", with_argument(_call, 1, np.ones((5, 4), np.float32)), ValueError, "weight",
                 contains=(r"\(5, 4\)", r"\(4, 3\)")),
        BadInput("labels-float", with_argument(_call, 2, np.zeros(4)), TypeError, "labels"),
        BadInput("labels-shape", with_argument(_call, 2, np.zeros(3, np.int64)), ValueError, "labels", contains=(r"\(3,\)", "4")),
        BadInput("labels-too-big", with_argument(_call, 2, np.array([0, 1, 5, 3])), IndexError, "labels", contains=("5",)),
        BadInput("labels-negative", with_argument(_call, 2, np.array([0, -2, 1, 3])), IndexError, "labels", contains=("-2",)),
        BadInput("ignore-index-float", with_options(_call, ignore_index=-1.5), TypeError, "ignore_index"),
    ]


def _big(rng, dt):
    x, w = normal(rng, (600, 64), dt), normal(rng, (300, 64), dt)
    return (x, w, _labels(rng, 600, 300, (5, 17))), {"return_grad": True}


def _peer(rng, dt, peers) -> None:
    """pytorch-metric-learning 2.9 (its weight is weight.T; its margin for
    ArcFace is in degrees; mean over the batch), loss and both gradients."""
    import fastsoftmax as fs

    torch, losses = peers.torch, peers.pml.losses
    N, d, C = 24, 16, 50
    for loss, make, kw in (
            ("arcface", lambda: losses.ArcFaceLoss(C, d, margin=np.degrees(0.5), scale=64), {}),
            ("cosface", lambda: losses.CosFaceLoss(C, d, margin=0.35, scale=64), {}),
            ("sphereface", lambda: losses.SphereFaceLoss(C, d, margin=4), {}),
            ("lsoftmax", lambda: losses.LargeMarginSoftmaxLoss(C, d, margin=3), {"margin": 3}),
            ("normface", lambda: losses.NormalizedSoftmaxLoss(C, d, temperature=0.05), {})):
        x, w = normal(rng, (N, d), dt), normal(rng, (C, d), dt)
        labels = rng.integers(0, C, N)
        if loss == "arcface":  # pml's ArcFace jumps at theta = pi - margin; ours is continuous there
            cos = np.einsum("ij,ij->i", x, w[labels]) / np.linalg.norm(x, axis=1) / np.linalg.norm(w[labels], axis=1)
            x[cos < np.cos(np.pi - 0.6)] *= -1
        with warnings.catch_warnings():  # pml 2.9 on NumPy 2 and PyTorch 2.13: deprecations of theirs
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            peer = make().to(torch.float64 if dt == np.float64 else torch.float32)
            peer.W.data = torch.from_numpy(np.ascontiguousarray(w.T))
            xt = torch.from_numpy(x.copy()).requires_grad_()
            want = peer(xt, torch.from_numpy(labels))
            want.backward()
        got, (gx, gw) = fs.margin_cross_entropy(x, w, labels, loss=loss, return_grad=True, **kw)
        what = f"{loss} against pytorch-metric-learning"
        assert_loss_close(got, want.item(), dt, what, "mean", (N,))
        atol = LOSS_RTOL[np.dtype(dt)] * 10 * float(np.abs(xt.grad.numpy()).max())
        assert_grad_close(gx, xt.grad.numpy(), dt, what + " (grad_x)", atol)
        assert_grad_close(gw, peer.W.grad.numpy().T, dt, what + " (grad_weight)", atol)


OPS: List[OpInfo] = [
    OpInfo("margin_cross_entropy", "margin", _reference, _samples, _compare, _bad, _big, peer=_peer, blas=True,
           classes_at=(1, 0), refused_options=_refused_options),
]
