"""fastsoftmax.sampled in the op table: candidate_correction (its C++ kernel),
compute_sampled_logits, sampled_softmax_loss and nce_loss, against the
float64 reference of TensorFlow's semantics (tests/reference.py); their peer
is TensorFlow itself (tests/test_sampled_tensorflow.py)."""
from __future__ import annotations

import itertools
from typing import List

import numpy as np

import reference as ref

from .common import (INF, LOSS_RTOL, NAN, UNIT, BadInput, OpInfo, Sample, assert_grad_close, assert_loss_part_close,
                     assert_within)
from .inputs import dtype_cases, flag_cases, normal, out_cases, with_argument, with_options


def _values(rng, B, T, S, C, hits=True, unique=True):
    """(labels[B, T], (sampled[S], true counts, sampled counts)), row 0's first label sampled."""
    labels = np.stack([rng.choice(C, T, replace=False) for _ in range(B)]) if B else np.zeros((0, T), np.int64)
    sampled = rng.choice(C, S, replace=False) if unique else rng.integers(0, C, S)
    if hits and B and S:
        sampled[0] = labels[0, 0]
    return labels, (sampled, rng.uniform(0.05, 3.0, (B, T)), rng.uniform(0.05, 3.0, S))


def _correction(B, T, S, C=50, specials=False, **kw):
    def build(rng, dt):
        labels, (sampled, tc, sc) = _values(rng, B, T, S, C)
        z = normal(rng, (B, T + S), dt, 3.0)
        if specials and B and T + S > 3:
            z[0, -1], z[-1, 0], z[B // 2, 1] = INF, -INF, NAN
        return (z, labels, sampled, tc, sc), dict(kw, num_true=T)
    return build


def _correction_samples() -> List[Sample]:
    out = []
    for B, T, S in ((1, 1, 1), (3, 1, 7), (5, 2, 16), (4, 3, 33), (7, 1, 1000), (0, 1, 5), (2, 1, 0)):
        out.append(Sample(f"{B}x{T}+{S}", _correction(B, T, S, C=max(60, S + T + 1))))
    out.append(Sample("specials", _correction(6, 2, 40, specials=True)))
    out.append(Sample("no-log-q", _correction(5, 1, 20, subtract_log_q=False)))
    out.append(Sample("keep-hits", _correction(5, 2, 20, remove_accidental_hits=False)))

    def repeats(rng, dt):  # a label sampled twice: both removed
        return (normal(rng, (3, 5), dt), np.array([[1], [2], [4]]), np.array([1, 1, 3, 2]),
                np.ones((3, 1)), np.ones(4)), {}
    out.append(Sample("repeated-candidates", repeats))

    def into_out(rng, dt):  # (in place, out=logits, is test_sampled's: a call there changes its input)
        (z, *rest), kw = _correction(6, 1, 300, C=400)(rng, dt)
        return (z, *rest), dict(kw, out=np.full_like(z, np.nan))
    out.append(Sample("out-given", into_out))
    return out


def _correction_reference(logits, labels, sampled, tc, sc, num_true=1, subtract_log_q=True,
                          remove_accidental_hits=True, out=None):
    return ref.candidate_correction(logits, labels, sampled, tc, sc, num_true, subtract_log_q,
                                    remove_accidental_hits)


def _correction_compare(got, want, args, kwargs, dtype):
    if kwargs.get("out") is not None:
        assert got is kwargs["out"]
    # one rounding of x + (-log q), and the rounding of log q to the dtype
    x = np.abs(np.asarray(args[0], np.float64))
    assert_within(got, want, 2 * UNIT[dtype] * (np.abs(want) + np.where(np.isfinite(x), x, 0) + 8), "corrected logits")
    assert got.dtype == dtype


def _correction_call():
    return (np.zeros((2, 4), np.float32), np.array([[1], [2]]), np.array([1, 5, 6]), np.ones((2, 1)), np.ones(3)), {}


def _correction_bad() -> List[BadInput]:
    return dtype_cases(_correction_call, 0, "logits") + out_cases(_correction_call, "out", (2, 4), np.float32) + \
        flag_cases(_correction_call, "subtract_log_q") + flag_cases(_correction_call, "remove_accidental_hits") + [
        BadInput("logits-width", with_argument(_correction_call, 0, np.zeros((2, 5), np.float32)), ValueError,
                 "logits", contains=(r"\(2, 5\)", r"\(3,\)")),
        BadInput("logits-1d", with_argument(_correction_call, 0, np.zeros(4, np.float32)), ValueError, "logits"),
        BadInput("labels-shape", with_argument(_correction_call, 1, np.array([[1], [2], [3]])), ValueError, "labels",
                 contains=(r"\(3, 1\)",)),
        BadInput("labels-float", with_argument(_correction_call, 1, np.array([[1.0], [2.0]])), TypeError, "labels"),
        BadInput("sampled-2d", with_argument(_correction_call, 2, np.array([[1, 5, 6]])), ValueError, "sampled"),
        BadInput("true-count-shape", with_argument(_correction_call, 3, np.ones((2, 2))), ValueError,
                 "true_expected_count"),
        BadInput("sampled-count-shape", with_argument(_correction_call, 4, np.ones(2)), ValueError,
                 "sampled_expected_count"),
        BadInput("num_true-0", with_options(_correction_call, num_true=0), ValueError, "num_true"),
    ]


def _correction_big(rng, dt):
    labels, (sampled, tc, sc) = _values(rng, 300, 2, 400, 2000)
    return (normal(rng, (300, 402), dt), labels, sampled, tc, sc), {"num_true": 2}


# -------------------------------------------------------------- the losses


def _problem(B, T, S, C=40, d=6, **kw):
    def build(rng, dt):
        labels, values = _values(rng, B, T, S, C)
        w, b, x = normal(rng, (C, d), dt, 0.5), normal(rng, (C,), dt, 0.1), normal(rng, (B, d), dt)
        return (w, b, labels, x), dict(kw, sampled_values=values, num_true=T)
    return build


def _loss_samples(logits_only: bool = False, smoothing: bool = False) -> List[Sample]:
    out = []
    for (B, T, S), log_q, hits in itertools.product(((4, 1, 9), (6, 3, 17), (1, 2, 1)), (True, False), (True, False)):
        kw = dict(subtract_log_q=log_q, remove_accidental_hits=hits)
        if not logits_only:
            kw["return_grad"] = True
        out.append(Sample(f"{B}x{T}+{S}-logq{int(log_q)}-hits{int(hits)}", _problem(B, T, S, **kw)))
    if not logits_only:
        for red in ("sum", "mean"):
            out.append(Sample(f"reduction-{red}", _problem(5, 1, 12, reduction=red, return_grad=True)))
        out.append(Sample("no-grad", _problem(5, 2, 12)))
        out.append(Sample("empty-batch", _problem(0, 1, 6, return_grad=True, reduction="mean")))
    if smoothing:
        out.append(Sample("smoothing-with-hits", _problem(5, 2, 15, label_smoothing=0.2, return_grad=True)))
    return out


def _loss_reference(kind):
    def reference(weights, biases, labels, inputs, num_sampled=None, num_classes=None, **kw):
        return ref._sampled_loss(kind, weights, biases, labels, inputs, num_sampled, num_classes, **kw)
    return reference


def _loss_compare(got, want, args, kwargs, dtype):
    grads = assert_loss_part_close(got, want, kwargs, dtype, "sampled loss", np.shape(args[3])[0], "none")
    if grads is None:
        return
    (gx, (wid, gw), (bid, gb)), (wx, (want_ids, ww), (_, wb)) = grads
    assert np.array_equal(wid, want_ids) and np.array_equal(bid, want_ids), "sampled loss: the touched ids"
    tol = LOSS_RTOL[np.dtype(dtype)] * 10  # products of d terms through NumPy's BLAS
    assert_grad_close(gx, wx, dtype, "grad_inputs", tol)
    assert_grad_close(gw, ww, dtype, "grad_weight rows", tol)
    assert_grad_close(gb[None, :], wb[None, :], dtype, "grad_bias", tol)


def _logits_compare(got, want, args, kwargs, dtype):
    z, p = got
    x = np.asarray(args[3], np.float64)
    scale = np.abs(x).sum(axis=1, keepdims=True) * np.abs(np.asarray(args[0], np.float64)).max(initial=0) + 4
    assert_within(z, want[0], 4 * UNIT[dtype] * scale, "sampled logits")
    assert_within(p, want[1], 0, "label_probs")
    assert z.dtype == dtype and p.dtype == dtype


def _loss_call():
    w, b = np.eye(4, dtype=np.float32), np.zeros(4, np.float32)
    return (w, b, np.array([[1], [2]]), np.ones((2, 4), np.float32), 2, 4), {
        "sampled_values": (np.array([0, 3]), np.ones((2, 1)), np.ones(2)), "return_grad": True}


def _logits_call():
    (w, b, labels, x, _, _), kw = _loss_call()
    return (w, b, labels, x, kw["sampled_values"]), {}


def _shared_bad(call, x_pos) -> List[BadInput]:
    return dtype_cases(call, 0, "weights") + dtype_cases(call, x_pos, "inputs") + [
        BadInput("weights-1d", with_argument(call, 0, np.ones(4, np.float32)), ValueError, "weights"),
        BadInput("biases-shape", with_argument(call, 1, np.zeros(3, np.float32)), ValueError, "biases",
                 contains=(r"\(3,\)", r"\(4, 4\)")),
        BadInput("inputs-width", with_argument(call, 3, np.ones((2, 3), np.float32)), ValueError, "inputs",
                 contains=(r"\(2, 3\)", r"\(4, 4\)")),
        BadInput("labels-out-of-range", with_argument(call, 2, np.array([[1], [4]])), IndexError, "labels"),
        BadInput("labels-float", with_argument(call, 2, np.array([[1.0], [2.0]])), TypeError, "labels"),
        BadInput("labels-shape", with_argument(call, 2, np.array([[1], [2], [3]])), ValueError, "labels"),
    ]


def _logits_bad() -> List[BadInput]:
    return _shared_bad(_logits_call, 3) + flag_cases(_logits_call, "subtract_log_q") + [
        BadInput("sampled-out-of-range", with_argument(_logits_call, 4, (np.array([0, 9]), np.ones((2, 1)), np.ones(2))),
                 IndexError, "sampled_candidates"),
        BadInput("sampled_values-not-a-triple", with_argument(_logits_call, 4, np.array([0, 3])), TypeError,
                 "sampled_values"),
    ]


def _loss_bad() -> List[BadInput]:
    return _shared_bad(_loss_call, 3) + flag_cases(_loss_call, "return_grad") + flag_cases(
        _loss_call, "remove_accidental_hits") + [
        BadInput("num_classes-past-weights", with_argument(_loss_call, 5, 5), ValueError, "num_classes",
                 contains=("4",)),
        BadInput("num_sampled-past-range", lambda: (_loss_call()[0][:4] + (9, 4), {}), ValueError, "num_sampled"),
        BadInput("sampler", with_options(_loss_call, sampler="zipf", sampled_values=None), ValueError, "sampler"),
        BadInput("reduction", with_options(_loss_call, reduction="batchmean"), ValueError, "reduction"),
    ]


def _dense_grads(args, grad):
    """(weights, biases, inputs) positions and their dense gradients from the sparse ones."""
    w = args[0]
    gx, (wid, gw), (bid, gb) = grad
    dense_w, dense_b = np.zeros(np.shape(w)), np.zeros(np.shape(w)[0])
    dense_w[wid], dense_b[bid] = gw, gb
    return [(0, dense_w), (1, dense_b), (3, gx)]


def _loss_big(rng, dt):
    args, kw = _problem(300, 1, 200, C=500, d=16, return_grad=True)(rng, dt)
    return args + (200, 500), kw


def _logits_big(rng, dt):
    return _problem(300, 2, 200, C=500, d=16)(rng, dt)


def _loss_samples_with_counts(smoothing):
    samples = []
    for s in _loss_samples(smoothing=smoothing):
        def build(rng, dt, s=s):
            args, kw = s.build(rng, dt)
            return args + (kw["sampled_values"][0].size, args[0].shape[0]), kw
        samples.append(Sample(s.desc, build))
    return samples


OPS: List[OpInfo] = [
    OpInfo("sampled.candidate_correction", "sampled", _correction_reference, _correction_samples, _correction_compare,
           _correction_bad, _correction_big, out_kw="out", benchmarked=False, fuzzed=False),
    OpInfo("sampled.compute_sampled_logits", "sampled",
           lambda w, b, labels, x, values, **kw: ref.compute_sampled_logits(w, b, labels, x, values, **kw),
           lambda: _loss_samples(logits_only=True), _logits_compare, _logits_bad, _logits_big, benchmarked=False, fuzzed=False,
           blas=True),
    OpInfo("sampled.sampled_softmax_loss", "sampled", _loss_reference("softmax"),
           lambda: _loss_samples_with_counts(True), _loss_compare, _loss_bad, _loss_big, benchmarked=False, fuzzed=False, blas=True,
           grads_by_argument=_dense_grads),
    OpInfo("sampled.nce_loss", "sampled", _loss_reference("nce"), lambda: _loss_samples_with_counts(False),
           _loss_compare, _loss_bad, _loss_big, benchmarked=False, fuzzed=False, blas=True, grads_by_argument=_dense_grads),
]
