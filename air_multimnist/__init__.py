"""Attend-Infer-Repeat on multi-MNIST (Eslami et al. 2016), in NumPy.

Documentation and results: README.md in this folder. Command line: `python -m air_multimnist`
or `python3 air_multimnist/air_multimnist.py` (also from inside the folder). Trained models:
`air_multimnist.inference.load_run`.
"""
