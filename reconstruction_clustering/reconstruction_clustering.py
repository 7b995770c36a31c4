#!/usr/bin/env python3
"""Reconstruction Clustering (Greff et al. 2015): command-line entry point. `--help` lists the options."""

import os
import sys

# This script shares its folder's name. Run from inside the folder (python3 reconstruction_clustering.py),
# Python puts the folder first on sys.path, and `import reconstruction_clustering` would find this file
# instead of the package. Drop the folder from sys.path so the installed package is found, with
# the repository root as a fallback for a clone that was never pip-installed.
_HERE = os.path.dirname(os.path.abspath(__file__))
if __name__ != "__main__":
    # Imported under the package's name: the current directory is this folder, so this script
    # shadows the package (e.g. `python -m reconstruction_clustering.bench` typed inside the folder).
    sys.stderr.write(f"error: this script shadows the package {__name__!r} here: run "
                     f"`python -m {__name__}...` from the repository root ({os.path.dirname(_HERE)})\n")
    raise SystemExit(2)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(os.path.dirname(_HERE))

from reconstruction_clustering.cli import cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(cli())
