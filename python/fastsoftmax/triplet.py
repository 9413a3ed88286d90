"""Triplet loss over a batch of embeddings with batch-hard or batch-all
mining (Hermans, Beyer and Leibe 2017), with its gradient.

The pairwise distances come from one matrix product (NumPy's BLAS); the
mining works on that N x N matrix. Batch-hard then computes the chosen
pairs' distances again from their difference vectors, so that its losses
and gradients keep full accuracy where two embeddings are close (the
product form |a|^2 + |b|^2 - 2 a.b cancels there).
"""
from __future__ import annotations

from typing import Any, Tuple, Union

import numpy as np

from ._arrays import as_array, as_float_array, check_finite, flag, narrowed
from ._unit_rows import row_norms, through_normalisation, unit_rows
from .losses import Loss, _check_reduction

__all__ = ["triplet_margin_loss"]

_MINING = ("batch_hard", "batch_all")
_DISTANCES = ("euclidean", "squared", "cosine")
_BLOCK_ELEMENTS = 1 << 22  # batch_all: triplets held at once (anchor blocks of a class)


def _choice(value: Any, name: str, allowed: Tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(repr(v) for v in allowed)}; got {value!r}")
    return value


def _labels(labels: Any, N: int) -> np.ndarray:
    lab = as_array(labels, "labels")
    if lab.dtype.kind not in "iu":
        raise TypeError(f"labels: unsupported dtype {lab.dtype}; expected integer labels")
    if lab.shape != (N,):
        raise ValueError(f"labels has shape {lab.shape} but embeddings have {N} rows: expected shape ({N},)")
    return lab


def _distance_matrix(x: np.ndarray, distance: str) -> np.ndarray:
    """All pairwise distances of the rows of x, the diagonal 0."""
    gram = x @ x.T
    if distance == "cosine":
        d = 1.0 - gram
    else:
        sq = np.einsum("ij,ij->i", x, x)
        d = sq[:, None] + sq[None, :] - 2.0 * gram
        np.maximum(d, 0.0, out=d)
        if distance == "euclidean":
            np.sqrt(d, out=d)
    np.fill_diagonal(d, 0.0)
    return d


def _pair_distances(x: np.ndarray, a: np.ndarray, b: np.ndarray, distance: str) -> Tuple[np.ndarray, np.ndarray]:
    """Distances of the pairs (x[a], x[b]) from their difference vectors, and
    their derivatives with respect to x[a] (with respect to x[b]: the negative)."""
    if distance == "cosine":
        return 1.0 - np.einsum("ij,ij->i", x[a], x[b]), -x[b]
    diff = x[a] - x[b]
    sq = np.einsum("ij,ij->i", diff, diff)
    if distance == "squared":
        return sq, 2.0 * diff
    d = np.sqrt(sq)
    return d, diff / np.where(d > 0, d, 1.0)[:, None]  # coincident embeddings: gradient 0


def _hinge(v: np.ndarray, margin: float, soft: bool) -> Tuple[np.ndarray, np.ndarray]:
    """The triplet terms of v = d_ap - d_an and their derivatives in v."""
    if soft:
        loss = np.logaddexp(0.0, v)  # log1p(exp(v)), no overflow
        return loss, np.exp(v - loss)  # sigmoid(v)
    t = v + margin
    return np.maximum(t, 0.0), (t > 0).astype(v.dtype)


# The distances are computed on x = embeddings / u (u a power of 2: no
# overflow of squares) and are f times smaller than the embeddings' (f = u
# for euclidean, u^2 for squared); differences of distances are scaled back
# before the hinge, and derivatives with respect to the embeddings are f/u
# times those with respect to x.

def _scaled(v: np.ndarray, f: float) -> np.ndarray:
    """f v in v's dtype, f applied in double (f alone may be past float32's range)."""
    with np.errstate(over="ignore"):
        return (v.astype(np.float64) * f).astype(v.dtype)


def _batch_hard(x, d, lab, margin, soft, distance, f):
    """Per-anchor losses, the mean's denominator and the gradient with respect to x of
    their sum (over f)."""
    N = len(lab)
    if N == 0:
        return np.zeros(0, x.dtype), 0, np.zeros_like(x)
    same = lab[:, None] == lab[None, :]
    positive = same & ~np.eye(N, dtype=bool)
    p = np.argmax(np.where(positive, d, -np.inf), axis=1)
    n = np.argmin(np.where(same, np.inf, d), axis=1)
    anchors = np.flatnonzero(positive.any(axis=1) & ~same.all(axis=1))
    p, n = p[anchors], n[anchors]
    d_ap, g_ap = _pair_distances(x, anchors, p, distance)
    d_an, g_an = _pair_distances(x, anchors, n, distance)
    loss, slope = _hinge(_scaled(d_ap - d_an, f), margin, soft)
    rows = np.zeros(N, x.dtype)
    rows[anchors] = loss
    c = slope[:, None]
    grad = np.zeros_like(x)
    np.add.at(grad, anchors, c * (g_ap - g_an))
    if distance == "cosine":  # d = 1 - x_a . x_b is symmetric in a and b: d/dx_b = -x_a
        np.add.at(grad, p, -c * x[anchors])
        np.add.at(grad, n, c * x[anchors])
    else:
        np.add.at(grad, p, -c * g_ap)
        np.add.at(grad, n, c * g_an)
    return rows, len(anchors), grad


def _batch_all(x, d, lab, margin, soft, distance, f):
    """Per-anchor sums over their triplets, the number of triplets with a positive
    loss, and the gradient with respect to x of the sum (over f)."""
    N = len(lab)
    rows = np.zeros(N, x.dtype)
    g_d = np.zeros_like(d)  # d(sum)/d(distance matrix), over f
    positives = 0
    for k in np.unique(lab):
        members = np.flatnonzero(lab == k)
        others = np.flatnonzero(lab != k)
        if len(members) < 2 or not len(others):
            continue
        d_pos, d_neg = d[np.ix_(members, members)], d[np.ix_(members, others)]
        step = max(1, _BLOCK_ELEMENTS // (len(members) * len(others)))
        for lo in range(0, len(members), step):
            block = slice(lo, lo + step)
            loss, slope = _hinge(_scaled(d_pos[block, :, None] - d_neg[block, None, :], f), margin, soft)
            own = np.arange(lo, min(lo + step, len(members)))
            loss[own - lo, own] = 0.0  # the anchor is not its own positive
            slope[own - lo, own] = 0.0
            anchors = members[block]
            rows[anchors] = loss.sum(axis=(1, 2))
            positives += int(np.count_nonzero(loss > 0))
            g_d[np.ix_(anchors, members)] += slope.sum(axis=2)
            g_d[np.ix_(anchors, others)] -= slope.sum(axis=1)
    return rows, positives, _from_distance_gradient(x, d, g_d, distance)


def _from_distance_gradient(x, d, g_d, distance):
    """d/dx of sum(g_d * the distance matrix d of x)."""
    s = g_d + g_d.T
    if distance == "cosine":
        return -(s @ x)
    if distance == "euclidean":  # d = sqrt(sq): d/d sq = 1 / (2 d), 0 where the points coincide
        s = np.divide(s, 2.0 * d, out=np.zeros_like(s), where=d > 0)
    return 2.0 * (s.sum(axis=1)[:, None] * x - s @ x)


def triplet_margin_loss(embeddings: Any, labels: Any, *, margin: float = 0.2, mining: str = "batch_hard",
                        distance: str = "euclidean", normalize: bool = False, soft: bool = False,
                        reduction: str = "mean", return_grad: bool = False
                        ) -> Union[Loss, Tuple[Loss, np.ndarray]]:
    """Triplet loss over the batch: anchors, positives (same label) and negatives.

    Per triplet ``max(0, d(a, p) - d(a, n) + margin)``, or with ``soft=True``
    ``log1p(exp(d(a, p) - d(a, n)))`` (no margin). ``distance``:
    ``"euclidean"``, ``"squared"`` (its square) or ``"cosine"`` (``1 - cos``,
    on unit rows); ``normalize=True`` scales the embeddings to unit length first.

    * ``mining="batch_hard"``: per anchor, its farthest positive and nearest
      negative; ``"mean"`` averages over the anchors that have both.
    * ``mining="batch_all"``: every valid triplet; ``"mean"`` averages over
      the triplets with a positive loss (0.0 when there is none).

    ``"none"`` gives a loss per anchor (batch_all: the sum of its triplets; 0
    for an anchor without a positive or a negative). ``return_grad=True``
    returns ``(loss, grad)``, the gradient with respect to the embeddings
    ("none": of the sum). A batch without a valid triplet has loss 0 and a
    zero gradient; coincident embeddings have a zero euclidean gradient.

    Examples
    --------
    >>> import numpy as np, fastsoftmax as fs
    >>> e = np.array([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0], [3.0, 0.5]])
    >>> round(float(fs.triplet_margin_loss(e, np.array([0, 0, 1, 1]), margin=3.0)), 4)
    0.7293
    """
    mining = _choice(mining, "mining", _MINING)
    distance = _choice(distance, "distance", _DISTANCES)
    reduction = _check_reduction(reduction)
    margin = check_finite(margin, "margin")
    normalize, soft, return_grad = (flag(v, n) for v, n in ((normalize, "normalize"), (soft, "soft"),
                                                             (return_grad, "return_grad")))
    e, compute, result = as_float_array(embeddings, "embeddings")
    if e.ndim != 2:
        raise ValueError(f"embeddings has shape {e.shape}; expected a 2-D array (N, d): an embedding per row")
    lab = _labels(labels, e.shape[0])
    x = np.asarray(e, compute)
    unit = normalize or distance == "cosine"
    u = 1.0
    if unit:
        norms = row_norms(x)
        x = unit_rows(x, norms)
    elif x.size:
        big = float(np.max(np.abs(x)))
        if 0 < big < np.inf:
            u = 2.0 ** np.ceil(np.log2(big))
            x = x / compute.type(u)
    f = {"euclidean": u, "squared": u * u, "cosine": 1.0}[distance]
    d = _distance_matrix(x, distance)
    mine = _batch_hard if mining == "batch_hard" else _batch_all
    rows, count, grad = mine(x, d, lab, margin, soft, distance, f)
    scale = (1.0 / count if count else 0.0) if reduction == "mean" else 1.0
    if reduction == "none":
        loss = narrowed(rows, result)
    else:
        total = float(np.sum(rows, dtype=np.float64))
        loss = narrowed(total * scale, result)
    if not return_grad:
        return loss
    with np.errstate(over="ignore"):
        grad *= compute.type(scale * f / u)
    if unit:
        grad = through_normalisation(grad, x, norms)
    return loss, grad.astype(result, copy=False)
