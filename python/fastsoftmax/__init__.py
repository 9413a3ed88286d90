"""fastsoftmax: exact, fast softmax, log-softmax, logsumexp and cross-entropy.

C++ kernels (SIMD chosen at import, OpenMP threads, GIL released) under a
NumPy API. See ``show_config()`` for what this build and CPU use.
"""
from . import _config, losses, margin, multilabel, sampled, triplet
from . import softmax as _softmax_module  # the name ``softmax`` is the function
from ._config import *  # noqa: F401,F403 (each module's __all__ is its public part)
from ._config import _warn_about_environment
from ._core import __version__
from .losses import *  # noqa: F401,F403
from .margin import *  # noqa: F401,F403
from .multilabel import *  # noqa: F401,F403
from .softmax import *  # noqa: F401,F403
from .triplet import *  # noqa: F401,F403

# The one list of public names: every name in these modules' __all__, in this
# order. A new public function goes into its module's __all__ (and the tests'
# op table, tests/ops/, which test_public_api.py checks); a new public module
# goes here and in a star import above.
_PUBLIC_MODULES = (_softmax_module, losses, multilabel, margin, triplet, _config)
# Public modules whose names stay in their own namespace (SPEC: fastsoftmax.sampled).
_NAMESPACE_MODULES = (sampled,)

__all__ = ["__version__"]
for _module in _PUBLIC_MODULES:
    __all__ += _module.__all__
del _module

_warn_about_environment()
