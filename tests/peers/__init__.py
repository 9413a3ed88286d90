# A package, so that this directory's conftest.py imports as peers.conftest:
# without it pytest would load it as the module "conftest" and replace
# tests/conftest.py in sys.modules, which other tests import names from.
