"""Full-dimensional SGD of the isotropic-Gaussians example: kernel vs NumPy twin, the noise
convention, the file layout and resume, ``compare`` against the radial PDE."""
import math

import numpy as np
import pytest

from fokkerplanck import gaussian_integrals as gi
from fokkerplanck.compare import compare_files
from fokkerplanck.config import load_config
from fokkerplanck.errors import UserInputError
from fokkerplanck.io import read_result
from fokkerplanck.isotropic import IsotropicModel, Schedule, sample_initial_weights
from fokkerplanck.run import solve
from fokkerplanck.simulation import simulate
from solvers.sgd_isotropic import SGDScheme, step_reference

TEXT = """
[model]
kind = "isotropic-gaussians"
delta = 0.8
dim = {dim}
{extra}
[grid]
cells = 200
r_max = 8.0
[initial]
kappa = 0.8
[time]
t_end = {t_end}
save_every = {save_every}
[particles]
count = {count}
step = {step}
seed = 3
save_particles = true
"""


def config(dim=40, t_end=0.2, save_every=0.1, count=64, step=1e-3, extra=""):
    return load_config(text=TEXT.format(dim=dim, t_end=t_end, save_every=save_every,
                                        count=count, step=step, extra=extra))


@pytest.mark.parametrize("batch, beta, lam, sched", [
    (1, None, 0.0, Schedule()),
    (3, None, 0.1, Schedule("power", 1.0, 0.5, 0.2)),
    (2, 50.0, 0.3, Schedule("piecewise", times=(0.002,), values=(1.0, 0.5))),
])
def test_kernel_matches_numpy_twin_bit_for_bit(batch, beta, lam, sched):
    model = IsotropicModel(delta=0.8, dim=12, beta=beta, lam=lam, schedule=sched)
    eps = 1e-3
    rng0 = np.random.default_rng(7)
    W0 = sample_initial_weights(rng0, 30, 12, 1.2, 12)
    scheme = SGDScheme(model, 30, eps, batch)
    state = scheme.state_from_weights(W0, 0.0, 0)
    rng_k, rng_r = np.random.default_rng(11), np.random.default_rng(11)
    assert scheme.advance(state, 5, rng_k) == 0
    W = W0
    for k in range(5):
        W = step_reference(W, k, eps, model, rng_r, batch)
    assert np.allclose(state.weights, W, rtol=0, atol=1e-13)
    assert rng_k.bit_generator.state == rng_r.bit_generator.state
    assert state.steps == 5 and state.t == pytest.approx(5 * eps)


def test_noise_convention_ar1_variance():
    """σ ≡ 0 (V = U = 0): w ← (1 − 2λs)w + √(4s/β) g has stationary variance 1/(βλ(1 − λs))
    per coordinate; the PDE's Gibbs state e^{−βλ|w|²/2} has 1/(βλ), the limit s → 0.  (S004's
    √(2s/β) would give half of it.)"""
    beta, lam, s = 2.0, 1.0, 0.2
    model = IsotropicModel(delta=0.5, dim=5, s1=0.0, s2=0.0, beta=beta, lam=lam)
    scheme = SGDScheme(model, 1000, s)
    rng = np.random.default_rng(0)
    state = scheme.initial_state(rng, 1.0, 5)
    samples = []
    for _ in range(3):
        scheme.advance(state, 100, rng)          # 0.6^100: independent of the past
        samples.append(state.weights.ravel().copy())
    x = np.concatenate(samples)
    var = x.var()
    exact = 1.0 / (beta * lam * (1.0 - lam * s))
    se = exact * math.sqrt(2.0 / x.size)
    assert abs(var - exact) < 5 * se
    assert abs(var - 1.0 / (beta * lam)) > 10 * se              # the s-bias is resolved
    assert abs(var - 0.5 / (beta * lam * (1.0 - lam * s))) > 30 * se


def test_simulate_layout_risk_and_exact_resume(tmp_path):
    cfg = config(t_end=0.2, save_every=0.1)
    full = simulate(cfg, output=tmp_path / "full.h5")
    data = read_result(tmp_path / "full.h5")
    assert data["attrs"]["problem"] == "isotropic-gaussians"
    assert data["attrs"]["method"] == "particles"
    assert data["radii"].shape == (3, 64) and data["particles"].shape == (3, 64, 40)
    assert np.allclose(data["radii"], np.linalg.norm(data["particles"], axis=-1))
    h = 8.0 / 200
    assert np.allclose(data["histogram"].sum(axis=1) * h, 1.0)
    risk0 = gi.population_risk_network(data["particles"][0], 0.8)
    assert data["diagnostics/risk"][0] == pytest.approx(risk0, rel=1e-12)
    assert np.allclose(data["diagnostics/mean_r"], data["radii"].mean(axis=1))
    assert full.diagnostics["risk"].shape == (3,)
    simulate(cfg.replace(["time.t_end=0.1"]), output=tmp_path / "part.h5")
    simulate(cfg, output=tmp_path / "part.h5", resume=True)
    again = read_result(tmp_path / "part.h5")
    assert np.array_equal(again["particles"], data["particles"])
    assert np.array_equal(again["diagnostics/risk"], data["diagnostics/risk"])


def test_compare_with_the_pde(tmp_path):
    cfg = config(t_end=0.5, save_every=0.25, count=200, step=1e-4)
    solve(cfg, output=tmp_path / "pde.h5")
    simulate(cfg, output=tmp_path / "sgd.h5")
    comp = compare_files(tmp_path / "pde.h5", tmp_path / "sgd.h5")
    assert comp.time.size == 3
    risk_diff = comp.metrics["risk_diff"]
    w1 = comp.metrics["w1_r"]
    assert np.all(np.isfinite(w1)) and np.all(np.isfinite(risk_diff))
    # N = 200: W1 of the radii ~ 0.03/sqrt(N), the risk bias ~ 3.5/N (measured, see README)
    assert np.max(w1) < 0.02
    assert np.max(np.abs(risk_diff)) < 0.08


def test_simulate_needs_a_finite_dimension(tmp_path):
    cfg = load_config(text=TEXT.format(dim="inf", t_end=0.2, save_every=0.1, count=10,
                                       step=1e-3, extra=""), overrides=["initial.dof=40"])
    with pytest.raises(UserInputError, match="finite"):
        simulate(cfg, output=tmp_path / "x.h5")
    assert not list(tmp_path.iterdir())


def test_cli_solve_simulate_compare(tmp_path, capsys):
    from fokkerplanck.cli import main

    cfg = tmp_path / "iso.toml"
    cfg.write_text(TEXT.format(dim=40, t_end=0.2, save_every=0.1, count=50, step=1e-3,
                               extra=""))
    pde, sgd = tmp_path / "pde.h5", tmp_path / "sgd.h5"
    assert main(["solve", str(cfg), "-o", str(pde)]) == 0
    assert main(["simulate", str(cfg), "-o", str(sgd)]) == 0
    assert main(["compare", str(pde), str(sgd), "--plot", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "risk" in out and "w1_r" in out
    bad = ["simulate", str(cfg), "-o", str(tmp_path / "x.h5"), "--set", "model.dim=inf",
           "--set", "initial.dof=40"]
    assert main(bad) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "finite [model] dim" in err
