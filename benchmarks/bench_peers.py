"""Against the tools a user would pick instead: fplanck, py-pde and FiPy (issue 6).

The problem (:mod:`benchmarks.peers.ou_problem`) is one every tool can solve: the 2-D
Ornstein–Uhlenbeck Fokker–Planck equation ∂_t p = ∇·(x p) + Δp on [−6, 6]² from
N((2, −1), 0.25 I) to t = 1, whose exact solution is a Gaussian — PDE (3.4) with α = 0,
λ = 1.  Every tool's L1 error is computed by the same function (exact cell averages *and*
exact centre values, each tool credited with the smaller).

For each peer we run the configuration that reaches its best error within a time budget (the
``--sweep`` mode below measures the ladder that justifies it), then find the smallest FV
grid whose error is at most that peer's, and time both ways:

* **fresh** — a new process, from launch to the solution at t = 1 (interpreter start-up,
  imports and JIT compilation included): what a command-line user pays.  Peers: the runner
  script in the peers' virtualenv; ours: ``python -m fokkerplanck solve`` with ``--set``
  overrides, writing the HDF5 file (numba's on-disk cache warm, as after the first run; the
  one-time cold-cache compile is reported in its own column).
* **warm** — the library's ordinary top-level call made again in a live process (fplanck:
  ``fokker_planck(...)`` + ``propagate``; py-pde: ``eq.solve`` on the same PDE object, which
  recompiles its stepping loop; FiPy: the time loop; ours: :func:`fokkerplanck.run.solve`).
* **reused** — everything that depends only on the operator kept (fplanck's matrix, py-pde's
  compiled stepper, our scheme object): the floor a user reaches with the low-level API.

Each figure is the median over ≥ 5 repeats (peers: 5 processes, each giving one fresh, one
warm and one reused time); speed-ups are ratios of medians measured in this run.  Peers run
in ``benchmarks/.venv-peers`` (``python -m benchmarks.peers.setup_peers``; the full run
creates it when missing, ``--quick`` never installs); a peer that is not installed or fails
is reported as skipped with the reason.

``python -m benchmarks.bench_peers --sweep`` runs each peer's ladder once and writes
``benchmarks/results/peers_sweep.json``; ``--render`` re-prints a saved result.
"""
from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import markdown_table, median_time, write_result
from .peers import ou_problem as ou
from .peers.setup_peers import PEERS, read_status, setup, venv_python

PEERS_DIR = Path(__file__).resolve().parent / "peers"
REPEATS = 5
#: warm-call budget (s, this 2-core machine) within which a peer's best error is taken
BUDGET_S = 10.0
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                 "NUMBA_NUM_THREADS": "1"}

#: label -> (package of PEERS, runner script, configuration).  Each is the finest
#: configuration of the peer's ladder (``--sweep``) whose warm call fits in BUDGET_S.
CONFIGS = {
    "fplanck 0.2.2 (expm_multiply)": ("fplanck", "run_fplanck.py",
                                      {"n": 256, "drift": "potential"}),
    "py-pde 0.59.0 (explicit Euler)": ("py-pde", "run_pypde.py",
                                       {"n": 384, "solver": "explicit", "cfl": 0.9}),
    "py-pde 0.59.0 (SciPy RK45)": ("py-pde", "run_pypde.py",
                                   {"n": 128, "solver": "scipy", "rtol": 1e-6, "atol": 1e-9}),
    "FiPy 4.0.3 (exponential, implicit Euler)": ("fipy", "run_fipy.py",
                                                 {"n": 96, "steps": 200, "api": False}),
}
#: ``--quick`` (a smoke run): tiny grids, one process each; py-pde is left out because its
#: numba compilation alone takes 25–90 s per process here (reported as skipped)
QUICK_CONFIGS = {
    "fplanck 0.2.2 (expm_multiply)": ("fplanck", "run_fplanck.py", {"n": 48}),
    "py-pde 0.59.0 (explicit Euler)": ("py-pde", None, {"n": 48, "solver": "explicit"}),
    "FiPy 4.0.3 (exponential, implicit Euler)": ("fipy", "run_fipy.py",
                                                 {"n": 32, "steps": 20, "api": False}),
}
QUICK_SKIP = "--quick: its numba compilation alone takes 25–90 s per process"
#: the ladders of ``--sweep`` (each run once; stops at the first rung over 3·BUDGET_S)
LADDERS = {
    "fplanck 0.2.2 (expm_multiply)": ("fplanck", "run_fplanck.py",
                                      [{"n": n} for n in (64, 128, 192, 256, 320, 384)]),
    "py-pde 0.59.0 (explicit Euler)": ("py-pde", "run_pypde.py",
                                       [{"n": n, "solver": "explicit"}
                                        for n in (64, 128, 192, 256, 384, 512)]),
    "py-pde 0.59.0 (SciPy RK45)": ("py-pde", "run_pypde.py",
                                   [{"n": n, "solver": "scipy"} for n in (64, 128, 192, 256)]),
    "FiPy 4.0.3 (exponential, implicit Euler)": (
        "fipy", "run_fipy.py", [{"n": n, "steps": s, "api": False}
                                for n, s in ((64, 50), (64, 200), (96, 200), (128, 100),
                                             (128, 200), (128, 400))]),
}
#: FV steppers compared: the default and the one with the smallest error per cost here
FV_STEPPERS = ("ssprk2", "euler")


# ---------------------------------------------------------------------------- peers
def run_peer(script: str, config: dict, timeout: float = 1800) -> dict:
    """One fresh process of a peer runner; adds ``fresh_s`` (launch → first solution)."""
    py = venv_python()
    env = {**os.environ, **SINGLE_THREAD, "PYTHONWARNINGS": "ignore"}
    t0 = time.monotonic()
    try:
        proc = subprocess.run([str(py), str(PEERS_DIR / script), json.dumps(config)],
                              capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=PEERS_DIR)
    except subprocess.TimeoutExpired:
        return {"ok": False, "reason": f"timed out after {timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    try:
        out = json.loads(lines[-1])
    except (IndexError, ValueError):
        err = proc.stderr.strip().splitlines()
        return {"ok": False, "reason": err[-1] if err else f"exit code {proc.returncode}"}
    if out.get("ok"):
        out["fresh_s"] = out["first_done"] - t0
        if not config.get("api", True):  # the ordinary call *is* the reused solve (FiPy)
            out["warm_s"] = out["reused_s"]
    return out


def measure_peer(script: str, config: dict, repeats: int) -> dict:
    """Median fresh, warm and reused times over ``repeats`` processes (one warm solve each)."""
    runs = []
    for _ in range(repeats):
        out = run_peer(script, {**config, "warm": 1})
        if not out.get("ok"):
            return out
        runs.append(out)
    last = runs[-1]
    return {"ok": True, "l1": last["l1"], "l1_cell": last["l1_cell"],
            "l1_point": last["l1_point"], "info": last.get("info", {}),
            "fresh_s": statistics.median(r["fresh_s"] for r in runs),
            "warm_s": statistics.median(t for r in runs for t in r["warm_s"]),
            "reused_s": statistics.median(t for r in runs for t in r["reused_s"]),
            "repeats": len(runs)}


def peer_status(quick: bool, log=print) -> tuple[dict | None, str]:
    """The peers' install status; the full run installs them when the venv is missing."""
    status = read_status()
    if status is None and not quick:
        log("setting up the peers' virtualenv (benchmarks/.venv-peers) ...")
        try:
            setup(log=log)
        except Exception as exc:  # noqa: BLE001 - reported as the reason peers are skipped
            return None, f"virtualenv setup failed: {type(exc).__name__}: {exc}"
        status = read_status()
    if status is None:
        return None, ("peers' virtualenv not set up (`python -m benchmarks.peers.setup_peers`;"
                      " --quick never installs)")
    return status, ""


# ---------------------------------------------------------------------------- ours
def _overrides(n: int, stepper: str) -> list[str]:
    return ["model.alpha=0", "model.lam=1", f"initial.mean=[{ou.MEAN0[0]}, {ou.MEAN0[1]}]",
            f"initial.std=[{ou.STD0[0]}, {ou.STD0[1]}]", f"grid.cells=[{n}, {n}]",
            f"grid.half_width={ou.L}", f"time.t_end={ou.T_END}", f"time.save_every={ou.T_END}",
            f"solver.stepper=\"{stepper}\""]


def _fv_scheme(n: int, stepper: str):
    from fokkerplanck.data import Data
    from fokkerplanck.grids import BoxGrid
    from fokkerplanck.models import NoisyGDModel
    from solvers.finite_volume import FiniteVolumeScheme

    model = NoisyGDModel(Data(np.array([[0.5]]), np.array([0.0])), "tanh", alpha=0.0, lam=1.0)
    return FiniteVolumeScheme(model, BoxGrid.for_state(1, [n, n], ou.L), stepper, 0.9)


def fv_solve(scheme):
    state = scheme.initial_state(ou.MEAN0, ou.STD0)
    if scheme.advance(state, ou.T_END) != 0 or state.t != ou.T_END:
        raise RuntimeError("FV solve failed")
    return state


def fv_error(n: int, stepper: str) -> dict:
    return ou.l1_errors(fv_solve(_fv_scheme(n, stepper)).density)


def fv_cells_for(target: float, stepper: str, cache: dict) -> int:
    """Smallest n (a multiple of 4) with error ≤ target (the error decreases with n).

    A guess from the order fitted on 32² and 64², then bisection between the largest n known
    to miss the target and the smallest known to reach it.
    """
    def err(n):
        if (n, stepper) not in cache:
            cache[n, stepper] = fv_error(n, stepper)["l1"]
        return cache[n, stepper]

    order = math.log(err(32) / err(64)) / math.log(2.0)
    guess = max(8, 4 * math.ceil(64 * (err(64) / target) ** (1 / order) / 4))
    miss = max([8 - 4] + [m for (m, st), e in cache.items() if st == stepper and e > target])
    hit = min([m for (m, st), e in cache.items() if st == stepper and e <= target],
              default=None)
    n = guess
    while hit is None:  # bracket from the guess upwards
        if err(n) <= target:
            hit = n
        else:
            miss, n = max(miss, n), 4 * math.ceil(1.1 * n / 4)
    while hit - miss > 8:  # narrow the bracket from above in 5 % steps (cheap side last)
        lower = 4 * math.floor(0.95 * hit / 4)
        if lower <= miss:
            break
        if err(lower) <= target:
            hit = lower
        else:
            miss = lower
            break
    while hit - miss > 4:
        mid = 4 * ((miss + hit) // 8)
        mid = mid if miss < mid < hit else miss + 4
        if err(mid) <= target:
            hit = mid
        else:
            miss = mid
    return hit


def fv_fresh(n: int, stepper: str, repeats: int, cold: bool = False,
             fill_cache: bool = True) -> tuple[float, float]:
    """Median wall time of ``python -m fokkerplanck solve`` and the L1 error of its file.

    ``cold``: each process gets an empty numba cache directory (full JIT compilation);
    otherwise one untimed run first fills numba's on-disk cache (unless ``fill_cache`` is
    False), as any earlier run would have.
    """
    import h5py

    args = [sys.executable, "-m", "fokkerplanck", "solve", "-q"]
    for o in _overrides(n, stepper):
        args += ["--set", o]
    times, err = [], None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ou.h5"
        env = {**os.environ, **SINGLE_THREAD}
        if not cold and fill_cache:
            subprocess.run(args + ["-o", str(out)], check=True, capture_output=True, env=env)
        for k in range(repeats):
            if cold:
                env["NUMBA_CACHE_DIR"] = str(Path(tmp) / f"numba-cache-{k}")
            t0 = time.perf_counter()
            subprocess.run(args + ["-o", str(out)], check=True, capture_output=True, env=env)
            times.append(time.perf_counter() - t0)
        with h5py.File(out, "r") as fh:
            err = ou.l1_errors(np.asarray(fh["density"][-1]))["l1"]
    return statistics.median(times), err


def fv_warm(n: int, stepper: str, repeats: int) -> tuple[float, float]:
    """Median times of :func:`fokkerplanck.run.solve` (warm) and of the kept scheme (reused)."""
    from fokkerplanck.config import load_config
    from fokkerplanck.run import solve

    cfg = load_config(None, overrides=_overrides(n, stepper))
    warm = median_time(lambda: solve(cfg, output=None), repeats)
    scheme = _fv_scheme(n, stepper)
    reused = median_time(lambda: fv_solve(scheme), repeats)
    return warm, reused


# ---------------------------------------------------------------------------- the run
def _fmt_s(t):
    return "–" if t is None else (f"{t:.3g} s" if t >= 0.01 else f"{t * 1e3:.2g} ms")


def run(quick: bool = False, log=None) -> str:
    log = log or (lambda *a: print(*a, file=sys.stderr, flush=True))
    load_before = os.getloadavg()
    repeats = 1 if quick else REPEATS
    configs = QUICK_CONFIGS if quick else CONFIGS
    status, why = peer_status(quick, log)
    peer_rows = []
    for label, (package, script, config) in configs.items():
        row = {"tool": label, "config": config}
        if status is None:
            row["skipped"] = why
        elif script is None:
            row["skipped"] = QUICK_SKIP
        elif not status["peers"].get(package, {}).get("ok"):
            row["skipped"] = status["peers"].get(package, {}).get("reason", "not installed")
        else:
            log(f"  {label} {config} ...")
            res = measure_peer(script, config, repeats)
            if res.get("ok"):
                row.update(res)
            else:
                row["skipped"] = res.get("reason", "failed")
        peer_rows.append(row)

    cache: dict = {}
    fv_rows = {}
    measured = [r for r in peer_rows if "skipped" not in r]
    targets = sorted({r["l1"] for r in measured}) or [fv_error(64, "ssprk2")["l1"]]
    steppers = FV_STEPPERS[:1] if quick else FV_STEPPERS
    if quick:
        targets = targets[:1]
    for target in targets:
        for stepper in steppers:
            n = fv_cells_for(target, stepper, cache)
            if (n, stepper) in fv_rows:
                continue
            log(f"  FV {stepper} {n}x{n} (target {target:.3g}) ...")
            fresh, err_cli = fv_fresh(n, stepper, repeats, fill_cache=not quick)
            warm, reused = fv_warm(n, stepper, repeats)
            fv_rows[n, stepper] = {"n": n, "stepper": stepper, "l1": cache[n, stepper],
                                   "l1_cli": err_cli, "fresh_s": fresh, "warm_s": warm,
                                   "reused_s": reused}
    # the one-time compile a first-ever CLI run pays, at the hardest target (full run only)
    n_cold, st_cold = max(fv_rows, key=lambda k: k[0] if k[1] == "ssprk2" else -1)
    cold_s = None if quick else fv_fresh(n_cold, st_cold, 3, cold=True)[0]

    rows = []
    for r in peer_rows:
        if "skipped" in r:
            rows.append({"tool": r["tool"], "config": json.dumps(r["config"]),
                         "status": f"skipped: {r['skipped']}"})
            continue
        rows.append({"tool": r["tool"], "config": json.dumps(r["config"]), "status": "ok",
                     "L1": r["l1"], "l1_cell": r["l1_cell"], "l1_point": r["l1_point"],
                     "fresh_s": r["fresh_s"], "warm_s": r["warm_s"],
                     "reused_s": r["reused_s"], "repeats": r["repeats"]})
        for stepper in steppers:
            n = fv_cells_for(r["l1"], stepper, cache)
            if (n, stepper) not in fv_rows:  # quick: only the hardest target is timed
                continue
            fv = fv_rows[n, stepper]
            rows.append({"tool": f"  ↳ FV {stepper}, {n}²", "matches": r["tool"],
                         "stepper": stepper, "n": n,
                         "status": "ok", "L1": fv["l1"], "L1_cli": fv["l1_cli"],
                         "fresh_s": fv["fresh_s"], "warm_s": fv["warm_s"],
                         "reused_s": fv["reused_s"],
                         "speedup_fresh": r["fresh_s"] / fv["fresh_s"],
                         "speedup_warm": r["warm_s"] / fv["warm_s"],
                         "speedup_reused": r["reused_s"] / fv["reused_s"]})

    if not measured:  # no peer to match: still show what the FV side measured
        rows += [{"tool": f"FV {fv['stepper']}, {fv['n']}² (no peer measured)",
                  "stepper": fv["stepper"], "n": fv["n"], "status": "ok", "L1": fv["l1"],
                  "L1_cli": fv["l1_cli"], "fresh_s": fv["fresh_s"], "warm_s": fv["warm_s"],
                  "reused_s": fv["reused_s"]} for fv in fv_rows.values()]
    summary = {"problem": "dp/dt = div(x p) + lap p on [-6,6]^2, N((2,-1), 0.25 I), t = 1",
               "error": "L1 = min(sum |p - exact cell average| h^2, sum |p - exact centre "
                        "value| h^2), same function for every tool",
               "budget_s": BUDGET_S, "repeats": repeats,
               "fv_cold_cache_cli_s": cold_s, "fv_cold_cache_grid": f"{n_cold}² {st_cold}",
               "load_average_before": load_before, "load_average_after": os.getloadavg(),
               "peers": {k: v for k, v in (status or {}).get("peers", {}).items()},
               "skipped": {r["tool"]: r["skipped"] for r in peer_rows if "skipped" in r}}
    summary.update(acceptance(rows))
    path = write_result("peers", rows, summary, quick)
    return render(rows, summary, path)


def _stepper_of(row) -> str:
    return row.get("stepper") or row["tool"].split("FV ", 1)[1].split(",")[0]


def acceptance(rows: list[dict]) -> dict:
    """Acceptance 1: the FV time to the peers' best error against the fastest peer there.

    The target is the smallest error any peer reached within the budget; the only peer that
    reached it within the budget is the one that set it (the others' best errors are larger),
    so it is the fastest peer at that error, and the speed-ups are those of its FV rows.
    """
    peers = [r for r in rows if r["status"] == "ok" and "matches" not in r
             and not r["tool"].startswith("FV ")]
    if not peers:
        return {}
    best = min(peers, key=lambda r: r["L1"])
    out = {}
    for r in rows:
        if r.get("matches") == best["tool"]:
            out[f"acceptance_{_stepper_of(r)}"] = {
                "target_l1": best["L1"], "target_from": best["tool"],
                "fv": r["tool"].strip(" ↳"), "fv_l1": r["L1"],
                "other_peers_best_l1": {p["tool"]: p["L1"] for p in peers if p is not best},
                **{f"speedup_{k}": r[f"speedup_{k}"] for k in ("fresh", "warm", "reused")}}
    return out


def render(rows: list[dict], summary: dict, path: Path | None = None) -> str:
    """The Markdown of a result (also ``--render``: from ``benchmarks/results/peers.json``)."""
    shown = []
    for r in rows:
        s = {"tool": r["tool"], "L1": r.get("L1", "–")}
        if r["status"] != "ok":
            s["fresh"] = r["status"]
        else:
            for key in ("fresh", "warm", "reused"):
                s[key] = _fmt_s(r[f"{key}_s"])
                if f"speedup_{key}" in r:
                    s[key] += f" (**{r[f'speedup_{key}']:.1f}×**)"
        shown.append(s)
    table = markdown_table(shown, ["tool", "L1", "fresh", "warm", "reused"])
    lines = [f"### OU problem against the peers (median of {summary['repeats']}, one core; "
             f"in bold the speed-up of the FV run over the peer above it, same or smaller "
             f"error)\n", table, ""]
    for key, acc in summary.items():
        if key.startswith("acceptance_"):
            lines.append(f"at the peers' best error {acc['target_l1']:.3g} ({acc['target_from']})"
                         f" {acc['fv']} is faster by: fresh {acc['speedup_fresh']:.1f}×, warm "
                         f"{acc['speedup_warm']:.1f}×, reused {acc['speedup_reused']:.1f}×  ")
    if summary.get("fv_cold_cache_cli_s") is not None:
        lines.append(f"first-ever CLI run (empty numba cache, {summary['fv_cold_cache_grid']}): "
                     f"{summary['fv_cold_cache_cli_s']:.1f} s (median of 3)  ")
    before, after = summary["load_average_before"][0], summary["load_average_after"][0]
    lines.append(f"load average {before:.1f} → {after:.1f} on {os.cpu_count()} cores (shared)  ")
    if path is not None:
        lines.append(f"→ {path.relative_to(path.parents[2])}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- sweep
def sweep(log=print) -> Path:
    """Each peer's ladder, one process per rung (warm = 1): error against warm time."""
    status, why = peer_status(False, log)
    if status is None:
        raise SystemExit(why)
    rows = []
    for label, (package, script, ladder) in LADDERS.items():
        if not status["peers"].get(package, {}).get("ok"):
            rows.append({"tool": label, "skipped": status["peers"].get(package, {})})
            continue
        for config in ladder:
            out = run_peer(script, {**config, "warm": 1})
            row = {"tool": label, "config": config, "ok": out.get("ok", False)}
            if out.get("ok"):
                row.update(l1=out["l1"], fresh_s=out["fresh_s"], warm_s=out["warm_s"][0],
                           reused_s=out["reused_s"][0])
            else:
                row["reason"] = out.get("reason")
            log(json.dumps(row))
            rows.append(row)
            if not out.get("ok") or out["warm_s"][0] > 3 * BUDGET_S:
                break
    best = {}
    for r in rows:
        if r.get("ok") and r["warm_s"] <= BUDGET_S:
            if r["tool"] not in best or r["l1"] < best[r["tool"]]["l1"]:
                best[r["tool"]] = r
    return write_result("peers_sweep", rows, {"budget_s": BUDGET_S, "best": best,
                                              "load_average": os.getloadavg()}, False)


def render_saved(quick: bool = False) -> str:
    """Recompute the acceptance summary of a saved result and print its Markdown."""
    from .common import RESULTS

    path = RESULTS / f"peers{'-quick' if quick else ''}.json"
    data = json.loads(path.read_text())
    data["summary"] = {k: v for k, v in data["summary"].items()
                       if not k.startswith("acceptance_")}
    data["summary"].update(acceptance(data["rows"]))
    path.write_text(json.dumps(data, indent=2) + "\n")
    return render(data["rows"], data["summary"], path)


if __name__ == "__main__":
    if "--sweep" in sys.argv[1:]:
        print(sweep())
    elif "--render" in sys.argv[1:]:
        print(render_saved(quick="--quick" in sys.argv[1:]))
    else:
        print(run(quick="--quick" in sys.argv[1:]))
