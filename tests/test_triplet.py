"""triplet_margin_loss: the float64 reference (op table) and the edge cases:
batches without a valid triplet, coincident and zero embeddings, the mining
choices, the exact distances of batch-hard's pairs."""
import numpy as np
import pytest

import fastsoftmax as fs

import ops

TRIPLET_OPS = ops.ops_in("triplet")


@pytest.mark.numeric
@pytest.mark.parametrize("op,sample,dtype", ops.sample_params(TRIPLET_OPS))
def test_matches_float64_reference(op, sample, dtype, rng):
    ops.run_sample(op, sample, dtype, rng)


@pytest.mark.parametrize("mining", ["batch_hard", "batch_all"])
@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [0, 1, 2, 3], []], ids=["one-class", "no-positives", "empty"])
def test_no_valid_triplet_gives_zero_loss_and_gradient(mining, labels, rng):
    e = rng.normal(size=(len(labels), 3))
    for reduction in ("mean", "sum"):
        loss, grad = fs.triplet_margin_loss(e, np.array(labels, np.int64), mining=mining, reduction=reduction,
                                            return_grad=True)
        assert loss == 0.0 and grad.shape == e.shape and not grad.any()


@pytest.mark.parametrize("distance", ["euclidean", "squared", "cosine"])
def test_coincident_and_zero_embeddings_give_finite_gradients(distance):
    e = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0], [0.0, 0.0], [3.0, -1.0]])
    labels = np.array([0, 0, 1, 1, 0])
    for mining in ("batch_hard", "batch_all"):
        for normalize in (False, True):
            loss, grad = fs.triplet_margin_loss(e, labels, mining=mining, distance=distance, normalize=normalize,
                                                return_grad=True)
            assert np.isfinite(loss) and np.all(np.isfinite(grad))


def test_batch_hard_picks_the_farthest_positive_and_nearest_negative():
    e = np.array([[0.0], [1.0], [5.0], [1.5], [9.0]])
    labels = np.array([0, 0, 0, 1, 1])
    rows = fs.triplet_margin_loss(e, labels, margin=0.0, reduction="none")
    # anchor 0: positive 5 (d 5), negative 1.5 (d 1.5); anchor 3: positive 9 (d 7.5), negative 1 (d 0.5);
    # anchor 4: positive 1.5 (d 7.5), negative 5 (d 4)
    np.testing.assert_allclose(rows, [3.5, 3.5, 1.5, 7.0, 3.5])


def test_batch_hard_distances_are_exact_for_close_embeddings():
    # two points 1e-6 apart far from the origin: the product form of the distance
    # (|a|^2 + |b|^2 - 2 a.b) loses every digit there; the pair's own difference does not
    base = np.full(4, 1e3)
    e = np.stack([base, base + [1e-6, 0, 0, 0], base + [0, 1.0, 0, 0]])
    loss = fs.triplet_margin_loss(e, np.array([0, 0, 1]), margin=0.0, reduction="none")
    np.testing.assert_allclose(loss[:2], [0.0, 0.0])
    np.testing.assert_allclose(loss[2], 0.0)
    rows = fs.triplet_margin_loss(e, np.array([0, 1, 0]), margin=0.0, reduction="none")
    np.testing.assert_allclose(rows[0], 1.0 - 1e-6, rtol=1e-9)


def test_float16_computes_in_float32(rng):
    e = rng.normal(size=(10, 4)).astype(np.float16)
    labels = rng.integers(0, 3, 10)
    loss, grad = fs.triplet_margin_loss(e, labels, return_grad=True)
    assert loss.dtype == np.float16 and grad.dtype == np.float16
    want, wgrad = fs.triplet_margin_loss(e.astype(np.float32), labels, return_grad=True)
    assert loss == want.astype(np.float16)
    np.testing.assert_array_equal(grad, wgrad.astype(np.float16))


def test_soft_margin_is_log1p_exp_without_margin(rng):
    e = rng.normal(size=(8, 3))
    labels = rng.integers(0, 2, 8)
    hard = fs.triplet_margin_loss(e, labels, margin=0.0, reduction="none")
    soft = fs.triplet_margin_loss(e, labels, margin=5.0, soft=True, reduction="none")
    has = hard != 0
    v = np.where(has, hard, 0)  # margin 0: max(0, v); where positive, v itself
    assert np.all(soft[has] > v[has])
