#!/usr/bin/env python3
"""Attend-Infer-Repeat on multi-MNIST (Eslami et al. 2016): command-line entry point. `--help` lists the options."""

import os
import sys

if __name__ != "__main__":
    # Imported, not run: inside this folder the script shadows the package of the same name
    # (e.g. `python -m air_multimnist.bench` run from here). Say so in one line, no traceback.
    sys.stderr.write("error: inside air_multimnist/ the script air_multimnist.py shadows the package; "
                     "run `python -m air_multimnist...` from the repository root\n")
    raise SystemExit(2)

# This script shares its folder's name. Run from inside the folder (python3 air_multimnist.py),
# Python puts the folder first on sys.path, and `import air_multimnist` would find this file
# instead of the package. Drop the folder from sys.path so the installed package is found, with
# the repository root as a fallback for a clone that was never pip-installed.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(os.path.dirname(_HERE))

from air_multimnist.cli import cli  # noqa: E402

sys.exit(cli())
