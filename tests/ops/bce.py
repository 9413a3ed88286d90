"""binary_cross_entropy_with_logits in the op table."""
from __future__ import annotations

from typing import List

import numpy as np

import reference as ref

from .common import (LOSS_LENGTHS, LOSS_RTOL, BadInput, OpInfo, Sample, assert_loss_close, assert_within,
                     check_dtype, stream_rows)
from .inputs import dtype_cases, flag_cases, normal, out_cases


def _bce_samples() -> List[Sample]:
    out = []
    for n in LOSS_LENGTHS:
        for red in ("mean", "sum", "none"):
            out.append(Sample(f"5x{n}-{red}", lambda rng, dt, n=n, r=red: (
                (normal(rng, (5, n), dt, 3.0), rng.random((5, n)).astype(dt)),
                {"reduction": r, "return_grad": True})))
    for red in ("mean", "sum", "none"):
        out.append(Sample(f"weight-full-{red}", lambda rng, dt, r=red: (
            (normal(rng, (6, 13), dt, 3.0), (rng.random((6, 13)) < 0.5).astype(dt)),
            {"weight": rng.uniform(0.1, 2.0, (6, 13)).astype(dt), "reduction": r, "return_grad": True})))
        out.append(Sample(f"pos_weight-{red}", lambda rng, dt, r=red: (
            (normal(rng, (6, 13), dt, 3.0), rng.random((6, 13)).astype(dt)),
            {"pos_weight": rng.uniform(0.1, 5.0, 13).astype(dt), "reduction": r, "return_grad": True})))
        out.append(Sample(f"both-weights-3d-{red}", lambda rng, dt, r=red: (
            (normal(rng, (2, 4, 9), dt, 3.0), rng.random((2, 4, 9)).astype(dt)),
            {"weight": rng.uniform(0.1, 2.0, (4, 1)).astype(dt),
             "pos_weight": rng.uniform(0.1, 5.0, 9).astype(dt), "reduction": r, "return_grad": True})))
    out.append(Sample("weight-row-broadcast", lambda rng, dt: (
        (normal(rng, (6, 13), dt), rng.random((6, 13)).astype(dt)),
        {"weight": rng.uniform(0.1, 2.0, (6, 1)).astype(dt), "return_grad": True})))
    out.append(Sample("weight-scalar", lambda rng, dt: (
        (normal(rng, (6, 13), dt), rng.random((6, 13)).astype(dt)),
        {"weight": np.asarray(0.7, dt), "pos_weight": np.asarray(3.0, dt), "return_grad": True})))
    out.append(Sample("pos_weight-2d", lambda rng, dt: (
        (normal(rng, (6, 13), dt), rng.random((6, 13)).astype(dt)),
        {"pos_weight": rng.uniform(0.1, 5.0, (6, 13)).astype(dt), "return_grad": True, "reduction": "sum"})))
    out.append(Sample("extreme-logits", lambda rng, dt: (
        (np.array([[1e30, -1e30, 100.0, -100.0, 0.0, 40.0, -40.0, 1e-30]], dt),
         np.array([[0.0, 1.0, 0.3, 0.7, 0.5, 0.0, 1.0, 1.0]], dt)),
        {"reduction": "none", "return_grad": True, "pos_weight": np.full(8, 2.0, dt)})))
    out.append(Sample("1d", lambda rng, dt: ((normal(rng, (37,), dt), rng.random(37).astype(dt)),
                                             {"return_grad": True})))
    out.append(Sample("0d", lambda rng, dt: ((np.asarray(0.3, dt), np.asarray(1.0, dt)),
                                             {"reduction": "none", "return_grad": True})))
    out.append(Sample("4d", lambda rng, dt: ((normal(rng, (2, 3, 2, 5), dt), rng.random((2, 3, 2, 5)).astype(dt)),
                                             {"return_grad": True})))
    out.append(Sample("strided", lambda rng, dt: (
        (normal(rng, (5, 40), dt)[:, ::2], rng.random((5, 40)).astype(dt)[:, ::-2]), {"return_grad": True})))
    out.append(Sample("transposed", lambda rng, dt: (
        (normal(rng, (20, 5), dt).T, rng.random((5, 20)).astype(dt)), {"return_grad": True,
                                                                       "reduction": "none"})))
    out.append(Sample("empty-sum", lambda rng, dt: ((np.zeros((0, 5), dt), np.zeros((0, 5), dt)),
                                                    {"reduction": "sum", "return_grad": True})))
    out.append(Sample("empty-none", lambda rng, dt: ((np.zeros((3, 0), dt), np.zeros((3, 0), dt)),
                                                     {"reduction": "none", "return_grad": True})))
    out.append(Sample("no-grad", lambda rng, dt: ((normal(rng, (5, 9), dt), rng.random((5, 9)).astype(dt)), {})))
    return out


def _bce_reference(logits, target, **kw):
    kw = {k: v for k, v in kw.items() if k not in ("return_grad", "grad_out")}
    return ref.binary_cross_entropy_with_logits(logits, target, **kw)


def _bce_compare(got, want, args, kwargs, dtype):
    red = kwargs.get("reduction", "mean")
    shape = np.shape(args[0])
    if kwargs.get("return_grad") or kwargs.get("grad_out") is not None:
        if kwargs.get("return_grad"):
            assert isinstance(got, tuple) and len(got) == 2
            loss, grad = got
        else:
            loss, grad = got, kwargs["grad_out"]
        assert_loss_close(loss, want[0], dtype, "bce loss", red, shape)
        # Elementwise: relative to the size of the two terms (1-t) and
        # (1 + (pw-1) t) sigmoid(-x), which may cancel.
        check_dtype(grad, dtype, "bce grad")
        x, t = ref.f64(args[0]), ref.f64(args[1])
        w = np.broadcast_to(ref.f64(kwargs["weight"]), x.shape) if kwargs.get("weight") is not None else 1.0
        pw = np.broadcast_to(ref.f64(kwargs["pos_weight"]), x.shape) if kwargs.get("pos_weight") is not None else 1.0
        terms = np.abs(w) * (np.abs(1 - t) + np.abs(1 + (pw - 1) * t))
        scale = 1.0 / x.size if red == "mean" and x.size else 1.0
        # (evaluated in the input's precision, the cancellation costs a few eps * terms)
        eps = np.finfo(np.dtype(dtype)).eps
        assert_within(grad, want[1], LOSS_RTOL[np.dtype(dtype)] * np.abs(want[1]) + 4 * eps * terms * scale,
                      "bce grad")
    else:
        assert_loss_close(got, want[0], dtype, "bce loss", red, shape)


def _bce_bad_inputs() -> List[BadInput]:
    def call():
        return (np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32)), {"return_grad": True}

    def with_args(target=None, **kw):
        def build():
            a, k = call()
            return (a[0], a[1] if target is None else target()), dict(k, **kw)
        return build

    return dtype_cases(call, 0, "logits") + out_cases(call, "grad_out", (4, 3), np.float32) + flag_cases(
        call, "return_grad") + dtype_cases(call, 1, "target")[-1:] + [
        BadInput("target-shape", with_args(target=lambda: np.zeros((4, 2), np.float32)), ValueError, "target",
                 contains=(r"\(4, 2\)", r"\(4, 3\)")),
        BadInput("target-complex", with_args(target=lambda: np.zeros((4, 3), np.complex64)), TypeError, "target"),
        BadInput("weight-shape", with_args(weight=np.ones(5, np.float32)), ValueError, r"\bweight"),
        BadInput("pos_weight-shape", with_args(pos_weight=np.ones((2, 3), np.float32)), ValueError, "pos_weight"),
        # a (1,) weight would make the loss of 0-d logits 1-d: it must broadcast to the logits' shape
        BadInput("weight-enlarges-0d-logits", lambda: ((np.float32(0.5), np.float32(1.0)),
                                                       {"weight": np.ones(1, np.float32)}), ValueError, r"\bweight"),
        BadInput("reduction", with_args(reduction="batchmean"), ValueError, "reduction",
                 contains=("mean", "sum", "none")),
    ]


def _bce_big(rng, dt):
    x = normal(rng, (stream_rows(dt, 2000), 2000), dt, 3.0)
    return (x, rng.random(x.shape).astype(dt)), {"return_grad": True, "pos_weight": np.linspace(0.5, 2, 2000).astype(dt)}


OPS: List[OpInfo] = [
    OpInfo("binary_cross_entropy_with_logits", "bce", _bce_reference, _bce_samples, _bce_compare, _bce_bad_inputs,
           _bce_big, out_kw="grad_out"),
]
