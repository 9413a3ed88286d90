"""SciPy's own tests of logsumexp, softmax and log_softmax, run on fastsoftmax.

SciPy's installed scipy/special/tests/test_logsumexp.py is read (never copied
here), its one `from scipy.special import ...` line is pointed at scipy_shim
(SciPy's signatures over our functions), and the result is executed in this
module so pytest collects its tests. SciPy's private helpers the file imports
(_wrap_radians, scipy._lib._array_api*) stay SciPy's. Only NumPy arrays are
used: the xp fixture below is SciPy's numpy backend and nothing else.

The only SciPy tests not run are listed in DESELECTED, each with its reason
(tests/peers/conftest.py deselects them; pytest reports the count).
"""
import ast
import os
import pathlib

import numpy as np
import pytest
from _pytest.assertion.rewrite import rewrite_asserts

# As tests/conftest.py's peers: a missing SciPy skips outside CI, fails in CI.
scipy = __import__("scipy") if os.environ.get("CI") else pytest.importorskip("scipy")
import scipy.special  # noqa: E402
from scipy._lib import _array_api  # noqa: E402

from . import scipy_shim  # noqa: E402

DESELECTED = {
    "test_wrap_radians": "tests SciPy's private scipy.special._logsumexp._wrap_radians, "
                         "which is no function of ours",
}

SCIPY_TESTS = pathlib.Path(scipy.__file__).parent / "special" / "tests" / "test_logsumexp.py"
SCIPY_IMPORT = "from scipy.special import log_softmax, logsumexp, softmax\n"
SHIM_IMPORT = "from .scipy_shim import log_softmax, logsumexp, softmax\n"

# make_xp_test_case(f) looks f up in SciPy's capabilities table (it turns them
# into skip/xfail marks for non-NumPy backends). Our shims get the entries of
# the SciPy functions they stand for; nothing in them applies to NumPy.
for _name in ("logsumexp", "softmax", "log_softmax"):
    _array_api.xp_capabilities_table.setdefault(
        getattr(scipy_shim, _name), _array_api.xp_capabilities_table[getattr(scipy.special, _name)])


def _load_scipy_tests():
    source = SCIPY_TESTS.read_text()
    # The replacement keeps every line where it is, so tracebacks name
    # SciPy's file at the right line.
    assert source.count(SCIPY_IMPORT) == 1, f"{SCIPY_TESTS}: import line changed, update this harness"
    source = source.replace(SCIPY_IMPORT, SHIM_IMPORT)
    tree = ast.parse(source, filename=str(SCIPY_TESTS))
    # pytest rewrites asserts only in files it imports itself; do it here so
    # a failing bare assert of SciPy's shows its values.
    rewrite_asserts(tree, source.encode(), str(SCIPY_TESTS))
    exec(compile(tree, str(SCIPY_TESTS), "exec"), globals())


_load_scipy_tests()

for _key in DESELECTED:  # a stale entry (SciPy renamed the test) must not linger
    _obj = globals()
    for _part in _key.split("::"):
        _obj = _obj[_part] if isinstance(_obj, dict) else getattr(_obj, _part)


@pytest.fixture(params=[np], ids=["numpy"])
def xp(request):
    """SciPy's xp fixture (scipy/conftest.py) for its numpy backend only: it
    yields array_namespace(np.empty(0)) as SciPy does; arrays are ndarrays."""
    for kind in ("skip", "xfail"):
        for mark in request.node.iter_markers(f"{kind}_xp_backends"):
            # Such a mark would skip/xfail the numpy run in SciPy's suite;
            # none does today, and none may pass unnoticed here.
            assert "numpy" not in mark.args, f"{kind}_xp_backends('numpy') needs handling here"
    yield _array_api.array_namespace(request.param.empty(0))


@pytest.fixture
def devices(xp):
    """SciPy's devices fixture, numpy case."""
    return xp.__array_namespace_info__().devices() + [None]
