"""Neural EM and RNN-EM on static shapes (Greff et al. 2017).

Documentation: README.md in this folder. Train with `python3 neural_em_shapes/neural_em_shapes.py`
(or `python3 -m neural_em_shapes`); apply a trained run with `neural_em_shapes.inference.load_run`.
"""
