"""softmax_backward and log_softmax_backward in the op table."""
from __future__ import annotations

from typing import List

import numpy as np

import reference as ref

from .common import RTOL, TEMPERATURES, BadInput, OpInfo, Sample, assert_within, check_dtype, stream_rows
from .inputs import axis_cases, dtype_cases, layout_cases, normal, out_cases, temperature_cases


def assert_backward_close(got, grad, y, axis, temperature, dtype, *, log: bool) -> None:
    """|err| <= RTOL * scale, the rounding of the backward formula:
    softmax:     scale = |y| (|g| + sum|g y|) / T   (from g - sum(g y))
    log_softmax: scale = (|g| + exp(y) sum|g|) / T."""
    dtype = np.dtype(dtype)
    name = "log_softmax_backward" if log else "softmax_backward"
    want = (ref.log_softmax_backward if log else ref.softmax_backward)(grad, y, axis, temperature)
    check_dtype(got, dtype, name)
    g, yy = ref.f64(grad), ref.f64(y)
    axes = ref.axes_of(g.ndim, axis)
    with np.errstate(invalid="ignore", over="ignore"):  # rows with special values: inf or NaN scales
        if log:
            scale = (np.abs(g) + np.exp(yy) * np.sum(np.abs(g), axis=axes, keepdims=True)) / temperature
        else:
            scale = np.abs(yy) * (np.abs(g) + np.sum(np.abs(g * yy), axis=axes, keepdims=True)) / temperature
    # floor: a few units of the dtype's smallest subnormal, the spacing of
    # results that small (float32 y = 1e-43 holds 3 digits)
    floor = max(1e-300, 4 * float(np.finfo(dtype).smallest_subnormal))
    assert_within(got, want, RTOL[dtype] * scale + floor, name)


def _backward_samples(log: bool) -> List[Sample]:
    fwd = ref.log_softmax if log else ref.softmax
    out = []

    def make(build, T=1.0):
        def inner(rng, dt):
            x, axis = build(rng, dt)
            if not np.isfinite(ref.f64(x)).all():
                x = np.nan_to_num(ref.f64(x), nan=0.0, posinf=3.0, neginf=-3.0).astype(dt)
            # y: the exact forward result rounded to the dtype (independent of the library)
            y = fwd(x, axis, T).astype(dt)
            g = normal(rng, x.shape, dt)
            return (g, y), {"axis": axis, "temperature": T}
        return inner

    for desc, build in layout_cases():
        if desc.startswith("special") or desc in ("unaligned-rows", "broadcast-view"):
            continue
        out.append(Sample(desc, make(build)))
    for T in TEMPERATURES[1:]:
        out.append(Sample(f"T{T}-4x513", make(lambda rng, dt: (normal(rng, (4, 513), dt, 3.0), -1), T)))

    def strided(rng, dt):
        x = normal(rng, (5, 64), dt)
        y = fwd(x, -1, 1.0).astype(dt)
        g = normal(rng, (5, 128), dt)[:, ::2]   # non-contiguous grad
        return (g, y[:, ::-1].copy()[:, ::-1]), {}
    out.append(Sample("grad-strided-y-negative-stride", strided))
    return out


def _backward_compare(log: bool):
    def compare(got, want, args, kwargs, dtype):
        assert_backward_close(got, args[0], args[1], kwargs.get("axis", -1), kwargs.get("temperature", 1.0), dtype,
                              log=log)
    return compare


def _backward_bad_inputs() -> List[BadInput]:
    def call():
        return (np.ones((2, 3), np.float32), np.full((2, 3), 1 / 3, np.float32)), {}

    def mismatch():
        return (np.ones((2, 3), np.float32), np.ones((2, 4), np.float32)), {}
    return (dtype_cases(call, 0, "grad") + dtype_cases(call, 1, "y") + axis_cases(call)
            + temperature_cases(call) + out_cases(call, "out", (2, 3), np.float32) + [
                BadInput("grad-y-shapes", mismatch, ValueError, "grad|y", contains=(r"\(2, 3\)", r"\(2, 4\)"))])


def _backward_big(log: bool):
    def big(rng, dt):
        x = normal(rng, (stream_rows(dt, 4000), 4000), dt, 3.0)
        y = (ref.log_softmax if log else ref.softmax)(x).astype(dt)
        return (normal(rng, x.shape, dt), y), {}
    return big


# Not in the benchmark (yet): none of its tables has a backward pass.
OPS: List[OpInfo] = [
    OpInfo("softmax_backward", "backward", ref.softmax_backward, lambda: _backward_samples(False),
           _backward_compare(False), _backward_bad_inputs, _backward_big(False), out_kw="out", benchmarked=False),
    OpInfo("log_softmax_backward", "backward", ref.log_softmax_backward, lambda: _backward_samples(True),
           _backward_compare(True), _backward_bad_inputs, _backward_big(True), out_kw="out", benchmarked=False),
]
