"""Cell-centred tensor grids on the box [-L_1, L_1] x ... x [-L_k, L_k]."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import ndtr

__all__ = ["BoxGrid", "theta_axis_names"]


def theta_axis_names(d: int) -> tuple[str, ...]:
    """Axis names of the state (θ_1..θ_d, u): ``theta1``, ``theta2``, ``u``."""
    return tuple(f"theta{k}" for k in range(1, d + 1)) + ("u",)


@dataclass(frozen=True)
class BoxGrid:
    """A uniform cell-centred grid of a box.

    Cell ``i`` of axis ``k`` is ``[-L_k + i h_k, -L_k + (i+1) h_k]`` with ``h_k = 2 L_k / N_k``;
    densities are cell averages, stored with the axes in the order of :attr:`names`
    (θ axes first, u last, so that the u index is the fastest in memory).
    """

    cells: tuple[int, ...]
    half_width: tuple[float, ...]
    names: tuple[str, ...]

    def __post_init__(self):
        if not (len(self.cells) == len(self.half_width) == len(self.names)):
            raise ValueError("cells, half_width and names must have equal lengths")

    @classmethod
    def for_state(cls, d: int, cells, half_width) -> "BoxGrid":
        """Grid of the state (θ, u) ∈ R^{d+1} (``half_width`` one number or one per axis)."""
        hw = np.broadcast_to(np.asarray(half_width, float), (d + 1,))
        return cls(tuple(int(c) for c in cells), tuple(float(v) for v in hw), theta_axis_names(d))

    @property
    def ndim(self) -> int:
        return len(self.cells)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.cells

    @cached_property
    def spacing(self) -> np.ndarray:
        """Cell widths h_k."""
        return np.array([2 * L / n for L, n in zip(self.half_width, self.cells)])

    @cached_property
    def edges(self) -> tuple[np.ndarray, ...]:
        """Cell edges per axis (N_k + 1 values)."""
        return tuple(np.linspace(-L, L, n + 1) for L, n in zip(self.half_width, self.cells))

    @cached_property
    def centres(self) -> tuple[np.ndarray, ...]:
        """Cell centres per axis."""
        return tuple(0.5 * (e[1:] + e[:-1]) for e in self.edges)

    @property
    def cell_volume(self) -> float:
        return float(np.prod(self.spacing))

    def integrate(self, values: np.ndarray) -> float:
        """Midpoint rule ∑ values · |cell|."""
        return float(values.sum() * self.cell_volume)

    def mesh(self) -> tuple[np.ndarray, ...]:
        """Broadcastable centre coordinates (one array per axis, ``indexing="ij"``)."""
        return tuple(np.meshgrid(*self.centres, indexing="ij", sparse=True))

    def gaussian_cell_averages(self, mean, std) -> np.ndarray:
        """Exact cell averages of the product Gaussian N(mean, diag(std²)), renormalised.

        The average over cell ``[a, b]`` of axis ``k`` is ``(Φ((b-μ)/σ) - Φ((a-μ)/σ)) / h``;
        the product over axes is divided by its box mass so that the discrete mass is 1.
        """
        mean = np.broadcast_to(np.asarray(mean, float), (self.ndim,))
        std = np.broadcast_to(np.asarray(std, float), (self.ndim,))
        factors = []
        for e, m, s in zip(self.edges, mean, std):
            z = (e - m) / s
            lower = np.diff(ndtr(z))        # accurate where the cell lies below the mean
            upper = -np.diff(ndtr(-z))      # accurate above it (no 1 - 1 cancellation)
            factors.append(np.where(z[1:] + z[:-1] < 0, lower, upper))
        p = factors[0]
        for f in factors[1:]:
            p = np.multiply.outer(p, f)
        mass = p.sum()
        if not mass > 0:
            raise ValueError("the initial Gaussian has no mass inside the box")
        return p / (mass * self.cell_volume)
