"""A next-word model trained with sampled softmax and plain NumPy SGD.

The corpus is the Lee background corpus that gensim ships with its test
data (300 news stories, about 58,000 words, 7,000 distinct). Each word
predicts the next one: its input embedding is scored against every output
row, but training touches only the batch's true next words and a shared
sample of 200 log-uniform candidates (the vocabulary sorted by frequency,
as that sampler assumes), through the sparse gradients of
``fastsoftmax.sampled.sampled_softmax_loss``. The held-out loss of the full
softmax over the whole vocabulary falls as it trains.

Run: ``python examples/sampled_softmax_lm.py [steps]`` (needs gensim).
"""
from __future__ import annotations

import collections
import sys
from typing import Dict, Tuple

import numpy as np

import fastsoftmax as fs
import fastsoftmax.sampled as fss


def load_pairs() -> Tuple[np.ndarray, np.ndarray, int]:
    """(previous word ids, next word ids, vocabulary size) of the Lee corpus,
    ids in decreasing order of frequency."""
    from gensim.test.utils import datapath
    from gensim.utils import simple_preprocess

    with open(datapath("lee_background.cor"), encoding="utf-8") as f:
        stories = [simple_preprocess(line) for line in f]
    counts = collections.Counter(word for story in stories for word in story)
    ids: Dict[str, int] = {word: i for i, (word, _) in enumerate(counts.most_common())}
    prev, nxt = [], []
    for story in stories:
        seq = [ids[w] for w in story]
        prev += seq[:-1]
        nxt += seq[1:]
    return np.array(prev), np.array(nxt), len(ids)


def full_softmax_loss(E: np.ndarray, W: np.ndarray, b: np.ndarray, prev: np.ndarray, nxt: np.ndarray) -> float:
    """Mean cross-entropy of the next word under the full softmax (the number sampled softmax approximates)."""
    return float(fs.cross_entropy(E[prev] @ W.T + b, nxt))


def train(steps: int = 3000, dim: int = 64, batch: int = 256, num_sampled: int = 200, lr: float = 0.5,
          seed: int = 0) -> Tuple[float, float]:
    """Trains the model; returns the held-out full-softmax loss before and after."""
    prev, nxt, V = load_pairs()
    rng = np.random.default_rng(seed)
    order = rng.permutation(prev.size)
    held_out, train_rows = order[:2000], order[2000:]
    E = (rng.standard_normal((V, dim)) * 0.1).astype(np.float32)
    W = np.zeros((V, dim), np.float32)
    b = np.zeros(V, np.float32)
    sampler = fss.LogUniformSampler(V, seed=seed)
    before = full_softmax_loss(E, W, b, prev[held_out], nxt[held_out])
    for step in range(steps):
        rows = train_rows[rng.integers(0, train_rows.size, batch)]
        x = E[prev[rows]]
        loss, (gx, (ids, gw), (_, gb)) = fss.sampled_softmax_loss(
            W, b, nxt[rows, None], x, num_sampled, V, sampler=sampler, reduction="mean", return_grad=True)
        W[ids] -= lr * gw          # only the classes this batch touched
        b[ids] -= lr * gb
        np.add.at(E, prev[rows], -lr * gx)
        if step % 500 == 0:
            print(f"step {step:5d}  sampled loss {float(loss):.3f}")
    after = full_softmax_loss(E, W, b, prev[held_out], nxt[held_out])
    print(f"held-out full-softmax loss: {before:.3f} before, {after:.3f} after ({V} words)")
    return before, after


if __name__ == "__main__":
    train(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
