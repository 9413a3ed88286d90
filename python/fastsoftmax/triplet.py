"""Triplet loss over a batch of embeddings with batch-hard or batch-all
mining (Hermans, Beyer and Leibe 2017), with its gradient.

The pairwise distances come from one matrix product (NumPy's BLAS); the
mining and the hinge over that N x N matrix are a C++ kernel. Batch-hard
computes the chosen pairs' distances again from their difference vectors,
so that its losses and gradients keep full accuracy where two embeddings
are close (the product form |a|^2 + |b|^2 - 2 a.b cancels there).
"""
from __future__ import annotations

from typing import Any, Tuple, Union

import numpy as np

from . import _core
from ._arrays import as_array, as_float_array, check_finite, flag, input_rows, narrowed
from ._unit_rows import row_norms, through_normalisation, unit_rows
from .losses import Loss, _check_reduction

__all__ = ["triplet_margin_loss"]

_MINING = ("batch_hard", "batch_all")
_DISTANCES = ("euclidean", "squared", "cosine")


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
    return input_rows(lab, np.dtype(np.int64)).reshape(-1)  # only equality matters: the cast keeps it


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


# The distances are computed on x = embeddings / u (u a power of 2: no
# overflow of squares) and are f times smaller than the embeddings' (f = u
# for euclidean, u^2 for squared); the kernel scales differences of
# distances back (in double) before the hinge, and derivatives with respect
# to the embeddings are f/u times those with respect to x.

def _batch_hard(x, d, lab, margin, soft, distance, f):
    """Per-anchor losses, the mean's denominator and the gradient with respect to x of
    their sum (over f): the mining, the pairs' distances again from their
    difference vectors (exact for close points), the hinge and the gradient in C++."""
    rows = np.empty(len(lab), np.float64)
    grad = np.empty_like(x)
    count = _core.triplet_rows(x, d, lab, 0, _DISTANCES.index(distance), soft, margin, f, rows, grad, None)
    return rows, count, grad


def _batch_all(x, d, lab, margin, soft, distance, f):
    """Per-anchor sums over their triplets, the number of triplets with a positive
    loss, and the gradient with respect to x of the sum (over f): the hinge of
    every triplet and the gradient with respect to d in C++, its chain rule
    through d in two BLAS products."""
    rows = np.empty(len(lab), np.float64)
    g_d = np.empty_like(d)
    count = _core.triplet_rows(x, d, lab, 1, _DISTANCES.index(distance), soft, margin, f, rows, None, g_d)
    return rows, count, _from_distance_gradient(x, d, g_d, distance)


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
    x = input_rows(x, x.dtype)
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
