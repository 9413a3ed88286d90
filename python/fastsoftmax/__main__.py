"""``python -m fastsoftmax bench [--quick] [--json FILE] [--plot FILE.png] [--threads N] [--accuracy]``."""
import argparse
import sys
from typing import Optional, Sequence

from . import _bench


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastsoftmax")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    bench = commands.add_parser(
        "bench", help="time fastsoftmax against NumPy, SciPy, PyTorch and the copy and exp floors"
    )
    _bench.add_arguments(bench)
    args = parser.parse_args(argv)
    return _bench.main(args)


if __name__ == "__main__":
    sys.exit(main())
