"""Configuration contract, bad input (exit 2, one line, nothing written), CLI and HDF5 layout."""
import subprocess
import sys

import h5py
import numpy as np
import pytest

from fokkerplanck.cli import main
from fokkerplanck.config import load_config, parse_override
from fokkerplanck.examples import EXAMPLES, example_text
from fokkerplanck.io import read_result
from fokkerplanck.run import save_times, solve

SMALL = ["grid.cells=[12, 12]", "time.t_end=0.2", "time.save_every=0.1"]


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_example_is_a_valid_config():
    for name in EXAMPLES:
        cfg = load_config(text=example_text(name))
        assert cfg.model.kind in ("noisy-gd",) or cfg.model.kind


def test_changing_the_method_re_resolves_a_default_stepper():
    cfg = load_config()
    assert cfg.solver.stepper == "ssprk2"
    spectral = cfg.replace(["solver.method=\"spectral\""])
    assert spectral.solver.stepper == "etdrk4-b"
    explicit = load_config(overrides=["solver.stepper=\"ssprk3\""])
    assert explicit.replace(["solver.method=\"spectral\""]).solver.stepper == "ssprk3"


def test_resolved_toml_round_trips():
    cfg = load_config(overrides=["model.alpha=3", "grid.half_width=[5, 6]"])
    again = load_config(text=cfg.to_toml())
    assert again.to_dict() == cfg.to_dict()
    assert again.model.alpha == 3.0 and again.grid.half_width == [5.0, 6.0]


@pytest.mark.parametrize("item, expected", [
    ("model.alpha=2.5", ("model", "alpha", 2.5)),
    ("grid.cells=[8, 9]", ("grid", "cells", [8, 9])),
    ("output.path=out.h5", ("output", "path", "out.h5")),
    ("model.activation=\"sigmoid\"", ("model", "activation", "sigmoid")),
])
def test_parse_override(item, expected):
    assert parse_override(item) == expected


BAD = [
    (["--set", "model.alpah=1"], "did you mean '[model] alpha'"),
    (["--set", "modle.alpha=1"], "did you mean '[model]'"),
    (["--set", "model.alpha=abc"], "[model] alpha must be a number"),
    (["--set", "model.lam=0"], "[model] lam must be > 0"),
    (["--set", "model.lam=-2"], "[model] lam must be > 0"),
    (["--set", "model.activation=relu"], "[model] activation must be one of"),
    (["--set", "model.kind=noisy"], "[model] kind must be one of"),
    (["--set", "grid.cells=[0, 12]"], "[grid] cells must be > 0"),
    (["--set", "grid.cells=[12, 12, 12]"], "[grid] cells needs 2 entries"),
    (["--set", "grid.cells=[12.5, 12]"], "[grid] cells must be a list of integers"),
    (["--set", "data.x=[[1, 2, 3]]", "--set", "data.y=[1]"], "d = 3"),
    (["--set", "data.y=[1, 2]"], "[data] x has 4 rows but y has 2 values"),
    (["--set", "data.x=[[1], [2, 3]]"], "[data] x rows must all have the same length"),
    (["--set", "time.t_end=-1"], "[time] t_end must be > 0"),
    (["--set", "time.save_every=100"], "[time] save_every (100.0) must not exceed t_end"),
    (["--set", "initial.std=[1, 2, 3]"], "[initial] std needs 1 or 2 values"),
    (["--set", "solver.cfl=1.5"], "[solver] cfl must be in (0, 1]"),
    (["--set", "solver.method=spectrall"], "[solver] method must be one of"),
    (["-o", "/nonexistent-dir/x.h5"], "does not exist"),
    (["--set", "data.file=missing.csv", "--set", "data.x=[[1]]"], "either file or x and y"),
    (["no-such-config.toml"], "does not exist"),
    (["--set", "garbage"], "must look like section.key=value"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(args, message, capsys, tmp_path,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["solve", "-q", *args], capsys)
    assert code == 2
    assert err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())  # no half-written output


def test_data_file_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.csv").write_text("x1,z\n1,2\n")
    cfg = example_text("noisy-gd-1d").replace(
        'x = [[-0.8], [-0.2], [0.5], [0.9]]\ny = [0.3, -0.5, 0.6, 0.1]', 'file = "bad.csv"')
    (tmp_path / "c.toml").write_text(cfg)
    code, _, err = run_cli(["solve", "-q", "c.toml"], capsys)
    assert code == 2 and "header must be x1,y" in err
    (tmp_path / "bad.csv").write_text("x1,y\n1,2\n3,oops\n")
    code, _, err = run_cli(["solve", "-q", "c.toml"], capsys)
    assert code == 2 and "line 3" in err


def test_csv_data_file_is_equivalent_to_inline_data(tmp_path):
    (tmp_path / "train.csv").write_text("x1,y\n-0.8,0.3\n-0.2,-0.5\n0.5,0.6\n0.9,0.1\n")
    cfg_text = example_text("noisy-gd-1d").replace(
        'x = [[-0.8], [-0.2], [0.5], [0.9]]\ny = [0.3, -0.5, 0.6, 0.1]', 'file = "train.csv"')
    (tmp_path / "c.toml").write_text(cfg_text)
    a = solve(load_config(tmp_path / "c.toml", SMALL), output=None)
    b = solve(load_config(overrides=SMALL), output=None)
    assert np.array_equal(a.prediction, b.prediction)


def test_save_times_land_on_t_end():
    assert np.allclose(save_times(1.0, 0.3), [0, 0.3, 0.6, 0.9, 1.0])
    assert np.allclose(save_times(1.0, 0.25), [0, 0.25, 0.5, 0.75, 1.0])


def test_solve_writes_the_hdf5_contract(tmp_path, capsys):
    out = tmp_path / "run.h5"
    code, stdout, _ = run_cli(["solve", "-o", str(out), *sum((["--set", s] for s in SMALL), [])],
                              capsys)
    assert code == 0 and "wrote" in stdout
    with h5py.File(out) as f:
        assert f["time"][:].tolist() == [0.0, 0.1, 0.2]
        assert f["density"].shape == (3, 12, 12)
        assert f["prediction"].shape == (3, 4)
        for name in ("loss", "mass", "min_density", "kl", "free_energy", "ntk_lambda_min"):
            assert f[f"diagnostics/{name}"].shape == (3,)
        assert f["grid/theta1"].shape == (12,) and f["grid/u"].shape == (12,)
        assert "[model]" in f.attrs["config"] and f.attrs["version"]
    # the stored config reproduces the run exactly
    res = read_result(out)
    again = solve(load_config(text=res["attrs"]["config"]), output=None)
    assert np.array_equal(again.density, res["density"][-1])


def test_3d_solve_writes_theta2(tmp_path):
    cfg = load_config(text=example_text("noisy-gd-2d"),
                      overrides=["grid.cells=[8, 8, 8]", "time.t_end=0.1",
                                 "time.save_every=0.05"])
    res = solve(cfg, output=tmp_path / "r.h5")
    with h5py.File(res.path) as f:
        assert f["density"].shape == (3, 8, 8, 8)
        assert set(f["grid"]) == {"theta1", "theta2", "u"}


def test_example_command_prints_a_config(capsys):
    code, out, _ = run_cli(["example", "ou-2d"], capsys)
    assert code == 0 and load_config(text=out).model.alpha == 0.0
    code, out, _ = run_cli(["example"], capsys)
    assert code == 0 and all(name in out for name in EXAMPLES)


def test_python_dash_m_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fokkerplanck", "solve", "-q", "--set",
                           "model.lam=-1"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("fokkerplanck: error: [model] lam")
