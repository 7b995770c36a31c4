#!/usr/bin/env python3
"""Redraw the figures of a neural_em_shapes run from its run directory, without retraining.

    python3 visualize_neural_em_shapes.py [RUN_DIR]      (default runs/neural_em_shapes)
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

from common.cli import UsageError, run_main  # noqa: E402

PROG = "visualize_neural_em_shapes.py"
DEFAULT_RUN_DIR = "runs/neural_em_shapes"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Write the PNG figures of a neural_em_shapes "
                                     "run into its run directory, from run.json and examples.npz.")
    parser.add_argument("run_dir", nargs="?", default=DEFAULT_RUN_DIR,
                        help=f"run directory written by neural_em_shapes.py --out (default {DEFAULT_RUN_DIR})")
    args = parser.parse_args(argv)
    # Imported after parsing so --help and usage errors do not pay for matplotlib.
    from neural_em_shapes.viz import RunDataError, make_figures
    try:
        paths = make_figures(args.run_dir)
    except RunDataError as e:
        raise UsageError(str(e)) from None
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, prog=PROG))
