"""fastsoftmax.sampled: the samplers, candidate correction, sampled softmax and
NCE, against a float64 reference of TensorFlow's semantics written here
(loops over rows and columns, gradients by central differences);
test_sampled_tensorflow.py compares with TensorFlow itself."""
from __future__ import annotations

import numpy as np
import pytest

import fastsoftmax.sampled as fss

LOSSES = {"softmax": fss.sampled_softmax_loss, "nce": fss.nce_loss}


# --------------------------------------------------------------------------- reference

def reference_logits(w, b, labels, x, sampled, true_count, sampled_count, subtract_log_q, remove_hits):
    """compute_sampled_logits in float64, one row and column at a time; removed: None."""
    B, T = labels.shape
    z = [[None] * (T + len(sampled)) for _ in range(B)]
    for r in range(B):
        for t in range(T):
            z[r][t] = float(np.dot(x[r], w[labels[r, t]]) + b[labels[r, t]])
            if subtract_log_q:
                z[r][t] -= np.log(true_count[r, t])
        for s, k in enumerate(sampled):
            if remove_hits and k in labels[r]:
                continue
            z[r][T + s] = float(np.dot(x[r], w[k]) + b[k]) - (np.log(sampled_count[s]) if subtract_log_q else 0.0)
    return z


def reference_rows(kind, w, b, labels, x, sampled, true_count, sampled_count, subtract_log_q, remove_hits,
                   smoothing=0.0):
    T = labels.shape[1]
    rows = []
    for row in reference_logits(w, b, labels, x, sampled, true_count, sampled_count, subtract_log_q, remove_hits):
        y = [1.0 / T] * T + [0.0] * (len(row) - T)
        kept = [(v, t) for v, t in zip(row, y) if v is not None]
        kept = [(v, (1 - smoothing) * t + smoothing / len(kept)) for v, t in kept]
        if kind == "softmax":
            m = max(v for v, _ in kept)
            lse = m + np.log(sum(np.exp(v - m) for v, _ in kept))
            rows.append(sum(t * (lse - v) for v, t in kept))
        else:
            rows.append(sum(max(v, 0.0) - v * t + np.log1p(np.exp(-abs(v))) for v, t in kept))
    return np.array(rows)


def central_difference(f, a, h=1e-6):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        keep = a[i]
        a[i] = keep + h
        up = f()
        a[i] = keep - h
        down = f()
        a[i] = keep
        g[i] = (up - down) / (2 * h)
    return g


def problem(rng, B=5, C=30, d=6, T=1, S=8, dtype=np.float64, hits=True):
    w = rng.standard_normal((C, d)).astype(dtype)
    b = (0.1 * rng.standard_normal(C)).astype(dtype)
    x = rng.standard_normal((B, d)).astype(dtype)
    labels = np.stack([rng.choice(C, T, replace=False) for _ in range(B)])
    sampled = rng.choice(C, S, replace=False)
    if hits and labels[0, 0] not in sampled:
        sampled[0] = labels[0, 0]  # an accidental hit in row 0 (the ids stay distinct)
    sampler = fss.LogUniformSampler(C, seed=0)
    values = (sampled, sampler.probability(labels) * S, sampler.probability(sampled) * S)
    return w, b, labels, x, values


def dense_gradients(grads, C, d):
    gx, (wid, gw), (bid, gb) = grads
    assert np.array_equal(wid, bid) and np.all(np.diff(wid) > 0)  # distinct, sorted
    W, Bv = np.zeros((C, d)), np.zeros(C)
    W[wid], Bv[bid] = gw, gb
    return gx, W, Bv


# --------------------------------------------------------------------------- against the reference

@pytest.mark.parametrize("kind", LOSSES)
@pytest.mark.parametrize("T", [1, 3])
@pytest.mark.parametrize("subtract_log_q", [True, False])
@pytest.mark.parametrize("remove_hits", [True, False])
def test_losses_and_gradients_match_the_reference(kind, T, subtract_log_q, remove_hits, rng):
    w, b, labels, x, values = problem(rng, T=T)
    opts = dict(num_true=T, sampled_values=values, subtract_log_q=subtract_log_q,
                remove_accidental_hits=remove_hits)
    loss, grads = LOSSES[kind](w, b, labels, x, 8, 30, return_grad=True, **opts)
    ref = lambda: reference_rows(kind, w, b, labels, x, *values, subtract_log_q, remove_hits)  # noqa: E731
    np.testing.assert_allclose(loss, ref(), rtol=1e-12)
    gx, gw, gb = dense_gradients(grads, 30, 6)
    total = lambda: float(np.sum(ref()))  # noqa: E731
    np.testing.assert_allclose(gx, central_difference(total, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gw, central_difference(total, w), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gb, central_difference(total, b), rtol=1e-6, atol=1e-8)


def test_compute_sampled_logits_matches_the_reference(rng):
    w, b, labels, x, values = problem(rng, T=2)
    z, p = fss.compute_sampled_logits(w, b, labels, x, values, num_true=2)
    ref = reference_logits(w, b, labels, x, *values, True, True)
    want = np.array([[-np.inf if v is None else v for v in row] for row in ref])
    np.testing.assert_allclose(z, want, rtol=1e-13)
    assert np.all(p[:, :2] == 0.5) and np.all(p[:, 2:] == 0)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_reductions_and_float32(reduction, rng):
    w, b, labels, x, values = problem(rng, dtype=np.float32)
    loss, (gx, (ids, gw), (_, gb)) = fss.sampled_softmax_loss(w, b, labels, x, 8, 30, sampled_values=values,
                                                              reduction=reduction, return_grad=True)
    rows = reference_rows("softmax", w.astype(float), b.astype(float), labels, x.astype(float), *values, True, True)
    want = {"none": rows, "sum": rows.sum(), "mean": rows.mean()}[reduction]
    np.testing.assert_allclose(loss, want, rtol=2e-6)
    assert np.asarray(loss).dtype == np.float32 and gx.dtype == gw.dtype == gb.dtype == np.float32
    _, (gx64, (_, gw64), _) = fss.sampled_softmax_loss(w.astype(float), b.astype(float), labels, x.astype(float), 8,
                                                       30, sampled_values=values, reduction=reduction,
                                                       return_grad=True)
    np.testing.assert_allclose(gx, gx64, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gw, gw64, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- accidental hits

@pytest.mark.parametrize("kind", LOSSES)
def test_a_removed_candidate_has_zero_gradient_and_nothing_is_inf(kind, rng):
    import fastsoftmax as fs
    w, b, labels, x, values = problem(rng, T=3)
    others = np.setdiff1d(np.arange(30), labels[0])[:5]
    sampled = np.r_[labels[0], others]  # all of row 0's labels are also sampled
    p = fss.LogUniformSampler(30).probability(sampled) * 8
    values = (sampled, values[1], p)
    loss, grads = LOSSES[kind](w, b, labels, x, 8, 30, num_true=3, sampled_values=values,
                               remove_accidental_hits=True, return_grad=True)
    assert np.all(np.isfinite(loss))
    gx, (ids, gw), (_, gb) = grads
    assert np.all(np.isfinite(gx)) and np.all(np.isfinite(gw)) and np.all(np.isfinite(gb))
    z, probs = fss.compute_sampled_logits(w, b, labels[:1], x[:1], (sampled, values[1][:1], p), num_true=3)
    assert np.all(z[0, 3:6] == -np.inf) and np.all(np.isfinite(z[0, np.r_[0:3, 6:11]]))
    _, dz = fs.cross_entropy(z, probs, reduction="none", return_grad=True)
    assert np.all(dz[0, 3:6] == 0) and np.all(np.isfinite(dz))


@pytest.mark.parametrize("T", [1, 3])
def test_label_smoothing_with_accidental_hits_stays_finite(T, rng):
    w, b, labels, x, values = problem(rng, T=T)
    sampled = np.r_[labels[0], np.setdiff1d(np.arange(30), labels[0])[:8 - T]]  # row 0's labels all sampled
    values = (sampled, values[1], fss.LogUniformSampler(30).probability(sampled) * 8)
    loss, grads = fss.sampled_softmax_loss(w, b, labels, x, 8, 30, num_true=T, sampled_values=values,
                                           label_smoothing=0.2, return_grad=True)
    ref = lambda: reference_rows("softmax", w, b, labels, x, *values, True, True, 0.2)  # noqa: E731
    np.testing.assert_allclose(loss, ref(), rtol=1e-12)
    gx, gw, gb = dense_gradients(grads, 30, 6)
    total = lambda: float(np.sum(ref()))  # noqa: E731
    np.testing.assert_allclose(gw, central_difference(total, w), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gx, central_difference(total, x), rtol=1e-6, atol=1e-8)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(gb))


def test_repeated_ids_are_merged(rng):
    # a label that is also sampled, and one label in several rows: one gradient row each
    w, b, labels, x, values = problem(rng, T=1)
    labels[:] = labels[0]
    _, (_, (ids, gw), (bids, gb)) = fss.sampled_softmax_loss(w, b, labels, x, 8, 30, sampled_values=values,
                                                             remove_accidental_hits=False, return_grad=True)
    assert np.array_equal(ids, np.unique(np.r_[labels.ravel(), values[0]]))
    assert gw.shape == (ids.size, 6) and gb.shape == (ids.size,)


def test_candidate_correction_in_place(rng):
    z = rng.standard_normal((3, 4))
    before = z.copy()
    labels, sampled = np.array([[1], [2], [1]]), np.array([1, 5, 6])
    tc, sc = np.full((3, 1), 0.5), np.array([0.25, 0.5, 1.0])
    got = fss.candidate_correction(z, labels, sampled, tc, sc, out=z)
    assert got is z
    want = before - np.log(np.c_[tc, np.tile(sc, (3, 1))])
    want[[0, 2], 1] = -np.inf
    np.testing.assert_array_equal(z, want)
    copy = fss.candidate_correction(before, labels, sampled, tc, sc)
    np.testing.assert_array_equal(copy, want)


def test_a_label_sampled_twice_is_removed_twice():
    z = fss.candidate_correction(np.zeros((2, 4)), [[1], [2]], [1, 1, 3], np.ones((2, 1)), np.ones(3))
    np.testing.assert_array_equal(z, [[0, -np.inf, -np.inf, 0], [0, 0, 0, 0]])


# --------------------------------------------------------------------------- samplers

@pytest.mark.parametrize("kind", LOSSES)
def test_bitwise_the_same_at_any_thread_count(kind):
    import fastsoftmax as fs
    rng = np.random.default_rng(11)
    w, b, labels, x, values = problem(rng, B=300, C=5000, d=16, T=2, S=2000, dtype=np.float32)
    before = fs.get_num_threads()
    try:
        runs = []
        for threads in (1, 2, 3):
            fs.set_num_threads(threads)
            loss, (gx, (ids, gw), (_, gb)) = LOSSES[kind](w, b, labels, x, 2000, 5000, num_true=2,
                                                          sampled_values=values, return_grad=True)
            runs.append(b"".join(np.ascontiguousarray(a).tobytes() for a in (loss, gx, ids, gw, gb)))
    finally:
        fs.set_num_threads(before)
    assert runs[0] == runs[1] == runs[2]


def test_same_seed_same_samples_any_thread_count():
    import fastsoftmax as fs
    before = fs.get_num_threads()
    try:
        draws = []
        for threads in (1, 2):
            fs.set_num_threads(threads)
            s = fss.LogUniformSampler(10**6, seed=7)
            draws.append([s.sample([[1]], 500).sampled_candidates for _ in range(2)])
    finally:
        fs.set_num_threads(before)
    assert np.array_equal(draws[0][0], draws[1][0]) and np.array_equal(draws[0][1], draws[1][1])
    assert not np.array_equal(draws[0][0], draws[0][1])  # the generator moves on


@pytest.mark.parametrize("make", [lambda: fss.UniformSampler(50, seed=3), lambda: fss.LogUniformSampler(50, seed=3),
                                  lambda: fss.UnigramSampler(np.arange(50) % 7, power=0.75, seed=3)],
                         ids=["uniform", "log_uniform", "unigram"])
def test_draw_frequencies_follow_probability(make):
    sampler = make()
    n = 200_000
    ids = sampler.sample([[0]], n, unique=False).sampled_candidates
    observed = np.bincount(ids, minlength=50)
    expected = sampler.probability(np.arange(50)) * n
    assert np.isclose(expected.sum(), n)
    live = expected > 0
    assert np.all(observed[~live] == 0)
    chi2 = np.sum((observed[live] - expected[live]) ** 2 / expected[live])
    # 49 degrees of freedom at most: the 0.9999 quantile is about 97
    assert chi2 < 97, chi2


def test_unique_draws_and_expected_counts():
    sampler = fss.LogUniformSampler(100, seed=5)
    labels = np.array([[0], [50]])
    s = sampler.sample(labels, 40, unique=True)
    assert len(np.unique(s.sampled_candidates)) == 40
    # the draws it took are recovered from any candidate's expected count
    p = sampler.probability(s.sampled_candidates)
    tries = np.log1p(-s.sampled_expected_count) / np.log1p(-p)
    assert np.allclose(tries, np.round(tries[0])) and tries[0] >= 40
    np.testing.assert_allclose(s.true_expected_count, -np.expm1(tries[0] * np.log1p(-sampler.probability(labels))))
    d = fss.LogUniformSampler(100, seed=5).sample(labels, 40, unique=False)
    np.testing.assert_allclose(d.sampled_expected_count, 40 * sampler.probability(d.sampled_candidates))


def test_probabilities_are_tensorflows_formulas():
    k = np.arange(10)
    np.testing.assert_allclose(fss.LogUniformSampler(10).probability(k), np.log((k + 2) / (k + 1)) / np.log(11))
    np.testing.assert_allclose(fss.UniformSampler(10).probability(k), 0.1)
    counts = np.array([3.0, 0.0, 1.0, 4.0])
    np.testing.assert_allclose(fss.UnigramSampler(counts, power=0.5).probability(np.arange(4)),
                               counts ** 0.5 / np.sum(counts ** 0.5))


# --------------------------------------------------------------------------- bad input

def test_bad_inputs_raise_naming_the_argument(rng):
    w, b, labels, x, values = problem(rng)
    with pytest.raises(IndexError, match="labels"):
        fss.sampled_softmax_loss(w, b, labels + 30, x, 8, 30, sampled_values=values)
    with pytest.raises(ValueError, match="inputs has shape"):
        fss.sampled_softmax_loss(w, b, labels, x[:, :4], 8, 30, sampled_values=values)
    with pytest.raises(ValueError, match="biases"):
        fss.nce_loss(w, b[:5], labels, x, 8, 30, sampled_values=values)
    with pytest.raises(ValueError, match="num_sampled=31"):
        fss.UniformSampler(30).sample(labels, 31, unique=True)
    with pytest.raises(ValueError, match="num_sampled=3"):
        fss.UnigramSampler([1.0, 0.0, 2.0]).sample([[0]], 3)
    with pytest.raises(ValueError, match="counts"):
        fss.UnigramSampler([1.0, -1.0])
    with pytest.raises(ValueError, match="counts"):
        fss.UnigramSampler([0.0, 0.0])
    with pytest.raises(ValueError, match="num_classes=31"):
        fss.sampled_softmax_loss(w, b, labels, x, 8, 31)
    with pytest.raises(ValueError, match="sampler must be"):
        fss.sampled_softmax_loss(w, b, labels, x, 8, 30, sampler="zipf")
    with pytest.raises(IndexError, match="sampled_candidates"):
        fss.nce_loss(w, b, labels, x, 8, 30, sampled_values=(values[0] + 30, values[1], values[2]))
    with pytest.raises(ValueError, match="range_max"):
        fss.LogUniformSampler(0)
    with pytest.raises(ValueError, match="label_smoothing"):
        fss.sampled_softmax_loss(w, b, labels, x, 8, 30, sampled_values=values, label_smoothing=1.5)
    with pytest.raises(TypeError, match="labels"):
        fss.sampled_softmax_loss(w, b, labels.astype(float), x, 8, 30, sampled_values=values)
    with pytest.raises(ValueError, match="labels has shape"):
        fss.sampled_softmax_loss(w, b, labels[:, :1].repeat(2, 1), x, 8, 30, sampled_values=values)


def test_inputs_are_not_modified(rng):
    w, b, labels, x, values = problem(rng)
    before = [a.copy() for a in (w, b, labels, x, *values)]
    fss.nce_loss(w, b, labels, x, 8, 30, sampled_values=values, remove_accidental_hits=True, return_grad=True)
    fss.sampled_softmax_loss(w, b, labels, x, 8, 30, sampled_values=values, return_grad=True)
    for a, was in zip((w, b, labels, x, *values), before):
        np.testing.assert_array_equal(a, was)


@pytest.mark.parametrize("layout", ["out-strided", "out-overlapping", "float16", "empty-rows"])
def test_candidate_correction_outputs(rng, layout):
    """out= through a non-contiguous view, an out that overlaps the logits
    other than exactly, float16 logits and zero rows: the same numbers as the
    reference formula, the input unchanged unless it is out."""
    B, T, S = 5, 2, 6
    labels = rng.integers(0, 8, (B, T))
    sampled = np.array([0, 3, 3, 5, 7, 1])
    tc, sc = rng.uniform(0.1, 2, (B, T)), rng.uniform(0.1, 2, S)
    if layout == "empty-rows":
        B, labels, tc = 0, labels[:0], tc[:0]
    z = rng.standard_normal((B, T + S)).astype(np.float16 if layout == "float16" else np.float64)
    want = np.asarray(z, np.float64) - np.log(np.concatenate([tc, np.broadcast_to(sc, (B, S))], axis=1))
    for r, t in zip(*np.nonzero((labels[:, :, None] == sampled[None, None, :]).any(axis=1))):
        want[r, T + t] = -np.inf
    if layout == "out-strided":
        buf = np.zeros((B, 2 * (T + S)))
        got = fss.candidate_correction(z, labels, sampled, tc, sc, num_true=T, out=buf[:, ::2])
        assert got.base is buf and not buf[:, 1::2].any()
    elif layout == "out-overlapping":
        buf = np.zeros((B, T + S + 1))
        buf[:, 1:] = z
        got = fss.candidate_correction(buf[:, 1:], labels, sampled, tc, sc, num_true=T, out=buf[:, :-1])
    else:
        before = z.copy()
        got = fss.candidate_correction(z, labels, sampled, tc, sc, num_true=T)
        assert got.dtype == z.dtype and np.array_equal(z, before)
    tol = 1e-3 if got.dtype == np.float16 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("bad", ["abc", {"a": 1}, np.array([None, 1.0], dtype=object)])
def test_expected_counts_that_are_not_numbers_are_named(bad):
    z = np.zeros((2, 3))
    with pytest.raises(TypeError, match="true_expected_count"):
        fss.candidate_correction(z, [[1], [2]], [4, 5], bad, [1.0, 1.0])
    with pytest.raises(TypeError, match="sampled_expected_count"):
        fss.candidate_correction(z, [[1], [2]], [4, 5], [[1.0], [1.0]], bad)
