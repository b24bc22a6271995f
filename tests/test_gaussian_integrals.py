"""Tests for fokkerplanck.gaussian_integrals against independent brute force.

References used here never call the closed forms under test: one-dimensional expectations use
``scipy.integrate.quad`` split at the kinks; two-dimensional ones use nested ``quad`` or a
piecewise Gauss–Legendre tensor rule in (Z1, Z2) split at the kinks of both factors; the cosine
integral uses ``quad`` with the density c_d (1 - γ²)^((d-3)/2); the network risk uses Monte Carlo.
"""
import numpy as np
import pytest
from scipy import integrate, special

from fokkerplanck import gaussian_integrals as gi

ACT = gi.PiecewiseLinear()
Z_MAX = 40.0


# --------------------------------------------------------------------------------------------------
# brute-force references
# --------------------------------------------------------------------------------------------------
def _phi(z):
    return np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)


def gauss_quad(f, kinks=(), width=1.0, z_max=Z_MAX):
    """E f(Z) by quad on [-z_max, z_max] split at ``kinks`` and every ``width``."""
    pts = set(np.arange(-z_max, z_max + width / 2, width)) | {k for k in kinks if abs(k) < z_max}
    pts = sorted(pts)
    return sum(
        integrate.quad(lambda z: f(z) * _phi(z), a, b, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
        for a, b in zip(pts[:-1], pts[1:])
    )


def kinks_of(c, act=ACT):
    return (act.t1 / c, act.t2 / c) if c > 0 else ()


def he_normalised(k, z):
    return special.eval_hermitenorm(k, z) / np.sqrt(special.factorial(k, exact=False))


_GL_X, _GL_W = np.polynomial.legendre.leggauss(12)
_Z_CUT = 9.0  # φ(9) < 1e-17: the truncated mass is far below the tolerances


def _pieces(breaks, step=1.5, lo=-_Z_CUT, hi=_Z_CUT, gl=(_GL_X, _GL_W)):
    """Composite Gauss–Legendre rule on [lo, hi], cut at ``breaks`` (shape (..., nb)) and on a
    uniform grid of spacing ``step``. Returns nodes and weights of shape (..., n)."""
    grid = np.arange(lo, hi + step / 2, step)
    b = np.clip(breaks, lo, hi)
    b = np.sort(np.concatenate([b, np.broadcast_to(grid, b.shape[:-1] + grid.shape)], -1), -1)
    a, e = b[..., :-1, None], b[..., 1:, None]
    x, w = gl
    shape = b.shape[:-1] + (-1,)
    return (0.5 * (e - a) * x + 0.5 * (e + a)).reshape(shape), (0.5 * (e - a) * w).reshape(shape)


def bivariate_brute(c1, c2, gamma, act=ACT):
    """E[σ(c1 Z1) σ(c2 (γ Z1 + q Z2))] by a composite Gauss–Legendre tensor rule in (Z1, Z2).

    Z2 pieces are cut at the kinks of the second factor (they move with Z1); Z1 pieces at the kinks of
    the first factor and, more finely, around Z1 = t_j/(c2 γ) where the conditional mean of the second
    factor turns on (width q/|γ|). Accuracy ≈ 1e-13 for |γ| ≤ 0.99, ≈ 1e-8 at |γ| = 0.9999.
    """
    q = np.sqrt(1.0 - gamma * gamma)
    t = np.array([act.t1, act.t2])
    breaks = [t / c1]
    if abs(gamma) > 1e-12:
        offsets = np.array([0.0, -0.5, 0.5, -1.0, 1.0, -2.0, 2.0, -4.0, 4.0]) * q / abs(gamma)
        breaks.append((t[:, None] / (c2 * gamma) + offsets).ravel())
    z1, w1 = _pieces(np.concatenate(breaks))
    z2, w2 = _pieces((t[None, :] / c2 - gamma * z1[:, None]) / q)
    inner = np.sum(w2 * _phi(z2) * act(c2 * (gamma * z1[:, None] + q * z2)), axis=1)
    return np.sum(w1 * _phi(z1) * act(c1 * z1) * inner)


def u_d_brute(r, rp, delta, dim, act=ACT):
    """ū_d(r, r') = ½ Σ± E_γ U±(γ), γ with density c_d (1-γ²)^((d-3)/2), by adaptive quad.

    quad runs over θ = arccos γ (density c_d sin^{d-2} θ, the same measure), which spares it the
    (1-γ)^{3/2} endpoint behaviour of U; U± comes from :func:`bivariate_brute`."""
    cd = special.gamma(dim / 2) / (np.sqrt(np.pi) * special.gamma((dim - 1) / 2))
    width = min(1.0, 3.0 / np.sqrt(dim))
    points = [np.pi / 2 - width, np.pi / 2, np.pi / 2 + width]
    total = 0.0
    for lam in (1 + delta, 1 - delta):
        def integrand(th, lam=lam):
            return bivariate_brute(lam * r, lam * rp, np.cos(th)) * cd * np.sin(th) ** (dim - 2)
        total += 0.5 * integrate.quad(integrand, 0.0, np.pi, epsabs=1e-10, epsrel=1e-10, limit=200,
                                      points=points)[0]
    return total


def gauss_pieces_expectation(f, kinks, half_width=20.0):
    """E f(Z) with a 64-point Gauss–Legendre rule on width-0.5 pieces of [-20, 20] cut at the kinks."""
    z, w = _pieces(np.array(list(kinks), dtype=float), 0.5, -half_width, half_width,
                   np.polynomial.legendre.leggauss(64))
    return np.sum(w * _phi(z) * f(z))


# --------------------------------------------------------------------------------------------------
# activation
# --------------------------------------------------------------------------------------------------
def test_activation_values_and_validation():
    t = np.array([-1.0, 0.5, 1.0, 1.5, 3.0])
    np.testing.assert_allclose(ACT(t), [-2.5, -2.5, 2.5, 7.5, 7.5])
    np.testing.assert_allclose(ACT.derivative(t), [0.0, 5.0, 10.0, 5.0, 0.0])
    assert ACT.kappa == 10.0
    with pytest.raises(ValueError):
        gi.PiecewiseLinear(t1=1.0, t2=1.0)
    with pytest.raises(ValueError):
        gi.PiecewiseLinear(t1=0.0, t2=np.nan)
    with pytest.raises(ValueError):
        gi.m(-1.0)


# --------------------------------------------------------------------------------------------------
# m, m', m'', Hermite coefficients
# --------------------------------------------------------------------------------------------------
ACTIVATIONS = [ACT, gi.PiecewiseLinear(-0.3, 0.7, 1.0, -2.0), gi.PiecewiseLinear(0.0, 2.0, -1.0, 3.0)]
WIDTHS = [1e-6, 0.01, 0.3, 0.8, 1.44, 2.0, 5.0, 50.0]


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_m_and_dm_against_quad(act):
    for c in WIDTHS:
        mq = gauss_quad(lambda z: act(c * z), kinks_of(c, act))
        dmq = gauss_quad(lambda z: z * act.derivative(c * z), kinks_of(c, act))
        assert abs(gi.m(c, act) - mq) <= 1e-10
        assert abs(gi.dm(c, act) - dmq) <= 1e-10


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_d2m_against_quad(act):
    # m''(c) = E[σ(cZ)(Z⁴ − 5Z² + 2)]/c²  (differentiate φ(x/c)/c twice in c)
    for c in [0.3, 0.8, 1.44, 2.0, 5.0, 50.0]:
        ref = gauss_quad(lambda z: act(c * z) * (z**4 - 5 * z**2 + 2), kinks_of(c, act)) / c**2
        assert abs(gi.d2m(c, act) - ref) <= 1e-10
    assert abs(gi.d2m(1e-6, act)) <= 1e-10 and gi.d2m(0.0, act) == 0.0


def test_m_limits():
    assert gi.m(0.0) == ACT.s1 and abs(gi.m(1e-300) - ACT.s1) == 0.0
    assert abs(gi.m(1e12) - 0.5 * (ACT.s1 + ACT.s2)) <= 1e-10
    other = gi.PiecewiseLinear(-0.3, 0.7, 1.0, -2.0)
    assert abs(gi.m(0.0, other) - other(0.0)) <= 1e-15


@pytest.mark.parametrize("act", ACTIVATIONS[:2])
def test_hermite_coefficients_against_quad(act):
    # E[σ(cZ) He_k(Z)]/√k! by composite Gauss–Legendre split at the kinks (He_k φ is negligible
    # beyond |z| = 20 for k <= 60); the rule itself is checked against quad for k <= 3
    ks = [0, 1, 2, 3, 4, 5, 8, 13, 25, 40, 60]
    a = gi.hermite_coefficients(np.array(WIDTHS), act, 60)
    assert a.shape == (len(WIDTHS), 61) and np.all(np.isfinite(a))
    for i, c in enumerate(WIDTHS):
        for k in ks:
            ref = gauss_pieces_expectation(lambda z: act(c * z) * he_normalised(k, z), kinks_of(c, act))
            assert abs(a[i, k] - ref) <= 1e-10, (c, k)
        if c in (0.3, 5.0):
            for k in range(4):
                ref = gauss_quad(lambda z: act(c * z) * he_normalised(k, z), kinks_of(c, act))
                assert abs(a[i, k] - ref) <= 1e-10, (c, k)


def test_hermite_special_cases():
    c = np.array([0.0, 0.4, 2.0])
    a = gi.hermite_coefficients(c, ACT, 6)
    np.testing.assert_allclose(a[:, 0], gi.m(c))
    np.testing.assert_allclose(a[:, 2], c * gi.dm(c) / np.sqrt(2), atol=1e-15)
    np.testing.assert_array_equal(a[0, 1:], 0.0)  # c -> 0: σ(0·Z) is constant
    # large k, extreme widths: finite and tiny-or-bounded (|a_k| <= 0.8 κ c / sqrt(k(k-1)))
    cc = np.array([1e-6, 1e-3, 50.0])
    big = gi.hermite_coefficients(cc, ACT, 400)
    k = np.arange(2, 401)
    assert np.all(np.abs(big[:, 2:]) <= 0.8 * ACT.kappa * cc[:, None] / np.sqrt(k * (k - 1)) + 1e-300)


def test_kink_at_zero_and_zero_width_limits():
    act = gi.PiecewiseLinear(0.0, 2.0, -1.0, 3.0)
    a = gi.hermite_coefficients(np.array([0.7]), act, 30)[0]
    for k in (0, 1, 2, 3, 4, 5, 17, 30):
        ref = gauss_pieces_expectation(lambda z: act(0.7 * z) * he_normalised(k, z), kinks_of(0.7, act))
        assert abs(a[k] - ref) <= 1e-10
    # for small c only the kink at 0 is felt, so a_k(c) = c a_k'(0) exactly (k >= 1)
    slope = gi.hermite_coefficients(np.array([1e-9]), act, 12)[0, 1:] / 1e-9
    np.testing.assert_allclose(gi.hermite_coefficients_dc(np.array([0.0]), act, 12)[0, 1:], slope, atol=1e-12)
    assert gi.dm(0.0, act) == pytest.approx(act.kappa / np.sqrt(2 * np.pi), rel=1e-15)
    for g in (-0.6, 0.5):
        assert abs(gi.bivariate_expectation(0.9, 1.6, g, act) - bivariate_brute(0.9, 1.6, g, act)) <= 1e-10
    # zero widths: σ(0·Z) is the constant σ(0)
    assert gi.bivariate_expectation(0.0, 1.3, 0.4, act) == pytest.approx(act(0.0) * gi.m(1.3, act), abs=1e-14)


def test_hermite_coefficient_derivatives_by_finite_differences():
    c = np.array([0.05, 0.3, 1.0, 2.7, 9.0])
    h = 1e-5 * c
    fd = (gi.hermite_coefficients(c + h, ACT, 30) - gi.hermite_coefficients(c - h, ACT, 30)) / (2 * h[:, None])
    np.testing.assert_allclose(gi.hermite_coefficients_dc(c, ACT, 30), fd, atol=1e-7)
    np.testing.assert_allclose(gi.hermite_coefficients_dc(c, ACT, 3)[:, 0], gi.dm(c))


# --------------------------------------------------------------------------------------------------
# potential
# --------------------------------------------------------------------------------------------------
def test_v_radial_against_quad_and_derivative():
    delta = 0.8
    for r in [0.05, 0.5, 0.8, 1.7, 3.0]:
        ref = sum(s * 0.5 * gauss_quad(lambda z, lam=lam: ACT(lam * r * z), kinks_of(lam * r))
                  for s, lam in ((-1, 1 + delta), (1, 1 - delta)))
        assert abs(gi.v_radial(r, delta) - ref) <= 1e-10
    r = np.linspace(0.05, 4, 9)
    fd = (gi.v_radial(r + 1e-6, delta) - gi.v_radial(r - 1e-6, delta)) / 2e-6
    np.testing.assert_allclose(gi.dv_radial(r, delta), fd, atol=1e-7)


# --------------------------------------------------------------------------------------------------
# Mehler weights and bivariate closed form
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [2, 3, 5, 40])
def test_mehler_weights_against_quad(dim):
    mu = gi.mehler_weights(dim, 8)
    cd = special.gamma(dim / 2) / (np.sqrt(np.pi) * special.gamma((dim - 1) / 2))
    for k in range(9):
        ref = integrate.quad(lambda g: g**k * cd * (1 - g * g) ** ((dim - 3) / 2), -1, 1,
                             epsabs=1e-13, limit=200)[0]
        assert abs(mu[k] - ref) <= 1e-10
    assert mu[2] == pytest.approx(1 / dim) and mu[4] == pytest.approx(3 / (dim * (dim + 2)))
    np.testing.assert_array_equal(gi.mehler_weights(np.inf, 5), [1, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("c1,c2,gamma", [(0.8, 1.3, 0.4), (1.44, 1.44, 0.95), (0.3, 2.0, -0.7)])
def test_bivariate_expectation_against_nested_quad(c1, c2, gamma):
    q = np.sqrt(1 - gamma**2)

    def inner(z1):
        kinks = [(t / c2 - gamma * z1) / q for t in (ACT.t1, ACT.t2)]
        return ACT(c1 * z1) * gauss_quad(lambda z2: ACT(c2 * (gamma * z1 + q * z2)), kinks, 3.0, 9.0)

    pts = sorted({-12.0, 12.0} | {k for k in kinks_of(c1) if abs(k) < 12})
    ref = sum(integrate.quad(lambda z: inner(z) * _phi(z), a, b, epsabs=1e-13, epsrel=1e-12)[0]
              for a, b in zip(pts[:-1], pts[1:]))
    assert abs(gi.bivariate_expectation(c1, c2, gamma) - ref) <= 1e-9


def test_bivariate_expectation_degenerate_and_tensor_rule():
    for c1, c2 in [(1.2, 1.2), (1.2, 0.7), (0.1, 3.0)]:
        plus = gauss_quad(lambda z: ACT(c1 * z) * ACT(c2 * z), kinks_of(c1) + kinks_of(c2))
        minus = gauss_quad(lambda z: ACT(c1 * z) * ACT(-c2 * z), kinks_of(c1) + tuple(-k for k in kinks_of(c2)))
        assert abs(gi.bivariate_expectation(c1, c2, 1.0) - plus) <= 1e-10
        assert abs(gi.bivariate_expectation(c1, c2, -1.0) - minus) <= 1e-10
        # continuity at |γ| -> 1 and agreement with the independent tensor rule
        assert abs(gi.bivariate_expectation(c1, c2, 1 - 1e-15) - plus) <= 1e-6
        for g in (-0.99, -0.9, -0.2, 0.0, 0.6, 0.97):
            assert abs(gi.bivariate_expectation(c1, c2, g) - bivariate_brute(c1, c2, g)) <= 1e-10
    # the Mehler series with all k reproduces U for moderate |γ|
    a = gi.hermite_coefficients(np.array([0.9, 1.7]), ACT, 80)
    for g in (-0.5, 0.3):
        series = np.sum(g ** np.arange(81) * a[0] * a[1])
        assert abs(series - gi.bivariate_expectation(0.9, 1.7, g)) <= 1e-12


# --------------------------------------------------------------------------------------------------
# radial interaction
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim,pairs", [(3, [(0.8, 0.8), (0.05, 2.2)]), (5, [(0.8, 0.8), (3.0, 1.3)]),
                                       (40, [(0.8, 0.8), (0.3, 2.5)])])
def test_u_radial_against_nested_quadrature(dim, pairs):
    for r, rp in pairs:
        ref = u_d_brute(r, rp, 0.8, dim)
        got = gi.u_radial([r], [rp], 0.8, ACT, dim)[0, 0]
        assert abs(got - ref) <= 1e-8, (r, rp, got - ref)


def test_spec_check_values():
    """Spec §1.6 at Δ = 0.8, r = r' = 0.8 (printed digits)."""
    u_inf = gi.u_infinity([0.8], [0.8], 0.8)[0, 0]
    u_5 = gi.u_radial([0.8], [0.8], 0.8, ACT, 5)[0, 0]
    u_40 = gi.u_radial([0.8], [0.8], 0.8, ACT, 40)[0, 0]
    assert round(u_inf, 3) == 3.124
    # exact u_5 = 3.40460 (rounds to 3.405); the spec's 3.404 is the k <= 12 series (3.40420)
    assert abs(u_5 - 3.404) <= 1e-3
    assert abs(gi.u_radial_series([0.8], [0.8], 0.8, ACT, 5, kmax=12)[0, 0] - 3.404) <= 5e-4
    assert 3.1515 <= u_40 <= 3.1555
    # first 1/d correction of the spec: u_d = u_inf + (1/4d) Σ± c² m'(c)² + O(1/d²)
    c = np.array([1.8, 0.2]) * 0.8
    for dim, tol in ((40, 2e-3), (400, 2e-5)):
        u_d = gi.u_radial([0.8], [0.8], 0.8, ACT, dim)[0, 0]
        corr = np.sum(c**2 * gi.dm(c) ** 2) / (4 * dim)
        assert abs(u_d - u_inf - corr) <= tol


@pytest.mark.parametrize("dim", [5, 10, 40])
def test_default_kmax_meets_tolerance(dim):
    """Worst cases of the measured table: largest widths on the diagonal (tail terms all >= 0)."""
    r = np.array([0.6, 2.0, 5.0])
    for delta in (0.0, 0.95):
        series = gi.u_radial_series(r, r, delta, ACT, dim)
        exact = gi.u_radial_quadrature(r, r, delta, ACT, dim)
        assert np.max(np.abs(series - exact)) <= 1e-10
    bound = gi.mehler_tail_bound(9.75, 9.75, ACT, dim, gi.default_kmax(dim))
    assert bound >= np.max(np.abs(series - exact))


def test_interaction_factors_structure_and_derivative():
    r = np.linspace(0.05, 3.0, 7)
    f, w = gi.interaction_factors(r, 0.8, ACT, 40, kmax=20)
    assert f.shape == (7, 22) and w.shape == (22,)
    np.testing.assert_allclose((f * w) @ f.T, gi.u_radial_series(r, r, 0.8, ACT, 40, kmax=20))
    f_inf, w_inf = gi.interaction_factors(r, 0.8, ACT, np.inf)
    assert f_inf.shape == (7, 2)
    np.testing.assert_allclose((f_inf * w_inf) @ f_inf.T, gi.u_infinity(r, r, 0.8), rtol=1e-14)
    h = 1e-6
    plus, minus = gi.interaction_factors(r + h, 0.8, ACT, 40, 20)[0], gi.interaction_factors(r - h, 0.8, ACT, 40, 20)[0]
    fd = (plus - minus) / (2 * h)
    df, w2 = gi.interaction_factors_dr(r, 0.8, ACT, 40, kmax=20)
    np.testing.assert_allclose(df, fd, atol=2e-7)
    np.testing.assert_array_equal(w, w2)


def test_population_risk_radial():
    r = np.linspace(0.1, 2.0, 12)
    p = np.exp(-((r - 0.9) ** 2) / 0.1)
    p /= p.sum()
    delta = 0.6
    # d = ∞: boxed formula R = ½(1 − M+)² + ½(1 + M−)²
    mp, mm = p @ gi.m((1 + delta) * r), p @ gi.m((1 - delta) * r)
    ref = 0.5 * (1 - mp) ** 2 + 0.5 * (1 + mm) ** 2
    assert gi.population_risk_radial(r, p, delta, ACT, np.inf) == pytest.approx(ref, abs=1e-12)
    # series (d = 10) against the dense exact kernel
    exact = 1 + 2 * p @ gi.v_radial(r, delta) + p @ gi.u_radial_quadrature(r, r, delta, ACT, 10) @ p
    assert abs(gi.population_risk_radial(r, p, delta, ACT, 10) - exact) <= 1e-10
    assert abs(gi.population_risk_radial(r[:5], p[:5], delta, ACT, 3) - (
        1 + 2 * p[:5] @ gi.v_radial(r[:5], delta) + p[:5] @ gi.u_radial(r[:5], r[:5], delta, ACT, 3) @ p[:5])) <= 1e-14


# --------------------------------------------------------------------------------------------------
# finite network
# --------------------------------------------------------------------------------------------------
def test_population_risk_network_paths_agree():
    rng = np.random.default_rng(3)
    W = rng.normal(size=(40, 6)) * 0.5
    W[3] = 0.0
    W[7] = 1.7 * W[5]  # γ = 1 off the diagonal
    W[9] = -0.4 * W[2]  # γ = -1
    r = np.linalg.norm(W, axis=1)
    unit = np.divide(W, r[:, None], out=np.zeros_like(W), where=r[:, None] > 0)
    gamma = np.clip(unit @ unit.T, -1, 1)
    np.fill_diagonal(gamma, 1.0)
    dense = gi.u_pair(r[:, None], r[None, :], gamma, 0.7)
    ref = 1 + 2 * np.mean(gi.v_radial(r, 0.7)) + dense.mean()
    assert abs(gi.population_risk_network(W, 0.7, ACT, block=7) - ref) <= 1e-11


def test_population_risk_network_against_monte_carlo():
    rng = np.random.default_rng(20201125)
    n_neurons, d, delta, n = 8, 5, 0.6, 400_000
    W = rng.normal(size=(n_neurons, d)) * 0.6
    W[1] = 0.8 * W[0]
    y = rng.choice([-1.0, 1.0], size=n)
    x = rng.normal(size=(n, d)) * (1 + delta * y)[:, None]
    loss = (y - ACT(x @ W.T).mean(axis=1)) ** 2
    mc, se = loss.mean(), loss.std(ddof=1) / np.sqrt(n)
    assert abs(gi.population_risk_network(W, delta) - mc) <= 5 * se
