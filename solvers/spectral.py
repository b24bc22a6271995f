r"""Hermite–Galerkin spectral solver for PDE (3.4) on the whole space :math:`\mathbb R^{d+1}`.

Continuous problem
------------------
With :math:`z = (\theta, u)`, :math:`p_0 = N(0, I_{d+1})` and the potential
:math:`W = \Phi + \frac\lambda2|z|^2`, :math:`\Phi = u\,A(\theta)`,
:math:`A(\theta) = \frac{2\alpha}{n}\sum_i r_i\,\tilde h(\theta^\top x_i)` (math spec §2.3),

.. math::  \partial_t p = \lambda\nabla\cdot(z\,p + \nabla p) + \nabla\cdot(p\,\nabla\Phi).

Basis (why this one)
--------------------
:math:`p = p_0\,q`, :math:`q = \sum_k c_k\,\psi_k(z)`, with the multi-index
:math:`k = (k_{\theta_1}[, k_{\theta_2}], k_u)`, :math:`0 \le k_j < N_j`, and the probabilists'
Hermite polynomials normalised in :math:`L^2(p_0)`:
:math:`\psi_k(z) = \prod_j \mathrm{He}_{k_j}(z_j)/\sqrt{k_j!}`.  The method is Galerkin in
:math:`L^2(p_0)` (test functions :math:`\psi_k`).  Reasons (numbers from
``benchmarks/bench_spectral.py``, properties tested in ``tests/test_spectral.py``):

* **The Ornstein–Uhlenbeck part is diagonal and exact.**  :math:`\lambda\nabla\cdot(zp+\nabla p)
  = \lambda p_0(\Delta q - z\cdot\nabla q)` and :math:`\psi_k` are its eigenfunctions with
  eigenvalue :math:`-\lambda|k|`, :math:`|k| = \sum_j k_j`.  The trial space is invariant, so
  the semi-discrete OU flow is exact: with α = 0 the only error is the projection of p(0).
* **The stationary state is natural in this weight.**  The Gibbs state is
  :math:`q_* \propto e^{-u\,b(\theta)}` with bounded b: u | θ is N(−b, 1), a shifted unit
  Gaussian whose u-coefficients :math:`b^m/\sqrt{m!}` decay super-exponentially.
* **f is an** :math:`L^2(p_0)` **inner product with a bounded function.**
  :math:`f(p,x_i) = \alpha\langle q, u\,\tilde h(\theta^\top x_i)\rangle_{p_0}`, so a Galerkin
  error in q enters f only through the (also decaying) coefficients of
  :math:`u\tilde h` — errors in f are roughly the *square* of the truncation error of q.  In θ
  the coefficients of q decay only root-exponentially, like :math:`e^{-\tau\sqrt{N}}` (tanh
  is analytic in a strip of half-width :math:`\tau = \pi/(2\max|x_i|)`); measured on the
  Gibbs state of the math-spec §2.4 data (d = 1), the projection onto 48 θ-modes gives f to
  7e-11 in this weight, against 2e-8 for Hermite *functions* (:math:`L^2(dz)` projection,
  whose test functions do not contain :math:`u\tilde h` as a bounded weight) and 2e-10 for
  the best scaled Hermite functions (scale 0.75).  A scaled basis would also make the OU
  part non-diagonal.
* **Mass is** :math:`c_0` **and is conserved exactly** (bit for bit): the nonlinear term is
  used in weak form, and :math:`\nabla\psi_0 = 0`.

Limitation: :math:`q(0) = N(\mu,\sigma^2)/p_0` lies in :math:`L^2(p_0)` only for
:math:`\sigma < \sqrt2`, and its coefficients decay like :math:`|\sigma^2-1|^{k/2}`
(super-exponentially in the mean μ), so initial widths far from 1 (say outside
[0.7, 1.3]) need many modes; :meth:`SpectralScheme.initial_truncation_error` gives the exact
projection error of p(0) before a run.

Galerkin system
---------------
.. math::

    \dot c_k = -\lambda|k|\,c_k + N_k(c),\qquad
    N_k = \int\psi_k\,\nabla\cdot(p\nabla\Phi) = -\langle q\,\nabla\Phi, \nabla\psi_k\rangle_{p_0}
        = -\sum_{j\in\theta}\sqrt{k_j}\,\langle q\,u\,\partial_jA, \psi_{k-e_j}\rangle_{p_0}
          -\sqrt{k_u}\,\langle q\,A, \psi_{k-e_u}\rangle_{p_0},

using :math:`\partial_j\psi_k = \sqrt{k_j}\,\psi_{k-e_j}`.  Φ is linear in u, so the u
direction is handled *exactly* in coefficient space (multiplication by u is
:math:`u\psi_m = \sqrt{m+1}\psi_{m+1} + \sqrt m\,\psi_{m-1}`); only θ needs quadrature:
pseudo-spectral products at :math:`M_j` Gauss–Hermite nodes per θ axis (default
:math:`M_j = \lceil 3N_j/2\rceil`: as accurate in f as 3N_j nodes, measured), with the tables
:math:`\sqrt{w_m}\,\psi_k(\theta_m)` (orthonormal columns, no overflow).  The coupling uses
:math:`f_i = \alpha\sum_{k_\theta} c_{k_\theta,1}\langle\tilde h(\theta^\top x_i),
\psi_{k_\theta}\rangle_{p_0}`, since :math:`u = \psi_1(u)`, with the inner products
precomputed by a fine Gauss rule.  Cost per evaluation:
:math:`O(M N^{d+1})` in BLAS-3 products (d = 1) or batched products (d = 2).

Time stepping
-------------
Exponential Runge–Kutta with the diagonal linear part integrated exactly: ETDRK4 of Cox &
Matthews (J. Comput. Phys. 176, 2002) or, the default, ETDRK4-B of Krogstad (J. Comput. Phys.
203, 2005; milder order reduction for stiff problems, Hochbruck & Ostermann, SIAM J. Numer.
Anal. 43, 2005).
Both reduce to classical RK4 as λ → 0, and both keep every fixed point of
:math:`Lc + N(c) = 0` exactly, so the Gibbs state is not perturbed by Δt.  φ-functions
:math:`\varphi_1..\varphi_3` are evaluated per distinct :math:`|k|` (Taylor series near 0).
Error control: the "first same as last" stage :math:`N(c^{n+1})` (reused by the next step)
gives an embedded third-order solution whose difference from the fourth-order one is

.. math::  \delta = h\,(4\varphi_3 - \varphi_2)(hL)\,\big(N(c^{n+1}) - N(c_{\rm stage\,4})\big)

(in the non-stiff limit this is the classical RK4(3) pair with weights
(1/6, 1/3, 1/3, 0, 1/6)); a step is accepted when
:math:`\|\delta\|_2 \le \mathrm{rtol}\,\|c\|_2` (the :math:`L^2(p_0)` norm of q, which bounds
errors in f: :math:`|\delta f_i| \le \alpha\|\delta q\|` when :math:`|\tilde h| \le 1`), and
:math:`h \leftarrow h\min(4, \max(0.2, 0.9\,\mathrm{err}^{-1/4}))`.  Steps land exactly on
each requested time.  δ vanishes at a fixed point, so steps grow near equilibrium until the
explicit treatment of N limits them (the controller then rejects and shrinks them).

What is preserved: mass (:math:`c_0`, exactly); the exact OU flow; fixed points.  Not
preserved: positivity (the truncated series can dip below 0 in the far tails, at the level
of the truncation error).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, roots_hermitenorm

from fokkerplanck.grids import BoxGrid
from fokkerplanck.models import ACTIVATIONS, NoisyGDModel

from .exponential import advance_adaptive, etd_weights, etdrk4_step, phi_functions  # noqa: F401

try:  # optional: pin BLAS to one thread for the small products of a step
    from threadpoolctl import ThreadpoolController as _ThreadpoolController
except ImportError:  # pragma: no cover - depends on the environment
    _ThreadpoolController = None
_CONTROLLER = []  # created on first use (it scans the loaded libraries once)


def _blas_limit(threads):
    """Context manager limiting BLAS to ``threads`` threads (no-op without threadpoolctl)."""
    if threads is None or _ThreadpoolController is None:
        return contextlib.nullcontext()
    if not _CONTROLLER:
        _CONTROLLER.append(_ThreadpoolController())
    return _CONTROLLER[0].limit(limits=threads, user_api="blas")

__all__ = [
    "SpectralScheme", "SpectralState", "ETDStepper", "ETD_STEPPERS", "DEFAULT_MODES",
    "phi_functions",
    "gauss_hermite", "hermite_table", "hermite_function_table", "cell_average_matrix",
    "gaussian_coefficients", "gaussian_norm2",
]

_SQRT_2PI = math.sqrt(2.0 * math.pi)


# ---------------------------------------------------------------------- 1-D Hermite tools
def gauss_hermite(m: int) -> tuple[np.ndarray, np.ndarray]:
    r"""m-point Gauss rule for :math:`\int F\,dN(0,1)`: nodes and weights (summing to 1).

    Exact for polynomials of degree ≤ 2m − 1.
    """
    z, w = roots_hermitenorm(int(m))
    return z, w / _SQRT_2PI


def hermite_table(z, modes: int, scale=None) -> np.ndarray:
    r"""T[m, k] = s_m ψ_k(z_m), ψ_k = He_k/√(k!), by the recurrence
    :math:`\psi_{k+1} = (z\psi_k - \sqrt k\,\psi_{k-1})/\sqrt{k+1}` (s_m = ``scale`` or 1)."""
    z = np.asarray(z, float)
    out = np.empty((z.size, modes))
    out[:, 0] = 1.0 if scale is None else scale
    if modes > 1:
        out[:, 1] = z * out[:, 0]
    for k in range(1, modes - 1):
        out[:, k + 1] = (z * out[:, k] - math.sqrt(k) * out[:, k - 1]) / math.sqrt(k + 1)
    return out


def hermite_function_table(z, modes: int) -> np.ndarray:
    r"""G[m, k] = φ(z_m) ψ_k(z_m) (φ the N(0,1) density), the 1-D factors of p = p_0 q.

    Same recurrence as :func:`hermite_table` started from φ: bounded by Cramér's inequality,
    so it neither overflows nor underflows prematurely in the tails."""
    z = np.asarray(z, float)
    return hermite_table(z, modes, scale=np.exp(-0.5 * z * z) / _SQRT_2PI)


def cell_average_matrix(edges, modes: int) -> np.ndarray:
    r"""S[i, k] = (1/h_i) ∫ over cell i of φ ψ_k: exact cell averages of the basis functions.

    :math:`\psi_k\varphi = -(\psi_{k-1}\varphi)'/\sqrt k` for k ≥ 1, and Φ differences for k = 0
    (computed on the side of the cell away from the mean, without 1 − 1 cancellation)."""
    e = np.asarray(edges, float)
    h = np.diff(e)
    out = np.empty((h.size, modes))
    lower = np.diff(ndtr(e))
    upper = -np.diff(ndtr(-e))
    out[:, 0] = np.where(e[1:] + e[:-1] < 0, lower, upper) / h
    if modes > 1:
        g = hermite_function_table(e, modes - 1)
        k = np.arange(1, modes)
        out[:, 1:] = -np.diff(g, axis=0) / np.sqrt(k) / h[:, None]
    return out


def gaussian_coefficients(mean: float, std: float, modes: int) -> np.ndarray:
    r"""⟨N(μ,σ²)/φ, ψ_k⟩_{p_0} = E[ψ_k(μ + σξ)], k < ``modes``.

    From the generating function :math:`E\,e^{tZ - t^2/2} = e^{t\mu + t^2(\sigma^2-1)/2}`:
    :math:`c_0 = 1`, :math:`c_1 = \mu`,
    :math:`c_{k+1} = (\mu c_k + (\sigma^2-1)\sqrt k\,c_{k-1})/\sqrt{k+1}`."""
    c = np.empty(max(modes, 2))
    c[0], c[1] = 1.0, mean
    a = std * std - 1.0
    for k in range(1, modes - 1):
        c[k + 1] = (mean * c[k] + a * math.sqrt(k) * c[k - 1]) / math.sqrt(k + 1)
    return c[:modes]


def gaussian_norm2(mean: float, std: float) -> float:
    r""":math:`\|N(\mu,\sigma^2)/\varphi\|^2_{L^2(p_0)} = \int N(\mu,\sigma^2)^2/\varphi`
    (finite only for σ < √2): with :math:`a = 1/\sigma^2 - 1/2`,
    :math:`\sqrt{\pi/a}\,e^{\mu^2/(\sigma^4 a) - \mu^2/\sigma^2}/(\sqrt{2\pi}\,\sigma^2)`."""
    s2 = std * std
    a = 1.0 / s2 - 0.5
    if not a > 0:
        return math.inf
    return math.sqrt(math.pi / a) * math.exp(mean ** 2 / (s2 * s2 * a) - mean ** 2 / s2) / (
        _SQRT_2PI * s2)


def _gaussian_tail2(mean: float, std: float, modes: int) -> tuple[float, float]:
    """(Σ_{k<N} c_k², Σ_{k≥N} c_k²) of :func:`gaussian_coefficients` (tail without cancellation)."""
    head = float(np.sum(gaussian_coefficients(mean, std, modes) ** 2))
    total = gaussian_norm2(mean, std)
    if not math.isfinite(total):
        return head, math.inf
    diff = total - head
    if diff > 1e-6 * total:
        return head, diff
    # small tail: sum it term by term (continuing the recurrence)
    a = std * std - 1.0
    c = gaussian_coefficients(mean, std, modes + 1)
    prev, cur = c[-2], c[-1]
    k = modes
    tail = cur * cur
    while k < modes + 200000:
        nxt = (mean * cur + a * math.sqrt(k) * prev) / math.sqrt(k + 1)
        prev, cur = cur, nxt
        k += 1
        tail += cur * cur
        if cur * cur <= 1e-34 * (head + tail) and k > mean * mean + modes:
            break
    return head, tail


# ---------------------------------------------------------------------- time steppers
@dataclass(frozen=True)
class ETDStepper:
    """A fourth-order exponential Runge–Kutta scheme (with the embedded RK4(3)-type estimate).

    ``variant`` selects the stages: ``"cox-matthews"`` (ETDRK4) or ``"krogstad"`` (ETDRK4-B);
    both share the final combination
    :math:`c^{n+1} = e^{hL}c + h[(\\varphi_1-3\\varphi_2+4\\varphi_3)N_1
    + 2(\\varphi_2-2\\varphi_3)(N_2+N_3) + (4\\varphi_3-\\varphi_2)N_4]`.
    """

    name: str
    variant: str
    order: int = 4
    embedded_order: int = 3
    reference: str = ""


ETD_STEPPERS = {
    s.name: s
    for s in (
        ETDStepper("etdrk4", "cox-matthews",
                   reference="Cox & Matthews, J. Comput. Phys. 176 (2002) 430"),
        ETDStepper("etdrk4-b", "krogstad",
                   reference="Krogstad, J. Comput. Phys. 203 (2005) 72"),
    )
}


#: (modes per θ axis, modes for u) when none are given: f to ≈ 1e-9 for the examples
DEFAULT_MODES = (48, 24)


@dataclass
class SpectralState:
    """Time and Hermite coefficients c_k of q = p/p_0 (shape = modes), plus step counters."""

    t: float
    coefficients: np.ndarray
    steps: int = 0
    rejected: int = 0
    rhs_evaluations: int = 0
    last_dt: float = 0.0
    dt_next: float | None = None


# ---------------------------------------------------------------------- the scheme
@dataclass
class SpectralScheme:
    """Hermite–Galerkin discretisation of (3.4) and its adaptive ETDRK4 marcher.

    Parameters
    ----------
    model : NoisyGDModel
        d = 1 or 2.
    modes : int, sequence of int or None
        Hermite modes per axis (θ₁[, θ₂], u), each ≥ 2 (≥ 3 for u); one int for all axes;
        None: :data:`DEFAULT_MODES` (48 per θ axis, 24 for u).
    stepper : str
        Key of :data:`ETD_STEPPERS`.
    rtol : float
        Local error per step allowed, relative to :math:`\\|q\\|_{L^2(p_0)}` (see module doc).
    dt_max : float
        Largest step.
    quadrature : int or sequence of int, optional
        Gauss–Hermite nodes per θ axis for the nonlinear products (default ⌈3N_θ/2⌉).
    blas_threads : int or None
        BLAS threads while marching (needs ``threadpoolctl``; None leaves BLAS alone).  The
        products of one step are small; on the shared 2-core machine a multi-threaded
        OpenBLAS made them up to 7× slower than one thread.
    """

    model: NoisyGDModel
    modes: tuple[int, ...] | int | None = None
    stepper: str = "etdrk4-b"
    rtol: float = 1e-10
    dt_max: float = np.inf
    quadrature: tuple[int, ...] | int | None = None
    blas_threads: int | None = 1
    _st: ETDStepper = field(init=False, repr=False)

    def __post_init__(self):
        d = self.model.dim
        if d not in (1, 2):
            raise ValueError("the spectral scheme needs d = 1 or 2")
        if self.modes is None:
            self.modes = (DEFAULT_MODES[0],) * d + (DEFAULT_MODES[1],)
        modes = np.broadcast_to(np.asarray(self.modes, int), (d + 1,))
        self.modes = tuple(int(m) for m in modes)
        if min(self.modes[:-1]) < 2 or self.modes[-1] < 3:
            raise ValueError("modes must be >= 2 per theta axis and >= 3 for u")
        if self.stepper not in ETD_STEPPERS:
            raise ValueError(f"unknown stepper {self.stepper!r}; choose one of "
                             + ", ".join(map(repr, ETD_STEPPERS)))
        self._st = ETD_STEPPERS[self.stepper]
        if not self.rtol > 0:
            raise ValueError("rtol must be > 0")
        if not self.dt_max > 0:
            raise ValueError("dt_max must be > 0")
        if self.quadrature is None:
            quad = [int(math.ceil(1.5 * n)) for n in self.modes[:-1]]
        else:
            quad = list(np.broadcast_to(np.asarray(self.quadrature, int), (d,)))
        if any(m < n for m, n in zip(quad, self.modes)):
            raise ValueError("quadrature needs at least as many nodes as modes per axis")
        self.quadrature = tuple(int(m) for m in quad)
        self.shape = self.modes
        self.dim = d
        lam = self.model.lam
        # |k| per coefficient, and -λ|k|
        ks = np.meshgrid(*[np.arange(n) for n in self.modes], indexing="ij", sparse=True)
        self._level = sum(ks)                                 # int array, shape = modes
        self._levels = np.arange(int(sum(n - 1 for n in self.modes)) + 1, dtype=float)
        self.linear = -lam * np.broadcast_to(self._level, self.shape).astype(float)
        # θ quadrature tables √w ψ_k(θ_m) (orthonormal columns)
        self._nodes, self._V = [], []
        for m, n in zip(self.quadrature, self.modes[:-1]):
            z, w = gauss_hermite(m)
            self._nodes.append(z)
            self._V.append(np.ascontiguousarray(hermite_table(z, n, np.sqrt(w))))
        self._VT = [np.ascontiguousarray(v.T) for v in self._V]
        x = self.model.data.x
        h, dh = ACTIVATIONS[self.model.activation]
        pre = self._preactivation(self._nodes)                # (n, M1[, M2])
        dh_nodes = dh(pre)
        # rows of [h̃ ; h̃' x_1 ; …] at the nodes: A and ∇A are one product r @ table
        tables = [h(pre)] + [dh_nodes * x[:, j].reshape((-1,) + (1,) * d) for j in range(d)]
        self._coupling_table = np.ascontiguousarray(
            np.stack(tables, axis=1).reshape(len(x), -1))
        self._hcoef = self._activation_coefficients()        # (n, N1[, N2])
        nu = self.modes[-1]
        self._sqrt_u = np.sqrt(np.arange(nu, dtype=float))
        self._sqrt_theta = [np.sqrt(np.arange(n, dtype=float)) for n in self.modes[:-1]]

    # ------------------------------------------------------------------ set-up helpers
    def _preactivation(self, nodes) -> np.ndarray:
        """θᵀx_i on the tensor grid of ``nodes`` (one array per θ axis), shape (n, M1[, M2])."""
        x = self.model.data.x
        mesh = np.meshgrid(*nodes, indexing="ij", sparse=True)
        return sum(t[None] * x[:, k].reshape((-1,) + (1,) * len(mesh))
                   for k, t in enumerate(mesh))

    def _activation_coefficients(self) -> np.ndarray:
        r"""⟨h̃(θᵀx_i), ψ_{k_θ}⟩_{p_0} by a fine Gauss rule (≥ 200 nodes per axis)."""
        nodes, tables = [], []
        for n in self.modes[:-1]:
            m = max(200, 3 * n)
            z, w = gauss_hermite(m)
            nodes.append(z)
            tables.append(hermite_table(z, n, w))       # w ψ_k(z)
        hval = ACTIVATIONS[self.model.activation][0](self._preactivation(nodes))
        return self._contract_theta(hval, [t.T for t in tables])

    def _contract_theta(self, arr: np.ndarray, mats) -> np.ndarray:
        """Apply ``mats[j]`` (rows out, cols in) along θ axis j of ``arr`` (axes: lead, θ…)."""
        out = arr
        for j, mat in enumerate(mats):
            out = np.moveaxis(np.tensordot(mat, out, axes=([1], [j + 1])), 0, j + 1)
        return out

    # ------------------------------------------------------------------ transforms
    def _synth(self, c: np.ndarray) -> np.ndarray:
        """√w q_{k_u}(θ_m): θ coefficients → θ nodes, shape (M1[, M2], N_u)."""
        if self.dim == 1:
            return self._V[0] @ c
        n1, n2, nu = c.shape
        y = (self._V[0] @ c.reshape(n1, n2 * nu)).reshape(-1, n2, nu)
        return np.matmul(self._V[1], y)

    def _proj(self, g: np.ndarray) -> np.ndarray:
        """Σ_m √w_m ψ_k(θ_m) g(θ_m): θ nodes → θ coefficients (the Gauss projection)."""
        if self.dim == 1:
            return self._VT[0] @ g
        m1, m2, nu = g.shape
        y = np.matmul(self._VT[1], g)                       # (M1, N2, Nu)
        return (self._VT[0] @ y.reshape(m1, -1)).reshape(self.modes[0], -1, nu)

    # ------------------------------------------------------------------ operator
    def prediction(self, c: np.ndarray) -> np.ndarray:
        r"""f(p, x_i) = α Σ_{k_θ} c_{k_θ,1} ⟨h̃(θᵀx_i), ψ_{k_θ}⟩_{p_0}, shape (n,)."""
        n = self.model.data.n
        return self.model.alpha * (self._hcoef.reshape(n, -1) @ c[..., 1].ravel())

    def coupling_at_nodes(self, c: np.ndarray):
        """(f, A(θ_m), [∂_j A(θ_m)]) at the θ quadrature nodes."""
        f = self.prediction(c)
        r = f - self.model.data.y
        scale = 2.0 * self.model.alpha / self.model.data.n
        rows = (scale * r) @ self._coupling_table
        rows = rows.reshape((self.dim + 1,) + tuple(self.quadrature))
        return f, rows[0], list(rows[1:])

    def nonlinear(self, c: np.ndarray) -> np.ndarray:
        r"""N(c): the Galerkin coefficients of ∇·(p∇Φ) (weak form; see the module doc)."""
        out = np.zeros(self.shape)
        if self.model.alpha == 0.0:
            return out
        _, A, dA = self.coupling_at_nodes(c)
        q = self._synth(c)                                   # √w q at θ nodes, u coefficients
        # ∂_u Φ = A(θ): N[..., m+1] -= √(m+1) ⟨q A, ψ_{·,m}⟩
        t = self._proj(A[..., None] * q[..., :-1])
        out[..., 1:] -= self._sqrt_u[1:] * t
        # ∂_θj Φ = u ∂_jA: multiply q by u in coefficient space (exact), then project
        uq = np.empty_like(q)
        s = self._sqrt_u
        uq[..., 0] = q[..., 1]
        uq[..., 1:-1] = s[1:-1] * q[..., :-2] + s[2:] * q[..., 2:]
        uq[..., -1] = s[-1] * q[..., -2]
        for j, dAj in enumerate(dA):
            t = self._proj(dAj[..., None] * uq)
            sj = self._sqrt_theta[j][1:]
            if j == 0:
                out[1:] -= sj.reshape((-1,) + (1,) * self.dim) * t[:-1]
            else:
                out[:, 1:] -= sj[:, None] * t[:, :-1]
        return out

    def rhs(self, c: np.ndarray) -> np.ndarray:
        """L c + N(c)."""
        return self.linear * c + self.nonlinear(c)

    # ------------------------------------------------------------------ state and output
    def initial_state(self, mean, std, t0: float = 0.0) -> SpectralState:
        """Projection of the product Gaussian N(mean, diag(std²)) (needs std < √2)."""
        mean, std = self._check_gaussian(mean, std)
        c = np.ones(())
        for m, s, n in zip(mean, std, self.modes):
            c = np.multiply.outer(c, gaussian_coefficients(m, s, n))
        return SpectralState(float(t0), np.ascontiguousarray(c, float))

    def initial_truncation_error(self, mean, std) -> float:
        r"""Exact relative :math:`L^2(p_0)` error ‖q(0) − Π_N q(0)‖/‖q(0)‖ of projecting p(0)."""
        mean, std = self._check_gaussian(mean, std)
        log_ratio = 0.0
        for m, s, n in zip(mean, std, self.modes):
            head, tail = _gaussian_tail2(m, s, n)
            log_ratio += math.log1p(tail / head)
        return math.sqrt(-math.expm1(-log_ratio))

    def _check_gaussian(self, mean, std):
        k = self.dim + 1
        mean = np.broadcast_to(np.asarray(mean, float), (k,))
        std = np.broadcast_to(np.asarray(std, float), (k,))
        if np.any(std >= math.sqrt(2.0)) or np.any(std <= 0):
            raise ValueError("the Hermite basis of p/p_0 needs 0 < std < sqrt(2) per axis "
                             f"(got {std.tolist()})")
        return mean, std

    def state_from_coefficients(self, coefficients, t: float = 0.0) -> SpectralState:
        """A state from stored coefficients (``/coefficients`` of an output file), to resume a run.

        Coefficients with fewer or more modes are zero-padded or truncated to this scheme's
        modes (truncation is the :math:`L^2(p_0)` projection)."""
        src = np.asarray(coefficients, float)
        if src.ndim != self.dim + 1:
            raise ValueError(f"coefficients must have {self.dim + 1} axes")
        c = np.zeros(self.shape)
        sl = tuple(slice(0, min(a, b)) for a, b in zip(src.shape, self.shape))
        c[sl] = src[sl]
        return SpectralState(float(t), c)

    def _apply_axes(self, c: np.ndarray, mats) -> np.ndarray:
        """Apply ``mats[j]`` (rows out, cols = modes) along every axis j of c."""
        out = c
        for j, mat in enumerate(mats):
            out = np.moveaxis(np.tensordot(mat, out, axes=([1], [j])), 0, j)
        return np.ascontiguousarray(out)

    def cell_averages(self, c: np.ndarray, grid: BoxGrid) -> np.ndarray:
        """Exact averages of p = p_0 Σ c_k ψ_k over the cells of ``grid`` (axes θ…, u)."""
        if grid.ndim != self.dim + 1:
            raise ValueError("grid has the wrong number of axes")
        mats = [cell_average_matrix(e, n) for e, n in zip(grid.edges, self.modes)]
        return self._apply_axes(c, mats)

    def density(self, c: np.ndarray, points) -> np.ndarray:
        """Point values of p on the tensor grid of ``points`` (one 1-D array per axis)."""
        mats = [hermite_function_table(z, n) for z, n in zip(points, self.modes)]
        return self._apply_axes(c, mats)

    # ------------------------------------------------------------------ diagnostics
    def _diag_rule(self):
        """Tensor Gauss rule over all axes for the nonlinear diagnostics (KL, NTK)."""
        rules = [gauss_hermite(min(250, 2 * n + 20)) for n in self.modes]
        return rules

    def kl(self, c: np.ndarray) -> float:
        r"""KL(p‖p_0) = ∫ q log q dp_0 by a tensor Gauss rule (nodes with q ≤ 0 count as 0)."""
        rules = self._diag_rule()
        q = self._apply_axes(c, [hermite_table(z, n) for (z, _), n in zip(rules, self.modes)])
        w = np.ones(())
        for _, wj in rules:
            w = np.multiply.outer(w, wj)
        pos = q > 0
        return float(np.sum(w[pos] * q[pos] * np.log(q[pos])))

    def ntk_gram(self, c: np.ndarray) -> np.ndarray:
        r"""H(p) = H_1 + H_2 of (3.6) by a θ Gauss rule: :math:`m_0 = c_{·,0}`,
        :math:`m_2 = c_{·,0} + \sqrt2\,c_{·,2}` are the u-moments of q in the θ basis."""
        rules = self._diag_rule()[:-1]
        nodes = [z for z, _ in rules]
        tabs = [hermite_table(z, n) for z, n in zip(nodes, self.modes[:-1])]
        m0 = self._contract_theta(c[..., 0][None], tabs)[0]
        m2 = m0 + math.sqrt(2.0) * self._contract_theta(c[..., 2][None], tabs)[0]
        w = np.ones(())
        for _, wj in rules:
            w = np.multiply.outer(w, wj)
        h, dh = ACTIVATIONS[self.model.activation]
        pre = self._preactivation(nodes)
        n = self.model.data.n
        hv = h(pre).reshape(n, -1)
        dhv = dh(pre).reshape(n, -1)
        x = self.model.data.x
        h1 = (dhv * (w * m2).ravel()) @ dhv.T * (x @ x.T)
        h2 = (hv * (w * m0).ravel()) @ hv.T
        return h1 + h2

    def diagnostics(self, c: np.ndarray, grid: BoxGrid) -> dict:
        """The snapshot quantities of the finite-volume runner, plus the density on ``grid``.

        ``mass`` is ∫p over R^{d+1} (= c_0); ``min_density`` is over the cell averages."""
        f = self.prediction(c)
        loss = self.model.loss(f)
        kl = self.kl(c)
        dens = self.cell_averages(c, grid)
        return {
            "density": dens,
            "prediction": f,
            "loss": loss,
            "mass": float(c.flat[0]),
            "min_density": float(dens.min()),
            "kl": kl,
            "free_energy": self.model.free_energy(loss, kl),
            "ntk_lambda_min": float(np.linalg.eigvalsh(self.ntk_gram(c))[0]),
        }

    # ------------------------------------------------------------------ time marching
    def _phis(self, h: float):
        """φ-function arrays on the coefficient shape for a step h (computed per distinct |k|)."""
        weights = etd_weights(-self.model.lam * h * self._levels, h)
        return {name: w[self._level] for name, w in weights.items()}

    def step(self, c: np.ndarray, n0: np.ndarray, h: float):
        """One ETDRK4 step of size h from c (with N(c) = n0).

        Returns (c_new, N(c_new), δ): the embedded error estimate δ (see module doc)."""
        return etdrk4_step(c, n0, self._phis(h), self.nonlinear, self._st.variant)

    def _initial_dt(self, c: np.ndarray, n0: np.ndarray) -> float:
        d1 = float(np.linalg.norm(n0)) + 1e-300
        d0 = float(np.linalg.norm(c))
        h = 0.01 * d0 / d1 * (self.rtol / 1e-8) ** 0.25
        return float(min(h, self.dt_max, 0.1))

    def advance(self, state: SpectralState, t_end: float, max_steps: int = 2 ** 62) -> int:
        """Advance ``state`` in place towards ``t_end`` (landing on it exactly), adaptively.

        Returns 0 on success (including stopping after ``max_steps`` steps), 1 if the step
        size collapsed (non-finite values or an unstable coupling)."""
        # a trial step that overflows is rejected below, not raised
        with _blas_limit(self.blas_threads), np.errstate(over="ignore", invalid="ignore"):
            return self._advance(state, t_end, max_steps)

    def _advance(self, state: SpectralState, t_end: float, max_steps: int) -> int:
        return advance_adaptive(state, t_end, max_steps, self.step, self.nonlinear, self.rtol,
                                self.dt_max, self._initial_dt)
