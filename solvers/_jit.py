"""The one ``njit`` wrapper every compiled kernel goes through.

``cache=True`` so that a second process loads machine code from ``__pycache__`` instead of
compiling; a fast-math subset that allows re-association and contraction (vectorised sums,
FMA) but keeps NaN/Inf semantics, so that guards on non-finite values still work.
"""
import numba

FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})


def njit(func=None, **options):
    """``numba.njit`` with the package's flags (``cache=True``, safe fast-math subset)."""
    options.setdefault("cache", True)
    options.setdefault("fastmath", set(FASTMATH))
    options.setdefault("error_model", "numpy")
    if func is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(func)
