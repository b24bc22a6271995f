"""Spectral (Hermite–Galerkin, ETDRK4) against finite volume for PDE (3.4) (issue 5).

Measured in one run, on one core (BLAS pinned to one thread when ``threadpoolctl`` is there):

1. **Convergence in the modes** (plot ``results/spectral_convergence.png``, semi-log):
   the OU case α = 0 against its exact Gaussian solution (max error of the cell averages on
   a 40^{d+1} grid of [−6, 6]^{d+1}), and (3.4) with tanh against a much finer spectral run
   (max error of f(p_t, x_i) over the saved times).
2. **FV and spectral agree**: f from Richardson-extrapolated FV runs (three grids, fit
   f₀ + a h² + b h⁴, SSPRK3) against the spectral solution, at every saved time.
3. **Gibbs state**: f after a long run against the self-consistent Gibbs fixed point
   (``tests/reference.py``: independent quadrature + root solve).
4. **Time to 1e-6 in f** (all saved times t = 0.5, 1, 2): the cheapest member of a ladder of
   resolutions that reaches it, for the spectral solver, plain FV (SSPRK2, the default) and
   FV + Richardson (the sum of its three runs), timed side by side; the error is measured
   against the finest spectral run.  Where plain FV cannot reach 1e-6 affordably (d = 2) its
   time is extrapolated from the measured error ∝ h² and cost ∝ N^{d+3}, and marked so.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from fokkerplanck.data import Data
from fokkerplanck.grids import BoxGrid
from fokkerplanck.models import NoisyGDModel
from solvers.finite_volume import FiniteVolumeScheme
from solvers.spectral import SpectralScheme

from . import common
from .common import markdown_table, median_time, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference import gibbs_prediction, ou_cell_averages, ou_gaussian  # noqa: E402

DATA = {  # the math-spec §2.4 set (d = 1) and the reference module's tiny set (d = 2)
    1: (np.array([[-0.8], [-0.2], [0.5], [0.9]]), np.array([0.3, -0.5, 0.6, 0.1])),
    2: (np.array([[0.6, -0.3], [-0.5, 0.7], [0.2, 0.9], [-0.8, -0.4]]),
        np.array([0.4, -0.3, 0.5, -0.2])),
}
MEAN = {1: [0.3, 0.2], 2: [0.3, -0.2, 0.2]}
STD = {1: [0.9, 1.1], 2: [0.9, 1.1, 1.0]}
TIMES = [0.5, 1.0, 2.0]
TARGET = 1e-6


def _model(d, activation="tanh", alpha=2.0, lam=0.5):
    x, y = DATA[d]
    return NoisyGDModel(Data(x, y), activation, alpha, lam)


def spectral_f(d, modes, rtol, times=TIMES, mean=None, std=None, quadrature=None):
    s = SpectralScheme(_model(d), modes, rtol=rtol, quadrature=quadrature)
    state = s.initial_state(MEAN[d] if mean is None else mean, STD[d] if std is None else std)
    out = []
    for t in times:
        if s.advance(state, t) != 0:
            raise RuntimeError("spectral run failed")
        out.append(s.prediction(state.coefficients))
    return np.array(out)


def fv_f(d, n, stepper, times=TIMES):
    grid = BoxGrid.for_state(d, [n] * (d + 1), 6.0)
    s = FiniteVolumeScheme(_model(d), grid, stepper)
    state = s.initial_state(MEAN[d], STD[d])
    out = []
    for t in times:
        if s.advance(state, t) != 0:
            raise RuntimeError("FV run failed")
        out.append(s.model.prediction(state.density, grid))
    return np.array(out)


def richardson(d, sizes, stepper="ssprk3"):
    rows = [fv_f(d, n, stepper).ravel() for n in sizes]
    h = 12.0 / np.array(sizes, float)
    fit = np.linalg.solve(np.vstack([np.ones(3), h ** 2, h ** 4]).T, np.array(rows))
    return fit[0].reshape(len(TIMES), -1), rows[-1].reshape(len(TIMES), -1)


def _timed(func, repeats):
    t0 = time.perf_counter()
    out = func()
    first = time.perf_counter() - t0
    if repeats <= 1 or first > 5.0:
        return out, first
    return out, median_time(func, repeats, warmup=0)


# ---------------------------------------------------------------------- 1. convergence
def ou_convergence(d, sizes):
    mean, std = [0.8, -0.5, 0.4][:d + 1], [0.85, 1.15, 0.9][:d + 1]
    lam, t = 0.5, 0.5
    m_t, s_t = ou_gaussian(mean, std, lam, t)
    grid = BoxGrid.for_state(d, [40] * (d + 1), 6.0)
    exact = ou_cell_averages(grid.edges, m_t, s_t)
    errors = []
    for n in sizes:
        s = SpectralScheme(_model(d, alpha=0.0, lam=lam), n)
        state = s.initial_state(mean, std)
        s.advance(state, t)
        errors.append(float(np.abs(s.cell_averages(state.coefficients, grid) - exact).max()))
    return errors


def tanh_convergence(d, sizes, u_modes, ref_modes, rtol):
    ref = spectral_f(d, ref_modes, rtol, quadrature=[2 * n for n in ref_modes[:-1]])
    errors = [float(np.abs(spectral_f(d, [n] * d + [u_modes(n)], rtol) - ref).max())
              for n in sizes]
    return errors, ref


def plot(conv, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for d, marker in ((1, "o"), (2, "s")):
        sizes, errs = conv[f"ou_d{d}"]
        axes[0].semilogy(sizes, np.maximum(errs, 1e-17), marker=marker, label=f"d = {d}")
        sizes, errs = conv[f"tanh_d{d}"]
        axes[1].semilogy(sizes, errs, marker=marker, label=f"d = {d}: f(p_t, x_i), t ≤ 2")
        if f"gibbs_d{d}" in conv:
            sizes, errs = conv[f"gibbs_d{d}"]
            axes[1].semilogy(sizes, errs, marker=marker, ls=":", alpha=0.8,
                             label=f"d = {d}: Gibbs limit of f")
    axes[0].axhline(1e-9, color="gray", lw=0.8)
    axes[0].set(title="α = 0 (OU): max error of cell averages vs exact",
                xlabel="Hermite modes per axis", ylabel="error")
    axes[1].axhline(1e-8, color="gray", lw=0.8)
    axes[1].set(title="(3.4), tanh: error in f (vs finer run / vs Gibbs)",
                xlabel="Hermite modes per θ axis", ylabel="max |Δf|")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def basis_choice(sizes=(24, 32, 48, 64)):
    """Why p_0-weighted Hermite polynomials: error in f of *projecting* the d = 1 Gibbs state.

    The θ-function that f sees is the u-moment m_1(θ) = ∫u p_* du = −b(θ) p_*(θ); its
    projection onto N θ-modes is taken in L²(1/p_0) (this solver: q = p/p_0 in He_k),
    and in L²(dθ) onto Hermite functions ψ_k(θ/s) (s = 1 and the best scale found, 0.75);
    f is then integrated exactly (trapezoid on [−16, 16], 6001 points).
    """
    x, y = DATA[1]
    alpha, lam = 2.0, 0.5
    fstar = gibbs_prediction(x, y, alpha, lam, "tanh")
    c = 2 * alpha / (lam * len(y))
    th = np.linspace(-16, 16, 6001)
    dth = th[1] - th[0]
    h = np.tanh(np.outer(th, x[:, 0]))
    b = c * h @ (fstar - y)
    p = np.exp(-th ** 2 / 2 + b ** 2 / 2)
    p /= p.sum() * dth
    m1 = -b * p
    p0 = np.exp(-th ** 2 / 2) / np.sqrt(2 * np.pi)

    def hermite_functions(t, k):   # orthonormal in L²(dt)
        out = np.zeros((k, t.size))
        out[0] = np.pi ** -0.25 * np.exp(-t ** 2 / 2)
        out[1] = np.sqrt(2) * t * out[0]
        for j in range(1, k - 1):
            out[j + 1] = np.sqrt(2 / (j + 1)) * t * out[j] - np.sqrt(j / (j + 1)) * out[j - 1]
        return out

    def f_of(m):
        return alpha * (h.T @ m) * dth

    rows = {}
    for n in sizes:
        # L²(1/p_0) projection of m1 = p_0 q onto p_0 He_k  ⇔  √p_0-weighted Hermite functions
        g = hermite_functions(th / np.sqrt(2), n) / 2 ** 0.25
        weighted = (g @ (m1 / np.sqrt(p0)) * dth) @ g * np.sqrt(p0)
        row = {"p0-weighted He (this solver)": float(np.abs(f_of(weighted) - fstar).max())}
        for scale in (1.0, 0.75):
            g = hermite_functions(th / scale, n) / np.sqrt(scale)
            row[f"Hermite functions, scale {scale}"] = float(
                np.abs(f_of((g @ m1 * dth) @ g) - fstar).max())
        rows[str(n)] = row
    return rows


def quadrature_study(ref, sizes=(32, 48), factors=(1.0, 1.5, 3.0)):
    """Error in f (t ≤ 2, d = 1) against the θ-quadrature nodes per mode (aliasing)."""
    return {str(n): {str(fac): float(np.abs(spectral_f(1, [n, n // 2], 1e-12,
                                                       quadrature=int(np.ceil(fac * n)))
                                            - ref).max()) for fac in factors} for n in sizes}


# ---------------------------------------------------------------------- 4. timing
def time_to_target(d, ref, spectral_ladder, fv_ladder, rich_sizes, repeats):
    """Cheapest rung of each ladder reaching TARGET, with its wall time."""
    out = {}
    for modes, rtol in spectral_ladder:
        f, wall = _timed(lambda: spectral_f(d, modes, rtol), repeats)
        err = float(np.abs(f - ref).max())
        if err <= TARGET:
            out["spectral"] = dict(setting=f"modes {modes}, rtol {rtol:g}", error=err, time=wall)
            break
    last = None
    for n in fv_ladder:
        f, wall = _timed(lambda: fv_f(d, n, "ssprk2"), repeats)
        err = float(np.abs(f - ref).max())
        last = (n, err, wall)
        if err <= TARGET:
            out["fv"] = dict(setting=f"{n}^{d + 1} cells, ssprk2", error=err, time=wall)
            break
    else:  # extrapolate: error ∝ N^-2, cost ∝ N^{d+1} cells × N² steps
        n, err, wall = last
        n_needed = n * (err / TARGET) ** 0.5
        out["fv"] = dict(setting=f"≈{n_needed:.0f}^{d + 1} cells (extrapolated from {n}: "
                         f"error {err:.2g}, {wall:.2g} s)", error=TARGET,
                         time=wall * (n_needed / n) ** (d + 3), extrapolated=True)
    t0 = time.perf_counter()
    f_rich, _ = richardson(d, rich_sizes)
    wall = time.perf_counter() - t0
    out["fv_richardson"] = dict(setting=f"{rich_sizes} cells/axis, ssprk3",
                                error=float(np.abs(f_rich - ref).max()), time=wall)
    return out


def run(quick: bool = False) -> str:
    try:
        from threadpoolctl import threadpool_limits
        limit = threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover
        limit = None
    t_start = time.perf_counter()
    repeats = 3 if quick else 5
    conv, rows, summary = {}, [], {}

    # 1. convergence
    ou_sizes = [4, 8, 12, 16, 24, 32, 40, 48]
    for d in (1, 2):
        conv[f"ou_d{d}"] = (ou_sizes, ou_convergence(d, ou_sizes))
    sizes1 = [8, 12, 16, 24, 32, 40, 48] if quick else [8, 12, 16, 24, 32, 40, 48, 56, 64]
    rtol = 1e-12
    err1, ref1 = tanh_convergence(1, sizes1, lambda n: max(8, n // 2),
                                  [96, 48] if quick else [128, 64], rtol)
    conv["tanh_d1"] = (sizes1, err1)
    sizes2 = [8, 12, 16, 20, 24, 32] if quick else [8, 12, 16, 20, 24, 32, 40]
    err2, ref2 = tanh_convergence(2, sizes2, lambda n: max(8, n // 2),
                                  [40, 40, 16] if quick else [56, 56, 24], rtol)
    conv["tanh_d2"] = (sizes2, err2)
    summary["basis_choice_f_error_of_projected_gibbs_state_d1"] = basis_choice()
    summary["quadrature_nodes_per_mode_f_error_d1"] = quadrature_study(ref1)

    # 3. Gibbs state (also plotted against the modes)
    for d, sizes, t_end in ((1, [16, 24, 32, 40, 48, 64], 30.0),
                            (2, [16, 24, 32, 40] if quick else [16, 24, 32, 40, 48], 25.0)):
        x, y = DATA[d]
        fstar = gibbs_prediction(x, y, 2.0, 0.5, "tanh", h_step=0.05)
        errs = []
        for n in sizes:
            f = spectral_f(d, [n] * d + [16 if d == 1 else 12], 1e-9, times=[t_end],
                           mean=0.0, std=1.0)
            errs.append(float(np.abs(f[-1] - fstar).max()))
        conv[f"gibbs_d{d}"] = (sizes, errs)
        summary[f"gibbs_error_d{d}"] = dict(zip(map(str, sizes), errs))

    common.RESULTS.mkdir(exist_ok=True)
    plot(conv, common.RESULTS / f"spectral_convergence{'-quick' if quick else ''}.png")
    for key, (sizes, errs) in conv.items():
        summary[f"convergence_{key}"] = dict(zip(map(str, sizes), errs))

    # 2. FV (Richardson) against spectral, every saved time
    agree = {}
    for d, sizes, ref in ((1, [64, 96, 128], ref1), (2, [24, 32, 48] if quick else [32, 48, 64],
                                                     ref2)):
        f_rich, f_fine = richardson(d, sizes)
        agree[d] = dict(sizes=sizes, richardson=float(np.abs(f_rich - ref).max()),
                        finest=float(np.abs(f_fine - ref).max()),
                        per_time=np.abs(f_rich - ref).max(axis=1).tolist())
    summary["fv_vs_spectral"] = agree

    # 4. time to 1e-6 in f
    timing = {
        1: time_to_target(1, ref1, [([12, 8], 1e-6), ([16, 8], 1e-6), ([20, 8], 1e-6),
                                    ([20, 10], 1e-7), ([24, 12], 1e-8)],
                          [128, 256] if quick else [128, 256, 384, 448, 512], [64, 96, 128],
                          repeats),
        2: time_to_target(2, ref2, [([16, 16, 8], 1e-6), ([20, 20, 8], 1e-6),
                                    ([22, 22, 8], 1e-6), ([24, 24, 8], 1e-6),
                                    ([24, 24, 8], 1e-7), ([28, 28, 10], 1e-8)],
                          [24, 32] if quick else [32, 48, 64], [24, 32, 48], repeats),
    }
    for d, res in timing.items():
        sp = res["spectral"]["time"]
        for name, r in res.items():
            rows.append(dict(d=d, solver=name, setting=r["setting"], error_f=r["error"],
                             seconds=r["time"], ratio_vs_spectral=r["time"] / sp))
    summary["timing"] = {str(d): v for d, v in timing.items()}
    write_result("spectral", rows, summary, quick)
    if limit is not None:
        limit.restore_original_limits()

    lines = ["### Spectral vs finite volume, PDE (3.4) tanh (time to 1e-6 in f, t ≤ 2)", "",
             markdown_table(rows, ["d", "solver", "setting", "error_f", "seconds",
                                   "ratio_vs_spectral"]), "",
             "FV (Richardson, 3 grids) vs spectral, max |Δf| over t = 0.5, 1, 2: "
             + ", ".join(f"d = {d}: {a['richardson']:.2g} (finest FV alone {a['finest']:.2g})"
                         for d, a in agree.items()),
             "Gibbs limit of f: " + ", ".join(
                 f"d = {d}: {conv[f'gibbs_d{d}'][1][-1]:.2g} at {conv[f'gibbs_d{d}'][0][-1]} "
                 "θ-modes" for d in (1, 2)),
             "Basis, f error of the projected d = 1 Gibbs state at 48 θ-modes: " + ", ".join(
                 f"{k}: {v:.2g}" for k, v in
                 summary["basis_choice_f_error_of_projected_gibbs_state_d1"]["48"].items()),
             "OU error at 48 modes: " + ", ".join(
                 f"d = {d}: {conv[f'ou_d{d}'][1][-1]:.2g}" for d in (1, 2)),
             f"(bench_spectral: {time.perf_counter() - t_start:.0f} s; plot "
             f"results/spectral_convergence{'-quick' if quick else ''}.png)"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
