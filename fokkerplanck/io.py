"""The HDF5 file contract, written one snapshot at a time.

Layout of a finite-volume run of PDE (3.4) (names are a contract with users' scripts)::

    /time                        (T,)        saved times
    /density                     (T, *cells) cell averages of p_t, axes (theta1[, theta2], u)
    /grid/<axis>                 (N_axis,)   cell centres, axis in theta1, theta2, u
    /prediction                  (T, n)      f(p_t, x_i)
    /diagnostics/<name>          (T,)        loss, mass, min_density, kl, free_energy, ntk_lambda_min
    /data/x (n, d), /data/y (n,)             the training set
    /solver/...                  (T,)        time-stepper state for an exact --resume
    /coefficients                (T, *modes) spectral runs only: Hermite coefficients c_k of
                                             p/p_0 (root attribute "basis"); dimension scales
                                             /mode_theta1[, /mode_theta2], /mode_u
    attributes of /: config (resolved TOML text), version, problem, method, created

Named dimensions.  ``/time`` and one root-level dataset per axis (``/theta1``, ``/u``, …,
hard-linked as ``/grid/<axis>``) plus ``/sample`` (training point index) and ``/input``
(input coordinate index) are HDF5 dimension scales attached to every dataset, so that
``xarray.open_dataset(path, engine="h5netcdf")`` (root group; ``group="diagnostics"`` for
the diagnostics) sees labelled dimensions and coordinates — see :func:`open_xarray`.  For
2-D and 3-D densities an XDMF sidecar ``<path>.xdmf`` lets ParaView/VisIt open the file
(:func:`write_xdmf`).

Crash safety.  The file is created under ``<path>.partial`` and renamed to ``<path>`` only
once its first snapshot is complete, so ``<path>`` never exists half-made.  Every later row is
appended to all datasets first and to ``/time`` last, then the file is flushed, so a run
stopped at any point — SIGKILL included — leaves a file in which the first ``len(/time)``
rows of every dataset are complete snapshots; :func:`read_result` reads exactly those and
:meth:`Recorder.resume` truncates the rest away.  The file is written with HDF5's default
(earliest) format: with ``libver="latest"`` a killed writer leaves the superblock marked
"open for write" and ordinary readers refuse the file until ``h5clear`` is run (measured).
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

__all__ = ["Recorder", "read_result", "check_writable", "snapshot_count", "open_xarray",
           "write_xdmf", "open_for_reading"]


def snapshot_count(f: h5py.File) -> int:
    """Number of complete snapshots of an open file.

    The length of ``/time``, less any trailing rows that a write interrupted half-way left
    unreadable or out of order (saved times increase strictly), see :meth:`Recorder.append`.
    """
    time = f["time"]
    count = time.shape[0]
    if count == 0:
        return 0
    try:
        values = time[:count]
    except OSError:  # the last row's data never reached the disk
        return max(0, count - 1)
    good = np.isfinite(values)
    good[1:] &= np.diff(values) > 0
    bad = np.flatnonzero(~good)
    return int(bad[0]) if bad.size else count


def open_for_reading(path) -> h5py.File:
    """Open an output file read-only without taking an HDF5 file lock.

    HDF5 refuses to open a file twice in one process with different locking flags (e.g.
    while xarray keeps a default-locking handle cached); then the default flags are used.
    """
    try:
        return h5py.File(path, "r", locking=False)
    except OSError as exc:
        if "locking" not in str(exc):
            raise
        return h5py.File(path, "r")


def _attach(ds: h5py.Dataset, names: tuple, scales: Mapping[str, h5py.Dataset]) -> None:
    """Attach the named dimension scales to the leading axes of ``ds``."""
    for axis, name in enumerate(names):
        if name in scales:
            ds.dims[axis].attach_scale(scales[name])


def _write_error(path, exc) -> UserInputError:
    reason = str(exc).split("\n")[0] or exc.__class__.__name__
    return UserInputError(f"[output] path {str(path)!r}: writing failed ({reason}; disk full?)")


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
    coords : dict of str -> ndarray
        Further 1-D dimension scales at the root (e.g. ``sample``).
    dims : dict of str -> tuple of str
        Dimension names of fields (without the leading ``time``) and static datasets; the
        named scales (``grid`` and ``coords`` entries, and ``time``) are attached to them.
    checkpoints : dict of str -> tuple
        State that a resumed run needs but that is not kept for every snapshot (e.g. the
        neurons of a particle run).  Each is a double buffer of shape (2, *shape): snapshot
        k writes slot k mod 2 *before* ``/time`` grows, so the slot of the last complete
        snapshot is never the one being overwritten, whenever the process dies.
    """

    def __init__(self, path, config_text: str, grid: Mapping[str, np.ndarray],
                 fields: Mapping[str, tuple], static: Mapping[str, np.ndarray] = (),
                 attrs: Mapping[str, Any] = (), coords: Mapping[str, np.ndarray] = (),
                 dims: Mapping[str, tuple] = (), checkpoints: Mapping[str, tuple] = ()):
        self.path = Path(path)
        self._partial = self.path.with_name(self.path.name + ".partial")
        try:
            self._file = h5py.File(self._partial, "w", locking=False)
            self._checkpoints = dict(checkpoints)
            self._write_header(config_text, grid, fields, static, attrs, dict(coords),
                               dict(dims))
            for name, shape in self._checkpoints.items():
                self._file.create_dataset(name, shape=(2, *shape), dtype="f8")
            self._file.flush()
        except OSError as exc:
            self._discard()
            raise _write_error(self.path, exc) from None
        self._pending = True  # renamed to self.path after the first complete snapshot

    def _discard(self):
        try:
            if getattr(self, "_file", None) is not None and self._file.id.valid:
                self._file.close()
        finally:
            self._partial.unlink(missing_ok=True)

    def _write_header(self, config_text, grid, fields, static, attrs, coords, dims):
        f = self._file
        f.attrs["config"] = config_text
        f.attrs["version"] = __version__
        f.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        for key, value in dict(attrs).items():
            f.attrs[key] = value
        scales = {}
        for name, values in {**dict(grid), **coords}.items():
            ds = f.create_dataset(name, data=np.asarray(values))
            ds.make_scale(name)
            scales[name] = ds
        for name in grid:
            f[f"grid/{name}"] = scales[name]  # hard link: the /grid/<axis> contract
        time = f.create_dataset("time", shape=(0,), maxshape=(None,), dtype="f8", chunks=(1024,))
        time.make_scale("time")
        scales["time"] = time
        for name, value in dict(static).items():
            ds = f.create_dataset(name, data=np.asarray(value))
            _attach(ds, dims.get(name, ()), scales)
        self._fields = dict(fields)
        for name, shape in self._fields.items():
            ds = f.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype="f8",
                                  chunks=(1, *shape) if shape else (1024,))
            _attach(ds, ("time", *dims.get(name, ())), scales)
        f.flush()

    @classmethod
    def resume(cls, path) -> "Recorder":
        """Reopen a file for appending, dropping rows beyond its last complete snapshot."""
        self = cls.__new__(cls)
        self.path = Path(path)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._pending = False
        try:
            self._file = h5py.File(self.path, "r+", locking=False)
        except OSError as exc:
            raise UserInputError(f"--resume {str(path)!r} cannot be opened as an output file "
                                 f"({str(exc).splitlines()[0]})") from None
        f = self._file
        if "time" not in f:
            self._file.close()
            raise UserInputError(f"--resume {str(path)!r} is not a fokkerplanck output file")
        count = snapshot_count(f)
        if f["time"].shape[0] != count:  # drop a /time row a killed write left behind
            f["time"].resize(count, axis=0)
        self._fields = {}
        self._checkpoints = {}
        if "checkpoint" in f:
            for name, obj in f["checkpoint"].items():
                self._checkpoints[f"checkpoint/{name}"] = obj.shape[1:]

        def collect(name, obj):
            if (isinstance(obj, h5py.Dataset) and name != "time" and obj.maxshape
                    and obj.maxshape[0] is None and not name.startswith("checkpoint/")):
                self._fields[name] = obj.shape[1:]
                if obj.shape[0] != count:
                    obj.resize(count, axis=0)

        f.visititems(collect)
        f.flush()
        return self

    @property
    def count(self) -> int:
        """Number of complete snapshots written."""
        return snapshot_count(self._file)

    def last(self) -> dict[str, np.ndarray]:
        """Every per-snapshot field of the last complete snapshot, and ``time``."""
        k = self.count - 1
        row = {name: self._file[name][k] for name in self._fields}
        row.update({name: self._file[name][k % 2] for name in self._checkpoints})
        row["time"] = self._file["time"][k]
        return row

    def column(self, name: str) -> np.ndarray:
        """All complete rows of one per-snapshot dataset."""
        return self._file[name][: self.count]

    def append(self, t: float, values: Mapping[str, Any]) -> None:
        """Write one snapshot: every field of ``values``, flush, then ``/time``, flush.

        HDF5 writes dirty metadata in its own order during a flush, so a process killed in
        the middle of one flush could persist a longer ``/time`` without the rows of the
        other datasets.  Two flushes keep ``/time`` untouched until every other row is on
        disk; a kill during the second (tiny) flush can only leave a ``/time`` row that is
        unreadable or out of order, which :func:`snapshot_count` discards.
        """
        try:
            f = self._file
            k = self.count
            for name in self._checkpoints:
                f[name][k % 2] = values[name]
            for name in self._fields:
                ds = f[name]
                ds.resize(k + 1, axis=0)
                ds[k] = values[name]
            f.flush()
            f["time"].resize(k + 1, axis=0)
            f["time"][k] = t
            f.flush()
            if self._pending:  # first complete snapshot: make the file visible atomically
                f.close()
                os.replace(self._partial, self.path)
                self._file = h5py.File(self.path, "r+", locking=False)
                self._pending = False
        except OSError as exc:
            self.close()
            raise _write_error(self.path, exc) from None

    def close(self) -> None:
        """Close the file; a file that never received a snapshot is removed."""
        if self._file.id.valid:
            self._file.close()
        if self._pending:
            self._partial.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_result(path: str | Path, retries: int = 5) -> dict[str, Any]:
    """Read every complete snapshot of an output file into a nested dict of arrays.

    A file that is being written may be caught mid-flush; the read is then retried
    (``retries`` times, 0.1 s apart) before the error is raised.
    """
    import time

    for attempt in range(retries + 1):
        try:
            return _read_result_once(path)
        except OSError:
            if attempt == retries:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")  # pragma: no cover


def _read_result_once(path: str | Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with open_for_reading(path) as f:
        count = snapshot_count(f)

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                if name.startswith(("grid/", "data/")) or obj.ndim == 0:
                    out[name] = obj[()]
                else:
                    out[name] = obj[:count]

        f.visititems(visit)
        out["attrs"] = dict(f.attrs)
    return out


def open_xarray(path: str | Path):
    """The output file as one :class:`xarray.Dataset` with named dimensions.

    Root variables (``density``, ``prediction``, coordinates) merged with the
    ``diagnostics`` group, restricted to complete snapshots.  Needs xarray and h5netcdf
    (``pip install fokkerplanck[analysis]``).
    """
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover
        raise UserInputError("open_xarray needs xarray and h5netcdf "
                             "(pip install 'fokkerplanck[analysis]')") from None
    with open_for_reading(path) as f:
        count = snapshot_count(f)
        groups = [g for g in ("diagnostics", "solver") if g in f]
        attrs = {k: (v if not isinstance(v, bytes) else v.decode()) for k, v in f.attrs.items()}
    parts = [xr.open_dataset(path, engine="h5netcdf")]
    parts += [xr.open_dataset(path, engine="h5netcdf", group=g) for g in groups]
    ds = xr.merge(parts, compat="override", join="outer").isel(time=slice(0, count))
    ds.attrs.update(attrs)
    return ds


def write_xdmf(path: str | Path) -> Path | None:
    """Write ``<path>.xdmf`` describing ``/density`` on its rectilinear grid (2-D and 3-D).

    One uniform grid per saved time in a temporal collection; the density is a node-centred
    attribute on the cell centres (``/grid/<axis>``), read as hyperslabs of ``/density``.
    Returns the sidecar path, or None when the file has no 2-D/3-D density.
    """
    import xml.etree.ElementTree as ET

    path = Path(path)
    with open_for_reading(path) as f:
        if "density" not in f or f["density"].ndim not in (3, 4):
            return None
        count = snapshot_count(f)
        shape = f["density"].shape[1:]
        axes = [name for name in ("theta1", "theta2", "u") if f"grid/{name}" in f]
        times = f["time"][:count]
    if len(axes) != len(shape):
        return None
    h5name = path.name
    root = ET.Element("Xdmf", Version="3.0")
    domain = ET.SubElement(root, "Domain")
    series = ET.SubElement(domain, "Grid", Name="density", GridType="Collection",
                           CollectionType="Temporal")
    dims_text = " ".join(str(n) for n in shape)
    for k, t in enumerate(times):
        grid = ET.SubElement(series, "Grid", Name=f"t{k}", GridType="Uniform")
        ET.SubElement(grid, "Time", Value=repr(float(t)))
        if len(shape) == 3:
            ET.SubElement(grid, "Topology", TopologyType="3DRectMesh", Dimensions=dims_text)
            geometry = ET.SubElement(grid, "Geometry", GeometryType="VXVYVZ")
        else:
            ET.SubElement(grid, "Topology", TopologyType="2DRectMesh", Dimensions=dims_text)
            geometry = ET.SubElement(grid, "Geometry", GeometryType="VXVY")
        # X varies fastest: the last array axis first
        for name, n in reversed(list(zip(axes, shape))):
            item = ET.SubElement(geometry, "DataItem", Dimensions=str(n), NumberType="Float",
                                 Precision="8", Format="HDF")
            item.text = f"{h5name}:/grid/{name}"
        attribute = ET.SubElement(grid, "Attribute", Name="density", AttributeType="Scalar",
                                  Center="Node")
        slab = ET.SubElement(attribute, "DataItem", ItemType="HyperSlab", Dimensions=dims_text,
                             Type="HyperSlab")
        select = ET.SubElement(slab, "DataItem", Dimensions=f"3 {len(shape) + 1}",
                               Format="XML")
        select.text = " ".join([str(k)] + ["0"] * len(shape)) + "\n" + \
            " ".join(["1"] * (len(shape) + 1)) + "\n" + " ".join(["1", *map(str, shape)])
        source = ET.SubElement(slab, "DataItem", Dimensions=f"{count} {dims_text}",
                               NumberType="Float", Precision="8", Format="HDF")
        source.text = f"{h5name}:/density"
    sidecar = path.with_name(path.name + ".xdmf")
    ET.ElementTree(root).write(sidecar, xml_declaration=True, encoding="utf-8")
    return sidecar
