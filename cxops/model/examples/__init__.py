"""Bundled example model projects beside digits: a PyTorch CNN and a non-linear scikit-learn pipeline."""
