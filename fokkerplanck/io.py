"""The HDF5 file contract, written one snapshot at a time.

Layout of a finite-volume run of PDE (3.4) (names are a contract with users' scripts)::

    /time                        (T,)        saved times
    /density                     (T, *cells) cell averages of p_t, axes (theta1[, theta2], u)
    /grid/<axis>                 (N_axis,)   cell centres, axis in theta1, theta2, u
    /prediction                  (T, n)      f(p_t, x_i)
    /diagnostics/<name>          (T,)        loss, mass, min_density, kl, free_energy, ntk_lambda_min
    /data/x (n, d), /data/y (n,)             the training set
    attributes of /: config (resolved TOML text), version, problem, method, created

Every row is appended to all datasets first and to ``/time`` last, then the file is flushed,
so a run stopped at any point leaves a file in which the first ``len(/time)`` rows of every
dataset are complete snapshots; :func:`read_result` reads exactly those.
"""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np

from . import __version__
from .errors import UserInputError

__all__ = ["Recorder", "read_result", "check_writable"]


def check_writable(path: str | Path) -> Path:
    """Fail early, with one line, if ``path`` cannot be created or overwritten."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserInputError(f"[output] path {str(path)!r} is a directory")
    if not parent.is_dir():
        raise UserInputError(f"[output] path {str(path)!r}: directory {str(parent)!r} "
                             "does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserInputError(f"[output] path {str(path)!r} is not writable")
    return path


class Recorder:
    """Append-only writer of snapshots (see the module docstring for the layout).

    Parameters
    ----------
    path : path-like
    config_text : str
        Resolved TOML configuration stored as the root attribute ``config``.
    grid : dict of str -> ndarray
        Coordinates written under ``/grid``.
    fields : dict of str -> tuple
        Per-snapshot arrays and their shape without the time axis, e.g.
        ``{"density": (64, 64), "prediction": (4,), "diagnostics/loss": ()}``.
    static : dict of str -> ndarray
        Datasets written once (e.g. ``data/x``).
    attrs : dict
        Extra root attributes.
    """

    def __init__(self, path, config_text: str, grid: Mapping[str, np.ndarray],
                 fields: Mapping[str, tuple], static: Mapping[str, np.ndarray] = (),
                 attrs: Mapping[str, Any] = ()):
        self.path = Path(path)
        self._file = h5py.File(self.path, "w", libver="latest")
        f = self._file
        f.attrs["config"] = config_text
        f.attrs["version"] = __version__
        f.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        for key, value in dict(attrs).items():
            f.attrs[key] = value
        for name, coords in grid.items():
            f.create_dataset(f"grid/{name}", data=np.asarray(coords, float))
        for name, value in dict(static).items():
            f.create_dataset(name, data=np.asarray(value))
        self._fields = dict(fields)
        for name, shape in self._fields.items():
            f.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype="f8",
                             chunks=(1, *shape) if shape else (1024,))
        f.create_dataset("time", shape=(0,), maxshape=(None,), dtype="f8", chunks=(1024,))
        f.flush()

    @property
    def count(self) -> int:
        """Number of complete snapshots written."""
        return self._file["time"].shape[0]

    def append(self, t: float, values: Mapping[str, Any]) -> None:
        """Write one snapshot: every field of ``values`` first, ``/time`` last, then flush."""
        f = self._file
        k = self.count
        for name in self._fields:
            ds = f[name]
            ds.resize(k + 1, axis=0)
            ds[k] = values[name]
        f["time"].resize(k + 1, axis=0)
        f["time"][k] = t
        f.flush()

    def close(self) -> None:
        if self._file.id.valid:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_result(path: str | Path) -> dict[str, Any]:
    """Read every complete snapshot of an output file into a nested dict of arrays."""
    out: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        count = f["time"].shape[0]

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                if name.startswith(("grid/", "data/")) or obj.ndim == 0:
                    out[name] = obj[()]
                else:
                    out[name] = obj[:count]

        f.visititems(visit)
        out["attrs"] = dict(f.attrs)
    return out
