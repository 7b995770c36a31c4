"""Tagger on 20x20 shapes (Greff et al. 2016; thesis ch. 6): iterative amortised grouping with a Ladder network.

Documentation: README.md in this folder. Train with `python3 tagger_shapes/tagger_shapes.py`
(or `python3 -m tagger_shapes`); apply a trained run with `tagger_shapes.inference.load_run`.
"""
