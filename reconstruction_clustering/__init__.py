"""Reconstruction Clustering (Greff et al. 2015).

Status: not yet implemented (issue #4). The command-line entry point is `reconstruction_clustering.py` in this
folder; it runs from the repository root (`python3 reconstruction_clustering/reconstruction_clustering.py`) and from inside the folder
(`python3 reconstruction_clustering.py`).
"""
