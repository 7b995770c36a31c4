#!/usr/bin/env python3
"""Redraw every figure of a reconstruction_clustering run root from its saved runs, without retraining.

    python3 visualize_reconstruction_clustering.py [ROOT] [--multi-root DIR] [--search-dir DIR]

ROOT holds one directory per dataset (run.json, trace.npz, weights.npz) as written by
reconstruction_clustering.py --out ROOT. --multi-root (a --train-on multi run root) adds the
single- vs multi-object figure; --search-dir (default: the committed search records) the
DAE-loss-vs-AMI figure.
"""

import argparse
import os
import sys

# Run from inside its folder, Python would put the folder first on sys.path and
# `import reconstruction_clustering` would find the script of that name instead of the package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(os.path.dirname(_HERE))

from common.cli import UsageError, run_main  # noqa: E402

PROG = "visualize_reconstruction_clustering.py"
DEFAULT_ROOT = "runs/reconstruction_clustering"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Write the PNG figures (and GIFs) of a "
                                     "reconstruction_clustering run root from its saved runs.")
    parser.add_argument("root", nargs="?", default=DEFAULT_ROOT, help=f"run root (default {DEFAULT_ROOT})")
    parser.add_argument("--multi-root", default=None, help="run root of a --train-on multi run")
    parser.add_argument("--search-dir", default=os.path.join(_HERE, "results", "search"),
                        help="directory of search records (default: the committed ones)")
    parser.add_argument("--no-gif", action="store_true", help="skip the GIFs")
    args = parser.parse_args(argv)
    from pathlib import Path
    from reconstruction_clustering.viz import make_dataset_figures, make_summary_figures
    root = Path(args.root)
    runs = sorted(p.parent for p in root.glob("*/run.json"))
    if not runs:
        raise UsageError(f"{root}: no <dataset>/run.json found; run reconstruction_clustering.py --out {root} first")
    try:
        for d in runs:
            for p in make_dataset_figures(d, gif=not args.no_gif):
                print(p)
        for p in make_summary_figures(root, multi_root=args.multi_root, search_dir=args.search_dir):
            print(p)
    except (FileNotFoundError, KeyError) as e:
        raise UsageError(f"incomplete run directory: {e}") from None
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, prog=PROG))
