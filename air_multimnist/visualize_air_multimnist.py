#!/usr/bin/env python3
"""Redraw the figures of an air_multimnist run from its run directory (run.json, examples.npz),
without retraining.

    python3 visualize_air_multimnist.py [RUN_DIR]      (default runs/air_multimnist)
"""

import os
import sys

# Run from inside its folder, Python puts the folder first on sys.path and `import air_multimnist` would
# find the script air_multimnist.py instead of the package: drop the folder (the repository root is the
# fallback for a clone that was never pip-installed).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(os.path.dirname(_HERE))

from common.cli import redraw_script  # noqa: E402


def _draw(args):
    from air_multimnist.viz import make_figures      # after parsing: --help does not load matplotlib
    return make_figures(args.run_dir)


if __name__ == "__main__":
    sys.exit(redraw_script("visualize_air_multimnist.py", "Write the PNG figures of an air_multimnist run "
                           "into its run directory.", _draw, default_dir="runs/air_multimnist"))
