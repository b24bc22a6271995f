"""Crash safety, resume, Ctrl-C, instability guards and long-run invariants (issue 7)."""
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from fokkerplanck.cli import main
from fokkerplanck.config import load_config
from fokkerplanck.examples import example_text
from fokkerplanck.io import read_result
from fokkerplanck.run import solve

# ~1 s of compute, 41 snapshots: long enough to be killed in the middle
KILL_CONFIG = example_text("noisy-gd-1d").replace("cells = [96, 96]", "cells = [160, 160]") \
    .replace("t_end = 10.0", "t_end = 4.0").replace("save_every = 0.25", "save_every = 0.1")


def fokkerplanck(*args, cwd, **kw):
    return subprocess.Popen([sys.executable, "-m", "fokkerplanck", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    (root / "c.toml").write_text(KILL_CONFIG)
    proc = fokkerplanck("solve", "c.toml", "-q", "-o", "ref.h5", cwd=root)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    return root, read_result(root / "ref.h5")


def assert_complete_snapshots(path):
    """The file opens and every row up to len(/time) is a finished, consistent snapshot."""
    from fokkerplanck.data import Data
    from fokkerplanck.grids import BoxGrid
    from fokkerplanck.models import NoisyGDModel

    res = read_result(path)
    count = len(res["time"])
    assert count >= 1
    for name in ("density", "prediction", "diagnostics/loss", "diagnostics/mass",
                 "diagnostics/free_energy", "solver/shrink"):
        assert res[name].shape[0] == count
    cfg = load_config(text=res["attrs"]["config"])
    grid = BoxGrid.for_state(1, cfg.grid.cells, cfg.grid.half_width)
    model = NoisyGDModel(Data(res["data/x"], res["data/y"]), cfg.model.activation,
                         cfg.model.alpha, cfg.model.lam)
    last = model.diagnostics(res["density"][-1], grid)
    assert np.allclose(last["prediction"], res["prediction"][-1], rtol=1e-13, atol=1e-15)
    assert np.isclose(last["free_energy"], res["diagnostics/free_energy"][-1], rtol=1e-13)
    assert np.isfinite(res["density"]).all()


def test_sigkill_at_20_random_moments_then_resume_equals_uninterrupted(reference_run):
    root, ref = reference_run
    rng = np.random.default_rng(7)
    for i in range(20):
        out = root / f"killed{i}.h5"
        proc = fokkerplanck("solve", "c.toml", "-q", "-o", out.name, cwd=root)
        deadline = time.time() + 60
        while not out.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)  # the file appears once its first snapshot is complete
        time.sleep(rng.uniform(0.0, 0.9))
        proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate()
        # killed (-9) or, if it won the race, finished (0): anything else is a crash to report
        assert proc.returncode in (0, -signal.SIGKILL), (i, proc.returncode, stderr)
        assert out.exists() and not (root / f"killed{i}.h5.partial").exists(), (i, stderr)
        assert_complete_snapshots(out)
        resumed = fokkerplanck("solve", "c.toml", "-q", "--resume", out.name, cwd=root)
        assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
        res = read_result(out)
        assert np.array_equal(res["time"], ref["time"])
        scale = np.abs(ref["density"]).max()
        assert np.max(np.abs(res["density"] - ref["density"])) <= 1e-12 * scale
        assert np.max(np.abs(res["prediction"] - ref["prediction"])) <= 1e-12


def test_ctrl_c_stops_at_a_safe_point_with_a_one_line_resume_hint(reference_run):
    root, ref = reference_run
    out = root / "interrupted.h5"
    proc = fokkerplanck("solve", "c.toml", "-o", out.name, cwd=root)
    while not out.exists() and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    lines = [line for line in stderr.splitlines() if line.strip() and "\r" not in line]
    assert proc.returncode == 130, stderr
    assert len(lines) == 1 and "fokkerplanck solve --resume interrupted.h5" in lines[0]
    assert "Traceback" not in stderr
    assert_complete_snapshots(out)
    assert main(["solve", "-q", "--resume", str(out)]) == 0  # the stored config is used
    res = read_result(out)
    assert np.max(np.abs(res["density"][-1] - ref["density"][-1])) <= 1e-12 * ref["density"].max()


def test_resume_refuses_a_different_configuration(reference_run, capsys):
    root, _ = reference_run
    code = main(["solve", str(root / "c.toml"), "-q", "--set", "model.lam=0.4", "--resume",
                 str(root / "ref.h5")])
    err = capsys.readouterr().err
    assert code == 2 and "[model] lam differ" in err and err.count("\n") == 1


def test_forced_unstable_time_step_exits_3_without_writing_nan(tmp_path, capsys):
    out = tmp_path / "unstable.h5"
    code = main(["solve", "-q", "-o", str(out), "--set", "solver.dt=0.05",
                 "--set", "time.save_every=0.5"])
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1
    assert "t = 0.5" in err and "forced [solver] dt" in err  # caught at the first interval
    res = read_result(out)
    assert np.isfinite(res["density"]).all() and res["density"].min() >= 0
    assert res["time"].tolist() == [0.0]


def test_a_guard_tripping_at_the_first_snapshot_is_reported_not_masked(tmp_path, capsys):
    """No snapshot completed: the .partial file is removed and the real error is shown."""
    out = tmp_path / "never.h5"
    # 4 Hermite modes cannot represent a narrow initial Gaussian: negative at t = 0
    code = main(["solve", "-q", "-o", str(out), "--set", "solver.method=\"spectral\"",
                 "--set", "solver.modes=[4, 4]", "--set", "initial.std=[0.4, 0.4]"])
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1 and "negative density" in err and "t = 0" in err
    assert "FileNotFoundError" not in err
    assert not out.exists() and not (tmp_path / "never.h5.partial").exists()


def test_disk_full_while_writing_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    real_flush = h5py.File.flush
    out = tmp_path / "full.h5"

    def flaky_flush(self):
        if out.exists():  # the disk fills up after the first complete snapshot
            raise OSError(28, "No space left on device")
        return real_flush(self)

    monkeypatch.setattr(h5py.File, "flush", flaky_flush)
    code = main(["solve", "-q", "-o", str(out), "--set", "grid.cells=[16,16]"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "writing failed" in err and "disk full" in err
    monkeypatch.setattr(h5py.File, "flush", real_flush)
    assert len(read_result(out)["time"]) >= 1  # what was completed is still readable


@pytest.mark.parametrize("stepper", ["ssprk2", "implicit-split"])
def test_long_runs_keep_mass_positivity_and_free_energy_decay(stepper):
    """≥ 1e5 steps: mass to 1e-12 relative, p ≥ 0 and Q non-increasing at every snapshot."""
    overrides = ["grid.cells=[16, 16]", "initial.mean=[1.5, -1.0]", "initial.std=[0.5, 0.7]",
                 f"solver.stepper={stepper}", "time.save_every=50"]
    if stepper == "implicit-split":
        overrides += ["solver.dt_max=0.002", "time.t_end=200"]
    else:
        overrides += ["time.t_end=20000"]
    res = solve(load_config(overrides=overrides), output=None)
    assert res.stats["steps"] >= 100_000
    mass = res.diagnostics["mass"]
    assert np.max(np.abs(mass - mass[0])) <= 1e-12 * mass[0]
    assert res.diagnostics["min_density"].min() >= 0.0
    q = res.diagnostics["free_energy"]
    assert np.all(np.diff(q) <= 1e-13 * np.abs(q).max())


def test_reading_a_file_while_it_is_written_disturbs_neither(reference_run):
    """Plots and scripts may open a run's file mid-run (also with HDF5's default locking)."""
    root, ref = reference_run
    out = root / "watched.h5"
    proc = fokkerplanck("solve", "c.toml", "-q", "-o", out.name, cwd=root)
    seen = 0
    while proc.poll() is None:
        if out.exists():
            try:  # default locking, as xarray/h5py users would; may catch a flush mid-way
                with h5py.File(out, "r") as f:
                    seen = max(seen, f["time"].shape[0])
            except OSError:
                pass
            assert len(read_result(out)["time"]) >= 1  # retries such reads itself
        time.sleep(0.02)
    assert proc.returncode == 0, proc.stderr.read()
    assert seen >= 1
    assert np.array_equal(read_result(out)["density"], ref["density"])


def test_sigkill_then_resume_of_a_seeded_particle_run_is_identical(tmp_path):
    """Issue 7 for `simulate`: the neurons and generator state are checkpointed each save."""
    cfg = example_text("transient-1d")
    (tmp_path / "c.toml").write_text(cfg)
    args = ["--set", "particles.count=200000", "--set", "time.t_end=1.0", "-q"]
    ref = fokkerplanck("simulate", "c.toml", "-o", "ref.h5", *args, cwd=tmp_path)
    assert ref.wait(timeout=300) == 0, ref.stderr.read()
    want = read_result(tmp_path / "ref.h5")
    rng = np.random.default_rng(11)
    for i in range(5):
        out = tmp_path / f"k{i}.h5"
        proc = fokkerplanck("simulate", "c.toml", "-o", out.name, *args, cwd=tmp_path)
        while not out.exists() and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate()
        assert proc.returncode in (0, -signal.SIGKILL), stderr
        got = read_result(out)
        assert 1 <= len(got["time"]) and np.isfinite(got["prediction"]).all()
        resumed = fokkerplanck("simulate", "c.toml", "--resume", out.name, *args[:-1], "-q",
                               cwd=tmp_path)
        assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
        got = read_result(out)
        assert np.array_equal(got["time"], want["time"])
        assert np.array_equal(got["prediction"], want["prediction"])  # bit for bit


def test_snapshot_count_discards_a_time_row_a_killed_write_left_behind(tmp_path):
    """A torn last flush may leave /time one row longer with a fill value: not a snapshot."""
    from fokkerplanck.io import Recorder, snapshot_count

    path = tmp_path / "t.h5"
    rec = Recorder(path, "", grid={}, fields={"x": ()})
    for k in range(3):
        rec.append(0.5 * k, {"x": float(k)})
    rec._file["time"].resize(4, axis=0)  # as if the kill came after the resize only
    rec.close()
    with h5py.File(path, "r") as f:
        assert f["time"].shape[0] == 4 and snapshot_count(f) == 3
    assert read_result(path)["time"].tolist() == [0.0, 0.5, 1.0]
    resumed = Recorder.resume(path)
    assert resumed.count == 3
    resumed.append(1.5, {"x": 3.0})
    resumed.close()
    assert read_result(path)["x"].tolist() == [0.0, 1.0, 2.0, 3.0]
