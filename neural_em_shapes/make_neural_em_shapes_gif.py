#!/usr/bin/env python3
"""Redraw binding_over_training.gif of a neural_em_shapes run (argmax slot per pixel on fixed
validation images at each evaluation) from its saved arrays, without retraining.

    python3 make_neural_em_shapes_gif.py [RUN_DIR] [--fps F] [--upscale N]
"""

import os
import sys

# Run from inside its folder, Python puts the folder first on sys.path and `import neural_em_shapes` would
# find the script neural_em_shapes.py instead of the package: drop the folder (the repository root is the
# fallback for a clone that was never pip-installed).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(os.path.dirname(_HERE))

from common.cli import positive_float, positive_int, redraw_script  # noqa: E402


def _args(p):
    p.add_argument("--fps", type=positive_float, default=4.0, help="frames per second (default 4)")
    p.add_argument("--upscale", type=positive_int, default=3, help="pixel magnification (default 3)")


def _draw(args):
    from neural_em_shapes.viz import make_gif
    return [make_gif(args.run_dir, fps=args.fps, upscale=args.upscale)]


if __name__ == "__main__":
    sys.exit(redraw_script("make_neural_em_shapes_gif.py", "Write binding_over_training.gif into a "
                           "neural_em_shapes run directory.", _draw, default_dir="runs/neural_em_shapes",
                           add_args=_args))
