"""Isotropic-Gaussians radial PDE: closed forms vs brute force, kernels vs NumPy twins, exact
solutions (order), invariants, the Gibbs fixed point, schedules, configuration and resume."""
import functools
import math

import numpy as np
import pytest
from numpy.polynomial.legendre import leggauss as _leggauss
from scipy import special

from fokkerplanck import gaussian_integrals as gi
from fokkerplanck.config import load_config
from fokkerplanck.errors import UserInputError
from fokkerplanck.examples import example_text
from fokkerplanck.io import read_result
from fokkerplanck.isotropic import (IsotropicModel, RadialGrid, Schedule, build_isotropic,
                                    gibbs_fixed_point)
from fokkerplanck.run import solve
from solvers import _sgd_kernels
from solvers.radial_fv import RadialFVScheme, rhs_reference

leggauss = functools.lru_cache(maxsize=None)(_leggauss)

BASE = """
[model]
kind = "isotropic-gaussians"
delta = 0.8
dim = {dim}
{extra}
[grid]
cells = {cells}
r_max = {r_max}
[initial]
kappa = 0.8
[time]
t_end = {t_end}
save_every = {save_every}
"""


def config(dim=40, cells=100, r_max=8.0, t_end=1.0, save_every=0.5, extra="", overrides=()):
    text = BASE.format(dim=dim, cells=cells, r_max=r_max, t_end=t_end, save_every=save_every,
                       extra=extra)
    return load_config(text=text, overrides=list(overrides))


# ---------------------------------------------------------------------------- brute force
def _gauss_pieces(breaks, n=80, lo=-14.0, hi=14.0):
    """Gauss–Legendre nodes/weights on [lo, hi] split at the kinks (smooth on each piece)."""
    pts = np.unique(np.clip(np.concatenate([[lo, hi], breaks]), lo, hi))
    x, w = leggauss(n)
    nodes, weights = [], []
    for a, b in zip(pts[:-1], pts[1:]):
        nodes.append(0.5 * (b - a) * (x + 1) + a)
        weights.append(0.5 * (b - a) * w)
    return np.concatenate(nodes), np.concatenate(weights)


def _sigma(t, act):
    return act.s1 + act.kappa * (np.clip(t, act.t1, act.t2) - act.t1)


def _smoothed_sigma(mu, s, act):
    """E σ(μ + sZ) by its own closed form: s1 + κ Σ ± [s φ(a) + (μ − t) Φ(−a)], a = (t − μ)/s."""
    out = act.s1
    for t, sign in ((act.t1, 1.0), (act.t2, -1.0)):
        a = (t - mu) / s
        out = out + sign * act.kappa * (s * np.exp(-0.5 * a * a) / np.sqrt(2 * np.pi)
                                        + (mu - t) * special.ndtr(-a))
    return out


def brute_v(r, delta, act):
    """v(r) = −½ E σ(c₊Z) + ½ E σ(c₋Z) by piecewise Gauss–Legendre in z."""
    out = 0.0
    for c, sign in (((1 + delta) * r, -0.5), ((1 - delta) * r, 0.5)):
        z, w = _gauss_pieces(np.array([act.t1, act.t2]) / c)
        out += sign * np.sum(w * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi) * _sigma(c * z, act))
    return out


def brute_u(r1, r2, delta, act, dim, n_theta=400):
    """ū_d(r1, r2): θ-quadrature of the angle law, z1-quadrature split at the kinks, and the
    inner Z2 expectation in closed form (no Mehler series, no bivariate CDF)."""
    total = 0.0
    if math.isinf(dim):
        gammas, gw = np.array([0.0]), np.array([1.0])
    else:
        x, w = leggauss(n_theta)
        theta = 0.5 * np.pi * (x + 1)
        log_cd = special.gammaln(dim / 2) - 0.5 * np.log(np.pi) - special.gammaln((dim - 1) / 2)
        gammas = np.cos(theta)
        gw = 0.5 * np.pi * w * np.exp(log_cd + (dim - 2) * np.log(np.sin(theta)))
    for sgn in (1.0, -1.0):
        c1, c2 = (1 + sgn * delta) * r1, (1 + sgn * delta) * r2
        z, wz = _gauss_pieces(np.array([act.t1, act.t2]) / c1, n=60)
        outer = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi) * _sigma(c1 * z, act) * wz
        g = gammas[:, None]
        q = np.sqrt(np.clip(1 - g * g, 0, None))
        inner = _smoothed_sigma(c2 * g * z[None, :], np.maximum(c2 * q, 1e-300), act)
        total += 0.5 * np.sum(gw[:, None] * inner * outer[None, :])
    return total


@pytest.mark.parametrize("dim", [10, 40, math.inf])
def test_v_and_u_match_brute_force_quadrature(dim):
    model = IsotropicModel(delta=0.8, dim=dim)
    r = np.array([0.3, 0.8, 1.7, 3.2])
    assert np.max(np.abs(model.v(r) - [brute_v(x, 0.8, model.act) for x in r])) <= 1e-10
    F, w = model.factors(r)
    u_fact = (F * w) @ F.T                       # what the solver uses (default kmax)
    brute = np.array([[brute_u(a, b, 0.8, model.act, dim) for b in r] for a in r])
    assert np.max(np.abs(u_fact - brute)) <= 1e-8
    if math.isinf(dim):
        assert F.shape[1] == 2                    # u_∞ is rank 2


# ---------------------------------------------------------------------------- twins
@pytest.mark.parametrize("limiter", ["mc", "van-leer", "minmod", "none"])
def test_transport_kernel_matches_numpy_twin(limiter, rng):
    model = IsotropicModel(delta=0.8, dim=10, lam=0.3)
    grid = RadialGrid(40, 5.0)
    rho = rng.random(40) ** 3
    rho[[3, 4, 20]] = 0.0
    scheme = RadialFVScheme(model, grid, limiter=limiter)
    ref = rhs_reference(model, grid, rho, limiter)
    assert np.allclose(scheme.rhs(rho), ref, rtol=1e-11, atol=1e-11 * np.abs(ref).max())
    assert np.allclose(scheme.psi(rho), model.potential(rho, grid), rtol=1e-12, atol=1e-12)


def test_sg_kernel_matches_numpy_twin_and_keeps_discrete_gibbs_state(rng):
    model = IsotropicModel(delta=0.8, dim=10, beta=15.0, lam=0.5)
    grid = RadialGrid(50, 4.0)
    scheme = RadialFVScheme(model, grid)
    rho = rng.random(50) + 0.1
    ref = rhs_reference(model, grid, rho)
    assert np.allclose(scheme.rhs(rho), ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())
    # for a frozen ψ the discrete Gibbs density makes every flux vanish
    psi = model.potential(rho, grid)
    g = model.gibbs(psi, grid)
    phi = model.beta * psi - (model.dim - 1) * np.log(grid.r)
    v = np.diff(phi)
    b = v / np.expm1(v)
    flux = b * g[:-1] - (b + v) * g[1:]
    assert np.max(np.abs(flux)) <= 1e-13 * g.max()


# ---------------------------------------------------------------------------- exact solutions
def _chi_averages(grid, scale2, dof):
    """Cell averages of r = sqrt(scale2 · χ²_dof)."""
    cdf = special.gammainc(0.5 * dof, grid.edges ** 2 / (2 * scale2) * 1.0)
    return np.diff(cdf) / grid.spacing


def _free_model(**kw):
    """σ ≡ 0 (s1 = s2 = 0): V = U = 0, only weight decay (and noise) act."""
    return IsotropicModel(delta=0.5, dim=kw.pop("dim", 8), s1=0.0, s2=0.0, **kw)


def test_transport_order_on_exact_contraction():
    """V = U = 0, λ = 1: ṙ = −2λr, ρ̄_t(r) = e^{2λt} ρ̄_0(r e^{2λt}) (mass concentrates at 0)."""
    errors = []
    for cells in (50, 100, 200, 400):
        model = _free_model(lam=1.0)
        grid = RadialGrid(cells, 2.0)
        kappa, dof, t = 0.8, 8, 0.3
        rho0 = _chi_averages(grid, kappa ** 2 / dof, dof)
        scheme = RadialFVScheme(model, grid, limiter="mc")
        state = scheme.initial_state(rho0)
        assert scheme.advance(state, t) == 0
        exact = _chi_averages(grid, (kappa * math.exp(-2 * t)) ** 2 / dof, dof)
        errors.append(np.abs(state.density - exact).sum() * grid.spacing)
        assert state.density.min() >= 0.0
    order = np.polyfit(np.log([50, 100, 200, 400]), np.log(errors), 1)[0]
    assert order <= -1.8, (errors, order)


def test_transport_collapse_to_a_point_stays_positive_and_monotone():
    """Long contraction: all mass ends in the first cells, no negativity, no oscillation."""
    model = _free_model(lam=1.0)
    grid = RadialGrid(100, 2.0)
    scheme = RadialFVScheme(model, grid)
    state = scheme.initial_state(_chi_averages(grid, 0.8 ** 2 / 8, 8))
    mass0 = state.density.sum() * grid.spacing
    scheme.advance(state, 3.0)
    rho = state.density
    assert rho.min() >= 0.0
    assert abs(rho.sum() * grid.spacing - mass0) < 1e-13
    assert rho[:2].sum() * grid.spacing > 0.999
    assert np.all(np.diff(rho[np.argmax(rho):]) <= 1e-15)     # no oscillation behind it


def test_sg_order_on_exact_ornstein_uhlenbeck():
    """V = U = 0 with noise: w is OU, r² = Σ(t) χ²_d with Σ = e^{−4λt}κ²/d + (1 − e^{−4λt})/(βλ)."""
    beta, lam, dim, kappa, t = 4.0, 1.0, 6, 0.8, 0.2
    errors = []
    for cells in (40, 80, 160):
        model = _free_model(dim=dim, beta=beta, lam=lam)
        grid = RadialGrid(cells, 4.0)
        scheme = RadialFVScheme(model, grid)
        state = scheme.initial_state(_chi_averages(grid, kappa ** 2 / dim, dim))
        scheme.advance(state, t)
        var = math.exp(-4 * lam * t) * kappa ** 2 / dim + (1 - math.exp(-4 * lam * t)) / (beta * lam)
        exact = _chi_averages(grid, var, dim)
        errors.append(np.abs(state.density - exact).sum() * grid.spacing)
    order = np.polyfit(np.log([40, 80, 160]), np.log(errors), 1)[0]
    assert order <= -1.8, (errors, order)


# ---------------------------------------------------------------------------- full runs
def test_figure1_run_invariants_and_diagnostics(tmp_path):
    cfg = config(cells=200, t_end=2.0, save_every=0.5)
    res = solve(cfg, output=tmp_path / "fig1.h5")
    d = res.diagnostics
    assert np.max(np.abs(d["mass"] - 1.0)) < 1e-13
    assert d["min_density"].min() >= 0.0
    assert np.all(np.diff(d["risk"]) < 0)                      # noiseless: risk decreases
    assert np.allclose(d["free_energy"], 0.5 * d["risk"])
    data = read_result(tmp_path / "fig1.h5")
    assert data["density"].shape == (5, 200) and data["grid/r"].shape == (200,)
    for name in ("risk", "mass", "mean_r", "free_energy"):
        assert data[f"diagnostics/{name}"].shape == (5,)
    assert data["attrs"]["problem"] == "isotropic-gaussians"
    model = build_isotropic(cfg).model
    grid = RadialGrid(200, 8.0)
    # risk of the saved density by the dense closed-form kernel (not the factorisation)
    rho = data["density"][-1]
    p = rho * grid.spacing
    dense = gi.population_risk_radial(grid.r, p, 0.8, model.act, 40.0, method="series", kmax=60)
    assert abs(dense - d["risk"][-1]) < 1e-9


def test_noisy_pde_converges_to_independent_fixed_point():
    """Acceptance 2: ρ̄_t → ρ̄* ∝ r^{d−1} e^{−β ψ_λ(r; ρ̄*)} (Newton on a Gauss–Legendre rule)."""
    cfg = config(dim=10, cells=100, r_max=4.0, t_end=4.0, save_every=1.0,
                 extra="beta = 20.0\nlam = 1.0")
    res = solve(cfg, output=None)
    fe = res.diagnostics["free_energy"]
    assert np.all(np.diff(fe) <= 1e-12)
    prob = build_isotropic(cfg)
    evaluate, info = gibbs_fixed_point(prob.model, 4.0, nodes=200)
    assert info["residual"] < 1e-12
    exact = evaluate(prob.grid.r)
    l1 = np.abs(exact - res.density).sum() * prob.grid.spacing
    assert l1 <= 1e-6, l1
    assert abs(res.diagnostics["risk"][-1] - info["risk"]) < 1e-6


def test_infinite_dimension_is_rank_two():
    cfg = config(dim="inf", cells=100, t_end=0.5, extra="", overrides=["initial.dof=40"])
    res = solve(cfg, output=None)
    assert np.all(np.diff(res.diagnostics["risk"]) < 0)
    prob = build_isotropic(cfg)
    assert prob.model.factors(prob.grid.r)[0].shape[1] == 2


# ---------------------------------------------------------------------------- schedules
SCHEDULES = [Schedule("constant", 2.0), Schedule("power", 1.5, 0.25, 0.5),
             Schedule("power", 1.0, 1.0, 2.0),
             Schedule("piecewise", times=(0.3, 1.1), values=(1.0, 0.25, 3.0))]


@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: s.kind)
def test_schedule_integral_and_kernel(sched):
    t = np.linspace(0.0, 2.0, 2001)
    xi = sched.xi(t)
    if sched.kind == "constant":
        xi = np.full_like(t, xi)
    num = np.concatenate([[0.0], np.cumsum(0.5 * (xi[1:] + xi[:-1]) * np.diff(t))])
    tol = 2e-2 if sched.kind == "piecewise" else 1e-6
    assert np.allclose(sched.tau(t), num, atol=tol)
    assert np.allclose(_sgd_kernels.xi_array(t, *sched.kernel_args()), xi)


def test_time_reparametrisation_is_exact():
    """ξ = 2 to t = 0.5 is the ξ = 1 run to t = 1 (same τ, same steps: identical)."""
    a = solve(config(cells=100, t_end=1.0, save_every=0.5), output=None)
    b = solve(config(cells=100, t_end=0.5, save_every=0.25, extra="xi_scale = 2.0"), output=None)
    assert np.array_equal(a.density, b.density)
    c = solve(config(cells=100, t_end=1.5, save_every=0.5,
                     extra='xi = "piecewise"\nxi_times = [0.5]\nxi_values = [1.0, 0.0001]'),
              output=None)
    assert abs(c.diagnostics["risk"][1] - a.diagnostics["risk"][1]) < 1e-12


# ---------------------------------------------------------------------------- config, resume
@pytest.mark.parametrize("extra, words", [
    ("t1 = 2.0", "[model] t1 must be < t2"),
    ("beta = 10.0", "needs a finite [model] dim"),
    ('xi = "power"', "xi_power is required"),
    ('xi = "piecewise"\nxi_times = [1.0]\nxi_values = [1.0]', "xi_values needs"),
    ("xi_power = 0.5", "only used with xi = 'power'"),
])
def test_bad_model_inputs_name_the_key(extra, words):
    dim = "inf" if "beta" in extra else 40
    with pytest.raises(UserInputError, match=words.replace("[", r"\[").replace("]", r"\]")):
        cfg = config(dim=dim, extra=extra, overrides=["initial.dof=40"] if dim == "inf" else ())
        build_isotropic(cfg)


@pytest.mark.parametrize("overrides, words", [
    (["model.dim=1.5"], "[model] dim must be a whole number"),
    (["model.dim=1"], "[model] dim must be an integer >= 2"),
    (["model.dim=\"finite\""], "[model] dim must be a whole number or \"infinite\""),
    (["model.delta=1.0"], "[model] delta must be in [0, 1)"),
    (["grid.r_max=1.0"], "cuts off"),
    (["grid.cells=4"], "[grid] cells must be >= 8"),
    (["model.dim=inf"], "[initial] dof is required"),
    (["data.x=[1.0]"], "unknown section [data]"),
])
def test_bad_config_inputs(overrides, words):
    with pytest.raises(UserInputError) as err:
        build_isotropic(config(overrides=overrides))
    assert words in str(err.value)


def test_examples_load_and_resume_is_exact(tmp_path):
    for name in ("isotropic-fig1", "isotropic-noisy"):
        build_isotropic(load_config(text=example_text(name)))
    cfg = config(cells=100, t_end=1.0, save_every=0.25)
    full = solve(cfg, output=tmp_path / "full.h5")
    solve(cfg.replace(["time.t_end=0.5"]), output=tmp_path / "part.h5")
    resumed = solve(cfg, output=tmp_path / "part.h5", resume=True)
    assert np.array_equal(resumed.density, full.density)
    a, b = read_result(tmp_path / "full.h5"), read_result(tmp_path / "part.h5")
    assert np.array_equal(a["density"], b["density"])
    assert np.array_equal(a["diagnostics/risk"], b["diagnostics/risk"])
