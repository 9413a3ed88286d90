"""PyTorch's own sample inputs for its softmax family and losses, run on fastsoftmax.

The samples come from PyTorch's test suite, never copied here:

* ``torch.testing._internal.common_methods_invocations.op_db`` (OpInfo):
  ``softmax``, ``log_softmax``, ``logsumexp``, ``nn.functional.cross_entropy``,
  ``nn.functional.binary_cross_entropy_with_logits``, through each OpInfo's
  ``reference_inputs`` (its ``sample_inputs`` plus, for logsumexp, PyTorch's
  regression inputs); the ``with_dtype`` variants of softmax and log_softmax
  are listed too, and their samples skip (they all pass ``dtype=``);
* ``torch.testing._internal.common_modules.module_db`` (ModuleInfo):
  ``nn.Softmax``, ``nn.LogSoftmax``, ``nn.CrossEntropyLoss``,
  ``nn.BCEWithLogitsLoss`` (constructor kwargs + forward args).

Each sample (CPU, float32 and float64) is one test: the fastsoftmax result is
compared with PyTorch's (the OpInfo's op, or the module's forward) by
``torch.testing.assert_close`` with its default tolerances for the dtype, and
the gradient with ``torch.autograd``: for softmax / log_softmax through
``softmax_backward`` / ``log_softmax_backward`` with a random upstream gradient,
for the losses the ``return_grad=True`` gradient (of the sum for
``reduction="none"``). logsumexp has no gradient function: forward only.

The only translation: PyTorch's class axis is dim 1 of the input (dim 0 for an
unbatched 1-D input); fastsoftmax's is the last. Cross-entropy logits and
probability targets get that axis moved to the end, the gradient moved back.

Samples not run: arguments fastsoftmax does not take (SKIPPED_ARGUMENTS, one
skip reason per category, so ``pytest -rs`` counts them) and the documented
differences in DOCUMENTED_DIFFERENCES (skipped with their reason).

torch.testing._internal needs ``expecttest`` (and imports it at import time).
"""
import functools
import os
import zlib

import numpy as np
import pytest

import fastsoftmax

# As tests/conftest.py's peers: a missing PyTorch skips outside CI, fails in CI.
IN_CI = bool(os.environ.get("CI"))
torch = __import__("torch") if IN_CI else pytest.importorskip("torch")
if not IN_CI:
    pytest.importorskip("expecttest", reason="torch.testing._internal imports expecttest")

DTYPES = ("float32", "float64")

# OpInfo (name, variant_test_name) -> the fastsoftmax function it stands for.
OPINFOS = {
    ("softmax", ""): "softmax",
    ("softmax", "with_dtype"): "softmax",
    ("log_softmax", ""): "log_softmax",
    ("log_softmax", "with_dtype"): "log_softmax",
    ("logsumexp", ""): "logsumexp",
    ("nn.functional.cross_entropy", ""): "cross_entropy",
    ("nn.functional.binary_cross_entropy_with_logits", ""): "binary_cross_entropy_with_logits",
}
# ModuleInfo name -> the fastsoftmax function.
MODULEINFOS = {
    "nn.Softmax": "softmax",
    "nn.LogSoftmax": "log_softmax",
    "nn.CrossEntropyLoss": "cross_entropy",
    "nn.BCEWithLogitsLoss": "binary_cross_entropy_with_logits",
}

# Keyword arguments of PyTorch's functions that fastsoftmax has (under the
# same name and meaning). Any other keyword skips the sample, under the
# category SKIPPED_ARGUMENTS gives it.
TAKEN_KWARGS = {
    "softmax": set(),
    "log_softmax": set(),
    "logsumexp": set(),
    "cross_entropy": {"weight", "ignore_index", "reduction", "label_smoothing"},
    "binary_cross_entropy_with_logits": {"weight", "pos_weight", "reduction"},
}
SKIPPED_ARGUMENTS = {
    "dtype": "torch-only argument dtype= (cast before the op; fastsoftmax computes "
             "in the input's dtype)",
}
OTHER_ARGUMENT = "torch-only argument {}= (fastsoftmax has no such argument)"

# The only samples run differently from PyTorch on purpose: fastsoftmax's
# documented behaviour (cross_entropy's docstring), each with its reason.
DOCUMENTED_DIFFERENCES = {
    "empty_mean": "documented difference: a 'mean' over all-ignored rows or zero total "
                  "weight is 0.0 with a zero gradient (PyTorch: NaN)",
    "label_smoothing_range": "documented difference: label_smoothing outside [0, 1] raises "
                             "ValueError (PyTorch computes it)",
}


class Case:
    """One sample, as a call of PyTorch (``ref``) and of fastsoftmax (``fn``)."""

    def __init__(self, fn, ref, x, args, kwargs, desc):
        self.fn, self.ref, self.x, self.args, self.kwargs, self.desc = fn, ref, x, args, kwargs, desc


def _shape(t):
    return "x".join(map(str, t.shape)) or "scalar"


def _describe(fn, x, args, kwargs):
    parts = [_shape(x)]
    if fn in ("softmax", "log_softmax"):
        parts.append(f"dim={args[0]}" if args else "dim=None")
    elif fn == "logsumexp":
        parts.append(f"dim={args[0]}" if args else "dim=None")
        if len(args) > 1:
            parts.append(f"keepdim={args[1]}")
    else:
        target = args[0]
        parts.append("prob_target" if target.is_floating_point() else "index_target")
    for k, v in sorted(kwargs.items()):
        if isinstance(v, torch.Tensor):
            parts.append(f"{k}={_shape(v)}")
        elif isinstance(v, torch.dtype):
            parts.append(f"{k}={str(v).replace('torch.', '')}")
        else:
            parts.append(f"{k}={v}")
    return "-".join(str(p).replace(" ", "") for p in parts)


def _seed(text):
    return zlib.crc32(text.encode())


def _opinfo_cases(dtype):
    from torch.testing._internal.common_methods_invocations import op_db

    found = {(op.name, op.variant_test_name): op for op in op_db
             if (op.name, op.variant_test_name) in OPINFOS}
    missing = set(OPINFOS) - set(found)
    assert not missing, f"PyTorch's op_db lacks {sorted(missing)}: update OPINFOS"
    for (name, variant), fn in OPINFOS.items():
        op = found[name, variant]
        label = f"{name}.{variant}" if variant else name
        torch.manual_seed(_seed(f"{label}-{dtype}"))
        samples = op.reference_inputs("cpu", getattr(torch, dtype), requires_grad=True)
        for i, s in enumerate(samples):
            yield (f"op:{label}-{dtype}-{i:02d}-" + _describe(fn, s.input, s.args, s.kwargs),
                   Case(fn, op, s.input, tuple(s.args), dict(s.kwargs), label))


def _moduleinfo_cases(dtype):
    from torch.testing._internal.common_modules import module_db

    found = {m.name: m for m in module_db if m.name in MODULEINFOS}
    missing = set(MODULEINFOS) - set(found)
    assert not missing, f"PyTorch's module_db lacks {sorted(missing)}: update MODULEINFOS"
    for name, fn in MODULEINFOS.items():
        info = found[name]
        torch.manual_seed(_seed(f"{name}-{dtype}"))
        samples = info.module_inputs_func(info, device="cpu", dtype=getattr(torch, dtype),
                                          requires_grad=True, training=True)
        for i, s in enumerate(samples):
            ctor, fwd = s.constructor_input, s.forward_input
            assert not fwd.kwargs, f"{name}: forward kwargs {fwd.kwargs} not handled"
            x, *rest = fwd.args
            module = info.module_cls(*ctor.args, **ctor.kwargs)
            # The module's constructor arguments become the functional's
            # arguments: softmax's dim is positional, the losses' are keywords.
            if fn in ("softmax", "log_softmax"):
                assert not ctor.kwargs and len(ctor.args) == 1, (name, ctor.args, ctor.kwargs)
                args, kwargs = tuple(ctor.args), {}
            else:
                assert not ctor.args, (name, ctor.args)
                args, kwargs = tuple(rest), dict(ctor.kwargs)
            ref = _module_ref(module, fn)
            desc = s.desc or "default"
            yield (f"module:{name}-{dtype}-{i:03d}-{desc}-" + _describe(fn, x, args, kwargs),
                   Case(fn, ref, x, args, kwargs, name))


def _module_ref(module, fn):
    if fn in ("softmax", "log_softmax"):
        return lambda x, *args, **kwargs: module(x)
    return lambda x, *args, **kwargs: module(x, *args)


@functools.lru_cache(maxsize=None)
def _cases():
    out = []
    for dtype in DTYPES:
        out.extend(_opinfo_cases(dtype))
        out.extend(_moduleinfo_cases(dtype))
    return out


def _skip_reason(case):
    """Why a sample does not run: an argument fastsoftmax lacks, or a
    documented difference; None when it runs."""
    for k in case.kwargs:
        if k not in TAKEN_KWARGS[case.fn]:
            return SKIPPED_ARGUMENTS.get(k, OTHER_ARGUMENT.format(k))
    if case.fn == "cross_entropy":
        eps = case.kwargs.get("label_smoothing", 0.0)
        if not 0.0 <= eps <= 1.0:
            return DOCUMENTED_DIFFERENCES["label_smoothing_range"]
        if case.kwargs.get("reduction", "mean") == "mean":
            target = case.args[0]
            if not target.is_floating_point():
                weight = case.kwargs.get("weight")
                kept = target != case.kwargs.get("ignore_index", -100)
                w = weight[target[kept]] if weight is not None else kept[kept].to(case.x.dtype)
                if w.sum().item() == 0:
                    return DOCUMENTED_DIFFERENCES["empty_mean"]
    return None


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        params = []
        for case_id, case in _cases():
            reason = _skip_reason(case)
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            params.append(pytest.param(case, id=case_id, marks=marks))
        metafunc.parametrize("case", params)


def _np(t):
    return t.detach().cpu().numpy()


def _class_axis_last(t):
    """PyTorch's (N, C, d1, ...) (or unbatched (C,)) as fastsoftmax's (..., C)."""
    return np.moveaxis(_np(t), 1, -1) if t.dim() >= 2 else _np(t)


def _class_axis_back(a, ndim):
    return np.moveaxis(a, -1, 1) if ndim >= 2 else a


def _close(actual, expected, what):
    actual = torch.as_tensor(np.asarray(actual))
    torch.testing.assert_close(actual, expected.detach(), equal_nan=True,
                               msg=lambda m: f"{what}: {m}")


def test_torch_sample(case):
    x = case.x.detach().clone().requires_grad_(True)
    args = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in case.args)
    kwargs = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in case.kwargs.items()}
    expected = case.ref(x, *args, **kwargs)

    if case.fn in ("softmax", "log_softmax"):
        (dim,) = args
        y = getattr(fastsoftmax, case.fn)(_np(x), dim)
        _close(y, expected, "forward")
        # A random upstream gradient, the same for both.
        rng = np.random.default_rng(_seed(case.desc + _shape(x)))
        g = rng.standard_normal(expected.shape).astype(_np(x).dtype)
        (expected_grad,) = torch.autograd.grad(expected, x, torch.from_numpy(g))
        grad = getattr(fastsoftmax, case.fn + "_backward")(g, y, dim)
        _close(grad, expected_grad, "gradient")

    elif case.fn == "logsumexp":
        dim, keepdim = args
        axis = tuple(dim) if isinstance(dim, (tuple, list)) else dim
        _close(fastsoftmax.logsumexp(_np(x), axis, keepdims=keepdim), expected, "forward")

    elif case.fn == "cross_entropy":
        (target,) = args
        t = _class_axis_last(target) if target.is_floating_point() else _np(target)
        kw = {k: _np(v) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        loss, grad = fastsoftmax.cross_entropy(_class_axis_last(x), t, return_grad=True, **kw)
        _close(loss, expected, "loss")
        (expected_grad,) = torch.autograd.grad(expected.sum(), x)
        _close(_class_axis_back(grad, x.dim()), expected_grad, "gradient")

    else:  # binary_cross_entropy_with_logits
        (target,) = args
        kw = {k: _np(v) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        loss, grad = fastsoftmax.binary_cross_entropy_with_logits(
            _np(x), _np(target), return_grad=True, **kw)
        _close(loss, expected, "loss")
        (expected_grad,) = torch.autograd.grad(expected.sum(), x)
        _close(grad, expected_grad, "gradient")
