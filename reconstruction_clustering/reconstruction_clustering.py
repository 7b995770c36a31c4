#!/usr/bin/env python3
"""Reconstruction Clustering (Greff et al. 2015): command-line entry point. `--help` lists the options."""

import os
import sys

# Imported rather than run, this script is shadowing its package: `python -m reconstruction_clustering.<module>` was typed
# inside this folder. Say so in one line and exit 2 (print returns None, so `or 2` is the status).
if __name__ != "__main__":
    raise SystemExit(print("error: inside reconstruction_clustering/ the script reconstruction_clustering.py shadows the package; run "
                           "`python -m reconstruction_clustering...` from the repository root", file=sys.stderr) or 2)

# Run from inside its folder, Python puts the folder first on sys.path and `import reconstruction_clustering` would find
# this file instead of the package: drop the folder (the repository root is the fallback for a
# clone that was never pip-installed). docs/conventions.md says more.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [os.path.dirname(_HERE)]

from reconstruction_clustering.cli import cli  # noqa: E402

sys.exit(cli())
