r"""``fokkerplanck validate``: PDE against finite networks of growing width, with a fitted rate.

The PDE is solved once; the particle simulator runs at every width m and for R seeds
(``[particles] seed``, seed + 1, …), and at every saved time the metrics of
:mod:`fokkerplanck.compare` are recorded (max_i |f_PDE(x_i) − f_m(x_i)|, the loss
difference, the W1 distances of the marginals).  For each metric and time the slope of
log₁₀(mean over seeds of |error|) against log₁₀ m is fitted by least squares; the mean-field
CLT predicts −1/2 (:mod:`solvers.particles`).  The headline number is the slope of
max_i |f_PDE − f_m| at the final time.

PDE reference.  When the configuration's grid has an even number (≥ 16) of cells per axis
and the method's order is known (finite volume: 2), the PDE is also solved on the grid with
half the cells per axis, and the reference for f(x_i) and the loss is the Richardson
extrapolation :math:`q_h + (q_h - q_{2h})/3` of the second-order results;
:math:`|q_h - q_{2h}|/3` is stored as the estimated error of the fine grid (it should be far
below the particle errors).  The marginals (W1)
are those of the fine grid.

The loss check reports, per width and time, the z-score of the seed-mean particle loss:
:math:`z = (\bar L_m - L_{PDE}) / (s_m/\sqrt R)`, with :math:`s_m` the standard deviation of
the R losses ("within 3 Monte-Carlo standard deviations" means |z| ≤ 3).

Output (HDF5, plus a PNG with the same stem)::

    /time (T,)  /widths (W,)  /seeds (R,)
    /pde/prediction (T, n)  /pde/loss (T,)        the reference (extrapolated if possible)
    /pde/error_estimate_prediction (T,)  /pde/error_estimate_loss (T,)   fine-grid error
    /particles/loss (W, R, T)  /particles/prediction (W, R, T, n)
    /error/<metric> (W, R, T)        max_abs_prediction, loss_diff, w1_<axis>
    (problems that record a population risk instead of the loss: "risk" for "loss" in the
    names above; the root attribute ``headline`` says which)
    /fit/<metric>/{slope, slope_stderr, intercept} (T,)
    /loss_z (W, T)  /wall_time (W, R)
    attributes of /: config, version, created, problem, method = "validate", fit_metric,
                     fit_time, slope, slope_stderr, pde_wall_time, richardson, headline
"""
from __future__ import annotations

import datetime as _dt
import math
import sys
import tempfile
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from . import __version__
from .compare import COMPARATORS, Comparator, _BASIC, headline
from .config import Config, load_config
from .errors import UserInputError
from .io import check_writable

__all__ = ["ValidationResult", "PDEReference", "validate", "pde_reference", "read_validation",
           "fit_slope",
           "parse_widths", "cli_validate", "plot_validation", "summary_table", "FIT_METRIC"]

#: the metric whose slope is the headline number
FIT_METRIC = "max_abs_prediction"

#: [solver] method -> order p of its spatial error, for the Richardson-extrapolated reference
RICHARDSON_ORDER = {"finite-volume": 2}



def _is_error(name: str) -> bool:
    """Comparator columns ``<x>_pde``/``<x>_particles`` are values (kept under /pde,
    /particles), not errors."""
    return not name.endswith(("_pde", "_particles"))


def parse_widths(text: str) -> list[int]:
    """``"100,1000,1e4"`` -> [100, 1000, 10000] (positive integers, at least two distinct)."""
    try:
        widths = [float(w) for w in str(text).split(",") if w.strip()]
    except ValueError:
        raise UserInputError(f"--widths must be comma-separated integers (got {text!r})") from None
    if not widths or any(not (w >= 1 and float(w).is_integer()) for w in widths):
        raise UserInputError(f"--widths must be comma-separated integers >= 1 (got {text!r})")
    widths = sorted({int(w) for w in widths})
    if len(widths) < 2:
        raise UserInputError("--widths needs at least two different widths to fit a slope")
    return widths


def fit_slope(widths: np.ndarray, errors: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line log₁₀ e = a + s log₁₀ m; returns (s, standard error of s, a).

    The standard error is from the residuals (W − 2 degrees of freedom; NaN for W = 2).
    Non-positive or non-finite errors give NaN.
    """
    m = np.log10(np.asarray(widths, float))
    e = np.asarray(errors, float)
    if not (np.all(np.isfinite(e)) and np.all(e > 0)):
        return math.nan, math.nan, math.nan
    e = np.log10(e)
    A = np.column_stack([np.ones_like(m), m])
    coef, *_ = np.linalg.lstsq(A, e, rcond=None)
    dof = m.size - 2
    if dof > 0:
        resid = e - A @ coef
        s2 = float(resid @ resid) / dof
        stderr = math.sqrt(s2 / float(np.sum((m - m.mean()) ** 2)))
    else:
        stderr = math.nan
    return float(coef[1]), stderr, float(coef[0])


@dataclass
class ValidationResult:
    """Errors of the particle runs against the PDE (see the module docstring for shapes)."""

    config: Config
    time: np.ndarray
    widths: np.ndarray
    seeds: np.ndarray
    pde_prediction: np.ndarray
    pde_loss: np.ndarray
    particle_loss: np.ndarray
    particle_prediction: np.ndarray
    errors: dict[str, np.ndarray]
    fits: dict[str, dict[str, np.ndarray]]
    loss_z: np.ndarray
    wall_time: np.ndarray
    pde_wall_time: float
    pde_error_prediction: np.ndarray | None = None
    pde_error_loss: np.ndarray | None = None
    richardson: bool = False
    headline: str = "loss"                      # what pde_loss/particle_loss hold (or "risk")
    path: Path | None = None
    plot: Path | None = None
    stats: dict = field(default_factory=dict)

    @property
    def fit_metric(self) -> str | None:
        """:data:`FIT_METRIC` if recorded, else the first error metric."""
        if FIT_METRIC in self.fits:
            return FIT_METRIC
        return next(iter(self.fits), None)

    @property
    def slope(self) -> tuple[float, float]:
        """(slope, standard error) of the headline error (max_i |f_PDE − f_m|) against m at
        the final time."""
        if self.fit_metric is None:
            return math.nan, math.nan
        fit = self.fits[self.fit_metric]
        return float(fit["slope"][-1]), float(fit["slope_stderr"][-1])


def _solve_rows(config: Config, directory: Path, progress):
    """Solve the PDE into a temporary directory and read back what the comparator needs."""
    from .compare import open_output
    from .run import solve

    with tempfile.TemporaryDirectory(prefix=".validate-", dir=directory) as tmp:
        path = Path(tmp) / "pde.h5"               # (solve may add a .xdmf sidecar)
        wall0 = _time.perf_counter()
        solve(config, path, progress=progress)
        wall = _time.perf_counter() - wall0
        with open_output(path) as f:
            comp = COMPARATORS.get(str(f.attrs["problem"]), _BASIC)
            times = f["time"][()]
            rows = [comp.pde_row(f, k) for k in range(times.size)]
    return rows, times, wall, comp


def _coarse_config(config: Config) -> Config | None:
    """The configuration on a grid with half the cells per axis, if that grid is sensible."""
    try:
        cells = config.grid.cells
    except AttributeError:
        return None
    cells = [cells] if isinstance(cells, int) else list(cells)
    if any(c % 2 or c < 16 for c in cells):
        return None
    halved = [c // 2 for c in cells]
    return config.replace([f"grid.cells={halved if len(halved) > 1 or not isinstance(config.grid.cells, int) else halved[0]}"])


@dataclass
class PDEReference:
    """The PDE side of a validation: rows per saved time and error estimates."""

    rows: list[dict]
    time: np.ndarray
    wall_time: float
    comparator: Comparator
    error_prediction: np.ndarray | None = None
    error_loss: np.ndarray | None = None
    richardson: bool = False


def pde_reference(config: Config, directory: Path | None = None, progress=False,
                  richardson: bool = True) -> PDEReference:
    """Solve the PDE (and, with ``richardson``, on the half grid) and build the reference rows.

    With two grids and a method of known order p (:data:`RICHARDSON_ORDER`; p = 2 for the
    finite-volume scheme), ``prediction`` and ``diagnostics/loss`` of every row are replaced
    by the Richardson extrapolation q_h + (q_h − q_2h)/(2^p − 1), and |q_h − q_2h|/(2^p − 1)
    (the estimated error of the fine grid) is returned in ``error_prediction`` (max over i)
    and ``error_loss``.  Other methods are not extrapolated; the reference is then the fine
    grid.
    """
    directory = Path(tempfile.gettempdir()) if directory is None else directory
    rows, times, wall, comp = _solve_rows(config, directory, progress)
    ref = PDEReference(rows, times, wall, comp)
    method = getattr(getattr(config, "solver", None), "method", None)
    order = RICHARDSON_ORDER.get(method)
    coarse = _coarse_config(config) if richardson and order else None
    if coarse is None:
        return ref
    rows_c, times_c, wall_c, _ = _solve_rows(coarse, directory, progress)
    if times_c.shape != times.shape or not np.allclose(times_c, times):
        return ref
    ref.wall_time += wall_c
    ref.error_prediction = np.full(times.size, np.nan)
    ref.error_loss = np.full(times.size, np.nan)
    for k, (fine, crude) in enumerate(zip(rows, rows_c)):
        if "prediction" in fine:
            delta = ((np.asarray(fine["prediction"]) - np.asarray(crude["prediction"]))
                     / (2.0 ** order - 1.0))
            ref.error_prediction[k] = float(np.max(np.abs(delta)))
            fine["prediction"] = np.asarray(fine["prediction"]) + delta
        head = headline(n[12:] for n in fine if n.startswith("diagnostics/"))
        if head is not None and f"diagnostics/{head}" in crude:
            key = f"diagnostics/{head}"
            delta = (float(fine[key]) - float(crude[key])) / (2.0 ** order - 1.0)
            ref.error_loss[k] = abs(delta)
            fine[key] = float(fine[key]) + delta
    ref.richardson = True
    return ref


def validate(config: Config | str | Path | None, widths: Sequence[int], repeats: int = 1,
             output: str | Path | None = "config", progress: bool | None = False,
             plot: bool = True, richardson: bool = True,
             reference: PDEReference | None = None) -> ValidationResult:
    """Run the PDE once and the particles at every width and seed; fit error against width.

    Parameters
    ----------
    config : Config, path or None
    widths : sequence of int
        Network widths m (at least two distinct).
    repeats : int
        Seeds per width: ``[particles] seed`` + 0, …, repeats − 1.
    output : path, None or "config"
        HDF5 file of the results (``"config"``: ``<[output] path stem>-validate.h5``); the
        figure is written next to it with the suffix ``.png``.  None writes nothing.
    progress : bool or None
        Progress bars.
    plot : bool
        Also write the PNG figure.
    richardson : bool
        Extrapolate the PDE reference from the config grid and the half grid (see the
        module docstring); otherwise the config grid's solution is the reference.
    reference : PDEReference, optional
        A precomputed PDE side (e.g. on a finer grid) instead of solving ``config``'s.
    """
    from .simulation import simulate
    from tqdm.auto import tqdm

    if not isinstance(config, Config):
        config = load_config(config)
    widths = np.array(sorted({int(w) for w in widths}), dtype=np.int64)
    if widths.size < 2 or widths.min() < 1:
        raise UserInputError("validate needs at least two distinct widths >= 1")
    if repeats < 1:
        raise UserInputError(f"--repeats must be >= 1 (got {repeats})")
    if isinstance(output, str) and output == "config":
        out = Path(config.output.path)
        output = out.with_name(f"{out.stem}-validate.h5")
    output = None if output is None else Path(output)
    if output is not None:
        check_writable(output)
    workdir = output.parent if output is not None else Path(tempfile.gettempdir())
    # check the particle settings before the (possibly long) PDE solve
    from .simulation import step_counts
    from .run import save_times
    times_cfg = save_times(config.time.t_end, config.time.save_every)
    step_counts(times_cfg, config.particles.step)

    if reference is None:
        reference = pde_reference(config, workdir, progress, richardson)
    pde_rows, times, comp = reference.rows, reference.time, reference.comparator
    head = headline(n[12:] for n in pde_rows[0] if n.startswith("diagnostics/")) or "loss"
    T = times.size
    seed0 = config.particles.seed
    seeds = np.arange(seed0, seed0 + repeats, dtype=np.int64)
    W, R = widths.size, repeats
    n = np.asarray(pde_rows[0]["prediction"]).size
    errors: dict[str, np.ndarray] = {}
    p_loss = np.full((W, R, T), np.nan)
    p_pred = np.full((W, R, T, n), np.nan)
    wall = np.zeros((W, R))

    bar = tqdm(total=float(widths.sum() * R), disable=None if progress is None
               else not progress, desc="validate", leave=False,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]")
    try:
        for a, m in enumerate(widths):
            for b, seed in enumerate(seeds):
                bar.set_postfix_str(f"m={m} seed={seed}")
                cfg = config.replace([f"particles.count={int(m)}", f"particles.seed={int(seed)}",
                                      "particles.save_particles=false"])
                sim_times: list[float] = []

                def on_save(t, snap, a=a, b=b, sim_times=sim_times):
                    k = int(np.argmin(np.abs(times - t)))
                    if abs(times[k] - t) > 1e-9 * max(1.0, abs(t)):
                        return
                    sim_times.append(t)
                    for name, value in comp.metrics(pde_rows[k], snap).items():
                        if not _is_error(name):
                            continue
                        errors.setdefault(name, np.full((W, R, T), np.nan))[a, b, k] = value
                    if f"diagnostics/{head}" in snap:
                        p_loss[a, b, k] = float(snap[f"diagnostics/{head}"])
                    if "prediction" in snap:
                        p_pred[a, b, k] = snap["prediction"]

                res = simulate(cfg, output=None, progress=False, on_save=on_save)
                wall[a, b] = res.stats.get("wall_time", math.nan)
                bar.update(float(m))
    finally:
        bar.close()
    fits = {}
    for name, err in errors.items():
        mean_abs = np.nanmean(np.abs(err), axis=1)             # (W, T)
        fit = {"slope": np.full(T, np.nan), "slope_stderr": np.full(T, np.nan),
               "intercept": np.full(T, np.nan)}
        for k in range(T):
            s, se, icpt = fit_slope(widths, mean_abs[:, k])
            fit["slope"][k], fit["slope_stderr"][k], fit["intercept"][k] = s, se, icpt
        fits[name] = fit
    pde_loss = np.array([float(r.get(f"diagnostics/{head}", np.nan)) for r in pde_rows])
    pde_pred = np.array([np.asarray(r["prediction"]) for r in pde_rows])
    if R >= 2:
        sd = np.std(p_loss, axis=1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            loss_z = (np.mean(p_loss, axis=1) - pde_loss) / (sd / math.sqrt(R))
    else:
        loss_z = np.full((W, T), np.nan)
    result = ValidationResult(config, times, widths, seeds, pde_pred, pde_loss, p_loss,
                              p_pred, errors, fits, loss_z, wall, reference.wall_time,
                              reference.error_prediction, reference.error_loss,
                              reference.richardson, head)
    if output is not None:
        _write(result, output)
        result.path = output
        if plot:
            result.plot = plot_validation(result, output.with_suffix(".png"))
    return result


def read_validation(path: str | Path) -> ValidationResult:
    """A validation file back as a :class:`ValidationResult` (e.g. to redraw the figure)."""
    from .compare import open_output

    with open_output(path) as f:
        head = str(f.attrs.get("headline", "loss"))
        errors = {name: f[f"error/{name}"][()] for name in f["error"]}
        fits = {name: {k: f[f"fit/{name}/{k}"][()] for k in f[f"fit/{name}"]}
                for name in f["fit"]}
        est = "pde/error_estimate_prediction" in f
        return ValidationResult(
            load_config(text=str(f.attrs["config"])), f["time"][()], f["widths"][()],
            f["seeds"][()], f["pde/prediction"][()], f[f"pde/{head}"][()],
            f[f"particles/{head}"][()], f["particles/prediction"][()], errors, fits,
            f[f"{head}_z"][()], f["wall_time"][()], float(f.attrs["pde_wall_time"]),
            f["pde/error_estimate_prediction"][()] if est else None,
            f["pde/error_estimate_loss"][()] if est else None,
            bool(f.attrs.get("richardson", False)), head, path=Path(path))


def _write(result: ValidationResult, path: Path) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["config"] = result.config.to_toml()
        f.attrs["version"] = __version__
        f.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        f.attrs["problem"] = result.config.model.kind
        f.attrs["method"] = "validate"
        f.attrs["fit_metric"] = result.fit_metric or ""
        f.attrs["headline"] = result.headline
        f.attrs["fit_time"] = float(result.time[-1])
        slope, stderr = result.slope
        f.attrs["slope"] = slope
        f.attrs["slope_stderr"] = stderr
        f.attrs["pde_wall_time"] = result.pde_wall_time
        f.attrs["richardson"] = bool(result.richardson)
        f["time"] = result.time
        f["widths"] = result.widths
        f["seeds"] = result.seeds
        f["pde/prediction"] = result.pde_prediction
        f[f"pde/{result.headline}"] = result.pde_loss
        if result.pde_error_prediction is not None:
            f["pde/error_estimate_prediction"] = result.pde_error_prediction
            f["pde/error_estimate_loss"] = result.pde_error_loss
        f[f"particles/{result.headline}"] = result.particle_loss
        f["particles/prediction"] = result.particle_prediction
        for name, err in result.errors.items():
            f[f"error/{name}"] = err
        for name, fit in result.fits.items():
            for key, value in fit.items():
                f[f"fit/{name}/{key}"] = value
        f[f"{result.headline}_z"] = result.loss_z
        f["wall_time"] = result.wall_time


def _axis_label(name: str) -> str:
    return {"theta1": r"$\theta_1$", "theta2": r"$\theta_2$", "u": "$u$"}.get(name, name)


def plot_validation(result: ValidationResult, path: str | Path) -> Path:
    """PNG: (a) errors at the final time against m (log–log, fitted slopes); (b) the loss
    curves; (c) the seed-mean loss deviation at the largest width with ±3 SE and ±3 SD."""
    from matplotlib.figure import Figure

    path = Path(path)
    fig = Figure(figsize=(14, 4.2), layout="constrained")
    ax, ax2, ax3 = fig.subplots(1, 3)
    m = result.widths.astype(float)
    k = result.time.size - 1
    R = len(result.seeds)
    names = [FIT_METRIC] + sorted(n for n in result.errors if n.startswith("w1_"))
    labels = {FIT_METRIC: r"$\max_i|f_{PDE}(x_i)-f_m(x_i)|$"}
    for c, name in enumerate(n for n in names if n in result.errors):
        err = np.abs(result.errors[name][:, :, k])                     # (W, R)
        if not np.isfinite(err).any():
            continue
        color = f"C{c}"
        for b in range(err.shape[1]):
            ax.plot(m, err[:, b], ".", color=color, alpha=0.35, ms=4)
        mean = np.nanmean(err, axis=1)
        fit = result.fits[name]
        s, se, a = fit["slope"][k], fit["slope_stderr"][k], fit["intercept"][k]
        label = labels.get(name, "W1 of the " + _axis_label(name[3:]) + " marginal")
        ax.plot(m, mean, "o", color=color, label=f"{label}: slope {s:.3f} ± {se:.3f}")
        if np.isfinite(s):
            ax.plot(m, 10 ** a * m ** s, "-", color=color, lw=1)
    if FIT_METRIC in result.errors and np.isfinite(result.errors[FIT_METRIC]).any():
        ref = np.nanmean(np.abs(result.errors[FIT_METRIC][-1, :, k]))
        ax.plot(m, ref * (m / m[-1]) ** -0.5, "k--", lw=0.8, label=r"$\propto m^{-1/2}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width m")
    ax.set_ylabel(f"error at t = {result.time[k]:g}")
    ax.legend(fontsize=7)
    ax.set_title(f"(a) PDE vs width-m networks, {R} seed(s) per width", fontsize=10)
    ax2.plot(result.time, result.pde_loss, "k-", lw=1.5, label="PDE")
    for a in range(m.size):
        ax2.plot(result.time, np.nanmean(result.particle_loss[a], axis=0), "--", lw=1,
                 label=f"m = {int(m[a])}")
    ax2.set_yscale("log")
    ax2.set_xlabel("t")
    ax2.set_ylabel(result.headline)
    ax2.legend(fontsize=7)
    ax2.set_title(f"(b) {result.headline}: PDE and seed-mean of the particles", fontsize=10)
    L = result.particle_loss[-1]                                         # (R, T)
    dev = L - result.pde_loss
    ax3.axhline(0.0, color="k", lw=1)
    for b in range(L.shape[0]):
        ax3.plot(result.time, dev[b], "-", color="0.7", lw=0.6)
    mean = np.nanmean(dev, axis=0)
    ax3.plot(result.time, mean, "o-", color="C3", ms=3, label="seed mean")
    if R >= 2:
        sd = np.nanstd(L, axis=0, ddof=1)
        ax3.fill_between(result.time, -3 * sd, 3 * sd, color="C0", alpha=0.12,
                         label="±3 sd (one run)")
        ax3.fill_between(result.time, -3 * sd / np.sqrt(R), 3 * sd / np.sqrt(R), color="C0",
                         alpha=0.3, label=f"±3 sd/√{R} (mean of {R})")
    if result.pde_error_loss is not None:
        ax3.plot(result.time, result.pde_error_loss, ":", color="k", lw=1,
                 label="error of the PDE on the config grid\n(the reference is extrapolated)")
    ax3.set_xlabel("t")
    ax3.set_ylabel(r"$L_m - L_{PDE}$" if result.headline == "loss"
                   else f"{result.headline}: particles − PDE")
    ax3.legend(fontsize=7)
    ax3.set_title(f"(c) {result.headline} deviation at m = {int(m[-1])}", fontsize=10)
    fig.savefig(path, dpi=120)
    return path


def summary_table(result: ValidationResult) -> str:
    """Per width: errors at the final time (mean ± sd over seeds), worst |z| of the loss."""
    k = result.time.size - 1
    names = [n for n in [FIT_METRIC, f"{result.headline}_diff"] + sorted(result.errors)
             if n in result.errors]
    names = list(dict.fromkeys(names))
    head = ["m"] + [f"{n}" for n in names] + [f"max|z| {result.headline}", "s/run"]
    rows = []
    for a, m in enumerate(result.widths):
        row = [str(int(m))]
        for name in names:
            e = np.abs(result.errors[name][a, :, k])
            sd = np.std(e, ddof=1) if e.size > 1 else math.nan
            row.append(f"{np.mean(e):.3g}" + (f" ± {sd:.2g}" if np.isfinite(sd) else ""))
        z = result.loss_z[a]
        row.append(f"{np.nanmax(np.abs(z)):.2f}" if np.isfinite(z).any() else "n/a")
        row.append(f"{np.mean(result.wall_time[a]):.2f}")
        rows.append(row)
    widths = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def cli_validate(args) -> int:
    """``fokkerplanck validate [CONFIG] --widths 100,1000,… [--repeats R] [-o OUT.h5]``."""
    config = load_config(args.config, args.overrides)
    widths = parse_widths(args.widths)
    if args.repeats < 1:
        raise UserInputError(f"--repeats must be >= 1 (got {args.repeats})")
    output = Path(args.output) if args.output else "config"
    try:
        result = validate(config, widths, args.repeats, output,
                          progress=False if args.quiet else None)
    except KeyboardInterrupt:
        print("fokkerplanck: validate interrupted (nothing written)", file=sys.stderr)
        return 130
    if not args.quiet:
        s, se = result.slope
        print(f"errors at t = {result.time[-1]:g} (mean ± sd over {len(result.seeds)} "
              f"seed(s)); PDE solved in {result.pde_wall_time:.2f} s")
        if result.richardson:
            print("PDE reference: Richardson extrapolation from the config grid and the half "
                  "grid; estimated error of the config grid: max_i |f| "
                  f"{np.nanmax(result.pde_error_prediction):.2g}, loss "
                  f"{np.nanmax(result.pde_error_loss):.2g} (max over t)")
        print(summary_table(result))
        print(f"slope of max_i |f_PDE - f_m| against m at t = {result.time[-1]:g}: "
              f"{s:.3f} ± {se:.3f} (theory -0.5)")
        print(f"wrote {result.path} and {result.plot}")
    return 0
