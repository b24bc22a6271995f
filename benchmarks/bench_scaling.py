"""How the cost of PDE (3.4) grows with the work (issue 6: scaling).

* **Cells** — time per SSPRK2 step (:meth:`FiniteVolumeScheme.advance` with ``max_steps``,
  the compiled marcher, two stages per step) on ≥ 4 grid sizes in 2-D (d = 1) and 3-D
  (d = 2).  The exponent b of ``time/step ∝ cells^b`` is fitted by least squares in log–log.
  Baseline measured in the same run at every size: ``np.copyto`` of one grid array (the
  memory-bandwidth floor), so each step is also given as a number of *array copies*.
* **Memory** — peak memory of building the scheme, the initial state and advancing two
  steps, in units of one grid array (8·cells bytes): by ``tracemalloc`` (NumPy allocations,
  not numba's) and, where Linux lets the process reset its high-water mark
  (``/proc/self/clear_refs``), by the growth of the resident-set peak ``VmHWM`` over the
  resident size before (every allocation, numba's included; pages actually touched; glibc's
  mmap threshold pinned at 128 KiB so that freed heap pages are not silently reused).
* **Training points** — time per step against n at a fixed grid (the nonlocal part costs
  O(n·N_θ^d) per stage against O(cells) for the fluxes), as a ratio to the n = 4 step.
"""
from __future__ import annotations

import gc
import os
import tracemalloc

import numpy as np

from fokkerplanck.data import Data
from fokkerplanck.grids import BoxGrid
from fokkerplanck.models import NoisyGDModel
from solvers.finite_volume import FiniteVolumeScheme

from .common import markdown_table, median_time, write_result

DATA = {1: (np.array([[-0.8], [-0.2], [0.5], [0.9]]), np.array([0.3, -0.5, 0.6, 0.1])),
        2: (np.array([[0.6, -0.3], [-0.2, 0.9], [0.5, 0.5], [-0.7, -0.4]]),
            np.array([0.3, -0.5, 0.6, 0.1]))}
MEAN0 = (0.3, 0.1, -0.2)
STD0 = (0.8, 0.9, 0.7)

SIZES = {  # cells per axis
    "full": {1: [64, 128, 256, 512, 1024], 2: [16, 24, 32, 48, 64, 96, 128]},
    "quick": {1: [64, 128, 192, 256], 2: [16, 24, 32, 40]},
}
TRAINING_POINTS = {"full": [4, 16, 64, 256, 1024], "quick": [4, 16, 64]}
TARGET_CELL_STEPS = {"full": 8e6, "quick": 1e6}  # per timed call
#: the RSS high-water mark is read only when one grid array is at least this large
RSS_MIN_ARRAY_BYTES = 2 ** 20
#: glibc's M_MMAP_THRESHOLD: fixed at 128 KiB (it otherwise grows after large frees), so every
#: grid-sized allocation gets fresh pages and shows in the resident-set peak
_M_MMAP_THRESHOLD, _MMAP_BYTES = -3, 128 * 1024


def _fix_mmap_threshold() -> bool:
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, _MMAP_BYTES))
    except (OSError, AttributeError):
        return False


def _scheme(d, n_axis, data=None):
    x, y = DATA[d] if data is None else data
    model = NoisyGDModel(Data(x, y), "tanh", 2.0, 0.5)
    grid = BoxGrid.for_state(d, [n_axis] * (d + 1), 6.0)
    return FiniteVolumeScheme(model, grid, "ssprk2", 0.9)


def _step_timer(scheme, nsteps):
    state = scheme.initial_state(MEAN0[:scheme.grid.ndim], STD0[:scheme.grid.ndim])

    def run():
        if scheme.advance(state, 1e9, max_steps=nsteps) != 0:
            raise RuntimeError("the marcher reported a non-finite coupling")
    return run


def _copy_timer(cells, ncopies):
    a = np.random.default_rng(0).random(cells)
    b = np.empty_like(a)

    def run():
        for _ in range(ncopies):
            np.copyto(b, a)
    return run


def _rss_kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False where not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_memory_arrays(d, n_axis, repeats: int = 1) -> dict:
    """Peak memory of scheme + initial state + two steps, in grid arrays (8·cells bytes)."""
    cells = n_axis ** (d + 1)
    array_bytes = 8.0 * cells

    def work():
        scheme = _scheme(d, n_axis)
        state = scheme.initial_state(MEAN0[:d + 1], STD0[:d + 1])
        scheme.advance(state, 1e9, max_steps=2)
        return scheme, state

    work()  # compiled, caches filled
    gc.collect()
    tracemalloc.start()
    kept = work()
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del kept
    gc.collect()
    out = {"tracemalloc_arrays": traced_peak / array_bytes, "rss_arrays": None}
    if array_bytes >= RSS_MIN_ARRAY_BYTES and _fix_mmap_threshold() and _reset_hwm():
        before = _rss_kib("VmRSS")
        kept = work()
        out["rss_arrays"] = (_rss_kib("VmHWM") - before) * 1024.0 / array_bytes
        del kept
        gc.collect()
    return out


def fit_exponent(cells, times) -> float:
    """Least-squares slope of log(time) against log(cells)."""
    return float(np.polyfit(np.log(cells), np.log(times), 1)[0])


def cells_scaling(mode: str, repeats: int) -> tuple[list[dict], dict]:
    rows, exponents = [], {}
    for d in (1, 2):
        cells_list, per_step = [], []
        for n_axis in SIZES[mode][d]:
            cells = n_axis ** (d + 1)
            nsteps = max(2, int(TARGET_CELL_STEPS[mode] / cells))
            t_step = median_time(_step_timer(_scheme(d, n_axis), nsteps), repeats) / nsteps
            ncopies = max(4, int(4 * TARGET_CELL_STEPS[mode] / cells))
            t_copy = median_time(_copy_timer(cells, ncopies), repeats) / ncopies
            mem = peak_memory_arrays(d, n_axis)
            cells_list.append(cells)
            per_step.append(t_step)
            rows.append({"grid": "×".join([str(n_axis)] * (d + 1)), "dim": d + 1,
                         "cells": cells, "µs/step": t_step * 1e6,
                         "ns/cell-step": t_step / cells * 1e9,
                         "step / array copy": t_step / t_copy,
                         "peak mem (arrays, tracemalloc)": mem["tracemalloc_arrays"],
                         "peak mem (arrays, RSS)": mem["rss_arrays"]})
        exponents[f"{d + 1}-D"] = fit_exponent(cells_list, per_step)
        exponents[f"{d + 1}-D, 4 largest"] = fit_exponent(cells_list[-4:], per_step[-4:])
    return rows, exponents


def training_points_scaling(mode: str, repeats: int) -> tuple[list[dict], dict]:
    """Time per step against n at a fixed 2-D grid (256², quick: 64²) and 3-D grid (48³/16³)."""
    rng = np.random.default_rng(6)
    grids = {1: 256, 2: 48} if mode == "full" else {1: 64, 2: 16}
    rows, fits = [], {}
    for d, n_axis in grids.items():
        cells = n_axis ** (d + 1)
        nsteps = max(2, int(TARGET_CELL_STEPS[mode] / cells))
        base, ns, ts = None, [], []
        for n in TRAINING_POINTS[mode]:
            x = rng.uniform(-1, 1, (n, d))
            y = rng.uniform(-0.5, 0.5, n)
            t_step = median_time(_step_timer(_scheme(d, n_axis, (x, y)), nsteps),
                                 repeats) / nsteps
            base = t_step if base is None else base
            ns.append(n)
            ts.append(t_step)
            rows.append({"grid": "×".join([str(n_axis)] * (d + 1)), "n": n,
                         "µs/step": t_step * 1e6, "ratio to n=4": t_step / base})
        # time/step = a + b·n: b·N_θ^d per training point, relative to a
        b, a = np.polyfit(ns, ts, 1)
        n_theta = n_axis ** d
        fits[f"{d + 1}-D"] = {"grid": rows[-1]["grid"],
                              "ns_per_point_theta_cell_step": float(b / n_theta * 1e9),
                              "n_where_nonlocal_equals_rest": float(a / b)}
    return rows, fits


def run(quick: bool = False) -> str:
    mode = "quick" if quick else "full"
    repeats = 5
    load_before = os.getloadavg()
    rows, exponents = cells_scaling(mode, repeats)
    n_rows, n_fits = training_points_scaling(mode, repeats)
    mem_max = max(max(r["peak mem (arrays, tracemalloc)"] for r in rows),
                  max((r["peak mem (arrays, RSS)"] or 0.0) for r in rows))
    summary = {"stepper": "ssprk2 (2 stages per step)", "repeats": repeats,
               "exponent": exponents, "peak_memory_arrays_max": mem_max,
               "nonlocal_fit": n_fits,
               "load_average_before": load_before, "load_average_after": os.getloadavg(),
               "note": "time/step ∝ cells^exponent (least squares, log-log); memory in units "
                       "of one float64 grid array; the RSS figure counts every allocation "
                       "(numba's included), tracemalloc only NumPy's/Python's"}
    path = write_result("scaling", rows + [dict(r, kind="training_points") for r in n_rows],
                        summary, quick)
    shown = [{**r, "peak mem (arrays, RSS)": "–" if r["peak mem (arrays, RSS)"] is None
              else r["peak mem (arrays, RSS)"]} for r in rows]
    table = markdown_table(shown, ["grid", "cells", "µs/step", "ns/cell-step",
                                  "step / array copy", "peak mem (arrays, tracemalloc)",
                                  "peak mem (arrays, RSS)"])
    ntable = markdown_table(n_rows, ["grid", "n", "µs/step", "ratio to n=4"])
    exps = ", ".join(f"{k}: **{v:.2f}**" for k, v in exponents.items())
    nfit = "; ".join(f"{k} ({v['grid']}): {v['ns_per_point_theta_cell_step']:.2f} ns per "
                     f"training point per θ-cell per step (the nonlocal part equals the rest of "
                     f"the step at n ≈ {v['n_where_nonlocal_equals_rest']:.0f})"
                     for k, v in n_fits.items())
    return (f"### Cost per step of (3.4) against cells (SSPRK2, one core)\n\n{table}\n\n"
            f"fitted exponent of time/step ∝ cells^b: {exps}; peak memory ≤ {mem_max:.1f} "
            f"grid arrays; load average {load_before[0]:.1f} → {os.getloadavg()[0]:.1f}\n\n"
            f"### Nonlocal cost against training points n\n\n{ntable}\n\n"
            f"{nfit}  \n→ {path.relative_to(path.parents[2])}\n")
