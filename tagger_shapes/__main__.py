"""``python -m tagger_shapes``: the training command line (same as tagger_shapes.py)."""

import sys

from tagger_shapes.cli import cli

if __name__ == "__main__":
    sys.exit(cli())
