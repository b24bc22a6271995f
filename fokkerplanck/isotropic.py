r"""The isotropic-Gaussians example of Mei, Montanari & Nguyen (PNAS 2018): model, config, runners.

Problem (math spec §1.5–1.7)
----------------------------
Data: y = ±1 with probability ½ and x | y ~ N(0, (1 ± Δ)² I_d).  Network
ŷ(x) = (1/N) ∑_i σ(⟨w_i, x⟩), w_i ∈ R^d (no bias, output weights fixed to one), σ piecewise
linear: s1 for t ≤ t1, s2 for t ≥ t2, linear in between (the paper's values are believed to
be t1 = 0.5, t2 = 1.5, s1 = −2.5, s2 = 7.5 — UNVERIFIED, hence parameters).  Population risk
R = 1 + 2∫V dρ + ∬U dρ dρ with V(w) = v(‖w‖) and U(w, w') depending on the radii and the angle
(closed forms in :mod:`fokkerplanck.gaussian_integrals`).

For a spherically symmetric law ρ = ρ̄(dr) ⊗ Unif(S^{d−1}) everything reduces to the radius
r = ‖w‖: Ψ(w; ρ) = ψ(‖w‖; ρ̄) with

.. math::  \psi(r;\bar\rho) = v(r) + \int_0^\infty \bar u_d(r, r')\,\bar\rho(dr'),\qquad
           \bar u_d(r,r') = \sum_\ell w_\ell F_\ell(r) F_\ell(r'),

ū_d the average of U over the angle between two independent uniform directions, written as a
truncated Mehler series (K = O(20–40) terms for d ≥ 10; rank 2 for d = ∞).

Dynamics and the factor-2 convention (the one this package uses everywhere)
--------------------------------------------------------------------------
Noisy SGD, step s_k = ε ξ(kε), batch 1, fresh samples, g_i^k ~ N(0, I_d):

.. math::  w_i^{k+1} = (1 - 2\lambda s_k)\,w_i^k + 2 s_k\,(y_k - \hat y_k)\,\sigma'(\langle w_i^k, x_k\rangle)\,x_k
           + \sqrt{4 s_k/\beta}\;g_i^k ,

and its mean-field limit, with Ψ_λ(w; ρ) = Ψ(w; ρ) + λ‖w‖²/2,

.. math::  \partial_t\rho = 2\xi(t)\,\nabla\cdot(\rho\nabla\Psi_\lambda) + \frac{2\xi(t)}{\beta}\Delta\rho,
           \qquad \rho_* \propto e^{-\beta\Psi_\lambda(\cdot;\rho_*)} .

This is the generic Langevin pair (step h = 2 s_k on Ψ_λ, noise √(2h/β)): the noise adds the
variance 4 s_k/β = 4εξ/β per step, i.e. 4ξ/β = 2D per unit time, so the diffusion coefficient
is D = 2ξ/β, the one in the PDE.
The talk S004 prints the noise as √(2 s_k/β) together with the same PDE; that pair is
inconsistent by a factor 2 (math spec §1.3): its AR(1) stationary variance for V = U = 0 is
1/(2βλ), not the Gibbs value 1/(βλ).  With the √(4 s_k/β) noise used here the discrete
AR(1) recursion w ← (1 − 2λs)w + √(4s/β) g has stationary variance 1/(βλ(1 − λs)) → 1/(βλ)
(pinned by ``tests/test_isotropic_sgd.py::test_noise_convention_ar1_variance``).

Radial form (Itô for r = ‖w‖ brings the (d−1)/r term):

.. math::  \partial_t\bar\rho = 2\xi(t)\,\partial_r\Big[\bar\rho\,\partial_r\Big(\psi + \frac\lambda2 r^2
           - \frac{d-1}{\beta}\log r\Big) + \frac1\beta\,\partial_r\bar\rho\Big]
           = \frac{2\xi(t)}{\beta}\,\partial_r\big[\bar\rho\,\partial_r\Phi + \partial_r\bar\rho\big],

Φ = β(ψ + λr²/2) − (d−1) log r, zero flux at r = 0 and r = R; fixed point
ρ̄* ∝ r^{d−1} exp(−β(ψ(r; ρ̄*) + λr²/2)).  Without noise (β = ∞) it is pure transport,
∂_t ρ̄ = 2ξ ∂_r(ρ̄ ∂_r(ψ + λr²/2)), with no (d−1)/r term.

Both right-hand sides are ξ(t) times an operator that does not depend on t, so
ρ̄_t = ρ̄^{(ξ≡1)}_{τ(t)} with τ(t) = ∫_0^t ξ: the solver marches in τ and the schedule only
maps save times (exact for every schedule, discontinuous ones included).

Free energy (a Lyapunov function of both equations):
F(ρ̄) = ½R(ρ̄) + (λ/2)∫r² ρ̄ + β⁻¹ ∫ρ̄ (log ρ̄ − (d−1) log r) dr, i.e. ½R_λ − β⁻¹ Ent(ρ) up to the
constant log|S^{d−1}|, and F = ½R_λ without noise (so for λ = 0, β = ∞ the monitored quantity
is half the risk); dF/dt = −2ξ ∫ρ̄ |∂_r δF/δρ̄|² ≤ 0.

This module is light to import (the configuration schema is registered from
:mod:`fokkerplanck.config`); NumPy reference functionals, the finite-volume runner
(:func:`solve_isotropic`), the SGD runner (:func:`simulate_isotropic`) and the ``compare``
hooks (:func:`isotropic_comparator`) import their heavy parts lazily.
"""
from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .config import Field, finite, in_unit_interval, non_negative, positive
from .errors import InstabilityError, UserInputError

__all__ = ["KIND", "MODEL_FIELDS", "SECTIONS", "DIAGNOSTICS", "SGD_DIAGNOSTICS", "Schedule",
           "RadialGrid", "IsotropicModel", "IsotropicProblem", "build_isotropic",
           "solve_isotropic", "solve_isotropic_spectral", "simulate_isotropic", "isotropic_comparator",
           "gibbs_fixed_point", "sample_initial_weights"]

#: the ``[model] kind`` of this problem (also the ``problem`` attribute of its files)
KIND = "isotropic-gaussians"

#: snapshot quantities of the radial PDE, in file order
DIAGNOSTICS = ("risk", "mass", "mean_r", "free_energy", "min_density")
#: snapshot quantities of the SGD run, in file order
SGD_DIAGNOSTICS = ("risk", "mean_r", "mean_sq_r", "outside")


# ---------------------------------------------------------------------------- schema
def _delta_check(value) -> str | None:
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        return f"must be in [0, 1) (got {value!r})"
    return None


def _dim_check(value) -> str | None:
    if value == math.inf:
        return None
    if not (math.isfinite(value) and value >= 2 and float(value).is_integer()):
        return f"must be an integer >= 2, or \"infinite\" for d -> infinity (got {value!r})"
    return None


def _int_at_least(low: int):
    def check(value) -> str | None:
        if value < low:
            return f"must be >= {low} (got {value!r})"
        return None
    return check


MODEL_FIELDS: dict[str, Field] = {
    "kind": Field("str", doc="\"isotropic-gaussians\": the radial PDE of Mei-Montanari-Nguyen"),
    "delta": Field("float", check=_delta_check,
                   doc="Δ in [0, 1): x | y = ±1 ~ N(0, (1 ± Δ)² I_d)"),
    "dim": Field("dimension", check=_dim_check,
                 doc="input dimension d (integer >= 2), or \"infinite\" for the d -> ∞ "
                     "reduction"),
    "t1": Field("float", 0.5, check=finite, doc="activation: left kink t1 (σ = s1 for t <= t1)"),
    "t2": Field("float", 1.5, check=finite, doc="activation: right kink t2 > t1 (σ = s2 for t >= t2)"),
    "s1": Field("float", -2.5, check=finite, doc="activation: left level s1"),
    "s2": Field("float", 7.5, check=finite, doc="activation: right level s2"),
    "beta": Field("float", None, check=positive,
                  doc="inverse temperature β of noisy SGD (unset: noiseless)"),
    "lam": Field("float", 0.0, check=non_negative, doc="weight decay λ >= 0"),
    "xi": Field("str", "constant", choices=("constant", "power", "piecewise"),
                doc="step-size schedule ξ(t): constant ξ0, power ξ0 (t0 + t)^-a, or piecewise "
                    "constant"),
    "xi_scale": Field("float", 1.0, check=positive, doc="ξ0 of the constant and power schedules"),
    "xi_power": Field("float", None, check=non_negative, doc="exponent a of the power schedule"),
    "xi_offset": Field("float", 1.0, check=positive, doc="t0 > 0 of the power schedule"),
    "xi_times": Field("floats", None, check=positive,
                      doc="piecewise schedule: increasing switch times t_1 < ... < t_J"),
    "xi_values": Field("floats", None, check=positive,
                       doc="piecewise schedule: J + 1 values of ξ on [0, t_1), ..., [t_J, ∞)"),
}

SECTIONS: dict[str, dict[str, Field] | None] = {
    "data": None,
    "grid": {
        "cells": Field("int", check=_int_at_least(8), doc="radial cells M on [0, r_max]"),
        "r_max": Field("float", check=positive,
                       doc="outer radius R of the domain [0, R] (zero-flux wall)"),
    },
    "initial": {
        "kappa": Field("float", 1.0, check=positive,
                       doc="scale κ of the initial law w ~ N(0, κ²/d I_d): r = κ χ_k / √k"),
        "dof": Field("int", None, check=_int_at_least(1),
                     doc="degrees of freedom k of that χ law (default: [model] dim; required "
                         "when dim = inf)"),
    },
    "solver": {
        "method": Field("str", "finite-volume", choices=("finite-volume", "spectral"),
                        doc="numerical method: finite-volume, or spectral (Laguerre-Galerkin; "
                            "noisy runs with lam > 0 only)"),
        "stepper": Field("str", None, choices=("euler", "ssprk2", "ssprk3", "etdrk4-b",
                                               "etdrk4"),
                         doc="finite volume: explicit SSP Runge-Kutta scheme (default "
                             "ssprk2); spectral: etdrk4-b (default) or etdrk4"),
        "cfl": Field("float", 0.9, check=in_unit_interval,
                     doc="fraction of the positivity time-step bound used"),
        "limiter": Field("str", "mc", choices=("mc", "van-leer", "minmod", "none"),
                         doc="slope limiter of the noiseless (transport) scheme; none = "
                             "first-order upwind"),
        "kmax": Field("int", None, check=_int_at_least(0),
                      doc="Mehler truncation order of ū_d (default: measured order for "
                          "1e-10 accuracy)"),
        "dt_max": Field("float", None, check=positive, doc="largest time step (in τ)"),
        "dt": Field("float", None, check=positive,
                    doc="force this fixed time step (in τ), unchecked (experiments)"),
        "modes": Field("int", None, check=_int_at_least(2),
                       doc="spectral: Laguerre modes N (default 160)"),
        "rtol": Field("float", 1e-10, check=positive,
                      doc="spectral: local error per step, relative to the L2 norm of the "
                          "density ratio q"),
    },
    "particles": {
        "count": Field("int", 800, check=positive, doc="number of neurons N (simulate)"),
        "step": Field("float", 1e-5, check=positive,
                      doc="ε: SGD step s_k = ε ξ(kε), time t = kε"),
        "batch": Field("int", 1, check=positive,
                       doc="fresh samples per SGD step (mini-batch size)"),
        "seed": Field("int", 0, check=non_negative, doc="seed of the random generator"),
        "save_particles": Field("bool", False,
                                doc="store every neuron's weights at each save time "
                                    "(needed for --resume)"),
    },
}


# ---------------------------------------------------------------------------- schedule
@dataclass(frozen=True)
class Schedule:
    r"""Step-size schedule ξ(t) and its integral τ(t) = ∫_0^t ξ.

    ``kind``: ``"constant"`` ξ = ξ0; ``"power"`` ξ = ξ0 (t0 + t)^{−a} (the regularised
    power law t^{−a}; t0 → 0 approaches it); ``"piecewise"`` ξ = values[j] on
    [times[j−1], times[j]) with times[−1] = 0 and times[J] = ∞.
    """

    kind: str = "constant"
    scale: float = 1.0
    power: float = 0.0
    offset: float = 1.0
    times: tuple[float, ...] = ()
    values: tuple[float, ...] = ()

    #: integer code used by the SGD kernel (:func:`solvers._sgd_kernels.xi_at`)
    CODES = {"constant": 0, "power": 1, "piecewise": 2}

    @property
    def code(self) -> int:
        return self.CODES[self.kind]

    def xi(self, t):
        """ξ(t) (array or scalar)."""
        t = np.asarray(t, float)
        if self.kind == "constant":
            return np.full(t.shape, self.scale)[()] if t.ndim else self.scale
        if self.kind == "power":
            return self.scale * (self.offset + t) ** (-self.power)
        idx = np.searchsorted(np.asarray(self.times), t, side="right")
        return np.asarray(self.values)[idx]

    def tau(self, t):
        """τ(t) = ∫_0^t ξ(s) ds in closed form."""
        t = np.asarray(t, float)
        if self.kind == "constant":
            return self.scale * t
        if self.kind == "power":
            a, t0 = self.power, self.offset
            if a == 1.0:
                return self.scale * np.log((t0 + t) / t0)
            return self.scale * ((t0 + t) ** (1.0 - a) - t0 ** (1.0 - a)) / (1.0 - a)
        lo = np.concatenate([[0.0], self.times])
        hi = np.concatenate([self.times, [np.inf]])
        tt = t[..., None]
        return np.sum(np.asarray(self.values) * np.clip(np.minimum(tt, hi) - lo, 0.0, None),
                      axis=-1)

    def kernel_args(self) -> tuple:
        """(code, scale, power, offset, times, values) for the compiled SGD kernel."""
        return (self.code, float(self.scale), float(self.power), float(self.offset),
                np.asarray(self.times, float), np.asarray(self.values, float))


def schedule_from_config(model) -> Schedule:
    kind = model.xi
    for key, used in (("xi_power", kind == "power"),
                      ("xi_times", kind == "piecewise"), ("xi_values", kind == "piecewise")):
        if not used and model[key] is not None:
            raise UserInputError(f"[model] {key} is only used with xi = "
                                 f"{'power' if key == 'xi_power' else 'piecewise'!r} "
                                 f"(xi = {kind!r})")
    if kind == "constant":
        return Schedule("constant", model.xi_scale)
    if kind == "power":
        if model.xi_power is None:
            raise UserInputError("[model] xi_power is required with xi = 'power' "
                                 "(ξ(t) = xi_scale (xi_offset + t)^-xi_power)")
        return Schedule("power", model.xi_scale, model.xi_power, model.xi_offset)
    times, values = model.xi_times, model.xi_values
    if times is None or values is None:
        raise UserInputError("[model] xi_times and xi_values are required with xi = 'piecewise'")
    if len(values) != len(times) + 1:
        raise UserInputError(f"[model] xi_values needs len(xi_times) + 1 = {len(times) + 1} "
                             f"values (got {len(values)})")
    if any(b <= a for a, b in zip(times, times[1:])):
        raise UserInputError("[model] xi_times must be strictly increasing")
    return Schedule("piecewise", times=tuple(times), values=tuple(values))


# ---------------------------------------------------------------------------- grid
@dataclass(frozen=True)
class RadialGrid:
    """Uniform cell-centred grid of [0, R]: cell i is [i h, (i+1) h], h = R/M, centres > 0."""

    cells: int
    r_max: float
    names: tuple[str, ...] = ("r",)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.cells,)

    @property
    def ndim(self) -> int:
        return 1

    @cached_property
    def spacing(self) -> float:
        """Cell width h."""
        return self.r_max / self.cells

    @cached_property
    def edges(self) -> np.ndarray:
        return np.linspace(0.0, self.r_max, self.cells + 1)

    @cached_property
    def r(self) -> np.ndarray:
        """Cell centres (i + ½) h."""
        return (np.arange(self.cells) + 0.5) * self.spacing

    @property
    def centres(self) -> tuple[np.ndarray, ...]:
        return (self.r,)

    def integrate(self, values: np.ndarray) -> float:
        """Midpoint rule ∑ values · h."""
        return float(np.sum(values) * self.spacing)

    def chi_cell_averages(self, kappa: float, dof: float) -> tuple[np.ndarray, float]:
        """Exact cell averages of the law of r = κ χ_k/√k, renormalised on [0, R].

        P(r ≤ a) = P(χ²_k ≤ k a²/κ²) = regularised lower incomplete gamma(k/2, k a²/(2κ²)).
        Returns (density, mass outside [0, R] before renormalisation).
        """
        from scipy import special

        x = dof * self.edges ** 2 / (2.0 * kappa ** 2)
        lower = np.diff(special.gammainc(0.5 * dof, x))
        upper = -np.diff(special.gammaincc(0.5 * dof, x))
        mid = 0.5 * (self.edges[1:] + self.edges[:-1])
        masses = np.where(mid < kappa, lower, upper)       # no 1 − 1 cancellation
        outside = float(special.gammaincc(0.5 * dof, x[-1]))
        return masses / (masses.sum() * self.spacing), outside


# ---------------------------------------------------------------------------- model
@dataclass(frozen=True)
class IsotropicModel:
    r"""The radial problem: data (Δ, d), activation, noise (β, λ), schedule ξ.

    NumPy reference functionals ("twins" of the compiled kernels) on a :class:`RadialGrid`;
    a density is a vector of cell averages ρ̄_c, its cell masses p_c = ρ̄_c h.
    """

    delta: float
    dim: float
    t1: float = 0.5
    t2: float = 1.5
    s1: float = -2.5
    s2: float = 7.5
    beta: float | None = None
    lam: float = 0.0
    schedule: Schedule = field(default_factory=Schedule)
    kmax: int | None = None

    @cached_property
    def act(self):
        from .gaussian_integrals import PiecewiseLinear

        return PiecewiseLinear(self.t1, self.t2, self.s1, self.s2)

    @property
    def noisy(self) -> bool:
        return self.beta is not None

    @property
    def kmax_resolved(self) -> int:
        from .gaussian_integrals import default_kmax

        return default_kmax(self.dim) if self.kmax is None else int(self.kmax)

    # --- tables (functions of r only) ----------------------------------------------
    def v(self, r):
        """v(r) = −½ m((1+Δ)r) + ½ m((1−Δ)r)."""
        from .gaussian_integrals import v_radial

        return v_radial(r, self.delta, self.act)

    def factors(self, r) -> tuple[np.ndarray, np.ndarray]:
        """(F (M, K), w (K,)) with ū_d(r, r') = ∑_k w_k F_k(r) F_k(r')."""
        from .gaussian_integrals import interaction_factors

        return interaction_factors(r, self.delta, self.act, self.dim, self.kmax_resolved)

    def tables(self, grid: RadialGrid) -> dict[str, np.ndarray]:
        """Everything the schemes need at the cell centres (computed once per run)."""
        r = grid.r
        F, w = self.factors(r)
        return {"v": np.ascontiguousarray(self.v(r)), "F": np.ascontiguousarray(F),
                "w": np.ascontiguousarray(w), "r": r}

    # --- functionals ---------------------------------------------------------------
    def psi(self, density, grid: RadialGrid, tables=None) -> np.ndarray:
        """ψ(r_c; ρ̄) = v(r_c) + ∑_k w_k F_k(r_c) ∑_c' F_k(r_c') p_c' (no λ term)."""
        tab = tables or self.tables(grid)
        mom = tab["F"].T @ (np.asarray(density) * grid.spacing)
        return tab["v"] + tab["F"] @ (tab["w"] * mom)

    def potential(self, density, grid: RadialGrid, tables=None) -> np.ndarray:
        """ψ_λ = ψ + λ r²/2 at the centres."""
        return self.psi(density, grid, tables) + 0.5 * self.lam * grid.r ** 2

    def risk(self, density, grid: RadialGrid, tables=None) -> float:
        """R_h = 1 + 2 ∑ v_c p_c + ∑_k w_k (∑_c F_k(r_c) p_c)² (midpoint rule)."""
        tab = tables or self.tables(grid)
        p = np.asarray(density) * grid.spacing
        mom = tab["F"].T @ p
        return float(1.0 + 2.0 * tab["v"] @ p + tab["w"] @ mom ** 2)

    def free_energy(self, density, grid: RadialGrid, tables=None, risk=None) -> float:
        """F_h = ½R_h + (λ/2)∑ r_c² p_c [+ β⁻¹ ∑ p_c (log ρ̄_c − (d−1) log r_c)]."""
        from scipy.special import xlogy

        rho = np.asarray(density)
        p = rho * grid.spacing
        if risk is None:
            risk = self.risk(rho, grid, tables)
        value = 0.5 * risk + 0.5 * self.lam * float(grid.r ** 2 @ p)
        if self.noisy:
            ent = float(np.sum(xlogy(rho, np.clip(rho, 0.0, None))) * grid.spacing
                        - (self.dim - 1.0) * np.log(grid.r) @ p)
            value += ent / self.beta
        return value

    def diagnostics(self, density, grid: RadialGrid, tables=None) -> dict[str, float]:
        """The per-snapshot numbers of :data:`DIAGNOSTICS`."""
        rho = np.asarray(density)
        risk = self.risk(rho, grid, tables)
        return {"risk": risk, "mass": grid.integrate(rho),
                "mean_r": float(grid.r @ rho * grid.spacing),
                "free_energy": self.free_energy(rho, grid, tables, risk),
                "min_density": float(rho.min())}

    def gibbs(self, potential, grid: RadialGrid) -> np.ndarray:
        """Discrete Gibbs density ∝ r_c^{d−1} e^{−β ψ_λ,c}, normalised (noisy models only)."""
        log = (self.dim - 1.0) * np.log(grid.r) - self.beta * np.asarray(potential)
        g = np.exp(log - log.max())
        return g / (g.sum() * grid.spacing)


def gibbs_fixed_point(model: IsotropicModel, r_max: float, nodes: int = 400,
                      tol: float = 1e-13, max_iter: int = 100, method: str = "series"):
    r"""Self-consistent ρ̄* ∝ r^{d−1} e^{−β(ψ(r; ρ̄*) + λr²/2)}, independently of the PDE solver.

    Gauss–Legendre nodes r_i on [0, r_max] (not the cells), the *dense* kernel ū_d(r_i, r_j)
    from :func:`gaussian_integrals.u_radial` (``method="series"`` or the exact γ-quadrature
    ``"quadrature"``), no time stepping.  The unknown is ψ at the nodes: Newton's method with
    backtracking on H(ψ) = ψ − v − Ū W G(ψ) = 0, W = diag(quadrature weights),
    G(ψ) = r^{d−1} e^{−β(ψ+λr²/2)} / ∫(same) the normalised Gibbs density, whose Jacobian
    I + β Ū W (diag G − G (W G)ᵀ) is exact (the fixed point is the unique minimiser of the
    convex free energy, and Newton converges in ~10 iterations where plain damped iteration
    oscillates for large β).

    Returns
    -------
    evaluate : callable
        ``evaluate(r)`` → ρ̄*(r) at any radii (ψ by the same node quadrature).
    info : dict
        ``iterations``, final ``residual`` max|H|, ``risk`` R(ρ̄*), ``nodes``, ``weights``,
        ``density`` (ρ̄* at the nodes).
    """
    from numpy.polynomial.legendre import leggauss

    from .gaussian_integrals import u_radial

    if not model.noisy:
        raise ValueError("the Gibbs fixed point needs a noisy model (beta set)")
    x, wx = leggauss(nodes)
    r = 0.5 * r_max * (x + 1.0)
    wq = 0.5 * r_max * wx
    kw = {"kmax": model.kmax_resolved} if method == "series" else {}
    U = u_radial(r, r, model.delta, model.act, model.dim, method=method, **kw)
    v = model.v(r)
    beta, lam, dm1 = model.beta, model.lam, model.dim - 1.0
    base = dm1 * np.log(r) - 0.5 * beta * lam * r ** 2

    def gibbs(psi):
        log = base - beta * psi
        g = np.exp(log - log.max())
        return g / (wq @ g)

    def residual(psi):
        return psi - v - U @ (wq * gibbs(psi))

    psi = v.copy()
    res = residual(psi)
    norm = np.max(np.abs(res))
    it = 0
    for it in range(1, max_iter + 1):
        if norm < tol:
            break
        g = gibbs(psi)
        jac = np.eye(nodes) + beta * (U * (wq * g)[None, :]
                                      - np.outer(U @ (wq * g), wq * g))
        step = np.linalg.solve(jac, -res)
        theta = 1.0
        while True:
            trial = psi + theta * step
            res_t = residual(trial)
            norm_t = np.max(np.abs(res_t))
            if norm_t < norm or theta < 1e-6:
                break
            theta *= 0.5
        psi, res, norm = trial, res_t, norm_t
    rho = gibbs(psi)
    masses = wq * rho
    risk = float(1.0 + 2.0 * v @ masses + masses @ U @ masses)
    log_nodes = base - beta * psi
    shift = log_nodes.max()
    norm_z = wq @ np.exp(log_nodes - shift)

    def evaluate(radii):
        radii = np.asarray(radii, float)
        U_eval = u_radial(radii, r, model.delta, model.act, model.dim, method=method, **kw)
        psi_eval = model.v(radii) + U_eval @ masses
        log = dm1 * np.log(radii) - beta * (psi_eval + 0.5 * lam * radii ** 2)
        return np.exp(log - shift) / norm_z

    return evaluate, {"iterations": it, "residual": float(norm), "risk": risk, "nodes": r,
                      "weights": wq, "density": rho}


# ---------------------------------------------------------------------------- problem
#: largest radial grid accepted
MAX_CELLS = 10 ** 7
#: largest table F_k(r_c) accepted (cells x Mehler terms)
MAX_TABLE = 5 * 10 ** 7


@dataclass
class IsotropicProblem:
    """A validated ``kind = "isotropic-gaussians"`` configuration, nothing computed yet."""

    config: Any
    model: IsotropicModel
    grid: RadialGrid
    kappa: float
    dof: float


def model_from_config(config) -> IsotropicModel:
    m = config.model
    if not m.t1 < m.t2:
        raise UserInputError(f"[model] t1 must be < t2 (got t1 = {m.t1}, t2 = {m.t2})")
    dim = float(m.dim)
    if m.beta is not None and math.isinf(dim):
        raise UserInputError("[model] beta (noise) needs a finite [model] dim: the radial "
                             "noisy PDE has a (d - 1)/r drift that diverges as d -> inf")
    kmax = config.solver.kmax if "solver" in config and "kmax" in config.solver else None
    return IsotropicModel(delta=m.delta, dim=dim, t1=m.t1, t2=m.t2, s1=m.s1, s2=m.s2,
                          beta=m.beta, lam=m.lam, schedule=schedule_from_config(m), kmax=kmax)


def _advance_in_tau(scheme, state, schedule, times, taus, t_next: float, max_steps: int,
                    failure: str) -> float:
    """Advance a radial scheme (which marches in τ = ∫ξ) towards the save time ``t_next``.

    Returns ``t_next`` once its τ is reached, else the t of the τ reached (for the progress
    bar); a non-zero scheme status raises :class:`InstabilityError` with ``failure``.
    """
    k = int(np.argmin(np.abs(times - t_next)))
    if scheme.advance(state, float(taus[k]), max_steps=max_steps) != 0:
        raise InstabilityError(failure)
    if state.t >= taus[k]:
        return float(t_next)
    return _time_before(schedule, state.t, float(times[k - 1]) if k > 0 else 0.0,
                        float(t_next))


def _time_before(schedule, tau: float, lo: float, hi: float) -> float:
    """The t in [lo, hi) with τ(t) = ``tau`` (bisection on the monotone τ = ∫ξ), for the
    progress bar of a march in τ: strictly below ``hi`` so that the save loop goes on."""
    ceiling = float(np.nextafter(hi, -np.inf))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if schedule.tau(mid) < tau:
            lo = mid
        else:
            hi = mid
    return min(lo, ceiling)


def build_isotropic(config) -> IsotropicProblem:
    """Cross-section validation of an ``isotropic-gaussians`` configuration (no computing)."""
    from .run import check_snapshot_count

    model = model_from_config(config)
    dof = config.initial.dof
    if dof is None:
        if math.isinf(model.dim):
            raise UserInputError("[initial] dof is required when [model] dim = inf (the "
                                 "initial radius is kappa chi_dof / sqrt(dof))")
        dof = model.dim
    cells = config.grid.cells
    if cells > MAX_CELLS:
        raise UserInputError(f"[grid] cells = {cells} exceeds {MAX_CELLS:.0e}")
    if config.time.save_every > config.time.t_end:
        raise UserInputError(f"[time] save_every ({config.time.save_every}) must not exceed "
                             f"t_end ({config.time.t_end})")
    check_snapshot_count(config)
    rank = 2 if math.isinf(model.dim) else 2 * (model.kmax_resolved // 2 + 1)
    if cells * rank > MAX_TABLE:
        raise UserInputError(f"[grid] cells = {cells} with {rank} Mehler terms (d = "
                             f"{model.dim:g}) needs a {cells * rank * 8 / 2 ** 20:.0f} MiB "
                             f"table; lower [solver] kmax (error bound: "
                             f"gaussian_integrals.mehler_tail_bound) or the cells")
    grid = RadialGrid(cells, config.grid.r_max)
    _, outside = grid.chi_cell_averages(config.initial.kappa, dof)
    if outside > 1e-8:
        raise UserInputError(f"[grid] r_max = {grid.r_max:g} cuts off {outside:.2g} of the "
                             f"initial mass; increase it")
    return IsotropicProblem(config, model, grid, config.initial.kappa, float(dof))


# ---------------------------------------------------------------------------- solve
def solve_isotropic(config, output: Path | None, progress: bool | None,
                    resume: bool = False):
    """Runner of ``fokkerplanck solve`` for this kind (see :func:`fokkerplanck.run.solve`)."""
    from solvers.radial_fv import RadialFVScheme

    from .io import Recorder, check_writable
    from .run import (Result, check_state, drive, open_for_resume,
                      save_times)

    from solvers.steppers import STEPPERS

    if config.solver.stepper not in STEPPERS:
        raise UserInputError(f"[solver] stepper {config.solver.stepper!r} is not available "
                             "with method 'finite-volume' (use euler, ssprk2 or ssprk3)")
    prob = build_isotropic(config)
    if output is not None and not resume:
        check_writable(output)
    model, grid = prob.model, prob.grid
    sol = config.solver
    scheme = RadialFVScheme(model, grid, stepper=sol.stepper, cfl=sol.cfl,
                            limiter=sol.limiter,
                            dt_max=sol.dt_max if sol.dt_max is not None else np.inf,
                            dt_fixed=sol.dt if sol.dt is not None else 0.0)
    times = save_times(config.time.t_end, config.time.save_every)
    taus = model.schedule.tau(times)
    history: dict[str, list] = {name: [] for name in DIAGNOSTICS}
    density0, _ = grid.chi_cell_averages(prob.kappa, prob.dof)
    state = scheme.initial_state(density0)
    recorder = None
    if resume:
        recorder = open_for_resume(output, config)
        last = recorder.last()
        k = recorder.count - 1
        state.t = float(taus[k])
        state.density = np.ascontiguousarray(last["density"], dtype=float)
        state.shrink = float(last["solver/shrink"])
        state.steps = int(last["solver/steps"])
        for name in DIAGNOSTICS:
            history[name] = list(recorder.column(f"diagnostics/{name}"))
        mass0 = history["mass"][0]
    else:
        mass0 = grid.integrate(state.density)
        if output is not None:
            fields = {"density": grid.shape, "solver/shrink": (), "solver/steps": (),
                      "solver/tau": ()}
            fields.update({f"diagnostics/{name}": () for name in DIAGNOSTICS})
            recorder = Recorder(
                output, config.to_toml(), grid={"r": grid.r}, fields=fields,
                static={"grid/r_edges": grid.edges},
                attrs={"problem": KIND, "method": "finite-volume"},
                dims={"density": ("r",)})
    forced = sol.dt is not None
    hint = ("the forced [solver] dt exceeds the stability bound" if forced
            else "the time step exceeded the stability bound")
    tables = scheme.tables

    def record(t):
        diag = model.diagnostics(state.density, grid, tables)
        previous = history["free_energy"][-1] if history["free_energy"] else None
        check_state(t, state.density, diag["mass"], mass0, diag["free_energy"], previous, hint)
        for name in DIAGNOSTICS:
            history[name].append(diag[name])
        if recorder is not None:
            row = {"density": state.density, "solver/shrink": state.shrink,
                   "solver/steps": state.steps, "solver/tau": state.t}
            row.update({f"diagnostics/{k}": diag[k] for k in DIAGNOSTICS})
            recorder.append(t, row)

    chunk = max(1, int(2e7 // (grid.cells * max(1, scheme.rank))))

    def advance(t_next):
        return _advance_in_tau(scheme, state, model.schedule, times, taus, t_next, chunk,
                               f"the velocity became non-finite at t = {t_next:.6g}: {hint}")

    wall0 = _time.perf_counter()
    drive(times, float(times[recorder.count - 1]) if resume else float(times[0]), advance,
          record, recorder, output, progress, "solve", "solve", resume)
    diagnostics = {k: np.array(history[k]) for k in DIAGNOSTICS}
    return Result(config=config, time=np.array(times[:len(history["risk"])]),
                  diagnostics=diagnostics, density=state.density, grid=grid, path=output,
                  stats={"steps": state.steps, "rejected": state.rejected,
                         "wall_time": _time.perf_counter() - wall0})


#: spectral: cell averages may dip below 0 by the truncation error, not more than this
#: fraction of max ρ̄ (beyond it the run is under-resolved)
SPECTRAL_NEGATIVE_TOLERANCE = 1e-7
#: spectral: largest relative L2(μ) error of the projected initial law accepted
SPECTRAL_INITIAL_TOLERANCE = 1e-6


def solve_isotropic_spectral(config, output: Path | None, progress: bool | None,
                             resume: bool = False):
    """Runner of ``fokkerplanck solve`` with ``[solver] method = "spectral"`` (noisy, λ > 0).

    Laguerre–Galerkin in s = βλr²/2 (:mod:`solvers.radial_spectral`).  Same file layout as
    the finite-volume runner (``/density``: exact cell averages of the spectral density on
    the ``[grid]`` cells; ``/diagnostics/*``, ``/solver/tau``, ``/solver/steps``), plus
    ``/coefficients`` (T, N): the Laguerre coefficients from which a run is resumed or
    re-sampled exactly, and ``/solver/dt_next``.  ``mass`` is c_0, the mass on [0, ∞).
    """
    from solvers.radial_spectral import RadialSpectralScheme
    from solvers.spectral import ETD_STEPPERS

    from .io import Recorder, check_writable
    from .run import Result, check_state, drive, open_for_resume, save_times

    sol = config.solver
    if config.model.beta is None:
        raise UserInputError("[solver] method 'spectral' needs noise: set [model] beta (the "
                             "noiseless transport equation is solved by 'finite-volume')")
    if not config.model.lam > 0:
        raise UserInputError("[solver] method 'spectral' needs [model] lam > 0 (its Laguerre "
                             "weight is the noise-only Gibbs law r^(d-1) exp(-beta lam r^2/2))")
    if sol.stepper not in ETD_STEPPERS:
        raise UserInputError(f"[solver] stepper {sol.stepper!r} is not available with method "
                             "'spectral' (use 'etdrk4-b' or 'etdrk4', or leave it unset)")
    if sol.dt is not None:
        raise UserInputError("[solver] dt is not available with method 'spectral' (its steps "
                             "are error-controlled: set [solver] rtol)")
    prob = build_isotropic(config)
    model, grid = prob.model, prob.grid
    scheme = RadialSpectralScheme(model, sol.modes, sol.stepper, sol.rtol,
                                  sol.dt_max if sol.dt_max is not None else np.inf)
    try:
        scheme.check_initial(prob.kappa, prob.dof)
    except ValueError as exc:
        raise UserInputError(f"[initial] {exc} (method 'spectral')") from None
    if output is not None and not resume:
        check_writable(output)
    times = save_times(config.time.t_end, config.time.save_every)
    taus = model.schedule.tau(times)
    history: dict[str, list] = {name: [] for name in DIAGNOSTICS}
    state = scheme.initial_state(prob.kappa, prob.dof)
    init_error = scheme.initial_truncation_error(prob.kappa, prob.dof)
    if init_error > SPECTRAL_INITIAL_TOLERANCE:
        raise UserInputError(f"[solver] modes = {scheme.modes} resolve the initial law only to "
                             f"a relative L2 error {init_error:.2g}; increase them (dof = dim "
                             "converges fastest: dof < dim makes the density ratio singular at "
                             "r = 0)")
    recorder = None
    if resume:
        recorder = open_for_resume(output, config)
        last = recorder.last()
        k = recorder.count - 1
        state = scheme.state_from_coefficients(last["coefficients"], float(taus[k]))
        state.dt_next = float(last["solver/dt_next"]) or None
        state.steps = int(last["solver/steps"])
        for name in DIAGNOSTICS:
            history[name] = list(recorder.column(f"diagnostics/{name}"))
    elif output is not None:
        fields = {"density": grid.shape, "coefficients": scheme.shape, "solver/dt_next": (),
                  "solver/steps": (), "solver/tau": ()}
        fields.update({f"diagnostics/{name}": () for name in DIAGNOSTICS})
        recorder = Recorder(
            output, config.to_toml(), grid={"r": grid.r}, fields=fields,
            static={"grid/r_edges": grid.edges},
            attrs={"problem": KIND, "method": "spectral",
                   "basis": "rho(r) dr = mu(dr) * sum_k coefficients[k] * L_k^(a)(s) / "
                            "sqrt(binom(k + a, k)), s = beta lam r^2 / 2, a = d/2 - 1, mu = "
                            "law of s ~ Gamma(d/2, 1), L = generalised Laguerre polynomials",
                   "initial_truncation_error": init_error,
                   "quadrature": scheme.quadrature},
            coords={"mode": np.arange(scheme.modes)},
            dims={"density": ("r",), "coefficients": ("mode",)})
    mass0 = history["mass"][0] if history["mass"] else float(state.coefficients[0])
    hint = "increase [solver] modes or lower [solver] rtol"

    def record(t):
        c = state.coefficients
        if not np.isfinite(c).all():
            raise InstabilityError(f"non-finite coefficients at t = {t:.6g}: {hint}")
        diag = scheme.diagnostics(c, grid.edges)
        dens = diag["density"]
        if dens.min() < -SPECTRAL_NEGATIVE_TOLERANCE * np.abs(dens).max():
            raise InstabilityError(f"negative density {dens.min():.3g} at t = {t:.6g} "
                                   f"(beyond the truncation level): {hint}")
        previous = history["free_energy"][-1] if history["free_energy"] else None
        check_state(t, np.maximum(dens, 0.0), diag["mass"], mass0, diag["free_energy"],
                    previous, hint)
        for name in DIAGNOSTICS:
            history[name].append(diag[name])
        if recorder is not None:
            row = {"density": dens, "coefficients": c, "solver/dt_next": state.dt_next or 0.0,
                   "solver/steps": state.steps, "solver/tau": state.t}
            row.update({f"diagnostics/{k}": diag[k] for k in DIAGNOSTICS})
            recorder.append(t, row)

    def advance(t_next):
        return _advance_in_tau(scheme, state, model.schedule, times, taus, t_next, 64,
                               f"the step size collapsed at t = {t_next:.6g}: {hint}")

    wall0 = _time.perf_counter()
    drive(times, float(times[recorder.count - 1]) if resume else float(times[0]), advance,
          record, recorder, output, progress, "solve", "solve", resume)
    diagnostics = {k: np.array(history[k]) for k in DIAGNOSTICS}
    return Result(config=config, time=np.array(times[:len(history["risk"])]),
                  diagnostics=diagnostics,
                  density=scheme.cell_averages(state.coefficients, grid.edges), grid=grid,
                  path=output,
                  stats={"steps": state.steps, "rejected": state.rejected,
                         "rhs_evaluations": state.rhs_evaluations,
                         "initial_truncation_error": init_error,
                         "coefficients": state.coefficients,
                         "wall_time": _time.perf_counter() - wall0})


# ---------------------------------------------------------------------------- simulate
def sample_initial_weights(rng: np.random.Generator, count: int, dim: int, kappa: float,
                           dof: float) -> np.ndarray:
    """N initial neurons: N(0, κ²/d I_d) when dof = d (``rng.standard_normal((N, d))·κ/√d``),
    else uniform directions with radii κ χ_dof/√dof (``standard_normal((N, d))`` then
    ``chisquare(dof, N)``)."""
    g = rng.standard_normal((count, dim))
    if dof == dim:
        return g * (kappa / math.sqrt(dim))
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    radii = kappa * np.sqrt(rng.chisquare(dof, count) / dof)
    return g / norms * radii[:, None]


def simulate_isotropic(config, output: Path | None, progress: bool | None,
                       on_save=None, resume: bool = False):
    """Runner of ``fokkerplanck simulate`` for this kind: full-dimensional one-pass SGD.

    File layout (see the README): ``/time``, ``/radii`` (T, N), ``/histogram`` (T, M) (the
    radii's density on the ``[grid]`` cells), ``/diagnostics/{risk, mean_r, mean_sq_r,
    outside}`` (risk: exact population risk of the N-neuron network), ``/solver/steps``,
    ``/rng_state``, ``/particles`` (T, N, d) with ``save_particles``.
    """
    import json

    from solvers.sgd_isotropic import SGDScheme

    from .io import check_writable
    from .run import drive, open_for_resume, save_times
    from .simulation import SimulationResult, _ParticleRecorder, step_counts

    prob = build_isotropic(config)
    model, grid = prob.model, prob.grid
    if math.isinf(model.dim):
        raise UserInputError("simulate needs a finite [model] dim: the d -> inf reduction has "
                             "no finite-dimensional network to train")
    part = config.particles
    n, eps, seed, batch = part.count, part.step, part.seed, part.batch
    d = int(model.dim)
    if n * d > 2 * 10 ** 8:
        raise UserInputError(f"[particles] count = {n} neurons in d = {d} is too large")
    times = save_times(config.time.t_end, config.time.save_every)
    ks = step_counts(times, eps)
    if output is not None and not resume:
        check_writable(output)
    scheme = SGDScheme(model, n, eps, batch)
    rng = np.random.Generator(np.random.PCG64(seed))
    history: dict[str, list] = {k: [] for k in SGD_DIAGNOSTICS}
    recorder = None
    if resume:
        recorder = open_for_resume(output, config)
        last = recorder.last()
        if "particles" not in last or "rng_state" not in last:
            recorder.close()
            raise UserInputError(f"--resume {str(output)!r}: the neurons were not saved "
                                 "([particles] save_particles = false), so the run cannot "
                                 "be continued")
        text = last["rng_state"]
        rng.bit_generator.state = json.loads(text.decode() if isinstance(text, bytes) else text)
        state = scheme.state_from_weights(last["particles"], t=float(last["time"]),
                                          steps=int(round(last["solver/steps"])))
        for k in SGD_DIAGNOSTICS:
            history[k] = list(recorder.column(f"diagnostics/{k}"))
    else:
        state = scheme.initial_state(rng, prob.kappa, prob.dof)
        if output is not None:
            fields = {"radii": (n,), "histogram": grid.shape, "solver/steps": ()}
            fields.update({f"diagnostics/{k}": () for k in SGD_DIAGNOSTICS})
            coords = {"neuron": np.arange(n)}
            dims = {"radii": ("neuron",), "histogram": ("r",)}
            if part.save_particles:
                fields["particles"] = (n, d)
                coords["component"] = np.arange(1, d + 1)
                dims["particles"] = ("neuron", "component")
            recorder = _ParticleRecorder(
                output, config.to_toml(), grid={"r": grid.r}, fields=fields,
                static={"grid/r_edges": grid.edges},
                attrs={"problem": KIND, "method": "particles", "count": n, "step": eps,
                       "seed": seed, "batch": batch},
                coords=coords, dims=dims)

    def record(t):
        radii = scheme.radii(state)
        risk = scheme.risk(state)
        if not (np.isfinite(radii).all() and math.isfinite(risk)):
            raise InstabilityError(f"the weights became non-finite at t = {t:.6g}: "
                                   f"[particles] step = {eps:g} is too large")
        hist, _ = np.histogram(radii, bins=grid.edges)
        diag = {"risk": risk, "mean_r": float(radii.mean()),
                "mean_sq_r": float(np.mean(radii ** 2)),
                "outside": float(np.mean(radii > grid.r_max))}
        for k, v in diag.items():
            history[k].append(v)
        row = {"radii": radii, "histogram": hist / (n * grid.spacing),
               "particles": state.weights, "solver/steps": state.steps,
               "rng_state": json.dumps(rng.bit_generator.state)}
        row.update({f"diagnostics/{k}": v for k, v in diag.items()})
        if recorder is not None:
            recorder.append(t, row)
        if on_save is not None:
            on_save(t, row)

    per_step = n * batch  # neuron x sample evaluations (each a d-dimensional product)
    chunk = max(1, int(4e7 // per_step))          # ~0.1 s of work between progress updates
    steps0 = state.steps

    def advance(t_next):
        k_next = int(ks[np.argmin(np.abs(times - t_next))])
        todo = int(min(chunk, k_next - state.steps))
        if scheme.advance(state, todo, rng) != 0:
            raise InstabilityError(f"the network output became non-finite at "
                                   f"t = {state.t:.6g}: [particles] step = {eps:g} is too "
                                   "large")
        if state.steps == k_next:
            state.t = float(t_next)
        return state.t

    wall0 = _time.perf_counter()
    drive(times, state.t, advance, record, recorder, output, progress, f"simulate N={n}",
          "simulate", resume)
    wall = _time.perf_counter() - wall0
    done = state.steps - steps0
    diagnostics = {k: np.array(history[k]) for k in SGD_DIAGNOSTICS}
    return SimulationResult(
        config=config, time=np.array(times[:len(history["risk"])]),
        prediction=np.zeros((len(history["risk"]), 0)), diagnostics=diagnostics,
        particles=state.weights.copy(), path=output,
        stats={"steps": state.steps, "wall_time": wall, "evaluations": done * per_step,
               "evaluations_per_second": done * per_step / max(wall, 1e-12)})


# ---------------------------------------------------------------------------- compare
def _pde_row(f, k: int) -> dict:
    row = {"diagnostics/risk": float(f["diagnostics/risk"][k]), "density": f["density"][k]}
    r = f["grid/r"][()]
    if "grid/r_edges" in f:
        row["edges"] = f["grid/r_edges"][()]
    else:
        h = float(r[1] - r[0])
        row["edges"] = np.concatenate([r - 0.5 * h, [r[-1] + 0.5 * h]])
    return row


def _particle_radii(part) -> np.ndarray | None:
    if "radii" in part:
        return np.asarray(part["radii"], float)
    if "particles" in part:
        return np.linalg.norm(np.asarray(part["particles"], float), axis=-1)
    return None


def _metrics(pde, part) -> dict[str, float]:
    from .compare import w1_cells_vs_samples

    out = {}
    if "diagnostics/risk" in part:
        out["risk_pde"] = float(pde["diagnostics/risk"])
        out["risk_particles"] = float(part["diagnostics/risk"])
        out["risk_diff"] = out["risk_particles"] - out["risk_pde"]
    radii = _particle_radii(part)
    masses = np.asarray(pde["density"]) * np.diff(pde["edges"])
    out["w1_r"] = (math.nan if radii is None
                   else w1_cells_vs_samples(pde["edges"], masses, radii))
    return out


def _marginals(pde, part):
    from .compare import Marginal

    masses = np.asarray(pde["density"]) * np.diff(pde["edges"])
    return [Marginal("r", pde["edges"], masses, _particle_radii(part))]


def isotropic_comparator():
    """The :class:`~fokkerplanck.compare.Comparator` of this problem: risk difference and the
    exact W1 between ρ̄_t (piecewise constant on the cells) and the neurons' radii."""
    from .compare import Comparator

    return Comparator(_pde_row, _metrics, _marginals)


# ---------------------------------------------------------------------------- registration
from .config import register_model_kind  # noqa: E402  (config imports this module at its end)

register_model_kind(KIND, MODEL_FIELDS, sections=SECTIONS)
