r"""Exponential time differencing with error control, shared by the spectral solvers.

For c' = L c + N(c) with a *diagonal* linear part L (both spectral bases make it so), one step
of size h of ETDRK4 (Cox & Matthews, J. Comput. Phys. 176 (2002) 430) or ETDRK4-B (Krogstad,
J. Comput. Phys. 203 (2005) 72) reads, with E = e^{hL}, E₂ = e^{hL/2} and the φ-functions
φ_j(hL),

.. math::  a = E_2 c + \tfrac h2\varphi_1(\tfrac{hL}2) N_1,\quad \dots,\quad
           c^{n+1} = E c + h[(\varphi_1 - 3\varphi_2 + 4\varphi_3) N_1
           + 2(\varphi_2 - 2\varphi_3)(N_2 + N_3) + (4\varphi_3 - \varphi_2) N_4],

exact for the linear part and keeping every fixed point of Lc + N(c) = 0.  The embedded
estimate δ = h(4φ₃ − φ₂)(N(c^{n+1}) − N₄) (third order) drives the step size:
‖δ‖ ≤ rtol ‖c‖ accepts, h ← h · clip(0.9 (‖δ‖/(rtol‖c‖))^{−1/4}, 0.2, 4).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["phi_functions", "etd_weights", "etdrk4_step", "advance_adaptive"]


_PHI3_TAYLOR = tuple(1.0 / math.factorial(m + 3) for m in range(15))


def phi_functions(z) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""(e^z, φ_1, φ_2, φ_3) with :math:`\varphi_j(z) = \sum_{m\ge0} z^m/(m+j)!`, elementwise.

    For |z| < 1/2: φ_3 by its Taylor series (15 terms, remainder < 1e-17), then the upward
    recurrence :math:`\varphi_{j-1} = z\varphi_j + 1/(j-1)!` (stable: it multiplies by |z| < 1).
    Elsewhere the closed forms :math:`\varphi_1 = (e^z-1)/z`, :math:`\varphi_2 = (\varphi_1-1)/z`,
    :math:`\varphi_3 = (\varphi_2-1/2)/z` (cancellation costs at most a few ulps there)."""
    z = np.asarray(z, float)
    small = np.abs(z) < 0.5
    zs = np.where(small, z, 0.0)
    p3s = np.zeros_like(z)
    for coef in reversed(_PHI3_TAYLOR):
        p3s = p3s * zs + coef
    p2s = zs * p3s + 0.5
    p1s = zs * p2s + 1.0
    zl = np.where(small, 1.0, z)
    p1 = np.where(small, p1s, np.expm1(zl) / zl)
    p2 = np.where(small, p2s, (p1 - 1.0) / zl)
    p3 = np.where(small, p3s, (p2 - 0.5) / zl)
    return np.exp(z), p1, p2, p3


def etd_weights(z: np.ndarray, h: float) -> dict[str, np.ndarray]:
    """The diagonal step weights for z = h·L (elementwise): E, E₂, hφ's and final F₁..F₃."""
    e1, p1, p2, p3 = phi_functions(z)
    e2, q1, q2, _ = phi_functions(0.5 * z)
    return dict(E=e1, E2=e2, hP1=h * p1, hP2=h * p2, hQ1=0.5 * h * q1, hQ2=h * q2,
                F1=h * (p1 - 3 * p2 + 4 * p3), F2=2 * h * (p2 - 2 * p3), F3=h * (4 * p3 - p2))


def etdrk4_step(c, n0, ph: dict, nonlinear, variant: str):
    """One step from c with N(c) = n0 and weights ``ph`` (:func:`etd_weights`).

    ``variant`` is ``"cox-matthews"`` (ETDRK4) or ``"krogstad"`` (ETDRK4-B).  Returns
    (c_new, N(c_new), δ) with δ the embedded error estimate.
    """
    E, E2, hQ1 = ph["E"], ph["E2"], ph["hQ1"]
    a = E2 * c + hQ1 * n0
    na = nonlinear(a)
    if variant == "cox-matthews":
        b = E2 * c + hQ1 * na
        nb = nonlinear(b)
        cs = E2 * a + hQ1 * (2.0 * nb - n0)
    else:  # Krogstad
        b = E2 * c + hQ1 * n0 + ph["hQ2"] * (na - n0)
        nb = nonlinear(b)
        cs = E * c + ph["hP1"] * n0 + 2.0 * ph["hP2"] * (nb - n0)
    nc = nonlinear(cs)
    new = E * c + ph["F1"] * n0 + ph["F2"] * (na + nb) + ph["F3"] * nc
    nnew = nonlinear(new)
    return new, nnew, ph["F3"] * (nnew - nc)


def advance_adaptive(state, t_end: float, max_steps: int, step, nonlinear, rtol: float,
                     dt_max: float, initial_dt) -> int:
    """Error-controlled march of ``state`` (``t``, ``coefficients``, counters, ``dt_next``).

    ``step(c, n0, h) -> (c_new, N(c_new), δ)``; ``initial_dt(c, n0)`` proposes the first h
    when the state carries none.  Lands exactly on ``t_end``; a step shortened to land keeps
    the natural h for the next call (stored in ``state.dt_next``, so a run split into calls —
    or resumed from a file — takes the same steps).  Returns 0, or 1 if h collapsed
    (non-finite values or an unstable coupling; the state keeps the last accepted c).
    """
    c = state.coefficients
    if state.t >= t_end:
        return 0
    n0 = nonlinear(c)
    state.rhs_evaluations += 1
    h = state.dt_next if state.dt_next else initial_dt(c, n0)
    steps = 0
    while state.t < t_end and steps < max_steps:
        h = min(h, dt_max)
        remaining = t_end - state.t
        last = h >= remaining * (1 - 1e-12)
        h_try = remaining if last else h
        new, nnew, delta = step(c, n0, h_try)
        state.rhs_evaluations += 4
        err = float(np.linalg.norm(delta)) / (rtol * max(float(np.linalg.norm(c)), 1e-300))
        if not (math.isfinite(err) and np.isfinite(new).all()):
            state.rejected += 1
            h = 0.25 * h_try
        elif err <= 1.0:
            c, n0 = new, nnew
            state.t = float(t_end) if last else state.t + h_try
            state.steps += 1
            steps += 1
            state.last_dt = h_try
            grow = 4.0 if err == 0 else min(4.0, max(0.2, 0.9 * err ** -0.25))
            if not (last and h_try < h):
                h = h_try * grow
            continue
        else:
            state.rejected += 1
            h = h_try * max(0.2, 0.9 * err ** -0.25)
        if h < 1e-14 * max(1.0, abs(state.t)):
            state.coefficients = c
            return 1
    state.coefficients = c
    state.dt_next = h
    return 0
