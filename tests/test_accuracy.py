"""Accuracy against mpmath references (issue 15).

softmax, log_softmax, logsumexp and cross_entropy (loss and gradient), in
float32 and float64, on the fixed input families of fastsoftmax/_accuracy.py
(standard normal, uniform in [-100, 100], one dominant term, values near
+-1e30 with -inf entries, temperatures 0.01 and 100, and for logsumexp
signed weights near cancellation), n in 7, 128, 1000. The families, the
references (mpmath, 40 digits, from the rounded inputs) and the error
measures (eps units: relative, or absolute where the reference is small; see
that module's docstring) are shared with tools/accuracy_table.py, which
prints the same errors beside SciPy's and PyTorch's.

* test_error_within_bound: our error <= the bound docs/numerics.md states
  for (function, family, dtype), read from its table;
* test_not_worse_than_best_peer: our error <= 1.5 x the best peer's + 2 eps
  (SciPy, PyTorch, where the peer has the function), case by case.

Both are ``numeric``: test_threads_and_simd.py re-runs them under every SIMD
level.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fastsoftmax import _accuracy as ac


def _documented_bounds():
    """{function: {family: {dtype: bound}}} from docs/numerics.md's table
    (after the accuracy-bounds marker), the bounds the docs state."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "numerics.md").read_text()
    table = text.split("<!-- accuracy-bounds", 1)[1].split("\n\n", 1)[0]
    bounds: dict = {}
    for line in table.splitlines()[3:]:
        fn, fam, f32, f64 = (cell.strip() for cell in line.strip("|").split("|")[:4])
        bounds.setdefault(fn, {})[fam] = {"float32": float(f32), "float64": float(f64)}
    return bounds


BOUNDS = _documented_bounds()

CASES = [(fn, fam, np.dtype(dt).name) for fam in ac.FAMILIES for fn in ac.functions_of(fam) for dt in ac.DTYPES]


def _id(case):
    return "-".join(case)


@pytest.mark.numeric
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_error_within_bound(case):
    fn, fam, dt = case
    bound = BOUNDS[fn][fam][dt]  # a KeyError: a case the docs' table lacks
    errs = {n: ac.error("ours", fn, fam, np.dtype(dt), n) for n in ac.SIZES}
    worst = max(errs.values())
    assert worst <= bound, f"{fn} {fam} {dt}: error {errs} eps > bound {bound} eps"


@pytest.mark.numeric
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_not_worse_than_best_peer(case, scipy_special, torch):
    fn, fam, dt = case
    checked = 0
    for n in ac.SIZES:
        peers = [ac.error(p, fn, fam, np.dtype(dt), n) for p in ("scipy", "torch")]
        peers = [e for e in peers if e is not None]
        if not peers:
            continue
        ours = ac.error("ours", fn, fam, np.dtype(dt), n)
        best = min(peers)
        assert ours <= 1.5 * best + 2.0, f"{fn} {fam} {dt} n={n}: ours {ours:.3g} eps, best peer {best:.3g} eps"
        checked += 1
    assert checked, "no peer ran"
