"""The particle scheme of PDE (3.4): kernels vs NumPy twins, scaling, reproducibility, rates.

Tolerances on random quantities are multiples of Monte-Carlo standard errors computed in the
test (never fixed numbers), so that a failure means a bias, not bad luck (4 SE: two-sided
probability 6e-5 per check).
"""
import json
import math

import h5py
import numpy as np
import pytest

from fokkerplanck.config import load_config
from fokkerplanck.data import Data
from fokkerplanck.errors import UserInputError
from fokkerplanck.examples import example_text
from fokkerplanck.models import NoisyGDModel
from fokkerplanck.run import build_noisy_gd, solve
from fokkerplanck.simulation import default_output, simulate, step_counts
from reference import (chk_dataset_1d, linear_closure_euler, linear_closure_prediction,
                       simulate_particles, tiny_dataset_2d)
from solvers import _particle_kernels as kern
from solvers.particles import (ParticleScheme, prediction_reference, step_reference)


def model(d, activation="tanh", alpha=2.0, lam=0.5):
    x, y = chk_dataset_1d() if d == 1 else tiny_dataset_2d()
    return NoisyGDModel(Data(x, y), activation, alpha, lam)


# ------------------------------------------------------------------ kernels
def test_fast_tanh_accuracy():
    z = np.concatenate([np.linspace(-30, 30, 200001), [0.0, 1e-300, -1e-300, 5e-9]])
    out = kern.activation_array(z, 0)
    assert np.max(np.abs(out - np.tanh(z))) <= 1e-15
    nz = np.abs(z) > 0
    assert np.max(np.abs(out[nz] - np.tanh(z[nz])) / np.abs(np.tanh(z[nz]))) <= 2e-15
    special = kern.activation_array(np.array([np.nan, np.inf, -np.inf]), 0)
    assert np.isnan(special[0]) and special[1] == 1.0 and special[2] == -1.0
    sig = kern.activation_array(z, 1)
    assert np.max(np.abs(sig - 0.5 * (1 + np.tanh(z / 2)))) <= 1e-15


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "linear"])
@pytest.mark.parametrize("d", [1, 2])
def test_kernel_matches_numpy_twin(activation, d):
    """7 steps of the compiled scheme = 7 NumPy steps with the same Generator stream."""
    mod = model(d, activation)
    m, eta = 77, 0.05                      # m not a multiple of the block size
    sch = ParticleScheme(mod, m, eta)
    state = sch.initial_state([0.2] * d + [-0.1], 0.9, np.random.default_rng(1))
    z = state.particles.copy()
    rng_a, rng_b = (np.random.Generator(np.random.PCG64(5)) for _ in range(2))
    assert sch.advance(state, 7, rng_a) == 0
    for _ in range(7):
        z = step_reference(mod, z, eta, rng_b.standard_normal((m, d + 1)))
    np.testing.assert_allclose(state.particles, z, rtol=0, atol=1e-13)
    np.testing.assert_allclose(sch.prediction(state), prediction_reference(mod, z),
                               rtol=0, atol=1e-14)
    assert rng_a.bit_generator.state == rng_b.bit_generator.state
    assert state.steps == 7 and state.t == pytest.approx(7 * eta)


@pytest.mark.parametrize("d", [1, 2])
def test_kernel_matches_independent_reference(d):
    """Same noise as tests/reference.simulate_particles (u draws first, then θ)."""
    mod = model(d, "tanh")
    x, y = mod.data.x, mod.data.y
    m, eta, steps = 50, 0.03, 6
    z0 = np.random.default_rng(2).standard_normal((m, d + 1))
    f_ref, th_ref, u_ref = simulate_particles(x, y, 2.0, 0.5, "tanh", m=m, eta=eta,
                                              n_steps=steps, rng=np.random.default_rng(9),
                                              theta0=z0[:, :d], u0=z0[:, d])
    rng = np.random.default_rng(9)
    noise = np.empty((steps, m, d + 1))
    for k in range(steps):
        noise[k, :, d] = rng.standard_normal(m)
        noise[k, :, :d] = rng.standard_normal((m, d))
    sch = ParticleScheme(mod, m, eta)
    state = sch.state_from_particles(z0)
    assert sch.advance_with_noise(state, noise) == 0
    np.testing.assert_allclose(state.particles[:, :d], th_ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(state.particles[:, d], u_ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(sch.prediction(state), f_ref, rtol=0, atol=1e-14)


def test_drift_is_minus_m_times_gradient_of_objective():
    """The scaling of math spec §2.4: z ← z − η m ∇Q̂(z) (+ noise), checked by differences."""
    mod = model(2, "tanh", alpha=1.5, lam=0.3)
    m, eta = 5, 1e-3
    x, y = mod.data.x, mod.data.y
    z = np.random.default_rng(3).standard_normal((m, 3))

    def objective(zz):                       # Q̂ of (3.3)
        f = prediction_reference(mod, zz)
        return np.mean((f - y) ** 2) + mod.lam / m * 0.5 * np.sum(zz ** 2)

    grad = np.zeros_like(z)
    h = 1e-6
    for idx in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[idx] = h
        grad[idx] = (objective(z + e) - objective(z - e)) / (2 * h)
    sch = ParticleScheme(mod, m, eta)
    state = sch.state_from_particles(z)
    sch.advance_with_noise(state, np.zeros((1, m, 3)))
    np.testing.assert_allclose((state.particles - z) / eta, -m * grad, rtol=1e-6, atol=1e-8)


def test_noise_variance_and_time_scale_ou():
    """α = 0: each coordinate is the Euler scheme of dZ = −λZ dt + √(2λ) dB.

    Exact law of the scheme after k steps: mean (1−λη)^k μ₀ and variance
    (1−λη)^{2k}σ₀² + 2λη (1 − (1−λη)^{2k}) / (1 − (1−λη)²).  Sample moments of 10⁵ neurons
    must match within 4 standard errors; a noise variance of λη instead of 2λη, or t = kη/m,
    would be off by hundreds of SE.
    """
    mod = model(1, "tanh", alpha=0.0, lam=0.5)
    m, eta, k = 100_000, 0.05, 40
    mu0, s0 = np.array([1.0, -0.5]), np.array([0.6, 0.8])
    sch = ParticleScheme(mod, m, eta)
    rng = np.random.default_rng(4)
    state = sch.initial_state(mu0, s0, rng)
    sch.advance(state, k, rng)
    a = 1 - mod.lam * eta
    mean = a ** k * mu0
    var = a ** (2 * k) * s0 ** 2 + 2 * mod.lam * eta * (1 - a ** (2 * k)) / (1 - a ** 2)
    z = state.particles
    se_mean = np.sqrt(var / m)
    se_var = var * np.sqrt(2.0 / (m - 1))
    assert np.all(np.abs(z.mean(axis=0) - mean) <= 4 * se_mean)
    assert np.all(np.abs(z.var(axis=0, ddof=1) - var) <= 4 * se_var)
    # and the scheme's law is the OU solution at t = kη up to O(η)
    t = k * eta
    var_exact = np.exp(-2 * mod.lam * t) * s0 ** 2 + 1 - np.exp(-2 * mod.lam * t)
    assert np.all(np.abs(var - var_exact) <= 2 * mod.lam * eta * var_exact)


# ------------------------------------------------------------------ width and step rates
def _linear_setup():
    x, y = tiny_dataset_2d()
    mod = NoisyGDModel(Data(x, y), "linear", 2.0, 0.5)
    mean0 = np.array([0.2, -0.1, 0.3])
    return mod, mean0


def test_linear_activation_particles_follow_the_euler_closure():
    """Linear h: the m → ∞ law of the Euler scheme is an exact Gaussian closure.

    The seed-mean of f_m matches it within 4 SE (this is the m-rescaled gradient at work:
    the unscaled one would leave f frozen), and the closure's bias against the exact ODE
    halves with η (weak order 1).
    """
    mod, mean0 = _linear_setup()
    eta, steps, m, seeds = 0.05, 20, 5000, 8
    f_euler, _, _ = linear_closure_euler(mod.data.x, mod.data.y, 2.0, 0.5, mean0, np.eye(3),
                                         eta, steps)
    fs = []
    for s in range(seeds):
        sch = ParticleScheme(mod, m, eta)
        rng = np.random.default_rng(100 + s)
        state = sch.initial_state(mean0, 1.0, rng)
        sch.advance(state, steps, rng)
        fs.append(sch.prediction(state))
    fs = np.array(fs)
    se = fs.std(axis=0, ddof=1) / math.sqrt(seeds)
    # the O(1/m) bias of E f_m is far below the SE here (|bias| ~ 1/m = 2e-4 < SE/4)
    assert np.all(np.abs(fs.mean(axis=0) - f_euler) <= 4 * se)
    t = 2.0            # (at t = 1 the leading error coefficient happens to nearly vanish)
    exact = linear_closure_prediction(mod.data.x, mod.data.y, 2.0, 0.5, mean0, np.eye(3),
                                      [t])[0][-1]
    errs = [np.max(np.abs(linear_closure_euler(mod.data.x, mod.data.y, 2.0, 0.5, mean0,
                                               np.eye(3), e, round(t / e))[0] - exact))
            for e in (0.02, 0.01, 0.005)]
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - 1) < 0.1)


def test_width_rate_is_one_half_linear_closure():
    """max_i |f_m − f_∞| against m: slope −1/2 within 3 standard errors of the fit.

    The reference f_∞ is the exact infinite-width law of the same Euler scheme, so the
    error is pure Monte-Carlo; the slope's SE is propagated from the seed spread.
    """
    mod, mean0 = _linear_setup()
    eta, steps, seeds = 0.05, 10, 12
    widths = np.array([250, 1000, 4000, 16000])
    f_inf, _, _ = linear_closure_euler(mod.data.x, mod.data.y, 2.0, 0.5, mean0, np.eye(3),
                                       eta, steps)
    mean_err, se_log = [], []
    for m in widths:
        errs = []
        for s in range(seeds):
            sch = ParticleScheme(mod, int(m), eta)
            rng = np.random.default_rng(1000 * s + int(m))
            state = sch.initial_state(mean0, 1.0, rng)
            sch.advance(state, steps, rng)
            errs.append(np.max(np.abs(sch.prediction(state) - f_inf)))
        errs = np.array(errs)
        mean_err.append(errs.mean())
        se_log.append(errs.std(ddof=1) / math.sqrt(seeds) / errs.mean())   # SE of ln(mean)
    lm = np.log(widths)
    w = lm - lm.mean()
    slope = float(w @ np.log(mean_err) / (w @ w))
    slope_se = float(np.sqrt(np.sum((w / (w @ w)) ** 2 * np.array(se_log) ** 2)))
    assert abs(slope + 0.5) <= 3 * slope_se, (slope, slope_se)
    assert slope_se < 0.1


def coarsen(noise, factor):
    """Brownian increments of a step factor·η from those of η: sums of ``factor`` normals / √factor."""
    k, m, c = noise.shape
    return noise.reshape(k // factor, factor, m, c).sum(axis=1) / math.sqrt(factor)


def test_step_rate_coupled_noise_is_one():
    """At fixed m and the same Brownian path, |f^η − f^{η/2}| = O(η) (strong order 1, additive noise)."""
    cfg = load_config(text=example_text("transient-1d"))
    prob = build_noisy_gd(cfg)
    m, t_end, etas = 2000, 1.0, [0.04, 0.02, 0.01, 0.005, 0.0025]
    fine = etas[-1]
    rng = np.random.default_rng(7)
    z0 = prob.mean + prob.std * rng.standard_normal((m, 2))
    noise = rng.standard_normal((round(t_end / fine), m, 2))
    f = []
    for eta in etas:
        sch = ParticleScheme(prob.model, m, eta)
        state = sch.state_from_particles(z0)
        sch.advance_with_noise(state, coarsen(noise, round(eta / fine)))
        assert state.t == pytest.approx(t_end)
        f.append(sch.prediction(state))
    diffs = np.array([np.max(np.abs(a - b)) for a, b in zip(f, f[1:])])
    rates = np.log2(diffs[:-1] / diffs[1:])
    assert np.all(np.abs(rates - ParticleScheme.order) < 0.15), rates


# ------------------------------------------------------------------ driver and file
TINY = """
[model]
kind = "noisy-gd"
activation = "tanh"
alpha = 1.0
lam = 0.1
[data]
x = [[-0.9], [-0.4], [0.15], [0.65]]
y = [-0.8, -0.7, 0.3, 0.9]
[grid]
cells = [32, 32]
[time]
t_end = 0.4
save_every = 0.1
[particles]
count = 300
step = 0.02
seed = 3
save_particles = true
"""


def tiny(*overrides):
    return load_config(text=TINY, overrides=list(overrides))


def test_simulate_file_layout_and_reproducibility(tmp_path):
    path = tmp_path / "p.h5"
    res = simulate(tiny(), path)
    with h5py.File(path) as f:
        assert f.attrs["problem"] == "noisy-gd" and f.attrs["method"] == "particles"
        assert f.attrs["count"] == 300 and f.attrs["seed"] == 3
        assert f["time"].shape == (5,) and f["prediction"].shape == (5, 4)
        assert f["particles"].shape == (5, 300, 2)
        assert f["diagnostics/loss"].shape == (5,) and f["rng_state"].shape == (5,)
        assert "[particles]" in f.attrs["config"]
        np.testing.assert_allclose(f["time"][()], [0, 0.1, 0.2, 0.3, 0.4])
        np.testing.assert_array_equal(f["particles"][-1], res.particles)
        loss = f["diagnostics/loss"][()]
        pred = f["prediction"][()]
    np.testing.assert_allclose(loss, np.mean((pred - [-0.8, -0.7, 0.3, 0.9]) ** 2, axis=1))
    again = simulate(tiny(), None)
    np.testing.assert_array_equal(again.prediction, res.prediction)
    # saving more often does not change the trajectory (same stream, same steps)
    dense = simulate(tiny("time.save_every=0.02"), None)
    np.testing.assert_array_equal(dense.particles, res.particles)
    other = simulate(tiny("particles.seed=4"), None)
    assert not np.array_equal(other.particles, res.particles)


def test_resume_from_saved_rng_state_is_bit_identical(tmp_path):
    path = tmp_path / "p.h5"
    simulate(tiny(), path)
    with h5py.File(path) as f:
        k = 2
        state = json.loads(f["rng_state"][k])
        z = f["particles"][k]
        final = f["particles"][-1]
        t_k, t_end = f["time"][k], f["time"][-1]
    prob = build_noisy_gd(tiny())
    sch = ParticleScheme(prob.model, 300, 0.02)
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    st = sch.state_from_particles(z, t=t_k, steps=round(t_k / 0.02))
    sch.advance(st, round((t_end - t_k) / 0.02), rng)
    np.testing.assert_array_equal(st.particles, final)


def test_particles_not_saved_unless_asked(tmp_path):
    path = tmp_path / "p.h5"
    res = simulate(tiny("particles.save_particles=false"), path)
    assert res.snapshots is None
    with h5py.File(path) as f:
        assert "particles" not in f


def test_default_output_never_overwrites_the_pde_file():
    assert default_output(tiny()).name == "solution-particles.h5"


@pytest.mark.parametrize("override, message", [
    ("particles.step=0.03", "must divide every save time"),
    ("particles.count=0", "count must be > 0"),
    ("particles.step=-1", "step must be > 0"),
    ("particles.cont=3", "did you mean"),
])
def test_bad_particle_settings(override, message):
    with pytest.raises(UserInputError, match=message):
        simulate(tiny(override), None)


def test_step_counts():
    np.testing.assert_array_equal(step_counts(np.array([0, 0.1, 0.3]), 0.05), [0, 2, 6])
    with pytest.raises(UserInputError):
        step_counts(np.array([0, 0.25]), 0.1)


def test_instability_is_reported():
    from fokkerplanck.errors import InstabilityError
    with pytest.raises(InstabilityError, match="non-finite"):
        simulate(tiny("model.alpha=1e150", "particles.step=0.1", "time.save_every=0.2"),
                 None)


def test_cli_simulate(tmp_path, capsys):
    from fokkerplanck.cli import main
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY)
    out = tmp_path / "o.h5"
    assert main(["simulate", str(cfg), "-o", str(out)]) == 0
    assert "neuron x point evaluations/s" in capsys.readouterr().out
    assert main(["simulate", str(cfg), "-o", str(out), "--set", "particles.step=0.3"]) == 2
    assert "must divide" in capsys.readouterr().err


def test_particles_agree_with_pde_at_moderate_width():
    """tanh, transient example at t = 0.5: the seed-mean of f_m is within 4 SE of the PDE.

    The PDE error on the example grid (2e-4, measured against a 2x finer grid) and the
    step bias (η = 0.01: < 1e-4) are small against the SE (~2e-3 at m = 2000, 6 seeds).
    """
    cfg = load_config(text=example_text("transient-1d"),
                      overrides=["time.t_end=0.5", "time.save_every=0.5", "particles.step=0.01",
                                 "particles.count=2000"])
    pde = solve(cfg, output=None)
    fs = np.array([simulate(cfg.replace([f"particles.seed={s}"]), None).prediction[-1]
                   for s in range(6)])
    se = fs.std(axis=0, ddof=1) / math.sqrt(len(fs))
    assert np.all(np.abs(fs.mean(axis=0) - pde.prediction[-1]) <= 4 * se)


def test_simulate_resume_continues_bit_for_bit(tmp_path):
    path = tmp_path / "p.h5"
    simulate(tiny("time.t_end=0.2"), path)
    resumed = simulate(tiny(), path, resume=True)
    whole = simulate(tiny(), None)
    np.testing.assert_array_equal(resumed.particles, whole.particles)
    np.testing.assert_array_equal(resumed.prediction, whole.prediction)
    with h5py.File(path) as f:
        np.testing.assert_allclose(f["time"][()], [0, 0.1, 0.2, 0.3, 0.4])
        assert f["rng_state"].shape == (5,)
        np.testing.assert_array_equal(f["solver/steps"][()], [0, 5, 10, 15, 20])
    with pytest.raises(UserInputError, match="different configuration"):
        simulate(tiny("particles.seed=9"), path, resume=True)


def test_resume_without_saved_neurons_uses_the_checkpoint(tmp_path):
    """save_particles = false keeps only a double-buffered checkpoint, enough to continue."""
    path = tmp_path / "p.h5"
    simulate(tiny("particles.save_particles=false", "time.t_end=0.2"), path)
    resumed = simulate(tiny("particles.save_particles=false"), path, resume=True)
    straight = simulate(tiny("particles.save_particles=false"), tmp_path / "s.h5")
    assert np.array_equal(resumed.prediction, straight.prediction)
    assert np.array_equal(resumed.particles, straight.particles)


def test_python_api_and_xarray(tmp_path):
    import fokkerplanck as fp
    path = tmp_path / "p.h5"
    res = fp.simulate(tiny(), output=path)
    assert res.snapshots.shape == (5, 300, 2)
    pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    ds = fp.open_xarray(path)
    assert ds["particles"].dims == ("time", "neuron", "component")
    assert ds["prediction"].dims == ("time", "sample")
