"""Neural EM and RNN-EM on static shapes (Greff et al. 2017).

Status and results: README.md in this folder (issue #3). The command-line entry point is `neural_em_shapes.py` in this
folder; it runs from the repository root (`python3 neural_em_shapes/neural_em_shapes.py`) and from inside the folder
(`python3 neural_em_shapes.py`).
"""
