"""``fokkerplanck sweep``: parsing, restart safety, failures reported, SIGKILL then restart."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from fokkerplanck import sweep as sw
from fokkerplanck.cli import main
from fokkerplanck.config import load_config
from fokkerplanck.run import solve

ROOT = Path(__file__).resolve().parents[1]

GRID_2X3 = """\
base = "noisy-gd-1d"
output_dir = "out"
overrides = [{overrides}]
[grid]
"model.alpha" = [1.0, 2.0]
"model.lam" = [0.25, 0.5, 1.0]
"""
NAMES_2X3 = ["alpha=1_lam=0.25", "alpha=1_lam=0.5", "alpha=1_lam=1",
             "alpha=2_lam=0.25", "alpha=2_lam=0.5", "alpha=2_lam=1"]


def _write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _summary(path):
    with open(path, newline="") as fh:
        return {row["run"]: row for row in csv.DictReader(fh)}


def test_grid_is_a_cartesian_product_with_stable_names(tmp_path):
    text = GRID_2X3.format(overrides='"grid.cells=[16,16]", "time.t_end=1"')
    s = sw.load_sweep(_write(tmp_path, text))
    assert [r.name for r in s.runs] == NAMES_2X3
    assert s.keys == ("model.alpha", "model.lam")
    assert s.output_dir == (tmp_path / "out").resolve()
    cfg = s.configs["alpha=2_lam=0.5"]
    assert (cfg.model.alpha, cfg.model.lam, cfg.grid.cells, cfg.time.t_end) == (2.0, 0.5,
                                                                                [16, 16], 1.0)
    assert Path(cfg.output.path) == s.output_dir / "alpha=2_lam=0.5.h5"
    # dotted (unquoted) keys mean the same; names do not depend on the other runs
    dotted = text.replace('"model.alpha"', "model.alpha").replace('"model.lam" = [0.25, ',
                                                                  "model.lam = [")
    s2 = sw.load_sweep(_write(tmp_path, dotted, "t.toml"))
    assert [r.name for r in s2.runs] == [n for n in NAMES_2X3 if "0.25" not in n]


def test_runs_list_names_lists_and_a_config_file_base(tmp_path):
    (tmp_path / "base.toml").write_text(
        load_config(overrides=["grid.cells=[16,16]", "time.t_end=1"]).to_toml())
    s = sw.load_sweep(_write(tmp_path, """\
base = "base.toml"
[[runs]]
"grid.cells" = [24, 20]
"model.activation" = "sigmoid"
[[runs]]
name = "plain"
[[runs]]
model.alpha = 0.5
"""))
    assert [r.name for r in s.runs] == ["cells=24x20_activation=sigmoid", "plain", "alpha=0.5"]
    assert s.output_dir == (tmp_path / "s").resolve()
    assert s.configs["plain"].grid.cells == [16, 16]
    assert s.configs["cells=24x20_activation=sigmoid"].model.activation == "sigmoid"


@pytest.mark.parametrize("text, words", [
    ('bse = "noisy-gd-1d"\n[grid]\n"model.alpha" = [1.0]\n', "did you mean 'base'"),
    ('[grid]\n"model.alpha" = [1.0]\n', "base is required"),
    ('base = "noisy-gd-9d"\n[grid]\n"model.alpha" = [1.0]\n', "neither a built-in example"),
    ('base = "noisy-gd-1d"\n', "describes no runs"),
    ('base = "noisy-gd-1d"\n[grid]\nalpha = [1.0]\n', "section.key"),
    ('base = "noisy-gd-1d"\n[grid]\n"model.alpha" = 1.0\n', "non-empty list"),
    ('base = "noisy-gd-1d"\n[grid]\n"output.path" = ["a.h5"]\n', "set by the sweep"),
    ('base = "noisy-gd-1d"\n[grid]\n"model.alpha" = [1.0, -1.0]\n',
     "run alpha=-1: [model] alpha must be >= 0"),
    ('base = "noisy-gd-1d"\n[grid]\n"model.alfa" = [1.0]\n', "did you mean '[model] alpha'"),
    ('base = "noisy-gd-1d"\n[[runs]]\n"model.alpha" = 1.0\n[[runs]]\n"model.alpha" = 1.0\n',
     "listed twice"),
    ('base = "noisy-gd-1d"\noverrides = "time.t_end=1"\n[grid]\n"model.alpha" = [1.0]\n',
     "overrides must be a list"),
    ('base = "noisy-gd-1d"\n[grid\n', "not valid TOML"),
])
def test_bad_sweep_files_are_one_line_exit_2(tmp_path, capsys, text, words):
    assert main(["sweep", str(_write(tmp_path, text))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err
    assert not (tmp_path / "s").exists()


def test_run_state_done_resume_fresh_conflict(tmp_path):
    cfg = load_config(overrides=["grid.cells=[16,16]", "time.t_end=0.5"])
    path = tmp_path / "r.h5"
    assert sw.run_state(path, cfg) == ("fresh", "")
    solve(cfg, output=path)
    assert sw.run_state(path, cfg)[0] == "done"
    assert sw.run_state(path, cfg.replace(["time.t_end=1"])) == ("resume", "from t = 0.5")
    state, detail = sw.run_state(path, cfg.replace(["model.alpha=3"]))
    assert state == "conflict" and "[model] alpha" in detail
    assert sw.run_state(path, cfg.replace(["time.t_end=0.25"]))[0] == "conflict"
    path.write_bytes(b"not hdf5")
    assert sw.run_state(path, cfg)[0] == "fresh"


def test_failed_run_is_reported_not_fatal(tmp_path, capsys):
    path = _write(tmp_path, """\
base = "noisy-gd-1d"
overrides = ["grid.cells=[16,16]", "time.t_end=0.5"]
[[runs]]
name = "good"
[[runs]]
name = "unstable"
"solver.dt" = 0.25
"solver.stepper" = "euler"
""")
    s = sw.load_sweep(path)
    rows = sw.run_sweep(s, workers=2, processes=False)
    by = {r["run"]: r for r in rows}
    assert by["good"]["status"] == "ran" and by["good"]["final_time"] == 0.5
    assert by["unstable"]["status"] == "failed"
    assert by["unstable"]["error"].startswith("InstabilityError: ")
    assert "\n" not in by["unstable"]["error"]
    table = _summary(s.summary_path)
    assert table["unstable"]["status"] == "failed" and table["good"]["final_loss"]
    assert "| unstable |" in sw.markdown_table(s, rows)
    # the CLI: the finished run is reused, the failed one retried and reported, exit code 1
    assert main(["sweep", str(path), "--workers", "1"]) == 1
    out = capsys.readouterr().out
    lines = {line.split("|")[1].strip(): line for line in out.splitlines()[2:]}
    assert "| reused |" in lines["good"] and "InstabilityError" in lines["unstable"]


def _complete(path, t_end):
    try:
        with h5py.File(path, "r") as f:
            return f["time"].shape[0] > 0 and f["time"][-1] == t_end
    except OSError:
        return False


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def test_sigkill_then_restart_redoes_only_unfinished_runs(tmp_path):
    """2 x 3 sweep on a local cluster of 2 worker processes, SIGKILLed mid-way, restarted."""
    t_end = 6.0
    path = _write(tmp_path, GRID_2X3.format(
        overrides=f'"grid.cells=[96,96]", "time.t_end={t_end}", "time.save_every=0.25"'))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fokkerplanck", "sweep", str(path), "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        # kill once a run has finished and another has written snapshots (watching the
        # log and the directory only: opening a file being written would lock it)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            log = (out / "sweep.log").read_text() if (out / "sweep.log").exists() else ""
            done = [n for n in NAMES_2X3 if f" finish {n} " in log]
            started = [n for n in NAMES_2X3 if (out / f"{n}.h5").exists()]
            if done and len(started) > len(done):
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # the worker processes notice that their parent died and exit by themselves
        deadline = time.monotonic() + 15
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(proc.pid)
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()

    finished = {n: (out / f"{n}.h5").stat().st_mtime_ns for n in NAMES_2X3
                if _complete(out / f"{n}.h5", t_end)}
    partial = [n for n in NAMES_2X3 if n not in finished and (out / f"{n}.h5").exists()]
    assert 1 <= len(finished) < 6 and partial

    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    table = _summary(out / "summary.csv")
    assert sorted(table) == sorted(NAMES_2X3)
    for name in NAMES_2X3:
        row = table[name]
        assert float(row["final_time"]) == t_end and _complete(out / f"{name}.h5", t_end)
        expected = "reused" if name in finished else "resumed" if name in partial else "ran"
        assert row["status"] == expected, (name, row)
    for name, mtime in finished.items():
        assert (out / f"{name}.h5").stat().st_mtime_ns == mtime      # not touched
    log = (out / "sweep.log").read_text().splitlines()
    starts = {n: sum(f" start {n} " in line for line in log) for n in NAMES_2X3}
    assert all(starts[n] == 1 for n in finished), starts
    assert all(starts[n] == 2 for n in partial), starts
    assert f"| {partial[0]} | " in again.stdout
    # a resumed run ends where an uninterrupted one does
    name = partial[0]
    cfg = sw.load_sweep(path).configs[name]
    reference = solve(cfg, output=None).diagnostics["loss"][-1]
    assert float(table[name]["final_loss"]) == pytest.approx(reference, rel=1e-12, abs=0)
