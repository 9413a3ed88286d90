"""Independent float64 NumPy formulas for every public function.

Written from the definitions (SPEC sections 1 and 2, PyTorch's and SciPy's
documentation), not from the library's code. Gradients are derived by hand:

  p = softmax(x), lse = logsumexp(x), logp = x - lse
  d lse / dx = p
  d(-logp_t)/dx = p - onehot(t)
  d(sum_c w_c (-logp_c))/dx = W p - w,          W = sum_c w_c
  d(z lse^2)/dx = 2 z lse p
  BCE: l = w [(1-t) x + (1 + (pw-1) t) softplus(-x)]
       dl/dx = w [(1-t) - (1 + (pw-1) t) sigmoid(-x)]

Every function takes the float32/float64 input exactly as given (cast to
float64 without rounding) and returns float64.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

_IGNORE = dict(over="ignore", invalid="ignore", divide="ignore", under="ignore")


def f64(a) -> np.ndarray:
    return np.asarray(a).astype(np.float64)


def axes_of(ndim: int, axis) -> Tuple[int, ...]:
    if ndim == 0:
        return ()
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(sorted(a % ndim for a in axis))
    return (axis % ndim,)


def _max(z: np.ndarray, axes) -> np.ndarray:
    # np.max refuses empty axes; an empty reduction has max -inf.
    if any(z.shape[a] == 0 for a in axes):
        shape = list(z.shape)
        for a in axes:
            shape[a] = 1
        return np.full(shape, -np.inf)
    return np.max(z, axis=axes, keepdims=True)


def scaled_shift(x, axis=-1, temperature=1.0) -> np.ndarray:
    """x/T - max(x/T): the argument of exp in softmax (sets the float32 tolerance)."""
    z = f64(x) / temperature
    axes = axes_of(z.ndim, axis)
    with np.errstate(**_IGNORE):
        return z - _max(z, axes)


def softmax(x, axis=-1, temperature=1.0) -> np.ndarray:
    z = f64(x) / temperature
    axes = axes_of(z.ndim, axis)
    with np.errstate(**_IGNORE):
        # all -inf: -inf - -inf = NaN; +inf: inf - inf = NaN; NaN stays: the
        # peers' special values fall out of the plain formula.
        e = np.exp(z - _max(z, axes))
        return e / np.sum(e, axis=axes, keepdims=True)


def log_softmax(x, axis=-1, temperature=1.0) -> np.ndarray:
    z = f64(x) / temperature
    axes = axes_of(z.ndim, axis)
    with np.errstate(**_IGNORE):
        d = z - _max(z, axes)
        return d - np.log(np.sum(np.exp(d), axis=axes, keepdims=True))


def _lse_parts(x, axis, b, temperature):
    z = f64(x) / temperature
    if b is not None:  # x and b broadcast against each other (SciPy)
        z, bb = np.broadcast_arrays(z, f64(b))
    axes = axes_of(z.ndim, axis)
    bb = np.ones_like(z) if b is None else bb
    with np.errstate(**_IGNORE):
        zm = np.where(bb != 0, z, -np.inf)  # SciPy drops b == 0 terms entirely
        m = _max(zm, axes)
        m = np.where(np.isfinite(m), m, 0.0)  # SciPy: +inf / all -inf rows use reference 0
        e = np.exp(zm - m)
        s = np.sum(bb * e, axis=axes, keepdims=True)
        s_abs = np.sum(np.abs(bb) * e, axis=axes, keepdims=True)
    return m, s, s_abs, axes


def _complex_logsumexp(x, axis, b, keepdims, return_sign, temperature):
    """In complex128: m + log sum b exp(z - m), m the largest real part (of the terms with b != 0).
    Rows holding infinities or NaN follow SciPy's rules (the fuzz driver compares those with
    scipy.special.logsumexp itself); here they come out as the formula gives them."""
    z = np.asarray(x).astype(np.complex128) / temperature
    bb = np.ones_like(z) if b is None else np.asarray(b).astype(np.complex128)
    z, bb = np.broadcast_arrays(z, bb)
    axes = axes_of(z.ndim, axis)
    with np.errstate(**_IGNORE):
        m = _max(np.where(bb != 0, z.real, -np.inf), axes)
        m = np.where(np.isfinite(m), m, 0.0)
        e = np.exp(z - m)
        s = np.sum(e if b is None else bb * e, axis=axes, keepdims=True)  # (1+0j) * inf is inf + nan j
        sign = np.where(s == 0, s * 0, s / np.abs(s))  # SciPy's complex sign
        out, sign = (np.log(np.abs(s)) + m, sign) if return_sign else (np.log(s) + m, None)
    if not keepdims:
        out = np.squeeze(out, axis=axes)
        sign = None if sign is None else np.squeeze(sign, axis=axes)
    return (out, sign) if return_sign else out


def logsumexp(x, axis=-1, b=None, keepdims=False, return_sign=False, temperature=1.0):
    if np.iscomplexobj(x) or np.iscomplexobj(b):
        return _complex_logsumexp(x, axis, b, keepdims, return_sign, temperature)
    m, s, _, axes = _lse_parts(x, axis, b, temperature)
    with np.errstate(**_IGNORE):
        out = m + np.log(np.abs(s))
        sign = np.sign(s)
        if not return_sign:
            out = np.where(s < 0, np.nan, out)
    if not keepdims:
        out, sign = np.squeeze(out, axis=axes), np.squeeze(sign, axis=axes)
    return (out, sign) if return_sign else out


def logsumexp_condition(x, axis=-1, b=None, temperature=1.0) -> np.ndarray:
    """sum|b| e / |sum b e|: how much the rounding of each term is amplified
    by cancellation between negative and positive weights (1 without b)."""
    _, s, s_abs, axes = _lse_parts(x, axis, b, temperature)
    with np.errstate(**_IGNORE):
        c = np.where(s_abs > 0, s_abs / np.abs(s), 1.0)
    return np.squeeze(c, axis=axes)


def softmax_backward(grad, y, axis=-1, temperature=1.0) -> np.ndarray:
    g, y = f64(grad), f64(y)
    axes = axes_of(g.ndim, axis)
    with np.errstate(**_IGNORE):  # special values fall out of the formula
        return y * (g - np.sum(g * y, axis=axes, keepdims=True)) / temperature


def log_softmax_backward(grad, y, axis=-1, temperature=1.0) -> np.ndarray:
    g, y = f64(grad), f64(y)
    axes = axes_of(g.ndim, axis)
    with np.errstate(**_IGNORE):
        return (g - np.exp(y) * np.sum(g, axis=axes, keepdims=True)) / temperature


def _reduce(row_loss: np.ndarray, row_grad: np.ndarray, reduction: str, denom: float):
    """loss and d(loss)/d(logits) from per-row losses and per-row gradients."""
    if reduction == "none":
        return row_loss, row_grad
    total = float(np.sum(row_loss))
    if reduction == "sum":
        return total, row_grad
    if denom == 0:  # the library's rule: an all-ignored or empty batch is 0, not NaN
        return 0.0, np.zeros_like(row_grad)
    return total / denom, row_grad / denom


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0, z_loss=0.0):
    """PyTorch's cross_entropy with the class axis last, plus z_loss * lse**2.

    Returns (loss, grad), grad = d(loss)/d(logits) ("none": of the sum).
    """
    with np.errstate(**_IGNORE):  # ignored rows may hold NaN / inf
        return _cross_entropy(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss)


def _cross_entropy(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss):
    x = f64(logits)
    C = x.shape[-1]
    lead = x.shape[:-1]
    x2 = x.reshape(-1, C)
    N = x2.shape[0]
    w = np.ones(C) if weight is None else f64(weight)
    W = float(np.sum(w))
    eps = float(label_smoothing)
    lse = logsumexp(x2, axis=1)
    # PyTorch's log_softmax (x - max - log sum): a +inf logit makes the whole
    # row NaN (inf - inf), as it does in PyTorch, where x - lse would give
    # -inf and an infinite loss
    logp = log_softmax(x2, axis=1)
    p = np.exp(logp)
    t = np.asarray(target)
    if t.dtype.kind == "f":  # class probabilities
        q = (1 - eps) * f64(t).reshape(-1, C) + eps / C
        wq = w * q
        # no target mass, no term: 0 log 0 = 0 on a masked class (docs/numerics.md; PyTorch: NaN);
        # a NaN row stays NaN (as scipy.special.xlogy(0, nan))
        row_loss = -np.sum(np.where((wq == 0) & ~np.isnan(logp), 0.0, wq * logp), axis=1)
        row_grad = np.sum(wq, axis=1)[:, None] * p - wq
        active = np.ones(N, bool)
        denom = float(N)
    else:
        t = t.reshape(-1).astype(np.int64)
        active = t != ignore_index
        tt = np.where(active, t, 0)
        onehot = np.zeros((N, C))
        onehot[np.arange(N), tt] = 1.0
        wt = w[tt]
        row_loss = (1 - eps) * wt * (-logp[np.arange(N), tt])
        row_grad = ((1 - eps) * wt)[:, None] * (p - onehot)
        if eps:  # (a -inf logit makes the smoothing term inf; only when eps > 0)
            row_loss = row_loss + eps / C * np.sum(np.where((w == 0) & ~np.isnan(logp), 0.0, w * -logp), axis=1)
            row_grad = row_grad + eps / C * (W * p - w)
        denom = float(np.sum(np.where(active, wt, 0.0)))
    if z_loss:
        row_loss = row_loss + z_loss * lse ** 2
        row_grad = row_grad + 2 * z_loss * lse[:, None] * p
    row_loss = np.where(active, row_loss, 0.0)
    row_grad = np.where(active[:, None], row_grad, 0.0)
    loss, grad = _reduce(row_loss.reshape(lead), row_grad, reduction, denom)
    return loss, grad.reshape(x.shape)


def softplus(v: np.ndarray) -> np.ndarray:
    """log(1 + exp(v)) without overflow or loss of small values."""
    return np.maximum(v, 0.0) + np.log1p(np.exp(-np.abs(v)))


def sigmoid(v: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def binary_cross_entropy_with_logits(logits, target, weight=None, pos_weight=None, reduction="mean"):
    """PyTorch's binary_cross_entropy_with_logits. Returns (loss, grad)."""
    x, t = f64(logits), f64(target)
    w = np.ones_like(x) if weight is None else np.broadcast_to(f64(weight), x.shape)
    pw = np.ones_like(x) if pos_weight is None else np.broadcast_to(f64(pos_weight), x.shape)
    lw = 1.0 + (pw - 1.0) * t
    # PyTorch's (1 - t) x + lw softplus(-x) in the equal form that does not cancel for x << 0
    # (at x = -1e30 the first form's terms are 1e30 apart from the 1e25 loss)
    loss = w * ((1.0 - t) * softplus(x) + pw * t * softplus(-x))
    grad = w * ((1.0 - t) - lw * sigmoid(-x))
    if reduction == "none":
        return loss, grad
    if reduction == "sum":
        return float(np.sum(loss)), grad
    n = x.size
    return float(np.sum(loss)) / n, grad / n


def mean_denominator(target, weight=None, ignore_index=-100, C: Optional[int] = None) -> float:
    """The "mean" divisor of an index-target cross-entropy (PyTorch's rule)."""
    t = np.asarray(target).reshape(-1)
    keep = t != ignore_index
    if weight is None:
        return float(np.sum(keep))
    return float(np.sum(f64(weight)[t[keep]]))


def _log1p_form_lse(u: np.ndarray) -> Tuple[float, np.ndarray]:
    """(log sum exp(u) as m + log1p(the terms below one maximum m), accurate near 0;
    softmax(u), as exp(u - m) / S: exp(u - lse) would lose log S beside a huge m)."""
    if np.isnan(u).any():
        return float("nan"), np.full(u.shape, np.nan)
    top = int(np.argmax(u))
    m = u[top]
    if m == np.inf:
        return float("inf"), np.where(u == np.inf, np.nan, 0.0)
    e = np.exp(u - m)
    return float(m + np.log1p(np.sum(np.delete(e, top)))), e / np.sum(e)


def multilabel_categorical_crossentropy(logits, target, reduction="mean"):
    """ZLPR, written from its formula in float64: per row, logsumexp([0, x_neg]) +
    logsumexp([0, -x_pos]), classes with x = -inf left out. Returns (loss, grad)."""
    x = f64(logits)
    # a class at -inf is removed from both groups (a NaN stays, and makes its group NaN)
    pos = np.asarray(target).astype(bool) & (x != -np.inf)
    neg = ~np.asarray(target).astype(bool) & (x != -np.inf)
    rows = x.reshape(int(np.prod(x.shape[:-1], dtype=np.int64)), x.shape[-1])
    P, Q = pos.reshape(rows.shape), neg.reshape(rows.shape)
    loss = np.empty(rows.shape[0])
    grad = np.zeros(rows.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        for r in range(rows.shape[0]):
            total = 0.0
            for mask, sign in ((Q[r], 1.0), (P[r], -1.0)):
                u = np.concatenate(([0.0], sign * rows[r, mask]))
                lse, p = _log1p_form_lse(u)
                total += lse
                grad[r, mask] = sign * p[1:]
            loss[r] = total
    lead = x.shape[:-1]
    loss, grad = loss.reshape(lead), grad.reshape(x.shape)
    if reduction == "none":
        return loss, grad
    if reduction == "sum":
        return float(np.sum(loss)), grad
    n = loss.size
    return (float(np.sum(loss)) / n if n else 0.0), (grad / n if n else grad)


def positives_to_target(positives, C: int) -> np.ndarray:
    """The dense 0/1 target that class ids (-1: padding) mark."""
    p = np.asarray(positives)
    t = np.zeros(p.shape[:-1] + (C,), bool)
    n = int(np.prod(p.shape[:-1], dtype=np.int64))
    rows, ids = t.reshape(n, C), p.reshape(n, p.shape[-1])
    for r in range(rows.shape[0]):
        rows[r, ids[r][ids[r] >= 0]] = True
    return t


# Margin losses (SPEC section 3): logits from the formulas, in float64 (or
# complex128 for the complex step below).
_MARGIN_SCALE = {"normface": 20.0, "cosface": 64.0, "arcface": 64.0, "combined": 64.0,
                 "sphereface": 1.0, "lsoftmax": 1.0}
_MARGIN_M = {"normface": 0.0, "combined": 0.0, "cosface": 0.35, "arcface": 0.5, "sphereface": 4, "lsoftmax": 4}
MARGIN_GRAD_MAX = 4000  # complex-step gradients for weight up to this many elements


def _margin_row_losses(x, w, labels, loss, s, m, m1, m2, m3, lam, ignore_index):
    """Per-row losses (0 on ignored rows); x, w may be complex (analytic formulas only)."""
    nx = np.sqrt(np.sum(x * x, axis=1))
    nw = np.sqrt(np.sum(w * w, axis=1))
    # norms below 1e-12 count as 1e-12 in the normalisation (torch.nn.functional.normalize's eps)
    cx, cw = (np.where(n.real < 1e-12, 1e-12, n) for n in (nx, nw))
    cos = (x @ w.T) / (cx[:, None] * cw[None, :])
    if loss == "sphereface":
        logits = x @ (w / cw[:, None]).T  # |x| cos
    elif loss == "lsoftmax":
        logits = x @ w.T  # |x||w| cos
    else:
        logits = cos
    out = np.zeros(x.shape[0], logits.dtype)
    for n in range(x.shape[0]):
        y = int(labels[n])
        if y == ignore_index:
            continue
        c = cos[n, y]
        theta = np.arccos(c)
        if loss == "normface":
            psi = c
        elif loss == "cosface":
            psi = c - m
        elif loss == "arcface":
            psi = np.cos(theta + m) if theta.real + m <= np.pi else c + np.cos(m) - 1.0
        elif loss == "combined":
            psi = np.cos(m1 * theta + m2) - m3
        else:
            k = min(np.floor(m * theta.real / np.pi), m - 1)
            psi = (-1.0) ** k * np.cos(m * theta) - 2.0 * k
        row = s * logits[n].copy()
        if loss == "sphereface":
            row[y] = s * nx[n] * psi
        elif loss == "lsoftmax":
            row[y] = s * (lam * nx[n] * nw[y] * c + nx[n] * nw[y] * psi) / (1.0 + lam)
        else:
            row[y] = s * psi
        top = np.max(row.real)
        out[n] = top + np.log(np.sum(np.exp(row - top))) - row[y]
    return out


def margin_cross_entropy(x, weight, labels, loss="arcface", scale=None, margin=None, m1=1.0, m2=0.0, m3=0.0,
                         lambda_=0.0, ignore_index=-1, reduction="mean", return_grad=False):
    """The margin losses from SPEC's formulas; gradients by the complex step
    (Im f(a + ih e_k) / h: exact to rounding, no difference quotient)."""
    x, w, labels = f64(x), f64(weight), np.asarray(labels)
    s = _MARGIN_SCALE[loss] if scale is None else float(scale)
    m = _MARGIN_M[loss] if margin is None else float(margin)
    args = (labels, loss, s, m, m1, m2, m3, lambda_, ignore_index)
    rows = _margin_row_losses(x, w, *args).real
    valid = int(np.sum(labels != ignore_index))
    denom = valid if reduction == "mean" else 1
    value = rows if reduction == "none" else (float(np.sum(rows)) / denom if denom else 0.0)
    if not return_grad:
        return value
    if w.size > MARGIN_GRAD_MAX:
        raise NotImplementedError("complex-step gradient of a weight this large")
    if np.any(np.sum(x * x, axis=1) < 1e-24) or np.any(np.sum(w * w, axis=1) < 1e-24):
        raise NotImplementedError("a zero-norm row: the loss has no derivative there")
    xy = x[labels != ignore_index]
    wy = w[labels[labels != ignore_index]]
    cos = np.sum(xy * wy, 1) / np.sqrt(np.sum(xy * xy, 1) * np.sum(wy * wy, 1))
    if np.any(np.abs(cos) > 1.0 - 1e-9):
        raise NotImplementedError("a target at angle 0 or pi: the margin's cone has no derivative there")
    h, scale_g = 1e-30, (1.0 / denom if denom else 0.0)
    gx = np.zeros_like(x)
    for k in range(x.shape[1]):  # a row's loss depends on its own x only: a column at once
        xc = x.astype(np.complex128)
        xc[:, k] += 1j * h
        gx[:, k] = _margin_row_losses(xc, w, *args).imag / h * scale_g
    gw = np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        wc = w.astype(np.complex128)
        wc[idx] += 1j * h
        gw[idx] = np.sum(_margin_row_losses(x, wc, *args).imag) / h * scale_g
    return value, (gx, gw)


def _triplet_terms(e, labels, margin, mining, distance, normalize, soft):
    """Per-anchor losses and the number of terms the mean divides by, over the
    tensor of every triplet (e may be complex: the hinge and the mining follow
    the real part)."""
    N = e.shape[0]
    if N == 0:
        return np.zeros(0, e.dtype), 0
    if normalize or distance == "cosine":
        norms = np.sqrt(np.sum(e * e, axis=1))
        e = e / np.where(norms.real < 1e-12, 1e-12, norms)[:, None]
    if distance == "cosine":
        D = 1.0 - e @ e.T
    else:
        sq = np.sum((e[:, None, :] - e[None, :, :]) ** 2, axis=2)
        D = sq if distance == "squared" else np.where(sq.real > 0, np.sqrt(np.where(sq.real > 0, sq, 1.0)), 0 * sq)
    same = labels[:, None] == labels[None, :]
    pos, neg = same & ~np.eye(N, dtype=bool), ~same
    if mining == "batch_hard":
        valid = pos.any(axis=1) & neg.any(axis=1)
        p = np.argmax(np.where(pos, D.real, -np.inf), axis=1)  # the first of equal ones
        n = np.argmin(np.where(neg, D.real, np.inf), axis=1)
        V = (D[np.arange(N), p] - D[np.arange(N), n])[:, None, None]
        mask = valid[:, None, None]
        # a farthest positive or nearest negative shared by two points: the gradient is not unique
        dp, dn = D.real[np.arange(N), p][:, None], D.real[np.arange(N), n][:, None]
        near = lambda a, b: np.abs(a - b) <= 1e-7 * (1.0 + np.abs(b))  # noqa: E731
        tied = (np.sum(pos & near(D.real, dp), axis=1) > 1) | (np.sum(neg & near(D.real, dn), axis=1) > 1)
        if np.any(valid & tied) and np.iscomplexobj(e):
            raise NotImplementedError("tied hardest triplets: no unique gradient")
    else:
        V = D[:, :, None] - D[:, None, :]  # (anchor, positive, negative)
        mask = pos[:, :, None] & neg[:, None, :]
    if soft:
        big = V.real > 30
        T = np.where(big, V + np.log1p(np.exp(-np.where(big, V, 0))), np.log1p(np.exp(np.where(big, 0, V))))
    else:
        T = np.where(V.real + margin > 0, V + margin, 0 * V)
    T = np.where(mask, T, 0 * T)
    rows = T.sum(axis=(1, 2))
    count = int(valid.sum()) if mining == "batch_hard" else int(np.count_nonzero(T.real > 0))
    return rows, count


def triplet_margin_loss(embeddings, labels, margin=0.2, mining="batch_hard", distance="euclidean",
                        normalize=False, soft=False, reduction="mean", return_grad=False):
    """The triplet loss by looping over every triplet in float64; the gradient by the complex step."""
    e, labels = f64(embeddings), np.asarray(labels)
    if mining == "batch_all" and e.shape[0] > 200:
        raise NotImplementedError("the tensor of every triplet of a batch this large")
    args = (labels, margin, mining, distance, normalize, soft)
    rows, count = _triplet_terms(e, *args)
    denom = count if reduction == "mean" else 1
    value = rows.real if reduction == "none" else (float(np.sum(rows.real)) / denom if denom else 0.0)
    if not return_grad:
        return value
    if e.size * e.shape[0] ** (3 if mining == "batch_all" else 2) > 4_000_000:
        raise NotImplementedError("complex-step gradient of a batch this large")
    h, grad = 1e-30, np.zeros_like(e)
    for idx in np.ndindex(*e.shape):
        ec = e.astype(np.complex128)
        ec[idx] += 1j * h
        grad[idx] = np.sum(_triplet_terms(ec, *args)[0]).imag / h / (denom if denom else np.inf)
    return value, grad


# --------------------------------------------------------------------------
# Sampled softmax and NCE (TensorFlow's tf.nn.compute_sampled_logits,
# sampled_softmax_loss, nce_loss; a removed accidental hit is -inf, no term)
# --------------------------------------------------------------------------

def _hit_mask(labels, sampled) -> np.ndarray:
    """[B, S]: sampled candidate s is one of row b's labels."""
    return (np.asarray(labels)[:, :, None] == np.asarray(sampled)[None, None, :]).any(axis=1)


def candidate_correction(logits, labels, sampled, true_expected_count, sampled_expected_count, num_true=1,
                         subtract_log_q=True, remove_accidental_hits=True, out=None):
    z = f64(logits).copy()
    labels = np.asarray(labels).reshape(z.shape[0], num_true)
    if subtract_log_q:
        with np.errstate(divide="ignore"):
            z[:, :num_true] -= np.log(f64(true_expected_count).reshape(z.shape[0], num_true))
            z[:, num_true:] -= np.log(f64(sampled_expected_count))
    if remove_accidental_hits:
        z[:, num_true:][_hit_mask(labels, sampled)] = -np.inf
    return z


def compute_sampled_logits(weights, biases, labels, inputs, sampled_values, num_true=1, subtract_log_q=True,
                           remove_accidental_hits=True):
    w, b, x = f64(weights), f64(biases), f64(inputs)
    sampled, tc, sc = sampled_values
    labels = np.asarray(labels).reshape(x.shape[0], num_true)
    ids = np.concatenate([labels, np.broadcast_to(np.asarray(sampled), (x.shape[0], len(sampled)))], axis=1)
    z = np.einsum("bd,bkd->bk", x, w[ids]) + b[ids]
    z = candidate_correction(z, labels, sampled, tc, sc, num_true, subtract_log_q, remove_accidental_hits)
    probs = np.zeros_like(z)
    probs[:, :num_true] = 1.0 / num_true
    return z, probs


def _sampled_loss(kind, weights, biases, labels, inputs, num_sampled, num_classes, num_true=1, sampled_values=None,
                  remove_accidental_hits=None, subtract_log_q=True, reduction="none", return_grad=False,
                  label_smoothing=0.0, **_):
    """loss and, with return_grad, (grad_inputs, (ids, weight rows), (ids, bias values)) over the distinct ids."""
    if remove_accidental_hits is None:
        remove_accidental_hits = kind == "softmax"
    w, x = f64(weights), f64(inputs)
    B, T = x.shape[0], num_true
    sampled = np.asarray(sampled_values[0])
    z, probs = compute_sampled_logits(weights, biases, labels, inputs, sampled_values, T, subtract_log_q,
                                      remove_accidental_hits)
    kept = np.ones(z.shape, bool)
    if remove_accidental_hits:
        kept[:, T:] = ~_hit_mask(np.asarray(labels).reshape(B, T), sampled)
    with np.errstate(**_IGNORE):
        if kind == "softmax":
            n_kept = kept.sum(axis=1, keepdims=True)
            q = np.where(kept, (1 - label_smoothing) * probs + label_smoothing / n_kept, 0.0)
            lse = logsumexp(z, axis=1)
            logp = z - lse[:, None]
            rows = -np.sum(np.where(q > 0, q * logp, 0.0), axis=1)
            dz = np.exp(logp) * q.sum(axis=1, keepdims=True) - q
        else:
            zz = np.where(kept, z, 0.0)
            rows = np.sum(np.where(kept, softplus(zz) - zz * probs, 0.0), axis=1)
            dz = np.where(kept, sigmoid(zz) - probs, 0.0)
    loss, dz = _reduce(rows, dz, reduction, float(B))
    if not return_grad:
        return loss
    labels = np.asarray(labels).reshape(B, T)
    ids = np.concatenate([labels, np.broadcast_to(sampled, (B, sampled.size))], axis=1)
    grad_x = np.einsum("bk,bkd->bd", dz, w[ids])
    distinct, inverse = np.unique(ids, return_inverse=True)
    gw, gb = np.zeros((distinct.size, w.shape[1])), np.zeros(distinct.size)
    np.add.at(gw, inverse.reshape(-1), (dz[:, :, None] * x[:, None, :]).reshape(-1, w.shape[1]))
    np.add.at(gb, inverse.reshape(-1), dz.reshape(-1))
    return loss, (grad_x, (distinct, gw), (distinct, gb))


def sampled_softmax_loss(*args, **kwargs):
    return _sampled_loss("softmax", *args, **kwargs)


def nce_loss(*args, **kwargs):
    return _sampled_loss("nce", *args, **kwargs)
