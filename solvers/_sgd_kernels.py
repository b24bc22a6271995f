r"""Compiled one-pass SGD for the isotropic-Gaussians example (see :mod:`solvers.sgd_isotropic`).

Array conventions
-----------------
* ``W`` (N, d): the neurons w_i, one row each (C order, so a row is one contiguous dot).
* ``X`` (B, d), ``Y`` (B,), ``Z`` (B, N), ``res`` (B,): work arrays of one mini-batch: the
  fresh samples, their labels, the pre-activations z_bi = ⟨w_i, x_b⟩ and the residuals
  y_b − ŷ(x_b).

One step k (math spec §1.2–1.3, with the noise convention of :mod:`solvers.sgd_isotropic`),
s_k = ε ξ(kε), B fresh samples (x_b, y_b):

.. math::

    w_i \leftarrow (1 - 2\lambda s_k)\,w_i
        + \frac{2 s_k}{B}\sum_b \big(y_b - \hat y(x_b)\big)\,\sigma'(\langle w_i, x_b\rangle)\,x_b
        + \sqrt{4 s_k/\beta}\;g_i,\qquad g_i \sim N(0, I_d),

with every ŷ(x_b) = (1/N)∑_j σ(⟨w_j, x_b⟩) and σ' evaluated at the weights before the step
(σ'(t) = κ on (t1, t2), 0 elsewhere; the kinks have measure zero).  The noise term is absent
when β = ∞ (passed as ``beta <= 0``).

Random draws, in this order per step (so the NumPy twin reproduces them bit for bit):
for b = 1..B: ``rng.random()`` (y_b = +1 if < ½ else −1), then ``rng.standard_normal()``
d times (x_b = (1 ± Δ) · those); then, with noise, ``rng.standard_normal()`` N·d times in
C order (g_i row by row, i.e. ``rng.standard_normal((N, d))``).

Step-size schedules ξ (``code``): 0 constant ξ₀; 1 power law ξ₀ (t₀ + t)^(−a);
2 piecewise constant, ``values[j]`` on [times[j−1], times[j]) (times[−1] = 0, times[J] = ∞).
"""
import math

import numpy as np

from ._jit import njit


@njit(inline="always")
def xi_at(t, code, scale, power, offset, times, values):
    """ξ(t) of schedule ``code`` (see the module docstring)."""
    if code == 0:
        return scale
    if code == 1:
        return scale * (offset + t) ** (-power)
    j = 0
    while j < times.size and t >= times[j]:
        j += 1
    return values[j]


@njit
def xi_array(t, code, scale, power, offset, times, values):
    """ξ at every entry of ``t`` (for tests)."""
    out = np.empty(t.size)
    for i in range(t.size):
        out[i] = xi_at(t[i], code, scale, power, offset, times, values)
    return out


@njit(inline="always")
def sigma(z, t1, t2, s1, kappa):
    """σ(z) = s1 + κ (clip(z, t1, t2) − t1)."""
    return s1 + kappa * (min(max(z, t1), t2) - t1)


@njit
def run_steps(W, k0, n_steps, eps, code, scale, power, offset, times, values, delta,
              t1, t2, s1, s2, lam, beta, rng, X, Y, Z, res):
    r"""SGD steps k0, …, k0 + n_steps − 1 in place (see the module docstring for one step).

    ``beta <= 0`` means noiseless (β = ∞).  The batch size B is ``X.shape[0]``.  Returns the
    number of steps done: fewer than ``n_steps`` only if a prediction became non-finite (the
    weights are then those before the failing step).
    """
    n, d = W.shape
    batch = X.shape[0]
    kappa = (s2 - s1) / (t2 - t1)
    inv_n = 1.0 / n
    for step in range(n_steps):
        s = eps * xi_at((k0 + step) * eps, code, scale, power, offset, times, values)
        for b in range(batch):
            if rng.random() < 0.5:
                Y[b] = 1.0
                scale_x = 1.0 + delta
            else:
                Y[b] = -1.0
                scale_x = 1.0 - delta
            for j in range(d):
                X[b, j] = scale_x * rng.standard_normal()
        for b in range(batch):
            acc = 0.0
            for i in range(n):
                z = 0.0
                for j in range(d):
                    z += W[i, j] * X[b, j]
                Z[b, i] = z
                acc += sigma(z, t1, t2, s1, kappa)
            res[b] = Y[b] - acc * inv_n
            if not math.isfinite(res[b]):
                return step
        gain = 2.0 * s * kappa / batch
        decay = 1.0 - 2.0 * lam * s
        for i in range(n):
            if decay != 1.0:
                for j in range(d):
                    W[i, j] *= decay
            for b in range(batch):
                z = Z[b, i]
                if t1 < z < t2:
                    c = gain * res[b]
                    for j in range(d):
                        W[i, j] += c * X[b, j]
        if beta > 0.0:
            sd = math.sqrt(4.0 * s / beta)
            for i in range(n):
                for j in range(d):
                    W[i, j] += sd * rng.standard_normal()
    return n_steps


@njit
def radii(W, out):
    """out_i = ‖w_i‖."""
    n, d = W.shape
    for i in range(n):
        acc = 0.0
        for j in range(d):
            acc += W[i, j] * W[i, j]
        out[i] = math.sqrt(acc)
