"""``fokkerplanck plot``: publication-quality figures and movies from an output file.

Figures are drawn on :class:`matplotlib.figure.Figure` objects attached to the Agg canvas
(never through ``pyplot``), so plotting works without a display and leaves no global state.
Sizes are fixed per kind and geometry (:data:`FIGSIZE`, inches) and PNGs are written at
:data:`DPI`, so an image is always ``FIGSIZE × DPI`` pixels; PDFs embed TrueType fonts.

Kinds (``--kind``):

``density``
    Snapshots of the density at up to four times on one colour scale.  (θ₁, u) grids are
    shown as images; for d = 2 the (θ₁, θ₂) marginal (integrated over u) and the (θ₁, u)
    marginal (integrated over θ₂) are shown in two rows; radial files (``/grid/r``) as curves
    ρ̄_t(r) coloured by time.  Axes are cropped to where the density is visible.
``marginals``
    Every one-dimensional marginal as a space–time image (time across, the axis up).
``loss`` / ``risk``
    The loss (or, for the isotropic problem, the risk) against time on a log scale, and
    the predictions f(p_t, x_i) with their targets y_i (``loss``) or the mean radius
    (``risk``).  ``--with PARTICLES.h5`` overlays the finite network's curves.
``compare``
    A PDE file against a particle file (``--with``; either order): loss, predictions, their
    differences against time, and the final density with the neurons scattered on top
    (when the particle run saved them: ``[particles] save_particles = true``).

The default kind follows the file: ``density`` for PDE files, ``loss`` (``risk`` for the
isotropic problem) for particle files, ``compare`` when ``--with`` is given.

``--movie`` also writes an animation of the density, as MP4 when ffmpeg is installed and
as a GIF (Pillow) otherwise; with no encoder at all the movie is skipped with a message.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserInputError

__all__ = ["KINDS", "FIGSIZE", "DPI", "MOVIE_DPI", "load", "geometry", "available_kinds",
           "default_kind", "figure_size", "make_figure", "plot_file", "make_movie",
           "movie_writer", "cli_plot"]

KINDS = ("density", "marginals", "loss", "risk", "compare")

#: PNG resolution (dots per inch)
DPI = 200
#: movie resolution (dots per inch)
MOVIE_DPI = 100
#: most frames in a movie (longer runs are subsampled evenly)
MAX_FRAMES = 200

#: figure size in inches per (kind, geometry); geometry is "box2", "box3", "radial" or
#: "particles" (see :func:`geometry`)
FIGSIZE: dict[tuple[str, str], tuple[float, float]] = {
    ("density", "box2"): (7.2, 2.3),
    ("density", "box3"): (7.2, 4.2),
    ("density", "radial"): (4.8, 3.0),
    ("marginals", "box2"): (7.2, 2.6),
    ("marginals", "box3"): (7.2, 2.4),
    ("marginals", "radial"): (4.8, 3.0),
    ("loss", "box2"): (7.2, 2.8),
    ("loss", "box3"): (7.2, 2.8),
    ("loss", "particles"): (7.2, 2.8),
    ("risk", "radial"): (7.2, 2.8),
    ("risk", "particles"): (7.2, 2.8),
    ("compare", "box2"): (7.2, 5.4),
    ("compare", "box3"): (7.2, 5.4),
    ("compare", "radial"): (7.2, 5.4),
}

_STYLE = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "lines.linewidth": 1.2,
    "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
    "pdf.fonttype": 42, "ps.fonttype": 42, "image.cmap": "viridis",
    "figure.constrained_layout.use": True, "axes.formatter.useoffset": False,
}

_AXIS_LABELS = {"theta1": r"$\theta_1$", "theta2": r"$\theta_2$", "u": r"$u$", "r": r"$r$"}
_PARAM_LABELS = {"alpha": r"$\alpha$", "lam": r"$\lambda$", "beta": r"$\beta$",
                 "delta": r"$\Delta$", "kappa": r"$\kappa$", "d": r"$d$", "xi": r"$\xi$"}


# --------------------------------------------------------------------------- reading

def load(path: str | Path) -> dict[str, Any]:
    """:func:`fokkerplanck.io.read_result` with one-line errors for missing or foreign files."""
    from .io import read_result

    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{str(path)!r} does not exist")
    try:
        data = read_result(path)
    except OSError as exc:
        if "lock" in str(exc):
            raise UserInputError(f"{str(path)!r} is open for writing in another process (a "
                                 "run in progress?); try again when it has finished") from None
        raise UserInputError(f"{str(path)!r} is not a fokkerplanck output file") from None
    except KeyError:
        raise UserInputError(f"{str(path)!r} is not a fokkerplanck output file") from None
    if "time" not in data or len(data["time"]) == 0:
        raise UserInputError(f"{str(path)!r} holds no complete snapshot")
    data["path"] = path
    return data


def _attr(data, name, default=""):
    value = data["attrs"].get(name, default)
    return value.decode() if isinstance(value, bytes) else value


def geometry(data) -> str:
    """``"box2"``/``"box3"`` (density on a (θ…, u) grid), ``"radial"`` or ``"particles"``."""
    if "density" not in data:
        return "particles"
    if "grid/r" in data or data["density"].ndim == 2:
        return "radial"
    return f"box{data['density'].ndim - 1}"


def _metric(data) -> str:
    """The headline quantity of a file: ``risk`` (isotropic problem) or ``loss``."""
    return "risk" if "diagnostics/risk" in data else "loss"


def available_kinds(data) -> tuple[str, ...]:
    """The kinds that can be drawn from this file alone (``compare`` needs a second file)."""
    geo = geometry(data)
    kinds = [] if geo == "particles" else ["density", "marginals"]
    kinds.append(_metric(data))
    return tuple(kinds)


def default_kind(data, other=None) -> str:
    """``compare`` with a second file, else ``density`` for PDE files, else loss or risk."""
    if other is not None:
        return "compare"
    return "density" if geometry(data) != "particles" else _metric(data)


def figure_size(kind: str, geo: str) -> tuple[float, float]:
    """Size in inches of a ``kind`` figure of a ``geo`` file (see :data:`FIGSIZE`)."""
    return FIGSIZE[kind, geo]


def _axes_of(data) -> list[tuple[str, np.ndarray]]:
    """(name, cell centres) of every axis of ``/density`` after time, in storage order."""
    shape = data["density"].shape[1:]
    if geometry(data) == "radial":
        r = data.get("grid/r")
        return [("r", np.asarray(r, float) if r is not None else np.arange(shape[0], float))]
    names = [f"theta{k}" for k in range(1, len(shape))] + ["u"]
    axes = []
    for name, n in zip(names, shape):
        c = data.get(f"grid/{name}")
        if c is None or len(c) != n:
            raise UserInputError(f"{str(data['path'])!r}: /grid/{name} is missing or does not "
                                 f"match /density")
        axes.append((name, np.asarray(c, float)))
    return axes


def _widths(c: np.ndarray) -> np.ndarray:
    """Cell widths from cell centres (uniform or not)."""
    if len(c) == 1:
        return np.ones(1)
    e = _edges(c)
    return np.diff(e)


def _edges(c: np.ndarray) -> np.ndarray:
    """Cell edges from centres (midpoints, ends extrapolated); one value gets width 1."""
    c = np.asarray(c, float)
    if len(c) == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def _marginal(density: np.ndarray, axes, keep: tuple[int, ...]) -> np.ndarray:
    """Integrate ``density`` (no time axis) over every axis not in ``keep``."""
    out = density
    for k in reversed(range(density.ndim)):
        if k not in keep:
            w = _widths(axes[k][1])
            out = np.tensordot(out, w, axes=([k], [0]))
    return out


def _support(c: np.ndarray, profile: np.ndarray, rel: float = 1e-3) -> tuple[float, float]:
    """Axis limits around where ``profile`` exceeds ``rel`` of its maximum (padded)."""
    e = _edges(c)
    top = profile.max()
    if not np.isfinite(top) or top <= 0:
        return float(e[0]), float(e[-1])
    idx = np.nonzero(profile > rel * top)[0]
    lo, hi = e[idx[0]], e[idx[-1] + 1]
    pad = 0.08 * (hi - lo)
    return float(max(e[0], lo - pad)), float(min(e[-1], hi + pad))


def _snapshot_indices(times: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` snapshot indices evenly spread in time, first and last included."""
    if len(times) <= count:
        return np.arange(len(times))
    targets = np.linspace(times[0], times[-1], count)
    return np.unique([int(np.argmin(np.abs(times - t))) for t in targets])


def _params(data) -> str:
    """A short caption: problem and model parameters from the stored configuration."""
    import tomllib

    problem = _attr(data, "problem", "") or "result"
    try:
        model = tomllib.loads(_attr(data, "config", "")).get("model", {})
    except (tomllib.TOMLDecodeError, TypeError):
        model = {}
    items = []
    for key, value in model.items():
        if key == "kind":
            continue
        label = _PARAM_LABELS.get(key, key)
        items.append(f"{label} = {value:g}" if isinstance(value, float) else f"{label} = {value}")
    if _attr(data, "method") == "particles" and "count" in data["attrs"]:
        items.append(f"$m$ = {int(data['attrs']['count'])}")
    return f"{problem}: " + ", ".join(items) if items else problem


def _panel_letter(ax, k: int) -> None:
    ax.text(-0.02, 1.02, f"({'abcdefgh'[k]})", transform=ax.transAxes, ha="right",
            va="bottom", fontweight="bold")


def _new_figure(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


# --------------------------------------------------------------------------- kinds

def _image(ax, values2d: np.ndarray, cx: np.ndarray, cy: np.ndarray, vmax: float, **kw):
    """Cell averages as an image, x horizontal, y vertical (values indexed [x, y])."""
    ex, ey = _edges(cx), _edges(cy)
    return ax.imshow(values2d.T, origin="lower", extent=(ex[0], ex[-1], ey[0], ey[-1]),
                     vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest", **kw)


def _density_box(fig, data):
    axes = _axes_of(data)
    time, rho = data["time"], data["density"]
    idx = _snapshot_indices(time, 4)
    pairs = [(0, len(axes) - 1)] if len(axes) == 2 else [(0, 1), (0, 2)]
    grid = fig.subplots(len(pairs), len(idx), squeeze=False, sharex="row", sharey="row")
    for row, (a, b) in enumerate(pairs):
        maps = np.array([_marginal(rho[k], axes, (a, b)) for k in idx])
        vmax = float(maps.max()) or 1.0
        xlim = _support(axes[a][1], maps.max(axis=(0, 2)))
        ylim = _support(axes[b][1], maps.max(axis=(0, 1)))
        for col, k in enumerate(idx):
            ax = grid[row, col]
            im = _image(ax, maps[col], axes[a][1], axes[b][1], vmax)
            ax.set_xlim(xlim)
            ax.set_ylim(ylim)
            ax.set_xlabel(_AXIS_LABELS[axes[a][0]])
            if col == 0:
                ax.set_ylabel(_AXIS_LABELS[axes[b][0]])
            if row == 0:
                ax.set_title(f"$t$ = {time[k]:.4g}")
        label = ("$p_t$" if len(axes) == 2 else
                 "$\\int p_t\\,du$" if b == 1 else "$\\int p_t\\,d\\theta_2$")
        fig.colorbar(im, ax=list(grid[row]), label=label, shrink=0.9, pad=0.02)


def _time_colours(fig, ax, times, label="$t$"):
    """A viridis mapping of time for curves, with its colour bar."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    norm = Normalize(vmin=float(times[0]), vmax=float(max(times[-1], times[0] + 1e-300)))
    sm = ScalarMappable(norm=norm, cmap="viridis")
    fig.colorbar(sm, ax=ax, label=label, pad=0.02)
    return lambda t: sm.to_rgba(t)


def _density_radial(fig, data):
    (name, r), = _axes_of(data)
    time, rho = data["time"], data["density"]
    idx = _snapshot_indices(time, 6)
    ax = fig.subplots()
    colour = _time_colours(fig, ax, time)
    for k in idx:
        ax.plot(r, rho[k], color=colour(time[k]))
    ax.set_xlim(_support(r, rho[idx].max(axis=0)))
    ax.set_ylim(bottom=0)
    ax.set_xlabel(_AXIS_LABELS["r"])
    ax.set_ylabel(r"$\bar\rho_t(r)$")


def _marginals(fig, data):
    axes = _axes_of(data)
    time, rho = data["time"], data["density"]
    panels = fig.subplots(1, len(axes), squeeze=False)[0]
    te = _edges(time)
    for k, (ax, (name, c)) in enumerate(zip(panels, axes)):
        m = np.array([_marginal(rho[j], axes, (k,)) for j in range(len(time))])
        mesh = ax.pcolormesh(te, _edges(c), m.T, shading="flat", vmin=0.0,
                             vmax=float(m.max()) or 1.0, rasterized=True)
        ax.set_ylim(_support(c, m.max(axis=0)))
        ax.set_xlim(te[0] if len(time) == 1 else time[0], te[-1] if len(time) == 1 else time[-1])
        ax.set_xlabel("$t$")
        ax.set_ylabel(_AXIS_LABELS[name])
        sym = _AXIS_LABELS[name].strip("$")
        fig.colorbar(mesh, ax=ax, pad=0.02, label=f"marginal of ${sym}$")
        if len(axes) > 1:
            _panel_letter(ax, k)


def _log_or_linear(ax, *series, span=20.0):
    """Log y axis when every value is positive and they span more than ``span``."""
    values = np.concatenate([np.ravel(s) for s in series if s is not None and len(s)])
    if values.size and np.all(values > 0) and values.max() >= span * values.min():
        ax.set_yscale("log")
        lo, hi = float(values.min()), float(values.max())
        if hi < 10 * lo:  # at least one decade, so that the axis has labelled ticks
            mid = math.sqrt(lo * hi)
            ax.set_ylim(mid / 4, mid * 4)


def _particle_label(other) -> str:
    count = other["attrs"].get("count")
    return f"particles ($m$ = {int(count)})" if count is not None else "particles"


def _curves(fig, data, kind, other=None):
    """Panel (a): loss or risk; panel (b): predictions (loss) or mean radius (risk)."""
    from matplotlib.lines import Line2D

    name = kind
    if f"diagnostics/{name}" not in data:
        raise UserInputError(f"{str(data['path'])!r} has no /diagnostics/{name} (kinds for this "
                             f"file: {', '.join(available_kinds(data))})")
    ax1, ax2 = fig.subplots(1, 2)
    label = "particles" if _attr(data, "method") == "particles" else "PDE"
    ax1.plot(data["time"], data[f"diagnostics/{name}"], color="k", label=label)
    series = [data[f"diagnostics/{name}"]]
    if other is not None:
        key = f"diagnostics/{name}" if f"diagnostics/{name}" in other else \
            f"diagnostics/{_metric(other)}"
        ax1.plot(other["time"], other[key], ls="none", marker="o", ms=2.5, color="C3",
                 label=_particle_label(other))
        series.append(other[key])
        ax1.legend()
    _log_or_linear(ax1, *series)
    ax1.set_xlabel("$t$")
    ax1.set_ylabel({"loss": r"loss $L(p_t)$", "risk": r"risk $R(\bar\rho_t)$"}[name])
    _panel_letter(ax1, 0)
    if kind == "loss" and "prediction" in data:
        f = data["prediction"]
        y = data.get("data/y")
        chosen = np.unique(np.linspace(0, f.shape[1] - 1, min(8, f.shape[1])).round().astype(int))
        for j, i in enumerate(chosen):
            colour = f"C{j % 10}"
            ax2.plot(data["time"], f[:, i], color=colour)
            if y is not None:
                ax2.axhline(y[i], color=colour, ls=":", lw=0.8)
            if other is not None and "prediction" in other:
                ax2.plot(other["time"], other["prediction"][:, i], ls="none", marker="o", ms=2,
                         color=colour)
        handles = [Line2D([], [], color="k", label=label)]
        if y is not None:
            handles.append(Line2D([], [], color="k", ls=":", lw=0.8, label="target $y_i$"))
        if other is not None and "prediction" in other:
            handles.append(Line2D([], [], color="k", ls="none", marker="o", ms=2,
                                  label="particles"))
        ax2.legend(handles=handles, loc="best")
        ax2.set_xlabel("$t$")
        ax2.set_ylabel(r"$f(p_t, x_i)$")
        _panel_letter(ax2, 1)
    else:
        for key, ylabel in (("mean_r", r"mean radius $\int r\,\bar\rho_t(r)\,dr$"),
                            ("free_energy", "free energy"), ("mass", "mass")):
            if f"diagnostics/{key}" in data:
                ax2.plot(data["time"], data[f"diagnostics/{key}"], color="k", label=label)
                if other is not None and f"diagnostics/{key}" in other:
                    ax2.plot(other["time"], other[f"diagnostics/{key}"], ls="none",
                             marker="o", ms=2.5, color="C3", label=_particle_label(other))
                    ax2.legend()
                ax2.set_xlabel("$t$")
                ax2.set_ylabel(ylabel)
                _panel_letter(ax2, 1)
                break
        else:
            ax2.set_axis_off()


def _split_pair(data, other, what="--kind compare"):
    """(PDE file, particle file) from two files given in either order."""
    if other is None:
        raise UserInputError(f"{what} needs a second file: --with PARTICLES.h5")
    is_part = [geometry(d) == "particles" for d in (data, other)]
    if is_part == [False, True]:
        return data, other
    if is_part == [True, False]:
        return other, data
    which = "particle" if is_part[0] else "PDE"
    raise UserInputError(f"{what} needs one PDE file and one particle file "
                         f"(both {str(data['path'])!r} and {str(other['path'])!r} are {which} "
                         f"files)")


def _compare(fig, pde, part):
    from matplotlib.lines import Line2D

    name = _metric(pde)
    (a, b), (c, d) = fig.subplots(2, 2)
    tp, tq = pde["time"], part["time"]
    lp = pde[f"diagnostics/{name}"]
    lq = part[f"diagnostics/{name}"] if f"diagnostics/{name}" in part else \
        part[f"diagnostics/{_metric(part)}"]
    # (a) loss or risk
    a.plot(tp, lp, color="k", label="PDE")
    a.plot(tq, lq, ls="none", marker="o", ms=2.5, color="C3", label=_particle_label(part))
    _log_or_linear(a, lp, lq)
    a.set_xlabel("$t$")
    a.set_ylabel(name)
    a.legend()
    _panel_letter(a, 0)
    # (b) predictions
    both = "prediction" in pde and "prediction" in part
    if both:
        fp, fq = pde["prediction"], part["prediction"]
        chosen = np.unique(np.linspace(0, fp.shape[1] - 1, min(8, fp.shape[1])).round()
                           .astype(int))
        for j, i in enumerate(chosen):
            b.plot(tp, fp[:, i], color=f"C{j % 10}")
            b.plot(tq, fq[:, i], ls="none", marker="o", ms=2, color=f"C{j % 10}")
        b.legend(handles=[Line2D([], [], color="k", label="PDE"),
                          Line2D([], [], color="k", ls="none", marker="o", ms=2,
                                 label="particles")])
        b.set_xlabel("$t$")
        b.set_ylabel(r"$f(x_i)$")
        _panel_letter(b, 1)
    elif "diagnostics/mean_r" in pde:
        b.plot(tp, pde["diagnostics/mean_r"], color="k", label="PDE")
        if "diagnostics/mean_r" in part:
            b.plot(tq, part["diagnostics/mean_r"], ls="none", marker="o", ms=2.5, color="C3",
                   label="particles")
        b.legend()
        b.set_xlabel("$t$")
        b.set_ylabel(r"mean radius $\int r\,\bar\rho_t(r)\,dr$")
        _panel_letter(b, 1)
    else:
        b.set_axis_off()
    # (c) differences at the particle times inside the PDE's time range
    inside = (tq >= tp[0] - 1e-12) & (tq <= tp[-1] + 1e-12)
    if inside.any():
        t = tq[inside]
        dl = np.abs(np.interp(t, tp, lp) - lq[inside])
        c.plot(t, dl, color="k", marker="o", ms=2, label=f"|{name} difference|")
        curves = [dl]
        if both:
            df = np.max(np.abs(np.column_stack([np.interp(t, tp, fp[:, i])
                                                for i in range(fp.shape[1])])
                               - fq[inside]), axis=1)
            c.plot(t, df, color="C0", marker="s", ms=2, label=r"$\max_i |\Delta f(x_i)|$")
            curves.append(df)
        _log_or_linear(c, *curves, span=1.0)
        c.set_xlabel("$t$")
        c.set_ylabel("|PDE − particles|")
        c.legend()
        _panel_letter(c, 2)
    else:
        c.text(0.5, 0.5, "no common times", ha="center", va="center", transform=c.transAxes)
        c.set_axis_off()
    # (d) final density with the neurons on top
    t_common = min(tp[-1], tq[-1])
    kp = int(np.argmin(np.abs(tp - t_common)))
    kq = int(np.argmin(np.abs(tq - t_common)))
    axes = _axes_of(pde)
    cloud = part.get("particles")
    if geometry(pde) == "radial":
        r = axes[0][1]
        d.plot(r, pde["density"][kp], color="k", label="PDE")
        if cloud is not None:
            norms = np.linalg.norm(cloud[kq], axis=-1)
            d.hist(norms, bins=int(np.clip(np.sqrt(len(norms)), 10, 60)), density=True,
                   color="C3", alpha=0.5, label="particles")
        d.set_xlim(_support(r, pde["density"][kp]))
        d.set_xlabel(_AXIS_LABELS["r"])
        d.set_ylabel(r"$\bar\rho(r)$")
        d.legend()
    else:
        last = len(axes) - 1
        m = _marginal(pde["density"][kp], axes, (0, last))
        im = _image(d, m, axes[0][1], axes[last][1], float(m.max()) or 1.0, cmap="Greys")
        fig.colorbar(im, ax=d, pad=0.02,
                     label=r"$p_t$ (PDE)" if last == 1 else r"$\int p_t\,d\theta_2$ (PDE)")
        xlim, ylim = _support(axes[0][1], m.max(axis=1)), _support(axes[last][1], m.max(axis=0))
        if cloud is not None:
            z = cloud[kq]
            rng = np.random.default_rng(0)
            pick = rng.choice(len(z), size=min(len(z), 2000), replace=False)
            d.scatter(z[pick, 0], z[pick, -1], s=1.5, color="C3", alpha=0.6, linewidths=0,
                      rasterized=True, label="neurons")
            d.legend(loc="upper right", markerscale=3)
        else:
            d.text(0.03, 0.97, "neurons not saved\n([particles] save_particles)",
                   transform=d.transAxes, ha="left", va="top", fontsize=6)
        d.set_xlim(xlim)
        d.set_ylim(ylim)
        d.set_xlabel(_AXIS_LABELS[axes[0][0]])
        d.set_ylabel(_AXIS_LABELS[axes[last][0]])
    d.set_title(f"$t$ = {tp[kp]:.4g}" + ("" if abs(tq[kq] - tp[kp]) < 1e-9
                                          else f" (particles {tq[kq]:.4g})"))
    _panel_letter(d, 3)


def make_figure(data, kind: str | None = None, other=None):
    """Draw one kind for a loaded file (and optional second file); returns the Figure."""
    import matplotlib

    kind = kind or default_kind(data, other)
    if kind not in KINDS:
        raise UserInputError(f"--kind must be one of {', '.join(KINDS)} (got {kind!r})")
    if kind == "compare":
        pde, part = _split_pair(data, other)
        key, target = (kind, geometry(pde)), pde
    else:
        if kind not in available_kinds(data):
            raise UserInputError(f"--kind {kind} is not available for {str(data['path'])!r} "
                                 f"(kinds for this file: {', '.join(available_kinds(data))})")
        if other is not None:  # overlay the particle run on the PDE run
            data, other = _split_pair(data, other, "--with")
        key, target = (kind, geometry(data)), data
    with matplotlib.rc_context(_STYLE):
        fig = _new_figure(FIGSIZE[key])
        if kind == "density":
            (_density_radial if key[1] == "radial" else _density_box)(fig, data)
        elif kind == "marginals":
            _marginals(fig, data)
        elif kind in ("loss", "risk"):
            _curves(fig, data, kind, other)
        else:
            _compare(fig, pde, part)
        fig.suptitle(_params(target), fontsize=8)
    return fig


# --------------------------------------------------------------------------- output

_OTHER_FORMATS = (".jpg", ".jpeg", ".svg", ".eps", ".ps", ".tif", ".tiff", ".gif", ".mp4",
                  ".webp", ".bmp", ".h5")


def _image_path(file: Path, kind: str, output: str | Path | None, fmt: str) -> Path:
    if output is None:
        return file.with_name(f"{file.stem}-{kind}.{fmt}")
    out = Path(output)
    suffix = out.suffix.lower()
    if suffix in (".png", ".pdf"):
        return out
    if suffix in _OTHER_FORMATS:
        raise UserInputError(f"-o {str(out)!r}: the image must end in .png or .pdf")
    return out.with_name(f"{out.name}.{fmt}")  # no suffix, or a dot in the name


def _check_dir(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserInputError(f"-o {str(path)!r}: directory {str(parent)!r} does not exist")


def _save(fig, path: Path) -> None:
    import matplotlib

    try:
        with matplotlib.rc_context(_STYLE):
            fig.savefig(path, dpi=DPI, format=path.suffix.lstrip(".").lower(),
                        metadata={"Creator": "fokkerplanck plot"})
    except OSError as exc:
        raise UserInputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def plot_file(file: str | Path, kind: str | None = None, output: str | Path | None = None,
              fmt: str = "png", other: str | Path | None = None) -> Path:
    """Write one figure of an output file; returns the image path.

    Parameters
    ----------
    file : path
        HDF5 file written by ``solve`` or ``simulate``.
    kind : str, optional
        One of :data:`KINDS`; default :func:`default_kind`.
    output : path, optional
        Image path (a .png or .pdf suffix decides the format; otherwise ``.<fmt>`` is
        appended).  Default: ``<file stem>-<kind>.<fmt>`` next to ``file``.
    fmt : {"png", "pdf"}
    other : path, optional
        Second file: the particle run overlaid on ``loss``/``risk``, or compared.
    """
    data = load(file)
    second = load(other) if other is not None else None
    kind = kind or default_kind(data, second)
    path = _image_path(Path(file), kind, output, fmt)
    _check_dir(path)
    fig = make_figure(data, kind, second)
    _save(fig, path)
    return path


def movie_writer(prefer: str | None = None):
    """(writer class, file suffix) of the best available encoder, or None.

    MP4 through ffmpeg when installed, else GIF through Pillow.  ``prefer`` ("ffmpeg" or
    "pillow") restricts the choice to that writer.
    """
    from matplotlib import animation

    for name, suffix in (("ffmpeg", ".mp4"), ("pillow", ".gif")):
        if prefer not in (None, name):
            continue
        if animation.writers.is_available(name):
            return animation.writers[name], suffix
    return None


def make_movie(file_or_data, output: str | Path | None = None, fps: int = 8,
               writer: str | None = None) -> Path | None:
    """Animate the density of a PDE output file; returns the movie path (None: no encoder).

    Box grids with d = 1 show p_t(θ₁, u); d = 2 the (θ₁, θ₂) and (θ₁, u) marginals side by
    side; radial files the curve ρ̄_t(r).  At most :data:`MAX_FRAMES` frames (subsampled
    evenly), each titled with its time; the colour scale is fixed over the movie.
    ``output`` is the path without or with a suffix (.png, .pdf, .gif, .mp4); the
    encoder's suffix (.mp4 or .gif) replaces or extends it.  Default:
    ``<file stem>-density.mp4|gif`` next to the file.
    """
    import matplotlib

    data = file_or_data if isinstance(file_or_data, dict) else load(file_or_data)
    geo = geometry(data)
    if geo == "particles":
        raise UserInputError(f"{str(data['path'])!r} has no /density to animate (a particle "
                             "file)")
    chosen = movie_writer(writer)
    if chosen is None:
        return None
    writer_cls, suffix = chosen
    path = Path(data["path"])
    if output is None:
        path = path.with_name(f"{path.stem}-density{suffix}")
    else:
        out = Path(output)
        known = out.suffix.lower() in (".png", ".pdf", ".gif", ".mp4")
        path = out.with_name((out.stem if known else out.name) + suffix)
    _check_dir(path)
    time, rho = data["time"], data["density"]
    frames = np.unique(np.linspace(0, len(time) - 1, min(len(time), MAX_FRAMES))
                       .round().astype(int))
    axes = _axes_of(data)
    with matplotlib.rc_context(_STYLE):
        size = (4.8, 3.2) if geo != "box3" else (7.2, 3.2)
        fig = _new_figure(size)
        updates = []
        if geo == "radial":
            r = axes[0][1]
            ax = fig.subplots()
            (line,) = ax.plot(r, rho[0], color="k")
            ax.set_xlim(_support(r, rho.max(axis=0)))
            ax.set_ylim(0, 1.05 * float(rho.max()) or 1.0)
            ax.set_xlabel(_AXIS_LABELS["r"])
            ax.set_ylabel(r"$\bar\rho_t(r)$")
            updates.append(lambda k: line.set_ydata(rho[k]))
        else:
            pairs = [(0, len(axes) - 1)] if geo == "box2" else [(0, 1), (0, 2)]
            panels = fig.subplots(1, len(pairs), squeeze=False)[0]
            for ax, (a, b) in zip(panels, pairs):
                maps = np.array([_marginal(rho[k], axes, (a, b)) for k in frames])
                im = _image(ax, maps[0], axes[a][1], axes[b][1], float(maps.max()) or 1.0)
                ax.set_xlim(_support(axes[a][1], maps.max(axis=(0, 2))))
                ax.set_ylim(_support(axes[b][1], maps.max(axis=(0, 1))))
                ax.set_xlabel(_AXIS_LABELS[axes[a][0]])
                ax.set_ylabel(_AXIS_LABELS[axes[b][0]])
                fig.colorbar(im, ax=ax, pad=0.02, label="$p_t$" if geo == "box2" else
                             "$\\int p_t\\,du$" if b == 1 else "$\\int p_t\\,d\\theta_2$")
                lookup = {k: j for j, k in enumerate(frames)}
                updates.append(lambda k, im=im, maps=maps, lookup=lookup:
                               im.set_data(maps[lookup[k]].T))
        title = fig.suptitle("")
        movie = writer_cls(fps=fps, metadata={"artist": "fokkerplanck plot"})
        try:
            with movie.saving(fig, str(path), dpi=MOVIE_DPI):
                for k in frames:
                    for update in updates:
                        update(k)
                    title.set_text(f"{_params(data)}    $t$ = {time[k]:.4g}")
                    movie.grab_frame()
        except OSError as exc:
            raise UserInputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path


def cli_plot(args) -> int:
    """``fokkerplanck plot FILE [--kind K] [--movie] [--with OTHER] [-o OUT] [--format F]``."""
    data = load(args.file)
    other = load(args.other) if args.other else None
    kind = args.kind or default_kind(data, other)
    if kind not in KINDS:
        raise UserInputError(f"--kind must be one of {', '.join(KINDS)} (got {kind!r})")
    if args.movie and geometry(data) == "particles":
        raise UserInputError(f"--movie: {args.file!r} has no /density to animate (a particle "
                             "file)")
    path = _image_path(Path(args.file), kind, args.output, args.format)
    _check_dir(path)
    fig = make_figure(data, kind, other)
    _save(fig, path)
    print(f"wrote {path}")
    if args.movie:
        movie = make_movie(data, None if args.output is None else path)
        if movie is None:
            print("fokkerplanck: movie skipped: no animation encoder is available (install "
                  "ffmpeg for MP4, or Pillow for GIF)", file=sys.stderr)
        else:
            print(f"wrote {movie}")
    return 0
