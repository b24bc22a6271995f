r"""Compiled kernels of the noisy-gradient-descent particle scheme (see :mod:`solvers.particles`).

Array conventions (structure of arrays, so that the loops over neurons vectorise)
--------------------------------------------------------------------------------
* ``zt`` (d+1, m): row q < d is the coordinate θ_q of every neuron, row d is u.  (The
  files and the public API use the transposed (m, d+1) layout, columns θ_1, …, θ_d, u.)
* ``x`` (n, d): training inputs; ``y`` (n,) targets.
* ``H`` (⌈m/BLOCK⌉, n, BLOCK): the feature table :math:`H_{ij} = \tilde h(\theta_j^\top x_i)`
  at the current particles, stored as ``H[j // BLOCK, i, j % BLOCK]`` so that one block of
  neurons is one contiguous chunk.  A block is rewritten right after its neurons are
  updated at step k and read back at step k+1, so each (neuron, training point) pair costs
  one activation per step.  Memory: 8 m n bytes.
* ``fsum`` (n,): :math:`\sum_j u_j H_{ij}`, so that :math:`f_m(x_i) = \frac{\alpha}{m}\,fsum_i`;
  kept consistent with ``zt`` on entry and exit of every kernel.
* ``act``: 0 = tanh, 1 = sigmoid, 2 = linear (:data:`ACTIVATION_CODES`).

One step (math spec §2.4, symbols of §2.2), with :math:`w_i = \frac{2\alpha}{n}(f_i - y_i)`:

.. math::

    A_j = \sum_i w_i H_{ij},\qquad
    B_{jq} = \sum_i w_i\,\tilde h'(\theta_j^\top x_i)\,x_{iq},\\
    \theta_{jq} \leftarrow \theta_{jq} + \eta(-u_j B_{jq} - \lambda\theta_{jq})
        + \sqrt{2\lambda\eta}\,\xi_{jq},\qquad
    u_j \leftarrow u_j + \eta(-A_j - \lambda u_j) + \sqrt{2\lambda\eta}\,\xi_{jd},

i.e. the drift :math:`(g_2, g_1)` of PDE (3.4) at the empirical measure :math:`\hat p_m`, frozen
at the start of the step (explicit Euler–Maruyama).  Neurons are processed in blocks of
:data:`BLOCK`; inside a block every loop runs over the neurons, contiguous in memory.

Noise: ξ_j is row j of a (m, d+1) array of standard normals in C order, i.e. the draws are
θ_{j1}, …, θ_{jd}, u_j for j = 1..m.  :func:`run_steps` draws them from a NumPy
``Generator`` inside the kernel (numba reproduces ``rng.standard_normal((m, d + 1))``
bit for bit, and leaves the generator in the same state); :func:`run_steps_with_noise` takes
them from an array (coupled step-size studies, tests).

tanh is :func:`fast_tanh`, a vectorisable polynomial evaluation accurate to a few ulp
(numba lowers ``math.tanh``/``math.exp`` to scalar libm calls, which stop the loops over
neurons from vectorising: measured 14 ns and 3.2 ns per value, against 1.1 ns).
"""
import math

import numpy as np

from ._jit import njit

#: activation name -> integer code used by the kernels
ACTIVATION_CODES = {"tanh": 0, "sigmoid": 1, "linear": 2}

#: neurons per block (work arrays of the kernels have this many columns)
BLOCK = 32


#: beyond this |z|, tanh(z) rounds to ±1 in double precision (1 − tanh(19.1) < 2⁻⁵⁴)
TANH_SATURATION = 19.1


@njit(inline="always")
def fast_tanh(z):
    r"""tanh(z) from e = e^{2z} − 1, computed as 7 doublings of a Taylor expm1.

    e₀ = expm1(2z/128) by its Taylor polynomial of degree 13 (|2z/128| ≤ 0.3: truncation
    < 6e-18), then :math:`e_{k+1} = e_k(2 + e_k)` (i.e. (1+e)² − 1 without cancellation)
    seven times, and tanh z = e/(e + 2).  Branch-free apart from the clamp to ±19.1, so the
    loops that call it vectorise; measured ≤ 5.6e-16 absolute and ≤ 1e-15 relative error on
    [−25, 25], 1.1 ns per value (libm ``tanh`` through numba: 14 ns).  NaN propagates and
    ±inf gives ±1.
    """
    zc = TANH_SATURATION if z > TANH_SATURATION else (
        -TANH_SATURATION if z < -TANH_SATURATION else z)
    y = zc * (2.0 / 128.0)
    p = 1.0 / 6227020800.0
    p = p * y + 1.0 / 479001600.0
    p = p * y + 1.0 / 39916800.0
    p = p * y + 1.0 / 3628800.0
    p = p * y + 1.0 / 362880.0
    p = p * y + 1.0 / 40320.0
    p = p * y + 1.0 / 5040.0
    p = p * y + 1.0 / 720.0
    p = p * y + 1.0 / 120.0
    p = p * y + 1.0 / 24.0
    p = p * y + 1.0 / 6.0
    p = p * y + 0.5
    p = p * y + 1.0
    e = p * y
    for _ in range(7):
        e = e * (2.0 + e)
    return e / (e + 2.0)


@njit(inline="always")
def activation(z, act):
    """h̃(z): tanh, the logistic sigmoid (as (1 + tanh(z/2))/2) or the identity."""
    if act == 0:
        return fast_tanh(z)
    elif act == 1:
        return 0.5 + 0.5 * fast_tanh(0.5 * z)
    return z


@njit(inline="always")
def activation_slope(hz, act):
    """h̃'(z) from hz = h̃(z): 1 − hz² (tanh), hz(1 − hz) (sigmoid), 1 (linear)."""
    if act == 0:
        return 1.0 - hz * hz
    elif act == 1:
        return hz * (1.0 - hz)
    return 1.0


@njit(inline="always")
def _refresh_block(zt, x, act, H, fsum, j0, nb, s):
    """H_{i,j} = h̃(θ_jᵀx_i) for j in [j0, j0+nb) and fsum_i += ∑_j u_j H_{ij}."""
    n, d = x.shape
    for i in range(n):
        x0 = x[i, 0]
        for jj in range(nb):
            s[jj] = zt[0, j0 + jj] * x0
        for q in range(1, d):
            xq = x[i, q]
            for jj in range(nb):
                s[jj] += zt[q, j0 + jj] * xq
        acc = 0.0
        for jj in range(nb):
            hz = activation(s[jj], act)
            H[j0 // BLOCK, i, jj] = hz
            acc += zt[d, j0 + jj] * hz
        fsum[i] += acc


@njit(inline="always")
def _update_block(zt, x, act, H, w, j0, nb, lam, eta, sq, xi, a, b, t):
    """Euler–Maruyama update of neurons [j0, j0+nb); ``xi`` (d+1, ≥nb) holds their noise."""
    n, d = x.shape
    for jj in range(nb):
        a[jj] = 0.0
    for q in range(d):
        for jj in range(nb):
            b[q, jj] = 0.0
    for i in range(n):
        wi = w[i]
        for jj in range(nb):
            hz = H[j0 // BLOCK, i, jj]
            a[jj] += wi * hz
            t[jj] = wi * activation_slope(hz, act)
        for q in range(d):
            xq = x[i, q]
            for jj in range(nb):
                b[q, jj] += t[jj] * xq
    for q in range(d):
        for jj in range(nb):
            th = zt[q, j0 + jj]
            zt[q, j0 + jj] = th + eta * (-zt[d, j0 + jj] * b[q, jj] - lam * th) + sq * xi[q, jj]
    for jj in range(nb):
        u = zt[d, j0 + jj]
        zt[d, j0 + jj] = u + eta * (-a[jj] - lam * u) + sq * xi[d, jj]


@njit(inline="always")
def _weights(fsum, y, alpha, m, w):
    """w_i = (2α/n)(f_i − y_i) with f_i = (α/m) fsum_i, then fsum ← 0; False (and nothing
    changed) if some fsum_i is not finite."""
    n = y.shape[0]
    for i in range(n):
        if not math.isfinite(fsum[i]):
            return False
    c = 2.0 * alpha / n
    for i in range(n):
        w[i] = c * (alpha * fsum[i] / m - y[i])
        fsum[i] = 0.0
    return True


@njit
def features(zt, x, act, H, fsum):
    r"""H_{ij} = h̃(θ_jᵀx_i) and fsum_i = ∑_j u_j H_{ij}."""
    m = zt.shape[1]
    s = np.empty(BLOCK)
    for i in range(fsum.shape[0]):
        fsum[i] = 0.0
    for j0 in range(0, m, BLOCK):
        _refresh_block(zt, x, act, H, fsum, j0, min(BLOCK, m - j0), s)


@njit
def run_steps(zt, H, fsum, x, y, alpha, lam, eta, act, n_steps, rng):
    r"""``n_steps`` noisy-GD steps in place, the noise drawn from the NumPy Generator ``rng``.

    Per step zₖ₊₁ = zₖ + η g(zₖ; p̂ₘ) + √(2λη) ξ with ξ = rng.standard_normal((m, d+1)) (the
    same stream and order).  ``H`` and ``fsum`` must be consistent with ``zt`` on entry
    (:func:`features`); they are on exit.  Returns the number of steps done: fewer than
    ``n_steps`` only if the prediction became non-finite (the state is left at that point).
    """
    dp1, m = zt.shape
    n = y.shape[0]
    sq = math.sqrt(2.0 * lam * eta)
    w = np.empty(n)
    xi = np.empty((dp1, BLOCK))
    a = np.empty(BLOCK)
    b = np.empty((dp1, BLOCK))
    t = np.empty(BLOCK)
    for k in range(n_steps):
        if not _weights(fsum, y, alpha, m, w):
            return k
        for j0 in range(0, m, BLOCK):
            nb = min(BLOCK, m - j0)
            for jj in range(nb):
                for q in range(dp1):
                    xi[q, jj] = rng.standard_normal()
            _update_block(zt, x, act, H, w, j0, nb, lam, eta, sq, xi, a, b, t)
            _refresh_block(zt, x, act, H, fsum, j0, nb, t)
    return n_steps


@njit
def run_steps_with_noise(zt, H, fsum, x, y, alpha, lam, eta, act, noise):
    r"""As :func:`run_steps`, with the standard normals given: ``noise`` (K, m, d+1), K steps."""
    dp1, m = zt.shape
    n = y.shape[0]
    sq = math.sqrt(2.0 * lam * eta)
    n_steps = noise.shape[0]
    w = np.empty(n)
    xi = np.empty((dp1, BLOCK))
    a = np.empty(BLOCK)
    b = np.empty((dp1, BLOCK))
    t = np.empty(BLOCK)
    for k in range(n_steps):
        if not _weights(fsum, y, alpha, m, w):
            return k
        for j0 in range(0, m, BLOCK):
            nb = min(BLOCK, m - j0)
            for jj in range(nb):
                for q in range(dp1):
                    xi[q, jj] = noise[k, j0 + jj, q]
            _update_block(zt, x, act, H, w, j0, nb, lam, eta, sq, xi, a, b, t)
            _refresh_block(zt, x, act, H, fsum, j0, nb, t)
    return n_steps


@njit
def activation_array(zs, act):
    """h̃ elementwise (to test the fast tanh against NumPy)."""
    out = np.empty_like(zs)
    for k in range(zs.size):
        out.flat[k] = activation(zs.flat[k], act)
    return out
