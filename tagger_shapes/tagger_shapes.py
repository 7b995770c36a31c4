#!/usr/bin/env python3
"""Tagger on 20x20 shapes (Greff et al. 2016): command-line entry point. `--help` lists the options."""

import os
import sys

# Imported rather than run, this script is shadowing its package: `python -m tagger_shapes.<module>` was typed
# inside this folder. Say so in one line and exit 2 (print returns None, so `or 2` is the status).
if __name__ != "__main__":
    raise SystemExit(print("error: inside tagger_shapes/ the script tagger_shapes.py shadows the package; run "
                           "`python -m tagger_shapes...` from the repository root", file=sys.stderr) or 2)

# Run from inside its folder, Python puts the folder first on sys.path and `import tagger_shapes` would find
# this file instead of the package: drop the folder (the repository root is the fallback for a
# clone that was never pip-installed). docs/conventions.md says more.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [os.path.dirname(_HERE)]

from tagger_shapes.cli import cli  # noqa: E402

sys.exit(cli())
