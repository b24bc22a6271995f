r"""Finite-width networks trained by noisy gradient descent: the particle scheme of PDE (3.4).

Continuous problem
------------------
A two-layer network of width m, :math:`f_m(x) = \frac{\alpha}{m}\sum_{j=1}^m u_j\,\tilde h(\theta_j^\top x)`,
trained on S = {(x_i, y_i)}, i ≤ n, with the regularised square loss of Chen, Cao, Gu & Zhang
(2020), objective (3.3),

.. math::

    \widehat Q(z_1,\dots,z_m) = \frac1n\sum_i (f_m(x_i) - y_i)^2
        + \frac{\lambda}{m}\sum_j \tfrac12(|\theta_j|^2 + u_j^2),\qquad z_j = (\theta_j, u_j).

Scaling (math spec §2.4).  With :math:`r_i = f_m(x_i) - y_i` and the empirical measure
:math:`\hat p_m = \frac1m\sum_j\delta_{z_j}`,

.. math::

    \nabla_{u_j}\widehat Q = \frac1m\Big(\frac{2\alpha}{n}\sum_i r_i h(\theta_j,x_i) + \lambda u_j\Big)
    = -\frac1m\,g_1(z_j;\hat p_m),\qquad
    \nabla_{\theta_j}\widehat Q = -\frac1m\,g_2(z_j;\hat p_m),

with :math:`g_1, g_2` the drifts of PDE (3.4) (:mod:`fokkerplanck.models`): the per-neuron
gradient is O(1/m).  Algorithm 1 of the paper as printed (step η on :math:`\widehat Q`, noise
:math:`\sqrt\lambda\,N(0, 2\eta)`) therefore has an O(1/m) drift against O(1) noise.  The
scheme consistent with (3.4) — the one used here — is gradient descent on :math:`m\widehat Q`
with noise variance 2λη per coordinate and step:

.. math::

    z_j^{k+1} = z_j^k - \eta\,m\nabla_{z_j}\widehat Q(z^k) + \sqrt{2\lambda\eta}\,\xi_j^k
             = z_j^k + \eta\,g(z_j^k;\hat p_m^k) + \sqrt{2\lambda\eta}\,\xi_j^k,\qquad
    \xi_j^k \sim N(0, I_{d+1})\ \text{i.i.d.},

at time :math:`t = k\eta` (Prop. 3.1 of the paper: :math:`f_m(z^{\lfloor t/\eta\rfloor}) \to f(p_t)`).
Equivalently: Algorithm 1 with learning rate mη and temperature λ/m, i.e. Langevin dynamics
whose invariant law is :math:`\propto e^{-m\widehat Q/\lambda}`.  This is the explicit
Euler–Maruyama discretisation of the interacting SDE system

.. math::  dZ_j = g(Z_j; \hat p_m(t))\,dt + \sqrt{2\lambda}\,dB_j,

whose generator has diffusion λΔ: the law of one particle in the limit m → ∞ solves (3.4)
(propagation of chaos for McKean–Vlasov systems with smooth, bounded-coefficient
interaction — here the interaction enters only through the n averages f_m(x_i)).

Errors
------
* width:  :math:`f_m(x_i) - f(p_t, x_i) = O_P(m^{-1/2})` (central limit fluctuation; the bias
  is O(1/m)), so :math:`\max_i|f_m - f|` decays with slope −1/2 in m on a log–log plot, and the
  loss :math:`L_m` has mean :math:`L(p_t) + O(1/m) + O(\eta)` and standard deviation
  :math:`O(m^{-1/2})` over seeds;
* step:  weak order 1, :math:`E f_m^\eta(t) - f_m(t) = O(\eta)` (Euler–Maruyama with smooth
  drift), and — since the noise is additive — strong order 1 too: with the *same* Brownian
  path, :math:`|f^\eta_m(t) - f^{\eta/2}_m(t)| = O(\eta)` at fixed m.

The hot loop (:mod:`solvers._particle_kernels`) costs one pass over the m × n
(neuron, training point) pairs per step and stores the m × n table of activations.

Reproducibility: the initial particles are ``mean + std * rng.standard_normal((m, d + 1))``
and step k uses the next ``rng.standard_normal((m, d + 1))`` block of the same NumPy
``Generator`` (drawn inside the compiled kernel, bit-identical to NumPy), so a run is a
function of the seed only — not of how often it is saved or chunked — and
``rng.bit_generator.state`` after any step is all that is needed to resume.

References
----------
Z. Chen, Y. Cao, Q. Gu, T. Zhang, "A Generalized Neural Tangent Kernel Analysis for Two-layer
Neural Networks", NeurIPS 2020 (Algorithm 1, PDE (3.4), Prop. 3.1).
P. E. Kloeden, E. Platen, *Numerical Solution of Stochastic Differential Equations* (1992),
§14.1 (weak order 1 of Euler–Maruyama), §10.2 (strong order 1 for additive noise).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fokkerplanck.models import ACTIVATIONS, NoisyGDModel

from . import _particle_kernels as kern

__all__ = ["ParticleScheme", "ParticleState", "step_reference", "prediction_reference"]


@dataclass
class ParticleState:
    """Time, step count and the neurons of a finite network.

    Attributes
    ----------
    t : float
        Time t = k η.
    steps : int
        Steps done, k.
    zt : ndarray, shape (d+1, m)
        Neuron coordinates, one row per coordinate (θ_1, …, θ_d, u): the kernels' layout.
    H : ndarray, shape (⌈m/BLOCK⌉, n, BLOCK)
        Activations h̃(θ_jᵀx_i) at ``zt`` (a cache consistent with it).
    fsum : ndarray, shape (n,)
        ∑_j u_j h̃(θ_jᵀx_i) at ``zt``.
    """

    t: float
    steps: int
    zt: np.ndarray
    H: np.ndarray
    fsum: np.ndarray

    @property
    def count(self) -> int:
        """Number of neurons m."""
        return self.zt.shape[1]

    @property
    def particles(self) -> np.ndarray:
        """The neurons as an (m, d+1) view, columns (θ_1, …, θ_d, u) (no copy)."""
        return self.zt.T


class ParticleScheme:
    """Noisy gradient descent on m neurons, consistent with PDE (3.4) (see module docstring).

    Parameters
    ----------
    model : NoisyGDModel
        Data, activation, α and λ.
    count : int
        Width m.
    step : float
        Step size η (time t = k η).
    """

    #: weak order in η of the scheme (Euler–Maruyama); also its strong order (additive noise)
    order = 1

    def __init__(self, model: NoisyGDModel, count: int, step: float):
        if count < 1:
            raise ValueError("count must be >= 1")
        if not step > 0:
            raise ValueError("step must be > 0")
        self.model = model
        self.count = int(count)
        self.step = float(step)
        self.act = kern.ACTIVATION_CODES[model.activation]
        self.x = np.ascontiguousarray(model.data.x, dtype=float)
        self.y = np.ascontiguousarray(model.data.y, dtype=float)

    @property
    def dim(self) -> int:
        """Input dimension d (each neuron has d + 1 coordinates)."""
        return self.x.shape[1]

    @property
    def evaluations_per_step(self) -> int:
        """Neuron × training-point pairs visited per step, m n."""
        return self.count * self.x.shape[0]

    @staticmethod
    def table_bytes(count: int, n: int) -> int:
        """Memory of the activation table for m = ``count`` neurons and n training points."""
        blocks = -(-count // kern.BLOCK)
        return 8 * blocks * n * kern.BLOCK

    # ------------------------------------------------------------------ states
    def state_from_particles(self, particles, t: float = 0.0, steps: int = 0) -> ParticleState:
        """A state holding a copy of ``particles`` (m, d+1), columns (θ_1, …, θ_d, u)."""
        z = np.asarray(particles, dtype=float)
        if z.shape != (self.count, self.dim + 1):
            raise ValueError(f"particles must have shape {(self.count, self.dim + 1)}, "
                             f"got {z.shape}")
        zt = np.ascontiguousarray(z.T)
        blocks = -(-self.count // kern.BLOCK)
        H = np.zeros((blocks, self.x.shape[0], kern.BLOCK))
        fsum = np.empty(self.x.shape[0])
        kern.features(zt, self.x, self.act, H, fsum)
        return ParticleState(float(t), int(steps), zt, H, fsum)

    def initial_state(self, mean, std, rng: np.random.Generator) -> ParticleState:
        """Neurons i.i.d. N(mean, diag(std²)): ``mean + std * rng.standard_normal((m, d+1))``."""
        mean = np.broadcast_to(np.asarray(mean, float), (self.dim + 1,))
        std = np.broadcast_to(np.asarray(std, float), (self.dim + 1,))
        return self.state_from_particles(mean + std * rng.standard_normal((self.count,
                                                                            self.dim + 1)))

    def prediction(self, state: ParticleState) -> np.ndarray:
        """f_m(x_i) = (α/m) ∑_j u_j h̃(θ_jᵀx_i), shape (n,)."""
        return self.model.alpha * state.fsum / state.count

    # ------------------------------------------------------------------ time marching
    def advance(self, state: ParticleState, n_steps: int, rng: np.random.Generator) -> int:
        """``n_steps`` steps in place, noise from ``rng``; returns 0, or 1 if f_m became non-finite."""
        done = kern.run_steps(state.zt, state.H, state.fsum, self.x, self.y,
                              float(self.model.alpha), float(self.model.lam), self.step,
                              self.act, int(n_steps), rng)
        return self._finish(state, done, n_steps)

    def advance_with_noise(self, state: ParticleState, noise: np.ndarray) -> int:
        """K steps in place with given standard normals ``noise`` (K, m, d+1); 0 or 1 as above."""
        noise = np.ascontiguousarray(noise, dtype=float)
        if noise.ndim != 3 or noise.shape[1:] != (self.count, self.dim + 1):
            raise ValueError(f"noise must have shape (K, {self.count}, {self.dim + 1})")
        done = kern.run_steps_with_noise(state.zt, state.H, state.fsum, self.x, self.y,
                                         float(self.model.alpha), float(self.model.lam),
                                         self.step, self.act, noise)
        return self._finish(state, done, noise.shape[0])

    def _finish(self, state: ParticleState, done: int, requested: int) -> int:
        state.steps += int(done)
        state.t = state.steps * self.step
        return 0 if done == requested and np.isfinite(state.fsum).all() else 1


# ---------------------------------------------------------------------- NumPy twins
def prediction_reference(model: NoisyGDModel, particles: np.ndarray) -> np.ndarray:
    """f_m(x_i) = (α/m) ∑_j u_j h̃(θ_jᵀx_i) with NumPy, particles (m, d+1)."""
    h = ACTIVATIONS[model.activation][0]
    theta, u = particles[:, :-1], particles[:, -1]
    return model.alpha * (u @ h(theta @ model.data.x.T)) / particles.shape[0]


def step_reference(model: NoisyGDModel, particles: np.ndarray, step: float,
                   xi: np.ndarray) -> np.ndarray:
    r"""One step z + η g(z; p̂_m) + √(2λη) ξ from the formulas of math spec §2.2 (NumPy twin).

    g₁ = −A(θ_j) − λu_j with the coupling A(θ) = (2α/n)∑_i r_i h(θ, x_i) of
    :meth:`fokkerplanck.models.NoisyGDModel.coupling`, and
    g₂ = −u_j (2α/n) ∑_i r_i h̃'(θ_jᵀx_i) x_i − λθ_j.
    """
    h, dh = ACTIVATIONS[model.activation]
    x, y = model.data.x, model.data.y
    n = x.shape[0]
    theta, u = particles[:, :-1], particles[:, -1]
    s = theta @ x.T                                       # (m, n)
    r = prediction_reference(model, particles) - y
    c = 2.0 * model.alpha / n
    g1 = -c * (h(s) @ r) - model.lam * u
    g2 = -c * u[:, None] * ((dh(s) * r) @ x) - model.lam * theta
    drift = np.column_stack([g2, g1])
    return particles + step * drift + np.sqrt(2.0 * model.lam * step) * xi
