"""Every loss with a gradient (``return_grad=True`` in its op-table samples)
against central differences of its own loss, in float64: the gradient is
that of the loss the function returns, whatever its reduction ("none": of
the sum), with respect to each argument it has a gradient for, independently of the float64 reference the parity tests use."""
from __future__ import annotations

import numpy as np
import pytest

import ops

MAX_ELEMENTS = 5000   # samples above this are left to the parity tests
PROBES = 6            # elements perturbed per sample


def _cases():
    params = []
    for op in ops.OPS:
        for sample in op.samples():
            args, kwargs = sample.build(np.random.default_rng(0), np.dtype(np.float64))
            x = args[0]
            if not kwargs.get("return_grad") or not isinstance(x, np.ndarray) or x.dtype != np.float64:
                continue
            if not 0 < x.size <= MAX_ELEMENTS or not np.all(np.isfinite(x)) or np.max(np.abs(x)) > 1e3:
                continue  # special values and huge logits: no difference quotient there
            params.append(pytest.param(op, sample, id=f"{op.name}-{sample.desc}"))
    return params


def _total(op, args, kwargs) -> float:
    loss = op.fn(*args, **{k: v for k, v in kwargs.items() if k != "return_grad"})
    return float(np.sum(np.asarray(loss, np.float64)))


@pytest.mark.parametrize("op,sample", _cases())
def test_gradient_is_the_derivative_of_the_loss(op, sample):
    rng = np.random.default_rng(1)
    args, kwargs = sample.build(np.random.default_rng(0), np.dtype(np.float64))
    _, grad = op.fn(*args, **kwargs)
    # a gradient per array argument from the first on (margin losses: (grad_x, grad_weight)),
    # or where the op's entry places them (sparse gradients made dense)
    by_argument = (op.grads_by_argument(args, grad) if op.grads_by_argument
                   else enumerate(grad if isinstance(grad, tuple) else (grad,)))
    for pos, g in by_argument:
        x = np.array(args[pos], dtype=np.float64)
        for flat in rng.choice(x.size, size=min(PROBES, x.size), replace=False):
            i = np.unravel_index(flat, x.shape)
            h = 1e-6 * max(1.0, abs(x[i]))
            plus, minus = x.copy(), x.copy()
            plus[i] += h
            minus[i] -= h
            with_plus, with_minus = list(args), list(args)
            with_plus[pos], with_minus[pos] = plus, minus
            up, down = _total(op, tuple(with_plus), kwargs), _total(op, tuple(with_minus), kwargs)
            quotient = (up - down) / (plus[i] - minus[i])
            # truncation ~h^2 (1e-12 relative); rounding of the two losses ~eps |loss| / h (2e-10 |loss|)
            scale = max(1.0, abs(up), abs(down))
            assert abs(g[i] - quotient) <= 1e-6 * abs(quotient) + 1e-9 * scale, (
                f"{op.name} {sample.desc}: d/d(argument {pos}){list(i)} = {g[i]!r}, central difference {quotient!r}")
