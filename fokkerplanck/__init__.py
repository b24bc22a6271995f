"""Solvers for the distributional dynamics of two-layer neural networks.

The Python API mirrors the command line::

    import fokkerplanck as fp
    cfg = fp.load_config("my.toml", overrides=["model.alpha=2"])   # or fp.load_config()
    res = fp.solve(cfg, output="out.h5")          # fokkerplanck solve
    ds = res.to_xarray()                          # named dimensions (time, theta1, u, ...)
    sim = fp.simulate(cfg, output="sim.h5")       # fokkerplanck simulate (particles)
    fp.example("noisy-gd-2d")                     # fokkerplanck example NAME (TOML text)

Imports are lazy, so ``import fokkerplanck`` stays cheap (numba compiles nothing until a
solver runs).
"""
__version__ = "0.1.0"

__all__ = ["load_config", "solve", "simulate", "example", "open_xarray", "read_result",
           "__version__"]


def load_config(path=None, overrides=(), text=None):
    """Read and validate a configuration (see :func:`fokkerplanck.config.load_config`)."""
    from .config import load_config as _load

    return _load(path, overrides, text)


def solve(config=None, output=None, progress=False, resume=False):
    """Solve a PDE; returns a :class:`fokkerplanck.run.Result` (see :func:`fokkerplanck.run.solve`).

    Unlike the CLI, ``output`` defaults to None (nothing written); pass a path, or
    ``"config"`` to use ``[output] path``.
    """
    from .run import solve as _solve

    return _solve(config, output, progress, resume)


def simulate(config=None, output=None, progress=False, resume=False):
    """Train the finite-width network (particles) that the PDE describes."""
    from .simulation import simulate as _simulate

    return _simulate(config, output=output, progress=progress, resume=resume)


def example(name):
    """The TOML text of a built-in example."""
    from .examples import example_text

    return example_text(name)


def open_xarray(path):
    """An output file as an :class:`xarray.Dataset` with named dimensions."""
    from .io import open_xarray as _open

    return _open(path)


def read_result(path):
    """Every complete snapshot of an output file as a dict of NumPy arrays."""
    from .io import read_result as _read

    return _read(path)
