"""Solvers for the distributional dynamics of two-layer neural networks."""
__version__ = "0.1.0"
