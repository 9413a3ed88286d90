"""The examples in examples/ run, on a short budget, and do what they say."""
from __future__ import annotations

import importlib.util
import pathlib

from conftest import _import_peer

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sampled_softmax_language_model_learns(capsys):
    _import_peer("gensim")  # the corpus is gensim's test data
    before, after = load("sampled_softmax_lm").train(steps=400)
    # the full softmax's held-out loss falls from log(V) ~ 8.85 by well over a nat
    assert before > 8.5 and after < before - 1.0, (before, after)
    assert "held-out full-softmax loss" in capsys.readouterr().out
