"""Isotropic-Gaussians example (Mei-Montanari-Nguyen Fig. 1): speed, grid convergence, the noisy
fixed point, and the radial PDE against full-dimensional SGD.

``python -m benchmarks isotropic`` runs both parts below (``--quick``: a smoke run of
seconds); ``python -m benchmarks.bench_isotropic [--quick] [--part pde|sgd]`` runs one.

PDE part (:func:`run_pde`, a few minutes)
    * speed: the Figure-1 PDE run (``isotropic-fig1``: d = 40, M = 1600 cells, 21 snapshots
      to t = 10) after compilation, median of 5, next to the same run by SGD (N = 800,
      ε = 1e-5, 10⁶ steps) and the cost of the exact risk of the finite network;
    * grid convergence of the risk at t = 5 and t = 10 (M = 400 … 6400) with observed orders,
      mass drift and minimum density, plus the exact-solution orders of both schemes;
    * the noisy PDE (``isotropic-noisy``) against the self-consistent fixed point computed
      independently (Newton on a Gauss–Legendre rule with the exact γ-quadrature kernel).

SGD part (:func:`run_sgd`, ~30-40 min on one core)
    Acceptance 1: N ∈ {200, 400, 800, 1600, 3200} × 5 seeds of SGD (ε = 1e-5) against the
    PDE (M = 6400): risk difference vs seed spread at every saved time, the 1/N
    extrapolation of the SGD risk, W1(ρ̄_t, radii) and its fitted slope in N; a figure of
    densities vs radius histograms and risk curves.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fokkerplanck.config import load_config
from fokkerplanck.examples import example_text
from fokkerplanck.io import read_result
from fokkerplanck.isotropic import (IsotropicModel, RadialGrid, build_isotropic,
                                    gibbs_fixed_point)
from fokkerplanck.run import solve
from fokkerplanck.simulation import simulate

from .common import RESULTS, markdown_table, median_time, write_result


def _fig1(overrides=()):
    return load_config(text=example_text("isotropic-fig1"), overrides=list(overrides))


def _orders(values):
    d = np.abs(np.diff(np.asarray(values, float)))
    with np.errstate(divide="ignore", invalid="ignore"):
        return [float(x) for x in np.log2(d[:-1] / d[1:])]


# ---------------------------------------------------------------------------- speed
def speed(quick: bool) -> tuple[list[dict], dict]:
    rows = []
    t_end = 1.0 if quick else 10.0
    for cells in ([400] if quick else [400, 800, 1600, 3200]):
        cfg = _fig1([f"grid.cells={cells}", f"time.t_end={t_end}"])
        res = solve(cfg, output=None)                       # compile / load the cache
        wall = median_time(lambda: solve(cfg, output=None), repeats=5, warmup=0)
        rows.append({"what": f"PDE M={cells}", "snapshots": len(res.time),
                     "steps": res.stats["steps"], "wall s": wall})
    cfg = _fig1([f"time.t_end={0.05 if quick else t_end}"] +
                (["time.save_every=0.05"] if quick else []))
    simulate(cfg.replace(["time.t_end=0.01", "time.save_every=0.01"]), output=None)  # compile
    t0 = time.perf_counter()
    sim = simulate(cfg, output=None)
    wall = time.perf_counter() - t0
    rows.append({"what": f"SGD N={cfg.particles.count} eps={cfg.particles.step:g}",
                 "snapshots": len(sim.time), "steps": sim.stats["steps"], "wall s": wall})
    from fokkerplanck import gaussian_integrals as gi
    risk_cost = {}
    for n in ([800] if quick else [800, 3200]):
        W = np.random.default_rng(0).standard_normal((n, 40)) * 0.8 / math.sqrt(40)
        t0 = time.perf_counter()
        gi.population_risk_network(W, 0.8)
        risk_cost[n] = time.perf_counter() - t0
    summary = {"pde_fig1_wall_s": next(r["wall s"] for r in rows if r["what"] == "PDE M=1600")
               if not quick else rows[0]["wall s"],
               "sgd_fig1_wall_s": rows[-1]["wall s"],
               "sgd_us_per_step": rows[-1]["wall s"] / max(rows[-1]["steps"], 1) * 1e6,
               "exact_risk_s": risk_cost}
    return rows, summary


# ---------------------------------------------------------------------------- convergence
def convergence(quick: bool) -> tuple[list[dict], dict]:
    cells = [100, 200, 400] if quick else [400, 800, 1600, 3200, 6400]
    times = (1.0,) if quick else (5.0, 10.0)
    rows = []
    risks = {t: [] for t in times}
    for m in cells:
        res = solve(_fig1([f"grid.cells={m}", f"time.t_end={max(times)}",
                           "time.save_every=1.0"]), output=None)
        row = {"M": m, "mass drift": float(np.max(np.abs(res.diagnostics["mass"] - 1.0))),
               "min density": float(np.min(res.diagnostics["min_density"]))}
        for t in times:
            k = int(np.argmin(np.abs(res.time - t)))
            risks[t].append(float(res.diagnostics["risk"][k]))
            row[f"risk t={t:g}"] = risks[t][-1]
        rows.append(row)
    summary = {f"order_t{t:g}": _orders(risks[t]) for t in times}
    summary.update(exact_solution_orders())
    summary["max_mass_drift"] = max(r["mass drift"] for r in rows)
    summary["min_density"] = min(r["min density"] for r in rows)
    return rows, summary


def exact_solution_orders() -> dict:
    """L1 orders on the exact solutions of tests/test_isotropic.py (σ ≡ 0)."""
    from scipy import special

    from solvers.radial_fv import RadialFVScheme

    def chi(grid, scale2, dof):
        return np.diff(special.gammainc(0.5 * dof, grid.edges ** 2 / (2 * scale2))) / grid.spacing

    out = {}
    errs = []
    for m in (50, 100, 200, 400, 800):
        model = IsotropicModel(delta=0.5, dim=8, s1=0.0, s2=0.0, lam=1.0)
        grid = RadialGrid(m, 2.0)
        scheme = RadialFVScheme(model, grid)
        st = scheme.initial_state(chi(grid, 0.08, 8))
        scheme.advance(st, 0.3)
        errs.append(np.abs(st.density - chi(grid, 0.08 * math.exp(-1.2), 8)).sum() * grid.spacing)
    out["transport_exact_l1"] = errs
    out["transport_exact_orders"] = _orders_from_errors(errs)
    errs = []
    for m in (40, 80, 160, 320):
        model = IsotropicModel(delta=0.5, dim=6, s1=0.0, s2=0.0, beta=4.0, lam=1.0)
        grid = RadialGrid(m, 4.0)
        scheme = RadialFVScheme(model, grid)
        st = scheme.initial_state(chi(grid, 0.64 / 6, 6))
        scheme.advance(st, 0.2)
        var = math.exp(-0.8) * 0.64 / 6 + (1 - math.exp(-0.8)) / 4.0
        errs.append(np.abs(st.density - chi(grid, var, 6)).sum() * grid.spacing)
    out["sg_exact_l1"] = errs
    out["sg_exact_orders"] = _orders_from_errors(errs)
    return out


def _orders_from_errors(errs):
    e = np.asarray(errs, float)
    return [float(x) for x in np.log2(e[:-1] / e[1:])]


# ---------------------------------------------------------------------------- noisy
def noisy_fixed_point(quick: bool) -> dict:
    cfg = load_config(text=example_text("isotropic-noisy"),
                      overrides=["time.t_end=20", "time.save_every=2"] if not quick
                      else ["model.dim=10", "grid.r_max=4", "grid.cells=100", "model.beta=20",
                            "model.lam=1", "time.t_end=4", "time.save_every=1"])
    t0 = time.perf_counter()
    res = solve(cfg, output=None)
    wall = time.perf_counter() - t0
    prob = build_isotropic(cfg)
    out = {"pde_wall_s": wall, "steps": res.stats["steps"]}
    for method in (("series",) if quick else ("series", "quadrature")):
        t0 = time.perf_counter()
        evaluate, info = gibbs_fixed_point(prob.model, prob.grid.r_max,
                                           nodes=120 if method == "quadrature" else 400,
                                           method=method)
        exact = evaluate(prob.grid.r)
        out[f"l1_{method}"] = float(np.abs(exact - res.density).sum() * prob.grid.spacing)
        out[f"newton_iterations_{method}"] = info["iterations"]
        out[f"fixed_point_s_{method}"] = time.perf_counter() - t0
        out[f"risk_fixed_point_{method}"] = info["risk"]
    out["risk_pde_final"] = float(res.diagnostics["risk"][-1])
    out["free_energy_nonincreasing"] = bool(np.all(np.diff(res.diagnostics["free_energy"])
                                                   <= 1e-12))
    return out


def run(quick: bool = False) -> str:
    """Both parts (the registered benchmark ``isotropic``)."""
    return run_pde(quick) + "\n\n" + run_sgd(quick)


def run_pde(quick: bool = False) -> str:
    speed_rows, speed_sum = speed(quick)
    conv_rows, conv_sum = convergence(quick)
    noisy = noisy_fixed_point(quick)
    summary = {"speed": speed_sum, "convergence": conv_sum, "noisy": noisy}
    write_result("isotropic", speed_rows + conv_rows, summary, quick)
    conv_cols = ["M"] + [k for k in conv_rows[0] if k.startswith("risk")] + \
        ["mass drift", "min density"]
    orders = "; ".join(f"{k}: {', '.join(f'{x:.2f}' for x in v)}"
                       for k, v in conv_sum.items() if "order" in k)
    return ("### Isotropic Gaussians: Figure-1 run, PDE and SGD (one core)\n\n"
            + markdown_table(speed_rows, ["what", "snapshots", "steps", "wall s"])
            + f"\n\nexact risk of the N-neuron network: "
            + ", ".join(f"N={n}: {s:.2f} s" for n, s in speed_sum["exact_risk_s"].items())
            + "\n\n### Grid convergence of the risk (MC limiter, SSPRK2)\n\n"
            + markdown_table(conv_rows, conv_cols) + f"\n\norders — {orders}\n\n"
            + "### Noisy PDE vs independent fixed point\n\n"
            + ", ".join(f"{k} = {v:.3g}" if isinstance(v, float) else f"{k} = {v}"
                        for k, v in noisy.items()))


# ---------------------------------------------------------------------------- SGD study
def run_sgd(quick: bool = False) -> str:
    widths = [50, 100, 200] if quick else [200, 400, 800, 1600, 3200]
    seeds = list(range(2 if quick else 5))
    t_end, every = (0.2, 0.1) if quick else (10.0, 1.0)
    eps = 1e-3 if quick else 1e-5
    base = _fig1([f"time.t_end={t_end}", f"time.save_every={every}",
                  f"particles.step={eps}"])
    pde_cells = 800 if quick else 6400
    with tempfile.TemporaryDirectory() as tmp:
        pde = solve(base.replace([f"grid.cells={pde_cells}"]), output=Path(tmp) / "pde.h5")
        densities = read_result(Path(tmp) / "pde.h5")["density"]
    coarse = solve(base.replace([f"grid.cells={pde_cells // 2}"]), output=None)
    grid = pde.grid
    edges = grid.edges
    times = pde.time
    risk_pde = pde.diagnostics["risk"]
    risk_err = np.abs(risk_pde - coarse.diagnostics["risk"]) / 3.0   # Richardson estimate
    from fokkerplanck.compare import w1_cells_vs_samples

    risk = np.full((len(widths), len(seeds), times.size), np.nan)
    w1 = np.full_like(risk, np.nan)
    walls = np.zeros((len(widths), len(seeds)))
    hist_example = {}
    for a, n in enumerate(widths):
        for b, seed in enumerate(seeds):
            cfg = base.replace([f"particles.count={n}", f"particles.seed={seed}"])
            k = [0]

            def on_save(t, row, a=a, b=b, k=k, n=n, seed=seed):
                j = int(np.argmin(np.abs(times - t)))
                risk[a, b, j] = row["diagnostics/risk"]
                w1[a, b, j] = w1_cells_vs_samples(edges, densities[j] * grid.spacing,
                                                  row["radii"])
                if n == (800 if not quick else widths[-1]) and seed == 0:
                    hist_example[j] = np.array(row["radii"])
            t0 = time.perf_counter()
            simulate(cfg, output=None, on_save=on_save)
            walls[a, b] = time.perf_counter() - t0
            print(f"  SGD N={n} seed={seed}: {walls[a, b]:.1f} s", flush=True)
    # risk: seed mean/spread per width, 1/N extrapolation
    mean = risk.mean(axis=1)
    std = risk.std(axis=1, ddof=1)
    inv = 1.0 / np.asarray(widths, float)
    extrap, extrap_se, bias_coef = [], [], []
    for j in range(times.size):
        wts = 1.0 / np.maximum(std[:, j] ** 2 / len(seeds), 1e-30)
        A = np.column_stack([np.ones_like(inv), inv])
        cov = np.linalg.inv(A.T @ (A * wts[:, None]))
        coef = cov @ (A.T @ (wts * mean[:, j]))
        extrap.append(float(coef[0]))
        extrap_se.append(float(math.sqrt(cov[0, 0])))
        bias_coef.append(float(coef[1]))
    extrap = np.array(extrap)
    extrap_se = np.array(extrap_se)
    # W1 slopes per time (mean over seeds)
    w1_mean = w1.mean(axis=1)
    slopes = []
    for j in range(times.size):
        slopes.append(float(np.polyfit(np.log(widths), np.log(w1_mean[:, j]), 1)[0]))
    pooled = float(np.polyfit(np.log(np.repeat(widths, times.size)),
                              np.log((w1_mean / w1_mean.mean(axis=0)).ravel()), 1)[0])
    rows = []
    for j, t in enumerate(times):
        row = {"t": float(t), "R_pde": float(risk_pde[j]), "pde err est": float(risk_err[j]),
               "R_inf (1/N fit)": float(extrap[j]), "se": float(extrap_se[j]),
               "z_inf": float((extrap[j] - risk_pde[j]) / extrap_se[j]),
               "bias*N": bias_coef[j], "W1 slope": slopes[j]}
        for a, n in enumerate(widths):
            row[f"dR N={n}"] = float(mean[a, j] - risk_pde[j])
            row[f"sd N={n}"] = float(std[a, j])
            row[f"W1 N={n}"] = float(w1_mean[a, j])
        rows.append(row)
    summary = {"widths": widths, "seeds": len(seeds), "eps": eps, "pde_cells": pde_cells,
               "w1_slope_per_time": slopes, "w1_slope_pooled": pooled,
               "w1_slope_median": float(np.median(slopes[1:])),
               "max_abs_z_inf": float(np.max(np.abs((extrap - risk_pde) / extrap_se))),
               "sgd_wall_s": walls.tolist()}
    for a, n in enumerate(widths):
        diff = np.abs(mean[a] - risk_pde)
        summary[f"N{n}_max_abs_dR"] = float(diff.max())
        summary[f"N{n}_max_abs_dR_over_sd"] = float(np.max(diff / std[a]))
        summary[f"N{n}_within_range_all_times"] = bool(np.all(
            (risk[a].min(axis=0) <= risk_pde) & (risk_pde <= risk[a].max(axis=0))))
    write_result("isotropic_sgd", rows, summary, quick)
    png = _figure(pde, densities, hist_example, times, risk, widths, risk_pde, quick)
    cols = ["t", "R_pde", "R_inf (1/N fit)", "se", "z_inf", "bias*N", "W1 slope"] + \
        [f"dR N={n}" for n in widths] + [f"sd N={n}" for n in widths]
    return ("### Isotropic Gaussians: radial PDE vs SGD (Figure-1 setting)\n\n"
            + markdown_table(rows, cols)
            + f"\n\nW1 slope in N: median over t>0 {summary['w1_slope_median']:.3f}, pooled "
            f"{pooled:.3f}; max |z| of the 1/N-extrapolated SGD risk vs PDE: "
            f"{summary['max_abs_z_inf']:.2f}; figure {png}")


def _figure(pde, densities, hist_example, times, risk, widths, risk_pde, quick):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    a, b = fig.subplots(1, 2)
    r = pde.grid.r
    picks = [j for j in np.unique(np.linspace(0, times.size - 1, 5).round().astype(int))]
    for c, j in enumerate(picks):
        a.plot(r, densities[j], color=f"C{c}", label=f"PDE t={times[j]:g}")
        if j in hist_example:
            a.hist(hist_example[j], bins=60, density=True, color=f"C{c}", alpha=0.35)
    a.set_xlabel("r = |w|")
    a.set_ylabel("density of r (PDE lines, SGD N = 800 histograms)")
    a.set_xlim(0, 7)
    a.set_ylim(0, 7)            # the mass that shrinks towards r = 0 forms a tall spike
    a.legend(fontsize=7)
    b.plot(times, risk_pde, "k-", label="PDE")
    for c, n in enumerate(widths):
        m, s = risk[c].mean(axis=0), risk[c].std(axis=0, ddof=1)
        b.errorbar(times, m, yerr=s, fmt="o", ms=3, color=f"C{c}", label=f"SGD N={n}")
    b.set_yscale("log")
    b.set_xlabel("t")
    b.set_ylabel("risk")
    b.legend(fontsize=7)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"isotropic_fig1{'-quick' if quick else ''}.png"
    fig.savefig(path, dpi=110)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_isotropic")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--part", choices=("pde", "sgd", "all"), default="all")
    args = parser.parse_args(argv)
    funcs = {"pde": run_pde, "sgd": run_sgd, "all": run}
    print(funcs[args.part](quick=args.quick), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
