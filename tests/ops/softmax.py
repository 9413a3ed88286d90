"""softmax and log_softmax in the op table."""
from __future__ import annotations

from typing import List

import numpy as np

import reference as ref

from .common import RTOL, TEMPERATURES, TINY, UNIT, BadInput, OpInfo, Sample, assert_within, check_dtype, stream_rows
from .inputs import (axis_cases, dtype_cases, layout_cases, normal, out_cases, special_rows, temperature_cases,
                     x_axis)


def assert_softmax_close(got, x, axis, temperature, dtype) -> None:
    """Relative error <= RTOL + |x/T - max| * UNIT * k for elements above TINY:
    the argument (x - max) s has k = 1 rounding at T = 1, and k = 3 otherwise
    (x - max, its product by s, and s = 1/T itself)."""
    dtype = np.dtype(dtype)
    want = ref.softmax(x, axis, temperature)
    check_dtype(got, dtype, "softmax")
    roundings = 1.0 if temperature == 1.0 else 3.0
    with np.errstate(invalid="ignore"):
        arg = np.abs(ref.scaled_shift(x, axis, temperature))
        arg = np.where(np.isfinite(arg), arg, 0.0)
        rel = RTOL[dtype] + arg * UNIT[dtype] * roundings
        tol = np.where(want > TINY[dtype], want * rel, TINY[dtype])
    assert_within(got, want, tol, "softmax")


def assert_log_softmax_close(got, x, axis, temperature, dtype) -> None:
    """Absolute error <= RTOL * (1 + |value|)."""
    dtype = np.dtype(dtype)
    want = ref.log_softmax(x, axis, temperature)
    check_dtype(got, dtype, "log_softmax")
    with np.errstate(invalid="ignore"):
        tol = RTOL[dtype] * (1.0 + np.abs(want))
    assert_within(got, want, tol, "log_softmax")


def _softmax_samples() -> List[Sample]:
    out = []
    for desc, build in layout_cases():
        out.append(Sample(desc, lambda rng, dt, b=build: x_axis(*b(rng, dt))))
    for T in TEMPERATURES[1:]:
        out.append(Sample(f"T{T}-4x513", lambda rng, dt, T=T: ((normal(rng, (4, 513), dt, 5.0),),
                                                               {"axis": -1, "temperature": T})))
        out.append(Sample(f"T{T}-special-37", lambda rng, dt, T=T: ((special_rows(37, dt),),
                                                                    {"temperature": T})))
    out.append(Sample("default-axis", lambda rng, dt: ((normal(rng, (3, 4, 9), dt),), {})))
    return out


def _softmax_compare(got, want, args, kwargs, dtype):
    assert_softmax_close(got, args[0], kwargs.get("axis", -1), kwargs.get("temperature", 1.0), dtype)


def _log_softmax_compare(got, want, args, kwargs, dtype):
    assert_log_softmax_close(got, args[0], kwargs.get("axis", -1), kwargs.get("temperature", 1.0), dtype)


def _softmax_big(rng, dt):
    return (normal(rng, (stream_rows(dt, 4000), 4000), dt, 4.0),), {}


def _softmax_bad_inputs() -> List[BadInput]:
    def call():
        return (np.ones((2, 3), np.float32),), {}
    return (dtype_cases(call) + axis_cases(call) + temperature_cases(call)
            + out_cases(call, "out", (2, 3), np.float32))


OPS: List[OpInfo] = [
    OpInfo("softmax", "softmax", ref.softmax, _softmax_samples, _softmax_compare, _softmax_bad_inputs,
           _softmax_big, out_kw="out"),
    OpInfo("log_softmax", "softmax", ref.log_softmax, _softmax_samples, _log_softmax_compare, _softmax_bad_inputs,
           _softmax_big, out_kw="out"),
]
