"""The examples in the public docstrings run and print what they show."""
import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["fastsoftmax.softmax", "fastsoftmax.losses"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
