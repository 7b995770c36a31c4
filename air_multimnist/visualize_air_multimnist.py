#!/usr/bin/env python3
"""Redraw the figures of an air_multimnist run from its saved arrays, without retraining.

    python3 visualize_air_multimnist.py [RUN_DIR]      (default runs/air_multimnist)
"""

import os
import sys

# Inside its folder, Python would put the folder first on sys.path and `import air_multimnist` would find the
# script air_multimnist.py instead of the package: drop the folder (the repository root is the fallback
# for a clone that was never pip-installed). docs/conventions.md says more.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [os.path.dirname(_HERE)]

if __name__ == "__main__":
    from air_multimnist.viz import figures_main
    sys.exit(figures_main())
