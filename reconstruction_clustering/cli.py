"""Command line of reconstruction_clustering: placeholder until issue #4 lands."""

from __future__ import annotations

import sys
from typing import Sequence

from common.cli import placeholder_main, run_main

TITLE = "Reconstruction Clustering (Greff et al. 2015)"


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(lambda a: placeholder_main("reconstruction_clustering.py", TITLE, 4, a), argv, prog="reconstruction_clustering.py")


if __name__ == "__main__":
    sys.exit(main())
