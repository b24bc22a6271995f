"""Laguerre–Galerkin solver of the noisy radial PDE (solvers/radial_spectral.py) and its runner.

Acceptance (issue 5): (a) exponential convergence in the modes against known answers (the
linear OU case in closed form; the self-consistent fixed point of ``gibbs_fixed_point``),
(b) agreement with Richardson-extrapolated finite volumes on the risk at every saved time,
(c) the fixed point to ≤ 1e-8 in risk and L1.
"""
import math

import h5py
import numpy as np
import pytest
from scipy.special import gammaln, roots_genlaguerre

from fokkerplanck.config import load_config
from fokkerplanck.errors import UserInputError
from fokkerplanck.examples import example_text
from fokkerplanck.isotropic import IsotropicModel, RadialGrid, gibbs_fixed_point
from fokkerplanck.run import solve
from solvers.radial_fv import rhs_reference
from solvers.radial_spectral import (RadialSpectralScheme, chi_coefficients, gauss_laguerre,
                                     laguerre_table)

KAPPA, DIM, BETA, LAM = 0.8, 40.0, 40.0, 0.5


@pytest.fixture(scope="module")
def model():
    """The ``isotropic-noisy`` example's model."""
    return IsotropicModel(delta=0.8, dim=DIM, beta=BETA, lam=LAM)


@pytest.fixture(scope="module")
def fixed_point(model):
    evaluate, info = gibbs_fixed_point(model, 5.0, nodes=400)
    return evaluate, info


def _noisy(*overrides):
    return load_config(text=example_text("isotropic-noisy"), overrides=list(overrides))


def _interaction_off(scheme):
    for name in ("v_nodes", "dv_nodes", "F_nodes", "dF_nodes", "_Fw"):
        getattr(scheme, name)[...] = 0.0


# ---------------------------------------------------------------------------- tools
def test_gauss_laguerre_matches_scipy_and_gamma_moments():
    s, w = gauss_laguerre(50, 19.0)
    s2, w2 = roots_genlaguerre(50, 19.0)
    assert np.allclose(s, s2, rtol=1e-12)
    assert np.allclose(w, w2 / w2.sum(), rtol=1e-11, atol=0)
    s, w = gauss_laguerre(400, 19.0)           # scipy's rule returns NaN here
    assert np.isfinite(w).all() and abs(w.sum() - 1) < 1e-14
    for k in (1, 5, 20):
        exact = math.exp(gammaln(20.0 + k) - gammaln(20.0))
        assert abs((w * s ** k).sum() / exact - 1) < 1e-12


def test_laguerre_table_is_orthonormal():
    s, w = gauss_laguerre(120, 19.0)
    tab = laguerre_table(s, 100, 19.0, np.sqrt(w))
    assert np.abs(tab.T @ tab - np.eye(100)).max() < 1e-11


def test_chi_coefficients_closed_form_matches_quadrature():
    alpha, theta = 19.0, 0.32
    closed = chi_coefficients(theta, alpha, 40.0, 120)
    u, w = gauss_laguerre(140, alpha)
    quad = laguerre_table(theta * u, 120, alpha, w).sum(axis=0)
    assert np.abs(closed - quad).max() < 1e-10
    assert closed[0] == 1.0


# ---------------------------------------------------------------------------- operator
def test_galerkin_rhs_matches_finite_volume_operator(model):
    """dρ̄/dτ from the spectral coefficients against the FV operator on a fine grid (O(h²))."""
    scheme = RadialSpectralScheme(model, 120)
    state = scheme.initial_state(KAPPA, DIM)
    scheme.advance(state, 0.3)               # a smooth, non-Gibbs density
    c = state.coefficients
    dc = scheme.rhs(c)
    errors = []
    for cells in (2000, 4000):
        grid = RadialGrid(cells, 5.0)
        spectral = scheme.cell_averages(dc, grid.edges)
        fv = rhs_reference(model, grid, scheme.cell_averages(c, grid.edges))
        errors.append(np.abs(spectral - fv).max() / np.abs(spectral).max())
    # measured 1.04e-4 and 2.59e-5: the FV operator's second-order error, nothing else
    assert errors[1] < 5e-5 and 3.5 < errors[0] / errors[1] < 4.5
    assert dc[0] == 0.0                      # mass is c_0, conserved exactly


# ---------------------------------------------------------------------------- (a)
def test_linear_case_exact_chi_law_and_exponential_convergence(model):
    """Interaction off: w is an OU process and r stays χ-distributed,
    κ(τ)² = κ²e^{−4λτ} + d(1 − e^{−4λτ})/(βλ)."""
    tau = 0.02
    k2 = KAPPA ** 2 * math.exp(-4 * LAM * tau) + DIM / (BETA * LAM) * (
        1 - math.exp(-4 * LAM * tau))
    grid = RadialGrid(400, 5.0)
    exact, _ = grid.chi_cell_averages(math.sqrt(k2), DIM)
    errors = []
    for modes in (40, 60, 80, 100):
        scheme = RadialSpectralScheme(model, modes)
        _interaction_off(scheme)
        state = scheme.initial_state(KAPPA, DIM)
        assert scheme.advance(state, tau) == 0
        dens = scheme.cell_averages(state.coefficients, grid.edges)
        errors.append(np.sum(np.abs(dens - exact)) * grid.spacing)
    # measured L1: 8.5e-1, 4.3e-3, 9.4e-6, 1.2e-8 — a factor > 100 per 20 modes
    assert all(b < a / 100 for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-7


def test_fixed_point_exponential_convergence_in_modes(model, fixed_point):
    """(a) and (c): the self-consistent Gibbs state, risk and L1, against gibbs_fixed_point."""
    evaluate, info = fixed_point
    r = np.linspace(1e-3, 5.0, 4001)
    exact = evaluate(r)
    risk_err, l1_err = [], []
    for modes in (6, 12, 24, 48):
        scheme = RadialSpectralScheme(model, modes)
        state = scheme.state_from_coefficients([1.0])       # the noise-only Gibbs law
        assert scheme.advance(state, 60.0) == 0
        diag = scheme.diagnostics(state.coefficients, np.linspace(0.0, 5.0, 11))
        risk_err.append(abs(diag["risk"] - info["risk"]))
        l1_err.append(np.sum(np.abs(scheme.density(state.coefficients, r) - exact))
                      * (r[1] - r[0]))
    # measured: risk 7.3e-6, 2.7e-8, 3.6e-15, 1.3e-15; L1 1.2e-1, 5.6e-3, 8.0e-7, 6.3e-9
    assert risk_err[1] < risk_err[0] / 100 and risk_err[2] < 1e-12
    assert all(b < a / 5 for a, b in zip(l1_err, l1_err[1:])), l1_err
    assert risk_err[-1] < 1e-8 and l1_err[-1] < 1e-8


def test_transient_risk_converges_exponentially(model):
    grid = RadialGrid(200, 5.0)
    risks = []
    for modes in (30, 40, 160):
        scheme = RadialSpectralScheme(model, modes)
        state = scheme.initial_state(KAPPA, DIM)
        scheme.advance(state, 0.25)
        risks.append(scheme.diagnostics(state.coefficients, grid.edges)["risk"])
    # measured: 3.0e-10 (30 modes), 1.9e-12 (40 modes) from the 160-mode value
    assert abs(risks[0] - risks[2]) < 3e-9
    assert abs(risks[1] - risks[2]) < abs(risks[0] - risks[2]) / 20


def test_both_etd_steppers_agree(model):
    out = []
    for stepper in ("etdrk4-b", "etdrk4"):
        scheme = RadialSpectralScheme(model, 100, stepper=stepper)
        state = scheme.initial_state(KAPPA, DIM)
        scheme.advance(state, 1.0)
        out.append(state.coefficients)
    assert np.abs(out[0] - out[1]).max() < 1e-8


# ---------------------------------------------------------------------------- (b) and runner
def test_agrees_with_richardson_extrapolated_finite_volume():
    """(b): |R_spectral − Richardson(FV 400, 800)| ≤ 1e-6 at every saved time (measured
    max 9.2e-8, at t = 0.5; 800/1600 cells give 5.9e-9)."""
    common = ["time.t_end=2.0", "time.save_every=0.5"]
    fv = [solve(_noisy(*common, f"grid.cells={cells}"), output=None).diagnostics["risk"]
          for cells in (400, 800)]
    spectral = solve(_noisy(*common, "solver.method=spectral"), output=None)
    extrapolated = fv[1] + (fv[1] - fv[0]) / 3.0
    assert np.abs(spectral.diagnostics["risk"] - extrapolated).max() < 1e-6
    assert np.abs(spectral.diagnostics["risk"] - fv[1]).max() > 1e-6   # FV alone is not there
    assert np.all(spectral.diagnostics["mass"] == 1.0)
    assert np.all(np.diff(spectral.diagnostics["free_energy"]) <= 1e-12)


def test_runner_file_layout_and_exact_resume(tmp_path):
    path = tmp_path / "iso-spectral.h5"
    cfg = _noisy("solver.method=spectral", "time.t_end=1.0", f"output.path={path}")
    first = solve(cfg, output=path)
    with h5py.File(path, "r") as f:
        assert f.attrs["method"] == "spectral" and f.attrs["problem"] == "isotropic-gaussians"
        assert f["coefficients"].shape == (3, 160)
        assert f["density"].shape == (3, 200)
        for name in ("risk", "mass", "mean_r", "free_energy", "min_density"):
            assert f[f"diagnostics/{name}"].shape == (3,)
        c = f["coefficients"][-1]
        dens = f["density"][-1]
        edges = f["grid/r_edges"][()]
    assert np.array_equal(c, first.stats["coefficients"])
    assert abs(np.sum(dens * np.diff(edges)) - 1.0) < 1e-12
    longer = cfg.replace(["time.t_end=2.0"])
    resumed = solve(longer, output=path, resume=True)
    straight = solve(longer, output=None)
    assert np.array_equal(resumed.diagnostics["risk"], straight.diagnostics["risk"])


@pytest.mark.parametrize("drop, overrides, match", [
    ("beta = 40.0\n", ["solver.method=spectral"], "needs noise"),
    ("", ["model.lam=0.0", "solver.method=spectral"], "lam > 0"),
    ("", ["solver.method=spectral", "solver.stepper=ssprk2"], "stepper"),
    ("", ["solver.stepper=etdrk4"], "finite-volume"),
    ("", ["solver.method=spectral", "solver.dt=0.01"], "dt"),
    ("", ["solver.method=spectral", "initial.kappa=2.5"], "L2"),
    ("", ["solver.method=spectral", "initial.dof=30"], "increase them"),
])
def test_bad_spectral_configs(drop, overrides, match):
    text = example_text("isotropic-noisy").replace(drop, "") if drop else example_text(
        "isotropic-noisy")
    with pytest.raises(UserInputError, match=match):
        solve(load_config(text=text, overrides=overrides), output=None)
