"""``python -m fastsoftmax bench``: fastsoftmax against its peers and its floors.

Every figure in the printed table comes from one run on the same arrays.
Kernel times use preallocated outputs (``out=`` / ``grad_out=``) and are set
beside floors that also write into preallocated memory: the copy floor (a
parallel copy of the same bytes, the memory limit) and the exp floor (one
vectorised exp-and-sum pass with no output, the arithmetic limit). Allocating
calls are timed separately beside ``np.copy``, because a fresh large output
costs page faults comparable to the kernel itself (SPEC section 7).

bench/common.py reuses this module for the pytest-benchmark files, so the
command and the pytest benchmarks time exactly the same calls.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

import numpy as np

import fastsoftmax
from fastsoftmax import _core

Runner = Callable[[], object]  # one call of the timed operation, inputs and buffers bound
Shape = Tuple[int, int]
Layout = Tuple[Shape, str]  # (shape, dtype)


# --------------------------------------------------------------------------- inputs

@dataclass
class Inputs:
    x: np.ndarray                         # logits, C-contiguous, class axis last
    target: Optional[np.ndarray] = None   # int64 class ids, for cross_entropy
    labels: Optional[np.ndarray] = None   # 0/1 per element (multi-label), for binary cross-entropy
    # for the margin losses: x is then the N x C cosine matrix's size, these the problem
    embeddings: Optional[np.ndarray] = None     # (N, EMBEDDING_DIM)
    class_weights: Optional[np.ndarray] = None  # (C, EMBEDDING_DIM)


EMBEDDING_DIM = 512  # the margin losses' d (face-recognition embeddings)


def make_inputs(shape: Shape, dtype: str = "float32", *, with_target: bool = False, with_labels: bool = False,
                with_embeddings: bool = False, seed: int = 0) -> Inputs:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, dtype=np.dtype(dtype))
    x *= 4  # logits of a trained model spread over several units
    target = rng.integers(0, shape[-1], size=shape[:-1], dtype=np.int64) if with_target else None
    labels = (rng.random(shape) < 0.1).astype(dtype) if with_labels else None  # a few tags per row
    if not with_embeddings:
        return Inputs(x, target, labels)
    embeddings = rng.standard_normal((shape[0], EMBEDDING_DIM), dtype=np.dtype(dtype))
    class_weights = rng.standard_normal((shape[1], EMBEDDING_DIM), dtype=np.dtype(dtype))
    return Inputs(x, target, labels, embeddings, class_weights)


def shape_id(shape: Sequence[int]) -> str:
    return "x".join(str(n) for n in shape)


# --------------------------------------------------------------------------- how each op is called

def _fastsoftmax_with_out(name: str) -> Callable[[Inputs, Optional[np.ndarray]], Runner]:
    def runner(inputs: Inputs, out: Optional[np.ndarray]) -> Runner:
        x, function = inputs.x, getattr(fastsoftmax, name)
        return lambda: function(x, out=out)
    return runner


def _fastsoftmax_logsumexp(inputs: Inputs, out: None) -> Runner:
    x = inputs.x
    return lambda: fastsoftmax.logsumexp(x)


def _fastsoftmax_row_statistics(inputs: Inputs, out: None) -> Runner:
    x = inputs.x
    return lambda: fastsoftmax.row_statistics(x)


def _fastsoftmax_cross_entropy(inputs: Inputs, out: Optional[np.ndarray]) -> Runner:
    x = inputs.x
    return lambda: fastsoftmax.cross_entropy(x, inputs.target, return_grad=True, grad_out=out)


def _fastsoftmax_bce(inputs: Inputs, out: Optional[np.ndarray]) -> Runner:
    x = inputs.x
    return lambda: fastsoftmax.binary_cross_entropy_with_logits(x, inputs.labels, return_grad=True, grad_out=out)


def _fastsoftmax_zlpr(inputs: Inputs, out: Optional[np.ndarray]) -> Runner:
    x, flags = inputs.x, inputs.labels.astype(bool)
    return lambda: fastsoftmax.multilabel_categorical_crossentropy(x, flags, return_grad=True, grad_out=out)


def _fastsoftmax_sparse_zlpr(inputs: Inputs, out: Optional[np.ndarray]) -> Runner:
    x, ids = inputs.x, _positive_ids(inputs.labels)
    return lambda: fastsoftmax.sparse_multilabel_categorical_crossentropy(x, ids, return_grad=True, grad_out=out)


ARCFACE_SCALE, ARCFACE_MARGIN = 64.0, 0.5


def _fastsoftmax_arcface(inputs: Inputs, out: None) -> Runner:
    x, w, y = inputs.embeddings, inputs.class_weights, inputs.target
    return lambda: fastsoftmax.margin_cross_entropy(x, w, y, loss="arcface", return_grad=True)


TRIPLET_IDENTITIES = 64  # the batch's labels: embeddings of 64 identities


def _identities(inputs: Inputs) -> np.ndarray:
    return inputs.target % TRIPLET_IDENTITIES


def _fastsoftmax_triplet(inputs: Inputs, out: None) -> Runner:
    e, labels = inputs.embeddings, _identities(inputs)
    return lambda: fastsoftmax.triplet_margin_loss(e, labels, return_grad=True)


def _positive_ids(labels: np.ndarray) -> np.ndarray:
    """Each row's positive class ids, -1 padding."""
    rows = labels != 0
    ids = np.full((rows.shape[0], max(int(rows.sum(axis=1).max(initial=0)), 1)), -1, np.int64)
    for r in range(rows.shape[0]):
        found = np.flatnonzero(rows[r])
        ids[r, :len(found)] = found
    return ids


def _numpy_shifted_exp(x: np.ndarray, work: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Writes exp(x - rowmax) into ``work``; returns the row max and row sum (keepdims)."""
    row_max = x.max(axis=-1, keepdims=True)
    np.subtract(x, row_max, out=work)
    np.exp(work, out=work)
    return row_max, work.sum(axis=-1, keepdims=True)


def _numpy_softmax(inputs: Inputs, out: np.ndarray) -> np.ndarray:
    _, row_sum = _numpy_shifted_exp(inputs.x, out)
    return np.divide(out, row_sum, out=out)


def _numpy_log_softmax(inputs: Inputs, out: np.ndarray) -> np.ndarray:
    row_max, row_sum = _numpy_shifted_exp(inputs.x, out)
    return np.subtract(inputs.x, row_max + np.log(row_sum), out=out)


def _numpy_logsumexp(inputs: Inputs, work: np.ndarray) -> np.ndarray:
    row_max, row_sum = _numpy_shifted_exp(inputs.x, work)
    return (row_max + np.log(row_sum))[..., 0]


def _numpy_row_statistics(inputs: Inputs, work: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    row_max, row_sum = _numpy_shifted_exp(inputs.x, work)
    return row_max[..., 0], row_sum[..., 0]


def _numpy_cross_entropy(inputs: Inputs, grad: np.ndarray) -> Tuple[np.floating, np.ndarray]:
    """Mean cross-entropy and its gradient (softmax - one_hot) / N."""
    x, target = inputs.x, inputs.target
    rows = np.arange(x.shape[0])
    row_max, row_sum = _numpy_shifted_exp(x, grad)
    loss = np.mean(row_max[:, 0] + np.log(row_sum[:, 0]) - x[rows, target])
    np.multiply(grad, 1 / (row_sum * x.shape[0]), out=grad)
    grad[rows, target] -= 1 / x.shape[0]
    return loss, grad


def _numpy_bce(inputs: Inputs, grad: np.ndarray) -> Tuple[np.floating, np.ndarray]:
    """Mean binary cross-entropy max(x, 0) - x t + log1p(exp(-|x|)) and its gradient (sigmoid(x) - t) / N."""
    x, t = inputs.x, inputs.labels
    np.exp(-np.abs(x), out=grad)
    loss = np.mean(np.maximum(x, 0) - x * t + np.log1p(grad))
    sigmoid = np.where(x >= 0, 1 / (1 + grad), grad / (1 + grad))
    np.multiply(sigmoid - t, 1 / x.size, out=grad)
    return loss, grad


def _zlpr_terms(x: np.ndarray, positive: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """u = x on negatives, -x on positives; each group's max(0, max u) per row, broadcast to x."""
    u = np.where(positive, -x, x)
    m_pos = np.maximum(np.max(np.where(positive, u, -np.inf), axis=-1, keepdims=True), 0)
    m_neg = np.maximum(np.max(np.where(positive, -np.inf, u), axis=-1, keepdims=True), 0)
    return u, m_pos, m_neg


def _numpy_zlpr(inputs: Inputs, grad: np.ndarray) -> Tuple[np.floating, np.ndarray]:
    """Mean ZLPR and its gradient, the two log-sum-exps (each with a 0 term) in NumPy."""
    x, positive = inputs.x, inputs.labels != 0
    u, m_pos, m_neg = _zlpr_terms(x, positive)
    m = np.where(positive, m_pos, m_neg)
    np.exp(u - m, out=grad)
    s_pos = np.exp(-m_pos) + np.sum(np.where(positive, grad, 0), axis=-1, keepdims=True)
    s_neg = np.exp(-m_neg) + np.sum(np.where(positive, 0, grad), axis=-1, keepdims=True)
    loss = np.mean(m_pos + np.log(s_pos) + m_neg + np.log(s_neg))
    np.multiply(grad, np.where(positive, -1 / s_pos, 1 / s_neg) / x.shape[0], out=grad)
    return loss, grad


def _unit_rows(a: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return a / norms, norms


def _numpy_arcface(inputs: Inputs, work: np.ndarray) -> Tuple[np.floating, Tuple[np.ndarray, np.ndarray]]:
    """Mean ArcFace and its gradients in NumPy: the cosines into ``work``, the
    margin on the target column, softmax cross-entropy, the chain rule back."""
    y, s, m = inputs.target, ARCFACE_SCALE, ARCFACE_MARGIN
    rows, N = np.arange(len(y)), len(y)
    xn, x_norms = _unit_rows(inputs.embeddings)
    wn, w_norms = _unit_rows(inputs.class_weights)
    np.matmul(xn, wn.T, out=work)
    c = np.clip(work[rows, y], -1.0, 1.0)
    theta = np.arccos(c)
    inside = theta + m <= np.pi
    psi = np.where(inside, np.cos(theta + m), c + np.cos(m) - 1.0)
    dpsi = np.where(inside, np.sin(theta + m) / np.maximum(np.sin(theta), 1e-6), 1.0)  # d psi / d cos
    work[rows, y] = psi
    work *= s
    row_max, row_sum = _numpy_shifted_exp(work, work)
    loss = np.mean(row_max[:, 0] + np.log(row_sum[:, 0]) - s * psi)
    work *= s / (row_sum * N)  # d loss / d cos
    work[rows, y] = (work[rows, y] - s / N) * dpsi
    gx, gw = work @ wn, work.T @ xn
    gx -= np.sum(gx * xn, axis=1, keepdims=True) * xn
    gw -= np.sum(gw * wn, axis=1, keepdims=True) * wn
    return loss, (gx / x_norms, gw / w_norms)


def _numpy_triplet(inputs: Inputs, work: np.ndarray) -> Tuple[np.floating, np.ndarray]:
    """Batch-hard triplet loss (euclidean, margin 0.2) and its gradient in NumPy."""
    e, labels = inputs.embeddings, _identities(inputs)
    sq = np.einsum("ij,ij->i", e, e)
    np.matmul(e, e.T, out=work)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * work, 0))
    same = labels[:, None] == labels[None, :]
    rows = np.arange(len(labels))
    p = np.argmax(np.where(same & (rows[:, None] != rows), d, -np.inf), axis=1)
    n = np.argmin(np.where(same, np.inf, d), axis=1)
    v = d[rows, p] - d[rows, n] + 0.2
    active = (v > 0) / len(labels)
    grad = np.zeros_like(e)
    for other, sign in ((p, 1.0), (n, -1.0)):
        unit = (e - e[other]) / np.maximum(d[rows, other], 1e-30)[:, None] * (sign * active)[:, None]
        grad += unit
        np.add.at(grad, other, -unit)
    return np.mean(np.maximum(v, 0)), grad


def _torch_triplet(torch: Any, inputs: Inputs, allocate: bool) -> Optional[Runner]:
    """pytorch-metric-learning's TripletMarginLoss with its BatchHardMiner (None when it is absent)."""
    try:
        from pytorch_metric_learning import distances, losses, miners, reducers
    except ImportError:
        return None
    metric = distances.LpDistance(normalize_embeddings=False)
    loss = losses.TripletMarginLoss(margin=0.2, distance=metric, reducer=reducers.MeanReducer())
    miner = miners.BatchHardMiner(distance=metric)
    embeddings = torch.from_numpy(inputs.embeddings).requires_grad_()
    labels = torch.from_numpy(_identities(inputs))

    def forward_backward() -> Any:
        embeddings.grad = None
        loss(embeddings, labels, miner(embeddings, labels)).backward()
        return embeddings.grad

    return forward_backward


def _torch_arcface(torch: Any, inputs: Inputs, allocate: bool) -> Optional[Runner]:
    """pytorch-metric-learning's ArcFaceLoss, forward and backward (None when it is absent)."""
    import warnings

    try:
        from pytorch_metric_learning.losses import ArcFaceLoss
    except ImportError:
        return None
    C, d = inputs.class_weights.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = ArcFaceLoss(C, d, margin=np.degrees(ARCFACE_MARGIN), scale=ARCFACE_SCALE)
    peer.W.data = torch.from_numpy(np.ascontiguousarray(inputs.class_weights.T))  # pml's weight is d x C
    embeddings = torch.from_numpy(inputs.embeddings).requires_grad_()
    labels = torch.from_numpy(inputs.target)

    def forward_backward() -> Any:
        embeddings.grad = peer.W.grad = None
        with warnings.catch_warnings():  # pml warns about a tensor-to-float conversion of its own
            warnings.simplefilter("ignore")
            peer(embeddings, labels).backward()
        return embeddings.grad

    return forward_backward


def _torch_zlpr(torch: Any, inputs: Inputs, allocate: bool) -> Runner:
    """ZLPR in PyTorch ops, forward and backward (autograd), as its users write it."""
    logits = torch.from_numpy(inputs.x).requires_grad_()
    positive = torch.from_numpy(inputs.labels != 0)
    zero = torch.zeros(logits.shape[:-1] + (1,), dtype=logits.dtype)

    def forward_backward() -> Any:
        logits.grad = None
        neg = torch.cat([zero, logits.masked_fill(positive, -float("inf"))], -1)
        pos = torch.cat([zero, (-logits).masked_fill(~positive, -float("inf"))], -1)
        (torch.logsumexp(neg, -1) + torch.logsumexp(pos, -1)).mean().backward()
        return logits.grad

    return forward_backward


TorchRunner = Callable[[Any, Inputs, bool], Optional[Runner]]  # (torch, inputs, allocate) -> one call


def _torch_rowwise(name: str, reduces: bool = False) -> TorchRunner:
    """torch.<name>(x, -1), into a preallocated ``out=`` unless allocating."""
    def runner(torch: Any, inputs: Inputs, allocate: bool) -> Runner:
        function = getattr(torch, name)
        x = torch.from_numpy(inputs.x)
        if allocate:
            return lambda: function(x, -1)
        out = torch.empty(x.shape[:-1] if reduces else x.shape, dtype=x.dtype)
        return lambda: function(x, -1, out=out)
    return runner


def _torch_loss(name: str, target: str) -> TorchRunner:
    """The loss's forward and backward, as a training step runs them (always allocating)."""
    def runner(torch: Any, inputs: Inputs, allocate: bool) -> Runner:
        logits = torch.from_numpy(inputs.x).requires_grad_()
        target_tensor, loss = torch.from_numpy(getattr(inputs, target)), getattr(torch.nn.functional, name)

        def forward_backward() -> Any:
            logits.grad = None  # a fresh gradient each step, as in training
            loss(logits, target_tensor).backward()
            return logits.grad

        return forward_backward
    return runner


# --------------------------------------------------------------------------- the operations

@dataclass(frozen=True)
class BenchOp:
    """One operation of the benchmark. Adding an op to ``python -m fastsoftmax
    bench`` and to bench/ (bench_<area>.py) is one entry of BENCH_OPS."""
    name: str                                                      # the fastsoftmax function
    area: str                                                      # timed by bench/bench_<area>.py too
    fastsoftmax: Callable[[Inputs, Optional[np.ndarray]], Runner]  # out: preallocated, or None: allocating
    bytes_moved: Callable[[Inputs], int]                           # what it must read and write at the least
    numpy: Callable[[Inputs, np.ndarray], Any]                     # the formula in NumPy, into a work buffer
    torch: Optional[TorchRunner]                                   # None: PyTorch has no such op
    full: Tuple[Layout, ...]                                       # the layouts timed ...
    quick: Tuple[Layout, ...]                                      # ... and those of --quick
    scipy: bool = False                                            # scipy.special has it (no out=)
    torch_out: bool = False                                        # PyTorch can write into preallocated memory
    # its output is as large as x: timed into a preallocated out=/grad_out=, and
    # the allocating call timed apart (logsumexp writes one value per row)
    full_output: bool = True
    with_target: bool = False                                      # reads Inputs.target
    with_labels: bool = False                                      # reads Inputs.labels
    with_embeddings: bool = False                                  # reads Inputs.embeddings, class_weights

    def layouts(self, quick: bool) -> Tuple[Layout, ...]:
        return self.quick if quick else self.full


def float32_layouts(*shapes: Shape) -> Tuple[Layout, ...]:
    return tuple((shape, "float32") for shape in shapes)


def _read_and_write_x(inputs: Inputs) -> int:
    return 2 * inputs.x.nbytes


_FAMILY_FULL = float32_layouts((4096, 32000), (16384, 128), (64, 1_000_000))
_FAMILY_QUICK = float32_layouts((1024, 32000), (4096, 128), (8, 1_000_000))

BENCH_OPS: Tuple[BenchOp, ...] = (
    BenchOp("softmax", "softmax", _fastsoftmax_with_out("softmax"), _read_and_write_x, _numpy_softmax,
            _torch_rowwise("softmax"), full=(*_FAMILY_FULL, ((4096, 32000), "float64")),
            quick=(*_FAMILY_QUICK, ((1024, 32000), "float64")), scipy=True, torch_out=True),
    BenchOp("log_softmax", "softmax", _fastsoftmax_with_out("log_softmax"), _read_and_write_x, _numpy_log_softmax,
            _torch_rowwise("log_softmax"), full=_FAMILY_FULL, quick=_FAMILY_QUICK, scipy=True, torch_out=True),
    BenchOp("logsumexp", "softmax", _fastsoftmax_logsumexp,
            lambda inputs: inputs.x.nbytes + inputs.x.nbytes // inputs.x.shape[-1], _numpy_logsumexp,
            _torch_rowwise("logsumexp", reduces=True), full=_FAMILY_FULL, quick=_FAMILY_QUICK, scipy=True,
            torch_out=True, full_output=False),
    BenchOp("row_statistics", "softmax", _fastsoftmax_row_statistics,
            lambda inputs: inputs.x.nbytes + 2 * inputs.x.nbytes // inputs.x.shape[-1], _numpy_row_statistics, None,
            full=float32_layouts((4096, 32000)), quick=float32_layouts((1024, 32000)), full_output=False),
    BenchOp("cross_entropy", "cross_entropy", _fastsoftmax_cross_entropy,
            lambda inputs: 2 * inputs.x.nbytes + inputs.target.nbytes,  # read logits and targets, write the gradient
            _numpy_cross_entropy, _torch_loss("cross_entropy", "target"),
            # 10 classes: the tiny-row path
            full=float32_layouts((8192, 32000), (65536, 10)), quick=float32_layouts((2048, 32000), (16384, 10)),
            with_target=True),
    BenchOp("binary_cross_entropy_with_logits", "cross_entropy", _fastsoftmax_bce,
            lambda inputs: 3 * inputs.x.nbytes,  # read logits and labels, write the gradient
            _numpy_bce, _torch_loss("binary_cross_entropy_with_logits", "labels"),
            full=float32_layouts((8192, 1000)), quick=float32_layouts((2048, 1000)), with_labels=True),
    # ZLPR: read the logits (and a byte per class, or the ids), write the gradient
    BenchOp("multilabel_categorical_crossentropy", "cross_entropy", _fastsoftmax_zlpr,
            lambda inputs: 2 * inputs.x.nbytes + inputs.x.size, _numpy_zlpr, _torch_zlpr,
            full=float32_layouts((4096, 10000)), quick=float32_layouts((1024, 10000)), with_labels=True),
    BenchOp("sparse_multilabel_categorical_crossentropy", "cross_entropy", _fastsoftmax_sparse_zlpr,
            lambda inputs: 2 * inputs.x.nbytes, _numpy_zlpr, _torch_zlpr,
            full=float32_layouts((4096, 10000)), quick=float32_layouts((1024, 10000)), with_labels=True),
    # the shape is the cosine matrix's (N, C), d = EMBEDDING_DIM; it must read and write that matrix once
    BenchOp("margin_cross_entropy", "cross_entropy", _fastsoftmax_arcface, _read_and_write_x, _numpy_arcface,
            _torch_arcface, full=float32_layouts((1024, 100_000)), quick=float32_layouts((256, 20_000)),
            full_output=False, with_target=True, with_embeddings=True),
    # the shape is the distance matrix's (N, N), d = EMBEDDING_DIM; batch-hard, euclidean
    BenchOp("triplet_margin_loss", "cross_entropy", _fastsoftmax_triplet, _read_and_write_x, _numpy_triplet,
            _torch_triplet, full=float32_layouts((2048, 2048)), quick=float32_layouts((512, 512)),
            full_output=False, with_target=True, with_embeddings=True),
)
BENCH_OPS_BY_NAME: Dict[str, BenchOp] = {op.name: op for op in BENCH_OPS}


def ops_in(area: str) -> Tuple[str, ...]:
    """The names of the ops that bench/bench_<area>.py times."""
    return tuple(op.name for op in BENCH_OPS if op.area == area)


def inputs_for(ops: Sequence[str], shape: Shape, dtype: str = "float32") -> Inputs:
    """One set of arrays for these ops (targets and labels if any of them reads them)."""
    return make_inputs(shape, dtype, with_target=any(BENCH_OPS_BY_NAME[op].with_target for op in ops),
                       with_labels=any(BENCH_OPS_BY_NAME[op].with_labels for op in ops),
                       with_embeddings=any(BENCH_OPS_BY_NAME[op].with_embeddings for op in ops))


# --------------------------------------------------------------------------- cases

@dataclass(frozen=True)
class Case:
    op: str
    shape: Shape
    dtype: str = "float32"

    @property
    def label(self) -> str:
        return f"{self.op} {shape_id(self.shape)} {self.dtype}"


def _cases(quick: bool) -> Tuple[Case, ...]:
    """Every op at each of its layouts, the cases of a layout listed together (in
    the order the layouts first appear in BENCH_OPS) so each array is built once."""
    layouts = dict.fromkeys(layout for op in BENCH_OPS for layout in op.layouts(quick))
    return tuple(Case(op.name, shape, dtype) for shape, dtype in layouts for op in BENCH_OPS
                 if (shape, dtype) in op.layouts(quick))


FULL_CASES: Tuple[Case, ...] = _cases(quick=False)
QUICK_CASES: Tuple[Case, ...] = _cases(quick=True)


# --------------------------------------------------------------------------- runners

def bytes_moved(op: str, inputs: Inputs) -> int:
    """Bytes the operation must read and write at the least."""
    return BENCH_OPS_BY_NAME[op].bytes_moved(inputs)


def fastsoftmax_runner(op: str, inputs: Inputs, allocate: bool) -> Runner:
    bench_op = BENCH_OPS_BY_NAME[op]
    out = None if allocate or not bench_op.full_output else np.empty_like(inputs.x)
    return bench_op.fastsoftmax(inputs, out)


def numpy_runner(op: str, inputs: Inputs, allocate: bool) -> Runner:
    compute = BENCH_OPS_BY_NAME[op].numpy
    if allocate:
        return lambda: compute(inputs, np.empty_like(inputs.x))
    buffer = np.empty_like(inputs.x)
    return lambda: compute(inputs, buffer)


def scipy_runner(op: str, inputs: Inputs, allocate: bool) -> Optional[Runner]:
    if not BENCH_OPS_BY_NAME[op].scipy:
        return None
    function = getattr(importlib.import_module("scipy.special"), op)
    return lambda: function(inputs.x, axis=-1)  # SciPy has no out=: always allocating


def _torch() -> Any:
    torch = importlib.import_module("torch")
    torch.set_num_threads(fastsoftmax.get_num_threads())  # a fair fight: same thread count
    return torch


def torch_runner(op: str, inputs: Inputs, allocate: bool) -> Optional[Runner]:
    runner = BENCH_OPS_BY_NAME[op].torch
    return None if runner is None else runner(_torch(), inputs, allocate)


@dataclass(frozen=True)
class Peer:
    name: str
    module: str                                                  # what must be importable
    make_runner: Callable[[str, Inputs, bool], Optional[Runner]]  # None: the peer lacks the op
    out_ops: FrozenSet[str] = frozenset()                        # ops it can run into preallocated memory

    def available(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def version(self) -> Optional[str]:
        return importlib.import_module(self.module).__version__ if self.available() else None


PEERS: Tuple[Peer, ...] = (
    Peer("numpy", "numpy", numpy_runner, frozenset(op.name for op in BENCH_OPS)),
    Peer("scipy", "scipy", scipy_runner),
    # a loss's backward allocates its gradient: no grad_out
    Peer("torch", "torch", torch_runner, frozenset(op.name for op in BENCH_OPS if op.torch_out)),
)
PEERS_BY_NAME: Dict[str, Peer] = {peer.name: peer for peer in PEERS}


def copy_floor_runner(inputs: Inputs) -> Runner:
    destination = np.empty_like(inputs.x)
    return lambda: _core.parallel_copy(inputs.x, destination)


def exp_floor_runner(inputs: Inputs) -> Runner:
    return lambda: _core.exp_sum(inputs.x)


def allocating_copy_runner(inputs: Inputs) -> Runner:
    return lambda: np.copy(inputs.x)


FLOORS: Dict[str, Callable[[Inputs], Runner]] = {
    "copy floor": copy_floor_runner,
    "exp floor": exp_floor_runner,
    "np.copy": allocating_copy_runner,
}


# --------------------------------------------------------------------------- timer

@dataclass(frozen=True)
class Timing:
    best_s: float
    median_s: float
    repeats: int


@dataclass(frozen=True)
class Budget:
    max_repeats: int
    seconds: float        # stop repeating once this much is spent ...
    min_repeats: int = 2  # ... but never before this many


def _seconds(run: Runner) -> float:
    start = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - start
    del result  # freeing a large output is not part of the call
    return elapsed


def time_together(runners: Mapping[str, Runner], budget: Budget, *, warm_up: bool = True) -> Dict[str, Timing]:
    """Times the runners in interleaved rounds, so noise on the machine hits all alike."""
    if warm_up:
        for run in runners.values():
            run()  # page-faults preallocated buffers, loads lazy code
    samples: Dict[str, List[float]] = {name: [] for name in runners}
    start = time.perf_counter()
    for round_ in range(1, budget.max_repeats + 1):
        for name, run in runners.items():
            samples[name].append(_seconds(run))
        if round_ >= budget.min_repeats and time.perf_counter() - start > budget.seconds:
            break
    return {name: Timing(min(s), statistics.median(s), len(s)) for name, s in samples.items()}


@dataclass(frozen=True)
class Budgets:
    own: Budget   # fastsoftmax and the floors: fast, so many rounds
    peer: Budget  # the peers: NumPy takes seconds a call at full size


FULL_BUDGETS = Budgets(own=Budget(max_repeats=15, seconds=2.0), peer=Budget(max_repeats=7, seconds=1.5))
QUICK_BUDGETS = Budgets(own=Budget(max_repeats=5, seconds=0.3), peer=Budget(max_repeats=3, seconds=0.2))


# --------------------------------------------------------------------------- one case

@dataclass
class CaseResult:
    case: Case
    bytes_moved: int
    copy_bytes: int
    fastsoftmax: Timing
    copy_floor: Timing
    exp_floor: Timing
    peers: Dict[str, Timing] = field(default_factory=dict)  # preallocated where the peer allows
    # allocating calls: only for ops whose output is as large as the input
    fastsoftmax_allocating: Optional[Timing] = None
    allocating_copy: Optional[Timing] = None
    peers_allocating: Dict[str, Timing] = field(default_factory=dict)

    @property
    def floor_s(self) -> float:
        return max(self.copy_floor.best_s, self.exp_floor.best_s)

    @property
    def ratio_to_copy(self) -> float:
        return self.fastsoftmax.best_s / self.copy_floor.best_s

    @property
    def ratio_to_floor(self) -> float:
        return self.fastsoftmax.best_s / self.floor_s

    @property
    def bandwidth_gbs(self) -> float:
        return self.bytes_moved / self.fastsoftmax.best_s / 1e9

    @property
    def bandwidth_of_copy(self) -> float:
        return self.bandwidth_gbs / (self.copy_bytes / self.copy_floor.best_s / 1e9)

    def speedup(self, peer: str) -> Optional[float]:
        timing = self.peers.get(peer)
        return timing.best_s / self.fastsoftmax.best_s if timing else None

    def to_json(self) -> Dict[str, Any]:
        record = asdict(self)
        record.update(
            floor_s=self.floor_s, ratio_to_copy=self.ratio_to_copy, ratio_to_floor=self.ratio_to_floor,
            bandwidth_gbs=self.bandwidth_gbs, bandwidth_of_copy=self.bandwidth_of_copy,
            speedup={name: self.speedup(name) for name in self.peers},
        )
        return record


def _time_own(case: Case, inputs: Inputs, budget: Budget) -> Dict[str, Timing]:
    runners = {
        "fastsoftmax": fastsoftmax_runner(case.op, inputs, allocate=False),
        "copy floor": copy_floor_runner(inputs),
        "exp floor": exp_floor_runner(inputs),
    }
    if BENCH_OPS_BY_NAME[case.op].full_output:
        runners["fastsoftmax allocating"] = fastsoftmax_runner(case.op, inputs, allocate=True)
        runners["np.copy"] = allocating_copy_runner(inputs)
    return time_together(runners, budget)


def _time_peer(peer: Peer, case: Case, inputs: Inputs, budget: Budget) -> Tuple[Optional[Timing], Optional[Timing]]:
    """The peer's (preallocated, allocating) timings; a peer without out= gives the same for both."""
    has_out = case.op in peer.out_ops
    runner = peer.make_runner(case.op, inputs, not has_out)
    if runner is None:
        return None, None
    timing = time_together({peer.name: runner}, budget)[peer.name]
    del runner  # frees its buffers before the allocating run
    if not BENCH_OPS_BY_NAME[case.op].full_output:
        return timing, None
    if not has_out:
        return timing, timing
    allocating = peer.make_runner(case.op, inputs, True)
    # no warm-up: the same code just ran, and every call allocates afresh anyway
    return timing, time_together({peer.name: allocating}, budget, warm_up=False)[peer.name]


def run_case(case: Case, inputs: Inputs, peers: Sequence[Peer], budgets: Budgets) -> CaseResult:
    own = _time_own(case, inputs, budgets.own)
    result = CaseResult(
        case=case, bytes_moved=bytes_moved(case.op, inputs), copy_bytes=2 * inputs.x.nbytes,
        fastsoftmax=own["fastsoftmax"], copy_floor=own["copy floor"], exp_floor=own["exp floor"],
        fastsoftmax_allocating=own.get("fastsoftmax allocating"), allocating_copy=own.get("np.copy"),
    )
    for peer in peers:
        timing, allocating = _time_peer(peer, case, inputs, budgets.peer)
        if timing is not None:
            result.peers[peer.name] = timing
        if allocating is not None:
            result.peers_allocating[peer.name] = allocating
    return result


def run_cases(cases: Sequence[Case], peers: Sequence[Peer], budgets: Budgets) -> List[CaseResult]:
    results = []
    for (shape, dtype), group in itertools.groupby(cases, key=lambda c: (c.shape, c.dtype)):
        group = list(group)
        inputs = inputs_for([c.op for c in group], shape, dtype)
        for case in group:
            print(f"  timing {case.label} ...", file=sys.stderr, flush=True)
            results.append(run_case(case, inputs, peers, budgets))
        del inputs  # up to 1 GB: gone before the next shape is built
    return results


# --------------------------------------------------------------------------- machine

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux
    return platform.processor() or platform.machine()


def machine_info(peers: Sequence[Peer]) -> Dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "simd_level": _core.simd_level(),
        "threads": fastsoftmax.get_num_threads(),
        "fastsoftmax": fastsoftmax.__version__,
        "python": platform.python_version(),
        **{peer.name: peer.version() for peer in peers},
    }


def header_lines(info: Mapping[str, Any]) -> List[str]:
    peers = ", ".join(f"{name} {info[name]}" for name in ("numpy", "scipy", "torch") if info.get(name))
    return [
        f"fastsoftmax {info['fastsoftmax']} | CPU: {info['cpu']} ({info['cores']} cores) | "
        f"SIMD: {info['simd_level']} | threads: {info['threads']} (peers too)",
        f"peers: {peers} | Python {info['python']}",
    ]


# --------------------------------------------------------------------------- report

def _ms(timing: Optional[Timing]) -> str:
    if timing is None:
        return "-"
    ms = timing.best_s * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}" if ms >= 1 else f"{ms:.3f}"


def _times(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}x"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 3) -> str:
    """Left-aligns the first ``text_columns`` columns, right-aligns the numbers."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i < text_columns else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)])


def kernel_table(results: Sequence[CaseResult], peer_names: Sequence[str]) -> str:
    headers = ["op", "shape", "dtype", "fastsoftmax", *peer_names, *(f"vs {p}" for p in peer_names),
               "copy", "exp", "/copy", "/floor", "GB/s", "BW/copy"]
    rows = [
        [r.case.op, shape_id(r.case.shape), r.case.dtype, _ms(r.fastsoftmax),
         *(_ms(r.peers.get(p)) for p in peer_names), *(_times(r.speedup(p)) for p in peer_names),
         _ms(r.copy_floor), _ms(r.exp_floor), f"{r.ratio_to_copy:.2f}", f"{r.ratio_to_floor:.2f}",
         f"{r.bandwidth_gbs:.1f}", f"{r.bandwidth_of_copy:.0%}"]
        for r in results
    ]
    return format_table(headers, rows)


def allocating_table(results: Sequence[CaseResult], peer_names: Sequence[str]) -> str:
    headers = ["op", "shape", "dtype", "fastsoftmax", *peer_names, "np.copy", "/np.copy", "fastsoftmax out="]
    rows = [
        [r.case.op, shape_id(r.case.shape), r.case.dtype, _ms(r.fastsoftmax_allocating),
         *(_ms(r.peers_allocating.get(p)) for p in peer_names), _ms(r.allocating_copy),
         f"{r.fastsoftmax_allocating.best_s / r.allocating_copy.best_s:.2f}", _ms(r.fastsoftmax)]
        for r in results if r.fastsoftmax_allocating is not None
    ]
    return format_table(headers, rows)


LEGEND = """\
Times: best of the repeats, in ms. fastsoftmax runs with out=/grad_out=; NumPy and PyTorch with out= or a
preallocated work buffer where they allow (SciPy has no out=; PyTorch's backward allocates its gradient).
cross_entropy, binary_cross_entropy_with_logits and the ZLPR losses are forward + gradient (PyTorch: the
functional loss + backward on a leaf tensor, ZLPR in PyTorch ops + autograd; BCE and ZLPR read 10% positive
labels). 'vs peer': peer time / fastsoftmax time. copy: parallel copy of the input into preallocated memory
(the memory floor);
exp: one vectorised exp-and-sum pass, no output (the arithmetic floor); /copy and /floor: fastsoftmax time
over the copy floor and over the higher floor. GB/s: bytes read + written by fastsoftmax; BW/copy: that
bandwidth as a fraction of the copy's. logsumexp writes one value per row, so it can beat the copy floor."""


def report(results: Sequence[CaseResult], info: Mapping[str, Any], peer_names: Sequence[str]) -> str:
    return "\n".join([
        *header_lines(info), "",
        "Kernels (preallocated outputs)", kernel_table(results, peer_names), "",
        "Allocating calls (a fresh output each call)", allocating_table(results, peer_names), "",
        LEGEND,
    ])


def save_json(path: str, results: Sequence[CaseResult], info: Mapping[str, Any], quick: bool) -> None:
    with open(path, "w") as f:
        json.dump({"machine": dict(info), "quick": quick, "results": [r.to_json() for r in results]}, f, indent=1)


def save_plot(path: str, results: Sequence[CaseResult], peer_names: Sequence[str]) -> None:
    """Horizontal bars: each implementation's time over the higher floor, per case (log scale)."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    names = ["fastsoftmax", *peer_names]
    height = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.18 * len(results) * len(names)))
    for k, name in enumerate(names):
        timings = [r.fastsoftmax if name == "fastsoftmax" else r.peers.get(name) for r in results]
        measured = [(i, t.best_s / r.floor_s) for i, (t, r) in enumerate(zip(timings, results)) if t is not None]
        ax.barh([i + k * height for i, _ in measured], [ratio for _, ratio in measured], height=height, label=name)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(results))])
    ax.set_yticklabels([r.case.label for r in results])
    ax.invert_yaxis()
    ax.set_xlabel("time / higher floor (copy or exp); 1 = the floor")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------- command line

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="smaller shapes and fewer repeats (well under a minute)")
    parser.add_argument("--json", metavar="FILE", help="also write every timing and ratio to FILE as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="also draw the times over the floor (needs matplotlib)")
    parser.add_argument("--threads", type=int, metavar="N", help="threads for fastsoftmax and the peers")
    parser.add_argument("--accuracy", action="store_true",
                        help="print the errors against mpmath beside the peers' instead of timing (needs mpmath)")


def main(args: argparse.Namespace) -> int:
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        print("--plot needs matplotlib: pip install matplotlib (or leave --plot out)", file=sys.stderr)
        return 2
    if args.threads is not None:
        fastsoftmax.set_num_threads(args.threads)
    if args.accuracy:
        if importlib.util.find_spec("mpmath") is None:
            print("--accuracy needs mpmath: pip install mpmath", file=sys.stderr)
            return 2
        from . import _accuracy

        print(_accuracy.table(_accuracy.SIZES if args.quick else _accuracy.TABLE_SIZES))
        return 0
    peers = [peer for peer in PEERS if peer.available()]
    peer_names = [peer.name for peer in peers]
    info = machine_info(peers)
    results = run_cases(QUICK_CASES if args.quick else FULL_CASES, peers, QUICK_BUDGETS if args.quick else FULL_BUDGETS)
    print(report(results, info, peer_names))
    from . import _bench_sampled

    print(_bench_sampled.main(args.quick))
    if args.json:
        save_json(args.json, results, info, args.quick)
    if args.plot:
        save_plot(args.plot, results, peer_names)
    return 0
