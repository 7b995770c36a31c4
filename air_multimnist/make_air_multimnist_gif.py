#!/usr/bin/env python3
"""Redraw the training GIF of an air_multimnist run from its saved arrays (run.json,
snapshots.npz), without retraining.

    python3 make_air_multimnist_gif.py [RUN_DIR] [--fps F] [--upscale N]
"""

import os
import sys

# Run from inside its folder, Python puts the folder first on sys.path and `import air_multimnist` would
# find the script air_multimnist.py instead of the package: drop the folder (the repository root is the
# fallback for a clone that was never pip-installed).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(os.path.dirname(_HERE))

from common.cli import positive_float, positive_int, redraw_script  # noqa: E402


def _args(p):
    p.add_argument("--fps", type=positive_float, default=3.0, help="frames per second (default 3)")
    p.add_argument("--upscale", type=positive_int, default=2, help="pixel magnification (default 2)")


def _draw(args):
    from air_multimnist.viz import make_gif
    out = make_gif(args.run_dir, fps=args.fps, upscale=args.upscale)
    return out if isinstance(out, list) else [out]


if __name__ == "__main__":
    sys.exit(redraw_script("make_air_multimnist_gif.py", "Write training.gif into an air_multimnist run "
                           "directory.", _draw, default_dir="runs/air_multimnist", add_args=_args))
