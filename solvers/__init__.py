"""Numerical methods for the distributional dynamics: finite volume, time stepping.

Imports only :mod:`fokkerplanck.models`, :mod:`fokkerplanck.grids` and
:mod:`fokkerplanck.data` from the problem side; never configuration, I/O or the CLI.
"""
from .finite_volume import FiniteVolumeScheme, FVState
from .steppers import STEPPERS

__all__ = ["FiniteVolumeScheme", "FVState", "STEPPERS"]
