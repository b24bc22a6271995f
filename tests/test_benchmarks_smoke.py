"""Smoke test of the benchmark suite: modules import, tiny runs write JSON with the right keys.

No timing assertions (speed lives in ``python -m benchmarks``, measured as ratios).
"""
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as bench_main  # noqa: E402
from benchmarks import bench_peers, bench_scaling, common  # noqa: E402
from benchmarks.peers import ou_problem  # noqa: E402


def test_every_registered_benchmark_imports_and_has_run():
    for name, module in bench_main.BENCHMARKS.items():
        assert callable(importlib.import_module(module).run), name
    assert {"scaling", "peers"} <= set(bench_main.BENCHMARKS)


def test_ou_error_metric_is_zero_for_the_exact_cell_averages():
    n = 48
    mean, std = ou_problem.exact_moments()
    edges = np.linspace(-ou_problem.L, ou_problem.L, n + 1)
    from scipy.special import ndtr
    fac = [np.diff(ndtr((edges - m) / std)) / np.diff(edges) for m in mean]
    errs = ou_problem.l1_errors(np.multiply.outer(*fac))
    assert errs["l1_cell"] < 1e-12 and errs["l1"] == errs["l1_cell"]
    assert errs["l1_point"] > 0 and abs(errs["mass"] - 1) < 1e-6


def test_fv_reaches_a_target_error_on_the_ou_problem():
    cache = {}
    target = bench_peers.fv_error(24, "ssprk2")["l1"]
    n = bench_peers.fv_cells_for(target, "ssprk2", cache)
    assert n <= 24 and cache[n, "ssprk2"] <= target
    assert n == 8 or cache.get((n - 4, "ssprk2"), np.inf) > target


def test_tiny_scaling_run_writes_json(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setitem(bench_scaling.SIZES, "quick", {1: [16, 24, 32, 40], 2: [8, 10, 12, 14]})
    monkeypatch.setitem(bench_scaling.TRAINING_POINTS, "quick", [4, 8])
    monkeypatch.setitem(bench_scaling.TARGET_CELL_STEPS, "quick", 2e3)
    text = bench_scaling.run(quick=True)
    assert "exponent" in text
    data = json.loads((tmp_path / "scaling-quick.json").read_text())
    assert {"name", "quick", "machine", "summary", "rows"} <= set(data)
    assert {"2-D", "3-D"} <= set(data["summary"]["exponent"])
    assert {"grid", "cells", "µs/step", "peak mem (arrays, tracemalloc)"} <= set(data["rows"][0])
    assert all(np.isfinite(v) for v in data["summary"]["exponent"].values())


def test_peers_without_virtualenv_are_reported_skipped(tmp_path, monkeypatch):
    """--quick never installs: with no venv every peer is skipped, with the reason."""
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setattr(bench_peers, "read_status", lambda: None)
    monkeypatch.setattr(bench_peers, "fv_fresh", lambda *a, **k: (1.0, 0.01))
    monkeypatch.setattr(bench_peers, "fv_warm", lambda *a, **k: (0.1, 0.05))
    monkeypatch.setattr(bench_peers, "fv_error",
                        lambda n, stepper: {"l1": 1.0 / n ** 2})
    text = bench_peers.run(quick=True, log=lambda *a: None)
    data = json.loads((tmp_path / "peers-quick.json").read_text())
    assert {"name", "quick", "machine", "summary", "rows"} <= set(data)
    skipped = [r for r in data["rows"] if r["status"].startswith("skipped")]
    assert len(skipped) == len(bench_peers.QUICK_CONFIGS)
    assert set(data["summary"]["skipped"]) == set(bench_peers.QUICK_CONFIGS)
    assert "skipped" in text


@pytest.mark.parametrize("script", ["run_fplanck.py", "run_pypde.py", "run_fipy.py"])
def test_peer_runner_scripts_exist(script):
    assert (ROOT / "benchmarks" / "peers" / script).is_file()
