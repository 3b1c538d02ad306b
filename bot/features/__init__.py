"""Loa's features, one package each; `base.py` is what they share (the `Feature` surface)."""
