r"""Laguerre–Galerkin spectral solver for the *noisy* radial PDE of the isotropic example.

Continuous problem (:mod:`fokkerplanck.isotropic`), in τ = ∫_0^t ξ, on r ∈ [0, ∞) with zero
flux at r = 0:

.. math::  \partial_\tau\bar\rho = \frac2\beta\,\partial_r\big[\bar\rho\,\partial_r\Phi
           + \partial_r\bar\rho\big],\qquad
           \Phi = \beta\big(\psi(r;\bar\rho) + \tfrac\lambda2 r^2\big) - (d-1)\log r .

Basis (why this one)
--------------------
Let :math:`s = a r^2`, :math:`a = \beta\lambda/2`, and μ the noise-only Gibbs law
(ψ ≡ 0): :math:`\mu(dr) \propto r^{d-1}e^{-\beta\lambda r^2/2}dr`, i.e. s ~ Gamma(α + 1, 1),
α = d/2 − 1 (the χ law of |w| for w ~ N(0, I_d/(βλ))).  Write

.. math::  \bar\rho(r)\,dr = q(s)\,\mu(dr),\qquad q = \sum_{k<N} c_k\,\varphi_k(s),

with :math:`\varphi_k = L_k^{(\alpha)}/\sqrt{\binom{k+\alpha}{k}}` the generalised Laguerre
polynomials, orthonormal in :math:`L^2(\mu)`.  Galerkin with test functions φ_k (integrate
by parts once; the boundary terms vanish because μ has the factor r^{d−1}, d ≥ 2, and
Gaussian tails):

.. math::  \dot c_k = -4\lambda k\,c_k + N_k(c),\qquad
           N_k = -2\int \partial_r\varphi_k\,\partial_r\psi\;q\,d\mu
               = -\beta\lambda\int 2 r\,\psi'(r)\,\varphi_k'(s)\,q(s)\,d\mu .

* **The linear part is diagonal and exact.**  Diffusion plus the λ-confinement plus the
  (d−1)/r Itô drift is the radial Ornstein–Uhlenbeck generator, whose eigenfunctions in
  L²(μ) are exactly the φ_k (eigenvalue −4λk: degree k in s = degree 2k in w).  With the
  interaction switched off the semi-discrete flow is exact (only the projection of ρ̄(0)
  errs).
* **Zero flux at r = 0 is automatic**, in no way imposed: every trial density carries
  r^{d−1}; the r^{d−1} geometry is the weight, so there is no 1/r singularity anywhere.
* **Mass is c_0** and is conserved bit for bit (N_0 = 0 because φ_0' = 0).
* **The natural variable.**  The fixed point is q* ∝ e^{−βψ(r; ρ̄*)} — a smooth function of
  s of moderate variation when βψ is moderate — and the initial χ law with dof = d is
  q_0 = θ^{−α−1}e^{−s(1/θ−1)}, θ = βλκ²/d, whose coefficients are known in closed form,
  :math:`c_n = \sqrt{\binom{n+\alpha}{n}}(1-\theta)^n` (multiplication theorem of the
  Laguerre polynomials): geometric decay, in L²(μ) iff θ < 2.
* ψ enters only through ∫ F_ℓ q dμ and ψ' at nodes: the nonlocal term is pseudo-spectral
  at M Gauss–Laguerre nodes s_i (weight s^α e^{−s}, default M = ⌈3N/2⌉ + 20) with the
  same Mehler factors F_ℓ as the finite-volume scheme, so both discretise the same
  kernel; cost O(M(N + L)) per evaluation.

The alternative of Chebyshev collocation in r on [0, R] with flux-form zero-flux
conditions would have to handle the (d−1)/r drift (the density is O(r^{d−1}) near 0 and
the flux is a ratio of small numbers there) and an artificial wall, and its linear part
is neither diagonal nor self-adjoint; it was not pursued.  λ > 0 is required (the weight
needs the confinement), and noise (β finite) and a finite d.

Derivatives: :math:`\varphi_k'(s) = -\sqrt{k/(\alpha+1)}\,\tilde\varphi_{k-1}(s)` with
:math:`\tilde\varphi` the orthonormal family of parameter α + 1, and
:math:`s\,d\mu_\alpha = (\alpha+1)\,d\mu_{\alpha+1}`.  All tables are built by the
three-term recurrence of the orthonormal polynomials started from √(weight) (the "Laguerre
functions"), so nothing overflows in the tails:
.. math::  \varphi_{n+1} = \frac{(2n+\alpha+1-s)\varphi_n - \sqrt{n(n+\alpha)}\,\varphi_{n-1}}
           {\sqrt{(n+1)(n+\alpha+1)}} .

Output: exact cell averages on the ``[grid]`` cells from
:math:`\int_0^x \varphi_n d\mu = \sqrt{(\alpha+1)/n}\;w_{\alpha+1}(x)\,\tilde\varphi_{n-1}(x)`
(n ≥ 1; :math:`w_{\alpha+1}` the Gamma(α + 2) density, the incomplete gamma function for
n = 0), taken from the side of the median that avoids 1 − 1 cancellation.  Diagnostics
(risk, mass, mean r, free energy) are computed from the coefficients by the Gauss rule:
the free energy is F = ½R + β⁻¹∫q log q dμ − β⁻¹c_0 log Z_μ (the λ terms cancel against
the weight), with Z_μ = ∫r^{d−1}e^{−ar²}dr = Γ(d/2)/(2a^{d/2}).

Time stepping
-------------
Exponential Runge–Kutta with the diagonal linear part −4λk integrated exactly: ETDRK4-B
(Krogstad, J. Comput. Phys. 203, 2005; default) or ETDRK4 (Cox & Matthews, J. Comput.
Phys. 176, 2002), with the embedded third-order error estimate and controller of
:mod:`solvers.spectral` (same formulas; φ-functions from
:func:`solvers.exponential.phi_functions`).  Both keep every fixed point of Lc + N(c) = 0
exactly, so the Gibbs state is not perturbed by Δτ and the steps grow near equilibrium.

What is preserved: mass (c_0, exactly); the exact noise-only OU flow; fixed points.  Not
preserved: positivity (the truncated series can dip below 0 in the tails by the
truncation error).

Measured accuracy
-----------------
On the ``isotropic-noisy`` example (d = 40, β = 40, λ = 0.5, Δ = 0.8, κ = 0.8), pinned by
``tests/test_radial_spectral.py``:

* Interaction off (exact χ law at τ = 0.02), L1 error of the cell averages for N = 40, 60,
  80, 100 modes: 8.5e-1, 4.3e-3, 9.4e-6, 1.2e-8 (geometric: the initial law's coefficients
  decay like 0.68^k k^{9.5}).
* Self-consistent fixed point against :func:`fokkerplanck.isotropic.gibbs_fixed_point`
  (400 Gauss–Legendre nodes): risk error 2.7e-4, 1.3e-6, 2.7e-8, 1.5e-10, 4.7e-13, 3.6e-15
  for N = 4, 8, 12, 16, 20, 24; L1 error 6.3e-9 (N = 48), 4.8e-10 (64), 1.0e-12 (96).
* Risk at every save time t = 0, 0.5, …, 5 against finite volumes Richardson-extrapolated
  from 400/800 cells: max 9.2e-8; from 800/1600 cells: max 5.9e-9 (the difference falls
  16× per refinement: the remaining error is the FV's, not this solver's).
* A run of the example to t = 10 (160 modes, rtol 1e-10): 3117 steps, 0.45 s.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import gammainc, gammaincc, gammaln, xlogy

from .exponential import advance_adaptive, etd_weights, etdrk4_step
from .spectral import ETD_STEPPERS, SpectralState, _blas_limit

__all__ = ["RadialSpectralScheme", "RadialSpectralState", "DEFAULT_MODES", "laguerre_table",
           "gauss_laguerre", "chi_coefficients"]

#: Laguerre modes N when none are given
DEFAULT_MODES = 160


# ---------------------------------------------------------------------- 1-D Laguerre tools
def gauss_laguerre(m: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    r"""m-point Gauss rule for :math:`\int F\,d\mathrm{Gamma}(\alpha+1, 1)`: nodes, weights
    summing to 1 (exact for polynomials of degree ≤ 2m − 1).

    Nodes: eigenvalues of the Jacobi matrix (Golub–Welsch; diagonal 2n + α + 1, off-diagonal
    √(n(n + α))).  Weights by the Christoffel formula
    :math:`\omega_i = 1/\sum_{k<m}\varphi_k(s_i)^2`, summed with a running power-of-two scale
    so that tiny weights (far nodes, down to underflow) keep full relative accuracy — unlike
    the squared first eigenvector components, or ``scipy.special.roots_genlaguerre``, which
    returns NaN beyond a few hundred nodes for α ≈ 20."""
    from scipy.linalg import eigh_tridiagonal

    m = int(m)
    alpha = float(alpha)
    n = np.arange(1, m, dtype=float)
    s = eigh_tridiagonal(2.0 * np.arange(m) + alpha + 1.0, np.sqrt(n * (n + alpha)),
                         eigvals_only=True)
    prev, cur = np.zeros(m), np.ones(m)
    acc = np.ones(m)
    log_scale = np.zeros(m)
    for k in range(m - 1):
        nxt = ((2 * k + alpha + 1.0 - s) * cur - math.sqrt(k * (k + alpha)) * prev) / math.sqrt(
            (k + 1.0) * (k + alpha + 1.0))
        prev, cur = cur, nxt
        acc += cur * cur
        big = acc > 1e200
        if big.any():
            prev[big] *= 1e-100
            cur[big] *= 1e-100
            acc[big] *= 1e-200
            log_scale[big] += 200.0 * math.log(10.0)
    w = np.exp(-(np.log(acc) + log_scale))
    return s, w / w.sum()


def laguerre_table(s, modes: int, alpha: float, scale=None) -> np.ndarray:
    r"""T[i, k] = scale_i φ_k^{(α)}(s_i), φ_k orthonormal in L²(Gamma(α + 1, 1)), k < modes,
    by the normalised three-term recurrence (``scale`` = 1 if None)."""
    s = np.asarray(s, float)
    out = np.empty((s.size, modes))
    out[:, 0] = 1.0 if scale is None else scale
    if modes > 1:
        out[:, 1] = (alpha + 1.0 - s) * out[:, 0] / math.sqrt(alpha + 1.0)
    for n in range(1, modes - 1):
        out[:, n + 1] = ((2 * n + alpha + 1.0 - s) * out[:, n]
                         - math.sqrt(n * (n + alpha)) * out[:, n - 1]) / math.sqrt(
                             (n + 1.0) * (n + alpha + 1.0))
    return out


def _log_gamma_density(s, a: float) -> np.ndarray:
    """log of the Gamma(a, 1) density at s > 0 (−inf at 0)."""
    s = np.asarray(s, float)
    with np.errstate(divide="ignore"):
        return xlogy(a - 1.0, s) - s - gammaln(a)


def chi_coefficients(theta: float, alpha: float, dof: float, modes: int) -> np.ndarray:
    r"""c_k = E[φ_k(s)] for s = θu, u ~ Gamma(dof/2, 1): the coefficients of the initial χ law.

    dof/2 = α + 1 (dof = d): the closed form :math:`\sqrt{\binom{k+\alpha}{k}}(1-\theta)^k`;
    otherwise a Gauss rule of parameter dof/2 − 1 with modes + 20 nodes (exact for the
    polynomials φ_k, k < modes)."""
    k = np.arange(modes, dtype=float)
    b = 0.5 * dof
    if abs(b - (alpha + 1.0)) < 1e-14:
        log_binom = gammaln(k + alpha + 1.0) - gammaln(k + 1.0) - gammaln(alpha + 1.0)
        base = 1.0 - theta
        if base == 0.0:
            return (k == 0).astype(float)
        sign = np.where((k % 2 == 1) & (base < 0), -1.0, 1.0)
        return sign * np.exp(0.5 * log_binom + k * math.log(abs(base)))
    u, w = gauss_laguerre(modes + 20, b - 1.0)
    return laguerre_table(theta * u, modes, alpha, scale=w).sum(axis=0)


def chi_norm2(theta: float, alpha: float, dof: float) -> float:
    r""":math:`\|q_0\|^2_{L^2(\mu)} = \int g^2/w_\alpha` for g the Gamma(b, θ) density, b = dof/2
    (finite iff θ < 2 and 2b − 1 − α > 0)."""
    b = 0.5 * dof
    e = 2.0 * b - 1.0 - alpha
    rate = 2.0 / theta - 1.0
    if not (e > 0 and rate > 0):
        return math.inf
    return math.exp(gammaln(alpha + 1.0) + gammaln(e) - 2.0 * b * math.log(theta)
                    - 2.0 * gammaln(b) - e * math.log(rate))


# ---------------------------------------------------------------------- state
#: τ, the Laguerre coefficients c_k of q = dρ̄/dμ and the step controller's counters: the same
#: state as the Hermite solver's (only the meaning of the coefficients differs)
RadialSpectralState = SpectralState


# ---------------------------------------------------------------------- scheme
class RadialSpectralScheme:
    """Laguerre–Galerkin discretisation of the noisy radial PDE and its adaptive ETDRK4 marcher.

    Parameters
    ----------
    model : IsotropicModel
        Noisy (``beta`` set), λ > 0, finite ``dim`` ≥ 2; provides ``v``, ``factors``,
        ``delta``, ``act``, ``kmax_resolved``.
    modes : int
        Laguerre modes N ≥ 2.
    stepper : str
        Key of :data:`solvers.spectral.ETD_STEPPERS`.
    rtol : float
        Local error per step allowed, relative to ‖q‖ in L²(μ) (= ‖c‖₂).
    dt_max : float
        Largest step (in τ).
    quadrature : int, optional
        Gauss–Laguerre nodes M ≥ N for ψ and the nonlinear products (default ⌈3N/2⌉ + 20).
    blas_threads : int or None
        BLAS threads while marching (None: leave BLAS alone).
    """

    def __init__(self, model, modes: int | None = None, stepper: str = "etdrk4-b",
                 rtol: float = 1e-10, dt_max: float = np.inf, quadrature: int | None = None,
                 blas_threads: int | None = 1):
        if not model.noisy:
            raise ValueError("the radial spectral scheme needs noise ([model] beta)")
        if not model.lam > 0:
            raise ValueError("the radial spectral scheme needs weight decay lam > 0 (its "
                             "Laguerre weight is the noise-only Gibbs law)")
        if not math.isfinite(model.dim):
            raise ValueError("the radial spectral scheme needs a finite dim")
        modes = DEFAULT_MODES if modes is None else int(modes)
        if modes < 2:
            raise ValueError("modes must be >= 2")
        if stepper not in ETD_STEPPERS:
            raise ValueError(f"unknown stepper {stepper!r}; choose one of "
                             + ", ".join(map(repr, ETD_STEPPERS)))
        if not rtol > 0:
            raise ValueError("rtol must be > 0")
        if not dt_max > 0:
            raise ValueError("dt_max must be > 0")
        quad = int(math.ceil(1.5 * modes)) + 20 if quadrature is None else int(quadrature)
        if quad < modes:
            raise ValueError("quadrature needs at least as many nodes as modes")
        self.model = model
        self.modes = modes
        self.shape = (modes,)
        self.stepper = stepper
        self._variant = ETD_STEPPERS[stepper].variant
        self.rtol = float(rtol)
        self.dt_max = float(dt_max)
        self.quadrature = quad
        self.blas_threads = blas_threads
        self.beta = float(model.beta)
        self.lam = float(model.lam)
        self.dim = float(model.dim)
        self.alpha = 0.5 * self.dim - 1.0
        self.a = 0.5 * self.beta * self.lam          # s = a r²
        #: log Z_μ, Z_μ = ∫_0^∞ r^{d−1} e^{−a r²} dr
        self.log_z = float(gammaln(0.5 * self.dim) - math.log(2.0)
                           - 0.5 * self.dim * math.log(self.a))
        k = np.arange(modes, dtype=float)
        self.linear = -4.0 * self.lam * k
        s, w = gauss_laguerre(quad, self.alpha)
        self.s_nodes, self.weights = s, w
        self.r_nodes = np.sqrt(s / self.a)
        sw = np.sqrt(w)
        self._P = laguerre_table(s, modes, self.alpha, sw)               # √ω φ_k(s_i)
        dtab = np.zeros((quad, modes))
        if modes > 1:
            dtab[:, 1:] = -laguerre_table(s, modes - 1, self.alpha + 1.0, sw) * np.sqrt(
                k[1:] / (self.alpha + 1.0))
        self._D = dtab                                                    # √ω φ_k'(s_i)
        self._DT = np.ascontiguousarray(dtab.T)
        from fokkerplanck.gaussian_integrals import dv_radial, interaction_factors_dr

        r = self.r_nodes
        self.v_nodes = np.asarray(model.v(r), float)
        F, wl = model.factors(r)
        self.F_nodes, self.w = np.ascontiguousarray(F), np.asarray(wl, float)
        self.dv_nodes = dv_radial(r, model.delta, model.act)
        dF, _ = interaction_factors_dr(r, model.delta, model.act, model.dim, model.kmax_resolved)
        self.dF_nodes = np.ascontiguousarray(dF)
        self._sw = sw
        self._Fw = np.ascontiguousarray(self.F_nodes.T * sw)              # (L, M): √ω F_ℓ(r_i)
        self._drift = -2.0 * self.beta * self.lam * r                     # −βλ · 2r

    # ------------------------------------------------------------------ operator
    def moments(self, c) -> np.ndarray:
        """m_ℓ = ∫F_ℓ ρ̄ dr = ∫F_ℓ q dμ by the Gauss rule."""
        return self._Fw @ (self._P @ c)

    def q_nodes(self, c) -> np.ndarray:
        """q(s_i) at the Gauss nodes (0 where the weight underflows)."""
        qw = self._P @ c
        live = self._sw > 0
        out = np.zeros_like(qw)
        out[live] = qw[live] / self._sw[live]
        return out

    def psi_nodes(self, c) -> tuple[np.ndarray, np.ndarray]:
        """(ψ(r_i), ψ'(r_i)) at the nodes."""
        m = self.w * self.moments(c)
        return self.v_nodes + self.F_nodes @ m, self.dv_nodes + self.dF_nodes @ m

    def nonlinear(self, c) -> np.ndarray:
        r"""N(c) = −βλ Σ_i ω_i 2r_i ψ'(r_i) q(s_i) φ_k'(s_i)."""
        qw = self._P @ c                                  # √ω q
        m = self.w * (self._Fw @ qw)
        dpsi = self.dv_nodes + self.dF_nodes @ m
        return self._DT @ (self._drift * dpsi * qw)

    def rhs(self, c) -> np.ndarray:
        """L c + N(c)."""
        return self.linear * c + self.nonlinear(c)

    # ------------------------------------------------------------------ states
    def theta(self, kappa: float, dof: float) -> float:
        """Scale θ of s = θu, u ~ Gamma(dof/2), for r = κ χ_dof/√dof."""
        return 2.0 * self.a * kappa ** 2 / dof

    def check_initial(self, kappa: float, dof: float) -> None:
        """Raise ValueError if the initial χ law is not in L²(μ) (q_0 has no Laguerre series)."""
        if not math.isfinite(chi_norm2(self.theta(kappa, dof), self.alpha, dof)):
            raise ValueError(
                f"the initial law (kappa = {kappa:g}, dof = {dof:g}) is not in L2 of the "
                f"Laguerre weight: needs beta lam kappa^2 / dof < 2 and dof > d/2")

    def initial_state(self, kappa: float, dof: float, t0: float = 0.0) -> RadialSpectralState:
        """Projection of the law of r = κ χ_dof/√dof."""
        self.check_initial(kappa, dof)
        c = chi_coefficients(self.theta(kappa, dof), self.alpha, dof, self.modes)
        return RadialSpectralState(float(t0), np.ascontiguousarray(c))

    def initial_truncation_error(self, kappa: float, dof: float) -> float:
        r"""Relative L²(μ) error ‖q_0 − Π_N q_0‖/‖q_0‖ of the initial projection."""
        theta = self.theta(kappa, dof)
        total = chi_norm2(theta, self.alpha, dof)
        if not math.isfinite(total):
            return math.inf
        if abs(0.5 * dof - self.alpha - 1.0) < 1e-14:   # closed form: sum the tail
            big = self.modes
            while True:
                c = chi_coefficients(theta, self.alpha, dof, big + 64)
                tail = float(np.sum(c[self.modes:] ** 2))
                if c[-1] ** 2 < 1e-34 * total or big > 10 ** 6:
                    return math.sqrt(tail / total)
                big *= 2
        head = float(np.sum(chi_coefficients(theta, self.alpha, dof, self.modes) ** 2))
        return math.sqrt(max(total - head, 0.0) / total)

    def state_from_coefficients(self, coefficients, t: float = 0.0) -> RadialSpectralState:
        """A state from stored coefficients (zero-padded or truncated to this scheme's modes)."""
        src = np.ravel(np.asarray(coefficients, float))
        c = np.zeros(self.modes)
        n = min(src.size, self.modes)
        c[:n] = src[:n]
        return RadialSpectralState(float(t), c)

    # ------------------------------------------------------------------ output
    def density(self, c, r) -> np.ndarray:
        """Point values ρ̄(r) = q(a r²) · 2 a r w_α(a r²)."""
        r = np.asarray(r, float)
        s = self.a * r * r
        half = np.exp(0.5 * _log_gamma_density(s, self.alpha + 1.0))
        tab = laguerre_table(s, self.modes, self.alpha, half)
        return (tab @ c) * half * 2.0 * self.a * r

    def _cumulative(self, c, s, upper: bool) -> np.ndarray:
        """∫_0^s q dμ (upper = False) or ∫_s^∞ q dμ (upper = True)."""
        s = np.asarray(s, float)
        a1 = self.alpha + 1.0
        base = c[0] * (gammaincc(a1, s) if upper else gammainc(a1, s))
        if self.modes == 1:
            return base
        half = np.exp(0.5 * _log_gamma_density(s, a1 + 1.0))
        tab = laguerre_table(s, self.modes - 1, a1, half) * half[:, None]
        n = np.arange(1, self.modes, dtype=float)
        part = tab @ (c[1:] * np.sqrt(a1 / n))
        return base - part if upper else base + part

    def cell_averages(self, c, edges) -> np.ndarray:
        """Exact (1/h_i)∫_{cell i} ρ̄ dr on the cells with the given edges in r."""
        e = np.asarray(edges, float)
        s = self.a * e * e
        lower = np.diff(self._cumulative(c, s, upper=False))
        upper = -np.diff(self._cumulative(c, s, upper=True))
        mid = 0.5 * (s[1:] + s[:-1])
        masses = np.where(mid < self.alpha + 1.0, lower, upper)
        return masses / np.diff(e)

    def diagnostics(self, c, edges) -> dict:
        """risk, mass (c_0), mean_r, free_energy, min_density (over the cell averages) and the
        cell averages ``density`` on the cells with ``edges``."""
        sw = self._sw
        qw = self._P @ c                                   # √ω q
        m = self._Fw @ qw
        risk = float(1.0 + 2.0 * (sw * self.v_nodes) @ qw + self.w @ (m * m))
        live = (sw > 0) & (qw > 0)                         # ω q log q = √ω q · √ω log(√ω q/√ω)
        ent = float(np.sum(qw[live] * sw[live] * (np.log(qw[live]) - np.log(sw[live]))))
        mass = float(c[0])
        free = 0.5 * risk + (ent - mass * self.log_z) / self.beta
        dens = self.cell_averages(c, edges)
        return {"density": dens, "risk": risk, "mass": mass,
                "mean_r": float((sw * self.r_nodes) @ qw), "free_energy": free,
                "min_density": float(dens.min())}

    # ------------------------------------------------------------------ time marching
    def step(self, c, n0, h: float):
        """One ETDRK4 step of size h from c (N(c) = n0): (c_new, N(c_new), error estimate δ)."""
        return etdrk4_step(c, n0, etd_weights(self.linear * h, h), self.nonlinear,
                           self._variant)

    def _initial_dt(self, c, n0) -> float:
        h = 0.01 * float(np.linalg.norm(c)) / (float(np.linalg.norm(
            self.linear * c + n0)) + 1e-300) * (self.rtol / 1e-8) ** 0.25
        return min(h, self.dt_max, 0.1)

    def advance(self, state: RadialSpectralState, t_end: float,
                max_steps: int = 2 ** 62) -> int:
        """Advance ``state`` in place towards τ = ``t_end`` (landing exactly), adaptively.

        Returns 0 on success (also after ``max_steps`` steps), 1 if the step size collapsed."""
        with _blas_limit(self.blas_threads), np.errstate(over="ignore", invalid="ignore"):
            return self._advance(state, float(t_end), max_steps)

    def _advance(self, state, t_end, max_steps) -> int:
        return advance_adaptive(state, t_end, max_steps, self.step, self.nonlinear, self.rtol,
                                self.dt_max, self._initial_dt)

