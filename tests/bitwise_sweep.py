"""A sweep of calls whose results must not change by a single bit when the
kernels are restructured: every public function, over shapes that reach each
code path (tiny rows, short-row blocks, pipelined rows, rows whose exp values
are recomputed, rows split over threads, outputs written with streaming
stores, misaligned outputs), both dtypes, their options and special values.

Every op-table entry (tests/ops) joins the sweep with its big sample.
``tests/bitwise/golden.json`` holds, per SIMD level, the SHA-256 of each
call's results as the kernels computed them when the file was written;
``test_bitwise.py`` checks the current build against it at 1, 2 and 3
threads. After a deliberate change of results (an accuracy fix), rewrite it:

    python tests/bitwise_sweep.py --write     # runs every SIMD level of this CPU

and say in the commit which results changed and why.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict

import numpy as np

GOLDEN = Path(__file__).resolve().parent / "bitwise" / "golden.json"
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
INF, NAN = np.inf, np.nan

Call = Callable[[], object]  # one call of a public function, inputs bound


def _rng(key: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))


def _x(key: str, shape, dtype, scale=4.0, specials=False) -> np.ndarray:
    x = (_rng(key).standard_normal(shape) * scale).astype(dtype)
    if specials and x.ndim == 2 and x.shape[0] >= 8 and x.shape[1] >= 4:
        n = x.shape[1]
        x[1, n // 2] = INF
        x[2, : n // 2] = -INF          # whole chunks of -inf in long rows
        x[3] = -INF                    # all -inf
        x[4, n - 1] = NAN
        x[5, 0] = 1e30 if dtype == F32 else 1e300
        x[6] = -1e30
        x[7, 1] = -0.0
    return x


def _misaligned_out(shape, dtype) -> np.ndarray:
    """An output one element past a 64-byte boundary (rows start mid-line)."""
    buf = np.empty(int(np.prod(shape)) + 16, dtype)
    return buf[1:1 + int(np.prod(shape))].reshape(shape)


# Row lengths per path, for float32 (float64 rows are half as long where
# the path is set by bytes).
TINY = (1, 5, 16, 31)
SHORT = (33, 100, 257, 500)
ROWS = (600, 3000, 32000)


def _family_cases() -> Dict[str, Call]:
    import fastsoftmax as fs

    cases: Dict[str, Call] = {}
    for dt in (F32, F64):
        d = dt.name
        for n in TINY + SHORT + ROWS:
            rows = max(9, 200_000 // max(n, 1) // 8)
            x = _x(f"fam{n}{d}", (rows, n), dt, specials=n >= 4)
            for name in ("softmax", "log_softmax"):
                cases[f"{name}-{rows}x{n}-{d}"] = lambda f=getattr(fs, name), x=x: f(x)
                cases[f"{name}-{rows}x{n}-T3.7-{d}"] = lambda f=getattr(fs, name), x=x: f(x, temperature=3.7)
            cases[f"logsumexp-{rows}x{n}-{d}"] = lambda x=x: fs.logsumexp(x)
            cases[f"logsumexp-{rows}x{n}-T0.5-{d}"] = lambda x=x: fs.logsumexp(x, temperature=0.5)
            b = _rng(f"b{n}{d}").uniform(-0.3, 1.0, x.shape).astype(dt)
            cases[f"row_statistics-{rows}x{n}-{d}"] = lambda x=x: fs.row_statistics(x)
            cases[f"logsumexp-b-sign-{rows}x{n}-{d}"] = lambda x=x, b=b: fs.logsumexp(x, b=b, return_sign=True)
            g = _x(f"g{n}{d}", x.shape, dt, 1.0)
            y = fs.softmax(np.nan_to_num(x, nan=0.0, posinf=3.0, neginf=-3.0))
            ly = fs.log_softmax(np.nan_to_num(x, nan=0.0, posinf=3.0, neginf=-3.0))
            cases[f"softmax_backward-{rows}x{n}-{d}"] = lambda g=g, y=y: fs.softmax_backward(g, y, temperature=1.5)
            cases[f"log_softmax_backward-{rows}x{n}-{d}"] = lambda g=g, y=ly: fs.log_softmax_backward(g, y)
        # long rows: exp values recomputed (over 1 MB), rows cut over the
        # threads (few rows of 4 segments or more), backward past 256 KB
        for rows, n in ((1, 300_000), (3, 300_000), (8, 300_000), (2, 1_100_000)):
            n = n if dt == F32 else n // 2
            x = _x(f"long{rows}{n}{d}", (rows, n), dt)
            x[0, n // 3] = 40.0
            for name in ("softmax", "log_softmax"):
                cases[f"{name}-long-{rows}x{n}-{d}"] = lambda f=getattr(fs, name), x=x: f(x)
            cases[f"logsumexp-long-{rows}x{n}-{d}"] = lambda x=x: fs.logsumexp(x)
            cases[f"row_statistics-long-{rows}x{n}-{d}"] = lambda x=x: fs.row_statistics(x)
            g = _x(f"glong{rows}{n}{d}", x.shape, dt, 1.0)
            y, ly = fs.softmax(x), fs.log_softmax(x)
            cases[f"softmax_backward-long-{rows}x{n}-{d}"] = lambda g=g, y=y: fs.softmax_backward(g, y)
            cases[f"log_softmax_backward-long-{rows}x{n}-{d}"] = lambda g=g, y=ly: fs.log_softmax_backward(g, y)
        x = _x(f"bw70k{d}", (4, 70_000), dt)
        g = _x(f"gbw70k{d}", x.shape, dt, 1.0)
        cases[f"log_softmax_backward-4x70000-{d}"] = lambda g=g, y=fs.log_softmax(x): fs.log_softmax_backward(g, y)
        # outputs over the streaming threshold (24 MiB), aligned and not
        for n in (128, 4000):
            rows = (26 << 20) // (n * dt.itemsize)
            x = _x(f"stream{n}{d}", (rows, n), dt)
            for name in ("softmax", "log_softmax"):
                f = getattr(fs, name)
                cases[f"{name}-stream-{rows}x{n}-{d}"] = lambda f=f, x=x: f(x)
                cases[f"{name}-stream-misaligned-{rows}x{n}-{d}"] = (
                    lambda f=f, x=x: f(x, out=_misaligned_out(x.shape, x.dtype)))
            g = _x(f"gstream{n}{d}", x.shape, dt, 1.0)
            cases[f"log_softmax_backward-stream-{rows}x{n}-{d}"] = (
                lambda g=g, y=fs.log_softmax(x): fs.log_softmax_backward(g, y))
    return cases


def _xent_cases() -> Dict[str, Call]:
    import fastsoftmax as fs

    cases: Dict[str, Call] = {}
    for dt in (F32, F64):
        d = dt.name
        for C in (2, 10, 31, 100, 500, 3000, 32000):
            rows = max(9, 200_000 // C // 4)
            key = f"xe{C}{d}"
            x = _x(key, (rows, C), dt, 3.0)
            x[0, C - 1] = -INF if C > 1 else x[0, 0]
            t = _rng(key + "t").integers(0, C, rows)
            t_ign = np.where(_rng(key + "i").random(rows) < 0.3, -100, t)
            w = _rng(key + "w").uniform(0.2, 2.0, C).astype(dt)
            q = _rng(key + "q").dirichlet(np.ones(C), rows).astype(dt)
            tag = f"{rows}x{C}-{d}"
            cases[f"xent-plain-{tag}"] = lambda x=x, t=t: fs.cross_entropy(x, t, return_grad=True)
            cases[f"xent-nograd-{tag}"] = lambda x=x, t=t_ign: fs.cross_entropy(x, t, reduction="none")
            cases[f"xent-sum-ignore-{tag}"] = lambda x=x, t=t_ign: fs.cross_entropy(
                x, t, reduction="sum", return_grad=True)
            cases[f"xent-options-{tag}"] = lambda x=x, t=t_ign, w=w: fs.cross_entropy(
                x, t, weight=w, label_smoothing=0.1, z_loss=1e-2, reduction="none", return_grad=True)
            cases[f"xent-smoothing-{tag}"] = lambda x=x, t=t: fs.cross_entropy(
                x, t, label_smoothing=0.2, return_grad=True)
            cases[f"xent-probs-{tag}"] = lambda x=x, q=q: fs.cross_entropy(x, q, return_grad=True)
            cases[f"xent-probs-options-{tag}"] = lambda x=x, q=q, w=w: fs.cross_entropy(
                x, q, weight=w, label_smoothing=0.3, z_loss=1e-3, reduction="none", return_grad=True)
            cases[f"xent-probs-nograd-{tag}"] = lambda x=x, q=q: fs.cross_entropy(x, q, reduction="sum")
        # a class axis in slices, from a given log-sum-exp
        for C in (10, 3000):
            x = _x(f"xeslice{C}{d}", (40, C), dt, 3.0)
            t = _rng(f"xeslicet{C}{d}").integers(0, C, 40)
            w = _rng(f"xeslicew{C}{d}").uniform(0.2, 2.0, C).astype(dt)
            parts = [fs.row_statistics(x[:, :C // 3]), fs.row_statistics(x[:, C // 3:])]
            m, s = fs.merge_row_statistics(np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts]))
            cases[f"merge_row_statistics-2x40-{C}-{d}"] = lambda p=parts: fs.merge_row_statistics(
                np.stack([q[0] for q in p]), np.stack([q[1] for q in p]))
            lse = m.astype(np.float64) + np.log(s.astype(np.float64))
            cases[f"xent-slice-40x{C}-{d}"] = lambda x=x, t=t, w=w, lse=lse, C=C: fs.cross_entropy(
                x[:, C // 3:].copy(), t, weight=w, label_smoothing=0.1, z_loss=1e-2, reduction="none",
                return_grad=True, lse=lse, class_offset=C // 3, num_classes=C)
        # rows too long to keep their exp values (over 4 MB)
        C = 1_100_000 if dt == F32 else 550_000
        x = _x(f"xelong{d}", (2, C), dt, 3.0)
        t = np.array([5, C - 1])
        cases[f"xent-long-2x{C}-{d}"] = lambda x=x, t=t: fs.cross_entropy(x, t, return_grad=True, label_smoothing=0.1)
        # gradient over the streaming threshold, misaligned
        C = 4000
        rows = (26 << 20) // (C * dt.itemsize)
        x = _x(f"xestream{d}", (rows, C), dt, 3.0)
        t = _rng(f"xestreamt{d}").integers(0, C, rows)
        cases[f"xent-stream-{rows}x{C}-{d}"] = lambda x=x, t=t: fs.cross_entropy(x, t, return_grad=True)
        cases[f"xent-stream-misaligned-{rows}x{C}-{d}"] = lambda x=x, t=t: fs.cross_entropy(
            x, t, grad_out=_misaligned_out(x.shape, x.dtype))
        # binary cross-entropy: plain, weights, grouped short rows, long rows
        for rows, n in ((50, 1000), (1000, 8), (3, 200_000)):
            key = f"bce{rows}{n}{d}"
            x = _x(key, (rows, n), dt, 3.0)
            tt = _rng(key + "t").random((rows, n)).astype(dt)
            pw = _rng(key + "p").uniform(0.5, 3.0, n).astype(dt)
            w = _rng(key + "w").uniform(0.5, 2.0, (rows, 1)).astype(dt)
            tag = f"{rows}x{n}-{d}"
            cases[f"bce-{tag}"] = lambda x=x, t=tt: fs.binary_cross_entropy_with_logits(x, t, return_grad=True)
            cases[f"bce-pos_weight-{tag}"] = lambda x=x, t=tt, pw=pw: fs.binary_cross_entropy_with_logits(
                x, t, pos_weight=pw, reduction="sum", return_grad=True)
            cases[f"bce-weights-none-{tag}"] = lambda x=x, t=tt, pw=pw, w=w: fs.binary_cross_entropy_with_logits(
                x, t, weight=w, pos_weight=pw, reduction="none", return_grad=True)
    return cases


def _table_cases() -> Dict[str, Call]:
    """Every op-table entry's big sample (tests/ops), so that a new operation
    joins the sweep by its entry; its digests are recorded by --write."""
    import ops

    cases: Dict[str, Call] = {}
    for op in (op for op in ops.OPS if not op.blas):
        for dt in (F32, F64):
            args, kwargs = op.big_sample(_rng(f"table-{op.name}-{dt.name}"), dt)
            cases[f"{op.name}-table-big-{dt.name}"] = lambda op=op, a=args, k=kwargs: op.fn(*a, **k)
    return cases


def all_cases() -> Dict[str, Call]:
    return {**_family_cases(), **_xent_cases(), **_table_cases()}


def digest(result: object) -> str:
    """SHA-256 of a call's results: every array's dtype, shape and bytes."""
    h = hashlib.sha256()
    for part in result if isinstance(result, tuple) else (result,):
        a = np.ascontiguousarray(np.asarray(part))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def digests(threads: int) -> Dict[str, str]:
    import fastsoftmax as fs

    fs.set_num_threads(threads)
    return {name: digest(call()) for name, call in all_cases().items()}


def load_golden() -> Dict[str, Dict[str, str]]:
    return json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}


def _write() -> None:
    """Records the current build's digests for every SIMD level of this CPU."""
    import fastsoftmax as fs
    from fastsoftmax import _core

    golden = load_golden()
    for level in _core.supported_simd_levels():
        env = dict(os.environ, FASTSOFTMAX_SIMD=level)
        out = subprocess.run([sys.executable, __file__, "--print"], env=env, check=True, capture_output=True,
                             text=True).stdout
        golden[level] = json.loads(out)
        print(f"{level}: {len(golden[level])} digests")
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(golden, indent=0, sort_keys=True) + "\n")
    del fs


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        _write()
    elif sys.argv[1:] == ["--print"]:
        print(json.dumps(digests(1)))
    else:
        sys.exit(__doc__)
