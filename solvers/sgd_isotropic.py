r"""Full-dimensional one-pass SGD for the isotropic-Gaussians example (the finite network).

Model (math spec §1.5): y = ±1 with probability ½, x | y ~ N(0, (1 ± Δ)² I_d),
ŷ(x) = (1/N) ∑_i σ(⟨w_i, x⟩), σ piecewise linear (slope κ on (t1, t2)).

Scheme (math spec §1.2–1.3, noise convention of :mod:`fokkerplanck.isotropic`): at step k,
with s_k = ε ξ(kε) and B fresh samples,

.. math::

    w_i^{k+1} = (1 - 2\lambda s_k)\,w_i^k
      + \frac{2 s_k}{B}\sum_{b=1}^B \big(y_b - \hat y(x_b; w^k)\big)\,\sigma'(\langle w_i^k, x_b\rangle)\,x_b
      + \sqrt{4 s_k/\beta}\;g_i^k ,\qquad t = k\varepsilon,

i.e. N s_k times the stochastic gradient of (y − ŷ)² (the mean-field learning-rate scaling),
plus weight decay and Langevin noise.  As N → ∞, ε → 0 the law of the neurons follows
∂_t ρ = 2ξ ∇·(ρ∇Ψ_λ) + (2ξ/β)Δρ, whose radial part is solved by :mod:`solvers.radial_fv`.
Errors against the PDE: O(N^{-1/2}) fluctuations of the empirical law, an O(1/N) bias of
the risk (the diagonal i = j terms of R_N and the correlations the dynamics builds), and
O(√ε) SGD noise (math spec §1.2, err_{N,D}).

Exact risk of the finite network (no sampling): R_N = 1 + (2/N)∑ v(‖w_i‖) +
(1/N²)∑_{ij} U(w_i, w_j) by :func:`fokkerplanck.gaussian_integrals.population_risk_network`
(O(N² K) at save times only).

Reproducibility: initial weights from :func:`fokkerplanck.isotropic.sample_initial_weights`,
then every step draws from the same NumPy ``Generator`` inside the compiled kernel in the
order documented in :mod:`solvers._sgd_kernels` (bit-identical to the NumPy twin
:func:`step_reference`), so ``rng.bit_generator.state`` after a step and the weights are all
that is needed to resume.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _sgd_kernels as kern

__all__ = ["SGDScheme", "SGDState", "step_reference"]


@dataclass
class SGDState:
    """Time t = kε, step count k, and the neurons W (N, d)."""

    t: float
    steps: int
    weights: np.ndarray


def step_reference(W, k, eps, model, rng, batch: int = 1) -> np.ndarray:
    """One SGD step in NumPy (the twin of :func:`solvers._sgd_kernels.run_steps`); new W."""
    W = np.array(W, float)
    n, d = W.shape
    act = model.act
    s = eps * float(model.schedule.xi(k * eps))
    xs, ys = [], []
    for _ in range(batch):
        y = 1.0 if rng.random() < 0.5 else -1.0
        scale = 1.0 + model.delta if y > 0 else 1.0 - model.delta
        x = np.array([rng.standard_normal() for _ in range(d)]) * scale
        xs.append(x)
        ys.append(y)
    X = np.array(xs)
    Z = X @ W.T                                   # (B, N)
    res = np.array(ys) - act(Z).mean(axis=1)
    slope = np.where((Z > act.t1) & (Z < act.t2), act.kappa, 0.0)
    grad = (2.0 * s / batch) * ((res[:, None] * slope).T @ X)
    W = (1.0 - 2.0 * model.lam * s) * W + grad
    if model.noisy:
        W = W + math.sqrt(4.0 * s / model.beta) * rng.standard_normal((n, d))
    return W


class SGDScheme:
    """One-pass SGD on N neurons in R^d (see the module docstring).

    Parameters
    ----------
    model : IsotropicModel
        Δ, d (finite), activation, β, λ, schedule.
    count : int
        Number of neurons N.
    step : float
        ε: s_k = ε ξ(kε), time t = kε.
    batch : int
        Fresh samples per step.
    """

    def __init__(self, model, count: int, step: float, batch: int = 1):
        if math.isinf(model.dim):
            raise ValueError("SGD needs a finite dimension d")
        if count < 1 or batch < 1 or not step > 0:
            raise ValueError("count, batch must be >= 1 and step > 0")
        self.model = model
        self.count = int(count)
        self.dim = int(model.dim)
        self.step = float(step)
        self.batch = int(batch)
        self._sched = model.schedule.kernel_args()
        act = model.act
        self._act = (float(act.t1), float(act.t2), float(act.s1), float(act.s2))
        self._beta = float(model.beta) if model.noisy else 0.0
        self._X = np.empty((self.batch, self.dim))
        self._Y = np.empty(self.batch)
        self._Z = np.empty((self.batch, self.count))
        self._res = np.empty(self.batch)
        self._r = np.empty(self.count)

    def initial_state(self, rng: np.random.Generator, kappa: float, dof: float) -> SGDState:
        from fokkerplanck.isotropic import sample_initial_weights

        W = sample_initial_weights(rng, self.count, self.dim, kappa, dof)
        return SGDState(0.0, 0, np.ascontiguousarray(W))

    def state_from_weights(self, weights, t: float, steps: int) -> SGDState:
        W = np.ascontiguousarray(np.array(weights, dtype=float))
        if W.shape != (self.count, self.dim):
            raise ValueError(f"weights must have shape {(self.count, self.dim)}")
        return SGDState(float(t), int(steps), W)

    def advance(self, state: SGDState, n_steps: int, rng: np.random.Generator) -> int:
        """``n_steps`` SGD steps in place; returns 0, or 1 if the output became non-finite."""
        if n_steps <= 0:
            return 0
        done = kern.run_steps(state.weights, state.steps, n_steps, self.step, *self._sched,
                              float(self.model.delta), *self._act, float(self.model.lam),
                              self._beta, rng, self._X, self._Y, self._Z, self._res)
        state.steps += done
        state.t = state.steps * self.step
        return 0 if done == n_steps else 1

    def radii(self, state: SGDState) -> np.ndarray:
        """‖w_i‖ (a new array)."""
        kern.radii(state.weights, self._r)
        return self._r.copy()

    def risk(self, state: SGDState) -> float:
        """Exact population risk R_N of the current network (O(N² K))."""
        from fokkerplanck.gaussian_integrals import population_risk_network

        return float(population_risk_network(state.weights, self.model.delta, self.model.act))
