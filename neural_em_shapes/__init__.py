"""Neural EM and RNN-EM on static shapes (Greff et al. 2017).

Status: not yet implemented (issue #3). The command-line entry point is `neural_em_shapes.py` in this
folder; it runs from the repository root (`python3 neural_em_shapes/neural_em_shapes.py`) and from inside the folder
(`python3 neural_em_shapes.py`).
"""
