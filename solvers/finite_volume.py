r"""Structure-preserving finite-volume scheme for PDE (3.4) on the box [−L, L]^{d+1}.

Continuous problem
------------------
With the potential :math:`W(\theta,u) = u\,A(\theta) + \frac{\lambda}{2}(|\theta|^2+u^2)`,
:math:`A(\theta) = \frac{2\alpha}{n}\sum_i r_i\,h(\theta,x_i)`, PDE (3.4) is

.. math::  \partial_t p = \nabla\cdot J,\qquad -J = p\nabla W + \lambda\nabla p
           = \lambda\,e^{-W/\lambda}\nabla\big(p\,e^{W/\lambda}\big),

with zero flux on the walls of the box (math spec §2.3; :mod:`fokkerplanck.models`).

Discretisation
--------------
Cell averages :math:`p_c` on a uniform cell-centred grid.  Through the face between cells L
and R (spacing h along the face normal) the flux is the Scharfetter–Gummel / exponential
fitting flux

.. math::  J_{L|R} = \frac{\lambda}{h}\big[B(v)\,p_L - B(-v)\,p_R\big],\qquad
           v = \frac{W_R - W_L}{\lambda},\qquad B(v) = \frac{v}{e^v - 1},

i.e. the exact flux of the 1-D two-point boundary value problem with constant J between the
two centres.  Why this flux (rather than central or upwind):

* **Mass** — the update is in flux form, :math:`\frac{d}{dt}p_c = \frac1{|c|}\sum_{faces}\pm J\,|face|`,
  and wall fluxes are zero, so :math:`\sum_c p_c|c|` is conserved to round-off.
* **Positivity** — B > 0, so the scheme is monotone: the off-diagonal coefficients
  (λ/h²)B(±v) are non-negative for *every* Péclet number (central differencing loses this
  for |v| > 2).  A forward Euler step keeps p ≥ 0 when Δt · max_c ∑_faces (λ/h²) B(±v) ≤ 1
  (:func:`solvers._fv_kernels.positivity_rate` bounds this sum in O(N_θ^d)).
* **Discrete Gibbs state** — since B(−v) = eᵛ B(v), J = 0 exactly when
  :math:`p_R/p_L = e^{-(W_R-W_L)/\lambda}`: the grid function :math:`p_c \propto e^{-W_c/\lambda}`
  is an exact stationary state for a frozen potential (no O(h²) equilibrium error).
* **Free-energy dissipation** — with :math:`f_h(x_i) = \alpha\sum_c u_c h(\theta_c,x_i)p_c|c|`
  (midpoint rule) the discrete first variation of :math:`L_h` is exactly :math:`u_cA(\theta_c)`,
  and writing :math:`\rho = p\,e^{W/\lambda}`, J = (λ/h) B(v)e^{−W_L/λ}(ρ_L − ρ_R), so the
  semi-discrete scheme satisfies
  :math:`\frac{d}{dt}Q_h = -\frac{\lambda^2}{h^2}\sum_{faces} B(v)e^{-W_L/\lambda}(\rho_R-\rho_L)(\log\rho_R-\log\rho_L)|c| \le 0`
  for :math:`Q_h = L_h + \lambda\sum_c p_c\log(p_c/p_{0,c})|c|`.
* **Accuracy** — second order in h for smooth solutions (the SG flux is consistent to
  O(h²) on uniform grids for any v); it reduces to upwinding only where |v| ≫ 1.

The nonlocal part costs O(n·N_θ^d + cells) per stage: the u-moment
:math:`m_1(\theta)=\sum_j u_j p\,\Delta u` is accumulated while the previous stage is written,
then :math:`f_i` and :math:`A(\theta)` are O(n N_θ^d) sums over a stored table of
:math:`h(\theta_c, x_i)`; the per-face exponentials are products of per-axis factors
(:mod:`solvers._fv_kernels`).

Time stepping
-------------
SSP Runge–Kutta (:mod:`solvers.steppers`) with the nonlocal coupling re-evaluated at every
stage, or (``stepper = "implicit-split"``) a linearly-implicit Lie splitting: the coupling is
frozen at p^n and (I − Δt L_axis) is inverted line by line (tridiagonal M-matrices whose
columns sum to one), which keeps mass, positivity and the frozen Gibbs state for every Δt and
removes the diffusive bound 2λ/h²; Δt is then limited by the advective part of the bound (and
``dt_max``), at first order in time.  Δt = cfl / rate(A) from the positivity bound at the start of each step, re-checked at
every stage (a stage that would violate it rejects the step), and shortened to land exactly on
each output time.  For diffusion-limited steps Δt ≈ cfl·h²/(2λ(d+1)), so the time error
O(Δt^q) is far below the O(h²) spatial error for every stepper offered.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fokkerplanck.grids import BoxGrid
from fokkerplanck.models import NoisyGDModel, u_moments

from . import _fv_kernels as kern
from .steppers import STEPPERS, ShuOsher

__all__ = ["FiniteVolumeScheme", "FVState", "sg_flux_reference", "rhs_reference", "IMPLICIT",
           "STEPPER_NAMES"]

#: the linearly-implicit, dimension-split stepper (:func:`solvers._fv_kernels.implicit_split_step`)
IMPLICIT = "implicit-split"
#: every time-stepping choice of ``[solver] stepper``
STEPPER_NAMES = (*STEPPERS, IMPLICIT)


@dataclass
class FVState:
    """Time and cell averages of the density (shape = grid shape)."""

    t: float
    density: np.ndarray
    steps: int = 0
    rejected: int = 0
    last_dt: float = 0.0
    shrink: float = 1.0  # step-size controller state (see solvers._fv_kernels.advance)


def _bernoulli_ref(v):
    """B(v) = v/(eᵛ − 1) with B(0) = 1 (NumPy, for the reference twin)."""
    v = np.asarray(v, float)
    out = np.ones_like(v)
    mid = (v != 0) & (v < 700.0)
    out[mid] = v[mid] / np.expm1(v[mid])
    big = v >= 700.0
    out[big] = v[big] * np.exp(-v[big])  # eᵛ would overflow; B(v) = v e⁻ᵛ/(1 − e⁻ᵛ)
    return out


def sg_flux_reference(p, w, lam, h, axis):
    """Scharfetter–Gummel fluxes through the interior faces along ``axis`` (NumPy twin)."""
    p_l = np.take(p, np.arange(p.shape[axis] - 1), axis=axis)
    p_r = np.take(p, np.arange(1, p.shape[axis]), axis=axis)
    w_l = np.take(w, np.arange(w.shape[axis] - 1), axis=axis)
    w_r = np.take(w, np.arange(1, w.shape[axis]), axis=axis)
    v = (w_r - w_l) / lam
    return (lam / h) * (_bernoulli_ref(v) * p_l - _bernoulli_ref(-v) * p_r)


def rhs_reference(model: NoisyGDModel, grid: BoxGrid, p: np.ndarray) -> np.ndarray:
    """L_h(p) computed with NumPy from the definitions (slow; for testing the kernels)."""
    f = model.prediction(p, grid)
    w = np.broadcast_to(model.potential(model.coupling(f, grid), grid), grid.shape)
    out = np.zeros_like(p)
    for axis, h in enumerate(grid.spacing):
        flux = sg_flux_reference(p, w, model.lam, h, axis)
        pad = [(0, 0)] * p.ndim
        pad[axis] = (1, 1)
        flux = np.pad(flux, pad)
        lo = np.take(flux, np.arange(p.shape[axis]), axis=axis)
        hi = np.take(flux, np.arange(1, p.shape[axis] + 1), axis=axis)
        out += (lo - hi) / h
    return out


@dataclass
class FiniteVolumeScheme:
    """The discrete operator L_h of (3.4) on ``grid`` and its compiled time marcher.

    Parameters
    ----------
    model : NoisyGDModel
    grid : BoxGrid
        Axes (θ₁[, θ₂], u); d = 1 or 2.
    stepper : str
        Key of :data:`solvers.steppers.STEPPERS`, or ``"implicit-split"``.
    cfl : float
        Fraction (0, 1] of the positivity bound used for Δt (of its advective part for the
        implicit stepper).
    dt_max : float
        Upper limit of Δt (matters for the implicit stepper, whose bound can be large).
    dt_fixed : float
        If > 0, every explicit step uses exactly this Δt, unchecked (experiments only).
    """

    model: NoisyGDModel
    grid: BoxGrid
    stepper: str = "ssprk2"
    cfl: float = 0.9
    dt_max: float = np.inf
    dt_fixed: float = 0.0
    _tableau: ShuOsher | None = field(init=False, repr=False)

    def __post_init__(self):
        d = self.model.dim
        if d not in (1, 2) or self.grid.ndim != d + 1:
            raise ValueError("the finite-volume scheme needs d = 1 or 2 and a (d+1)-D grid")
        if self.stepper not in STEPPER_NAMES:
            raise ValueError(f"unknown stepper {self.stepper!r}")
        if not 0 < self.cfl <= 1:
            raise ValueError("cfl must be in (0, 1]")
        if not self.dt_max > 0:
            raise ValueError("dt_max must be > 0")
        self._tableau = STEPPERS.get(self.stepper)
        g = self.grid
        n1 = g.cells[0]
        n2 = g.cells[1] if d == 2 else 1
        nu = g.cells[-1]
        self.kernel_shape = (n1, n2, nu)
        h = self.model.h_table(g)
        self.h_table = np.ascontiguousarray(h.reshape(self.model.data.n, n1, n2))
        x2 = (self.model.data.x ** 2).sum(axis=1)
        dh = self.model.dh_table(g).reshape(self.model.data.n, n1, n2)
        self.s0_table = np.ascontiguousarray((self.h_table ** 2).sum(axis=0))
        self.s2_table = np.ascontiguousarray((dh ** 2 * x2[:, None, None]).sum(axis=0))
        self.y = np.ascontiguousarray(self.model.data.y)
        self.vol_theta = float(np.prod(g.spacing[:-1]))
        u = g.centres[-1]
        du = g.spacing[-1]
        self.u = np.ascontiguousarray(u)
        self.du = float(du)
        self.eu = np.exp(du * 0.5 * (u[1:] + u[:-1]))
        th1 = g.centres[0]
        self.dth1 = float(g.spacing[0])
        self.th1_face = 0.5 * (th1[1:] + th1[:-1])
        self.e1 = np.exp(self.dth1 * self.th1_face)
        if d == 2:
            th2 = g.centres[1]
            self.dth2 = float(g.spacing[1])
            self.th2_face = 0.5 * (th2[1:] + th2[:-1])
        else:  # a dummy axis of one cell: no θ2 faces
            self.dth2 = 1.0
            self.th2_face = np.zeros(0)
        self.e2 = np.exp(self.dth2 * self.th2_face)
        self._alloc_work()

    def _alloc_work(self):
        n1, n2, nu = self.kernel_shape
        n = self.model.data.n
        self._s1 = np.empty(self.kernel_shape)
        self._s2 = np.empty(self.kernel_shape)
        self._m1 = np.empty((3, n1, n2))  # u-moments q = 0, 1, 2 of p, s1, s2
        self._m1_s1 = np.empty((3, n1, n2))
        self._m1_s2 = np.empty((3, n1, n2))
        self._f = np.empty(n)
        self._A = np.empty((n1, n2))
        self._flux1 = np.empty((n2, nu))
        self._flux2_lo = np.empty(nu)
        self._flux2_hi = np.empty(nu)
        self._flux_u = np.empty(nu + 1)
        self._expcu = np.empty(nu)
        longest = max(self.kernel_shape)
        self._line_work = tuple(np.empty(longest) for _ in range(7))

    # ------------------------------------------------------------------ state
    def initial_state(self, mean, std, t0: float = 0.0) -> FVState:
        """Exact cell averages of a Gaussian, normalised to mass 1 on the box."""
        return FVState(t0, np.ascontiguousarray(self.grid.gaussian_cell_averages(mean, std)))

    def _view(self, density):
        if not (density.flags.c_contiguous and density.dtype == np.float64):
            raise ValueError("the density must be a C-contiguous float64 array")
        return density.reshape(self.kernel_shape)

    # ------------------------------------------------------------------ operator
    def coupling(self, density) -> tuple[np.ndarray, np.ndarray]:
        """(f(p, x_i), A(θ)) computed by the compiled kernel."""
        p = self._view(density)
        m1 = np.ascontiguousarray(u_moments(p, self.grid, 1))
        f = np.empty(self.model.data.n)
        A = np.empty(m1.shape)
        kern.coupling(m1, self.h_table, self.y, self.model.alpha, self.vol_theta, f, A)
        return f, A

    def rhs(self, density) -> np.ndarray:
        """L_h(p) by the compiled stage kernel (out = p + L_h(p) with a = 0, b = 1, Δt = 1)."""
        p = self._view(np.ascontiguousarray(density, float))
        _, A = self.coupling(p.reshape(self.grid.shape))
        out = np.empty_like(p)
        mom = np.empty((3, *A.shape))
        self._stage(p, p, out, 0.0, 1.0, 1.0, A, mom)
        return (out - p).reshape(self.grid.shape)

    def _stage(self, p_old, p_in, out, a, b, dt, A, mom_out):
        kern.sg_stage(p_old, p_in, out, a, b, dt, A, self.model.lam, self.u, self.du, self.eu,
                      self.dth1, self.th1_face, self.e1, self.dth2, self.th2_face, self.e2,
                      self._flux1, self._flux2_lo, self._flux2_hi, self._flux_u, self._expcu,
                      mom_out)

    def nonlocal_rate(self, density) -> float:
        """(2α²/n) tr H(p): the explicit coupling needs Δt times this ≲ 1."""
        mom = np.empty((3, *self.kernel_shape[:2]))
        kern.u_moments3(self._view(density), self.u, self.du, mom)
        return kern.nonlocal_rate(mom, self.s0_table, self.s2_table, float(self.model.alpha),
                                  self.vol_theta, self.model.data.n)

    def max_stable_dt(self, density) -> float:
        """The positivity bound 1/rate(A) of a forward Euler step from ``density``."""
        _, A = self.coupling(density)
        rate = kern.positivity_rate(A, self.model.lam, self.du, self.u[0], self.u[-1],
                                    self.dth1, self.th1_face, self.dth2, self.th2_face)
        return 1.0 / rate

    # ------------------------------------------------------------------ time marching
    def advance(self, state: FVState, t_end: float, max_steps: int = 2 ** 62) -> int:
        """Advance ``state`` in place towards ``t_end`` (exactly), at most ``max_steps`` steps.

        Returns the status of the compiled marcher: 0 on success, 1 if the coupling became
        non-finite (the state is then left at the last good step).
        """
        p = self._view(state.density)
        kern.u_moments3(p, self.u, self.du, self._m1)
        if self._tableau is None:
            t, steps, rejected, dt, status, _ = kern.advance_implicit(
                p, self._m1, float(state.t), float(t_end), int(max_steps), float(self.cfl),
                float(self.dt_max), self.h_table, self.s0_table, self.s2_table, self.y,
                float(self.model.alpha),
                self.vol_theta, float(self.model.lam), self.u, self.du, self.dth1,
                self.th1_face, self.dth2, self.th2_face, self._f, self._A, *self._line_work)
            state.t = t
            state.steps += steps
            state.last_dt = dt
            return status
        a, b = self._tableau.arrays()
        t, steps, rejected, dt, status, shrink = kern.advance(
            p, self._s1, self._s2, self._m1, self._m1_s1, self._m1_s2, float(state.t),
            float(t_end), int(max_steps), a, b, float(self.cfl), self.h_table, self.s0_table,
            self.s2_table, self.y,
            float(self.model.alpha), self.vol_theta, float(self.model.lam), self.u, self.du,
            self.eu, self.dth1, self.th1_face, self.e1, self.dth2, self.th2_face, self.e2,
            self._f, self._A, self._flux1, self._flux2_lo, self._flux2_hi, self._flux_u,
            self._expcu, float(state.shrink), float(self.dt_fixed))
        state.t = t
        state.steps += steps
        state.rejected += rejected
        state.last_dt = dt
        state.shrink = shrink
        return status
