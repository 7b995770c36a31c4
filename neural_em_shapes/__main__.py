"""``python -m neural_em_shapes``: the training command line (same as neural_em_shapes.py)."""

import sys

from neural_em_shapes.cli import cli

if __name__ == "__main__":
    sys.exit(cli())
