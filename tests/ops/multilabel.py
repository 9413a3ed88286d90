"""multilabel_categorical_crossentropy (ZLPR) and its sparse form in the op table."""
from __future__ import annotations

from typing import List

import numpy as np

import reference as ref

from .common import (INF, LOSS_LENGTHS, NAN, BadInput, OpInfo, Sample, assert_grad_close, assert_loss_close,
                     stream_rows)
from .inputs import dtype_cases, flag_cases, normal, out_cases


def _flags(rng, shape, p=0.2) -> np.ndarray:
    return rng.random(shape) < p


def _ids(target: np.ndarray, pad: int = 1) -> np.ndarray:
    """Class ids of a dense 0/1 target, shuffled, padded with -1 (and one id repeated)."""
    t = np.asarray(target, bool)
    rows = t.reshape(int(np.prod(t.shape[:-1], dtype=np.int64)), t.shape[-1])
    k = max(int(rows.sum(axis=1).max(initial=0)), 1) + pad
    out = np.full((rows.shape[0], k), -1, np.int64)
    rng = np.random.default_rng(rows.shape[0] * 7919 + t.shape[-1])
    for r in range(rows.shape[0]):
        ids = rng.permutation(np.flatnonzero(rows[r]))
        out[r, :len(ids)] = ids
        if len(ids) and pad:
            out[r, -1] = ids[0]  # an id listed twice counts once
    return out.reshape(t.shape[:-1] + (k,))


def _special_logits(dt):
    x = np.array([[0.0, 40.0, -40.0, 1e30, -1e30, 3.0, -INF, 0.5],
                  [-INF, -INF, 2.0, -3.0, 1e-30, 100.0, -100.0, 0.0],
                  [NAN, 1.0, -1.0, 0.0, 2.0, -2.0, 0.5, -0.5],
                  [INF, 1.0, -1.0, 0.0, 2.0, -2.0, 0.5, -0.5],
                  [-INF] * 8], dt)
    t = np.array([[1, 0, 1, 0, 1, 0, 1, 0], [1, 0, 1, 0, 1, 1, 0, 0], [0, 1, 0, 1, 0, 1, 0, 1],
                  [0, 1, 0, 1, 0, 1, 0, 1], [1, 0, 1, 0, 1, 0, 1, 0]], bool)
    return x, t


def _dense_samples() -> List[Sample]:
    out = []
    for n in LOSS_LENGTHS:
        for red in ("mean", "sum", "none"):
            out.append(Sample(f"5x{n}-{red}", lambda rng, dt, n=n, r=red: (
                (normal(rng, (5, n), dt, 3.0), _flags(rng, (5, n))), {"reduction": r, "return_grad": True})))
    out.append(Sample("all-positive-all-negative", lambda rng, dt: (
        (normal(rng, (2, 40), dt, 3.0), np.array([[True] * 40, [False] * 40])),
        {"reduction": "none", "return_grad": True})))
    out.append(Sample("confident", _confident))
    out.append(Sample("specials", lambda rng, dt: (_special_logits(dt), {"reduction": "none", "return_grad": True})))
    out.append(Sample("int-target", lambda rng, dt: (
        (normal(rng, (6, 13), dt), _flags(rng, (6, 13)).astype(np.int32)), {"return_grad": True})))
    out.append(Sample("float-target", lambda rng, dt: (
        (normal(rng, (6, 13), dt), _flags(rng, (6, 13)).astype(dt)), {"return_grad": True, "reduction": "sum"})))
    out.append(Sample("1d", lambda rng, dt: ((normal(rng, (37,), dt), _flags(rng, 37)), {"return_grad": True})))
    out.append(Sample("3d", lambda rng, dt: ((normal(rng, (2, 3, 11), dt), _flags(rng, (2, 3, 11))),
                                             {"return_grad": True, "reduction": "none"})))
    out.append(Sample("strided", lambda rng, dt: (
        (normal(rng, (5, 40), dt)[:, ::2], _flags(rng, (5, 40))[:, ::-2]), {"return_grad": True})))
    out.append(Sample("transposed", lambda rng, dt: (
        (normal(rng, (20, 5), dt).T, _flags(rng, (20, 5)).T), {"return_grad": True, "reduction": "none"})))
    out.append(Sample("empty-rows", lambda rng, dt: ((np.zeros((0, 5), dt), np.zeros((0, 5), bool)),
                                                     {"return_grad": True})))
    out.append(Sample("no-classes", lambda rng, dt: ((np.zeros((3, 0), dt), np.zeros((3, 0), bool)),
                                                     {"reduction": "none", "return_grad": True})))
    out.append(Sample("no-grad", lambda rng, dt: ((normal(rng, (5, 9), dt), _flags(rng, (5, 9))), {})))
    return out


def _confident(rng, dt):
    """Every class far on its side: losses near 0 (log1p keeps them)."""
    x = np.where(_flags(rng, (4, 300)), 30.0, -30.0).astype(dt)
    return (x, x > 0), {"reduction": "none", "return_grad": True}


def _sparse_samples() -> List[Sample]:
    out = []
    for s in _dense_samples():
        def build(rng, dt, inner=s.build):
            (x, t), kw = inner(rng, dt)
            return (x, _ids(t)), kw
        out.append(Sample(s.desc, build))
    out.append(Sample("no-positives-K0", lambda rng, dt: ((normal(rng, (4, 9), dt), np.zeros((4, 0), np.int64)),
                                                          {"return_grad": True, "reduction": "none"})))
    return out


def _dense_reference(logits, target, **kw):
    return ref.multilabel_categorical_crossentropy(logits, target, kw.get("reduction", "mean"))


def _sparse_reference(logits, positives, **kw):
    target = ref.positives_to_target(positives, np.shape(logits)[-1])
    return ref.multilabel_categorical_crossentropy(logits, target, kw.get("reduction", "mean"))


def _compare(got, want, args, kwargs, dtype):
    red = kwargs.get("reduction", "mean")
    lead = np.shape(args[0])[:-1]
    if kwargs.get("return_grad") or kwargs.get("grad_out") is not None:
        loss, grad = got if kwargs.get("return_grad") else (got, kwargs["grad_out"])
        assert_loss_close(loss, want[0], dtype, "zlpr loss", red, lead)
        assert_grad_close(grad, want[1], dtype, "zlpr grad")
    else:
        assert_loss_close(got, want[0], dtype, "zlpr loss", red, lead)


def _call():
    return (np.zeros((4, 3), np.float32), np.zeros((4, 3), bool)), {"return_grad": True}


def _sparse_call():
    return (np.zeros((4, 3), np.float32), np.full((4, 2), -1, np.int64)), {"return_grad": True}


def _with(call, second=None, **kw):
    def build():
        a, k = call()
        return (a[0], a[1] if second is None else second()), dict(k, **kw)
    return build


def _common_bad(call, name) -> List[BadInput]:
    return dtype_cases(call, 0, "logits") + out_cases(call, "grad_out", (4, 3), np.float32) + flag_cases(
        call, "return_grad") + [
        BadInput("reduction", _with(call, reduction="batchmean"), ValueError, "reduction",
                 contains=("mean", "sum", "none")),
        BadInput("0d-logits", lambda: ((np.float32(1.0), call()[0][1]), {}), ValueError, "logits"),
    ]


def _dense_bad() -> List[BadInput]:
    return _common_bad(_call, "target") + dtype_cases(_call, 1, "target") + [
        BadInput("target-shape", _with(_call, lambda: np.zeros((4, 2), bool)), ValueError, "target",
                 contains=(r"\(4, 2\)", r"\(4, 3\)")),
        BadInput("target-not-0-1", _with(_call, lambda: np.array([[0, 1, 2]] * 4)), ValueError, "target",
                 contains=("0 or 1",)),
        BadInput("target-nan", _with(_call, lambda: np.array([[0.0, np.nan, 1.0]] * 4)), ValueError, "target"),
    ]


def _sparse_bad() -> List[BadInput]:
    return _common_bad(_sparse_call, "positives") + [
        BadInput("positives-float", _with(_sparse_call, lambda: np.zeros((4, 2))), TypeError, "positives"),
        BadInput("positives-shape", _with(_sparse_call, lambda: np.zeros((3, 2), np.int64)), ValueError, "positives",
                 contains=(r"\(3, 2\)",)),
        BadInput("positives-1d", _with(_sparse_call, lambda: np.zeros(4, np.int64)), ValueError, "positives"),
        BadInput("positives-too-big", _with(_sparse_call, lambda: np.array([[0, 3]] * 4)), IndexError, "positives",
                 contains=("3",)),
        BadInput("positives-below-padding", _with(_sparse_call, lambda: np.array([[0, -2]] * 4)), IndexError,
                 "positives", contains=("-2",)),
    ]


def _big(rng, dt):
    x = normal(rng, (stream_rows(dt, 2000), 2000), dt, 3.0)
    return (x, _flags(rng, x.shape, 0.05)), {"return_grad": True}


def _sparse_big(rng, dt):
    (x, t), kw = _big(rng, dt)
    return (x, _ids(t, pad=0)), kw


def _zlpr_torch(torch, x, t):
    """ZLPR written with PyTorch ops (as its users write it), loss per row and autograd's gradient of the mean."""
    xt = torch.from_numpy(x).requires_grad_()
    mask = torch.from_numpy(np.ascontiguousarray(t, bool))
    ninf = torch.tensor(-float("inf"), dtype=xt.dtype)
    zero = torch.zeros(xt.shape[:-1] + (1,), dtype=xt.dtype)
    neg = torch.cat([zero, torch.where(mask, ninf, xt)], -1)
    pos = torch.cat([zero, torch.where(mask & (xt > ninf), -xt, ninf)], -1)
    loss = torch.logsumexp(neg, -1) + torch.logsumexp(pos, -1)
    loss.mean().backward()
    return loss.detach().numpy(), xt.grad.numpy()


def _dense_peer(rng, dt, peers) -> None:
    """The loss and gradient of the formula in PyTorch ops + autograd."""
    import fastsoftmax as fs

    for shape in ((6, 7), (33, 1000), (3, 4, 50)):
        x, t = normal(rng, shape, dt, 3.0), _flags(rng, shape, 0.1)
        x.reshape(-1)[::17] = -INF
        want_loss, want_grad = _zlpr_torch(peers.torch, x, t)
        loss = fs.multilabel_categorical_crossentropy(x, t, reduction="none")
        _, grad = fs.multilabel_categorical_crossentropy(x, t, return_grad=True)
        assert_loss_close(loss, want_loss, dt, "zlpr loss against PyTorch", "none", shape[:-1])
        assert_grad_close(grad, want_grad, dt, "zlpr grad against PyTorch")


def _sparse_peer(rng, dt, peers) -> None:
    """As the dense form's, from the ids."""
    import fastsoftmax as fs

    for shape in ((6, 7), (33, 1000)):
        x, t = normal(rng, shape, dt, 3.0), _flags(rng, shape, 0.1)
        want_loss, want_grad = _zlpr_torch(peers.torch, x, t)
        loss, grad = fs.sparse_multilabel_categorical_crossentropy(x, _ids(t), reduction="none", return_grad=True)
        assert_loss_close(loss, want_loss, dt, "sparse zlpr loss against PyTorch", "none", shape[:-1])
        assert_grad_close(grad, want_grad * shape[0], dt, "sparse zlpr grad against PyTorch")  # "none": the sum's


OPS: List[OpInfo] = [
    OpInfo("multilabel_categorical_crossentropy", "multilabel", _dense_reference, _dense_samples, _compare,
           _dense_bad, _big, out_kw="grad_out", peer=_dense_peer),
    OpInfo("sparse_multilabel_categorical_crossentropy", "multilabel", _sparse_reference, _sparse_samples, _compare,
           _sparse_bad, _sparse_big, out_kw="grad_out", peer=_sparse_peer),
]
