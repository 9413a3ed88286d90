"""Multi-label losses: ZLPR (multi-label categorical cross-entropy), dense and sparse.

The class axis is the last axis (``logits[..., C]``).
"""
from __future__ import annotations

from typing import Any, Optional, Tuple, Union

import numpy as np

from . import _core
from ._arrays import OutputRows, as_array, as_float_array, flag, input_rows, separate_from
from .losses import Loss, _check_reduction, _grad_target, _reduce

__all__ = ["multilabel_categorical_crossentropy", "sparse_multilabel_categorical_crossentropy"]


def _logits(logits: Any) -> Tuple[np.ndarray, np.dtype, np.dtype]:
    x, compute, result = as_float_array(logits, "logits")
    if x.ndim == 0:
        raise ValueError("logits: expected at least 1 dimension (classes on the last axis), got a scalar")
    return x, compute, result


def _dense_flags(target: Any, shape: Tuple[int, ...]) -> np.ndarray:
    """The 0/1 target as a C-contiguous uint8 row block (a bool array is only viewed)."""
    t = as_array(target, "target")
    if t.dtype.kind not in "biuf" or (t.dtype.kind == "f" and t.dtype.itemsize > 8):
        raise TypeError(f"target: unsupported dtype {t.dtype}; expected 0/1 values (bool, integer, float16/32/64)")
    if t.shape != shape:
        raise ValueError(f"target has shape {t.shape} but logits have shape {shape}; they must match")
    if t.dtype != np.bool_:
        if not np.all((t == 0) | (t == 1)):
            bad = np.argwhere((t != 0) & (t != 1))[0]
            raise ValueError(f"target[{', '.join(map(str, bad))}] = {t[tuple(bad)]!r}: expected 0 or 1")
        t = t != 0
    return input_rows(t.view(np.uint8), np.dtype(np.uint8))


def _positive_ids(positives: Any, lead_shape: Tuple[int, ...], C: int) -> np.ndarray:
    """The class ids as an int64 row block of shape (rows, K), checked: -1 or in [0, C)."""
    p = as_array(positives, "positives")
    if p.dtype.kind not in "iu":
        raise TypeError(f"positives: unsupported dtype {p.dtype}; expected integer class ids (-1: padding)")
    if p.ndim != len(lead_shape) + 1 or p.shape[:-1] != lead_shape:
        raise ValueError(f"positives has shape {p.shape} but logits have shape {lead_shape + (C,)}: class ids "
                         f"need shape {lead_shape + ('K',)}")
    if p.dtype.kind == "u" and p.size and p.max() > np.iinfo(np.int64).max:
        raise IndexError(f"positives holds {p.max()}, out of range for {C} classes")
    ids = input_rows(p, np.dtype(np.int64))
    bad = (ids < -1) | (ids >= C)
    if bad.any():
        r, k = np.argwhere(bad)[0]
        where = tuple(np.unravel_index(r, lead_shape)) if lead_shape else ()
        raise IndexError(f"positives[{', '.join(map(str, where + (k,)))}] = {ids[r, k]} is out of range for "
                         f"{C} classes (expected 0 <= id < {C}, or -1 for padding)")
    return ids


def _zlpr(x: np.ndarray, compute: np.dtype, result: np.dtype, target: Optional[np.ndarray],
          positives: Optional[np.ndarray], reduction: str, return_grad: Any,
          grad_out: Optional[np.ndarray]) -> Union[Loss, Tuple[Loss, np.ndarray]]:
    _check_reduction(reduction)
    return_grad = flag(return_grad, "return_grad")
    lead_shape = x.shape[:-1]
    rows = int(np.prod(lead_shape, dtype=np.int64))
    x_rows = input_rows(x, compute)
    dst = None
    if return_grad or grad_out is not None:
        gtarget = _grad_target(grad_out, x.shape, result)
        dst = OutputRows(gtarget, compute)
        x_rows = separate_from(x_rows, dst.block)
        target = None if target is None else separate_from(target, dst.block)
        positives = None if positives is None else separate_from(positives, dst.block)
    grad_scale = (1.0 / rows if rows else 0.0) if reduction == "mean" else 1.0
    row_loss = np.empty(rows, np.float64)
    _core.multilabel_rows(x_rows, target, positives, grad_scale, row_loss, dst.block if dst is not None else None)
    loss = _reduce(row_loss, reduction, float(rows), result, lead_shape)
    if dst is None:
        return loss
    dst.finish()
    return (loss, gtarget) if return_grad else loss


def multilabel_categorical_crossentropy(logits: Any, target: Any, *, reduction: str = "mean",
                                        return_grad: bool = False, grad_out: Optional[np.ndarray] = None
                                        ) -> Union[Loss, Tuple[Loss, np.ndarray]]:
    """ZLPR, the multi-label categorical cross-entropy (Su Jianlin), with its gradient.

    Per row, with ``target`` 0/1 of the logits' shape (positives where 1):
    ``log(1 + sum_{neg} exp(x_j)) + log(1 + sum_{pos} exp(-x_i))``. A logit
    of ``-inf`` removes its class from both sums. ``reduction``: ``"mean"``
    over the rows (0.0 for no rows), ``"sum"`` or ``"none"`` (shape
    ``logits.shape[:-1]``). ``return_grad=True`` returns ``(loss, grad)``,
    grad = d(loss)/d(logits) for the reduction ("none": of the sum);
    ``grad_out`` receives it (it may be ``logits`` itself). A bool target is
    used as it is; other dtypes are checked to hold 0 and 1 only.

    Examples
    --------
    >>> import numpy as np, fastsoftmax as fs
    >>> logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    >>> round(float(fs.multilabel_categorical_crossentropy(logits, np.array([[1, 0, 0], [0, 1, 1]]))), 4)
    2.0285
    """
    x, compute, result = _logits(logits)
    flags = _dense_flags(target, x.shape)
    return _zlpr(x, compute, result, flags, None, reduction, return_grad, grad_out)


def sparse_multilabel_categorical_crossentropy(logits: Any, positives: Any, *, reduction: str = "mean",
                                               return_grad: bool = False, grad_out: Optional[np.ndarray] = None
                                               ) -> Union[Loss, Tuple[Loss, np.ndarray]]:
    """ZLPR with the positives given as class ids: ``positives[..., K]``, ``-1`` padding.

    Equal, bit for bit, to :func:`multilabel_categorical_crossentropy` with the
    dense 0/1 target those ids mark (an id listed twice counts once), without
    building that target: each row's ids mark a row of bytes per thread.

    Examples
    --------
    >>> import numpy as np, fastsoftmax as fs
    >>> logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    >>> round(float(fs.sparse_multilabel_categorical_crossentropy(logits, np.array([[0, -1], [1, 2]]))), 4)
    2.0285
    """
    x, compute, result = _logits(logits)
    ids = _positive_ids(positives, x.shape[:-1], x.shape[-1])
    return _zlpr(x, compute, result, None, ids, reduction, return_grad, grad_out)
