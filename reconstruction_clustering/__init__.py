"""Reconstruction Clustering (Greff, Srivastava & Schmidhuber 2015; Greff's thesis ch. 4) in NumPy.

A denoising autoencoder trained on single objects, reused inside an EM-like loop to group the
pixels of multi-object images. Files: config, data, dae (the DAE ops), model (the RC loop),
train, evaluate, inference (``load_run``), cli, viz, bench, search. The command line is
``reconstruction_clustering.py`` in this folder (or ``python -m reconstruction_clustering``).
"""
