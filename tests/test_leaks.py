"""No leaks: 10**4 calls of each public function, successful and rejected,
leave the resident memory flat and hold no reference to an input, an out=
array or a result.

Each op cycles through small samples of its op-table entry (both dtypes,
with and without out= / grad_out=) and its bad inputs. RSS is read after a
warm-up and after the calls; an input's reference count must not move (an
extra reference per call would keep arrays alive, but reused inputs would
not show it in the RSS) and a result must be freed when dropped.
"""
from __future__ import annotations

import gc
import inspect
import os
import resource
import sys
import weakref
import zlib

import numpy as np
import pytest


import ops

# A tenth under an emulator (.ci/aarch64 runs the suite under qemu-user, about 30x slower).
CALLS = 1_000 if os.environ.get("FASTSOFTMAX_TEST_EMULATOR") else 10_000
WARMUP = 1_000
# Growth allowed over the calls: allocator noise (up to 1 MB seen), not a
# per-call leak (512 bytes malloc'ed and lost per successful call: 4-5 MB).
RSS_TOLERANCE = 2 << 20
# Small inputs: the calls are about the bindings and wrappers, not the math.
MAX_ELEMENTS = 4096
# Under AddressSanitizer (.ci/sanitize) freed memory waits in its quarantine,
# and the RSS grows whatever the library does: the reference checks remain.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # no /proc: the peak, which a leak raises too
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _arrays(args, kwargs) -> list:
    return [a for a in (*args, *kwargs.values()) if isinstance(a, np.ndarray)]


def _calls(op) -> list:
    """(args, kwargs, exception or None) of the op's small samples and its bad inputs."""
    calls = []
    for sample in op.samples():
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(zlib.crc32(f"{op.name}/{sample.desc}".encode()))
            args, kwargs = sample.build(rng, np.dtype(dtype))
            if sum(a.size for a in _arrays(args, kwargs)) > MAX_ELEMENTS:
                continue
            calls.append((args, kwargs, None))
            result = op.fn(*args, **kwargs)
            target = result if op.out_kw == "out" else (result[1] if op.out_kw and isinstance(result, tuple) else None)
            if isinstance(target, np.ndarray) and target.ndim:
                calls.append((args, dict(kwargs, **{op.out_kw: np.empty_like(target)}), None))
    calls += [(*case.build(), case.exc) for case in op.bad_inputs()]
    return calls


def _run(fn, calls, n: int) -> None:
    for i in range(n):
        args, kwargs, exc = calls[i % len(calls)]
        if exc is None:
            fn(*args, **kwargs)
        else:
            try:
                fn(*args, **kwargs)
            except exc:
                pass
            else:
                raise AssertionError(f"{fn.__name__}{args, kwargs} did not raise {exc}")


def _results_are_freed(fn, calls) -> None:
    for args, kwargs, exc in calls:
        if exc is None:
            result = fn(*args, **kwargs)
            parts = result if isinstance(result, tuple) else (result,)
            # (out= / grad_out= come back as results: those live on in kwargs)
            refs = [weakref.ref(p) for p in parts if isinstance(p, np.ndarray)
                    and not any(p is a or np.may_share_memory(p, a) for a in _arrays(args, kwargs))]
            del result, parts
            assert all(r() is None for r in refs), f"{fn.__name__}: a result outlives its last reference"


@pytest.mark.parametrize("op", ops.OPS, ids=lambda op: op.name)
def test_many_calls_leak_nothing(op):
    # the function itself, not conftest's input guard (which copies every
    # input on every call and would dominate the time)
    fn = inspect.unwrap(op.fn)
    calls = _calls(op)
    assert any(exc is None for *_, exc in calls) and any(exc for *_, exc in calls)
    _run(fn, calls, max(WARMUP, 2 * len(calls)))
    held = [a for args, kwargs, _ in calls for a in _arrays(args, kwargs)]
    counts = [sys.getrefcount(a) for a in held]
    gc.collect()
    before = rss_bytes()
    _run(fn, calls, CALLS)
    gc.collect()
    grown = rss_bytes() - before
    assert grown < RSS_TOLERANCE or UNDER_ASAN, f"{op.name}: RSS grew by {grown / 2**20:.1f} MB over {CALLS} calls"
    moved = sum(c != d for c, d in zip(counts, [sys.getrefcount(a) for a in held]))
    assert not moved, f"{op.name}: the reference count of {moved} input arrays changed"
    _results_are_freed(fn, calls)
