#!/usr/bin/env python3
"""Redraw rc_iterations.gif (the RC iterations on eight test images) from a dataset run directory.

    python3 make_reconstruction_clustering_gif.py RUN_DIR [--fps 2] [--upscale 4]

RUN_DIR is one dataset's directory (e.g. runs/reconstruction_clustering/shapes) or a run root,
in which case every dataset's GIF is redrawn.
"""

import argparse
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(os.path.dirname(_HERE))

from common.cli import UsageError, positive_float, positive_int, run_main  # noqa: E402

PROG = "make_reconstruction_clustering_gif.py"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Write rc_iterations.gif from saved RC traces.")
    parser.add_argument("run_dir", help="a dataset run directory or a run root")
    parser.add_argument("--fps", type=positive_float, default=2.0)
    parser.add_argument("--upscale", type=positive_int, default=4)
    args = parser.parse_args(argv)
    from pathlib import Path
    from reconstruction_clustering.viz import make_gif
    d = Path(args.run_dir)
    dirs = [d] if (d / "trace.npz").exists() else sorted(p.parent for p in d.glob("*/trace.npz"))
    if not dirs:
        raise UsageError(f"{d}: no trace.npz found (write one with reconstruction_clustering.py --out)")
    for x in dirs:
        print(make_gif(x, fps=args.fps, upscale=args.upscale))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, prog=PROG))
