"""Training sets S = {(x_i, y_i)}, i = 1..n, given inline in ``[data]`` or as a CSV file."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserInputError

__all__ = ["Data", "data_from_config", "read_csv"]


@dataclass(frozen=True)
class Data:
    """A training set.

    Attributes
    ----------
    x : ndarray, shape (n, d)
        Inputs x_i ∈ R^d.
    y : ndarray, shape (n,)
        Targets y_i.
    """

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        x = np.ascontiguousarray(self.x, dtype=float)
        y = np.ascontiguousarray(self.y, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise UserInputError(f"[data] x has {x.shape[0]} rows but y has {y.size} values")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise UserInputError("[data] x and y must be finite numbers")
        x.setflags(write=False)
        y.setflags(write=False)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    @property
    def n(self) -> int:
        """Number of training points."""
        return self.x.shape[0]

    @property
    def dim(self) -> int:
        """Input dimension d."""
        return self.x.shape[1]


def read_csv(path: Path) -> Data:
    """Read a CSV file whose header is ``x1,...,xd,y`` (any column order)."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise UserInputError(f"[data] file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"[data] file {str(path)!r} cannot be read: "
                             f"{exc.__class__.__name__}") from None
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise UserInputError(f"[data] file {str(path)!r} needs a header x1,...,xd,y and rows")
    header = [c.strip() for c in rows[0]]
    d = len(header) - 1
    expected = {f"x{k}" for k in range(1, d + 1)} | {"y"}
    if set(header) != expected or len(header) != len(set(header)):
        raise UserInputError(f"[data] file {str(path)!r} header must be "
                             f"{','.join(sorted(expected - {'y'}) + ['y'])} (got {','.join(header)})")
    order = [header.index(f"x{k}") for k in range(1, d + 1)]
    values = []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UserInputError(f"[data] file {str(path)!r} line {lineno} has {len(row)} "
                                 f"columns, expected {len(header)}")
        try:
            values.append([float(c) for c in row])
        except ValueError:
            raise UserInputError(f"[data] file {str(path)!r} line {lineno} has a value that "
                                 "is not a number") from None
    table = np.array(values)
    if not np.isfinite(table).all():
        raise UserInputError(f"[data] file {str(path)!r} has non-finite values")
    return Data(table[:, order], table[:, header.index("y")])


def data_from_config(config) -> Data:
    """Build :class:`Data` from ``[data]`` (inline ``x``/``y`` or ``file``)."""
    sec = config.data
    if sec.file is not None:
        if sec.x is not None or sec.y is not None:
            raise UserInputError("[data] give either file or x and y, not both")
        path = Path(sec.file)
        if not path.is_absolute():
            path = config.source_dir / path
        return read_csv(path)
    if sec.x is None or sec.y is None:
        missing = "x" if sec.x is None else "y"
        raise UserInputError(f"[data] {missing} is required (or give file = \"train.csv\")")
    return Data(np.array(sec.x), np.array(sec.y))
