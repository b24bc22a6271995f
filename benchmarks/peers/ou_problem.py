"""The peer-comparison problem and its error metric (NumPy and SciPy only).

Imported by :mod:`benchmarks.bench_peers` *and* by the runner scripts that execute inside
the peers' virtual environment, so every tool's error is computed by this one function.

Problem: the 2-D Ornstein–Uhlenbeck Fokker–Planck equation

    ∂_t p = ∇·(x p) + Δp   on [−L, L]², L = 6, zero-flux walls,

from p_0 = N((2, −1), 0.25 I) to t = 1.  Exact solution: N(m(t), s(t)² I) with
m(t) = e^{−t} m_0 and s(t)² = e^{−2t} s_0² + 1 − e^{−2t}.  (PDE (3.4) with α = 0, λ = 1.)

Error: every tool's solution is a value per cell centre of a uniform grid of [−L, L]² (FV
cell averages for ours and FiPy, grid-point values for fplanck and py-pde).  It is compared
with the exact solution in two ways, both as discrete L1 norms Σ_c |p_c − q_c| h²:

* ``l1_cell``  — q_c the exact cell average (the natural target of a finite-volume value),
* ``l1_point`` — q_c the exact density at the cell centre (that of a finite-difference value).

The two differ by O(h²) (h²Δp/24), the same order as the discretisation errors, so each tool
is credited with the smaller of the two (``l1``): no tool is penalised for the choice.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

L = 6.0
MEAN0 = (2.0, -1.0)
STD0 = (0.5, 0.5)
T_END = 1.0


def exact_moments(t: float = T_END) -> tuple[np.ndarray, float]:
    """Mean (2,) and standard deviation (per axis) of the exact solution at time t."""
    mean = np.exp(-t) * np.asarray(MEAN0)
    std = math.sqrt(math.exp(-2 * t) * STD0[0] ** 2 - math.expm1(-2 * t))
    return mean, std


def initial_density(x, y):
    """p_0 at points (x, y) (broadcasting)."""
    s2 = STD0[0] ** 2
    return np.exp(-((x - MEAN0[0]) ** 2 + (y - MEAN0[1]) ** 2) / (2 * s2)) / (2 * np.pi * s2)


def centres(n: int) -> np.ndarray:
    """Cell centres of n uniform cells of [−L, L]."""
    h = 2 * L / n
    return -L + h * (np.arange(n) + 0.5)


def _interval_prob(z_lo, z_hi):
    right = z_lo > 0  # mirror the right tail: no 1 − 1 cancellation
    return np.where(right, ndtr(-z_lo) - ndtr(-z_hi), ndtr(z_hi) - ndtr(z_lo))


def l1_errors(density: np.ndarray, t: float = T_END) -> dict:
    """L1 errors of a density on the uniform n1×n2 cell-centred grid of [−L, L]² (axes x, y).

    ``density`` holds values per unit area (integrating to ≈ 1), axis 0 = x, axis 1 = y.
    """
    p = np.asarray(density, float)
    n1, n2 = p.shape
    mean, std = exact_moments(t)
    h1, h2 = 2 * L / n1, 2 * L / n2
    factors_cell, factors_point = [], []
    for n, h, m in ((n1, h1, mean[0]), (n2, h2, mean[1])):
        e = (-L + h * np.arange(n + 1) - m) / std
        factors_cell.append(_interval_prob(e[:-1], e[1:]) / h)
        z = (centres(n) - m) / std
        factors_point.append(np.exp(-0.5 * z ** 2) / (math.sqrt(2 * np.pi) * std))
    q_cell = np.multiply.outer(*factors_cell)
    q_point = np.multiply.outer(*factors_point)
    l1_cell = float(np.abs(p - q_cell).sum() * h1 * h2)
    l1_point = float(np.abs(p - q_point).sum() * h1 * h2)
    return {"l1": min(l1_cell, l1_point), "l1_cell": l1_cell, "l1_point": l1_point,
            "mass": float(p.sum() * h1 * h2)}
