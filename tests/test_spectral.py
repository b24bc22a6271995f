"""Hermite–Galerkin spectral solver of (3.4): building blocks, exact solutions, convergence,
agreement with Richardson-extrapolated finite volume, and the Gibbs stationary state."""
import math

import numpy as np
import pytest
from numpy.polynomial import hermite_e
from scipy import integrate
from scipy.special import gammaln

from fokkerplanck.data import Data
from fokkerplanck.grids import BoxGrid
from fokkerplanck.models import NoisyGDModel
from helpers import dataset, scheme
from reference import (activation_functions, gibbs_prediction, linear_closure_prediction,
                       ou_cell_averages, ou_gaussian)
from solvers.spectral import (ETD_STEPPERS, SpectralScheme, cell_average_matrix,
                              gauss_hermite, gaussian_coefficients, gaussian_norm2,
                              hermite_function_table, hermite_table, phi_functions)

MEAN = {1: [0.3, 0.2], 2: [0.3, -0.2, 0.2]}
STD = {1: [0.9, 1.1], 2: [0.9, 1.1, 1.0]}


def sqrt_factorials(n):
    return np.exp(0.5 * gammaln(np.arange(n) + 1.0))


def spectral(d, modes, activation="tanh", alpha=2.0, lam=0.5, **kw):
    x, y = dataset(d)
    return SpectralScheme(NoisyGDModel(Data(x, y), activation, alpha, lam), modes, **kw)


def predictions(s, mean, std, times):
    """f(p_t, x_i) at each time (adaptive marching, landing on every time)."""
    state = s.initial_state(mean, std)
    out = []
    for t in times:
        assert s.advance(state, t) == 0
        assert state.t == t
        out.append(s.prediction(state.coefficients))
    return np.array(out), state


# ---------------------------------------------------------------------- building blocks
def test_quadrature_tables_are_orthonormal_and_bounded():
    z, w = gauss_hermite(60)
    v = hermite_table(z, 40, np.sqrt(w))
    assert np.abs(v.T @ v - np.eye(40)).max() < 1e-12
    # independent: numpy's He_k / sqrt(k!)
    ref = hermite_e.hermevander(z[:5], 39) / sqrt_factorials(40)
    assert np.allclose(hermite_table(z[:5], 40), ref, rtol=1e-11, atol=0)
    g = hermite_function_table(np.linspace(-40, 40, 81), 200)  # Cramér: |φ ψ_k| ≤ (2π)^-1/2
    assert np.isfinite(g).all() and np.abs(g).max() <= 1 / math.sqrt(2 * math.pi) + 1e-12


def test_gaussian_coefficients_norm_and_truncation_error():
    z, w = hermite_e.hermegauss(300)
    w = w / math.sqrt(2 * math.pi)
    mu, sd = 0.7, 1.2
    ratio = np.exp(-(z - mu) ** 2 / (2 * sd * sd) + z * z / 2) / sd
    psi = hermite_e.hermevander(z, 29) / sqrt_factorials(30)
    assert np.allclose(gaussian_coefficients(mu, sd, 30), psi.T @ (w * ratio), atol=1e-13)
    assert gaussian_norm2(mu, sd) == pytest.approx(np.sum(w * ratio ** 2), rel=1e-12)
    assert gaussian_norm2(0.0, math.sqrt(2.0)) == math.inf
    # exact projection error of p(0), against the coefficients summed directly
    s = spectral(1, [20, 12], alpha=0.0)
    c1, c2 = gaussian_coefficients(0.5, 0.85, 400), gaussian_coefficients(-0.3, 1.15, 400)
    full = np.sum(c1 ** 2) * np.sum(c2 ** 2)
    kept = np.sum(c1[:20] ** 2) * np.sum(c2[:12] ** 2)
    assert s.initial_truncation_error([0.5, -0.3], [0.85, 1.15]) == pytest.approx(
        math.sqrt(1 - kept / full), rel=1e-6)


def test_cell_average_matrix_is_exact():
    edges = np.array([-6.0, -2.5, -0.1, 0.4, 3.0, 6.0])
    s = cell_average_matrix(edges, 9)
    for i in range(edges.size - 1):
        for k in (0, 1, 4, 8):
            def f(z):
                return hermite_table([z], 9)[0, k] * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
            val, _ = integrate.quad(f, edges[i], edges[i + 1], epsabs=1e-14, epsrel=1e-12)
            assert s[i, k] == pytest.approx(val / (edges[i + 1] - edges[i]), abs=1e-13)


def test_phi_functions_match_their_integral_definition():
    zs = np.array([-80.0, -7.3, -1.0001, -0.9999, -0.3, -1e-7, 0.0, 0.6])
    e, *phis = phi_functions(zs)
    assert np.array_equal(e, np.exp(zs))
    for j, ph in enumerate(phis, start=1):
        for z, val in zip(zs, ph):
            ref, _ = integrate.quad(lambda s: math.exp((1 - s) * z) * s ** (j - 1)
                                    / math.factorial(j - 1), 0, 1, epsabs=0, epsrel=1e-13)
            assert val == pytest.approx(ref, rel=2e-13)


# ---------------------------------------------------------------------- the operator
def strong_form_reference(s, c):
    """N(c) from the strong form p_0⁻¹∇·(p∇Φ) = ΔΦ q + ∇Φ·∇q − z·∇Φ q, projected by a
    fine full tensor Gauss rule (numpy.polynomial, no code shared with the scheme)."""
    model = s.model
    x, y, d = model.data.x, model.data.y, model.dim
    h, dh, _ = activation_functions(model.activation)
    d2h = {"tanh": lambda t: -2 * np.tanh(t) * (1 - np.tanh(t) ** 2),
           "sigmoid": lambda t: dh(t) * (1 - 2 / (1 + np.exp(-t))),
           "linear": lambda t: 0 * t}[model.activation]
    rules, vals, ders = [], [], []
    for a, n in enumerate(s.modes):
        m = max(4 * n, 160) if a < d else n + 4
        z, w = hermite_e.hermegauss(m)
        norm = sqrt_factorials(n)
        v = hermite_e.hermevander(z, n - 1) / norm
        dv = np.zeros_like(v)
        dv[:, 1:] = v[:, :-1] * np.sqrt(np.arange(1, n))
        rules.append((z, w / math.sqrt(2 * math.pi)))
        vals.append(v)
        ders.append(dv)

    def synth(mats):
        out = c
        for a, mat in enumerate(mats):
            out = np.moveaxis(np.tensordot(mat, out, axes=([1], [a])), 0, a)
        return out

    q = synth(vals)
    grad = [synth([ders[a] if a == b else vals[a] for a in range(d + 1)]) for b in range(d + 1)]
    mesh = np.meshgrid(*[z for z, _ in rules], indexing="ij", sparse=True)
    wts = np.ones(())
    for _, w in rules:
        wts = np.multiply.outer(wts, w)
    theta, u = mesh[:-1], mesh[-1]
    pre = [sum(theta[k] * x[i, k] for k in range(d)) for i in range(len(y))]
    f = np.array([model.alpha * np.sum(wts * u * h(pi) * q) for pi in pre])
    r = f - y
    cst = 2 * model.alpha / len(y)
    A = cst * sum(r[i] * h(pre[i]) for i in range(len(y)))
    dA = [cst * sum(r[i] * dh(pre[i]) * x[i, k] for i in range(len(y))) for k in range(d)]
    lapA = cst * sum(r[i] * d2h(pre[i]) * (x[i] @ x[i]) for i in range(len(y)))
    gradphi = [u * dA[k] for k in range(d)] + [A]
    zdotgrad = sum(theta[k] * gradphi[k] for k in range(d)) + u * A
    nq = u * lapA * q + sum(g * gq for g, gq in zip(gradphi, grad)) - zdotgrad * q
    out = nq * wts
    for a, v in enumerate(vals):
        out = np.moveaxis(np.tensordot(v.T, out, axes=([1], [a])), 0, a)
    return out, f


@pytest.mark.parametrize("d, modes, activation", [(1, [14, 9], "tanh"), (1, [12, 8], "sigmoid"),
                                                  (2, [9, 8, 6], "tanh")])
def test_weak_form_nonlinear_term_matches_strong_form_reference(d, modes, activation, rng):
    fine = spectral(d, modes, activation, quadrature=160)
    c = fine.initial_state(MEAN[d], STD[d]).coefficients
    c = c + 1e-3 * rng.standard_normal(c.shape) * np.exp(-0.3 * fine._level)
    c.flat[0] = 1.0
    ref, f_ref = strong_form_reference(fine, c)
    assert np.allclose(fine.prediction(c), f_ref, rtol=0, atol=1e-13)
    scale = np.abs(ref).max()
    assert np.abs(fine.nonlinear(c) - ref).max() <= 1e-12 * scale
    assert ref.flat[0] == pytest.approx(0.0, abs=1e-13 * scale)  # ∫∇·(p∇Φ) = 0


def test_mass_is_conserved_bit_for_bit():
    s = spectral(1, [24, 12])
    _, state = predictions(s, MEAN[1], STD[1], [1.0, 3.0])
    assert state.coefficients.flat[0] == 1.0
    assert np.all(s.nonlinear(state.coefficients).flat[0] == 0.0)


# ---------------------------------------------------------------------- exact solutions
@pytest.mark.parametrize("d", [1, 2])
def test_ou_exact_solution_to_1e9_with_48_modes_and_exponential_convergence(d):
    """α = 0: exact OU flow in the basis; the only error is the projection of p(0)."""
    mean, std = [0.8, -0.5, 0.4][:d + 1], [0.85, 1.15, 0.9][:d + 1]
    lam, t = 0.5, 0.5
    m_t, s_t = ou_gaussian(mean, std, lam, t)
    grid = BoxGrid.for_state(d, [40] * (d + 1), 6.0)
    exact_cells = ou_cell_averages(grid.edges, m_t, s_t)
    errors = []
    for n in (8, 16, 24, 32, 48):
        s = spectral(d, n, alpha=0.0, lam=lam)
        state = s.initial_state(mean, std)
        assert s.advance(state, t) == 0
        exact = np.ones(())
        for mm, ss in zip(m_t, s_t):
            exact = np.multiply.outer(exact, gaussian_coefficients(mm, ss, n))
        assert np.abs(state.coefficients - exact).max() < 1e-13   # exact in time
        errors.append(np.abs(s.cell_averages(state.coefficients, grid) - exact_cells).max())
    assert errors[-1] <= 1e-9
    slope = np.polyfit([8, 16, 24, 32, 48], np.log(errors), 1)[0]
    assert slope < -0.4 and all(b < 0.1 * a for a, b in zip(errors[:3], errors[1:4]))


def test_linear_activation_matches_exact_gaussian_closure():
    """h(θ,x) = θᵀx: the moments behind f close exactly, so f is exact at any modes."""
    x, y = dataset(2)
    mu0, sd0 = np.array([0.2, -0.1, 0.3]), np.array([0.9, 1.0, 1.1])
    times = [0.5, 1.0, 2.0]
    exact, _, _ = linear_closure_prediction(x, y, 2.0, 0.5, mu0, np.diag(sd0 ** 2), times)
    f, _ = predictions(spectral(2, [8, 8, 6], "linear", rtol=1e-12), mu0, sd0, times)
    assert np.abs(f - exact).max() <= 1e-10


# ---------------------------------------------------------------------- time stepping
@pytest.mark.parametrize("name", sorted(ETD_STEPPERS))
def test_every_etd_stepper_is_fourth_order(name):
    s = spectral(1, [20, 12], stepper=name)
    c0 = s.initial_state(MEAN[1], STD[1]).coefficients
    sols = {}
    for n in (8, 16, 32, 256):
        c, n0 = c0.copy(), s.nonlinear(c0)
        for _ in range(n):
            c, n0, _ = s.step(c, n0, 1.0 / n)
        sols[n] = c
    errors = [np.linalg.norm(sols[n] - sols[256]) for n in (8, 16, 32)]
    order = -np.polyfit(np.log([8, 16, 32]), np.log(errors), 1)[0]
    assert order == pytest.approx(ETD_STEPPERS[name].order, abs=0.3)


def test_error_control_tracks_rtol():
    times = [0.5, 2.0]
    ref, _ = predictions(spectral(1, [24, 12], rtol=1e-13), MEAN[1], STD[1], times)
    for rtol in (1e-6, 1e-9):
        f, state = predictions(spectral(1, [24, 12], rtol=rtol), MEAN[1], STD[1], times)
        assert np.abs(f - ref).max() <= rtol
        assert state.steps < 400


def test_resume_from_stored_coefficients():
    s = spectral(1, [24, 12], rtol=1e-11)
    _, whole = predictions(s, MEAN[1], STD[1], [1.0, 2.0])
    _, half = predictions(s, MEAN[1], STD[1], [1.0])
    resumed = s.state_from_coefficients(half.coefficients.copy(), t=1.0)
    assert s.advance(resumed, 2.0) == 0
    assert np.abs(resumed.coefficients - whole.coefficients).max() <= 1e-11
    # re-sampling is exact: coefficients → cell averages of the stored grid
    grid = BoxGrid.for_state(1, [16, 16], 6.0)
    assert np.array_equal(s.cell_averages(whole.coefficients, grid),
                          s.cell_averages(whole.coefficients.copy(), grid))


# ---------------------------------------------------------------------- (3.4), tanh
def test_tanh_d1_converges_exponentially_in_the_modes():
    times = [0.5, 2.0]
    ref, _ = predictions(spectral(1, [64, 32], rtol=1e-12), MEAN[1], STD[1], times)
    sizes = [12, 20, 28, 40]
    errors = [np.abs(predictions(spectral(1, [n, n], rtol=1e-12), MEAN[1], STD[1], times)[0]
                     - ref).max() for n in sizes]
    assert errors[-1] <= 1e-8
    assert all(b < 0.3 * a for a, b in zip(errors, errors[1:]))
    assert np.polyfit(sizes, np.log10(errors), 1)[0] < -0.08  # > a decade per 12 modes


def richardson_fv(d, sizes, mean, std, times):
    """f at each time extrapolated from FV runs, fitting f(h) = f₀ + a h² + b h⁴."""
    rows = []
    for n in sizes:
        s = scheme(d, n, stepper="ssprk3")
        state = s.initial_state(mean, std)
        out = []
        for t in times:
            assert s.advance(state, t) == 0
            out.append(s.model.prediction(state.density, s.grid))
        rows.append(np.ravel(out))
    h = 12.0 / np.array(sizes, float)
    fit = np.linalg.solve(np.vstack([np.ones(3), h ** 2, h ** 4]).T, np.array(rows))
    return fit[0].reshape(len(times), -1), rows[-1].reshape(len(times), -1)


@pytest.mark.parametrize("d, sizes, modes", [(1, [64, 96, 128], [48, 24]),
                                             (2, [24, 32, 48], [32, 32, 16])])
def test_fv_richardson_and_spectral_agree_to_1e6(d, sizes, modes):
    times = [0.5, 1.0, 2.0]
    extrapolated, finest = richardson_fv(d, sizes, MEAN[d], STD[d], times)
    f, _ = predictions(spectral(d, modes, rtol=1e-10), MEAN[d], STD[d], times)
    assert np.abs(f - extrapolated).max() <= 1e-6
    assert np.abs(f - finest).max() > 10 * np.abs(f - extrapolated).max()  # FV error is h²


@pytest.mark.parametrize("d, modes, t_end", [(1, [48, 16], 30.0), (2, [40, 40, 12], 25.0)])
def test_gibbs_stationary_state_is_reached_to_1e8(d, modes, t_end):
    x, y = dataset(d)
    fstar = gibbs_prediction(x, y, 2.0, 0.5, "tanh", h_step=0.05)
    f, _ = predictions(spectral(d, modes, rtol=1e-9), 0.0, 1.0, [t_end])
    assert np.abs(f[-1] - fstar).max() <= 1e-8


def test_diagnostics_agree_with_the_finite_volume_functionals():
    s = spectral(1, [40, 20])
    _, state = predictions(s, MEAN[1], STD[1], [1.0])
    grid = BoxGrid.for_state(1, [256, 256], 6.0)
    diag = s.diagnostics(state.coefficients, grid)
    # the package's midpoint-rule functionals on point values (spectrally accurate here)
    fv = s.model.diagnostics(s.density(state.coefficients, grid.centres), grid)
    assert diag["mass"] == 1.0
    assert abs(fv["mass"] - 1.0) < 1e-7
    assert np.abs(fv["prediction"] - diag["prediction"]).max() < 1e-6
    for key in ("kl", "free_energy", "ntk_lambda_min"):
        assert diag[key] == pytest.approx(fv[key], rel=1e-4)
    assert diag["min_density"] > -1e-9   # truncated series: tiny negative tails allowed


def test_free_energy_decreases():
    s = spectral(1, [32, 16])
    state = s.initial_state([0.8, -0.6], [0.8, 1.2])
    grid = BoxGrid.for_state(1, [8, 8], 6.0)
    q = []
    for t in np.linspace(0.0, 6.0, 13):
        assert s.advance(state, t) == 0
        q.append(s.diagnostics(state.coefficients, grid)["free_energy"])
    assert np.all(np.diff(q) < 1e-12)


@pytest.mark.parametrize("kw, message", [
    (dict(modes=[1, 8]), "modes"), (dict(modes=[8, 2]), "modes"), (dict(stepper="rk4"), "stepper"),
    (dict(rtol=0.0), "rtol"), (dict(quadrature=4, modes=[8, 8]), "quadrature")])
def test_bad_parameters_are_rejected(kw, message):
    with pytest.raises(ValueError, match=message):
        spectral(1, **{"modes": 8, **kw})


def test_initial_width_outside_the_basis_is_rejected():
    s = spectral(1, 8)
    with pytest.raises(ValueError, match="std"):
        s.initial_state([0.0, 0.0], [1.0, 1.5])


# ---------------------------------------------------------------------- the runner
def _spectral_runner_available():
    from fokkerplanck.config import SCHEMA
    from fokkerplanck.run import SOLVERS
    return (("noisy-gd", "spectral") in SOLVERS
            and "spectral" in (SCHEMA["solver"]["method"].choices or ()))


SPECTRAL_RUN = ['solver.method="spectral"', 'solver.stepper="etdrk4-b"', "solver.modes=[32, 16]",
                "time.t_end=2.0", "time.save_every=0.5", "grid.cells=[24, 24]"]


def test_spectral_runner_writes_the_fv_layout_plus_coefficients_and_resumes_exactly(tmp_path):
    if not _spectral_runner_available():
        pytest.skip("[solver] method = \"spectral\" is not integrated into fokkerplanck.run yet")
    from fokkerplanck.config import load_config
    from fokkerplanck.io import read_result
    from fokkerplanck.run import solve

    cfg = load_config(overrides=SPECTRAL_RUN)
    res = solve(cfg, output=tmp_path / "a.h5")
    out = read_result(tmp_path / "a.h5")
    assert out["attrs"]["method"] == "spectral"
    assert out["coefficients"].shape == (5, 32, 16)
    assert out["density"].shape == (5, 24, 24)
    assert np.all(out["diagnostics/mass"] == 1.0)
    s = spectral(1, [32, 16])  # the stored coefficients re-sample the stored density exactly
    grid = BoxGrid.for_state(1, [24, 24], 6.0)
    assert np.allclose(s.cell_averages(out["coefficients"][-1], grid), out["density"][-1],
                       rtol=1e-13, atol=1e-16)
    assert np.allclose(s.prediction(out["coefficients"][-1]), res.prediction[-1], atol=1e-15)
    fv = solve(load_config(overrides=["time.t_end=2.0", "time.save_every=0.5"]), output=None)
    assert np.abs(fv.prediction - res.prediction).max() < 1e-3   # FV 96², error O(h²)
    # stop at t = 1, resume to t = 2: the same steps, the same numbers
    solve(cfg.replace(["time.t_end=1.0"]), output=tmp_path / "b.h5")
    solve(cfg, output=tmp_path / "b.h5", resume=True)
    assert np.array_equal(read_result(tmp_path / "b.h5")["coefficients"], out["coefficients"])


@pytest.mark.parametrize("override, message", [
    ('solver.stepper="ssprk2"', "stepper"), ("initial.std=1.5", "std"),
    ("solver.modes=[8, 8, 8]", "modes"), ("solver.dt=0.01", "dt")])
def test_spectral_runner_rejects_bad_input(override, message):
    if not _spectral_runner_available():
        pytest.skip("[solver] method = \"spectral\" is not integrated into fokkerplanck.run yet")
    from fokkerplanck.config import load_config
    from fokkerplanck.errors import UserInputError
    from fokkerplanck.run import solve

    with pytest.raises(UserInputError, match=message):
        solve(load_config(overrides=[*SPECTRAL_RUN, override]), output=None)
