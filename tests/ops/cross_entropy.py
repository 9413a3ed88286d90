"""cross_entropy in the op table, and the targets other tests build."""
from __future__ import annotations

from typing import List

import numpy as np

import reference as ref

from .common import (INF, LOSS_LENGTHS, NAN, BadInput, OpInfo, Sample, assert_grad_close, assert_loss_close,
                     stream_rows)
from .inputs import dtype_cases, flag_cases, normal, out_cases


def index_target(rng, lead_shape, C, ignore_frac=0.0, ignore_index=-100):
    t = rng.integers(0, C, size=lead_shape).astype(np.int64)
    if ignore_frac:
        mask = rng.random(lead_shape) < ignore_frac
        t = np.where(mask, ignore_index, t)
    return t


def prob_target(rng, shape, dt):
    q = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]) if shape[-1] else np.zeros(shape)
    return q.astype(dt)


def _xent_samples() -> List[Sample]:
    out = []
    for C in LOSS_LENGTHS:
        for red in ("mean", "sum", "none"):
            out.append(Sample(f"index-5x{C}-{red}", lambda rng, dt, C=C, r=red: (
                (normal(rng, (5, C), dt, 2.0), index_target(rng, (5,), C)),
                {"reduction": r, "return_grad": True})))
    for C in (9, 513, 1025):
        out.append(Sample(f"probs-6x{C}", lambda rng, dt, C=C: (
            (normal(rng, (6, C), dt, 2.0), prob_target(rng, (6, C), dt)), {"return_grad": True})))
        out.append(Sample(f"all-options-index-7x{C}", lambda rng, dt, C=C: (
            (normal(rng, (7, C), dt, 2.0), index_target(rng, (7,), C, 0.3)),
            {"weight": rng.uniform(0.2, 2.0, C).astype(dt), "label_smoothing": 0.1, "z_loss": 1e-2,
             "return_grad": True})))
        out.append(Sample(f"all-options-probs-7x{C}", lambda rng, dt, C=C: (
            (normal(rng, (7, C), dt, 2.0), prob_target(rng, (7, C), dt)),
            {"weight": rng.uniform(0.2, 2.0, C).astype(dt), "label_smoothing": 0.2, "z_loss": 1e-2,
             "return_grad": True})))
    for red in ("mean", "sum", "none"):
        out.append(Sample(f"weight-{red}", lambda rng, dt, r=red: (
            (normal(rng, (8, 17), dt, 2.0), index_target(rng, (8,), 17)),
            {"weight": rng.uniform(0.1, 3.0, 17).astype(dt), "reduction": r, "return_grad": True})))
        out.append(Sample(f"ignore-{red}", lambda rng, dt, r=red: (
            (normal(rng, (12, 10), dt, 2.0), index_target(rng, (12,), 10, 0.4)),
            {"reduction": r, "return_grad": True})))
        out.append(Sample(f"weight-ignore-smoothing-{red}", lambda rng, dt, r=red: (
            (normal(rng, (12, 10), dt, 2.0), index_target(rng, (12,), 10, 0.4)),
            {"weight": rng.uniform(0.1, 3.0, 10).astype(dt), "label_smoothing": 0.25, "reduction": r,
             "return_grad": True})))
        out.append(Sample(f"smoothing-{red}", lambda rng, dt, r=red: (
            (normal(rng, (6, 33), dt, 2.0), index_target(rng, (6,), 33)),
            {"label_smoothing": 0.1, "reduction": r, "return_grad": True})))
        out.append(Sample(f"z_loss-ignore-{red}", lambda rng, dt, r=red: (
            (normal(rng, (9, 40), dt, 3.0), index_target(rng, (9,), 40, 0.3)),
            {"z_loss": 1e-1, "reduction": r, "return_grad": True})))
        out.append(Sample(f"z_loss-weight-{red}", lambda rng, dt, r=red: (
            (normal(rng, (9, 40), dt, 3.0), index_target(rng, (9,), 40, 0.3)),
            {"z_loss": 1e-2, "weight": rng.uniform(0.1, 3.0, 40).astype(dt), "reduction": r,
             "return_grad": True})))
        out.append(Sample(f"probs-smoothing-weight-{red}", lambda rng, dt, r=red: (
            (normal(rng, (6, 33), dt, 2.0), prob_target(rng, (6, 33), dt)),
            {"label_smoothing": 0.3, "weight": rng.uniform(0.1, 3.0, 33).astype(dt), "reduction": r,
             "return_grad": True})))
    out.append(Sample("custom-ignore-index-in-range", lambda rng, dt: (
        (normal(rng, (10, 6), dt), np.array([0, 3, 3, 1, 5, 3, 2, 4, 3, 0])),
        {"ignore_index": 3, "return_grad": True})))
    out.append(Sample("custom-ignore-index-negative", lambda rng, dt: (
        (normal(rng, (6, 6), dt), np.array([0, -1, 2, -1, 5, 1])),
        {"ignore_index": -1, "return_grad": True})))
    out.append(Sample("3d-index", lambda rng, dt: (
        (normal(rng, (2, 3, 17), dt, 2.0), index_target(rng, (2, 3), 17, 0.2)), {"return_grad": True})))
    out.append(Sample("3d-index-none", lambda rng, dt: (
        (normal(rng, (2, 3, 17), dt, 2.0), index_target(rng, (2, 3), 17)),
        {"reduction": "none", "return_grad": True})))
    out.append(Sample("3d-probs", lambda rng, dt: (
        (normal(rng, (2, 3, 17), dt, 2.0), prob_target(rng, (2, 3, 17), dt)), {"return_grad": True})))
    out.append(Sample("1d-logits-0d-target", lambda rng, dt: (
        (normal(rng, (11,), dt), np.int64(4)), {"return_grad": True})))
    out.append(Sample("1d-logits-0d-target-none", lambda rng, dt: (
        (normal(rng, (11,), dt), np.int64(4)), {"reduction": "none", "return_grad": True})))
    out.append(Sample("scale10", lambda rng, dt: (
        (normal(rng, (16, 100), dt, 10.0), index_target(rng, (16,), 100)), {"return_grad": True})))
    out.append(Sample("huge-logits", lambda rng, dt: (
        (_huge_logits(dt), np.array([0, 1, 2, 3])), {"reduction": "none", "return_grad": True})))
    out.append(Sample("masked-classes-minus-inf", lambda rng, dt: _masked_classes(rng, dt)))
    out.append(Sample("ignored-rows-hold-nan-and-inf", lambda rng, dt: _ignored_garbage(rng, dt)))
    for eps in (0.0, 0.1):
        out.append(Sample(f"counted-rows-hold-inf-and-nan-smoothing{eps}", lambda rng, dt, eps=eps: (
            _special_logits(rng, dt), {"reduction": "none", "return_grad": True, "label_smoothing": eps})))
    out.append(Sample("strided-logits", lambda rng, dt: (
        (normal(rng, (6, 40), dt)[:, ::2], index_target(rng, (6,), 20)), {"return_grad": True})))
    out.append(Sample("negative-stride-logits", lambda rng, dt: (
        (normal(rng, (6, 20), dt)[::-1, ::-1], index_target(rng, (6,), 20)), {"return_grad": True})))
    out.append(Sample("transposed-logits", lambda rng, dt: (
        (normal(rng, (20, 6), dt).T, index_target(rng, (6,), 20)), {"return_grad": True})))
    out.append(Sample("strided-target", lambda rng, dt: (
        (normal(rng, (6, 20), dt), index_target(rng, (12,), 20)[::2]), {"return_grad": True})))
    out.append(Sample("strided-probs", lambda rng, dt: (
        (normal(rng, (6, 20), dt), prob_target(rng, (6, 40), dt)[:, ::2] * 2), {"return_grad": True})))
    for it in (np.int32, np.int16, np.uint8, np.uint64):
        out.append(Sample(f"target-{np.dtype(it).name}", lambda rng, dt, it=it: (
            (normal(rng, (5, 9), dt), index_target(rng, (5,), 9).astype(it)), {"return_grad": True})))
    out.append(Sample("no-grad-mean", lambda rng, dt: (
        (normal(rng, (5, 9), dt), index_target(rng, (5,), 9)), {})))
    out.append(Sample("no-grad-none", lambda rng, dt: (
        (normal(rng, (5, 9), dt), index_target(rng, (5,), 9)), {"reduction": "none"})))
    for red in ("mean", "sum", "none"):
        out.append(Sample(f"all-ignored-{red}", lambda rng, dt, r=red: (
            (normal(rng, (4, 9), dt), np.full(4, -100)), {"reduction": r, "return_grad": True})))
        out.append(Sample(f"empty-batch-{red}", lambda rng, dt, r=red: (
            (np.zeros((0, 9), dt), np.zeros(0, np.int64)), {"reduction": r, "return_grad": True})))
    out.append(Sample("all-ignored-weighted-mean", lambda rng, dt: (
        (normal(rng, (4, 9), dt), np.full(4, -100)),
        {"weight": np.linspace(0.5, 2, 9).astype(dt), "label_smoothing": 0.1, "z_loss": 0.1,
         "return_grad": True})))
    out.append(Sample("empty-batch-probs-mean", lambda rng, dt: (
        (np.zeros((0, 9), dt), np.zeros((0, 9), dt)), {"return_grad": True})))
    out.append(Sample("single-class", lambda rng, dt: (
        (normal(rng, (4, 1), dt), np.zeros(4, np.int64)), {"return_grad": True, "label_smoothing": 0.2})))
    return out


def _huge_logits(dt):
    x = np.array([[1e30, -1e30, 0.0, 5.0],
                  [-1e30, 1e30, 0.0, 5.0],
                  [-1e30, -1e30, 0.0, 0.0],
                  [3e4, 3e4 - 2, -1e30, 3e4 + 1]])
    return x.astype(dt)


def _masked_classes(rng, dt):
    # -inf logits on non-target classes (masked vocabulary): finite loss, zero
    # gradient there.
    x = normal(rng, (5, 20), dt)
    t = index_target(rng, (5,), 10)
    x[:, 10:] = -INF
    return (x, t), {"return_grad": True}


def _ignored_garbage(rng, dt):
    # Padding rows hold garbage; masking them must not leak inf or NaN.
    x = normal(rng, (6, 12), dt)
    t = index_target(rng, (6,), 12)
    x[1] = NAN
    x[3, 4] = INF
    x[4] = -INF
    t[[1, 3, 4]] = -100
    return (x, t), {"return_grad": True}


def _special_logits(rng, dt):
    # Counted rows with special logits follow PyTorch: a +inf or a NaN makes
    # the row's loss and gradient NaN; -inf is a class of probability 0 (an
    # infinite loss on the target); an all -inf row is NaN.
    x = normal(rng, (8, 40), dt)
    t = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    x[0, 30] = INF
    x[1, 1] = INF       # on the target
    x[2, 7] = NAN
    x[3, :20] = -INF    # the target among them
    x[4, 20:] = -INF
    x[5] = -INF
    x[6, ::3] = -INF
    return x, t


def _xent_reference(logits, target, **kw):
    kw = {k: v for k, v in kw.items() if k not in ("return_grad", "grad_out")}
    return ref.cross_entropy(logits, target, **kw)


def _xent_compare(got, want, args, kwargs, dtype):
    logits = args[0]
    lead = np.shape(logits)[:-1]
    red = kwargs.get("reduction", "mean")
    if kwargs.get("return_grad") or kwargs.get("grad_out") is not None:
        if kwargs.get("return_grad"):
            assert isinstance(got, tuple) and len(got) == 2, f"return_grad=True must give (loss, grad), got {type(got)}"
            loss, grad = got
        else:
            loss, grad = got, kwargs["grad_out"]
        assert_loss_close(loss, want[0], dtype, "cross_entropy loss", red, lead)
        assert_grad_close(grad, want[1], dtype, "cross_entropy grad")
    else:
        assert_loss_close(got, want[0], dtype, "cross_entropy loss", red, lead)


def _xent_bad_inputs() -> List[BadInput]:
    def call():
        return (np.zeros((8, 4), np.float32), np.array([0, 1, 2, 3, 0, 1, 2, 3])), {"return_grad": True}

    def with_args(logits=None, target=None, **kw):
        def build():
            a, k = call()
            a = (a[0] if logits is None else logits(), a[1] if target is None else target())
            return a, dict(k, **kw)
        return build

    cases = dtype_cases(call, 0, "logits") + out_cases(call, "grad_out", (8, 4), np.float32)
    cases += [
        BadInput("target-shape", with_args(target=lambda: np.zeros(7, np.int64)), ValueError, "target",
                 contains=(r"\(7,\)", r"\(8, 4\)")),
        BadInput("target-2d-shape", with_args(target=lambda: np.zeros((8, 2), np.int64)), (TypeError, ValueError),
                 "target"),
        BadInput("label-too-large", with_args(target=lambda: np.array([0, 1, 2, 3, 0, 1, 13, 3])), IndexError,
                 "target", contains=(r"\b6\b", r"\b13\b")),
        BadInput("label-equal-C", with_args(target=lambda: np.array([0, 1, 2, 3, 4, 1, 2, 3])), IndexError,
                 "target", contains=(r"\b4\b",)),
        BadInput("label-negative", with_args(target=lambda: np.array([0, 1, -1, 3, 0, 1, 2, 3])), IndexError,
                 "target", contains=(r"\b2\b", r"-1\b")),
        BadInput("label-negative-custom-ignore", with_args(target=lambda: np.array([0, 1, 2, 3, 0, -100, 2, 3]),
                                                           ignore_index=-1), IndexError, "target",
                 contains=(r"\b5\b", r"-100\b")),
        BadInput("reduction", with_args(reduction="avg"), ValueError, "reduction",
                 contains=("mean", "sum", "none")),
        BadInput("reduction-None", with_args(reduction=None), ValueError, "reduction"),
        BadInput("reduction-array", with_args(reduction=np.array(["mean", "sum"])), ValueError, "reduction"),
        BadInput("ignore_index-float", with_args(ignore_index=-100.7), TypeError, "ignore_index"),
        BadInput("ignore_index-None", with_args(ignore_index=None), TypeError, "ignore_index"),
        BadInput("ignore_index-bool", with_args(ignore_index=True), TypeError, "ignore_index"),
        BadInput("ignore_index-past-int64", with_args(ignore_index=2**63), ValueError, "ignore_index",
                 contains=(str(2**63),)),
        BadInput("classes-empty", with_args(logits=lambda: np.zeros((8, 0), np.float32)), ValueError,
                 "logits|class"),
        BadInput("float-target-index-shape", with_args(target=lambda: np.zeros(8, np.float32)),
                 (TypeError, ValueError), "target"),
        BadInput("int-target-logits-shape", with_args(target=lambda: np.zeros((8, 4), np.int64)),
                 (TypeError, ValueError), "target"),
        BadInput("probs-target-shape", with_args(target=lambda: np.full((8, 5), 0.2, np.float32)), ValueError,
                 "target", contains=(r"\(8, 5\)", r"\(8, 4\)")),
        BadInput("target-complex", with_args(target=lambda: np.zeros(8, np.complex64)), TypeError, "target"),
        BadInput("weight-shape", with_args(weight=np.ones(5, np.float32)), ValueError, "weight",
                 contains=(r"\(5,\)",)),
        BadInput("weight-2d", with_args(weight=np.ones((1, 4), np.float32)), ValueError, "weight"),
        BadInput("target-ragged-list", with_args(target=lambda: [[0.5, 0.5], [1.0]]), ValueError, "target"),
    ]
    cases += flag_cases(call, "return_grad")
    if np.dtype(np.longdouble).itemsize > 8:  # where it is not float64 (x86-64: 80 bits, aarch64: 128)
        cases.append(BadInput("probs-target-longdouble", with_args(target=lambda: np.full((8, 4), 0.25, np.longdouble)),
                              TypeError, "target"))
    for v in (NAN, INF, -0.1, 1.5):
        cases.append(BadInput(f"label_smoothing={v}", with_args(label_smoothing=v), ValueError, "label_smoothing"))
    for v in (NAN, INF, -INF):
        cases.append(BadInput(f"z_loss={v}", with_args(z_loss=v), ValueError, "z_loss"))
    return cases


def _xent_big(rng, dt):
    rows = stream_rows(dt, 4500)
    x = normal(rng, (rows, 4500), dt, 3.0)
    return (x, index_target(rng, (rows,), 4500, 0.1)), {"return_grad": True, "label_smoothing": 0.1,
                                                       "weight": np.linspace(0.5, 2.0, 4500).astype(dt),
                                                       "z_loss": 1e-3}


OPS: List[OpInfo] = [
    OpInfo("cross_entropy", "cross_entropy", _xent_reference, _xent_samples, _xent_compare, _xent_bad_inputs,
           _xent_big, out_kw="grad_out"),
]
