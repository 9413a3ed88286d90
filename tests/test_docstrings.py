"""The examples in the public docstrings run and print what they show."""
import doctest
import inspect

import pytest

import fastsoftmax

PUBLIC_MODULES = fastsoftmax._PUBLIC_MODULES + fastsoftmax._NAMESPACE_MODULES


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("name", [n for n in fastsoftmax.__all__ if n != "__version__"])
def test_every_public_function_has_an_example(name):
    # SPEC section 0: docstrings with the formula, shapes and an example.
    doc = inspect.getdoc(inspect.unwrap(getattr(fastsoftmax, name))) or ""
    assert ">>>" in doc, f"fastsoftmax.{name}'s docstring has no example"


@pytest.mark.parametrize("module", fastsoftmax._NAMESPACE_MODULES, ids=lambda m: m.__name__)
def test_every_namespace_function_has_an_example(module):
    functions = [n for n in module.__all__ if inspect.isfunction(getattr(module, n))]
    assert functions
    assert [n for n in functions if ">>>" not in (inspect.getdoc(getattr(module, n)) or "")] == []
