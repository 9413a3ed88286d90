"""ZLPR (multi-label categorical cross-entropy), dense and sparse: reference
parity over the sample table, the two forms bit for bit equal, the removal of
-inf classes, losses near 0, and the formula in PyTorch ops (the op table's
peer, tests/test_peers.py)."""
from __future__ import annotations

import numpy as np
import pytest

import fastsoftmax as fs

import ops
import reference as ref
from ops import normal

ZLPR_OPS = ops.ops_in("multilabel")


@pytest.mark.numeric
@pytest.mark.parametrize("op,sample,dtype", ops.sample_params(ZLPR_OPS))
def test_matches_float64_reference(op, sample, dtype, rng):
    ops.run_sample(op, sample, dtype, rng)


def _ids(target: np.ndarray, rng) -> np.ndarray:
    rows = target.reshape(-1, target.shape[-1])
    k = int(rows.sum(axis=1).max(initial=0)) + 3
    ids = np.full((rows.shape[0], k), -1, np.int64)
    for r in range(rows.shape[0]):
        found = rng.permutation(np.flatnonzero(rows[r]))
        slots = rng.permutation(k)  # padding between the ids, not only after
        ids[r, slots[:len(found)]] = found
        if len(found):
            ids[r, slots[-1]] = found[0]  # listed twice: counts once
    return ids.reshape(target.shape[:-1] + (k,))


@pytest.mark.numeric
@pytest.mark.parametrize("shape", [(7, 5), (33, 16), (9, 1000), (4, 3, 257), (3, 70_000)])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_sparse_equals_dense_bit_for_bit(shape, reduction, dtype, rng):
    x = normal(rng, shape, dtype, 4.0)
    t = rng.random(shape) < 0.1
    x.reshape(-1)[::13] = -np.inf
    dense = fs.multilabel_categorical_crossentropy(x, t, reduction=reduction, return_grad=True)
    sparse = fs.sparse_multilabel_categorical_crossentropy(x, _ids(t, rng), reduction=reduction, return_grad=True)
    for a, b in zip(dense, sparse):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def test_minus_inf_removes_a_class(dtype, rng):
    # a class at -inf counts in neither sum, positive or negative, and gets a zero gradient
    x = normal(rng, (6, 20), dtype, 3.0)
    t = rng.random((6, 20)) < 0.3
    t[:, 0], t[:, 1] = True, False
    x[:, :2] = -np.inf
    loss, grad = fs.multilabel_categorical_crossentropy(x, t, reduction="none", return_grad=True)
    want, want_grad = fs.multilabel_categorical_crossentropy(x[:, 2:], t[:, 2:], reduction="none", return_grad=True)
    np.testing.assert_array_equal(loss, want)
    assert np.all(grad[:, :2] == 0)
    np.testing.assert_allclose(grad[:, 2:], want_grad, rtol=4 * np.finfo(dtype).eps)


def test_rows_without_positives_or_negatives(dtype):
    x = np.array([[1.0, -2.0, 0.5], [1.0, -2.0, 0.5], [-np.inf] * 3], dtype)
    t = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 1]], bool)
    loss = fs.multilabel_categorical_crossentropy(x, t, reduction="none")
    e = np.exp(np.float64([1.0, -2.0, 0.5]))
    np.testing.assert_allclose(loss, [np.log1p(e.sum()), np.log1p((1 / e).sum()), 0.0], rtol=4e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_confident_rows_keep_the_small_loss(dtype):
    # log1p of the sums where the group's max is the 0 term: 2 e^-40 is kept, not rounded to 0
    x = np.array([[40.0, -40.0, -40.0]], dtype)
    t = np.array([[1, 0, 0]], bool)
    loss = fs.multilabel_categorical_crossentropy(x, t, reduction="none")
    want = np.log1p(2 * np.exp(-40.0)) + np.log1p(np.exp(-40.0))
    np.testing.assert_allclose(loss, [want], rtol=4 * np.finfo(dtype).eps)


def test_example_of_the_formula():
    # Su Jianlin's ZLPR: log(1 + sum_neg e^x) + log(1 + sum_pos e^-x)
    x = np.array([2.0, -1.0, 0.5, 3.0])
    t = np.array([1, 0, 0, 1])
    want = np.log(1 + np.exp(-1.0) + np.exp(0.5)) + np.log(1 + np.exp(-2.0) + np.exp(-3.0))
    assert fs.multilabel_categorical_crossentropy(x, t) == pytest.approx(want, rel=1e-15)
    assert fs.sparse_multilabel_categorical_crossentropy(x, np.array([3, 0])) == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_count_does_not_change_a_bit(threads, rng, restore_threads):
    x = normal(rng, (301, 700), np.float32, 3.0)
    t = rng.random(x.shape) < 0.05
    fs.set_num_threads(1)
    want = fs.multilabel_categorical_crossentropy(x, t, reduction="none", return_grad=True)
    fs.set_num_threads(threads)
    got = fs.multilabel_categorical_crossentropy(x, t, reduction="none", return_grad=True)
    for a, b in zip(got, want):
        assert a.tobytes() == b.tobytes()


def test_float16_logits(rng):
    x = normal(rng, (5, 30), np.float16, 2.0)
    t = rng.random(x.shape) < 0.2
    loss, grad = fs.multilabel_categorical_crossentropy(x, t, return_grad=True)
    want, want_grad = ref.multilabel_categorical_crossentropy(x, t)
    assert loss.dtype == np.float16 and grad.dtype == np.float16
    np.testing.assert_allclose(np.float64(loss), want, rtol=1e-3)
    np.testing.assert_allclose(np.float64(grad), want_grad, rtol=2e-3, atol=1e-5)


def test_a_removed_class_has_zero_gradient_beside_a_nan(dtype):
    # found by tools/fuzz.py (100k calls): a NaN positive made the whole positive group NaN,
    # the removed (-inf) positive included, whose gradient is 0 whatever its group holds
    x = np.array([[-np.inf, 1.0, np.nan, 0.5], [-np.inf, np.inf, 2.0, 0.5]], dtype)
    t = np.array([[1, 0, 1, 0], [0, 0, 1, 0]], bool)
    loss, grad = fs.multilabel_categorical_crossentropy(x, t, reduction="none", return_grad=True)
    want_loss, want_grad = ref.multilabel_categorical_crossentropy(x, t, "none")
    np.testing.assert_array_equal(np.isnan(loss), np.isnan(want_loss))
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(want_grad))
    assert grad[0, 0] == 0 and grad[1, 0] == 0
