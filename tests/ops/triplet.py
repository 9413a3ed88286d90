"""triplet_margin_loss in the op table; its peer is pytorch-metric-learning's
TripletMarginLoss (with BatchHardMiner for batch_hard)."""
from __future__ import annotations

import itertools
import warnings
from typing import List

import numpy as np

import reference as ref

from .common import LOSS_RTOL, BadInput, OpInfo, Sample, assert_grad_close, assert_loss_close, assert_loss_part_close
from .inputs import dtype_cases, flag_cases, normal, with_argument, with_options

MININGS = ("batch_hard", "batch_all")
DISTANCES = ("euclidean", "squared", "cosine")


def _batch(N, d, classes, **kw):
    def build(rng, dt):
        return (normal(rng, (N, d), dt), rng.integers(0, classes, N)), dict(kw, return_grad=True)
    return build


def _samples() -> List[Sample]:
    out = []
    for mining, distance in itertools.product(MININGS, DISTANCES):
        tag = f"{mining}-{distance}"
        out.append(Sample(f"{tag}-12x4", _batch(12, 4, 3, mining=mining, distance=distance, margin=0.5)))
        out.append(Sample(f"{tag}-soft-sum", _batch(10, 3, 2, mining=mining, distance=distance, soft=True,
                                                    reduction="sum")))
        out.append(Sample(f"{tag}-normalize-none", _batch(9, 5, 3, mining=mining, distance=distance, normalize=True,
                                                          reduction="none")))
    out.append(Sample("one-class", _batch(5, 3, 1)))
    out.append(Sample("all-distinct", lambda rng, dt: (
        (normal(rng, (5, 3), dt), np.arange(5)), {"return_grad": True, "mining": "batch_all"})))
    out.append(Sample("empty", lambda rng, dt: ((np.zeros((0, 3), dt), np.zeros(0, np.int64)), {"return_grad": True})))
    out.append(Sample("no-grad", lambda rng, dt: (_batch(8, 3, 2)(rng, dt)[0], {"mining": "batch_all"})))
    out.append(Sample("large-margin", _batch(8, 3, 2, margin=10.0)))
    return out


def _reference(embeddings, labels, **kw):
    return ref.triplet_margin_loss(embeddings, labels, **kw)


def _compare(got, want, args, kwargs, dtype):
    if assert_loss_part_close(got, want, kwargs, dtype, "triplet loss", np.shape(args[0])[0]) is None:
        return
    # distances from a matrix product: errors relative to the embeddings' squared norms
    scale = float(np.max(np.abs(np.asarray(args[0], np.float64)), initial=1.0)) ** 2
    assert_grad_close(got[1], want[1], dtype, "triplet grad", LOSS_RTOL[np.dtype(dtype)] * 10 * scale)


def _call():
    return (np.ones((4, 3), np.float32), np.array([0, 0, 1, 1])), {"return_grad": True}


def _bad() -> List[BadInput]:
    return dtype_cases(_call, 0, "embeddings") + flag_cases(_call, "return_grad") + flag_cases(
        _call, "soft") + flag_cases(_call, "normalize") + [
        BadInput("mining", with_options(_call, mining="semi_hard"), ValueError, "mining", contains=("batch_hard", "semi_hard")),
        BadInput("distance", with_options(_call, distance="manhattan"), ValueError, "distance", contains=("euclidean",)),
        BadInput("reduction", with_options(_call, reduction="batchmean"), ValueError, "reduction"),
        BadInput("margin-nan", with_options(_call, margin=np.nan), ValueError, "margin"),
        BadInput("margin-str", with_options(_call, margin="0.2"), TypeError, "margin"),
        BadInput("embeddings-1d", with_argument(_call, 0, np.ones(4, np.float32)), ValueError, "embeddings", contains=(r"\(4,\)",)),
        BadInput("labels-float", with_argument(_call, 1, np.zeros(4)), TypeError, "labels"),
        BadInput("labels-shape", with_argument(_call, 1, np.zeros(3, np.int64)), ValueError, "labels", contains=(r"\(3,\)", "4")),
    ]


def _big(rng, dt):
    return (normal(rng, (700, 32), dt), rng.integers(0, 40, 700)), {"return_grad": True, "mining": "batch_all"}


def _peer(rng, dt, peers) -> None:
    """pytorch-metric-learning 2.9: TripletMarginLoss (smooth_loss for soft, with
    margin 0 as ours has none) with BatchHardMiner and a MeanReducer for
    batch_hard, with all triplets and its AvgNonZeroReducer for batch_all."""
    import fastsoftmax as fs

    torch, pml = peers.torch, peers.pml
    e = normal(rng, (40, 8), dt, 0.5)
    labels = rng.integers(0, 5, 40)
    for mining, distance, normalize, soft in itertools.product(MININGS, DISTANCES, (False, True), (False, True)):
        def metric():
            if distance == "cosine":
                return pml.distances.CosineSimilarity()
            return pml.distances.LpDistance(normalize_embeddings=normalize, p=2,
                                            power=1 if distance == "euclidean" else 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            margin = 0.0 if soft else 0.3
            if mining == "batch_hard":
                loss = pml.losses.TripletMarginLoss(margin=margin, smooth_loss=soft, distance=metric(),
                                                    reducer=pml.reducers.MeanReducer())
                miner = pml.miners.BatchHardMiner(distance=metric())
            else:
                loss, miner = pml.losses.TripletMarginLoss(margin=margin, smooth_loss=soft, distance=metric()), None
            et, lt = torch.from_numpy(e.copy()).requires_grad_(), torch.from_numpy(labels)
            want = loss(et, lt, miner(et, lt)) if miner else loss(et, lt)
            want.backward()
        got, grad = fs.triplet_margin_loss(e, labels, margin=0.3, mining=mining, distance=distance,
                                           normalize=normalize, soft=soft, return_grad=True)
        what = f"{mining} {distance} normalize={normalize} soft={soft} against pytorch-metric-learning"
        assert_loss_close(got, want.item(), dt, what, "mean", (40,))
        assert_grad_close(grad, et.grad.numpy(), dt, what, LOSS_RTOL[np.dtype(dt)] * 10)


OPS: List[OpInfo] = [
    OpInfo("triplet_margin_loss", "triplet", _reference, _samples, _compare, _bad, _big, peer=_peer, blas=True,
           free_labels=True),
]
