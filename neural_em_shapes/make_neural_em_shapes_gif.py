#!/usr/bin/env python3
"""Redraw binding_over_training.gif of a neural_em_shapes run from its snapshots.npz, without retraining.

    python3 make_neural_em_shapes_gif.py [RUN_DIR]      (default runs/neural_em_shapes)
"""

import argparse
import os
import sys

# Run from inside its folder, Python would put the folder first on sys.path and
# `import neural_em_shapes` would find the script neural_em_shapes.py instead of the package.
# Drop the folder from sys.path; the repository root is the fallback for a clone never pip-installed.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(os.path.dirname(_HERE))

from common.cli import UsageError, positive_float, positive_int, run_main  # noqa: E402

PROG = "make_neural_em_shapes_gif.py"
DEFAULT_RUN_DIR = "runs/neural_em_shapes"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Write binding_over_training.gif (argmax slot "
                                     "per pixel on fixed validation images at each evaluation) into a "
                                     "neural_em_shapes run directory.")
    parser.add_argument("run_dir", nargs="?", default=DEFAULT_RUN_DIR,
                        help=f"run directory written by neural_em_shapes.py --out (default {DEFAULT_RUN_DIR})")
    parser.add_argument("--fps", type=positive_float, default=4.0, help="frames per second (default 4)")
    parser.add_argument("--upscale", type=positive_int, default=3,
                        help="integer pixel magnification of the 28x28 images (default 3)")
    args = parser.parse_args(argv)
    # Imported after parsing so --help and usage errors do not pay for matplotlib.
    from neural_em_shapes.viz import RunDataError, make_gif
    try:
        path = make_gif(args.run_dir, fps=args.fps, upscale=args.upscale)
    except RunDataError as e:
        raise UsageError(str(e)) from None
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, prog=PROG))
