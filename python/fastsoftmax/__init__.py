"""fastsoftmax: exact, fast softmax, log-softmax, logsumexp and cross-entropy.

C++ kernels (SIMD chosen at import, OpenMP threads, GIL released) under a
NumPy API. See ``show_config()`` for what this build and CPU use.
"""
from ._core import __version__
from ._config import _warn_about_simd_request, get_num_threads, set_num_threads, show_config
from .losses import binary_cross_entropy_with_logits, cross_entropy
from .softmax import log_softmax, log_softmax_backward, logsumexp, softmax, softmax_backward

__all__ = [
    "__version__",
    "softmax",
    "log_softmax",
    "logsumexp",
    "softmax_backward",
    "log_softmax_backward",
    "cross_entropy",
    "binary_cross_entropy_with_logits",
    "set_num_threads",
    "get_num_threads",
    "show_config",
]

_warn_about_simd_request()
