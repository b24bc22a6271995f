"""Finite-width networks against PDE (3.4): throughput, width and step rates, cost (issue 3).

Sections (each measured in this run, on this machine):

* **throughput** — neuron × training-point evaluations per second of the compiled noisy-GD
  step (:func:`solvers._particle_kernels.run_steps`, noise drawn inside the kernel), pinned
  to one core, best of 10 batches of ~5·10⁷ evaluations, by wall clock and by the
  process's CPU time (on a shared machine the wall clock also counts time the core spent on
  other processes; the 1-minute load average is recorded next to it); plus the end-to-end ``simulate`` rate (snapshots included) and
  the NumPy twin for scale.
* **width** — ``validate`` on the ``transient-1d`` and ``transient-2d`` examples (loss falls
  20× and 18×): widths 10²…10⁵, R seeds each.  Fitted slope of max_i |f_PDE − f_m| against
  m at the final time (and its range over all saved times); at m = 10⁵ the z-score of the
  seed-mean loss against the PDE loss at every saved time (|z| ≤ 3 is the acceptance test)
  and the same deviation in units of the per-run standard deviation.  The PDE reference is
  Richardson-extrapolated from the example grid and its half (error estimate reported).
* **step** — the η-dependence at fixed m: (a) with the same Brownian path (noise of step 2η
  = normalised sums of pairs of step-η normals), |f^η − f^{η/2}| at m = 10⁴: strong order
  1 for additive noise; (b) the bias of the seed-mean against the PDE at m = 10⁵ (weak
  order 1), η = 1/8 … 1/128, with its Monte-Carlo standard error.
* **cost** — time to reach the same accuracy in f(x_i): the PDE on a ladder of grids
  (error max over saved t and i against the reference) and the particles at m = 10³…10⁵
  (η = 0.01, error averaged over seeds); the PDE time at the particles' error is
  interpolated on the PDE's log–log (error, time) curve.

``python -m benchmarks.bench_particles [--quick]`` (or ``python -m benchmarks particles``
once registered) writes ``benchmarks/results/particles.json`` and the validation figures
``benchmarks/results/validate-transient-{1d,2d}.{h5,png}``.
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

from fokkerplanck.config import load_config
from fokkerplanck.examples import example_text
from fokkerplanck.run import build_noisy_gd, solve
from fokkerplanck.simulation import simulate
from fokkerplanck.validate import FIT_METRIC, pde_reference, summary_table, validate
from solvers.particles import ParticleScheme, step_reference

from .common import RESULTS, markdown_table, write_result

EXAMPLES = ("transient-1d", "transient-2d")

SIZES = {
    "full": {"widths": [100, 1000, 10000, 100000], "repeats": 10,
             "throughput": [(1, 8, 100000), (2, 8, 100000), (1, 64, 100000), (2, 256, 20000)],
             "coupled_m": 10000, "weak_m": 100000, "weak_seeds": 5,
             "etas": [1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128],
             "pde_cells": {1: [24, 32, 48, 64, 96, 128, 192, 256], 2: [16, 24, 32, 48, 64, 96]},
             "cost_widths": [1000, 10000, 100000], "cost_seeds": 3},
    "quick": {"widths": [100, 400], "repeats": 2,
              "throughput": [(1, 8, 20000)],
              "coupled_m": 500, "weak_m": 2000, "weak_seeds": 2,
              "etas": [1 / 8, 1 / 16, 1 / 32],
              "pde_cells": {1: [24, 32], 2: [16, 24]},
              "cost_widths": [300, 1000], "cost_seeds": 2},
}


def _config(name, quick, *overrides):
    extra = ["time.t_end=1.0", "time.save_every=0.25", "grid.cells=[32, 32]"] if quick else []
    if quick and name.endswith("2d"):
        extra[-1] = "grid.cells=[16, 16, 16]"
    return load_config(text=example_text(name), overrides=[*extra, *overrides])


def _pin_one_core():
    """Run on one core (restored by the caller); returns the previous affinity or None."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(old)})
    return old


# ---------------------------------------------------------------------------- throughput
def throughput(mode: str) -> tuple[list[dict], dict]:
    from fokkerplanck.data import Data
    from fokkerplanck.models import NoisyGDModel

    rows = []
    numpy_rate = math.nan
    old = _pin_one_core()
    try:
        for case, (d, n, m) in enumerate(SIZES[mode]["throughput"]):
            rng = np.random.default_rng(0)
            x = rng.uniform(-1, 1, (n, d)) / math.sqrt(d)
            y = rng.uniform(-1, 1, n)
            model = NoisyGDModel(Data(x, y), "tanh", 1.0, 0.1)
            sch = ParticleScheme(model, m, 0.01)
            state = sch.initial_state(0.0, 1.0, rng)
            sch.advance(state, 1, rng)                       # compile / warm up
            steps = max(2, int(5e7 // (m * n)))
            best, best_cpu = math.inf, math.inf
            for _ in range(10):                              # best of 10: a shared machine
                t0, c0 = time.perf_counter(), time.process_time()
                sch.advance(state, steps, rng)
                best = min(best, time.perf_counter() - t0)
                best_cpu = min(best_cpu, time.process_time() - c0)
            rows.append({"d": d, "n": n, "m": m, "steps": steps,
                         "M evals/s": m * n * steps / best / 1e6,
                         "M evals/s (CPU time)": m * n * steps / best_cpu / 1e6,
                         "ns/neuron-step": best / (steps * m) * 1e9,
                         "load average": os.getloadavg()[0]})
            if case == 0:                                    # the NumPy twin, for scale
                z = state.particles.copy()
                xi = rng.standard_normal(z.shape)
                t0 = time.perf_counter()
                for _ in range(3):
                    z = step_reference(model, z, 0.01, xi)
                numpy_rate = m * n * 3 / (time.perf_counter() - t0) / 1e6
        # end to end: simulate on the 1-D example (snapshots and diagnostics included)
        cfg = _config("transient-1d", mode == "quick",
                      f"particles.count={SIZES[mode]['throughput'][0][2]}")
        res = simulate(cfg, output=None)
        e2e = res.stats["evaluations_per_second"] / 1e6
    finally:
        if old is not None:
            os.sched_setaffinity(0, old)
    summary = {"M_evals_per_s": {f"d={r['d']},n={r['n']},m={r['m']}": r["M evals/s"]
                                 for r in rows},
               "M_evals_per_s_cpu_time": {f"d={r['d']},n={r['n']},m={r['m']}":
                                          r["M evals/s (CPU time)"] for r in rows},
               "load_average_1min": os.getloadavg()[0], "cores": os.cpu_count(),
               "M_evals_per_s_end_to_end_transient_1d": e2e,
               "M_evals_per_s_numpy_twin": numpy_rate,
               "target_M_evals_per_s": 100, "one_core": old is not None}
    return rows, summary


# ---------------------------------------------------------------------------- width
def width(name: str, mode: str, reference) -> tuple[list[dict], dict, object]:
    sz = SIZES[mode]
    cfg = _config(name, mode == "quick")
    out = None if mode == "quick" else RESULTS / f"validate-{name}.h5"   # (quick: no files)
    res = validate(cfg, sz["widths"], sz["repeats"], output=out, progress=False,
                   reference=reference)
    k = res.time.size - 1
    slopes = res.fits[FIT_METRIC]["slope"][1:]
    rows = []
    for a, m in enumerate(res.widths):
        err = np.abs(res.errors[FIT_METRIC][a, :, k])
        L = res.particle_loss[a]                                  # (R, T)
        sd = L.std(axis=0, ddof=1) if L.shape[0] > 1 else np.full(L.shape[1], np.nan)
        dev = L.mean(axis=0) - res.pde_loss
        rows.append({"example": name, "m": int(m), "seeds": int(L.shape[0]),
                     "max|Δf| at t_end": float(err.mean()),
                     "sd over seeds": float(err.std(ddof=1)) if err.size > 1 else math.nan,
                     "W1(u) at t_end": float(np.mean(np.abs(res.errors["w1_u"][a, :, k]))),
                     "max_t |z| loss (SE units)": float(np.nanmax(np.abs(res.loss_z[a]))),
                     "max_t |mean ΔL|/sd": float(np.nanmax(np.abs(dev) / sd)),
                     "s/run": float(res.wall_time[a].mean())})
    s, se = res.slope
    summary = {"fit_time": float(res.time[k]), "slope": s, "slope_stderr_regression": se,
               "slope_range_over_times": [float(np.nanmin(slopes)), float(np.nanmax(slopes))],
               "slope_w1": {n_: float(res.fits[n_]["slope"][k]) for n_ in res.fits
                            if n_.startswith("w1_")},
               "loss_z_max_at_largest_width": rows[-1]["max_t |z| loss (SE units)"],
               "loss_z_at_largest_width": [float(v) for v in res.loss_z[-1]],
               "loss_dev_over_sd_max_at_largest_width": rows[-1]["max_t |mean ΔL|/sd"],
               "pde_error_estimate_prediction": float(np.nanmax(res.pde_error_prediction))
               if res.pde_error_prediction is not None else None,
               "pde_error_estimate_loss": float(np.nanmax(res.pde_error_loss))
               if res.pde_error_loss is not None else None,
               "particle_step": float(cfg.particles.step), "seeds": int(sz["repeats"]),
               "widths": [int(w) for w in res.widths],
               "loss_change_factor": float(res.pde_loss[0] / res.pde_loss[-1]),
               "files": [] if out is None else [out.name, out.with_suffix(".png").name]}
    return rows, summary, res


# ---------------------------------------------------------------------------- step size
def _coupled_run(prob, m, etas, seed, times):
    """One seed, every η on the same Brownian path; returns f (len(etas), T, n)."""
    d = prob.data.dim
    fine = min(etas)
    factors = [round(e / fine) for e in etas]
    chunk = max(factors)
    rng = np.random.Generator(np.random.PCG64(seed))
    z0 = prob.mean + prob.std * rng.standard_normal((m, d + 1))
    schemes = [ParticleScheme(prob.model, m, e) for e in etas]
    states = [s.state_from_particles(z0) for s in schemes]
    ks = np.rint(times / fine).astype(int)
    out = np.empty((len(etas), times.size, prob.data.n))
    for a, s in enumerate(schemes):
        out[a, 0] = s.prediction(states[a])
    k = 0
    for j in range(1, times.size):
        while k < ks[j]:
            noise = rng.standard_normal((chunk, m, d + 1))
            for s, st, fac in zip(schemes, states, factors):
                s.advance_with_noise(st, noise.reshape(chunk // fac, fac, m, d + 1)
                                     .sum(axis=1) / math.sqrt(fac))
            k += chunk
        for a, s in enumerate(schemes):
            out[a, j] = s.prediction(states[a])
    return out


def step(name: str, mode: str, reference) -> tuple[list[dict], dict]:
    sz = SIZES[mode]
    cfg = _config(name, mode == "quick")
    prob = build_noisy_gd(cfg)
    times = reference.time
    etas = sz["etas"]
    f_ref = np.array([r["prediction"] for r in reference.rows])          # (T, n)
    # (a) pathwise, m = coupled_m, one seed
    f = _coupled_run(prob, sz["coupled_m"], etas, 11, times)
    strong = [float(np.max(np.abs(f[a] - f[a + 1]))) for a in range(len(etas) - 1)]
    strong_rates = [math.log2(a / b) for a, b in zip(strong, strong[1:])]
    # (b) weak: seed-mean at m = weak_m against the PDE
    fs = np.array([_coupled_run(prob, sz["weak_m"], etas, 100 + s, times)
                   for s in range(sz["weak_seeds"])])                     # (R, E, T, n)
    mean = fs.mean(axis=0)
    se = fs.std(axis=0, ddof=1) / math.sqrt(fs.shape[0])
    rows = []
    bias = []
    for a, eta in enumerate(etas):
        dev = np.abs(mean[a] - f_ref)
        idx = np.unravel_index(np.argmax(dev), dev.shape)
        bias.append((float(dev[idx]), float(se[a][idx])))
        rows.append({"example": name, "η": eta,
                     "max|f^η − f^η/2| (same path, m=%d)" % sz["coupled_m"]:
                         strong[a] if a < len(strong) else math.nan,
                     "bias max|E f^η − f_PDE|": bias[-1][0], "its SE": bias[-1][1],
                     "bias / SE": bias[-1][0] / bias[-1][1]})
    usable = [(e, b) for e, (b, s_) in zip(etas, bias) if b > 3 * s_]
    if len(usable) >= 2:
        le, lb = np.log([u[0] for u in usable]), np.log([u[1] for u in usable])
        weak_rate = float(np.polyfit(le, lb, 1)[0])
    else:
        weak_rate = math.nan
    # differences of the seed means on a common path: little Monte-Carlo noise left
    dmean = [float(np.max(np.abs(mean[a] - mean[a + 1]))) for a in range(len(etas) - 1)]
    summary = {"strong_rates_consecutive": strong_rates, "weak_rate_fit": weak_rate,
               "weak_points_used": len(usable),
               "seed_mean_difference_rates": [math.log2(a / b) for a, b in
                                              zip(dmean, dmean[1:])],
               "weak_constant": bias[0][0] / etas[0],
               "derived_order": ParticleScheme.order, "m_coupled": sz["coupled_m"],
               "m_weak": sz["weak_m"], "weak_seeds": sz["weak_seeds"]}
    return rows, summary


# ---------------------------------------------------------------------------- cost
def cost(name: str, mode: str, reference) -> tuple[list[dict], dict]:
    sz = SIZES[mode]
    cfg = _config(name, mode == "quick")
    d = build_noisy_gd(cfg).data.dim
    f_ref = np.array([r["prediction"] for r in reference.rows])
    solve(cfg.replace([f"grid.cells={[8] * (d + 1)}"]), output=None)      # compile
    pde = []
    for N in sz["pde_cells"][d]:
        c = cfg.replace([f"grid.cells={[N] * (d + 1)}"])
        t0 = time.perf_counter()
        r = solve(c, output=None)
        wall = time.perf_counter() - t0
        pde.append((N, float(np.max(np.abs(r.prediction - f_ref))), wall))
    rows = [{"example": name, "method": f"PDE {N}^{d + 1}", "error max_t,i |Δf|": e, "s": w}
            for N, e, w in pde]
    ratios = {}
    pe = np.array([p[1] for p in pde])
    pt = np.array([p[2] for p in pde])
    for m in sz["cost_widths"]:
        errs, walls = [], []
        for s in range(sz["cost_seeds"]):
            c = cfg.replace([f"particles.count={m}", f"particles.seed={s}",
                             "particles.step=0.01"])
            res = simulate(c, output=None)
            errs.append(float(np.max(np.abs(res.prediction - f_ref))))
            walls.append(res.stats["wall_time"])
        e, w = float(np.mean(errs)), float(np.mean(walls))
        # PDE time at error e: log-log interpolation on the (monotone part of the) ladder
        order = np.argsort(pe)
        if e >= pe.max():
            t_pde = float(pt[np.argmax(pe)])       # coarsest grid is already as accurate
        elif e <= pe.min():
            t_pde = math.nan
        else:
            t_pde = float(np.exp(np.interp(np.log(e), np.log(pe[order]), np.log(pt[order]))))
        ratios[m] = w / t_pde if t_pde > 0 else math.nan
        rate = res.stats["evaluations_per_second"]
        rows.append({"example": name, "method": f"particles m={m} (η=0.01)",
                     "error max_t,i |Δf|": e, "s": w, "PDE s at same error": t_pde,
                     "particles / PDE time": ratios[m]})
    return rows, {"time_ratio_particles_over_pde": {str(k): v for k, v in ratios.items()},
                  "pde_ladder": [{"cells_per_axis": N, "error": e, "s": w} for N, e, w in pde],
                  "particle_evals_per_s": rate, "t_end": float(cfg.time.t_end),
                  "n": int(f_ref.shape[1])}


def extrapolated_cost(width_res, step_sum, cost_sum) -> dict:
    """Particle time to the accuracy of the PDE on the example grid (an extrapolation).

    Error budget ε split evenly: Monte-Carlo e(m) = e(m_max)·√(m_max/m) (e = seed-mean of
    max over t, i at the largest width, where the step bias is negligible) and step bias
    C η (C from the step study); time = m n (t_end/η) / (measured evaluations per second).
    """
    ladder = cost_sum["pde_ladder"]
    eps, t_pde = ladder[-1]["error"], ladder[-1]["s"]
    err = np.abs(width_res.errors[FIT_METRIC][-1]).max(axis=-1).mean()
    m_max = float(width_res.widths[-1])
    m = m_max * (2 * err / eps) ** 2
    eta = eps / (2 * step_sum["weak_constant"])
    t = m * cost_sum["n"] * cost_sum["t_end"] / eta / cost_sum["particle_evals_per_s"]
    return {"target_error": eps, "pde_s": t_pde, "pde_cells_per_axis": ladder[-1]["cells_per_axis"],
            "particles_m": m, "particles_step": eta, "particles_s": t, "ratio": t / t_pde}


# ---------------------------------------------------------------------------- driver
def run(quick: bool = False) -> str:
    mode = "quick" if quick else "full"
    RESULTS.mkdir(exist_ok=True)
    t_all = time.perf_counter()
    thr_rows, thr = throughput(mode)
    out = {"throughput": thr}
    width_rows, step_rows, cost_rows, tables = [], [], [], []
    for name in EXAMPLES:
        cfg = _config(name, quick)
        ref = pde_reference(cfg, RESULTS, progress=False)
        rows, summ, res = width(name, mode, ref)
        width_rows += rows
        tables.append(f"#### {name}\n\n```\n{summary_table(res)}\n```")
        srows, ssum = step(name, mode, ref)
        step_rows += srows
        crows, csum = cost(name, mode, ref)
        cost_rows += crows
        csum["extrapolated_to_example_grid_accuracy"] = extrapolated_cost(res, ssum, csum)
        out[name] = {"width": summ, "step": ssum, "cost": csum}
    out["wall_time_s"] = time.perf_counter() - t_all
    rows = ([dict(r, section="throughput") for r in thr_rows]
            + [dict(r, section="width") for r in width_rows]
            + [dict(r, section="step") for r in step_rows]
            + [dict(r, section="cost") for r in cost_rows])
    path = write_result("particles", rows, out, quick)
    text = ["### Particle simulator throughput (one core)\n",
            markdown_table(thr_rows, ["d", "n", "m", "M evals/s", "M evals/s (CPU time)",
                                      "ns/neuron-step", "load average"]),
            f"\nend-to-end `simulate` (transient-1d): {thr['M_evals_per_s_end_to_end_transient_1d']:.0f}"
            f" M evals/s; NumPy twin: {thr['M_evals_per_s_numpy_twin']:.0f} M evals/s\n",
            "### Width: PDE vs particles\n",
            markdown_table(width_rows, ["example", "m", "seeds", "max|Δf| at t_end",
                                        "sd over seeds", "W1(u) at t_end",
                                        "max_t |z| loss (SE units)", "max_t |mean ΔL|/sd",
                                        "s/run"])]
    for name in EXAMPLES:
        w = out[name]["width"]
        text.append(f"\n{name}: slope {w['slope']:.3f} at t = {w['fit_time']:g} (range over "
                    f"saved times {w['slope_range_over_times'][0]:.2f} … "
                    f"{w['slope_range_over_times'][1]:.2f}); loss |z| ≤ "
                    f"{w['loss_z_max_at_largest_width']:.2f} at m = {w['widths'][-1]}; PDE "
                    f"error estimate {w['pde_error_estimate_prediction']:.2g}")
    text += ["\n### Step size at fixed m\n",
             markdown_table(step_rows, ["example", "η", *[k for k in step_rows[0]
                                                          if k.startswith("max|f^η")],
                                        "bias max|E f^η − f_PDE|", "its SE", "bias / SE"])]
    for name in EXAMPLES:
        s = out[name]["step"]
        text.append(f"\n{name}: strong rates {np.round(s['strong_rates_consecutive'], 2)}; "
                    f"weak rate {s['weak_rate_fit']:.2f} ({s['weak_points_used']} points "
                    f"> 3 SE); seed-mean difference rates "
                    f"{np.round(s['seed_mean_difference_rates'], 2)}")
    text += ["\n### Time to the same accuracy in f(x_i)\n",
             markdown_table(cost_rows, ["example", "method", "error max_t,i |Δf|", "s",
                                        "PDE s at same error", "particles / PDE time"]),
             *[f"\n{name}: to the PDE's accuracy on its example grid "
               f"({x['target_error']:.2g} in {x['pde_s']:.2g} s, {x['pde_cells_per_axis']} cells "
               f"per axis) the particles would need m ≈ {x['particles_m']:.2g}, η ≈ "
               f"{x['particles_step']:.2g}: ≈ {x['particles_s']:.3g} s, {x['ratio']:.0f}× "
               "(extrapolated)"
               for name in EXAMPLES
               for x in [out[name]["cost"]["extrapolated_to_example_grid_accuracy"]]],
             *[f"\n{t}" for t in tables],
             f"\n→ {path.relative_to(path.parents[2])} ({out['wall_time_s']:.0f} s)\n"]
    return "\n".join(text)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv[1:]))
