"""`python -m air_multimnist` runs the command line (same as air_multimnist/air_multimnist.py)."""

import sys

from air_multimnist.cli import cli

if __name__ == "__main__":
    sys.exit(cli())
