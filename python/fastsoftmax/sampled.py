"""Sampled softmax and NCE over a large class set, with TensorFlow's
semantics (``tf.nn.sampled_softmax_loss``, ``tf.nn.nce_loss``,
``tf.nn.compute_sampled_logits`` and the ``tf.random.*_candidate_sampler``
samplers), so that a model moves over unchanged.

One set of ``S`` candidate classes is drawn per batch (in C++, from a
seedable generator); a row's logits are its ``num_true`` label columns
followed by the ``S`` sampled ones, each corrected by ``log Q`` (the
sampler's expected count) and with accidental hits (a sampled class that is
one of the row's labels) removed. Removed candidates get a ``-inf`` logit:
exactly zero probability and zero gradient (TensorFlow writes ``-FLT_MAX``).
Only the ``B x (num_true + S)`` logits are made, never anything of size
``C x d``; the gradients of the weights and biases are sparse: the distinct
classes touched and their rows.
"""
from __future__ import annotations

import secrets
from typing import Any, NamedTuple, Optional, Tuple, Union

import numpy as np

from . import _core
from ._arrays import (OutputRows, as_array, as_float_array, check_finite, check_out, flag, input_rows, integer,
                      narrowed, separate_from)
from .losses import _check_reduction, binary_cross_entropy_with_logits, cross_entropy

__all__ = ["UniformSampler", "LogUniformSampler", "UnigramSampler", "CandidateSample", "candidate_correction",
           "compute_sampled_logits", "sampled_softmax_loss", "nce_loss"]

_UNIFORM, _LOG_UNIFORM, _UNIGRAM = 0, 1, 2  # the kinds of _core.draw_candidates


class CandidateSample(NamedTuple):
    """What a sampler's ``sample`` returns (TensorFlow's three sampled values)."""
    sampled_candidates: np.ndarray      # int64 [S]
    true_expected_count: np.ndarray     # float64, the true classes' shape
    sampled_expected_count: np.ndarray  # float64 [S]


def _class_ids(ids: Any, name: str, num_classes: int) -> np.ndarray:
    """ids as int64, each checked to lie in [0, num_classes)."""
    a = as_array(ids, name)
    if a.dtype.kind not in "iu" or a.dtype == np.bool_:
        raise TypeError(f"{name}: unsupported dtype {a.dtype}; expected integer class ids")
    bad = np.flatnonzero((a < 0) | (a >= num_classes)) if a.size else np.zeros(0, np.int64)
    if bad.size:
        where = np.unravel_index(bad[0], a.shape)
        raise IndexError(f"{name}{list(where)} = {a.reshape(-1)[bad[0]]} is outside [0, {num_classes})")
    return a.astype(np.int64)


def _expected_count(p: np.ndarray, num_sampled: int, num_tries: int) -> np.ndarray:
    """TensorFlow's expected count of a class of probability p in the sample: p S
    when the draws were S (no repeat drawn, or unique=False), else the chance
    that num_tries draws hold it, -expm1(num_tries log1p(-p))."""
    if num_tries == num_sampled:
        return p * num_sampled
    return -np.expm1(num_tries * np.log1p(-p))


class _Sampler:
    _kind = _UNIFORM

    def __init__(self, range_max: int, seed: Optional[int]) -> None:
        self.range_max = integer(range_max, "range_max", low=1)
        self._state = np.zeros(4, np.uint64)
        seed = secrets.randbits(64) if seed is None else integer(seed, "seed", low=0, high=2**64 - 1)
        _core.seed_state(seed, self._state)

    def _probability(self, ids: np.ndarray) -> np.ndarray:
        return np.full(ids.shape, 1.0 / self.range_max)

    def _support(self) -> int:
        """How many classes have a nonzero probability."""
        return self.range_max

    def _tables(self) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        return None, None

    def probability(self, ids: Any) -> np.ndarray:
        """The probability of a draw being each class of ``ids`` (float64, ``ids``' shape)."""
        return self._probability(_class_ids(ids, "ids", self.range_max))

    def sample(self, true_classes: Any, num_sampled: int, *, unique: bool = True) -> CandidateSample:
        """``num_sampled`` candidates (distinct with ``unique=True``) and the expected
        counts of the true classes and of the candidates, as TensorFlow defines them."""
        true = _class_ids(true_classes, "true_classes", self.range_max)
        S = integer(num_sampled, "num_sampled", low=0)
        unique = flag(unique, "unique")
        if unique and S > self._support():
            raise ValueError(f"num_sampled={S} unique candidates asked of a sampler with {self._support()} classes "
                             "of nonzero probability; ask for fewer or pass unique=False")
        ids = np.empty(S, np.int64)
        prob, alias = self._tables()
        tries = _core.draw_candidates(self._kind, self.range_max, prob, alias, self._state, S, unique, ids)
        return CandidateSample(ids, _expected_count(self._probability(true), S, tries),
                               _expected_count(self._probability(ids), S, tries))


class UniformSampler(_Sampler):
    """Candidates drawn uniformly from ``[0, range_max)``
    (``tf.random.uniform_candidate_sampler``)."""

    def __init__(self, range_max: int, *, seed: Optional[int] = None) -> None:
        super().__init__(range_max, seed)


class LogUniformSampler(_Sampler):
    """Candidates from ``[0, range_max)`` with ``P(k) = log((k + 2) / (k + 1)) /
    log(range_max + 1)``, Zipf-like for classes sorted by decreasing frequency
    (``tf.random.log_uniform_candidate_sampler``)."""
    _kind = _LOG_UNIFORM

    def __init__(self, range_max: int, *, seed: Optional[int] = None) -> None:
        super().__init__(range_max, seed)

    def _probability(self, ids: np.ndarray) -> np.ndarray:
        k = ids.astype(np.float64)
        return np.log((k + 2.0) / (k + 1.0)) / np.log1p(self.range_max)


class UnigramSampler(_Sampler):
    """Candidates with ``P(k)`` proportional to ``counts[k] ** power``, by the
    alias method, O(1) a draw (``tf.random.fixed_unigram_candidate_sampler``,
    whose ``distortion`` is ``power``)."""
    _kind = _UNIGRAM

    def __init__(self, counts: Any, *, power: float = 1.0, seed: Optional[int] = None) -> None:
        c, _, _ = as_float_array(counts, "counts")
        if c.ndim != 1 or c.size == 0:
            raise ValueError(f"counts has shape {c.shape}; expected a non-empty 1-D array, one count per class")
        c = c.astype(np.float64)
        if not np.all(np.isfinite(c)) or np.any(c < 0):
            bad = int(np.flatnonzero(~np.isfinite(c) | (c < 0))[0])
            raise ValueError(f"counts[{bad}] = {c[bad]}; expected finite counts >= 0")
        self.power = check_finite(power, "power")
        with np.errstate(over="ignore", divide="ignore"):
            weights = np.power(c, self.power)  # 0 ** 0 = 1, as TensorFlow's pow
        if not np.all(np.isfinite(weights)) or not np.sum(weights) > 0 or not np.isfinite(np.sum(weights)):
            raise ValueError(f"counts ** power (power={self.power}) must be finite with a positive sum; "
                             "all-zero counts, or zeros with a negative power, give no distribution")
        super().__init__(c.size, seed)
        self._p = weights / np.sum(weights)
        self._prob = np.empty(c.size, np.float64)
        self._alias = np.empty(c.size, np.int64)
        _core.alias_table(np.ascontiguousarray(weights), self._prob, self._alias)

    def _probability(self, ids: np.ndarray) -> np.ndarray:
        return self._p[ids]

    def _support(self) -> int:
        return int(np.count_nonzero(self._p))

    def _tables(self) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        return self._prob, self._alias


Sampler = Union[UniformSampler, LogUniformSampler, UnigramSampler]


def _labels(labels: Any, B: int, num_true: int, num_classes: int) -> np.ndarray:
    lab = _class_ids(labels, "labels", num_classes)
    if lab.ndim == 1 and num_true == 1:
        lab = lab[:, None]
    if lab.shape != (B, num_true):
        raise ValueError(f"labels has shape {lab.shape}; expected ({B}, {num_true}): num_true={num_true} labels "
                         f"for each of the {B} rows of inputs")
    return lab


def _counts(value: Any, name: str) -> np.ndarray:
    """Expected counts as float64; a value that is not real numbers is a TypeError naming the argument."""
    a = as_array(value, name)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected real numbers, got dtype {a.dtype}")
    return a.astype(np.float64)


def _sampled_values(values: Any, B: int, num_true: int, num_classes: int
                    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        sampled, true_count, sampled_count = values
    except (TypeError, ValueError):
        raise TypeError("sampled_values: expected (sampled_candidates, true_expected_count, "
                        "sampled_expected_count), as a sampler's sample() returns") from None
    ids = _class_ids(sampled, "sampled_candidates", num_classes)
    if ids.ndim != 1:
        raise ValueError(f"sampled_candidates has shape {ids.shape}; expected (S,)")
    tc = _counts(true_count, "true_expected_count")
    if num_true == 1 and tc.shape == (B,):
        tc = tc[:, None]
    if tc.shape != (B, num_true):
        raise ValueError(f"true_expected_count has shape {tc.shape}; expected ({B}, {num_true})")
    sc = _counts(sampled_count, "sampled_expected_count")
    if sc.shape != ids.shape:
        raise ValueError(f"sampled_expected_count has shape {sc.shape}; expected {ids.shape}, one per candidate")
    return ids, tc, sc


def _accidental_hits(labels: np.ndarray, sampled: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(rows, candidate positions) where a sampled id is one of the row's labels."""
    order = np.argsort(sampled, kind="stable")
    ordered = sampled[order]
    flat = labels.reshape(-1)
    lo = np.searchsorted(ordered, flat, "left")
    n = np.searchsorted(ordered, flat, "right") - lo  # candidates equal to each label
    rows = np.repeat(np.arange(flat.size) // labels.shape[1], n)
    first = np.repeat(lo - np.cumsum(n) + n, n)  # each run's start, minus the hits before it
    return rows, order[first + np.arange(rows.size)]


def _log_q(count: np.ndarray, subtract_log_q: bool) -> np.ndarray:
    """What the correction subtracts: log(expected count), or 0."""
    if not subtract_log_q:
        return np.zeros_like(count)
    with np.errstate(divide="ignore"):  # a zero expected count: +inf correction, as TensorFlow's log
        return np.log(count)


_NO_HITS = (np.zeros(0, np.int64), np.zeros(0, np.int64))


def _correct(z: np.ndarray, out: np.ndarray, labels: np.ndarray, sampled: np.ndarray, true_count: np.ndarray,
             sampled_shift: Optional[np.ndarray], remove_accidental_hits: bool,
             subtract_log_q: bool) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """out = z with the label columns' -log Q and the sampled columns'
    sampled_shift (None: none) added, and the accidental hits -inf, in one
    C++ pass (out may be z); returns the removed (rows, candidates)."""
    true_shift = -_log_q(true_count, subtract_log_q).astype(z.dtype)
    hits = _accidental_hits(labels, sampled) if remove_accidental_hits else None
    _core.candidate_correction_rows(z, out, true_shift, sampled_shift, *(hits or _NO_HITS))
    return hits


def candidate_correction(logits: Any, labels: Any, sampled: Any, true_expected_count: Any,
                         sampled_expected_count: Any, *, num_true: int = 1, subtract_log_q: bool = True,
                         remove_accidental_hits: bool = True, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Sampled logits corrected as ``tf.nn.compute_sampled_logits`` does.

    ``logits[B, num_true + S]`` holds each row's label columns first, then the
    ``S`` sampled ones. ``log(expected count)`` is subtracted from every column
    (``subtract_log_q``), and a sampled candidate equal to one of the row's
    ``labels[B, num_true]`` is removed (``remove_accidental_hits``): its logit
    becomes ``-inf``, which gives it exactly zero probability and zero
    gradient in ``cross_entropy``. ``out=logits`` corrects in place.

    Examples
    --------
    >>> import numpy as np, fastsoftmax.sampled as fss
    >>> z = np.zeros((1, 3))
    >>> fss.candidate_correction(z, [[2]], [2, 5], [[0.5]], [0.5, 0.25])
    array([[0.69314718,       -inf, 1.38629436]])
    """
    z, compute, result = as_float_array(logits, "logits")
    if z.ndim != 2:
        raise ValueError(f"logits has shape {z.shape}; expected (B, num_true + S)")
    num_true = integer(num_true, "num_true", low=1)
    subtract_log_q, remove_accidental_hits = flag(subtract_log_q, "subtract_log_q"), flag(
        remove_accidental_hits, "remove_accidental_hits")
    B = z.shape[0]
    ids = as_array(sampled, "sampled")
    if ids.ndim != 1:
        raise ValueError(f"sampled has shape {ids.shape}; expected (S,): the candidates' class ids")
    if z.shape[1] != num_true + ids.size:
        raise ValueError(f"logits has shape {z.shape} but sampled has shape {ids.shape}: expected logits of shape "
                         f"({B}, num_true + S) = ({B}, {num_true + ids.size})")
    big = np.iinfo(np.int64).max
    lab = _labels(labels, B, num_true, big)
    cand, tc, sc = _sampled_values((ids, true_expected_count, sampled_expected_count), B, num_true, big)
    target = np.empty(z.shape, result) if out is None else check_out(out, "out", z.shape, result)
    dest = OutputRows(target, compute)
    src = separate_from(input_rows(z, compute), dest.block)
    _correct(src, dest.block, lab, cand, tc, -_log_q(sc, subtract_log_q).astype(compute), remove_accidental_hits,
             subtract_log_q)
    dest.finish()
    return target


class _Candidates(NamedTuple):
    x1: np.ndarray         # [B, d + 1]: the inputs, compute dtype, and a column of ones
    labels: np.ndarray     # [B, num_true]
    sampled: np.ndarray    # [S]
    true_w: np.ndarray     # [B, num_true, d]
    sampled_w1: np.ndarray  # [S, d + 1]: the candidates' rows, and their biases minus log Q
    logits: np.ndarray     # [B, num_true + S], corrected
    hits: Optional[Tuple[np.ndarray, np.ndarray]]
    result: np.dtype


def _sampled_logits(weights: Any, biases: Any, labels: Any, inputs: Any, sampled_values: Any, num_true: Any,
                    subtract_log_q: Any, remove_accidental_hits: Any, *, num_classes: Optional[int] = None,
                    sampler: Any = None, num_sampled: Any = None) -> _Candidates:
    w, cw, rw = as_float_array(weights, "weights")
    b, cb, rb = as_float_array(biases, "biases")
    x, cx, rx = as_float_array(inputs, "inputs")
    compute, result = np.result_type(cw, cb, cx), np.result_type(rw, rb, rx)
    if w.ndim != 2:
        raise ValueError(f"weights has shape {w.shape}; expected (C, d): a row per class")
    C, d = w.shape
    if b.shape != (C,):
        raise ValueError(f"biases has shape {b.shape} but weights has shape {w.shape}: expected ({C},)")
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"inputs has shape {x.shape} but weights has shape {w.shape}: expected (B, {d})")
    num_true = integer(num_true, "num_true", low=1)
    subtract_log_q = flag(subtract_log_q, "subtract_log_q")
    remove_accidental_hits = flag(remove_accidental_hits, "remove_accidental_hits")
    B = x.shape[0]
    classes = C if num_classes is None else num_classes
    lab = _labels(labels, B, num_true, classes)
    if sampled_values is None:
        if sampler is None:
            raise TypeError("sampled_values: expected (sampled_candidates, true_expected_count, "
                            "sampled_expected_count), got None")
        sampled_values = sampler.sample(lab, num_sampled, unique=True)
    ids, tc, sc = _sampled_values(sampled_values, B, num_true, classes)
    # The sampled columns' bias minus log Q rides in the product as a last
    # column (against the inputs' column of ones): no pass over the logits
    # for it, and the backward product gives the bias gradient's sums.
    x1 = np.empty((B, d + 1), compute)
    x1[:, :d], x1[:, d] = x, 1.0
    w1 = np.empty((ids.size, d + 1), compute)
    w1[:, :d] = w[ids]                          # [S, d]: gathered, never C x d
    w1[:, d] = b[ids].astype(compute) - _log_q(sc, subtract_log_q).astype(compute)
    true_w = np.asarray(w[lab], compute)        # [B, num_true, d]
    z = np.empty((B, num_true + ids.size), compute)
    np.einsum("bd,btd->bt", x1[:, :d], true_w, out=z[:, :num_true])
    z[:, :num_true] += b[lab].astype(compute)
    np.matmul(x1, w1.T, out=z[:, num_true:])
    hits = _correct(z, z, lab, ids, tc, None, remove_accidental_hits, subtract_log_q)
    return _Candidates(x1, lab, ids, true_w, w1, z, hits, result)


def _label_probs(B: int, num_true: int, S: int, dtype: np.dtype) -> np.ndarray:
    p = np.zeros((B, num_true + S), dtype)
    p[:, :num_true] = 1.0 / num_true
    return p


def compute_sampled_logits(weights: Any, biases: Any, labels: Any, inputs: Any, sampled_values: Any, *,
                           num_true: int = 1, subtract_log_q: bool = True, remove_accidental_hits: bool = True
                           ) -> Tuple[np.ndarray, np.ndarray]:
    """The logits and label probabilities of sampled softmax and NCE
    (``tf.nn.compute_sampled_logits``).

    ``weights[C, d]``, ``biases[C]``, ``labels[B, num_true]`` (int),
    ``inputs[B, d]`` and ``sampled_values`` = ``(sampled[S],
    true_expected_count[B, num_true], sampled_expected_count[S])`` (a
    sampler's ``sample``). Returns ``logits[B, num_true + S]`` (the label
    columns first, corrected by ``candidate_correction``) and
    ``label_probs`` of the same shape (``1/num_true`` on the label columns).

    Examples
    --------
    >>> import numpy as np, fastsoftmax.sampled as fss
    >>> w, b = np.eye(4), np.zeros(4)
    >>> z, p = fss.compute_sampled_logits(w, b, [[1]], [[0.0, 2.0, 0.0, 0.0]], ([3], [[1.0]], [1.0]))
    >>> z, p
    (array([[2., 0.]]), array([[1., 0.]]))
    """
    c = _sampled_logits(weights, biases, labels, inputs, sampled_values, num_true, subtract_log_q,
                        remove_accidental_hits)
    B, width = c.logits.shape
    return c.logits.astype(c.result, copy=False), _label_probs(B, c.labels.shape[1], width - c.labels.shape[1],
                                                               np.dtype(c.result))


def _merge_rows(ids: np.ndarray, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(distinct ids, the sums of their rows), a repeated id's rows added in order."""
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    first = np.ones(ids.size, bool)
    first[1:] = ordered[1:] != ordered[:-1]
    sums = rows[order[first]]
    if not first.all():  # only the repeats are added: most ids appear once
        repeat = ~first
        np.add.at(sums, np.cumsum(first)[repeat] - 1, rows[order[repeat]])
    return ordered[first], sums


def _sparse_gradients(c: _Candidates, dz: np.ndarray):
    """grad_inputs and the sparse weight and bias gradients from dz = d loss / d logits."""
    T = c.labels.shape[1]
    d = c.x1.shape[1] - 1
    dz_true, dz_sampled = dz[:, :T], dz[:, T:]
    grad_x = np.einsum("bt,btd->bd", dz_true, c.true_w) + dz_sampled @ c.sampled_w1[:, :d]
    ids = np.concatenate([c.labels.reshape(-1), c.sampled])
    # rows of [weight gradient | bias gradient]: x1's column of ones gives the bias part
    rows = np.concatenate([(dz_true[:, :, None] * c.x1[:, None, :]).reshape(-1, d + 1), dz_sampled.T @ c.x1])
    wid, sums = _merge_rows(ids, rows)
    r = c.result
    return (grad_x.astype(r, copy=False), (wid, np.array(sums[:, :d], r, order="C")),
            (wid, np.array(sums[:, d], r)))


def _draw_setup(sampler: Any, num_sampled: Any, num_classes: Any, seed: Any, C: int) -> Tuple[Any, int, int]:
    num_classes = integer(num_classes, "num_classes", low=1)
    if num_classes > C:
        raise ValueError(f"num_classes={num_classes} but weights has {C} rows: expected num_classes <= {C}")
    num_sampled = integer(num_sampled, "num_sampled", low=0)
    if isinstance(sampler, str):
        kinds = {"uniform": UniformSampler, "log_uniform": LogUniformSampler}
        if sampler not in kinds:
            raise ValueError(f"sampler must be 'uniform', 'log_uniform' or a sampler object; got {sampler!r}")
        sampler = kinds[sampler](num_classes, seed=seed)
    elif not isinstance(sampler, _Sampler):
        raise TypeError(f"sampler: expected 'uniform', 'log_uniform' or a sampler object, got {type(sampler).__name__}")
    elif sampler.range_max > C:
        raise ValueError(f"the sampler's range_max={sampler.range_max} exceeds the {C} rows of weights")
    return sampler, num_sampled, num_classes


def _smoothed_targets(B: int, T: int, S: int, smoothing: float, hits: Optional[Tuple[np.ndarray, np.ndarray]],
                      dtype: np.dtype) -> np.ndarray:
    """(1 - smoothing) 1/num_true on the labels plus smoothing spread evenly over
    each row's candidates that are not removed (a removed one keeps target 0)."""
    kept = np.full(B, T + S, np.float64)
    if hits is not None:
        kept -= np.bincount(hits[0], minlength=B)
    p = np.repeat((smoothing / kept)[:, None], T + S, axis=1)
    p[:, :T] += (1.0 - smoothing) / T
    if hits is not None:
        p[hits[0], T + hits[1]] = 0.0
    return p.astype(dtype)


def _loss_with_grads(kind: str, weights: Any, biases: Any, labels: Any, inputs: Any, num_sampled: Any,
                     num_classes: Any, num_true: Any, sampled_values: Any, sampler: Any,
                     remove_accidental_hits: Any, subtract_log_q: Any, seed: Any, reduction: Any,
                     return_grad: Any, label_smoothing: Any = 0.0):
    reduction = _check_reduction(reduction)
    smoothing = check_finite(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    return_grad = flag(return_grad, "return_grad")
    weights = as_float_array(weights, "weights")[0]
    if weights.ndim != 2:
        raise ValueError(f"weights has shape {weights.shape}; expected (C, d): a row per class")
    C = weights.shape[0]
    sampler, num_sampled, num_classes = _draw_setup(sampler, num_sampled, num_classes, seed, C)
    c = _sampled_logits(weights, biases, labels, inputs, sampled_values, num_true, subtract_log_q,
                        remove_accidental_hits, num_classes=num_classes, sampler=sampler, num_sampled=num_sampled)
    B, width = c.logits.shape
    T = c.labels.shape[1]
    z = c.logits
    if kind == "softmax":
        if smoothing:
            target = _smoothed_targets(B, T, width - T, smoothing, c.hits, z.dtype)
        else:
            target = np.zeros(B, np.int64) if T == 1 else _label_probs(B, T, width - T, z.dtype)
        rows, dz = cross_entropy(z, target, reduction="none", return_grad=True, grad_out=z)
    else:  # NCE: a sigmoid cross-entropy per column; removed candidates count for nothing
        if c.hits is not None:
            z[c.hits[0], T + c.hits[1]] = 0.0
        elements, dz = binary_cross_entropy_with_logits(z, _label_probs(B, T, width - T, z.dtype),
                                                        reduction="none", return_grad=True)
        if c.hits is not None:
            elements[c.hits[0], T + c.hits[1]] = 0.0
            dz[c.hits[0], T + c.hits[1]] = 0.0
        rows = elements.sum(axis=1, dtype=np.float64)
    rows = np.asarray(rows, np.float64)
    if reduction == "none":
        loss = narrowed(rows, c.result)
    else:
        total = float(np.sum(rows))
        loss = narrowed(total / B if reduction == "mean" and B else (0.0 if reduction == "mean" else total), c.result)
    if not return_grad:
        return loss
    if reduction == "mean" and B:
        dz *= dz.dtype.type(1.0 / B)  # dz is the logits' buffer, ours to overwrite
    return loss, _sparse_gradients(c, dz)


def sampled_softmax_loss(weights: Any, biases: Any, labels: Any, inputs: Any, num_sampled: int, num_classes: int,
                         *, num_true: int = 1, sampled_values: Any = None, sampler: Any = "log_uniform",
                         remove_accidental_hits: bool = True, subtract_log_q: bool = True,
                         seed: Optional[int] = None, reduction: str = "none", return_grad: bool = False,
                         label_smoothing: float = 0.0):
    """Softmax cross-entropy over each row's label columns and ``num_sampled``
    sampled classes (``tf.nn.sampled_softmax_loss``).

    The logits are ``compute_sampled_logits``'; each label gets probability
    ``1/num_true``. Without ``sampled_values``, ``num_sampled`` distinct
    classes are drawn from ``[0, num_classes)`` by ``sampler`` (``"log_uniform"``,
    ``"uniform"``, or a sampler object) seeded with ``seed``.
    ``reduction="none"`` (TensorFlow's) gives a loss per row. With
    ``return_grad=True`` returns ``(loss, (grad_inputs, (ids, grad_weight_rows),
    (ids, grad_bias)))``: ``ids`` the distinct classes touched (labels and
    candidates), each with its summed gradient row; a ``"none"`` gradient is
    that of the sum. ``label_smoothing`` (not in TensorFlow's signature)
    moves that share of each row's target evenly onto its columns that were
    not removed, so a removed accidental hit keeps zero probability, zero
    gradient and a finite loss.

    Examples
    --------
    >>> import numpy as np, fastsoftmax.sampled as fss
    >>> rng = np.random.default_rng(0)
    >>> w, b = rng.standard_normal((1000, 16)), np.zeros(1000)
    >>> x, labels = rng.standard_normal((4, 16)), np.array([[3], [7], [3], [999]])
    >>> loss, (gx, (ids, gw), (_, gb)) = fss.sampled_softmax_loss(
    ...     w, b, labels, x, num_sampled=50, num_classes=1000, seed=1, return_grad=True)
    >>> loss.shape, gx.shape, gw.shape == (ids.size, 16)
    ((4,), (4, 16), True)
    """
    return _loss_with_grads("softmax", weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                            sampled_values, sampler, remove_accidental_hits, subtract_log_q, seed, reduction,
                            return_grad, label_smoothing)


def nce_loss(weights: Any, biases: Any, labels: Any, inputs: Any, num_sampled: int, num_classes: int, *,
             num_true: int = 1, sampled_values: Any = None, sampler: Any = "log_uniform",
             remove_accidental_hits: bool = False, subtract_log_q: bool = True, seed: Optional[int] = None,
             reduction: str = "none", return_grad: bool = False):
    """Noise-contrastive estimation (``tf.nn.nce_loss``): per row, the sum of
    sigmoid cross-entropies over its label columns (target ``1/num_true``) and
    its sampled columns (target 0), on ``compute_sampled_logits``' logits.

    Arguments, sampling and the returned gradients are as in
    ``sampled_softmax_loss``; accidental hits are kept by default, as in
    TensorFlow, and a removed one counts for nothing.

    Examples
    --------
    >>> import numpy as np, fastsoftmax.sampled as fss
    >>> w, b = np.eye(4), np.zeros(4)
    >>> round(float(fss.nce_loss(w, b, [[1]], [[0.0, 2.0, 0.0, 0.0]], 1, 4,
    ...                          sampled_values=([3], [[1.0]], [1.0]))[0]), 6)
    0.820075
    """
    return _loss_with_grads("nce", weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                            sampled_values, sampler, remove_accidental_hits, subtract_log_q, seed, reduction,
                            return_grad)
