"""SciPy's signatures for fastsoftmax's logsumexp, softmax and log_softmax,
so that SciPy's own tests (test_scipy_logsumexp.py) call our functions.

The one translation: SciPy's default axis is None (all axes), ours is -1
(a documented departure, README "Where we differ from the peers"), so
axis=None is passed explicitly. Everything else goes through unchanged.

The functions are looked up on the fastsoftmax module at call time, so the
input guard of tests/conftest.py (inputs never modified) checks these calls too.
"""
import fastsoftmax


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    return fastsoftmax.logsumexp(a, axis, b=b, keepdims=keepdims, return_sign=return_sign)


def softmax(x, axis=None):
    return fastsoftmax.softmax(x, axis)


def log_softmax(x, axis=None):
    return fastsoftmax.log_softmax(x, axis)
