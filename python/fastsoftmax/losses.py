"""Cross-entropy losses with their gradients, fused in one pass.

The class axis is the last axis (``logits[..., C]``), as in optax and
Liger-Kernel; PyTorch puts it at axis 1, so ``torch_logits.movedim(1, -1)``
maps a PyTorch call onto ours.
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple, Union

import numpy as np

from . import _core
from ._arrays import (OutputRows, as_array, as_float_array, check_finite, check_out, flag, input_rows, integer,
                      narrowed, separate_from)

__all__ = ["cross_entropy", "binary_cross_entropy_with_logits"]

_REDUCTIONS = ("mean", "sum", "none")
Loss = Union[np.ndarray, np.generic]


def _check_reduction(reduction: Any) -> str:
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(repr(r) for r in _REDUCTIONS)}; got {reduction!r}")
    return reduction


def _grad_target(grad_out: Optional[np.ndarray], shape: Tuple[int, ...], result: np.dtype) -> np.ndarray:
    if grad_out is None:
        return np.empty(shape, result)
    return check_out(grad_out, "grad_out", shape, result)


def _reduce(row_loss: np.ndarray, reduction: str, denominator: float, result: np.dtype,
            shape: Tuple[int, ...]) -> Loss:
    if reduction == "none":
        return narrowed(row_loss, result).reshape(shape)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and inf rows give a NaN or inf total
        total = float(np.sum(row_loss))  # pairwise, fixed order: independent of threads
    if reduction == "mean":
        total = total / denominator if denominator != 0 else 0.0
    return narrowed(total, result)


def _class_weights(weight: Any, C: int, compute: np.dtype) -> Optional[np.ndarray]:
    if weight is None:
        return None
    w, _, _ = as_float_array(weight, "weight")
    if w.shape != (C,):
        raise ValueError(f"weight has shape {w.shape}; expected ({C},), one weight per class")
    return np.array(w, dtype=compute, order="C", copy=True)  # contiguous and aligned


def _class_slice(lse: Any, lead_shape: Tuple[int, ...], C: int, class_offset: Any,
                 num_classes: Any) -> Tuple[Optional[np.ndarray], int, int]:
    """(the rows' given log-sum-exp as float64 or None, class_offset, num_classes) for cross_entropy."""
    offset = integer(class_offset, "class_offset")
    if num_classes is None and offset != 0:
        raise ValueError(f"class_offset={offset} needs num_classes (the number of classes of all slices) and lse")
    total = C if num_classes is None else integer(num_classes, "num_classes")
    if lse is None:
        if offset != 0 or total != C:
            raise ValueError("class_offset and num_classes describe a slice of the classes: they need lse=")
        return None, 0, C
    if not 0 <= offset <= total - C:
        raise ValueError(f"class_offset={offset}: the logits' {C} classes from there must lie within "
                         f"num_classes={total}")
    v, _, _ = as_float_array(lse, "lse")
    if v.shape != lead_shape:
        raise ValueError(f"lse has shape {v.shape}; expected {lead_shape} (logits.shape[:-1]), one per row")
    rows = np.array(v, dtype=np.float64, order="C", copy=True).reshape(-1)
    rows[rows == np.inf] = np.nan  # as a row holding +inf gives NaN
    return rows, offset, total


def _index_targets(t: np.ndarray, lead_shape: Tuple[int, ...], C: int, ignore_index: int) -> Tuple[np.ndarray, int]:
    """The labels as a flat int64 array, and how many of them are not ignore_index."""
    if t.shape != lead_shape:
        raise ValueError(f"target has shape {t.shape} but logits have shape {lead_shape + (C,)}: class "
                         f"indices need shape {lead_shape} (logits.shape[:-1])")
    if t.dtype.kind == "u" and t.size and t.max() > np.iinfo(np.int64).max:
        raise IndexError(f"target holds {t.max()}, out of range for {C} classes")
    flat = np.array(t, dtype=np.int64, order="C", copy=True).reshape(-1)
    bad, valid = _core.check_labels(flat, C, ignore_index)
    if bad >= 0:
        where = np.unravel_index(bad, lead_shape) if lead_shape else ()
        raise IndexError(f"target[{', '.join(map(str, where))}] = {flat[bad]} is out of range for {C} classes "
                         f"(expected 0 <= label < {C}, or ignore_index={ignore_index})")
    return flat, valid


def cross_entropy(logits: Any, target: Any, *, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0, z_loss: float = 0.0,
                  return_grad: bool = False, grad_out: Optional[np.ndarray] = None, lse: Any = None,
                  class_offset: int = 0, num_classes: Optional[int] = None
                  ) -> Union[Loss, Tuple[Loss, np.ndarray]]:
    """Softmax cross-entropy over the last axis, with its gradient in the same pass.

    With ``lse = logsumexp(logits[..., :])``, ``eps = label_smoothing`` and class
    weights ``w`` (ones by default), per row (PyTorch's definitions):

    * class indices ``t`` (integer, shape ``logits.shape[:-1]``):
      ``(1-eps) w[t] (lse - x[t]) + eps/C * sum_c w[c] (lse - x[c])``;
      rows with ``t == ignore_index`` contribute nothing.
    * class probabilities ``q`` (float, shape ``logits.shape``):
      ``-sum_c w[c] q'[c] log_softmax(x)[c]`` with ``q' = (1-eps) q + eps/C``.

    ``z_loss`` adds ``z_loss * lse**2`` per row (PaLM's auxiliary loss).
    ``reduction="mean"`` divides by the summed ``w[t]`` of non-ignored rows
    (probabilities: by the number of rows). Unlike PyTorch, a mean over a batch
    whose rows are all ignored (or an empty batch) is 0.0 with a zero gradient.

    ``return_grad=True`` returns ``(loss, grad)``, grad = d(loss)/d(logits) for
    the reduction ("none": of the sum). ``grad_out`` receives the gradient; it
    may be ``logits`` itself, which then holds its gradient afterwards.

    A class axis split into slices (chunks of a large vocabulary, or shards
    on several devices): with ``lse`` (each row's log-sum-exp over all
    ``num_classes`` classes, e.g. from :func:`merge_row_statistics` of the
    slices' :func:`row_statistics`), ``logits`` may hold classes
    ``[class_offset, class_offset + C)`` only, ``target`` holds indices into
    all classes and ``weight`` all ``num_classes`` weights. The loss is then
    this slice's share (the target term where the target falls in the slice,
    the smoothing terms of its classes, ``z_loss`` in the slice holding class
    0), so that the slices' losses add up to the whole loss and their
    gradients are the whole gradient's columns. ``lse`` takes class-index
    targets only; a row whose ``lse`` is ``+inf`` gets a NaN loss, as a row
    holding ``+inf`` does.

    Examples
    --------
    >>> import numpy as np, fastsoftmax as fs
    >>> logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0]])
    >>> round(float(fs.cross_entropy(logits, np.array([0, 2]))), 4)
    0.67
    """
    x, compute, result = as_float_array(logits, "logits")
    if x.ndim == 0:
        raise ValueError("logits: expected at least 1 dimension (classes on the last axis), got a scalar")
    C = x.shape[-1]
    if C == 0:
        raise ValueError(f"logits has shape {x.shape}: the class axis (last) is empty")
    _check_reduction(reduction)
    eps = check_finite(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    z = check_finite(z_loss, "z_loss")
    if z < 0:
        raise ValueError(f"z_loss must be >= 0, got {z}")
    lead_shape = x.shape[:-1]
    rows = int(np.prod(lead_shape, dtype=np.int64))
    ignore_index = integer(ignore_index, "ignore_index")
    t = as_array(target, "target")
    lse_rows, class_offset, total = _class_slice(lse, lead_shape, C, class_offset, num_classes)
    w = _class_weights(weight, total, compute)
    labels = probs = None
    if t.dtype.kind in "iu":
        labels, valid = _index_targets(t, lead_shape, total, ignore_index)
        if w is None:
            denominator = float(valid)
        else:
            denominator = float(np.sum(w.astype(np.float64)[labels[labels != ignore_index]]))
    elif t.dtype.kind == "f":
        if lse_rows is not None:
            raise ValueError("lse: takes class-index targets; with probabilities the whole class axis is needed")
        if t.shape != x.shape:
            raise ValueError(f"target has shape {t.shape} but logits have shape {x.shape}: class "
                             f"probabilities need the logits' shape")
        t, _, _ = as_float_array(t, "target")  # float16/32/64: a longdouble is refused
        probs = input_rows(t, compute)
        denominator = float(rows)
    else:
        raise TypeError(f"target: unsupported dtype {t.dtype}; expected integer class indices or float "
                        f"class probabilities")
    x_rows = input_rows(x, compute)
    dst = None
    return_grad = flag(return_grad, "return_grad")
    want_grad = return_grad or grad_out is not None
    if want_grad:
        gtarget = _grad_target(grad_out, x.shape, result)
        dst = OutputRows(gtarget, compute)
        x_rows = separate_from(x_rows, dst.block)
        if probs is not None:
            probs = separate_from(probs, dst.block)
    grad_scale = (1.0 / denominator if denominator != 0 else 0.0) if reduction == "mean" else 1.0
    row_loss = np.empty(rows, np.float64)
    _core.cross_entropy_rows(x_rows, labels, probs, w, ignore_index, eps, z, grad_scale, row_loss,
                             dst.block if dst is not None else None, lse_rows, class_offset, total)
    loss = _reduce(row_loss, reduction, denominator, result, lead_shape)
    if dst is None:
        return loss
    if grad_scale == 0:  # a mean over nothing: 0.0 with a zero gradient, even beside NaN logits
        dst.block[...] = 0
    dst.finish()
    return (loss, gtarget) if return_grad else loss


def _broadcasts_to(shape: Tuple[int, ...], target: Tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


def _weight_operand(value: Any, name: str, logits_shape: Tuple[int, ...], shape: Tuple[int, ...],
                    compute: np.dtype, output: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """A (rows, n) view of a weight broadcast to ``shape``, the logits' shape made at least 1-d
    (stride 0 where broadcast), copied first when it is misaligned or may share memory with the output the kernel writes (grad_out)."""
    if value is None:
        return None
    v, _, _ = as_float_array(value, name)
    if not _broadcasts_to(v.shape, logits_shape):  # (1,) against 0-d logits would make the loss 1-d
        raise ValueError(f"{name} has shape {v.shape}, which does not broadcast to the logits' shape "
                         f"{logits_shape}")
    if not v.flags.aligned or (output is not None and np.may_share_memory(v, output)):
        v = np.array(v, copy=True)
    b = np.broadcast_to(np.asarray(v, dtype=compute), shape)
    n = shape[-1]
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    lead = [st for s, st in zip(shape[:-1], b.strides[:-1]) if s != 1]
    if len(set(lead)) <= 1 and (not lead or lead[0] == 0):  # broadcast along every leading axis
        return np.lib.stride_tricks.as_strided(b, (rows, n), (0, b.strides[-1]), writeable=False)
    return np.array(b, order="C", copy=True).reshape(rows, n)


# Rows shorter than this are regrouped into rows of about _GROUPED_ROW elements
# when their weights repeat row after row (see _bce_calls).
_GROUPED_ROW = 2048


def _is_row(w: np.ndarray) -> bool:
    """Whether a (rows, n) weight is one contiguous row repeated (row stride 0)."""
    return w.strides[0] == 0 and (w.shape[1] <= 1 or w.strides[1] == w.itemsize)


def _bce_calls(x: np.ndarray, t: np.ndarray, w: Optional[np.ndarray], pw: Optional[np.ndarray],
               loss: Optional[np.ndarray], grad: Optional[np.ndarray]) -> List[Tuple[Any, ...]]:
    """The (rows, n) operands as the kernel calls that cover them, in row order.

    A short row costs the kernel a vector step's latency for its last few
    elements, so groups of k rows run as one row of k*n elements when the
    memory allows (the logits, target and outputs contiguous):
      * every weight contiguous too: k = rows, a single row, which the kernel
        splits at fixed offsets over the threads;
      * a weight of shape (n,) repeated on every row (the usual pos_weight):
        k = _GROUPED_ROW // n, that weight tiled k times; the last rows % k
        rows stay as they are.
    Element results are the same bits in any layout (the kernel's arithmetic
    is per element); only the order of the loss sum depends on it.
    """
    ops = (x, t, w, pw, loss, grad)
    rows, n = x.shape
    weights = [a for a in (w, pw) if a is not None]
    if not all(a is None or a.flags.c_contiguous for a in (x, t, loss, grad)) or \
            not all(a.flags.c_contiguous or _is_row(a) for a in weights):
        return [ops]
    k = rows if all(a.flags.c_contiguous for a in weights) else (_GROUPED_ROW // n if n else 0)
    if k < 2 or rows < k:
        return [ops]
    main = rows - rows % k

    def grouped(a: Optional[np.ndarray]) -> Optional[np.ndarray]:
        if a is None:
            return None
        if a.flags.c_contiguous:
            return a[:main].reshape(main // k, k * n)
        tiled = np.tile(a[0], k)  # a repeated row
        return np.lib.stride_tricks.as_strided(tiled, (main // k, k * n), (0, tiled.itemsize), writeable=False)

    calls = [tuple(grouped(a) for a in ops)]
    if main < rows:
        calls.append(tuple(None if a is None else a[main:] for a in ops))
    return calls


def binary_cross_entropy_with_logits(logits: Any, target: Any, *, weight: Any = None, pos_weight: Any = None,
                                     reduction: str = "mean", return_grad: bool = False,
                                     grad_out: Optional[np.ndarray] = None
                                     ) -> Union[Loss, Tuple[Loss, np.ndarray]]:
    """Sigmoid cross-entropy per element, PyTorch's formula, with its gradient.

    ``l = w * ((1 - t) x + (1 + (pos_weight - 1) t) * log(1 + exp(-x)))``,
    computed without overflow for any ``x``. ``weight`` and ``pos_weight``
    broadcast to the logits' shape (``pos_weight`` typically has shape ``(C,)``).
    "mean" divides by the number of elements (0.0 for an empty input).

    Examples
    --------
    >>> import numpy as np, fastsoftmax as fs
    >>> round(float(fs.binary_cross_entropy_with_logits(np.array([0.0, 2.0]), np.array([1.0, 0.0]))), 4)
    1.41
    """
    x, compute, result = as_float_array(logits, "logits")
    t, t_compute, _ = as_float_array(target, "target")
    if t.shape != x.shape:
        raise ValueError(f"target has shape {t.shape} but logits have shape {x.shape}; they must match")
    _check_reduction(reduction)
    shape = x.shape
    work_shape = shape if x.ndim else (1,)
    x2 = input_rows(x.reshape(work_shape), compute)
    t2 = input_rows(t.reshape(work_shape), compute)
    w2 = _weight_operand(weight, "weight", shape, work_shape, compute, grad_out)
    pw2 = _weight_operand(pos_weight, "pos_weight", shape, work_shape, compute, grad_out)
    loss_dst = OutputRows(np.empty(work_shape, result), compute) if reduction == "none" else None
    dst = None
    return_grad = flag(return_grad, "return_grad")
    want_grad = return_grad or grad_out is not None
    if want_grad:
        gtarget = _grad_target(grad_out, shape, result)
        dst = OutputRows(gtarget.reshape(work_shape), compute)
        x2, t2 = separate_from(x2, dst.block), separate_from(t2, dst.block)
    count = x.size
    grad_scale = (1.0 / count if count else 0.0) if reduction == "mean" else 1.0
    losses = []
    for x3, t3, w3, pw3, l3, g3 in _bce_calls(x2, t2, w2, pw2, loss_dst.block if loss_dst else None,
                                              dst.block if dst else None):
        losses.append(np.empty(x3.shape[0], np.float64))
        _core.bce_rows(x3, t3, w3, pw3, grad_scale, losses[-1], l3, g3)
    row_loss = np.concatenate(losses)
    if loss_dst is not None:
        loss_dst.finish()
        loss: Loss = loss_dst.target.reshape(shape)
    else:
        loss = _reduce(row_loss, reduction, float(count), result, ())
    if dst is None:
        return loss
    dst.finish()
    return (loss, gtarget) if return_grad else loss
