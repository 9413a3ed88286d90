"""Threads, SIMD level and build configuration."""
from __future__ import annotations

import sys
import warnings
from typing import Any, Dict, Optional, TextIO

from . import _core
from ._arrays import integer

__all__ = ["set_num_threads", "get_num_threads", "show_config"]  # config() is show_config's helper


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (>= 1) in every kernel from now on.

    The default comes from ``FASTSOFTMAX_NUM_THREADS``, then ``OMP_NUM_THREADS``,
    then the number of cores (a value that is not a positive integer is ignored
    with a warning; one above the bound below is clamped with a warning).
    ``n`` may be at most 4 per processor (``ValueError`` above that: libgomp
    cannot start tens of thousands of threads). Results are bitwise identical
    for any ``n``.
    A build without OpenMP (``show_config()`` says so) always runs one thread,
    and so does a child process made by ``fork()`` (OpenMP's thread pool does
    not survive a fork: ``multiprocessing``'s fork start method, DataLoader
    workers and pre-forking servers get single-threaded kernels, not a hang).

    >>> import fastsoftmax
    >>> before = fastsoftmax.get_num_threads()
    >>> fastsoftmax.set_num_threads(1)
    >>> fastsoftmax.get_num_threads()
    1
    >>> fastsoftmax.set_num_threads(before)
    """
    n = integer(n, "set_num_threads: n", low=None, high=None)  # the range check below names the bound
    most = _core.max_threads()
    if not 1 <= n <= most:
        raise ValueError(f"set_num_threads: n must be between 1 and {most} (a few threads per processor of this "
                         f"machine), got {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads the kernels use.

    >>> import fastsoftmax
    >>> fastsoftmax.get_num_threads() >= 1
    True
    """
    return _core.get_num_threads()


def config() -> Dict[str, Any]:
    """The build and run-time configuration as a dict (what show_config prints)."""
    return {
        "version": _core.__version__,
        "simd_level": _core.simd_level(),
        "simd_supported": list(_core.supported_simd_levels()),
        "simd_requested": _core.requested_simd_level() or None,
        "threads": get_num_threads(),
        "openmp": bool(_core.openmp_enabled()),
        "cuda": "not built (this release has CPU kernels only)",
    }


def show_config(file: Optional[TextIO] = None) -> None:
    """Print the version, SIMD level, thread count, OpenMP and CUDA status (to stdout by default).

    >>> import fastsoftmax
    >>> fastsoftmax.show_config()  # doctest: +ELLIPSIS
    fastsoftmax ...
      SIMD level : ...
      threads    : ...
      OpenMP     : ...
      CUDA       : ...
    """
    c = config()
    lines = [
        f"fastsoftmax {c['version']}",
        f"  SIMD level : {c['simd_level']} (CPU supports: {', '.join(c['simd_supported'])}; "
        f"FASTSOFTMAX_SIMD={c['simd_requested'] or 'unset'})",
        f"  threads    : {c['threads']}",
        f"  OpenMP     : {'yes' if c['openmp'] else 'no (single-threaded build)'}",
        f"  CUDA       : {c['cuda']}",
    ]
    print("\n".join(lines), file=sys.stdout if file is None else file)


def _warn_about_environment() -> None:
    """FASTSOFTMAX_SIMD, FASTSOFTMAX_NUM_THREADS and OMP_NUM_THREADS that could not be honoured."""
    for problem in (_core.simd_request_problem(), _core.thread_request_problem()):
        if problem:
            warnings.warn(problem, RuntimeWarning, stacklevel=3)
