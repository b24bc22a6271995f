"""Cost per time step of PDE (3.4) against the frozen-coefficient linear floor (issue 2, item 4).

Both sides run SSPRK2 steps in a compiled loop on the same 2-D grid: the nonlocal scheme
recomputes f(p, x_i), the coupling A(θ), the positivity bound and every face coefficient
each stage; the baseline reads precomputed face coefficients (a linear Fokker–Planck
operator: the memory-bound floor).  Reported: cell-steps/s of (3.4) and the ratio of the
two costs per step.  Also: a cold CLI run of the default example (numba cache warm).
"""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from fokkerplanck.data import Data
from fokkerplanck.grids import BoxGrid
from fokkerplanck.models import NoisyGDModel
from solvers import _fv_kernels as kern
from solvers.finite_volume import FiniteVolumeScheme

from .common import markdown_table, median_time, write_result

X = np.array([[-0.8], [-0.2], [0.5], [0.9]])
Y = np.array([0.3, -0.5, 0.6, 0.1])


def _nonlocal_steps(n_cells, nsteps):
    model = NoisyGDModel(Data(X, Y), "tanh", 2.0, 0.5)
    grid = BoxGrid.for_state(1, [n_cells, n_cells], 6.0)
    scheme = FiniteVolumeScheme(model, grid, "ssprk2", 0.9)
    state = scheme.initial_state([0.3, 0.1], [0.8, 0.9])

    def run():
        scheme.advance(state, 1e9, max_steps=nsteps)
    return run, scheme, state


def _frozen_steps(scheme, state, nsteps):
    """Frozen coefficients (λ/h) B(±v) of the current potential, stored per face."""
    p = np.ascontiguousarray(state.density).reshape(scheme.kernel_shape)
    model, grid = scheme.model, scheme.grid
    f = model.prediction(state.density, grid)
    w = model.potential(model.coupling(f, grid), grid)
    lam = model.lam
    vu = np.diff(w, axis=1) / lam
    v1 = np.diff(w, axis=0) / lam
    bu = kern.bernoulli_array(vu)
    b1 = kern.bernoulli_array(v1)
    cu, c1 = lam / grid.spacing[1], lam / grid.spacing[0]
    coeffs = (cu * bu, cu * (bu + vu), c1 * b1, c1 * (b1 + v1))
    s1 = np.empty_like(p)
    dt = 0.9 * scheme.max_stable_dt(state.density)

    def run():
        kern.frozen_advance(p, s1, nsteps, dt, *coeffs, grid.spacing[1], grid.spacing[0])
    return run


def cold_cli_seconds() -> float:
    """Wall time of ``fokkerplanck solve -q`` on the default example in a fresh process."""
    subprocess.run([sys.executable, "-m", "fokkerplanck", "solve", "-q", "-o", "/dev/null"],
                   check=False, capture_output=True)  # warms the numba cache if needed
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fokkerplanck", "solve", "-q", "-o",
                    "/tmp/_fp_bench_default.h5"], check=True, capture_output=True)
    return time.perf_counter() - t0


def run(quick: bool = False) -> str:
    sizes = [128, 256] if quick else [128, 256, 512, 1024]
    repeats = 5
    rows = []
    for n in sizes:
        nsteps = max(2, int((2e6 if quick else 2e7) / n ** 2))
        step_nl, scheme, state = _nonlocal_steps(n, nsteps)
        t_nl = median_time(step_nl, repeats) / nsteps
        step_fr = _frozen_steps(scheme, state, nsteps)
        t_fr = median_time(step_fr, repeats) / nsteps
        rows.append({"grid": f"{n}x{n}", "cells": n * n,
                     "nonlocal Mcell-steps/s": n * n / t_nl / 1e6,
                     "frozen Mcell-steps/s": n * n / t_fr / 1e6,
                     "cost ratio (3.4)/frozen": t_nl / t_fr})
    cold = cold_cli_seconds()
    summary = {"stepper": "ssprk2 (2 stages per step)", "repeats": repeats,
               "cold_cli_default_example_s": cold,
               "max_cost_ratio": max(r["cost ratio (3.4)/frozen"] for r in rows),
               "min_nonlocal_Mcell_steps_per_s": min(r["nonlocal Mcell-steps/s"] for r in rows)}
    path = write_result("fv_step_cost", rows, summary, quick)
    table = markdown_table(rows, ["grid", "nonlocal Mcell-steps/s", "frozen Mcell-steps/s",
                                  "cost ratio (3.4)/frozen"])
    return (f"### FV step cost of (3.4) vs frozen-coefficient floor (SSPRK2, one core)\n\n{table}"
            f"\n\ncold `fokkerplanck solve` (default example, cache warm): {cold:.2f} s"
            f"  \n→ {path.relative_to(path.parents[2])}\n")
