#!/usr/bin/env python3
"""Redraw the PNG figures of an air_multimnist run from the arrays its run directory saved (run.json, examples.npz,
snapshots.npz), without retraining.

    python3 visualize_air_multimnist.py [RUN_DIR]      (default runs/air_multimnist)
"""

import argparse
import os
import sys

# Drop this folder from sys.path so `import air_multimnist` finds the package, not the script.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(os.path.dirname(_HERE))

from common.cli import UsageError, run_main  # noqa: E402

PROG = "visualize_air_multimnist.py"
DEFAULT_RUN_DIR = "runs/air_multimnist"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Redraw the PNG figures of an air_multimnist run.")
    parser.add_argument("run_dir", nargs="?", default=DEFAULT_RUN_DIR,
                        help=f"run directory written by air_multimnist.py --out (default {DEFAULT_RUN_DIR})")
    args = parser.parse_args(argv)
    from air_multimnist.viz import make_figures
    try:
        out = make_figures(args.run_dir)
    except (KeyError, ValueError) as e:
        raise UsageError(f"{args.run_dir}: not a complete air_multimnist run ({e})") from None
    for p in (out if isinstance(out, list) else [out]):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, prog=PROG))
