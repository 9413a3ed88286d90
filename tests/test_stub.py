"""The hand-written stub python/fastsoftmax/_core.pyi must not drift from the binding."""
import ast
import pathlib

import fastsoftmax
from fastsoftmax import _core


def _stub_names():
    stub = pathlib.Path(fastsoftmax.__file__).with_name("_core.pyi")
    tree = ast.parse(stub.read_text())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    variables = {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign)}
    return functions, variables


def test_stub_names_exactly_the_compiled_functions():
    functions, variables = _stub_names()
    compiled = {name for name in dir(_core) if not name.startswith("_") and callable(getattr(_core, name))}
    assert functions == compiled
    assert variables == {"__version__"}


def test_stub_parameter_names_match_the_binding():
    stub = pathlib.Path(fastsoftmax.__file__).with_name("_core.pyi")
    for node in ast.parse(stub.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            stub_args = [a.arg for a in node.args.args]
            doc_sig = getattr(_core, node.name).__doc__.splitlines()[0]
            bound_args = [p.split(":")[0].strip() for p in doc_sig[doc_sig.index("(") + 1:doc_sig.index(")")].split(",") if p.strip()]
            assert stub_args == bound_args, node.name
