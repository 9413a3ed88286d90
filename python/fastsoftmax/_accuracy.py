"""Accuracy cases: fixed input families, mpmath references, error measures,
and the table of ``python -m fastsoftmax bench --accuracy``.

Shared by tests/test_accuracy.py (bounds on our error, comparison with the
peers) and the bench's accuracy table (ours beside SciPy / PyTorch / JAX).
Needs mpmath (the ``bench`` and ``test`` extras); the package itself does not
import this module.

Families (``FAMILIES``; ``rows_of(n)`` seeded rows for each n in ``SIZES``,
about 1000 elements and at least 3 rows (``dominant``: its two rows). A
loss or a logsumexp is one number a row: with three of them at n = 7, a
family's worst was a coin flip between libraries that each round a good
value once):

* ``normal``    standard normal;
* ``uniform``   uniform in [-100, 100];
* ``dominant``  one dominant term: a row of -40s with a 0 at n//3, and
                [0, -20, -20, ...];
* ``huge``      ordinary values mixed with values near +1e30 and -1e30 and a
                few -inf entries (no +inf, no NaN);
* ``cold``      standard normal at temperature 0.01;
* ``hot``       standard normal at temperature 100;
* ``signed``    (logsumexp only) signed weights b = [1, -1, 1, -1, ...] on
                nearly equal x: pairs x[2k+1] = x[2k] - d with d small, so the
                sum is positive but cancels (condition numbers ~10 to ~2000).

Functions (``FUNCTIONS``): softmax, log_softmax, logsumexp (with the family's
temperature and, for ``signed``, b), ce_loss and ce_grad (cross_entropy with
reduction="none", return_grad=True: loss per row = lse - x_t, gradient =
softmax - onehot). cross_entropy has no temperature: for ``cold`` / ``hot``
its logits are x/T rounded to the dtype, and the reference is taken from
those rounded logits. Targets: the argmax for ``dominant``, random (among the
finite entries) otherwise.

References: mpmath at 40 digits, row by row (mpmath.fsum / exp / log), from
the *rounded* input values (the bits passed to the implementations), with the
temperature applied in mpmath as x/T exactly (T the Python float). They are
cached for the session.

Error measures, in units of the dtype's eps (np.finfo(dtype).eps), the max
over the elements of all rows of a family with one n:

* softmax: relative error |got - ref| / max(|ref|, 1e-30); for elements
  whose reference is below 1e-30 this is the absolute error in units of
  1e-30 (which, in float32, also covers references below float32's normal
  range: a subnormal or flushed result costs < 0.1 eps there);
* ce_grad (softmax - onehot): the same, but relative to max(|ref|, p_i,
  1e-30) with p_i the reference probability. Only the target element
  differs: p_t - 1 cancels when p_t is near 1 (dominant rows: p_t - 1 ~
  -1e-15 while p_t rounds to 1), and no implementation that rounds p_t
  before subtracting 1 (ours and every peer) gets it better than eps * p_t;
  the plain relative error would be ~1/eps there for all of them;
* log_softmax, ce_loss: relative error |got - ref| / max(|ref|, tiny), tiny
  the dtype's smallest normal number. Both are sums of two terms of one sign,
  (x_i - M) - log S and (M - x_t) + log S, so no cancellation excuses an
  error near 0: the largest element of a confident row (-log S, 4e-18 for
  [0, -40]) is measured relatively;
* logsumexp: |got - ref| / max(|ref|, min(|m|, 1)), m the row's max of x/T:
  M + log S cancels where M < 0 < log S, and log S's own rounding is then
  eps |m| absolute; where m = 0 (one dominant term at 0) the error is
  relative (gh-18295's [0, -40] is 4.25e-18);
* ``signed`` (logsumexp with cancelling b): the error above divided by the
  row's condition number sum|b_i e^x_i| / |sum b_i e^x_i| (>= 1), since
  rounding the terms alone costs eps times that.

An infinite reference must be matched exactly (0 error, else inf); a NaN
result counts as an infinite error.

``error(impl, function, family, dtype, n)`` gives the error for ``impl`` in
``IMPLS`` ("ours", "scipy", "torch", "jax"), or None where the implementation
has no such function (PyTorch logsumexp with b) or is not installed.
"""
from __future__ import annotations

import functools
import zlib
from typing import Dict, Optional, Sequence, Tuple

import mpmath
import numpy as np

mpmath.mp.dps = 40

SIZES = (7, 128, 1000)          # the test's row lengths
TABLE_SIZES = SIZES + (32000,)  # the table's: where long float64 sums lose digits
FAMILIES = ("normal", "uniform", "dominant", "huge", "cold", "hot", "signed")
FUNCTIONS = ("softmax", "log_softmax", "logsumexp", "ce_loss", "ce_grad")
IMPLS = ("ours", "scipy", "torch", "jax")
DTYPES = (np.float32, np.float64)
TEMPERATURE = {"cold": 0.01, "hot": 100.0}
REL_FLOOR = 1e-30   # softmax / ce_grad: absolute error below this reference


def rows_of(n: int) -> int:
    return max(3, 1024 // n)


def functions_of(family: str):
    return ("logsumexp",) if family == "signed" else FUNCTIONS


# ---------------------------------------------------------------- families

def _rng(family: str, n: int, dtype) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{family}/{n}/{np.dtype(dtype).name}".encode()))


@functools.lru_cache(maxsize=None)
def build(family: str, n: int, dtype) -> Tuple[np.ndarray, Optional[np.ndarray], np.ndarray]:
    """(x, b, target) of a family: x (rows, n) in dtype, b (or None) and the
    cross-entropy targets (int64, one per row). Deterministic."""
    dtype = np.dtype(dtype)
    rng = _rng(family, n, dtype)
    rows = rows_of(n)
    b = None
    if family in ("normal", "cold", "hot"):
        x = rng.standard_normal((rows, n))
    elif family == "uniform":
        x = rng.uniform(-100.0, 100.0, (rows, n))
    elif family == "dominant":
        x = np.full((2, n), -40.0)
        x[0, n // 3] = 0.0
        x[1, :] = -20.0
        x[1, 0] = 0.0
    elif family == "huge":
        x = rng.standard_normal((rows, n)) * 10.0
        for r in range(rows):
            idx = rng.permutation(n)
            k = max(1, n // 8)
            x[r, idx[:k]] = 1e30 * (1.0 + rng.integers(0, 3, k) * 1e-7)   # a few values near +1e30
            x[r, idx[k:2 * k]] = -1e30 * (1.0 + rng.random(k))            # near -1e30
            x[r, idx[2 * k:2 * k + max(1, n // 16)]] = -np.inf
    elif family == "signed":
        x = np.empty((rows, n))
        for r in range(rows):
            base = rng.standard_normal(n) * 0.5
            lo, hi = ((1e-2, 1e-1), (1e-2, 1e-1), (1e-3, 1e-2))[r % 3]
            d = rng.uniform(lo, hi, n)
            base[1::2] = base[0:-1:2][: len(base[1::2])] - d[1::2]
            x[r] = base
        b = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[None, :].repeat(rows, 0).astype(dtype)
    else:
        raise ValueError(family)
    x = x.astype(dtype)
    if family == "dominant":
        t = np.argmax(x, axis=-1)
    else:
        t = np.array([rng.choice(np.flatnonzero(np.isfinite(row))) for row in x])
    return x, b, t.astype(np.int64)


def ce_logits(family: str, x: np.ndarray) -> np.ndarray:
    """cross_entropy has no temperature: its logits are x/T in the dtype."""
    T = TEMPERATURE.get(family)
    return x if T is None else (x / x.dtype.type(T)).astype(x.dtype)


# ---------------------------------------------------------------- references

def _mp_row(row, T=1.0, b=None):
    """(m, s, z, cond) of one row: z = x/T exactly, m = max of the finite z,
    s = log sum b e^(z - m) (so lse = m + s). Everything is kept relative to
    m: with |x| near 1e30, m + s would lose the digits of s at 40 digits;
    and s is log1p of the sum less the max's 1, which 40 digits would lose
    where the other terms are below 1e-40 (cold rows: 5e-32 + 9e-41)."""
    Tm = mpmath.mpf(float(T))
    z = [mpmath.mpf(float(v)) / Tm if np.isfinite(v) else mpmath.mpf(float(v)) for v in row]
    top = max((i for i in range(len(z)) if mpmath.isfinite(z[i])), key=lambda i: z[i])
    m = z[top]
    w = [mpmath.mpf(1)] * len(z) if b is None else [mpmath.mpf(float(bi)) for bi in b]
    terms = [wi * mpmath.exp(v - m) for wi, v in zip(w, z)]
    rest = mpmath.fsum([w[top] - 1] + terms[:top] + terms[top + 1:])
    cond = float(mpmath.fsum(abs(t) for t in terms) / abs(1 + rest)) if b is not None else 1.0
    return m, mpmath.log1p(rest), z, cond


@functools.lru_cache(maxsize=None)
def references(family: str, n: int, dtype) -> Dict[str, object]:
    """The mpmath references of a family (cached): per function, one list of
    mpf values per row (logsumexp: (values, condition numbers, floors of
    the error's denominator))."""
    x, b, t = build(family, n, dtype)
    T = TEMPERATURE.get(family, 1.0)
    out = {}
    lse, sm, lsm, cond, floors = [], [], [], [], []
    for r in range(x.shape[0]):
        m, sh, z, c = _mp_row(x[r], T, None if b is None else b[r])
        lse.append(m + sh)
        cond.append(c)
        floors.append(min(abs(m), mpmath.mpf(1)))
        if b is None:
            lsm.append([(zi - m) - sh for zi in z])
            sm.append([mpmath.exp(v) for v in lsm[-1]])
    out["logsumexp"] = (lse, cond, floors)
    if family == "signed":
        return out
    out["softmax"] = sm
    out["log_softmax"] = lsm
    # cross entropy on ce_logits (the same bits when T == 1)
    xl = ce_logits(family, x)
    loss, grad, prob = [], [], []
    for r in range(xl.shape[0]):
        if T == 1.0:
            row_lsm, row_sm = lsm[r], sm[r]
        else:
            m, sh, z, _ = _mp_row(xl[r])
            row_lsm = [(zi - m) - sh for zi in z]
            row_sm = [mpmath.exp(v) for v in row_lsm]
        loss.append(-row_lsm[t[r]])
        g = list(row_sm)
        g[t[r]] = g[t[r]] - 1
        grad.append(g)
        prob.append(row_sm)
    out["ce_loss"] = loss
    out["ce_grad"] = grad
    out["ce_prob"] = prob
    return out


# ---------------------------------------------------------------- measures

def _err(got: float, ref, floor) -> float:
    """|got - ref| / max(|ref|, floor), in float (ref an mpf)."""
    if np.isnan(got):
        return np.inf
    if mpmath.isinf(ref) or np.isinf(got):
        return 0.0 if (np.isinf(got) and mpmath.isinf(ref) and (got > 0) == (ref > 0)) else np.inf
    d = abs(mpmath.mpf(float(got)) - ref)
    return float(d / max(abs(ref), floor))


def measure(function: str, got, ref, dtype, cond=None, scale=None, row_floors=None) -> float:
    """The max error of ``got`` (an array of results, rows first) against the
    mpmath values ``ref`` (nested lists), not yet in eps units. ``scale``
    (nested lists like ``ref``): a per-element magnitude the denominator
    does not go below (ce_grad: the probability p_i); ``row_floors``: the
    same per row (logsumexp)."""
    floor = mpmath.mpf(REL_FLOOR if function in ("softmax", "ce_grad") else float(np.finfo(dtype).tiny))
    got = np.asarray(got, dtype=np.float64)
    worst = 0.0
    if got.ndim == 1:
        for r, (g, rf) in enumerate(zip(got, ref)):
            e = _err(g, rf, floor if row_floors is None else max(floor, row_floors[r]))
            if cond is not None:
                e /= cond[r]
            worst = max(worst, e)
    else:
        for r, (grow, rrow) in enumerate(zip(got, ref)):
            for i, (g, rf) in enumerate(zip(grow, rrow)):
                fl = floor if scale is None else max(floor, scale[r][i])
                worst = max(worst, _err(g, rf, fl))
    return worst


# ---------------------------------------------------------------- implementations

def _ours(function, family, x, b, t):
    import fastsoftmax as fs

    T = TEMPERATURE.get(family, 1.0)
    if function == "softmax":
        return fs.softmax(x, axis=-1, temperature=T)
    if function == "log_softmax":
        return fs.log_softmax(x, axis=-1, temperature=T)
    if function == "logsumexp":
        return fs.logsumexp(x, axis=-1, b=b, temperature=T)
    loss, grad = fs.cross_entropy(ce_logits(family, x), t, reduction="none", return_grad=True)
    return loss if function == "ce_loss" else grad


def _scipy(function, family, x, b, t):
    import scipy.special as sp

    T = TEMPERATURE.get(family, 1.0)
    z = x if T == 1.0 else x / x.dtype.type(T)
    if function == "softmax":
        return sp.softmax(z, axis=-1)
    if function == "log_softmax":
        return sp.log_softmax(z, axis=-1)
    if function == "logsumexp":
        return sp.logsumexp(z, axis=-1, b=b)
    # SciPy has no cross entropy: its pieces
    xl = ce_logits(family, x)
    rows = np.arange(xl.shape[0])
    if function == "ce_loss":
        return sp.logsumexp(xl, axis=-1) - xl[rows, t]
    g = sp.softmax(xl, axis=-1)
    g[rows, t] -= 1
    return g


def _torch(function, family, x, b, t):
    import torch

    T = TEMPERATURE.get(family, 1.0)
    if function in ("softmax", "log_softmax", "logsumexp"):
        if b is not None:
            return None
        z = torch.from_numpy(x) / T
        if function == "softmax":
            return torch.softmax(z, dim=-1).numpy()
        if function == "log_softmax":
            return torch.log_softmax(z, dim=-1).numpy()
        return torch.logsumexp(z, dim=-1).numpy()
    xl = torch.from_numpy(ce_logits(family, x).copy()).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(xl, torch.from_numpy(t), reduction="none")
    if function == "ce_loss":
        return loss.detach().numpy()
    loss.sum().backward()
    return xl.grad.numpy()


def _jax(function, family, x, b, t):
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp as jlse

    if x.dtype == np.float64:
        jax.config.update("jax_enable_x64", True)
    T = TEMPERATURE.get(family, 1.0)
    z = jnp.asarray(x) / T
    if function == "softmax":
        return np.asarray(jax.nn.softmax(z, axis=-1))
    if function == "log_softmax":
        return np.asarray(jax.nn.log_softmax(z, axis=-1))
    if function == "logsumexp":
        return np.asarray(jlse(z, axis=-1, b=None if b is None else jnp.asarray(b)))
    xl = jnp.asarray(ce_logits(family, x))
    tt = jnp.asarray(t)

    def loss_fn(v):
        l = jlse(v, axis=-1) - v[jnp.arange(v.shape[0]), tt]
        return l

    if function == "ce_loss":
        return np.asarray(loss_fn(xl))
    return np.asarray(jax.grad(lambda v: loss_fn(v).sum())(xl))


_IMPL = {"ours": _ours, "scipy": _scipy, "torch": _torch, "jax": _jax}


def available(impl: str) -> bool:
    mod = {"ours": "fastsoftmax", "scipy": "scipy.special", "torch": "torch", "jax": "jax"}[impl]
    try:
        __import__(mod)
    except Exception:
        return False
    return True


def error(impl: str, function: str, family: str, dtype, n: int) -> Optional[float]:
    """The error in eps units of one implementation on one case, or None."""
    if function not in functions_of(family) or not available(impl):
        return None
    dtype = np.dtype(dtype)
    x, b, t = build(family, n, dtype)
    with np.errstate(all="ignore"):
        got = _IMPL[impl](function, family, x, b, t)
    if got is None:
        return None
    got = np.asarray(got)
    assert got.dtype == dtype, (impl, function, got.dtype)
    refs = references(family, n, dtype)
    if function == "logsumexp":
        ref, cond, floors = refs["logsumexp"]
        e = measure(function, got, ref, dtype, cond if family == "signed" else None, row_floors=floors)
    else:
        e = measure(function, got, refs[function], dtype,
                    scale=refs["ce_prob"] if function == "ce_grad" else None)
    return e / float(np.finfo(dtype).eps)


# ---------------------------------------------------------------- the table

def _fmt(v: Optional[float]) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if np.isfinite(v) else "inf"


def table(sizes: Sequence[int] = TABLE_SIZES) -> str:
    """Our errors beside the installed peers', one line per (function,
    family, dtype, n), in eps of the dtype ("-": the peer lacks the function,
    e.g. PyTorch's logsumexp with b)."""
    from . import _core

    impls = [impl for impl in IMPLS if available(impl)]
    missing = [impl for impl in IMPLS if impl not in impls]
    lines = [f"accuracy: max error in eps of the dtype against mpmath ({mpmath.mp.dps} digits), "
             f"SIMD level {_core.simd_level()}"
             + (f"; not installed: {', '.join(missing)}" if missing else "")]
    head = f"{'function':<12} {'family':<9} {'dtype':<8} {'n':>6}  " + "  ".join(f"{i:>8}" for i in impls)
    lines += [head, "-" * len(head)]
    for fn in FUNCTIONS:
        for fam in FAMILIES:
            if fn not in functions_of(fam):
                continue
            for dt in DTYPES:
                for n in sizes:
                    cells = "  ".join(f"{_fmt(error(i, fn, fam, dt, n)):>8}" for i in impls)
                    lines.append(f"{fn:<12} {fam:<9} {np.dtype(dt).name:<8} {n:>6}  {cells}")
    return "\n".join(lines)
