"""The sampled softmax benchmark of ``python -m fastsoftmax bench``:
``sampled_softmax_loss`` with its gradients against a straightforward
PyTorch version (gather, matmul, log_softmax, backward) and TensorFlow's
``tf.nn.sampled_softmax_loss`` under ``GradientTape`` (each if installed),
beside the floor of its three B x S x d matrix products; and the draws of
the candidates against TensorFlow's sampler.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

import fastsoftmax

from . import sampled
from ._bench import Budget, time_together


@dataclass(frozen=True)
class Shape:
    B: int
    d: int
    S: int
    C: int


FULL = Shape(4096, 128, 8192, 10**6)
QUICK = Shape(1024, 64, 2048, 10**5)


@dataclass
class Problem:
    shape: Shape
    W: np.ndarray
    b: np.ndarray
    x: np.ndarray
    labels: np.ndarray
    values: sampled.CandidateSample


def make_problem(shape: Shape, seed: int = 0) -> Problem:
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((shape.C, shape.d), dtype=np.float32) * np.float32(0.05)
    x = rng.standard_normal((shape.B, shape.d), dtype=np.float32)
    labels = rng.integers(0, shape.C, (shape.B, 1))
    values = sampled.LogUniformSampler(shape.C, seed=seed).sample(labels, shape.S)
    return Problem(shape, W, np.zeros(shape.C, np.float32), x, labels, values)


def ours(p: Problem) -> Callable[[], Any]:
    return lambda: sampled.sampled_softmax_loss(p.W, p.b, p.labels, p.x, p.shape.S, p.shape.C,
                                                sampled_values=p.values, return_grad=True)


def products_floor(p: Problem) -> Callable[[], Any]:
    """The three B x S x d products any implementation makes (NumPy's BLAS)."""
    sw = p.W[p.values.sampled_candidates]
    z = np.empty((p.shape.B, p.shape.S), np.float32)

    def run():
        np.matmul(p.x, sw.T, out=z)
        return z @ sw, z.T @ p.x
    return run


def torch_runner(p: Problem, threads: int) -> Callable[[], Any]:
    import torch

    torch.set_num_threads(threads)
    W = torch.from_numpy(p.W).requires_grad_(True)
    b = torch.from_numpy(p.b).requires_grad_(True)
    x = torch.from_numpy(p.x).requires_grad_(True)
    lab = torch.from_numpy(p.labels[:, 0])
    ids = torch.from_numpy(p.values.sampled_candidates)
    log_q_true = torch.from_numpy(np.log(p.values.true_expected_count[:, 0]).astype(np.float32))
    log_q = torch.from_numpy(np.log(p.values.sampled_expected_count).astype(np.float32))

    def run():
        W.grad = b.grad = x.grad = None
        true_logits = (x * W[lab]).sum(1) + b[lab] - log_q_true
        sampled_logits = (x @ W[ids].T + b[ids] - log_q).masked_fill(ids[None, :] == lab[:, None], float("-inf"))
        loss = -torch.log_softmax(torch.cat([true_logits[:, None], sampled_logits], 1), 1)[:, 0]
        loss.sum().backward()
        return loss
    return run


def tensorflow_runner(p: Problem, threads: int) -> Tuple[Callable[[], Any], Callable[[], Any]]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised by an earlier call in this process
        pass
    W, b, x = tf.Variable(p.W), tf.Variable(p.b), tf.Variable(p.x)
    labels = tf.constant(p.labels)
    values = (tf.constant(p.values.sampled_candidates), tf.constant(p.values.true_expected_count.astype(np.float32)),
              tf.constant(p.values.sampled_expected_count.astype(np.float32)))

    @tf.function
    def loss_and_grads():
        with tf.GradientTape() as tape:
            loss = tf.nn.sampled_softmax_loss(W, b, labels, x, p.shape.S, p.shape.C, sampled_values=values)
            total = tf.reduce_sum(loss)
        return loss, tape.gradient(total, [W, b, x])

    one = tf.constant(p.labels[:1])

    @tf.function
    def draw():
        return tf.random.log_uniform_candidate_sampler(one, 1, p.shape.S, True, p.shape.C)
    return loss_and_grads, draw


def run(quick: bool, threads: int) -> str:
    """Times everything and returns the report."""
    shape = QUICK if quick else FULL
    p = make_problem(shape)
    budget = Budget(max_repeats=3 if quick else 5, seconds=1.0 if quick else 5.0)
    runners: Dict[str, Callable[[], Any]] = {"fastsoftmax": ours(p), "matrix products alone": products_floor(p)}
    draws: Dict[str, Callable[[], Any]] = {}
    sampler = sampled.LogUniformSampler(shape.C, seed=1)
    draws["fastsoftmax"] = lambda: sampler.sample(p.labels[:1], shape.S)
    if importlib.util.find_spec("torch") is not None:
        runners["PyTorch: gather, matmul, log_softmax, backward"] = torch_runner(p, threads)
    if importlib.util.find_spec("tensorflow") is not None:
        runners["TensorFlow: sampled_softmax_loss + GradientTape"], draws["TensorFlow"] = tensorflow_runner(p, threads)
    times = {name: t.best_s for name, t in time_together(runners, budget).items()}
    draw_times = {name: t.best_s for name, t in time_together(draws, Budget(20, 0.5)).items()}
    lines: List[str] = [
        "",
        f"sampled_softmax_loss, loss + gradients: B={shape.B}, d={shape.d}, S={shape.S}, C={shape.C}, float32, "
        f"{threads} threads",
        f"{'implementation':<48}  {'ms':>9}  {'x ours':>7}",
        f"{'-' * 48}  {'-' * 9}  {'-' * 7}",
    ]
    base = times["fastsoftmax"]
    for name, t in times.items():
        lines.append(f"{name:<48}  {t * 1e3:9.1f}  {t / base:7.2f}")
    lines += ["", f"candidate draws: {shape.S} unique log-uniform ids of {shape.C}",
              f"{'sampler':<48}  {'ms':>9}  {'Mdraws/s':>8}", f"{'-' * 48}  {'-' * 9}  {'-' * 8}"]
    for name, t in draw_times.items():
        lines.append(f"{name:<48}  {t * 1e3:9.3f}  {shape.S / t / 1e6:8.1f}")
    return "\n".join(lines)


def main(quick: bool) -> str:
    return run(quick, fastsoftmax.get_num_threads())
