"""logsumexp of complex rows, with scipy.special.logsumexp's results.

Computed with NumPy array operations on a (rows, n) block, not in the C++
kernels: complex input is rare, and these operations give the special values
of NumPy's complex exp, log and sign by construction (docs/numerics.md).

For a row, with ``k`` the term whose real part is largest (the last one among
ties, as SciPy picks) and the terms whose weight ``b`` is 0 dropped:

    log sum b e^x = x_k + log b_k + log1p(s),   s = sum_{j != k} (b_j / b_k) e^(x_j - x_k)

which keeps the relative accuracy of a small result, as the real kernels do.
Where that is not finite (infinite or NaN terms) the row's result is the
plain ``log(sum(b * exp(x)))``. The phase of the result is brought into
(-pi, pi]; with ``return_sign=True`` the result is ``(log|s|, s/|s|)``
(``s/|s|`` is NaN where ``|s|`` is infinite, as in SciPy).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np


def _sign(z: np.ndarray) -> np.ndarray:
    """z / |z|, and 0 at 0: SciPy's sign of a complex sum (NaN where |z| is infinite, where
    np.sign would give the direction of an infinite real or imaginary part)."""
    with np.errstate(all="ignore"):
        return np.where(z == 0, z * 0, z / np.abs(z))


def _wrapped_phase(phi: np.ndarray) -> np.ndarray:
    """``phi`` brought into (-pi, pi] (values already inside, -pi excepted, unchanged)."""
    inside = np.abs(phi) < np.pi
    return np.where(inside, phi, -(np.remainder(np.pi - phi, 2 * np.pi) - np.pi))


def complex_logsumexp_rows(x: np.ndarray, b: Optional[np.ndarray],
                           return_sign: bool) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Per row of the complex block ``x`` (and weights ``b`` of its shape, or None):
    the log-sum-exp (real with ``return_sign``, complex otherwise) and the sign."""
    rows, n = x.shape
    if n == 0:  # as SciPy: -inf of the complex dtype, whose sign is -1
        out = np.full(rows, -np.inf, x.dtype)
        return out, (_phase_wrapped(_sign(out)) if return_sign else None)
    with np.errstate(all="ignore"):  # infinities and NaN fall out of the formulas
        plain = np.sum(np.exp(x) if b is None else b * np.exp(x), axis=1)
        plain_sign = _sign(plain)
        plain_log = np.log(np.abs(plain) if return_sign else plain)

        kept = x if b is None else np.where(b == 0, -np.inf, x)
        real = kept.real
        is_top = real == np.max(real, axis=1, keepdims=True)
        k = n - 1 - np.argmax(is_top[:, ::-1], axis=1)  # the last maximum
        row = np.arange(rows)
        top = kept[row, k]
        weight = np.ones(rows, x.dtype) if b is None else b[row, k]
        others = kept.copy()
        others[row, k] = -np.inf
        terms = np.exp(others - top[:, None])
        s = np.sum(terms if b is None else b * terms, axis=1)
        s = np.where(s == 0, s, s / weight)
        sign = _sign(s + 1) * _sign(weight) * np.exp(1j * top.imag).astype(x.dtype)
        out = np.log1p(s) + np.log(weight) + top
        if return_sign:
            out = out.real
        finite = np.isfinite(out)
        out = np.where(finite, out, plain_log)
        sign = np.where(finite, sign, plain_sign)
    if not return_sign:
        out = _phase_wrapped(out)
    return out, (sign if return_sign else None)


def _phase_wrapped(z: np.ndarray) -> np.ndarray:
    return complex_from(z.real, _wrapped_phase(z.imag), z.dtype)


def complex_from(real: np.ndarray, imag: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """real + i imag, part by part (``1j * imag`` would make an infinite imag's real part NaN)."""
    z = np.empty(np.shape(real), dtype)
    z.real, z.imag = real, imag
    return z
