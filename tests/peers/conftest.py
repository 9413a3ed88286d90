"""Pytest plumbing for SciPy's test file run by test_scipy_logsumexp.py."""


def pytest_configure(config):
    # SciPy's conftest registers these markers; its tests carry them (through
    # make_xp_test_case too). Only the numpy backend runs here, and none of the
    # markers names it (the xp fixture checks), so they only need to be known.
    for name in ("skip_xp_backends", "xfail_xp_backends"):
        config.addinivalue_line(
            "markers", f"{name}(backend, reason=None, ...): SciPy's array API backend marker")


def pytest_collection_modifyitems(config, items):
    """Deselect (visibly: pytest counts them) the SciPy tests a module lists in
    its DESELECTED dict, keyed by 'Class::test' or 'test' without parameters."""
    kept, dropped = [], []
    for item in items:
        table = getattr(getattr(item, "module", None), "DESELECTED", None)
        key = item.nodeid.split("::", 1)[-1].split("[", 1)[0]
        if table is not None and key in table:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
