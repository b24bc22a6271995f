r"""PDE (3.4) of Chen, Cao, Gu & Zhang (NeurIPS 2020): noisy gradient descent with weight decay.

The two-layer network in the mean-field limit is :math:`f(p,x) = \alpha\int u\,h(\theta,x)\,p(\theta,u)`
with :math:`h(\theta,x) = \tilde h(\theta^\top x)`.  With square loss on S = {(x_i, y_i)} and the
residuals :math:`r_i = f(p,x_i) - y_i`, PDE (3.4) reads

.. math::

    \partial_t p = -\partial_u(p\,g_1) - \nabla_\theta\cdot(p\,g_2) + \lambda\Delta p,\qquad
    g_1 = -\tfrac{2\alpha}{n}\sum_i r_i h(\theta,x_i) - \lambda u,\quad
    g_2 = -\tfrac{2\alpha}{n}\sum_i r_i\,u\,\nabla_\theta h(\theta,x_i) - \lambda\theta .

Gradient-flow structure (math spec §2.3).  With the first variation of the loss
:math:`\Phi = \delta L/\delta p = u\,A(\theta)`, :math:`A(\theta) = \frac{2\alpha}{n}\sum_i r_i h(\theta,x_i)`,
the drift is :math:`(g_2, g_1) = -\nabla W` for the potential

.. math::

    W(\theta,u) = u\,A(\theta) + \tfrac{\lambda}{2}(|\theta|^2 + u^2),\qquad
    \partial_t p = \nabla\cdot(p\nabla W + \lambda\nabla p)
                 = \nabla\cdot\big(p\,\nabla\tfrac{\delta Q}{\delta p}\big),

the Wasserstein gradient flow of :math:`Q(p) = L(p) + \lambda\,\mathrm{KL}(p\,\|\,p_0)`,
:math:`p_0 = N(0, I_{d+1})`.  Stationary states are the self-consistent Gibbs measures
:math:`p_* \propto p_0\exp(-\Phi[p_*]/\lambda)`.

The nonlocal coupling enters only through the n residuals r_i, which need the u-moment
:math:`m_1(\theta) = \int u\,p\,du` and then an O(n·N_θ^d) sum over the θ grid: this module
keeps the table :math:`h(\theta_c, x_i)` on θ-cell centres so that every quantity below costs
O(n·N_θ^d + cells).

All functions here are NumPy reference implementations ("numpy twins"); the compiled
finite-volume kernels live in :mod:`solvers._fv_kernels` and are tested against them.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
from scipy.special import expit

from .data import Data
from .grids import BoxGrid

__all__ = ["NoisyGDModel", "ACTIVATIONS", "u_moments"]


def _tanh(z):
    return np.tanh(z)


def _dtanh(z):
    return 1.0 - np.tanh(z) ** 2


def _sigmoid(z):
    return expit(z)


def _dsigmoid(z):
    s = expit(z)
    return s * (1.0 - s)


def _linear(z):
    return np.asarray(z, float)


def _dlinear(z):
    return np.ones_like(np.asarray(z, float))


#: activation name -> (h̃, h̃')
ACTIVATIONS = {
    "tanh": (_tanh, _dtanh),
    "sigmoid": (_sigmoid, _dsigmoid),
    "linear": (_linear, _dlinear),
}


def u_moments(density: np.ndarray, grid: BoxGrid, order: int) -> np.ndarray:
    r"""θ-marginal moment :math:`m_k(\theta) = \sum_j u_j^k\,p(\theta, u_j)\,\Delta u` (u is the last axis)."""
    u = grid.centres[-1]
    return (density * u ** order).sum(axis=-1) * grid.spacing[-1]


@dataclass(frozen=True)
class NoisyGDModel:
    """PDE (3.4) on a given training set.

    Parameters
    ----------
    data : Data
        Training set, inputs of dimension d ∈ {1, 2} (the state (θ, u) has d + 1 axes).
    activation : {"tanh", "sigmoid", "linear"}
    alpha : float
        Output scaling α ≥ 0 (α = 0 decouples the data: the PDE is Ornstein–Uhlenbeck).
    lam : float
        λ > 0, weight decay = temperature = KL weight.
    """

    data: Data
    activation: str = "tanh"
    alpha: float = 1.0
    lam: float = 0.5

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}")
        if not self.lam > 0:
            raise ValueError("lam must be > 0")

    @property
    def dim(self) -> int:
        """Input dimension d (the state has d + 1 coordinates)."""
        return self.data.dim

    # ----------------------------------------------------------------- activation tables
    def preactivation(self, grid: BoxGrid) -> np.ndarray:
        r"""z_i(θ) = θᵀx_i on the θ-cell centres, shape (n, N_θ1[, N_θ2])."""
        theta = np.meshgrid(*grid.centres[:-1], indexing="ij")
        return sum(t[None] * self.data.x[:, k].reshape((-1,) + (1,) * len(theta))
                   for k, t in enumerate(theta))

    def h_table(self, grid: BoxGrid) -> np.ndarray:
        """h(θ_c, x_i) = h̃(θ_cᵀx_i), shape (n, N_θ1[, N_θ2])."""
        return ACTIVATIONS[self.activation][0](self.preactivation(grid))

    def dh_table(self, grid: BoxGrid) -> np.ndarray:
        """h̃'(θ_cᵀx_i), shape (n, N_θ1[, N_θ2])."""
        return ACTIVATIONS[self.activation][1](self.preactivation(grid))

    # ----------------------------------------------------------------- functionals
    def prediction(self, density: np.ndarray, grid: BoxGrid, h_table=None) -> np.ndarray:
        r"""f(p, x_i) = α ∑_θ h(θ, x_i) m_1(θ) |θ-cell|  (midpoint rule), shape (n,)."""
        h = self.h_table(grid) if h_table is None else h_table
        m1 = u_moments(density, grid, 1)
        vol_theta = float(np.prod(grid.spacing[:-1]))
        return self.alpha * vol_theta * (h.reshape(h.shape[0], -1) @ m1.ravel())

    def loss(self, prediction: np.ndarray) -> float:
        """L(p) = (1/n) ∑_i (f(p,x_i) − y_i)²."""
        return float(np.mean((prediction - self.data.y) ** 2))

    def coupling(self, prediction: np.ndarray, grid: BoxGrid, h_table=None) -> np.ndarray:
        r"""A(θ) = (2α/n) ∑_i r_i h(θ, x_i), so that Φ = δL/δp = u A(θ)."""
        h = self.h_table(grid) if h_table is None else h_table
        r = prediction - self.data.y
        return (2.0 * self.alpha / self.data.n) * np.tensordot(r, h, axes=(0, 0))

    def potential(self, coupling: np.ndarray, grid: BoxGrid) -> np.ndarray:
        r"""W(θ, u) = u A(θ) + λ(|θ|² + u²)/2 on the cell centres: the drift is −∇W."""
        mesh = grid.mesh()
        quad = sum(c ** 2 for c in mesh)
        return mesh[-1] * coupling[..., None] + 0.5 * self.lam * quad

    def drift(self, prediction: np.ndarray, grid: BoxGrid) -> tuple[np.ndarray, ...]:
        """(g_2 components..., g_1) of (3.4) at the cell centres (for tests and plots)."""
        r = prediction - self.data.y
        h = self.h_table(grid)
        dh = self.dh_table(grid)
        mesh = grid.mesh()
        u = mesh[-1]
        c = 2.0 * self.alpha / self.data.n
        g1 = -c * np.tensordot(r, h, axes=(0, 0))[..., None] - self.lam * u
        g2 = [-c * u * np.tensordot(r * self.data.x[:, k], dh, axes=(0, 0))[..., None]
              - self.lam * mesh[k] for k in range(self.dim)]
        return tuple(np.broadcast_to(g, grid.shape) for g in (*g2, g1))

    def log_reference(self, grid: BoxGrid) -> np.ndarray:
        """log p_0 at the cell centres, p_0 = N(0, I_{d+1})."""
        mesh = grid.mesh()
        return -0.5 * sum(c ** 2 for c in mesh) - 0.5 * grid.ndim * np.log(2 * np.pi)

    def kl(self, density: np.ndarray, grid: BoxGrid) -> float:
        """KL(p‖p_0) = ∑ p log(p/p_0) |cell|, with 0 log 0 = 0."""
        logp0 = np.broadcast_to(self.log_reference(grid), grid.shape)
        pos = density > 0
        return float(np.sum(density[pos] * (np.log(density[pos]) - logp0[pos])) * grid.cell_volume)

    def free_energy(self, loss: float, kl: float) -> float:
        """Q(p) = L(p) + λ KL(p‖p_0), the Lyapunov functional of (3.4)."""
        return loss + self.lam * kl

    def ntk_gram(self, density: np.ndarray, grid: BoxGrid) -> np.ndarray:
        r"""Gram matrix H(p) = H_1 + H_2 of (3.6).

        :math:`H_1 = E_p[u^2\langle\nabla_\theta h_i, \nabla_\theta h_j\rangle]
        = \sum_\theta m_2(\theta)\tilde h'_i\tilde h'_j\,x_i^\top x_j`,
        :math:`H_2 = E_p[h_i h_j] = \sum_\theta m_0(\theta) h_i h_j` (θ-cell volume weights).
        """
        n = self.data.n
        vol = float(np.prod(grid.spacing[:-1]))
        h = self.h_table(grid).reshape(n, -1)
        dh = self.dh_table(grid).reshape(n, -1)
        m0 = u_moments(density, grid, 0).ravel() * vol
        m2 = u_moments(density, grid, 2).ravel() * vol
        h1 = (dh * m2) @ dh.T * (self.data.x @ self.data.x.T)
        h2 = (h * m0) @ h.T
        return h1 + h2

    def diagnostics(self, density: np.ndarray, grid: BoxGrid) -> dict[str, np.ndarray | float]:
        """Everything saved with a snapshot: the quantities of Theorem 4.4 of the paper."""
        f = self.prediction(density, grid)
        loss = self.loss(f)
        kl = self.kl(density, grid)
        return {
            "prediction": f,
            "loss": loss,
            "mass": grid.integrate(density),
            "min_density": float(density.min()),
            "kl": kl,
            "free_energy": self.free_energy(loss, kl),
            "ntk_lambda_min": float(np.linalg.eigvalsh(self.ntk_gram(density, grid))[0]),
        }

    # ----------------------------------------------------------------- Gibbs state
    def gibbs_density(self, prediction: np.ndarray, grid: BoxGrid) -> np.ndarray:
        r"""Discrete Gibbs density p ∝ exp(−W/λ) for the potential frozen at ``prediction``.

        This is the exact stationary state of the finite-volume scheme for that potential;
        self-consistency (``prediction`` reproduced by the result) makes it the stationary
        state of (3.4).
        """
        w = self.potential(self.coupling(prediction, grid), grid) / self.lam
        p = np.exp(-(w - w.min()))
        return p / grid.integrate(p)
