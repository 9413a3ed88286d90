"""fastsoftmax.sampled against TensorFlow 2.21 (a peer: required in CI, skipped
elsewhere when it is not installed): the same weights, inputs, labels and
sampled values give the same losses and GradientTape gradients, and the
samplers the same expected counts."""
from __future__ import annotations

import numpy as np
import pytest

import fastsoftmax.sampled as fss
from test_sampled import LOSSES, dense_gradients, problem


@pytest.fixture
def tf(tensorflow):
    return tensorflow


@pytest.mark.parametrize("kind", LOSSES)
@pytest.mark.parametrize("T", [1, 2])
@pytest.mark.parametrize("remove_hits", [True, False])
def test_against_tensorflow(tf, kind, T, remove_hits, rng):
    w, b, labels, x, values = problem(rng, T=T, dtype=np.float32)
    sampled, tc, sc = values
    tf_values = (tf.constant(sampled), tf.constant(tc.astype(np.float32)), tf.constant(sc.astype(np.float32)))
    W, Bv, X = tf.Variable(w), tf.Variable(b), tf.Variable(x)
    tf_loss = {"softmax": tf.nn.sampled_softmax_loss, "nce": tf.nn.nce_loss}[kind]
    with tf.GradientTape() as tape:
        want = tf_loss(W, Bv, tf.constant(labels), X, len(sampled), 30, num_true=T, sampled_values=tf_values,
                       remove_accidental_hits=remove_hits)
        total = tf.reduce_sum(want)
    gW, gB, gX = tape.gradient(total, [W, Bv, X])
    loss, grads = LOSSES[kind](w, b, labels, x, len(sampled), 30, num_true=T, sampled_values=values,
                               remove_accidental_hits=remove_hits, return_grad=True)
    np.testing.assert_allclose(loss, want.numpy(), rtol=2e-5, atol=1e-6)
    gx, dw, db = dense_gradients(grads, 30, 6)
    np.testing.assert_allclose(gx, gX.numpy(), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(dw, tf.convert_to_tensor(gW).numpy(), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(db, tf.convert_to_tensor(gB).numpy(), rtol=2e-5, atol=1e-6)


def test_sampler_probabilities_against_tensorflow(tf):
    labels = tf.constant([[0], [3], [99]], dtype=tf.int64)
    for name, ours in (("log_uniform_candidate_sampler", fss.LogUniformSampler(100)),
                       ("uniform_candidate_sampler", fss.UniformSampler(100))):
        s = getattr(tf.random, name)(labels, 1, 20, unique=True, range_max=100, seed=1)
        tries_free = ours.sample(labels.numpy(), 20, unique=True)  # its own draws
        p_tf = s.sampled_expected_count.numpy()
        ids = s.sampled_candidates.numpy()
        # recover TensorFlow's num_tries from one candidate, then every count follows from probability()
        p = ours.probability(ids)
        tries = np.round(np.log1p(-p_tf[0].astype(np.float64)) / np.log1p(-p[0]))
        want = 20 * p if tries == 20 else -np.expm1(tries * np.log1p(-p))
        np.testing.assert_allclose(p_tf, want, rtol=1e-5)
        assert tries_free.sampled_candidates.size == 20
