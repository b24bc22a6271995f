r"""Finite-volume schemes for the radial mean-field PDE of the isotropic-Gaussians example.

Continuous problem (math spec §1.6, :mod:`fokkerplanck.isotropic`), in the time τ = ∫_0^t ξ
(both equations are ξ(t) times a τ-independent operator), on [0, R] with zero flux at r = 0
and r = R:

* noiseless (β = ∞):  ∂_τ ρ̄ = ∂_r(ρ̄ · 2∂_r ψ_λ),  ψ_λ = ψ(r; ρ̄) + λr²/2, a transport
  equation with velocity a = −2∂_r ψ_λ;
* noisy:  ∂_τ ρ̄ = (2/β) ∂_r(ρ̄ ∂_r Φ + ∂_r ρ̄),  Φ = β ψ_λ − (d−1) log r.

ψ(r_c; ρ̄) = v(r_c) + ∑_k w_k F_k(r_c) m_k, m_k = h∑_c F_k(r_c) ρ̄_c: the K-term factorisation of
ū_d, so ψ costs O(M K) per stage (tables F_k(r_c) computed once).

Discretisation
--------------
Uniform cells [c h, (c+1) h], centres r_c = (c + ½)h > 0, cell averages ρ̄_c.  Flux form
dρ̄_c/dτ = −(J_{c+½} − J_{c−½})/h, J = 0 on both walls.

*Noiseless — MUSCL upwind.*  Face velocity from centre differences
a_{c+½} = −2(ψ_λ,c+1 − ψ_λ,c)/h (second order at the face), flux
J = a⁺ ρ^L + a⁻ ρ^R with the limited linear reconstruction ρ^L_{c+½} = ρ̄_c + s_c/2,
ρ^R_{c+½} = ρ̄_{c+1} − s_{c+1}/2, s_c = lim(ρ̄_c − ρ̄_{c−1}, ρ̄_{c+1} − ρ̄_c) (MC by default;
minmod, van Leer, or none = first-order upwind), s = 0 in the two wall cells.

* Positivity: the TVD limiters keep both face values of a cell in [0, 2ρ̄_c] (they sum to
  2ρ̄_c), so a forward Euler step keeps ρ̄ ≥ 0 when Δτ · 2 max_f |a_f| / h ≤ 1 (first order:
  Δτ max_c (a⁺_{c+½} + a⁻_{c−½})/h ≤ 1); SSP Runge–Kutta inherits it.  Point masses — the
  density piles into a few cells where a changes sign — stay non-negative and free of
  oscillations (the limiter drops to first order at the extremum).
* Energy: with δF_h/δp_c = ψ_λ,c (F_h = ½R_h + (λ/2)∑r²p), the semi-discrete scheme satisfies
  dF_h/dτ = ∑_f J_f (ψ_λ,f+1 − ψ_λ,f) = −(2/h)∑_f ρ^{up}_f (ψ_λ,f+1 − ψ_λ,f)² ≤ 0 for every
  non-negative reconstruction: the discrete risk (λ = 0) cannot increase — which is why the
  face velocity is a difference of ψ at centres, not ∂_rψ evaluated at the face.
* Accuracy: second order where the solution is smooth, first order at extrema.

*Noisy — Scharfetter–Gummel.*  J_{c+½} = (D/h)[B(v) ρ̄_c − B(−v) ρ̄_{c+1}], v = Φ_{c+1} − Φ_c,
D = 2/β, B(v) = v/(eᵛ − 1).  Φ_c is finite because r_c > 0.

* Discrete Gibbs state: J = 0 iff ρ̄_{c+1}/ρ̄_c = e^{−v}, so ρ̄_c ∝ r_c^{d−1} e^{−β ψ_λ,c} is an
  *exact* stationary state for a frozen ψ; the self-consistent one is the minimiser of
  F_h = ½R_h + (λ/2)∑r²p + β⁻¹∑ p(log ρ̄ − (d−1) log r).
* Positivity for Δτ max_c (D/h²)(B(v_{c+½}) + B(−v_{c−½})) ≤ 1 (B > 0, monotone scheme);
  mass is conserved to round-off; F_h decays along the semi-discrete flow (same argument as
  in :mod:`solvers.finite_volume`).
* Accuracy: second order in h for bounded cell Péclet numbers, first-order upwind where
  |v| ≫ 1 (large β/h), which is the transport limit.

Time stepping: SSP Runge–Kutta in Shu–Osher form (:mod:`solvers.steppers`), ψ re-evaluated at
every stage, Δτ = cfl / rate at the start of each step with a rejection if a later stage's
own bound is violated, shortened to land exactly on every output τ (compiled marcher
:func:`solvers._radial_kernels.advance`).

References: B. van Leer, J. Comput. Phys. 32 (1979) (MUSCL); D. L. Scharfetter and
H. K. Gummel, IEEE Trans. Electron Devices 16 (1969); S. Gottlieb, C.-W. Shu, E. Tadmor,
SIAM Rev. 43 (2001) (SSP Runge–Kutta).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _radial_kernels as kern
from .steppers import STEPPERS

__all__ = ["RadialFVScheme", "RadialState", "rhs_reference", "limited_slopes_reference"]


@dataclass
class RadialState:
    """τ, the cell averages and the step controller's state."""

    t: float
    density: np.ndarray
    steps: int = 0
    rejected: int = 0
    last_dt: float = 0.0
    shrink: float = 1.0


def limited_slopes_reference(p: np.ndarray, limiter: str) -> np.ndarray:
    """Limited slopes s_c (NumPy twin of the kernel), zero in the wall cells."""
    s = np.zeros_like(p)
    if limiter == "none":
        return s
    dl = p[1:-1] - p[:-2]
    dr = p[2:] - p[1:-1]
    same = dl * dr > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if limiter == "minmod":
            val = np.where(np.abs(dl) < np.abs(dr), dl, dr)
        elif limiter == "van-leer":
            val = 2 * dl * dr / np.where(same, dl + dr, 1.0)
        else:
            centred = 0.5 * (dl + dr)
            lim = np.where(np.abs(dl) < np.abs(dr), 2 * dl, 2 * dr)
            val = np.where(np.abs(centred) < np.abs(lim), centred, lim)
    s[1:-1] = np.where(same, val, 0.0)
    return s


def _bernoulli(v):
    v = np.asarray(v, float)
    out = np.ones_like(v)
    nz = v != 0
    with np.errstate(over="ignore"):
        out[nz] = v[nz] / np.expm1(v[nz])
    return out


def rhs_reference(model, grid, density, limiter: str = "mc") -> np.ndarray:
    """L_h(ρ̄) from the definitions, in NumPy (slow; for testing the kernels)."""
    rho = np.asarray(density, float)
    h = grid.spacing
    psi = model.potential(rho, grid)
    flux = np.zeros(rho.size + 1)
    if not model.noisy:
        vel = -2.0 * np.diff(psi) / h
        s = limited_slopes_reference(rho, limiter)
        left = rho[:-1] + 0.5 * s[:-1]
        right = rho[1:] - 0.5 * s[1:]
        flux[1:-1] = np.where(vel > 0, vel * left, vel * right)
    else:
        phi = model.beta * psi - (model.dim - 1.0) * np.log(grid.r)
        v = np.diff(phi)
        D = 2.0 / model.beta
        flux[1:-1] = D / h * (_bernoulli(v) * rho[:-1] - _bernoulli(-v) * rho[1:])
    return -(flux[1:] - flux[:-1]) / h


class RadialFVScheme:
    """The discrete operator of the radial PDE and its compiled time marcher.

    Parameters
    ----------
    model : IsotropicModel
        Provides ``tables(grid)`` (v, F, w at the centres), ``noisy``, ``beta``, ``lam``,
        ``dim``.
    grid : RadialGrid
    stepper : {"euler", "ssprk2", "ssprk3"}
    cfl : float
        Fraction (0, 1] of the positivity bound used for Δτ.
    limiter : {"mc", "van-leer", "minmod", "none"}
        Reconstruction of the noiseless (transport) scheme; ignored with noise.
    dt_max : float
        Largest Δτ.
    dt_fixed : float
        If > 0, every step uses this Δτ, unchecked (experiments only).
    """

    def __init__(self, model, grid, stepper: str = "ssprk2", cfl: float = 0.9,
                 limiter: str = "mc", dt_max: float = np.inf, dt_fixed: float = 0.0):
        if stepper not in STEPPERS:
            raise ValueError(f"unknown stepper {stepper!r}")
        if limiter not in kern.LIMITER_CODES:
            raise ValueError(f"unknown limiter {limiter!r}")
        if not 0 < cfl <= 1:
            raise ValueError("cfl must be in (0, 1]")
        self.model = model
        self.grid = grid
        self.stepper = stepper
        self.cfl = float(cfl)
        self.limiter = limiter
        self.dt_max = float(dt_max)
        self.dt_fixed = float(dt_fixed)
        self._a, self._b = STEPPERS[stepper].arrays()
        self.tables = model.tables(grid)
        r = grid.r
        self.h = float(grid.spacing)
        self.v = self.tables["v"]
        self.F = self.tables["F"]
        self.w = self.tables["w"]
        self.quad = np.ascontiguousarray(0.5 * model.lam * r ** 2)
        self.logr = np.ascontiguousarray(np.log(r))
        self.mode = 1 if model.noisy else 0
        self.beta = float(model.beta) if model.noisy else 0.0
        self.D = 2.0 / self.beta if model.noisy else 0.0
        self.dm1 = float(model.dim - 1.0) if model.noisy else 0.0
        self.limiter_code = kern.LIMITER_CODES[limiter]
        m = grid.cells
        self._s1 = np.empty(m)
        self._s2 = np.empty(m)
        self._mom = np.empty(self.F.shape[1])
        self._psi = np.empty(m)
        self._vel = np.empty(max(m - 1, 1))
        self._cp = np.empty(max(m - 1, 1))
        self._cm = np.empty(max(m - 1, 1))
        self._slope = np.empty(m)
        self._flux = np.empty(max(m - 1, 1))

    @property
    def rank(self) -> int:
        """Number K of terms of the factorised interaction."""
        return self.F.shape[1]

    def initial_state(self, density, t0: float = 0.0) -> RadialState:
        return RadialState(t0, np.ascontiguousarray(density, dtype=float).copy())

    def _coefficients(self, density) -> float:
        p = np.ascontiguousarray(density, dtype=float)
        kern.potential(p, self.h, self.v, self.quad, self.F, self.w, self._mom, self._psi)
        return kern.coefficients(self._psi, self.mode, self.limiter_code, self.h, self.D,
                                 self.beta, self.dm1, self.logr, self._vel, self._cp, self._cm)

    def psi(self, density) -> np.ndarray:
        """ψ_λ at the centres by the compiled kernel."""
        self._coefficients(density)
        return self._psi.copy()

    def rhs(self, density) -> np.ndarray:
        """L_h(ρ̄) by the compiled stage (out = p + 1·L_h(p) with a = 0, b = 1)."""
        p = np.ascontiguousarray(density, dtype=float)
        self._coefficients(p)
        out = np.empty_like(p)
        kern.apply_stage(p, p, out, 0.0, 1.0, 1.0, self.mode, self.limiter_code, self.h,
                         self._vel, self._cp, self._cm, self._slope, self._flux)
        return out - p

    def max_stable_dt(self, density) -> float:
        """1 / rate: the forward-Euler positivity bound on Δτ from ``density``."""
        return 1.0 / self._coefficients(density)

    def advance(self, state: RadialState, t_end: float, max_steps: int = 2 ** 62) -> int:
        """Advance ``state`` in place towards τ = ``t_end`` (exactly), at most ``max_steps`` steps.

        Returns 0 on success, 1 if ψ became non-finite (state left at the last good step).
        """
        p = state.density
        if not (p.flags.c_contiguous and p.dtype == np.float64):
            raise ValueError("the density must be a C-contiguous float64 array")
        t, steps, rejected, dt, status, shrink = kern.advance(
            p, self._s1, self._s2, float(state.t), float(t_end), int(max_steps), self._a,
            self._b, self.cfl, float(state.shrink), self.dt_fixed, self.dt_max, self.mode,
            self.limiter_code, self.h, self.v, self.quad, self.F, self.w, self.D, self.beta,
            self.dm1, self.logr, self._mom, self._psi, self._vel, self._cp, self._cm,
            self._slope, self._flux)
        state.t = t
        state.steps += steps
        state.rejected += rejected
        state.last_dt = dt
        state.shrink = shrink
        return status
