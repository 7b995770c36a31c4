"""Attend-Infer-Repeat on multi-MNIST (Eslami et al. 2016).

Status and results: README.md in this folder (issue #5). The command-line entry point is `air_multimnist.py` in this
folder; it runs from the repository root (`python3 air_multimnist/air_multimnist.py`) and from inside the folder
(`python3 air_multimnist.py`).
"""
