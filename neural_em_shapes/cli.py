"""Command line of neural_em_shapes: placeholder until issue #3 lands."""

from __future__ import annotations

import sys
from typing import Sequence

from common.cli import placeholder_main, run_main

TITLE = "Neural EM and RNN-EM on static shapes (Greff et al. 2017)"


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(lambda a: placeholder_main("neural_em_shapes.py", TITLE, 3, a), argv, prog="neural_em_shapes.py")


if __name__ == "__main__":
    sys.exit(main())
