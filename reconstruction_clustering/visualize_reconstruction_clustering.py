#!/usr/bin/env python3
"""Redraw every figure of a reconstruction_clustering run root from its saved runs, without retraining.

    python3 visualize_reconstruction_clustering.py [ROOT] [--multi-root DIR] [--search-dir DIR]
"""

import os
import sys

# Inside its folder, Python would put the folder first on sys.path and `import reconstruction_clustering` would find the
# script reconstruction_clustering.py instead of the package: drop the folder (the repository root is the fallback
# for a clone that was never pip-installed). docs/conventions.md says more.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [os.path.dirname(_HERE)]

if __name__ == "__main__":
    from reconstruction_clustering.viz import figures_main
    sys.exit(figures_main())
