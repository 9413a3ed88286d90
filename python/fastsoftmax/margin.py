"""Margin losses for embeddings: NormFace, CosFace, ArcFace, SphereFace,
L-Softmax and InsightFace's combined margin (``margin_cross_entropy``).

One N x C buffer: the logits come out of one matrix product into it, the
target column gets its margin (N values, in float64), the cross-entropy
kernel turns the buffer into its own gradient in place (one read and one
write), and the two backward products read it. Everything else is N x d or
C x d work.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Optional, Tuple, Union

import numpy as np

from ._arrays import as_array, as_float_array, check_finite, flag, integer, narrowed
from ._unit_rows import NORM_EPS, row_norms, through_normalisation, unit_rows
from .losses import Loss, _check_reduction, cross_entropy

__all__ = ["margin_cross_entropy"]

_LOSSES = ("normface", "cosface", "arcface", "sphereface", "lsoftmax", "combined")
# NormFace: pytorch-metric-learning's NormalizedSoftmaxLoss temperature 0.05;
# the others as their papers and InsightFace.
_DEFAULT_SCALE = {"normface": 20.0, "cosface": 64.0, "arcface": 64.0, "combined": 64.0,
                  "sphereface": 1.0, "lsoftmax": 1.0}
_DEFAULT_MARGIN = {"cosface": 0.35, "arcface": 0.5, "sphereface": 4, "lsoftmax": 4}
_INTEGER_MARGIN = ("sphereface", "lsoftmax")
_NORMALISED_X = ("normface", "cosface", "arcface", "combined")  # logits scale * cos(theta)
_MAX_INTEGER_MARGIN = 64


@dataclass
class _Margin:
    loss: str
    scale: float
    margin: float
    m1: float
    m2: float
    m3: float
    lambda_: float

    def target(self, theta: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """psi(theta) and d psi / d theta of the target's angle (float64 arrays)."""
        m = self.margin
        if self.loss == "normface":
            return cos, -sin
        if self.loss == "cosface":
            return cos - m, -sin
        if self.loss == "arcface":
            # past theta = pi - m, cos(theta + m) would rise again: continue with
            # cos(theta) shifted to meet it there (monotone and continuous)
            inside = theta + m <= math.pi
            psi = np.where(inside, np.cos(theta + m), cos + (math.cos(m) - 1.0))
            return psi, np.where(inside, -np.sin(theta + m), -sin)
        if self.loss == "combined":
            a = self.m1 * theta + self.m2
            return np.cos(a) - self.m3, -self.m1 * np.sin(a)
        # sphereface, lsoftmax: (-1)^k cos(m theta) - 2k on [k pi/m, (k+1) pi/m]
        k = np.minimum(np.floor(m * theta / math.pi), m - 1)
        sign = 1.0 - 2.0 * np.mod(k, 2.0)
        return sign * np.cos(m * theta) - 2.0 * k, -sign * m * np.sin(m * theta)


def _options(loss: Any, scale: Any, margin: Any, m1: Any, m2: Any, m3: Any, lambda_: Any) -> _Margin:
    if not isinstance(loss, str) or loss not in _LOSSES:
        raise ValueError(f"loss must be one of {', '.join(repr(v) for v in _LOSSES)}; got {loss!r}")
    s = _DEFAULT_SCALE[loss] if scale is None else check_finite(scale, "scale", positive=True)
    combined = (check_finite(m1, "m1"), check_finite(m2, "m2"), check_finite(m3, "m3"))
    lam = check_finite(lambda_, "lambda_", low=0.0, high=math.inf)
    if loss != "combined" and combined != (1.0, 0.0, 0.0):
        raise ValueError(f"m1, m2, m3 are the margins of loss='combined'; loss={loss!r} takes margin=")
    if loss != "lsoftmax" and lam != 0.0:
        raise ValueError(f"lambda_ belongs to loss='lsoftmax'; got lambda_={lam} with loss={loss!r}")
    if loss in ("normface", "combined"):
        if margin is not None:
            raise ValueError(f"loss={loss!r} takes no margin= (combined: m1, m2, m3); got margin={margin!r}")
        m = 0.0
    elif margin is None:
        m = float(_DEFAULT_MARGIN[loss])
    elif loss in _INTEGER_MARGIN:
        if isinstance(margin, numbers.Real) and not isinstance(margin, numbers.Integral) and not float(margin) % 1:
            margin = int(margin)  # 4.0 is the integer 4
        try:
            m = float(integer(margin, "margin", 1, _MAX_INTEGER_MARGIN))
        except TypeError:
            raise TypeError(f"margin: loss={loss!r} needs an integer margin (the angle multiplier m), "
                            f"got {margin!r}") from None
    else:
        m = check_finite(margin, "margin", low=0.0, high=math.pi)
    return _Margin(loss, s, m, *combined, lam)


def _matrix(a: Any, name: str, what: str) -> Tuple[np.ndarray, np.dtype, np.dtype]:
    arr, compute, result = as_float_array(a, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} has shape {arr.shape}; expected a 2-D array {what}")
    return arr, compute, result


def _labels(labels: Any, N: int, C: int, ignore_index: int) -> np.ndarray:
    lab = as_array(labels, "labels")
    if lab.dtype.kind not in "iu":
        raise TypeError(f"labels: unsupported dtype {lab.dtype}; expected integer class indices")
    if lab.shape != (N,):
        raise ValueError(f"labels has shape {lab.shape} but x has {N} rows: expected shape ({N},)")
    if lab.dtype.kind == "u" and lab.size and lab.max() > np.iinfo(np.int64).max:
        raise IndexError(f"labels holds {lab.max()}, out of range for {C} classes")
    flat = lab.astype(np.int64)
    bad = np.flatnonzero((flat != ignore_index) & ((flat < 0) | (flat >= C)))
    if bad.size:
        raise IndexError(f"labels[{bad[0]}] = {flat[bad[0]]} is out of range for {C} classes "
                         f"(expected 0 <= label < {C}, or ignore_index={ignore_index})")
    return flat


def _tangent(a: np.ndarray, b: np.ndarray, cos: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The unit vector along b - cos a (0 where that is 0), where the angle
    between unit rows a and b shrinks, and its length, the angle's sine."""
    t = b - cos[:, None] * a
    n = np.sqrt(np.einsum("ij,ij->i", t, t))
    return t / np.where(n > 0, n, 1.0)[:, None], n


def _target_terms(spec: _Margin, x: np.ndarray, w: np.ndarray, want_grad: bool):
    """The target logits of rows x against their class rows w (float64), and
    their derivatives with respect to x and w (None without want_grad)."""
    nx, nw = row_norms(x), row_norms(w)
    xh, wh = unit_rows(x, nx), unit_rows(w, nw)
    cos = np.clip(np.einsum("ij,ij->i", xh, wh), -1.0, 1.0)
    tx, sin = _tangent(xh, wh, cos)  # d theta/dx = -tx/|x|
    zero = (nx < NORM_EPS) | (nw < NORM_EPS)  # no direction: the angle of cos = 0 (pi/2)
    sin = np.where(zero, np.sqrt(1.0 - cos * cos), sin)
    theta = np.arctan2(sin, cos)  # exact near 0 and pi, where arccos(cos) is not
    psi, dpsi = spec.target(theta, cos, sin)
    s, lam = spec.scale, spec.lambda_
    if spec.loss in _NORMALISED_X:
        logit = s * psi
    elif spec.loss == "sphereface":
        logit = s * nx * psi
    else:
        logit = s * (lam * nx * nw * cos + nx * nw * psi) / (1.0 + lam)
    if not want_grad:
        return logit, None, None
    tw = _tangent(wh, xh, cos)[0]  # d theta/dw = -tw/|w|
    cx, cw = np.maximum(nx, NORM_EPS)[:, None], np.maximum(nw, NORM_EPS)[:, None]
    d = dpsi[:, None]
    if spec.loss in _NORMALISED_X:
        dx, dw = -s * d * tx / cx, -s * d * tw / cw
    elif spec.loss == "sphereface":
        dx = s * (psi[:, None] * xh - d * tx)
        dw = -s * nx[:, None] * d * tw / cw
    else:
        dx = s * (lam * w + nw[:, None] * (psi[:, None] * xh - d * tx)) / (1.0 + lam)
        dw = s * (lam * x + nx[:, None] * (psi[:, None] * wh - d * tw)) / (1.0 + lam)
    return logit, dx, dw


def margin_cross_entropy(x: Any, weight: Any, labels: Any, *, loss: str = "arcface", scale: Optional[float] = None,
                         margin: Any = None, m1: float = 1.0, m2: float = 0.0, m3: float = 0.0, lambda_: float = 0.0,
                         ignore_index: int = -1, reduction: str = "mean", return_grad: bool = False
                         ) -> Union[Loss, Tuple[Loss, Tuple[np.ndarray, np.ndarray]]]:
    """Softmax cross-entropy with an angular or cosine margin on the target class.

    ``x[N, d]`` embeddings, ``weight[C, d]`` a row per class (as
    ``torch.nn.Linear``), ``labels[N]`` class indices (``ignore_index``: row
    left out). With theta_j the angle between x and weight[j] and s = ``scale``:

    * ``"normface"``: logits ``s cos(theta_j)`` (scale 20);
    * ``"cosface"``: target ``s (cos(theta_y) - margin)`` (scale 64, margin 0.35);
    * ``"arcface"``: target ``s cos(theta_y + margin)`` (scale 64, margin 0.5);
      past ``theta_y = pi - margin`` it is ``s (cos(theta_y) + cos(margin) - 1)``,
      monotone and continuous;
    * ``"sphereface"``: target ``s |x| psi(theta_y)``, others ``s |x| cos(theta_j)``
      (weights normalised), ``psi(t) = (-1)^k cos(m t) - 2k`` on
      ``[k pi/m, (k+1) pi/m]``, integer m = ``margin`` (4), scale 1;
    * ``"lsoftmax"``: no normalisation; target
      ``s (lambda_ |w_y||x| cos(theta_y) + |w_y||x| psi(theta_y)) / (1 + lambda_)``,
      others ``s |w_j||x| cos(theta_j) = s w_j . x`` (margin 4, scale 1);
    * ``"combined"``: target ``s (cos(m1 theta_y + m2) - m3)`` (InsightFace, scale 64).

    ``reduction``: ``"mean"`` over the rows not ignored (0.0 if none),
    ``"sum"`` or ``"none"`` (shape ``(N,)``, 0 on ignored rows).
    ``return_grad=True`` returns ``(loss, (grad_x, grad_weight))``. Norms
    below 1e-12 count as 1e-12 (as ``torch.nn.functional.normalize``), so
    a zero embedding gives finite gradients; at theta = 0 the gradient of
    the target term is 0 (there the margin's cone has no slope to follow).

    Examples
    --------
    >>> import numpy as np, fastsoftmax as fs
    >>> x = np.array([[1.0, 0.0], [0.0, 2.0]]); w = np.array([[1.0, 1.0], [-1.0, 1.0], [0.0, -1.0]])
    >>> round(float(fs.margin_cross_entropy(x, w, np.array([0, 1]), loss="cosface", scale=8.0)), 4)
    1.4575
    """
    spec = _options(loss, scale, margin, m1, m2, m3, lambda_)
    reduction = _check_reduction(reduction)
    return_grad = flag(return_grad, "return_grad")
    ignore_index = integer(ignore_index, "ignore_index")
    xa, xc, xr = _matrix(x, "x", "(N, d): an embedding per row")
    wa, wc, wr = _matrix(weight, "weight", "(C, d): a row per class")
    N, d = xa.shape
    C = wa.shape[0]
    if wa.shape[1] != d:
        raise ValueError(f"weight has shape {wa.shape} but x has shape {xa.shape}: weight needs {d} columns "
                         f"(shape (C, {d}))")
    lab = _labels(labels, N, C, ignore_index)
    compute, result = np.result_type(xc, wc), np.result_type(xr, wr)
    rows = np.flatnonzero(lab != ignore_index)
    if rows.size == 0:  # no row counts (none at all, or no classes): 0, as cross_entropy's mean over nothing
        nothing = np.zeros(N, result) if reduction == "none" else result.type(0.0)
        return (nothing, (np.zeros(xa.shape, result), np.zeros(wa.shape, result))) if return_grad else nothing
    X, W = np.asarray(xa, compute), np.asarray(wa, compute)
    nx, nw = row_norms(X), row_norms(W)
    s = compute.type(spec.scale)
    xh = unit_rows(X, nx) if spec.loss in _NORMALISED_X else None
    A = xh * s if xh is not None else (X * s if s != 1 else X)
    B = W if spec.loss == "lsoftmax" else unit_rows(W, nw)
    z = A @ B.T  # the one N x C buffer: logits, then their gradient
    y = lab[rows]
    logit, dx, dw = _target_terms(spec, X[rows].astype(np.float64), W[y].astype(np.float64), return_grad)
    z[rows, y] = logit
    out = cross_entropy(z, lab, ignore_index=ignore_index, reduction=reduction, return_grad=return_grad,
                        grad_out=z if return_grad else None)
    if not return_grad:
        return narrowed(out, result)
    loss_value, G = out
    g_target = G[rows, y].astype(np.float64)
    G[rows, y] = 0  # the target column's part is dx, dw below
    gA, gB = G @ B, G.T @ A
    if xh is not None:
        grad_x = through_normalisation(gA, xh, nx) * s
    else:
        grad_x = gA * s if s != 1 else gA
    grad_w = gB if spec.loss == "lsoftmax" else through_normalisation(gB, B, nw)
    grad_x[rows] += (g_target[:, None] * dx).astype(compute)
    np.add.at(grad_w, y, (g_target[:, None] * dw).astype(compute))
    return narrowed(loss_value, result), (grad_x.astype(result, copy=False), grad_w.astype(result, copy=False))
