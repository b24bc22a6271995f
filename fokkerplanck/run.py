"""The one driver loop: build the problem from a configuration, march, record, report.

``solve(config)`` validates everything that depends on more than one section (the data's
dimension against the grid, the initial mean/std lengths, the output path) *before* any
computation, then loops over the save times: advance (compiled, in chunks so that progress
and Ctrl-C stay responsive) → guards → diagnostics → append one snapshot to the HDF5 file.
"""
from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .config import Config, load_config
from .data import Data, data_from_config
from .errors import InstabilityError, UserInputError
from .grids import BoxGrid
from .io import Recorder, check_writable
from .models import NoisyGDModel

__all__ = ["Result", "solve", "save_times", "build_noisy_gd", "SOLVERS"]

#: snapshot quantities of PDE (3.4), in file order
NOISY_GD_DIAGNOSTICS = ("loss", "mass", "min_density", "kl", "free_energy", "ntk_lambda_min")


@dataclass
class Result:
    """What a run produced (also on disk at :attr:`path`, when an output was written)."""

    config: Config
    time: np.ndarray
    diagnostics: dict[str, np.ndarray]
    density: np.ndarray
    grid: Any
    prediction: np.ndarray | None = None
    path: Path | None = None
    stats: dict[str, Any] = field(default_factory=dict)


def save_times(t_end: float, save_every: float) -> np.ndarray:
    """0, Δ, 2Δ, … up to t_end, with t_end always included (and no near-duplicate)."""
    k = int(math.floor(t_end / save_every * (1 + 1e-12)))
    times = save_every * np.arange(k + 1)
    times = times[times < t_end * (1 - 1e-12)]
    return np.append(times, t_end)


def _vector(section: str, key: str, value, length: int) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(value, float))
    if arr.size == 1:
        return np.full(length, float(arr[0]))
    if arr.size != length:
        raise UserInputError(f"[{section}] {key} needs 1 or {length} values (one per axis "
                             f"theta.., u), got {arr.size}")
    return arr


@dataclass
class NoisyGDProblem:
    """Everything needed to run (3.4): validated, nothing computed yet."""

    config: Config
    data: Data
    model: NoisyGDModel
    grid: BoxGrid
    mean: np.ndarray
    std: np.ndarray


def build_noisy_gd(config: Config) -> NoisyGDProblem:
    """Cross-section validation of a ``kind = "noisy-gd"`` configuration."""
    data = data_from_config(config)
    d = data.dim
    if d not in (1, 2):
        raise UserInputError(f"[data] x has d = {d} columns; PDE (3.4) is solved for d = 1 or 2")
    cells = config.grid.cells
    if len(cells) != d + 1:
        raise UserInputError(f"[grid] cells needs {d + 1} entries (theta axes then u) for "
                             f"d = {d}, got {len(cells)}")
    if min(cells) < 3:
        raise UserInputError(f"[grid] cells must be >= 3 per axis (got {cells})")
    half_width = _vector("grid", "half_width", config.grid.half_width, d + 1)
    mean = _vector("initial", "mean", config.initial.mean, d + 1)
    std = _vector("initial", "std", config.initial.std, d + 1)
    if np.any(np.abs(mean) >= half_width):
        raise UserInputError("[initial] mean must lie inside the box [-half_width, half_width]")
    if config.time.save_every > config.time.t_end:
        raise UserInputError(f"[time] save_every ({config.time.save_every}) must not exceed "
                             f"t_end ({config.time.t_end})")
    model = NoisyGDModel(data, config.model.activation, config.model.alpha, config.model.lam)
    grid = BoxGrid.for_state(d, cells, half_width)
    return NoisyGDProblem(config, data, model, grid, mean, std)


class _Progress:
    """A tqdm bar over simulated time (shown on terminals only, silenced by ``quiet``)."""

    def __init__(self, t0: float, t1: float, enabled: bool | None, label: str):
        from tqdm.auto import tqdm

        disable = None if enabled is None else not enabled
        self._bar = tqdm(total=t1 - t0, disable=disable, unit="t", desc=label, leave=False,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| t={n:.4g}/{total:.4g} "
                                    "[{elapsed}<{remaining}]")
        self._t = t0

    def update(self, t: float) -> None:
        self._bar.update(t - self._t)
        self._t = t

    def close(self) -> None:
        self._bar.close()


def _check_state(t: float, density: np.ndarray, mass: float, mass0: float) -> None:
    """Invariant guards: finite, non-negative (beyond round-off), mass conserved."""
    if not np.isfinite(density).all():
        raise InstabilityError(f"non-finite density at t = {t:.6g}: the time step exceeded "
                               "the stability bound or the drift blew up")
    scale = float(np.abs(density).max())
    if density.min() < -1e-12 * scale:
        raise InstabilityError(f"negative density {density.min():.3g} at t = {t:.6g}: the time "
                               "step exceeded the positivity bound (lower [solver] cfl)")
    if abs(mass - mass0) > 1e-10 * abs(mass0):
        raise InstabilityError(f"mass drifted from {mass0:.15g} to {mass:.15g} at t = {t:.6g}")


def _solve_noisy_gd(config: Config, output: Path | None, progress: bool | None) -> Result:
    from solvers.finite_volume import FiniteVolumeScheme

    prob = build_noisy_gd(config)
    if output is not None:
        check_writable(output)
    dt_max = config.solver.dt_max if config.solver.dt_max is not None else np.inf
    scheme = FiniteVolumeScheme(prob.model, prob.grid, config.solver.stepper, config.solver.cfl,
                                dt_max)
    state = scheme.initial_state(prob.mean, prob.std)
    times = save_times(config.time.t_end, config.time.save_every)
    model, grid = prob.model, prob.grid
    fields = {"density": grid.shape, "prediction": (prob.data.n,)}
    fields.update({f"diagnostics/{name}": () for name in NOISY_GD_DIAGNOSTICS})
    history: dict[str, list] = {name: [] for name in (*NOISY_GD_DIAGNOSTICS, "prediction")}
    recorder = None
    if output is not None:
        recorder = Recorder(
            output, config.to_toml(),
            grid={name: c for name, c in zip(grid.names, grid.centres)},
            fields=fields, static={"data/x": prob.data.x, "data/y": prob.data.y},
            attrs={"problem": "noisy-gd", "method": "finite-volume"})
    mass0 = grid.integrate(state.density)

    def record(t):
        diag = model.diagnostics(state.density, grid)
        _check_state(t, state.density, diag["mass"], mass0)
        for name in history:
            history[name].append(diag[name])
        if recorder is not None:
            row = {"density": state.density, "prediction": diag["prediction"]}
            row.update({f"diagnostics/{k}": diag[k] for k in NOISY_GD_DIAGNOSTICS})
            recorder.append(t, row)

    cells = int(np.prod(grid.shape))
    chunk = max(1, int(4e6 // cells))  # ~ 0.05-0.2 s of work between progress updates
    wall0 = _time.perf_counter()
    bar = _Progress(times[0], times[-1], progress, "solve")
    try:
        record(times[0])
        for t_next in times[1:]:
            while state.t < t_next:
                status = scheme.advance(state, t_next, max_steps=chunk)
                if status != 0:
                    raise InstabilityError(f"the drift became non-finite at t = {state.t:.6g} "
                                           "(blow-up of the nonlocal coupling)")
                bar.update(state.t)
            record(t_next)
    finally:
        bar.close()
        if recorder is not None:
            recorder.close()
    return Result(config=config, time=times,
                  diagnostics={k: np.array(history[k]) for k in NOISY_GD_DIAGNOSTICS},
                  prediction=np.array(history["prediction"]), density=state.density,
                  grid=grid, path=output,
                  stats={"steps": state.steps, "rejected": state.rejected,
                         "wall_time": _time.perf_counter() - wall0})


#: (model kind, method) -> runner(config, output path or None, progress) -> Result
SOLVERS: dict[tuple[str, str], Callable[[Config, Path | None, bool | None], Result]] = {
    ("noisy-gd", "finite-volume"): _solve_noisy_gd,
}


def solve(config: Config | str | Path | None = None, output: str | Path | None = "config",
          progress: bool | None = False) -> Result:
    """Solve the problem a configuration describes.

    Parameters
    ----------
    config : Config, path or None
        A validated :class:`~fokkerplanck.config.Config`, a TOML path, or None for the
        built-in default example.
    output : path, None or "config"
        HDF5 output path; ``"config"`` (default) uses ``[output] path``; None writes nothing.
    progress : bool or None
        Show a progress bar (None: only on a terminal).
    """
    if not isinstance(config, Config):
        config = load_config(config)
    if isinstance(output, str) and output == "config":
        output = config.output.path
    output = None if output is None else Path(output)
    key = (config.model.kind, config.solver.method)
    if key not in SOLVERS:
        raise UserInputError(f"[solver] method {key[1]!r} is not available for "
                             f"[model] kind {key[0]!r}")
    return SOLVERS[key](config, output, progress)
