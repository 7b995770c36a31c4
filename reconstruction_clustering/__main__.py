"""``python -m reconstruction_clustering``: the command line (same as reconstruction_clustering.py)."""

import sys

from reconstruction_clustering.cli import cli

if __name__ == "__main__":
    sys.exit(cli())
