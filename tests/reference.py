"""Independent reference solutions for the Chen--Cao--Gu--Zhang PDE (3.4).

This module is deliberately self-contained (numpy + scipy only, nothing from
the package under test) so that it can serve as an independent oracle for the
finite-volume solver.  Notation follows ``spec/math-spec.md`` sections 2.2--2.4
and 3.

The PDE, for the state :math:`z=(\\theta,u)\\in\\mathbb R^{d+1}`, is

.. math::

    \\partial_t p = -\\partial_u(p g_1) - \\nabla_\\theta\\cdot(p g_2) + \\lambda\\Delta p,

    g_1 = -\\frac{2\\alpha}{n}\\sum_i r_i h(\\theta,x_i) - \\lambda u,\\qquad
    g_2 = -\\frac{2\\alpha}{n} u\\sum_i r_i \\nabla_\\theta h(\\theta,x_i) - \\lambda\\theta,

with residuals :math:`r_i = f(p,x_i)-y_i`,
:math:`f(p,x)=\\alpha\\int u\\,\\tilde h(\\theta^\\top x)\\,p\\,d\\theta du` and
:math:`p_0=N(0,I_{d+1})`.

Contents
--------
gibbs_prediction
    Self-consistent Gibbs fixed point (spec section 2.3), on :math:`\\mathbb R^{d+1}`
    or restricted to the box :math:`[-L,L]^{d+1}`.
gibbs_linear_closed_form
    Closed-form Gibbs state for the linear activation (validates the quadrature).
linear_closure_prediction
    Exact Gaussian closure for the linear activation (spec section 3 item 4).
linear_closure_euler
    The :math:`m\\to\\infty` limit of the Euler--Maruyama particle scheme for the
    linear activation (a discrete Gaussian closure); converges to the ODE with
    order one in the step.
ou_gaussian, ou_cell_averages
    The :math:`\\alpha=0` Ornstein--Uhlenbeck solution and its exact cell averages.
simulate_particles
    The consistent particle scheme of spec section 2.4 (noisy GD with the
    :math:`m`-rescaled gradient), for Monte-Carlo cross-checks.
tiny_dataset_2d, chk_dataset_1d
    Small data sets shared by the tests.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize, special

__all__ = [
    "ACTIVATIONS",
    "activation_functions",
    "chk_dataset_1d",
    "gibbs_prediction",
    "gibbs_linear_closed_form",
    "linear_closure_euler",
    "linear_closure_prediction",
    "ou_cell_averages",
    "ou_gaussian",
    "simulate_particles",
    "tiny_dataset_2d",
]

ACTIVATIONS = ("tanh", "sigmoid", "linear")

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


# --------------------------------------------------------------------------
# data sets and activations
# --------------------------------------------------------------------------
def tiny_dataset_2d():
    """Return a tiny ``d = 2`` training set used by the reference tests.

    Returns
    -------
    x : ndarray, shape (4, 2)
        Inputs, each with :math:`\\|x_i\\|\\le 1` (Assumption 4.1 of S001).
    y : ndarray, shape (4,)
        Labels with :math:`|y_i|\\le 1`.
    """
    x = np.array([[0.6, -0.3], [-0.5, 0.7], [0.2, 0.9], [-0.8, -0.4]])
    y = np.array([0.4, -0.3, 0.5, -0.2])
    return x, y


def chk_dataset_1d():
    """Return the ``d = 1`` [CHK] data set of spec section 2.4.

    Returns
    -------
    x : ndarray, shape (4, 1)
        :math:`X=(-0.8,-0.2,0.5,0.9)^\\top`.
    y : ndarray, shape (4,)
        :math:`y=(0.3,-0.5,0.6,0.1)`.
    """
    x = np.array([-0.8, -0.2, 0.5, 0.9])[:, None]
    y = np.array([0.3, -0.5, 0.6, 0.1])
    return x, y


def activation_functions(activation):
    """Return :math:`(\\tilde h, \\tilde h', \\sup|\\tilde h|)` for a named activation.

    Parameters
    ----------
    activation : {"tanh", "sigmoid", "linear"}
        Name of :math:`\\tilde h`.

    Returns
    -------
    h, dh : callable
        Vectorised :math:`\\tilde h(s)` and :math:`\\tilde h'(s)`.
    hmax : float
        :math:`\\sup_s|\\tilde h(s)|` (``inf`` for the linear activation).
    """
    if activation == "tanh":
        return np.tanh, lambda s: 1.0 - np.tanh(s) ** 2, 1.0
    if activation == "sigmoid":
        def dsig(s):
            e = special.expit(s)
            return e * (1.0 - e)
        return special.expit, dsig, 1.0
    if activation in ("linear", "identity"):
        return (lambda s: np.asarray(s, dtype=float) * 1.0,
                lambda s: np.ones_like(np.asarray(s, dtype=float)), math.inf)
    raise ValueError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS}")


def _as_inputs(x, y):
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    y = np.asarray(y, dtype=float).reshape(-1)
    if x.shape[0] != y.shape[0]:
        raise ValueError("x and y have different numbers of samples")
    return x, y


# --------------------------------------------------------------------------
# truncated-normal helpers
# --------------------------------------------------------------------------
def _log_ndtr_diff(a, b):
    """Return ``log(Phi(b) - Phi(a))`` elementwise for ``a < b``, stably."""
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    out = np.empty(a.shape)
    left = b <= 0.0          # both limits in the left tail
    right = a >= 0.0         # both limits in the right tail: mirror
    mid = ~(left | right)    # straddles 0: Phi(b) - Phi(a) >= modest, direct
    if np.any(left):
        lb, la = special.log_ndtr(b[left]), special.log_ndtr(a[left])
        out[left] = lb + np.log1p(-np.exp(la - lb))
    if np.any(right):
        lb, la = special.log_ndtr(-a[right]), special.log_ndtr(-b[right])
        out[right] = lb + np.log1p(-np.exp(la - lb))
    if np.any(mid):
        out[mid] = np.log(special.ndtr(b[mid]) - special.ndtr(a[mid]))
    return out


def _u_moments(b, half_width):
    """Moments of :math:`u\\mid\\theta \\propto e^{-u^2/2-ub}` (on :math:`[-L,L]` if given).

    Returns ``(logZ, m1, m2)`` with :math:`\\log\\int e^{-u^2/2-ub}du/\\sqrt{2\\pi}`,
    :math:`E[u]`, :math:`E[u^2]`.  Untruncated: :math:`b^2/2, -b, 1+b^2`.  On the box,
    with :math:`v=u+b\\sim N(0,1)` truncated to :math:`[a_-,a_+]=[b-L,b+L]` and
    :math:`D=\\Phi(a_+)-\\Phi(a_-)`: :math:`E v=(\\varphi(a_-)-\\varphi(a_+))/D`,
    :math:`E v^2=1+(a_-\\varphi(a_-)-a_+\\varphi(a_+))/D`.
    """
    if half_width is None:
        return 0.5 * b * b, -b, 1.0 + b * b
    L = float(half_width)
    lo, hi = b - L, b + L
    logD = _log_ndtr_diff(lo, hi)
    # phi(a)/D computed in log space so that it stays finite in far tails
    r_lo = np.exp(-0.5 * lo * lo - _LOG_SQRT_2PI - logD)
    r_hi = np.exp(-0.5 * hi * hi - _LOG_SQRT_2PI - logD)
    ev = r_lo - r_hi
    ev2 = 1.0 + lo * r_lo - hi * r_hi
    m1 = ev - b
    m2 = ev2 - 2.0 * b * ev + b * b
    return 0.5 * b * b + logD, m1, m2


# --------------------------------------------------------------------------
# quadrature over theta
# --------------------------------------------------------------------------
def _theta_rule(d, half_width, theta_max, h_step, n_legendre):
    """Tensor quadrature over theta; returns nodes (Q, d) and log base weights.

    The base weight includes the standard normal density of theta, i.e. the rule
    approximates :math:`\\int F(\\theta)\\,\\mathcal N(\\theta;0,I)\\,d\\theta`.
    On :math:`\\mathbb R^d` the composite trapezoid rule on
    :math:`[-T,T]^d` with step ``h_step`` is used (spectrally accurate for
    integrands analytic in a strip and decaying like a Gaussian); on the box
    :math:`[-L,L]^d` a tensor Gauss--Legendre rule with ``n_legendre`` nodes.
    """
    if half_width is None:
        k = int(math.ceil(theta_max / h_step))
        g = h_step * np.arange(-k, k + 1, dtype=float)
        w1 = np.full(g.shape, h_step)
    else:
        g, w1 = np.polynomial.legendre.leggauss(int(n_legendre))
        g = g * half_width
        w1 = w1 * half_width
    grids = np.meshgrid(*([g] * d), indexing="ij")
    nodes = np.stack([G.ravel() for G in grids], axis=1)
    lw_grids = np.meshgrid(*([np.log(w1)] * d), indexing="ij")
    logw = sum(W.ravel() for W in lw_grids)
    logw += -0.5 * np.sum(nodes * nodes, axis=1) - d * _LOG_SQRT_2PI
    return nodes, logw


class _GibbsMap:
    """Evaluate the Gibbs map :math:`r\\mapsto f(p_r)` on a fixed theta rule."""

    def __init__(self, x, y, alpha, lam, activation, half_width, nodes, logw):
        self.x, self.y = x, y
        self.alpha, self.lam = float(alpha), float(lam)
        self.n = x.shape[0]
        self.c = 2.0 * self.alpha / (self.lam * self.n)
        self.half_width = half_width
        h, _, self.hmax = activation_functions(activation)
        self.nodes, self.logw = nodes, logw
        self.H = h(nodes @ x.T)  # (Q, n)

    def moments(self, r):
        """Return dict of Gibbs expectations for residual vector ``r``."""
        b = self.c * (self.H @ r)
        logzu, m1, m2 = _u_moments(b, self.half_width)
        lw = self.logw + logzu
        lmax = np.max(lw)
        w = np.exp(lw - lmax)
        s = np.sum(w)
        pi = w / s
        log_z = lmax + math.log(s)
        es = (pi * m1) @ self.H                      # E[u h_i]
        ess = self.H.T @ ((pi * m2)[:, None] * self.H)  # E[u^2 h_i h_j]
        cov = ess - np.outer(es, es)
        return dict(b=b, pi=pi, m1=m1, m2=m2, log_z=log_z, es=es, cov=cov)

    def residual(self, r):
        """Fixed-point residual :math:`F(r)=r-(f(r)-y)` and its Jacobian."""
        mom = self.moments(r)
        f = self.alpha * mom["es"]
        F = r - (f - self.y)
        J = np.eye(self.n) + self.alpha * self.c * mom["cov"]
        return F, J

    def tail_ok(self, r, theta_max, tol_exp=40.0):
        """Whether the trapezoid box [-T,T]^d captures the Gibbs marginal."""
        if self.half_width is not None:
            return True, theta_max
        if math.isinf(self.hmax):
            # linear: p*(theta) Gaussian with precision I - v v^T, v = c X^T r
            v = self.c * (self.x.T @ r)
            nv2 = float(v @ v)
            if nv2 >= 1.0:
                return False, 2.0 * theta_max
            sd = 1.0 / math.sqrt(1.0 - nv2)
            need = sd * math.sqrt(2.0 * tol_exp) + 2.0
        else:
            bmax = self.c * float(np.sum(np.abs(r))) * self.hmax
            need = math.sqrt(bmax * bmax + 2.0 * tol_exp) + 1.0
        return need <= theta_max, need


def gibbs_prediction(x, y, alpha, lam, activation, half_width=None, *,
                     h_step=0.1, theta_max=None, n_legendre=None, tol=1e-13,
                     return_info=False):
    """Self-consistent Gibbs fixed point :math:`f^*` of PDE (3.4) (spec section 2.3).

    The stationary density is :math:`p_*\\propto p_0\\exp(-u\\,b(\\theta))` with
    :math:`b(\\theta)=\\frac{2\\alpha}{\\lambda n}\\sum_i r_i^*\\tilde h(\\theta^\\top x_i)`
    and :math:`r^*=f^*-y`.  Integrating out :math:`u` exactly,

    * on :math:`\\mathbb R^{d+1}` (``half_width=None``): :math:`u\\mid\\theta\\sim N(-b,1)`,
      :math:`p_*(\\theta)\\propto e^{-\\|\\theta\\|^2/2+b^2/2}` and
      :math:`f^*_j=-\\alpha E_{p_*(\\theta)}[b\\,h_j]`;
    * on the box :math:`[-L,L]^{d+1}` (reflecting/no-flux walls), :math:`p_*` is the
      same Gibbs density restricted to the box: :math:`u\\mid\\theta` is a normal
      :math:`N(-b,1)` truncated to :math:`[-L,L]` (exact moments through
      ``scipy.special.ndtr``/``log_ndtr``), :math:`p_*(\\theta)\\propto
      e^{-\\|\\theta\\|^2/2+b^2/2}[\\Phi(L+b)-\\Phi(b-L)]` on :math:`[-L,L]^d`.

    The :math:`n` unknowns are solved from :math:`F(r)=r-f(p_r)+y=0`, where
    :math:`p_r\\propto p_0e^{-c\\,u\\sum_i r_i h_i}`, :math:`c=2\\alpha/(\\lambda n)`, is an
    exponential family, hence the exact Jacobian
    :math:`\\partial F/\\partial r=I+\\alpha c\\,\\mathrm{Cov}_{p_r}(u h_i,u h_j)\\succeq I`.
    :math:`F=\\nabla J` for the strictly convex :math:`J(r)=\\tfrac12|r|^2+r\\cdot y+
    \\tfrac{\\lambda n}{2}\\log Z(r)`, so the root is unique.  ``scipy.optimize.root``
    (``hybr`` with the exact Jacobian) is followed by a Newton polish until
    :math:`\\|F\\|_\\infty\\le` ``tol``.

    Only a ``d``-dimensional quadrature is needed: a trapezoid rule on
    :math:`[-T,T]^d` (step ``h_step``; ``T`` enlarged automatically until the
    Gibbs tail beyond ``T`` is below :math:`e^{-40}`) on :math:`\\mathbb R^d`, or a
    tensor Gauss--Legendre rule with ``n_legendre`` nodes per axis on the box.

    Parameters
    ----------
    x : array_like, shape (n, d) or (n,)
        Training inputs (``(n,)`` means ``d = 1``).
    y : array_like, shape (n,)
        Training labels.
    alpha : float
        Output scale :math:`\\alpha`.
    lam : float
        Regularisation/temperature :math:`\\lambda > 0`.
    activation : {"tanh", "sigmoid", "linear"}
        :math:`\\tilde h`.
    half_width : float, optional
        If given, restrict :math:`\\theta` and :math:`u` to :math:`[-L,L]`.
    h_step : float, default 0.1
        Trapezoid step on :math:`\\mathbb R^d`.
    theta_max : float, optional
        Initial trapezoid half-width :math:`T` (default 10; enlarged as needed).
    n_legendre : int, optional
        Gauss--Legendre nodes per axis on the box (default ``max(64, ceil(16 L))``).
    tol : float, default 1e-13
        Required :math:`\\|F(r^*)\\|_\\infty`.
    return_info : bool, default False
        Also return a dict of diagnostics.

    Returns
    -------
    f : ndarray, shape (n,)
        :math:`f^*_j=f(p_*,x_j)`.
    info : dict, optional
        ``r`` (residuals), ``loss`` :math:`=\\frac1n\\sum r_i^2`, ``Eu2``
        :math:`=E u^2`, ``Etheta2`` :math:`=E\\|\\theta\\|^2`, ``Etheta``,
        ``Eu``, ``kl`` :math:`=\\int p_*\\log(p_*/p_0)` with :math:`p_0` the
        standard normal density on :math:`\\mathbb R^{d+1}` (on the box, *not*
        renormalised to the box), ``free_energy`` :math:`=L+\\lambda\\,\\mathrm{KL}`,
        ``fixed_point_residual`` :math:`\\|F\\|_\\infty`, ``theta_max``,
        ``n_nodes``.
    """
    x, y = _as_inputs(x, y)
    n, d = x.shape
    if lam <= 0:
        raise ValueError("lam must be positive")
    if half_width is not None:
        half_width = float(half_width)
        if n_legendre is None:
            n_legendre = max(64, int(math.ceil(16.0 * half_width)))
    T = 10.0 if theta_max is None else float(theta_max)

    r = -y.copy()  # p_0 gives f = 0
    for _ in range(8):
        nodes, logw = _theta_rule(d, half_width, T, h_step, n_legendre)
        gm = _GibbsMap(x, y, alpha, lam, activation, half_width, nodes, logw)
        r = _solve_fixed_point(gm, r, tol)
        ok, need = gm.tail_ok(r, T)
        if ok:
            break
        T = max(need, 1.5 * T)
    else:  # pragma: no cover - defensive
        raise RuntimeError("quadrature box could not be made large enough")

    mom = gm.moments(r)
    f = gm.alpha * mom["es"]
    F, _ = gm.residual(r)
    if not np.max(np.abs(F)) <= max(tol, 1e-15):
        raise RuntimeError(f"Gibbs fixed point not converged: |F| = {np.max(np.abs(F)):.3e}")
    if not return_info:
        return f
    pi, b, m1, m2 = mom["pi"], mom["b"], mom["m1"], mom["m2"]
    loss = float(np.mean((f - y) ** 2))
    kl = float(-np.sum(pi * b * m1) - mom["log_z"])
    info = dict(
        r=f - y,
        loss=loss,
        Eu=float(np.sum(pi * m1)),
        Eu2=float(np.sum(pi * m2)),
        Etheta=pi @ gm.nodes,
        Etheta2=float(np.sum(pi * np.sum(gm.nodes ** 2, axis=1))),
        kl=kl,
        free_energy=loss + float(lam) * kl,
        fixed_point_residual=float(np.max(np.abs(F))),
        theta_max=T if half_width is None else half_width,
        n_nodes=gm.nodes.shape[0],
    )
    return f, info


def _solve_fixed_point(gm, r0, tol):
    """Root of F(r) = r - f(r) + y: scipy ``root`` then damped Newton polish."""
    sol = optimize.root(gm.residual, r0, jac=True, method="hybr",
                        options=dict(xtol=1e-15, maxfev=400))
    r = sol.x if np.all(np.isfinite(sol.x)) else np.array(r0, float)
    F, J = gm.residual(r)
    nF = np.max(np.abs(F))
    for _ in range(60):
        if nF <= tol:
            break
        step = np.linalg.solve(J, F)
        t = 1.0
        while True:  # backtracking on |F| (J >= I, so Newton is well posed)
            r_new = r - t * step
            F_new, J_new = gm.residual(r_new)
            n_new = np.max(np.abs(F_new))
            if n_new < nF or t < 1e-6:
                break
            t *= 0.5
        if n_new >= nF and nF <= 10 * tol:
            break  # at round-off level
        r, F, J, nF = r_new, F_new, J_new, n_new
    return r


def gibbs_linear_closed_form(x, y, alpha, lam, tol=1e-14):
    """Closed-form Gibbs fixed point on :math:`\\mathbb R^{d+1}` for :math:`\\tilde h(s)=s`.

    With :math:`v=c X^\\top r`, :math:`c=2\\alpha/(\\lambda n)`, :math:`b(\\theta)=v\\cdot\\theta`
    and :math:`p_*(\\theta)=N(0,(I-vv^\\top)^{-1})` (needs :math:`|v|<1`), so
    :math:`E[u\\theta]=-E[\\theta\\theta^\\top]v=-v/(1-|v|^2)` and
    :math:`f_j=-\\alpha\\,x_j\\cdot v/(1-|v|^2)`.  The joint Gibbs law is
    :math:`N(0,P^{-1})` with precision :math:`P=\\begin{pmatrix}I&v\\\\v^\\top&1\\end{pmatrix}`.
    Solved by damped Newton on :math:`r` inside :math:`|v|<1` (no quadrature); used to
    validate the quadrature of :func:`gibbs_prediction`.

    Returns
    -------
    f : ndarray, shape (n,)
    cov : ndarray, shape (d+1, d+1)
        :math:`P^{-1}`, the stationary covariance of :math:`(\\theta,u)`.
    """
    x, y = _as_inputs(x, y)
    n, d = x.shape
    c = 2.0 * alpha / (lam * n)

    def F(r):
        v = c * (x.T @ r)
        return r - (-alpha * (x @ v) / (1.0 - v @ v)) + y

    def jac(r):
        v = c * (x.T @ r)
        s = 1.0 - v @ v
        dv = c * x.T                                   # dv/dr, (d, n)
        dfdr = -alpha * ((x @ dv) / s + np.outer(x @ v, 2.0 * (v @ dv)) / s ** 2)
        return np.eye(n) - dfdr

    # damped Newton from r = 0 (v = 0), never leaving the domain |v| < 1 where
    # p_* is normalisable (outside it the formula has spurious roots)
    r = np.zeros(n)
    Fr = F(r)
    for _ in range(200):
        if np.max(np.abs(Fr)) <= tol:
            break
        step = np.linalg.solve(jac(r), Fr)
        t = 1.0
        while t > 1e-12:
            r_new = r - t * step
            v = c * (x.T @ r_new)
            if v @ v < 1.0:
                F_new = F(r_new)
                if np.max(np.abs(F_new)) < np.max(np.abs(Fr)):
                    break
            t *= 0.5
        else:
            break
        r, Fr = r_new, F_new
    v = c * (x.T @ r)
    P = np.eye(d + 1)
    P[:d, d] = v
    P[d, :d] = v
    return r + y, np.linalg.inv(P)


# --------------------------------------------------------------------------
# linear activation: exact Gaussian closure
# --------------------------------------------------------------------------
def _closure_matrix(x, y, alpha, lam, mu, C):
    """Return (B, f) for the linear-activation closure at state (mu, C)."""
    n, d = x.shape
    e_utheta = C[:d, d] + mu[:d] * mu[d]
    f = alpha * (x @ e_utheta)
    b = (x.T @ (f - y)) / n
    B = -lam * np.eye(d + 1)
    B[:d, d] = -2.0 * alpha * b
    B[d, :d] = -2.0 * alpha * b
    return B, f


def linear_closure_prediction(x, y, alpha, lam, mean0, cov0, times, *,
                              rtol=1e-12, atol=1e-14):
    """Exact Gaussian closure of PDE (3.4) for :math:`\\tilde h(s)=s` (spec section 3 item 4).

    Derivation (checked against spec's :math:`B`).  With :math:`h(\\theta,x)=\\theta^\\top x`,
    :math:`\\nabla_\\theta h=x`, and :math:`b=\\frac1n\\sum_i r_i x_i`:

    .. math::

        g_1 = -\\frac{2\\alpha}{n}\\sum_i r_i\\,\\theta^\\top x_i-\\lambda u = -2\\alpha\\,b^\\top\\theta-\\lambda u,
        \\qquad
        g_2 = -\\frac{2\\alpha}{n}u\\sum_i r_i x_i-\\lambda\\theta = -2\\alpha\\,u\\,b-\\lambda\\theta,

    i.e. the drift is :math:`(g_2,g_1)=B(t)z` for :math:`z=(\\theta,u)` with

    .. math::

        B(t)=\\begin{pmatrix}-\\lambda I_d & -2\\alpha b\\\\ -2\\alpha b^\\top & -\\lambda\\end{pmatrix},

    which is exactly the spec's matrix (symmetric; no sign or factor change).  A
    linear drift plus the constant diffusion :math:`\\lambda\\Delta` (i.e. noise
    :math:`\\sqrt{2\\lambda}\\,dW`) keeps a Gaussian Gaussian, with
    :math:`\\dot\\mu=B\\mu`, :math:`\\dot C=BC+CB^\\top+2\\lambda I`.  The coupling is
    through :math:`f(p,x_i)=\\alpha\\,x_i^\\top E[u\\theta]`, :math:`E[u\\theta]=C_{\\theta u}+
    \\mu_\\theta\\mu_u`, :math:`r_i=f(p,x_i)-y_i`.  The stationary point is
    :math:`\\mu=0`, :math:`C=P^{-1}` (since :math:`B=-\\lambda P` there and
    :math:`BC+CB^\\top+2\\lambda I=0`), i.e. the Gibbs law of :func:`gibbs_linear_closed_form`.

    Integrated with ``solve_ivp`` (DOP853, ``rtol=1e-12``, ``atol=1e-14``).

    Parameters
    ----------
    x : array_like, shape (n, d)
    y : array_like, shape (n,)
    alpha, lam : float
    mean0 : array_like, shape (d+1,)
        Initial mean of :math:`(\\theta,u)` (last entry is :math:`u`).
    cov0 : array_like, shape (d+1, d+1)
        Initial covariance.
    times : array_like, shape (T,)
        Non-decreasing output times, :math:`\\ge 0`.

    Returns
    -------
    f : ndarray, shape (T, n)
        :math:`f(p_t,x_i)` at each time.
    mu : ndarray, shape (T, d+1)
    C : ndarray, shape (T, d+1, d+1)
    """
    x, y = _as_inputs(x, y)
    n, d = x.shape
    k = d + 1
    mu0 = np.asarray(mean0, float).reshape(k)
    C0 = np.asarray(cov0, float).reshape(k, k)
    times = np.atleast_1d(np.asarray(times, float))

    def rhs(t, s):
        mu = s[:k]
        C = s[k:].reshape(k, k)
        B, _ = _closure_matrix(x, y, alpha, lam, mu, C)
        dC = B @ C + C @ B.T + 2.0 * lam * np.eye(k)
        return np.concatenate([B @ mu, dC.ravel()])

    s0 = np.concatenate([mu0, C0.ravel()])
    t_end = float(times.max()) if times.size else 0.0
    if t_end > 0:
        sol = integrate.solve_ivp(rhs, (0.0, t_end), s0, method="DOP853",
                                  t_eval=times, rtol=rtol, atol=atol)
        if not sol.success:  # pragma: no cover
            raise RuntimeError(sol.message)
        S = sol.y.T
    else:
        S = np.tile(s0, (times.size, 1))
    mu = S[:, :k]
    C = S[:, k:].reshape(-1, k, k)
    C = 0.5 * (C + np.swapaxes(C, 1, 2))
    f = np.array([_closure_matrix(x, y, alpha, lam, m, c)[1] for m, c in zip(mu, C)])
    return f.reshape(times.size, n), mu, C


def linear_closure_euler(x, y, alpha, lam, mean0, cov0, eta, n_steps):
    """Infinite-width limit of the Euler--Maruyama particle scheme, linear activation.

    Each particle does :math:`z\\leftarrow(I+\\eta B_k)z+\\sqrt{2\\lambda\\eta}\\,\\xi`, with
    :math:`B_k` built from the current law, so the law stays Gaussian with
    :math:`\\mu_{k+1}=(I+\\eta B_k)\\mu_k`,
    :math:`C_{k+1}=(I+\\eta B_k)C_k(I+\\eta B_k)^\\top+2\\lambda\\eta I`.  This is what
    :func:`simulate_particles` converges to as :math:`m\\to\\infty`, and it tends to
    :func:`linear_closure_prediction` with error :math:`O(\\eta)`.

    Returns
    -------
    f : ndarray, shape (n,)
        Prediction after ``n_steps`` steps (time ``n_steps * eta``).
    mu : ndarray, shape (d+1,)
    C : ndarray, shape (d+1, d+1)
    """
    x, y = _as_inputs(x, y)
    k = x.shape[1] + 1
    mu = np.asarray(mean0, float).reshape(k).copy()
    C = np.asarray(cov0, float).reshape(k, k).copy()
    I = np.eye(k)
    for _ in range(int(n_steps)):
        B, _ = _closure_matrix(x, y, alpha, lam, mu, C)
        A = I + eta * B
        mu = A @ mu
        C = A @ C @ A.T + 2.0 * lam * eta * I
    return _closure_matrix(x, y, alpha, lam, mu, C)[1], mu, C


# --------------------------------------------------------------------------
# alpha = 0: Ornstein--Uhlenbeck
# --------------------------------------------------------------------------
def ou_gaussian(mean0, std0, lam, t):
    """Exact solution of PDE (3.4) with :math:`\\alpha=0` from a product Gaussian.

    With :math:`\\alpha=0`, :math:`g=-\\lambda z` and the PDE is the OU equation
    :math:`\\partial_tp=\\lambda\\nabla\\cdot(zp)+\\lambda\\Delta p` (spec section 3 item 2 with
    :math:`a=D=\\lambda`).  A product Gaussian stays a product Gaussian with

    .. math::

        m_k(t)=e^{-\\lambda t}m_k(0),\\qquad
        \\sigma_k^2(t)=e^{-2\\lambda t}\\sigma_k^2(0)+1-e^{-2\\lambda t}.

    Parameters
    ----------
    mean0, std0 : array_like, shape (k,)
        Initial means and standard deviations per axis.
    lam : float
    t : float or array_like
        Time(s).

    Returns
    -------
    mean, std : ndarray, shape ``np.shape(t) + (k,)``
    """
    m0 = np.atleast_1d(np.asarray(mean0, float))
    s0 = np.atleast_1d(np.asarray(std0, float))
    t = np.asarray(t, float)
    e1 = np.exp(-lam * t)[..., None]
    e2 = np.exp(-2.0 * lam * t)[..., None]
    mean = e1 * m0
    var = e2 * s0 ** 2 - np.expm1(-2.0 * lam * t)[..., None]
    return mean, np.sqrt(var)


def _normal_interval_prob(lo, hi):
    """P(lo < Z < hi) for Z ~ N(0,1), without cancellation in the tails."""
    lo, hi = np.broadcast_arrays(lo, hi)
    right = lo > 0.0
    out = special.ndtr(hi) - special.ndtr(lo)
    out[right] = special.ndtr(-lo[right]) - special.ndtr(-hi[right])
    return out


def ou_cell_averages(edges_per_axis, mean, std):
    """Exact cell averages of a product Gaussian over a tensor grid of cells.

    For cells :math:`\\prod_k[e^k_{j_k},e^k_{j_k+1}]` returns

    .. math::

        \\bar p_{j}=\\prod_k\\frac{\\Phi((e^k_{j_k+1}-m_k)/\\sigma_k)-\\Phi((e^k_{j_k}-m_k)/\\sigma_k)}
        {e^k_{j_k+1}-e^k_{j_k}},

    i.e. the cell integral divided by the cell volume (computed with ``ndtr``
    differences, mirrored in the right tail to avoid cancellation).  Multiply by
    the cell volumes to get cell masses; these are the quantities against which
    a finite-volume solution's :math:`L^1` error is measured.

    Parameters
    ----------
    edges_per_axis : sequence of array_like
        Increasing cell edges per axis (``N_k + 1`` values each).
    mean, std : array_like, shape (k,)

    Returns
    -------
    ndarray, shape (N_1, ..., N_k)
    """
    mean = np.atleast_1d(np.asarray(mean, float))
    std = np.atleast_1d(np.asarray(std, float))
    if len(edges_per_axis) != mean.size or std.size != mean.size:
        raise ValueError("need one edge array, mean and std per axis")
    out = np.ones(())
    for e, m, s in zip(edges_per_axis, mean, std):
        e = np.asarray(e, float)
        z = (e - m) / s
        p = _normal_interval_prob(z[:-1], z[1:]) / np.diff(e)
        out = np.multiply.outer(out, p)
    return out


# --------------------------------------------------------------------------
# particles
# --------------------------------------------------------------------------
def simulate_particles(x, y, alpha, lam, activation, *, m, eta, n_steps, rng,
                       theta0=None, u0=None, mean0=None, record_every=None):
    """Consistent noisy-GD particle scheme of spec section 2.4 (``t = k * eta``).

    .. math::

        u_j\\leftarrow u_j+\\eta\\,g_1(\\theta_j,u_j;\\hat p)+\\sqrt{2\\lambda\\eta}\\,\\xi_j,\\qquad
        \\theta_j\\leftarrow\\theta_j+\\eta\\,g_2(\\theta_j,u_j;\\hat p)+\\sqrt{2\\lambda\\eta}\\,\\xi'_j,

    with :math:`g_1,g_2` of spec section 2.2 written with the generic
    :math:`\\tilde h,\\tilde h'` (no linear-specific algebra), :math:`\\hat p` the
    empirical measure and :math:`f=\\frac\\alpha m\\sum_j u_j\\tilde h(\\theta_j^\\top x)`.
    Both updates use the state at the start of the step.

    Parameters
    ----------
    x, y : array_like
        Data, shapes ``(n, d)`` and ``(n,)``.
    alpha, lam : float
    activation : str
    m : int
        Number of particles (ignored if ``theta0``/``u0`` given).
    eta : float
        Step.
    n_steps : int
    rng : numpy.random.Generator
    theta0, u0 : ndarray, optional
        Initial particles; default :math:`N(\\text{mean0}, I)` samples.
    mean0 : array_like, shape (d+1,), optional
        Mean of the default initial law (default 0, i.e. :math:`p_0`).
    record_every : int, optional
        If given, also return ``f`` after every ``record_every`` steps.

    Returns
    -------
    f : ndarray, shape (n,)
        Final prediction.
    theta : ndarray, shape (m, d)
    u : ndarray, shape (m,)
    history : ndarray, shape (n_steps // record_every, n), only if ``record_every``.
    """
    x, y = _as_inputs(x, y)
    n, d = x.shape
    h, dh, _ = activation_functions(activation)
    if theta0 is None:
        mu = np.zeros(d + 1) if mean0 is None else np.asarray(mean0, float)
        theta = mu[:d] + rng.standard_normal((m, d))
        u = mu[d] + rng.standard_normal(m)
    else:
        theta = np.array(theta0, float)
        u = np.array(u0, float)
        m = u.size
    sq = math.sqrt(2.0 * lam * eta)
    hist = []

    def predict(theta, u):
        return alpha * (u @ h(theta @ x.T)) / m

    for k in range(int(n_steps)):
        S = theta @ x.T                       # (m, n)
        H = h(S)
        r = alpha * (u @ H) / m - y
        g1 = -(2.0 * alpha / n) * (H @ r) - lam * u
        g2 = -(2.0 * alpha / n) * u[:, None] * ((dh(S) * r) @ x) - lam * theta
        u = u + eta * g1 + sq * rng.standard_normal(m)
        theta = theta + eta * g2 + sq * rng.standard_normal((m, d))
        if record_every and (k + 1) % record_every == 0:
            hist.append(predict(theta, u))
    f = predict(theta, u)
    if record_every:
        return f, theta, u, np.array(hist)
    return f, theta, u
