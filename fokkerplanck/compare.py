r"""``fokkerplanck compare PDE.h5 PARTICLES.h5``: the mean-field PDE against a finite network.

At every time saved in both files the comparison reports

* the loss difference :math:`L_m(t) - L(p_t)` (or the risk difference, for problems whose
  files record ``/diagnostics/risk`` instead),
* :math:`\max_i|f(p_t, x_i) - f_m(x_i)|`,
* for each coordinate z_q ∈ (θ_1, …, θ_d, u), the Wasserstein-1 distance between the PDE's
  marginal and the particles' empirical marginal (needs ``/particles`` in the particle file,
  i.e. ``[particles] save_particles = true``).

W1 is computed exactly (no sampling, no binning of the particles): the PDE marginal is the
piecewise-constant density of the finite-volume cells, whose CDF :math:`F` is piecewise
linear; the particles' CDF :math:`F_m` is a step function.  On every interval between
consecutive breakpoints (cell edges ∪ particle positions) :math:`F - F_m` is linear, so
:math:`W_1 = \int|F - F_m|\,dz` is a sum of exact integrals of |linear| (see
:func:`w1_cells_vs_samples`).

What is compared depends on the file's root attribute ``problem``: :data:`COMPARATORS` maps it
to a :class:`Comparator` (how to read a PDE snapshot, which numbers to compute, which
marginals to draw); other problems register theirs with :func:`register_comparator`.  The
particle file is recognised by its ``method`` attribute (:data:`PARTICLE_METHODS`).
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import h5py
import numpy as np

from .errors import UserInputError
from .io import open_for_reading
from .grids import theta_axis_names

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["w1_cells_vs_samples", "Marginal", "Comparator", "COMPARATORS",
           "PARTICLE_METHODS", "register_comparator", "Comparison", "compare_files",
           "plot_comparison", "cli_compare", "read_snapshot", "open_output"]

#: values of the root attribute ``method`` that mark a file as the finite-network side
PARTICLE_METHODS = {"particles"}

#: headline diagnostics, in order of preference: the training loss (PDE (3.4)) or the
#: population risk (problems that define one)
HEADLINE = ("loss", "risk")


def headline(names) -> str | None:
    """The first of :data:`HEADLINE` among ``names`` (diagnostic names without the group)."""
    names = set(names)
    return next((h for h in HEADLINE if h in names), None)


# ---------------------------------------------------------------------------- W1
def w1_cells_vs_samples(edges: np.ndarray, masses: np.ndarray, samples: np.ndarray) -> float:
    r"""Exact W1 between a piecewise-constant density on cells and an empirical measure.

    Parameters
    ----------
    edges : ndarray, shape (N+1,)
        Increasing cell edges.
    masses : ndarray, shape (N,)
        Non-negative cell masses (normalised here to sum 1); the density is uniform in a cell.
    samples : ndarray, shape (m,)
        Particle positions, each of weight 1/m (anywhere on the line).

    Returns
    -------
    float
        :math:`\int_{\mathbb R}|F(z) - F_m(z)|\,dz`.  With p = F − F_m at the left and q at
        the right end of an interval of width Δ between breakpoints, the integral of the
        linear function's modulus is Δ(|p|+|q|)/2 if pq ≥ 0, else Δ(p²+q²)/(2(|p|+|q|)).
    """
    edges = np.asarray(edges, float)
    masses = np.clip(np.asarray(masses, float), 0.0, None)
    samples = np.sort(np.asarray(samples, float).ravel())
    total = masses.sum()
    if not total > 0 or samples.size == 0:
        raise ValueError("need a positive PDE mass and at least one sample")
    cdf_edges = np.concatenate([[0.0], np.cumsum(masses) / total])
    points = np.union1d(edges, samples)
    F = np.interp(points, edges, cdf_edges)           # 0 left of the box, 1 right of it
    Fm = np.searchsorted(samples, points, side="right") / samples.size
    diff = F - Fm                                      # F_m is constant on [b_k, b_{k+1})
    p = diff[:-1]
    q = F[1:] - Fm[:-1]
    width = np.diff(points)
    same = p * q >= 0
    absum = np.abs(p) + np.abs(q)
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(absum > 0, (p * p + q * q) / (2.0 * absum), 0.0)
    return float(np.sum(width * np.where(same, 0.5 * absum, crossing)))


def _edges_from_centres(centres: np.ndarray) -> np.ndarray:
    """Cell edges of a uniform cell-centred axis."""
    c = np.asarray(centres, float)
    h = (c[-1] - c[0]) / (c.size - 1) if c.size > 1 else 1.0
    return np.concatenate([c - 0.5 * h, [c[-1] + 0.5 * h]])


# ---------------------------------------------------------------------------- comparators
@dataclass(frozen=True)
class Marginal:
    """One coordinate's PDE marginal (cell edges and masses) and particle samples."""

    name: str
    edges: np.ndarray
    masses: np.ndarray
    samples: np.ndarray | None


@dataclass(frozen=True)
class Comparator:
    """How one problem's PDE snapshots are compared with its particle snapshots.

    Attributes
    ----------
    pde_row : callable
        ``pde_row(h5file, k) -> dict``: row k of a PDE file as a snapshot mapping
        (``prediction``, ``diagnostics/loss`` and whatever ``metrics`` needs).
    metrics : callable
        ``metrics(pde_snapshot, particle_snapshot) -> dict[str, float]``; the particle
        snapshot has the particle file's dataset names as keys (``prediction``,
        ``diagnostics/loss``, ``particles`` when saved).
    marginals : callable, optional
        ``marginals(pde_snapshot, particle_snapshot) -> list[Marginal]`` for the figure.
    """

    pde_row: Callable[[h5py.File, int], dict]
    metrics: Callable[[Mapping, Mapping], dict[str, float]]
    marginals: Callable[[Mapping, Mapping], list[Marginal]] | None = None


def _basic_row(f: h5py.File, k: int) -> dict:
    row = {}
    for name in ("prediction", *(f"diagnostics/{h}" for h in HEADLINE)):
        if name in f:
            row[name] = f[name][k]
    return row


def basic_metrics(pde: Mapping, part: Mapping) -> dict[str, float]:
    """Loss (or risk) values and difference, and max_i |f_PDE(x_i) − f_m(x_i)| (any problem)."""
    out = {}
    for h in HEADLINE:
        key = f"diagnostics/{h}"
        if key in pde and key in part:
            out[f"{h}_pde"] = float(pde[key])
            out[f"{h}_particles"] = float(part[key])
            out[f"{h}_diff"] = out[f"{h}_particles"] - out[f"{h}_pde"]
            break
    if "prediction" in pde and "prediction" in part:
        out["max_abs_prediction"] = float(np.max(np.abs(np.asarray(pde["prediction"])
                                                        - np.asarray(part["prediction"]))))
    return out


def noisy_gd_pde_row(f: h5py.File, k: int) -> dict:
    """Row k of a PDE (3.4) file: prediction, loss and the 1-D marginals of the density."""
    row = _basic_row(f, k)
    d = f["data/x"].shape[1]
    names = theta_axis_names(d)
    density = f["density"][k]
    centres = [f[f"grid/{a}"][()] for a in names]
    spacing = [float(c[1] - c[0]) if c.size > 1 else 1.0 for c in centres]
    vol = float(np.prod(spacing))
    row["marginals"] = {}
    for q, name in enumerate(names):
        other = tuple(a for a in range(density.ndim) if a != q)
        masses = density.sum(axis=other) * vol
        row["marginals"][name] = (_edges_from_centres(centres[q]), masses)
    return row


def noisy_gd_marginals(pde: Mapping, part: Mapping) -> list[Marginal]:
    """The (θ_1, …, θ_d, u) marginals of a PDE snapshot and of a particle snapshot."""
    z = part.get("particles")
    out = []
    for q, (name, (edges, masses)) in enumerate(pde["marginals"].items()):
        out.append(Marginal(name, edges, masses, None if z is None else np.asarray(z)[:, q]))
    return out


def noisy_gd_metrics(pde: Mapping, part: Mapping) -> dict[str, float]:
    """:func:`basic_metrics` plus ``w1_<axis>`` for every coordinate (when particles saved)."""
    out = basic_metrics(pde, part)
    for marg in noisy_gd_marginals(pde, part):
        out[f"w1_{marg.name}"] = (math.nan if marg.samples is None
                                  else w1_cells_vs_samples(marg.edges, marg.masses,
                                                           marg.samples))
    return out


#: root attribute ``problem`` -> how its PDE and particle files are compared
COMPARATORS: dict[str, Comparator] = {
    "noisy-gd": Comparator(noisy_gd_pde_row, noisy_gd_metrics, noisy_gd_marginals),
}

_BASIC = Comparator(_basic_row, basic_metrics, None)


def register_comparator(problem: str, comparator: Comparator) -> None:
    """Use ``comparator`` for files whose root attribute ``problem`` is ``problem``."""
    COMPARATORS[problem] = comparator


def _isotropic_comparator() -> Comparator:
    from .isotropic import isotropic_comparator

    return isotropic_comparator()


register_comparator("isotropic-gaussians", _isotropic_comparator())


# ---------------------------------------------------------------------------- files
def open_output(path: str | Path) -> h5py.File:
    """Open a fokkerplanck HDF5 output for reading, with one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"file {str(path)!r} does not exist")
    try:
        f = open_for_reading(path)
    except OSError:
        raise UserInputError(f"file {str(path)!r} is not an HDF5 file") from None
    if "time" not in f or "problem" not in f.attrs or "method" not in f.attrs:
        f.close()
        raise UserInputError(f"file {str(path)!r} is not a fokkerplanck output "
                             "(no /time or no problem/method attributes)")
    return f


def read_snapshot(f: h5py.File, k: int) -> dict:
    """Row k of a particle file: prediction, diagnostics and particles when present."""
    row = {}
    for name in ("prediction", "particles", "radii"):
        if name in f:
            row[name] = f[name][k]
    if "diagnostics" in f:
        for name, ds in f["diagnostics"].items():
            row[f"diagnostics/{name}"] = ds[k]
    return row


def _attr(f, name) -> str:
    v = f.attrs[name]
    return v.decode() if isinstance(v, bytes) else str(v)


def _problem_sections(f: h5py.File) -> dict:
    try:
        cfg = tomllib.loads(_attr(f, "config"))
    except (KeyError, tomllib.TOMLDecodeError):
        return {}
    return {name: cfg.get(name, {}) for name in ("model", "initial")}


def check_same_problem(pde: h5py.File, part: h5py.File, names=("PDE", "particle")) -> None:
    """Raise unless both files solve the same problem (model, initial law, training set)."""
    if _attr(pde, "problem") != _attr(part, "problem"):
        raise UserInputError(f"the {names[0]} file solves {_attr(pde, 'problem')!r} but the "
                             f"{names[1]} file {_attr(part, 'problem')!r}")
    a, b = _problem_sections(pde), _problem_sections(part)
    for section in a:
        for key in sorted(set(a[section]) | set(b.get(section, {}))):
            va, vb = a[section].get(key), b.get(section, {}).get(key)
            if va != vb:
                raise UserInputError(f"the files describe different problems: [{section}] "
                                     f"{key} = {va!r} ({names[0]}) but {vb!r} ({names[1]})")
    for name in ("data/x", "data/y"):
        if name in pde and name in part:
            xa, xb = pde[name][()], part[name][()]
            if xa.shape != xb.shape or not np.allclose(xa, xb, rtol=0, atol=1e-12):
                raise UserInputError(f"the files were computed on different training sets "
                                     f"(/{name} differs)")


def common_times(ta: np.ndarray, tb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (ia, ib) with ta[ia] = tb[ib] up to 1e-9 relative."""
    ia, ib = [], []
    for j, t in enumerate(tb):
        k = int(np.argmin(np.abs(ta - t))) if ta.size else -1
        if k >= 0 and abs(ta[k] - t) <= 1e-9 * max(1.0, abs(t)):
            ia.append(k)
            ib.append(j)
    return np.array(ia, dtype=int), np.array(ib, dtype=int)


@dataclass
class Comparison:
    """The table of a comparison: one row per common time, one column per metric."""

    pde_path: Path
    particle_path: Path
    problem: str
    time: np.ndarray
    metrics: dict[str, np.ndarray]
    pde_loss: tuple[np.ndarray, np.ndarray] | None = None          # (t, L) at all PDE times
    particle_loss: tuple[np.ndarray, np.ndarray] | None = None
    headline: str = "loss"                                          # or "risk"
    marginals: list[tuple[float, list[Marginal]]] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """Largest absolute value of each metric over the common times."""
        return {k: float(np.nanmax(np.abs(v))) if np.isfinite(v).any() else math.nan
                for k, v in self.metrics.items()}

    def to_json(self, plot: str | None = None) -> str:
        def clean(v):
            return [None if not math.isfinite(x) else x for x in np.asarray(v, float).tolist()]

        return json.dumps({
            "pde": str(self.pde_path), "particles": str(self.particle_path),
            "problem": self.problem, "time": clean(self.time),
            "metrics": {k: clean(v) for k, v in self.metrics.items()},
            "max_abs": {k: (None if not math.isfinite(v) else v)
                        for k, v in self.summary().items()},
            "plot": plot}, indent=1)

    def table(self) -> str:
        names = list(self.metrics)
        head = ["t"] + names
        rows = [[f"{t:.4g}"] + [f"{self.metrics[k][r]:.4g}" for k in names]
                for r, t in enumerate(self.time)]
        widths = [max(len(h), *(len(row[c]) for row in rows)) for c, h in enumerate(head)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in rows]
        return "\n".join(lines)


def _sorted_pair(path_a, path_b):
    fa, fb = open_output(path_a), open_output(path_b)
    a_part = _attr(fa, "method") in PARTICLE_METHODS
    b_part = _attr(fb, "method") in PARTICLE_METHODS
    if a_part and not b_part:                       # given in the other order: swap
        return fb, fa, Path(path_b), Path(path_a)
    if a_part == b_part:
        fa.close()
        fb.close()
        which = "both" if a_part else "neither"
        raise UserInputError(f"compare needs one PDE file and one particle file; {which} of "
                             f"{str(path_a)!r} and {str(path_b)!r} are particle runs")
    return fa, fb, Path(path_a), Path(path_b)


def compare_files(pde_path: str | Path, particle_path: str | Path,
                  marginal_times: int = 3) -> Comparison:
    """Compare a PDE output with a particle output (either order) at their common times."""
    fp, fm, pde_path, particle_path = _sorted_pair(pde_path, particle_path)
    try:
        check_same_problem(fp, fm)
        problem = _attr(fp, "problem")
        comp = COMPARATORS.get(problem, _BASIC)
        tp, tm = fp["time"][()], fm["time"][()]
        ip, im = common_times(tp, tm)
        if ip.size == 0:
            raise UserInputError("the two files have no saved time in common "
                                 "(use the same [time] t_end and save_every)")
        cols: dict[str, list] = {}
        pick = set(np.unique(np.linspace(0, ip.size - 1, marginal_times).round().astype(int))
                   .tolist()) if marginal_times else set()
        marginals = []
        for r, (kp, km) in enumerate(zip(ip, im)):
            prow, mrow = comp.pde_row(fp, int(kp)), read_snapshot(fm, int(km))
            for name, value in comp.metrics(prow, mrow).items():
                cols.setdefault(name, []).append(value)
            if r in pick and comp.marginals is not None:
                marginals.append((float(tp[kp]), comp.marginals(prow, mrow)))
        loss = {}
        head = headline(list(fp["diagnostics"]) if "diagnostics" in fp else []) or "loss"
        for key, f in (("pde", fp), ("particles", fm)):
            if f"diagnostics/{head}" in f:
                n = f["time"].shape[0]
                loss[key] = (f["time"][()], f[f"diagnostics/{head}"][:n])
        return Comparison(pde_path, particle_path, problem, tp[ip],
                          {k: np.array(v, float) for k, v in cols.items()},
                          loss.get("pde"), loss.get("particles"), head, marginals)
    finally:
        fp.close()
        fm.close()


# ---------------------------------------------------------------------------- figure
def plot_comparison(comparison: Comparison, path: str | Path) -> Path:
    """PNG: PDE and particle loss curves, and the marginals at up to three common times."""
    from matplotlib.figure import Figure

    path = Path(path)
    panels = 1 + (len(comparison.marginals[0][1]) if comparison.marginals else 0)
    fig = Figure(figsize=(4.2 * panels, 3.6), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    ax = axes[0]
    if comparison.pde_loss is not None:
        ax.plot(*comparison.pde_loss, "-", color="k", label="PDE")
    if comparison.particle_loss is not None:
        ax.plot(*comparison.particle_loss, "o", ms=3, color="C3", label="particles")
    ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel(comparison.headline)
    ax.legend()
    ax.set_title(comparison.headline)
    for c, (t, margs) in enumerate(comparison.marginals):
        for ax, marg in zip(axes[1:], margs):
            width = np.diff(marg.edges)
            dens = marg.masses / (marg.masses.sum() * width)
            ax.stairs(dens, marg.edges, color=f"C{c}", lw=1.2, label=f"PDE t={t:g}")
            if marg.samples is not None:
                ax.hist(marg.samples, bins=marg.edges[::max(1, marg.edges.size // 80)],
                        density=True, histtype="stepfilled", alpha=0.25, color=f"C{c}",
                        label=f"particles t={t:g}")
            ax.set_xlabel(marg.name)
            ax.set_title(f"marginal of {marg.name}")
    if comparison.marginals:
        axes[1].legend(fontsize=7)
        for ax in axes[1:]:
            ax.set_xlim(-4.5, 4.5)
    fig.suptitle(f"{comparison.pde_path.name} vs {comparison.particle_path.name}", fontsize=9)
    fig.savefig(path, dpi=120)
    return path


def default_plot_path(particle_path: Path) -> Path:
    """``<particle file stem>-compare.png`` next to the particle file."""
    return particle_path.with_name(f"{particle_path.stem}-compare.png")


def cli_compare(args) -> int:
    """``fokkerplanck compare PDE.h5 PARTICLES.h5 [--json] [--plot PNG]``."""
    comparison = compare_files(args.pde, args.particles)
    png = Path(args.plot) if args.plot else default_plot_path(comparison.particle_path)
    if png.parent != Path("") and not png.parent.is_dir():
        raise UserInputError(f"--plot {str(png)!r}: directory {str(png.parent)!r} does not exist")
    plot_comparison(comparison, png)
    if args.json:
        print(comparison.to_json(plot=str(png)))
        return 0
    print(f"PDE {comparison.pde_path}  vs  particles {comparison.particle_path} "
          f"({comparison.problem}, {comparison.time.size} common times)")
    print(comparison.table())
    if any(k.startswith("w1_") and not np.isfinite(v).any()
           for k, v in comparison.metrics.items()):
        print("(W1 columns need /particles: simulate with --set particles.save_particles=true)")
    print(f"figure: {png}")
    return 0
