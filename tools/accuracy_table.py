"""Prints docs/numerics.md's table of error bounds (the rows after its
``accuracy-bounds`` marker, which tests/test_accuracy.py reads): per
function, family and dtype, our worst error over the scalar, AVX2 and
AVX-512 levels (each measured in a child process with FASTSOFTMAX_SIMD set),
the bound (twice that, at least 2 eps) and the best of SciPy's and PyTorch's
errors, n in fastsoftmax._accuracy.SIZES, in eps of the dtype.

    python tools/accuracy_table.py > table.md
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from fastsoftmax import _accuracy as ac

DTYPES = ("float32", "float64")


def _cells(impls):
    """{(function, family, dtype): {impl: worst error over SIZES}} for impls."""
    out = {}
    for fam in ac.FAMILIES:
        for fn in ac.functions_of(fam):
            for dt in DTYPES:
                cell = {}
                for impl in impls:
                    errs = [ac.error(impl, fn, fam, np.dtype(dt), n) for n in ac.SIZES]
                    if None not in errs:
                        cell[impl] = max(errs)
                out["|".join((fn, fam, dt))] = cell
    return out


def _ours_at(level: str):
    env = dict(os.environ, FASTSOFTMAX_SIMD=level)
    code = "import json, sys; sys.path.insert(0, %r); import accuracy_table as t; print(json.dumps(t._cells(['ours'])))"
    text = subprocess.run([sys.executable, "-c", code % os.path.dirname(os.path.abspath(__file__))], env=env,
                          check=True, capture_output=True, text=True).stdout
    return json.loads(text.strip().splitlines()[-1])


def _fmt(v: float) -> str:
    return f"{v:.2g}"


def main() -> None:
    from fastsoftmax import _core
    levels = [lvl for lvl in ("scalar", "avx2", "avx512") if lvl in _core.supported_simd_levels()]
    ours = [_ours_at(lvl) for lvl in levels]
    peers = _cells(("scipy", "torch"))
    rows = {}
    for key, cell in peers.items():
        fn, fam, dt = key.split("|")
        worst = max(o[key]["ours"] for o in ours)
        best = min(cell.values()) if cell else float("nan")
        rows.setdefault((fn, fam), {})[dt] = (max(2.0, float(_fmt(2 * worst))), worst, best)
    print("| function | family | bound float32 | bound float64 | ours, worst (f32 / f64) | best peer (f32 / f64) |")
    print("|---|---|---|---|---|---|")
    for fn in ac.FUNCTIONS:
        for fam in ac.FAMILIES:
            if (fn, fam) not in rows:
                continue
            a, b = rows[(fn, fam)]["float32"], rows[(fn, fam)]["float64"]
            print(f"| {fn} | {fam} | {_fmt(a[0])} | {_fmt(b[0])} | {_fmt(a[1])} / {_fmt(b[1])} | "
                  f"{_fmt(a[2])} / {_fmt(b[2])} |")
    print(f"(levels: {', '.join(levels)})", file=sys.stderr)


if __name__ == "__main__":
    main()
