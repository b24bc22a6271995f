"""compare (W1, tables, files, CLI) and validate (fits, file, the width rate against the PDE)."""
import json
import math

import h5py
import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from fokkerplanck.cli import main
from fokkerplanck.compare import (Comparator, basic_metrics, common_times, compare_files,
                                  register_comparator, w1_cells_vs_samples, COMPARATORS)
from fokkerplanck.config import load_config
from fokkerplanck.errors import UserInputError
from fokkerplanck.examples import example_text
from fokkerplanck.run import solve
from fokkerplanck.simulation import simulate
from fokkerplanck.validate import (fit_slope, parse_widths, pde_reference, plot_validation,
                                   read_validation, validate)


# ------------------------------------------------------------------ W1
@pytest.mark.parametrize("c", [-0.5, 0.0, 0.3, 1.0, 2.0])
def test_w1_uniform_cell_vs_one_point(c):
    """U(0, 1) against δ_c: ∫₀¹ |z − c| dz."""
    exact = (c ** 2 + (1 - c) ** 2) / 2 if 0 <= c <= 1 else abs(c - 0.5)
    assert w1_cells_vs_samples(np.array([0.0, 1.0]), np.array([1.0]), np.array([c])) \
        == pytest.approx(exact, rel=1e-14, abs=1e-15)


def test_w1_matches_scipy_on_refined_atoms(rng):
    """Splitting every cell into K equal atoms at sub-cell midpoints changes W1 by ≤ h/(4K)."""
    edges = np.linspace(-3, 3, 25)
    masses = np.exp(-0.5 * (0.5 * (edges[1:] + edges[:-1]) - 0.4) ** 2)
    masses /= masses.sum()
    samples = rng.normal(0.2, 1.3, 3000)
    K = 400
    h = edges[1] - edges[0]
    atoms = (edges[:-1, None] + h * (np.arange(K) + 0.5)[None] / K).ravel()
    weights = np.repeat(masses / K, K)
    approx = wasserstein_distance(samples, atoms, v_weights=weights)
    assert w1_cells_vs_samples(edges, masses, samples) == pytest.approx(approx, abs=h / (4 * K))


def test_w1_is_a_translation_distance():
    """Shifting every particle of an exact sample of the cells' law by s costs |s| (s > h)."""
    edges = np.linspace(0, 1, 11)
    masses = np.full(10, 0.1)
    samples = np.linspace(0, 1, 200001)[:-1] + 0.5 / 200000     # quantiles of U(0, 1)
    assert w1_cells_vs_samples(edges, masses, samples) < 1e-5
    assert w1_cells_vs_samples(edges, masses, samples + 2.0) == pytest.approx(2.0, abs=1e-5)


def test_common_times_and_basic_metrics():
    ia, ib = common_times(np.array([0, 0.5, 1.0]), np.array([0.5, 0.75, 1.0 + 1e-13]))
    np.testing.assert_array_equal(ia, [1, 2])
    np.testing.assert_array_equal(ib, [0, 2])
    out = basic_metrics({"prediction": np.array([1.0, 2.0]), "diagnostics/loss": 0.5},
                        {"prediction": np.array([1.5, 1.0]), "diagnostics/loss": 0.25})
    assert out == {"loss_pde": 0.5, "loss_particles": 0.25, "loss_diff": -0.25,
                   "max_abs_prediction": 1.0}


def test_fit_slope_exact():
    m = np.array([10, 100, 1000, 10000])
    s, se, a = fit_slope(m, 3.0 * m ** -0.5)
    assert s == pytest.approx(-0.5, abs=1e-12) and se == pytest.approx(0, abs=1e-12)
    assert 10 ** a == pytest.approx(3.0)
    assert math.isnan(fit_slope(m, np.array([1, 0, 1, 1.0]))[0])


@pytest.mark.parametrize("text", ["", "100", "100,100", "a,b", "0,10", "1.5,10"])
def test_bad_widths(text):
    with pytest.raises(UserInputError, match="widths"):
        parse_widths(text)


def test_parse_widths():
    assert parse_widths("1e4, 100,1000") == [100, 1000, 10000]


# ------------------------------------------------------------------ files
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
count = 400
step = 0.02
save_particles = true
"""


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    cfg = load_config(text=TINY)
    solve(cfg, d / "pde.h5")
    simulate(cfg, d / "part.h5")
    return d


def test_compare_files(pair):
    comp = compare_files(pair / "pde.h5", pair / "part.h5")
    assert comp.problem == "noisy-gd"
    np.testing.assert_allclose(comp.time, [0, 0.1, 0.2, 0.3, 0.4])
    assert set(comp.metrics) == {"loss_pde", "loss_particles", "loss_diff",
                                 "max_abs_prediction", "w1_theta1", "w1_u"}
    with h5py.File(pair / "pde.h5") as fp, h5py.File(pair / "part.h5") as fm:
        np.testing.assert_allclose(comp.metrics["loss_diff"],
                                   fm["diagnostics/loss"][()] - fp["diagnostics/loss"][()])
        f_diff = np.abs(fm["prediction"][()] - fp["prediction"][()]).max(axis=1)
        np.testing.assert_allclose(comp.metrics["max_abs_prediction"], f_diff)
    assert np.all((comp.metrics["w1_u"] > 0) & (comp.metrics["w1_u"] < 0.5))
    swapped = compare_files(pair / "part.h5", pair / "pde.h5")
    np.testing.assert_array_equal(swapped.metrics["w1_u"], comp.metrics["w1_u"])


def test_compare_cli_json_and_png(pair, capsys):
    png = pair / "fig.png"
    assert main(["compare", str(pair / "pde.h5"), str(pair / "part.h5"), "--json",
                 "--plot", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["problem"] == "noisy-gd" and len(out["time"]) == 5
    assert set(out["metrics"]) >= {"loss_diff", "max_abs_prediction", "w1_u"}
    assert png.stat().st_size > 10_000
    assert main(["compare", str(pair / "pde.h5"), str(pair / "part.h5")]) == 0
    text = capsys.readouterr().out
    assert "max_abs_prediction" in text and (pair / "part-compare.png").exists()


def test_compare_without_particles_reports_nan_w1(pair, tmp_path):
    cfg = load_config(text=TINY, overrides=["particles.save_particles=false"])
    simulate(cfg, tmp_path / "p.h5")
    comp = compare_files(pair / "pde.h5", tmp_path / "p.h5")
    assert np.isnan(comp.metrics["w1_u"]).all()
    assert np.isfinite(comp.metrics["max_abs_prediction"]).all()


@pytest.mark.parametrize("override, message", [
    ("model.alpha=2.0", r"\[model\] alpha"),
    ("data.y=[0.1, 0.2, 0.3, 0.4]", "different training sets"),
    ("time.save_every=0.3", None),                # only t = 0 and 0.3 in common: fine
])
def test_compare_refuses_different_problems(pair, tmp_path, override, message):
    cfg = load_config(text=TINY, overrides=[override, "time.t_end=0.3", "particles.step=0.01"])
    simulate(cfg, tmp_path / "p.h5")
    if message is None:
        assert compare_files(pair / "pde.h5", tmp_path / "p.h5").time == pytest.approx([0, 0.3])
        return
    with pytest.raises(UserInputError, match=message):
        compare_files(pair / "pde.h5", tmp_path / "p.h5")


def test_compare_bad_inputs(pair, tmp_path):
    with pytest.raises(UserInputError, match="does not exist"):
        compare_files(tmp_path / "nope.h5", pair / "part.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(UserInputError, match="not an HDF5 file"):
        compare_files(tmp_path / "junk.h5", pair / "part.h5")
    with pytest.raises(UserInputError, match="one PDE file and one particle file"):
        compare_files(pair / "part.h5", pair / "part.h5")
    assert main(["compare", str(pair / "pde.h5"), str(tmp_path / "nope.h5")]) == 2


def test_registered_comparator_is_used(pair, tmp_path):
    """Another problem plugs in by the root attribute ``problem``."""
    for name in ("pde", "part"):
        with h5py.File(pair / f"{name}.h5") as src, h5py.File(tmp_path / f"{name}.h5", "w") as f:
            for key in ("time", "prediction", "diagnostics/loss", "data/x", "data/y"):
                f[key] = src[key][()]
            f.attrs.update(dict(src.attrs))
            f.attrs["problem"] = "toy"
    register_comparator("toy", Comparator(
        lambda f, k: {"prediction": f["prediction"][k]},
        lambda p, m: {"sum_diff": float(np.sum(m["prediction"] - p["prediction"]))}))
    try:
        comp = compare_files(tmp_path / "pde.h5", tmp_path / "part.h5")
        assert list(comp.metrics) == ["sum_diff"]
    finally:
        COMPARATORS.pop("toy")


# ------------------------------------------------------------------ validate
def test_validate_file_and_cli(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY.replace("save_particles = true", ""))
    out = tmp_path / "v.h5"
    assert main(["validate", str(cfg), "--widths", "50,200", "--repeats", "2", "-o",
                 str(out), "-q"]) == 0
    with h5py.File(out) as f:
        assert f.attrs["method"] == "validate" and f.attrs["richardson"]
        assert f["error/max_abs_prediction"].shape == (2, 2, 5)
        assert f["error/w1_u"].shape == (2, 2, 5)
        assert f["particles/loss"].shape == (2, 2, 5)
        assert f["fit/max_abs_prediction/slope"].shape == (5,)
        assert f["pde/error_estimate_prediction"].shape == (5,)
        assert np.isfinite(f.attrs["slope"])
        assert f["loss_z"].shape == (2, 5)
    assert out.with_suffix(".png").stat().st_size > 10_000
    back = read_validation(out)
    with h5py.File(out) as f:
        stored = (f.attrs["slope"], f.attrs["slope_stderr"])
    assert back.slope == pytest.approx(stored, nan_ok=True)
    assert set(back.errors) == {"max_abs_prediction", "loss_diff", "w1_theta1", "w1_u"}
    plot_validation(back, tmp_path / "again.png")
    assert main(["validate", str(cfg), "--widths", "50", "-o", str(out)]) == 2
    assert "two different widths" in capsys.readouterr().err
    assert main(["validate", str(cfg), "--widths", "50,60", "--repeats", "0"]) == 2


def test_validate_width_rate_against_the_pde():
    """tanh, transient example, t ∈ {0.5, 1}: slope of max_i|f_PDE − f_m| is −1/2 within 3 SE.

    The SE of the slope is propagated from the seed spread of the mean error at each width;
    the PDE reference (Richardson) is ~1e-4 accurate, far below the errors (≥ 2e-3).
    """
    cfg = load_config(text=example_text("transient-1d"),
                      overrides=["time.t_end=1.0", "time.save_every=0.5", "particles.step=0.01",
                                 "grid.cells=[128, 128]"])
    widths = np.array([250, 1000, 4000, 16000])
    seeds = 12
    res = validate(cfg, widths, seeds, output=None)
    assert res.richardson and np.nanmax(res.pde_error_prediction) < 1e-3
    err = np.abs(res.errors["max_abs_prediction"])                      # (W, R, T)
    lm = np.log(widths)
    w = (lm - lm.mean()) / np.sum((lm - lm.mean()) ** 2)
    for k in (1, 2):
        mean = err[:, :, k].mean(axis=1)
        se_log = err[:, :, k].std(axis=1, ddof=1) / math.sqrt(seeds) / mean
        slope = float(w @ np.log(mean))
        slope_se = float(np.sqrt(np.sum(w ** 2 * se_log ** 2)))
        assert slope == pytest.approx(res.fits["max_abs_prediction"]["slope"][k], abs=1e-12)
        assert abs(slope + 0.5) <= 3 * slope_se, (k, slope, slope_se)
        assert slope_se < 0.12


def test_pde_reference_richardson_matches_a_finer_grid():
    """Extrapolated 64²/128² reference vs the 256² solution: closer than the 128² solution."""
    cfg = load_config(text=example_text("transient-1d"),
                      overrides=["time.t_end=0.5", "time.save_every=0.25"])
    fine = solve(cfg, output=None).prediction
    coarse_cfg = cfg.replace(["grid.cells=[128, 128]"])
    ref = pde_reference(coarse_cfg)
    plain = solve(coarse_cfg, output=None).prediction
    extrap = np.array([r["prediction"] for r in ref.rows])
    err_plain = np.abs(plain - fine).max()
    err_extrap = np.abs(extrap - fine).max()
    assert err_extrap < 0.25 * err_plain
    # the estimate |q_h − q_2h|/3 of the 128² error agrees with the one from 128²/256²
    est = np.nanmax(ref.error_prediction)
    assert est == pytest.approx(4 / 3 * err_plain, rel=0.2)
