"""Command line of air_multimnist: placeholder until issue #5 lands."""

from __future__ import annotations

import sys
from typing import Sequence

from common.cli import placeholder_main, run_main

TITLE = "Attend-Infer-Repeat on multi-MNIST (Eslami et al. 2016)"


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(lambda a: placeholder_main("air_multimnist.py", TITLE, 5, a), argv, prog="air_multimnist.py")


if __name__ == "__main__":
    sys.exit(main())
