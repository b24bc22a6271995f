"""The one driver loop: build the problem from a configuration, march, record, report.

``solve(config)`` validates everything that depends on more than one section (the data's
dimension against the grid, the initial mean/std lengths, the output path) *before* any
computation, then loops over the save times: advance (compiled, in chunks so that progress
and Ctrl-C stay responsive) → guards → diagnostics → append one snapshot to the HDF5 file.
"""
from __future__ import annotations

import math
import signal
import threading
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .config import Config, load_config
from .data import Data, data_from_config
from .errors import InstabilityError, Interrupted, UserInputError
from .grids import BoxGrid
from .io import Recorder, check_writable, write_xdmf
from .models import NoisyGDModel

__all__ = ["Result", "solve", "save_times", "build_noisy_gd", "SOLVERS", "march", "drive",
           "StopFlag",
           "check_state", "open_for_resume", "stored_config", "resume_hint"]

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

    def to_xarray(self):
        """An :class:`xarray.Dataset` with named dimensions.

        With an output file, every saved snapshot (density included) read from it; without
        one, the in-memory history: diagnostics and predictions over time and the final
        density.
        """
        if self.path is not None and Path(self.path).exists():
            from .io import open_xarray

            return open_xarray(self.path)
        import xarray as xr

        names = getattr(self.grid, "names", ("r",))
        coords = {"time": self.time}
        coords.update({name: c for name, c in zip(names, self.grid.centres)})
        data = {name: ("time", values) for name, values in self.diagnostics.items()}
        if self.prediction is not None:
            data["prediction"] = (("time", "sample"), self.prediction)
        data["final_density"] = (names, self.density)
        return xr.Dataset(data, coords=coords, attrs={"config": self.config.to_toml()})


def save_times(t_end: float, save_every: float) -> np.ndarray:
    """0, Δ, 2Δ, … up to t_end, with t_end always included (and no near-duplicate)."""
    k = int(math.floor(t_end / save_every * (1 + 1e-12)))
    times = save_every * np.arange(k + 1)
    times = times[times < t_end * (1 - 1e-12)]
    return np.append(times, t_end)


#: largest grid accepted (about 10 GB of working arrays)
MAX_CELLS = 2 * 10 ** 8
#: largest number of snapshots accepted
MAX_SNAPSHOTS = 10 ** 6


def check_snapshot_count(config: Config) -> None:
    """Refuse t_end/save_every ratios that would write an absurd number of snapshots."""
    count = config.time.t_end / config.time.save_every
    if count > MAX_SNAPSHOTS:
        raise UserInputError(f"[time] save_every = {config.time.save_every:g} gives "
                             f"{count:.3g} snapshots up to t_end; at most {MAX_SNAPSHOTS:.0e}")


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
    if math.prod(cells) > MAX_CELLS:
        raise UserInputError(f"[grid] cells {cells} make {math.prod(cells):.3g} cells; at most "
                             f"{MAX_CELLS:.0e} fit in memory")
    check_snapshot_count(config)
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


class StopFlag:
    """Turn the first Ctrl-C (SIGINT) into a request honoured at the next safe point.

    The driver checks :attr:`requested` between compiled chunks and after each snapshot; a
    second Ctrl-C restores Python's default behaviour (immediate KeyboardInterrupt).
    Outside the main thread this is a no-op.
    """

    def __init__(self):
        self.requested = False
        self._old = None

    def _handler(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._old)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


#: relative tolerance of the free-energy guard (Q may not rise by more between snapshots)
FREE_ENERGY_TOLERANCE = 1e-9
#: relative tolerance of the mass guard
MASS_TOLERANCE = 1e-10


def check_state(t: float, density: np.ndarray, mass: float, mass0: float,
                free_energy: float | None = None, previous: float | None = None,
                hint: str = "") -> None:
    """Invariant guards: finite, non-negative beyond round-off, mass kept, Q not rising.

    Raises :class:`InstabilityError` (exit code 3) naming the time, the quantity and the
    likely cause; called *before* a snapshot is written, so nothing bad reaches the file.
    """
    cause = hint or "the time step exceeded the stability bound"
    if not np.isfinite(density).all() or not np.isfinite(mass):
        raise InstabilityError(f"non-finite density at t = {t:.6g}: {cause}")
    scale = float(np.abs(density).max())
    if density.min() < -1e-12 * scale:
        raise InstabilityError(f"negative density {density.min():.3g} at t = {t:.6g}: {cause}")
    if abs(mass - mass0) > MASS_TOLERANCE * abs(mass0):
        raise InstabilityError(f"mass drifted from {mass0:.15g} to {mass:.15g} at "
                               f"t = {t:.6g}: {cause}")
    if free_energy is not None and previous is not None and (
            not np.isfinite(free_energy)
            or free_energy > previous + FREE_ENERGY_TOLERANCE * max(1.0, abs(previous))):
        raise InstabilityError(f"free energy rose from {previous:.12g} to {free_energy:.12g} "
                               f"at t = {t:.6g}: {cause}")


#: keys that may differ between a run and its resumption
RESUMABLE_CHANGES = {("time", "t_end"), ("output", "path")}


def _config_differences(stored: Config, given: Config) -> list[str]:
    """Keys whose values differ, ignoring those a resumed run may change."""
    a, b = stored.to_dict(), given.to_dict()
    diffs = []
    for section in sorted(set(a) | set(b)):
        for key in sorted(set(a.get(section, {})) | set(b.get(section, {}))):
            if (section, key) in RESUMABLE_CHANGES:
                continue
            if a.get(section, {}).get(key) != b.get(section, {}).get(key):
                diffs.append(f"[{section}] {key}")
    return diffs


def stored_config(path: Path) -> Config:
    """The resolved configuration stored in an output file."""
    from .io import open_for_reading

    if not Path(path).is_file():
        raise UserInputError(f"{str(path)!r} does not exist")
    try:
        with open_for_reading(path) as f:
            text = f.attrs["config"]
    except (OSError, KeyError):
        raise UserInputError(f"{str(path)!r} is not a fokkerplanck output file") from None
    return load_config(text=text if isinstance(text, str) else text.decode())


def open_for_resume(path: Path, config: Config) -> Recorder:
    """Reopen ``path`` for appending after checking ``config`` against the stored one."""
    diffs = _config_differences(stored_config(path), config)
    if diffs:
        raise UserInputError(f"--resume {str(path)!r} was made with a different configuration "
                             f"({', '.join(diffs[:3])} differ)")
    recorder = Recorder.resume(path)
    if recorder.count == 0:
        recorder.close()
        raise UserInputError(f"--resume {str(path)!r} holds no complete snapshot")
    return recorder


def march(times, t_start: float, advance, record, progress, label: str, stop: StopFlag,
          where: Callable[[], str]) -> None:
    """The save loop shared by the solvers: advance to each save time > t_start, record it.

    ``advance(t_next) -> t`` makes progress towards ``t_next`` and returns the time reached
    (it may stop short, so that the bar moves and Ctrl-C is honoured between chunks);
    ``record(t)`` checks and writes one snapshot; ``where()`` describes what was kept.
    """
    bar = _Progress(t_start, times[-1], progress, label)
    try:
        t = t_start
        for t_next in times[times > t_start]:
            while t < t_next:
                t = advance(t_next)
                bar.update(t)
                if stop.requested:
                    raise Interrupted(f"interrupted at t = {t:.6g}; {where()}")
            record(t_next)
            if stop.requested:
                raise Interrupted(f"interrupted at t = {t_next:.6g}; {where()}")
    finally:
        bar.close()


def drive(times, t_start: float, advance, record, recorder, output: Path | None,
          progress, label: str, verb: str, resume: bool) -> None:
    """A whole run's save loop: the first snapshot (unless resuming), :func:`march` with
    Ctrl-C honoured at safe points, then the file closed and its XDMF sidecar written
    (whatever happened)."""
    try:
        with StopFlag() as stop:
            if not resume:
                record(times[0])
            march(times, t_start, advance, record, progress, label, stop,
                  resume_hint(output, recorder, verb))
    finally:
        if recorder is not None:
            recorder.close()
            if output is not None and output.exists():  # absent if no snapshot was completed
                write_xdmf(output)


def resume_hint(output: Path | None, recorder, verb: str) -> Callable[[], str]:
    """The one-line 'what was kept and how to continue' message of an interrupted run."""
    def where():
        if output is None or recorder is None:
            return "nothing was saved (no output file)"
        return (f"{recorder.count} complete snapshots kept in {output}; continue with: "
                f"fokkerplanck {verb} --resume {output}")
    return where


def _solve_noisy_gd(config: Config, output: Path | None, progress: bool | None,
                    resume: bool = False) -> Result:
    from solvers.finite_volume import FiniteVolumeScheme

    prob = build_noisy_gd(config)
    if output is not None and not resume:
        check_writable(output)
    dt_max = config.solver.dt_max if config.solver.dt_max is not None else np.inf
    dt_fixed = config.solver.dt if config.solver.dt is not None else 0.0
    scheme = FiniteVolumeScheme(prob.model, prob.grid, config.solver.stepper, config.solver.cfl,
                                dt_max, dt_fixed)
    times = save_times(config.time.t_end, config.time.save_every)
    model, grid = prob.model, prob.grid
    names = (*NOISY_GD_DIAGNOSTICS, "prediction")
    history: dict[str, list] = {name: [] for name in names}
    state = scheme.initial_state(prob.mean, prob.std)
    recorder = None
    if resume:
        recorder = open_for_resume(output, config)
        last = recorder.last()
        state.t = float(last["time"])
        state.density = np.ascontiguousarray(last["density"], dtype=float)
        state.shrink = float(last["solver/shrink"])
        state.steps = int(last["solver/steps"])
        for name in NOISY_GD_DIAGNOSTICS:
            history[name] = list(recorder.column(f"diagnostics/{name}"))
        history["prediction"] = list(recorder.column("prediction"))
        mass0 = history["mass"][0]
    else:
        mass0 = grid.integrate(state.density)
        if output is not None:
            fields = {"density": grid.shape, "prediction": (prob.data.n,),
                      "solver/shrink": (), "solver/steps": ()}
            fields.update({f"diagnostics/{name}": () for name in NOISY_GD_DIAGNOSTICS})
            recorder = Recorder(
                output, config.to_toml(),
                grid={name: c for name, c in zip(grid.names, grid.centres)},
                fields=fields, static={"data/x": prob.data.x, "data/y": prob.data.y},
                attrs={"problem": "noisy-gd", "method": "finite-volume"},
                coords={"sample": np.arange(prob.data.n),
                        "input": np.arange(1, prob.data.dim + 1)},
                dims={"density": grid.names, "prediction": ("sample",),
                      "data/x": ("sample", "input"), "data/y": ("sample",)})
    hint = ("the forced [solver] dt exceeds the stability bound" if dt_fixed > 0
            else "the time step exceeded the stability bound")

    def record(t):
        diag = model.diagnostics(state.density, grid)
        previous = history["free_energy"][-1] if history["free_energy"] else None
        check_state(t, state.density, diag["mass"], mass0, diag["free_energy"], previous, hint)
        for name in names:
            history[name].append(diag[name])
        if recorder is not None:
            row = {"density": state.density, "prediction": diag["prediction"],
                   "solver/shrink": state.shrink, "solver/steps": state.steps}
            row.update({f"diagnostics/{k}": diag[k] for k in NOISY_GD_DIAGNOSTICS})
            recorder.append(t, row)

    cells = int(np.prod(grid.shape))
    chunk = max(1, int(4e6 // cells))  # ~ 0.05-0.2 s of work between progress updates

    def advance(t_next):
        status = scheme.advance(state, t_next, max_steps=chunk)
        if status != 0:
            raise InstabilityError(f"the drift became non-finite at t = {state.t:.6g}: {hint}")
        return state.t

    wall0 = _time.perf_counter()
    drive(times, state.t, advance, record, recorder, output, progress, "solve",
          "solve", resume)
    return Result(config=config, time=np.array(times[:len(history["loss"])]),
                  diagnostics={k: np.array(history[k]) for k in NOISY_GD_DIAGNOSTICS},
                  prediction=np.array(history["prediction"]), density=state.density,
                  grid=grid, path=output,
                  stats={"steps": state.steps, "rejected": state.rejected,
                         "wall_time": _time.perf_counter() - wall0})


def _solve_isotropic(config: Config, output: Path | None, progress: bool | None,
                     resume: bool = False) -> Result:
    from .isotropic import solve_isotropic

    return solve_isotropic(config, output, progress, resume)


def _solve_isotropic_spectral(config: Config, output: Path | None, progress: bool | None,
                              resume: bool = False) -> Result:
    from .isotropic import solve_isotropic_spectral

    return solve_isotropic_spectral(config, output, progress, resume)


#: spectral: cell averages may dip below 0 by the truncation error, not more than this
#: fraction of max p (beyond it the run is under-resolved)
SPECTRAL_NEGATIVE_TOLERANCE = 1e-7


def _spectral_modes(config: Config, d: int) -> tuple[int, ...] | None:
    """``[solver] modes``: unset (None: solvers.spectral.DEFAULT_MODES, 48 per θ axis and 24
    for u), one value for every axis, or d + 1 values (θ…, u)."""
    modes = config.solver.modes
    if modes is None:
        return None
    if len(modes) == 1:
        modes = list(modes) * (d + 1)
    if len(modes) != d + 1:
        raise UserInputError(f"[solver] modes needs 1 or {d + 1} entries (theta axes then u) "
                             f"for d = {d}, got {len(modes)}")
    if min(modes[:-1]) < 2 or modes[-1] < 3:
        raise UserInputError(f"[solver] modes must be >= 2 per theta axis and >= 3 for u "
                             f"(got {list(modes)})")
    if math.prod(modes) > MAX_CELLS // 64:
        raise UserInputError(f"[solver] modes {list(modes)} are too many "
                             f"({math.prod(modes):.3g} coefficients)")
    return tuple(int(m) for m in modes)


def _solve_noisy_gd_spectral(config: Config, output: Path | None, progress: bool | None,
                             resume: bool = False) -> Result:
    """(3.4) by the Hermite–Galerkin spectral method (:mod:`solvers.spectral`).

    Same file layout as the finite-volume runner ([grid] is the output grid: ``/density``
    holds exact cell averages of the spectral density), plus ``/coefficients`` (T, *modes),
    the Hermite coefficients of p/p_0 from which a run is resumed or re-sampled exactly.
    """
    from solvers.spectral import ETD_STEPPERS, SpectralScheme

    prob = build_noisy_gd(config)
    d = prob.data.dim
    stepper = config.solver.stepper or "etdrk4-b"
    if stepper not in ETD_STEPPERS:
        raise UserInputError(f"[solver] stepper {stepper!r} is not available with method "
                             "'spectral' (use " + " or ".join(map(repr, ETD_STEPPERS))
                             + ", or leave it unset)")
    if config.solver.dt is not None:
        raise UserInputError("[solver] dt is not available with method 'spectral' (its steps "
                             "are error-controlled: set [solver] rtol)")
    if np.any(prob.std >= math.sqrt(2.0)):
        raise UserInputError(f"[initial] std must be < sqrt(2) per axis with method 'spectral' "
                             f"(got {prob.std.tolist()}): the Hermite series of p/p0 diverges")
    modes = _spectral_modes(config, d)
    if output is not None and not resume:
        check_writable(output)
    dt_max = config.solver.dt_max if config.solver.dt_max is not None else np.inf
    scheme = SpectralScheme(prob.model, modes, stepper, config.solver.rtol, dt_max)
    times = save_times(config.time.t_end, config.time.save_every)
    grid = prob.grid
    names = (*NOISY_GD_DIAGNOSTICS, "prediction")
    history: dict[str, list] = {name: [] for name in names}
    state = scheme.initial_state(prob.mean, prob.std)
    init_error = scheme.initial_truncation_error(prob.mean, prob.std)
    mode_names = tuple(f"mode_{name}" for name in grid.names)
    recorder = None
    if resume:
        recorder = open_for_resume(output, config)
        last = recorder.last()
        state = scheme.state_from_coefficients(last["coefficients"], float(last["time"]))
        state.dt_next = float(last["solver/dt_next"]) or None
        state.steps = int(last["solver/steps"])
        for name in NOISY_GD_DIAGNOSTICS:
            history[name] = list(recorder.column(f"diagnostics/{name}"))
        history["prediction"] = list(recorder.column("prediction"))
    elif output is not None:
        fields = {"density": grid.shape, "prediction": (prob.data.n,),
                  "coefficients": scheme.shape, "solver/dt_next": (), "solver/steps": ()}
        fields.update({f"diagnostics/{name}": () for name in NOISY_GD_DIAGNOSTICS})
        recorder = Recorder(
            output, config.to_toml(),
            grid={name: c for name, c in zip(grid.names, grid.centres)},
            fields=fields, static={"data/x": prob.data.x, "data/y": prob.data.y},
            attrs={"problem": "noisy-gd", "method": "spectral",
                   "basis": "p(z) = N(z; 0, I) * sum_k coefficients[k] * prod_j "
                            "He_{k_j}(z_j) / sqrt(k_j!), z = (theta1[, theta2], u), He = "
                            "probabilists' Hermite polynomials",
                   "initial_truncation_error": init_error},
            coords={"sample": np.arange(prob.data.n), "input": np.arange(1, d + 1),
                    **{m: np.arange(n) for m, n in zip(mode_names, scheme.shape)}},
            dims={"density": grid.names, "prediction": ("sample",),
                  "coefficients": mode_names,
                  "data/x": ("sample", "input"), "data/y": ("sample",)})
    hint = "increase [solver] modes or lower [solver] rtol"

    def record(t):
        if not np.isfinite(state.coefficients).all():
            raise InstabilityError(f"non-finite coefficients at t = {t:.6g}: {hint}")
        diag = scheme.diagnostics(state.coefficients, grid)
        dens = diag["density"]
        previous = history["free_energy"][-1] if history["free_energy"] else None
        # the truncated series may dip below 0 in the tails by its truncation error
        if dens.min() < -SPECTRAL_NEGATIVE_TOLERANCE * np.abs(dens).max():
            raise InstabilityError(f"negative density {dens.min():.3g} at t = {t:.6g} "
                                   f"(beyond the truncation level): {hint}")
        check_state(t, np.maximum(dens, 0.0), diag["mass"], 1.0, diag["free_energy"],
                    previous, hint)
        for name in names:
            history[name].append(diag[name])
        if recorder is not None:
            row = {"density": dens, "prediction": diag["prediction"],
                   "coefficients": state.coefficients, "solver/dt_next": state.dt_next or 0.0,
                   "solver/steps": state.steps}
            row.update({f"diagnostics/{k}": diag[k] for k in NOISY_GD_DIAGNOSTICS})
            recorder.append(t, row)

    def advance(t_next):
        if scheme.advance(state, t_next, max_steps=64) != 0:
            raise InstabilityError(f"the step size collapsed at t = {state.t:.6g} (non-finite "
                                   f"coupling): {hint}")
        return state.t

    wall0 = _time.perf_counter()
    drive(times, state.t, advance, record, recorder, output, progress, "solve",
          "solve", resume)
    return Result(config=config, time=np.array(times[:len(history["loss"])]),
                  diagnostics={k: np.array(history[k]) for k in NOISY_GD_DIAGNOSTICS},
                  prediction=np.array(history["prediction"]),
                  density=scheme.cell_averages(state.coefficients, grid), grid=grid,
                  path=output,
                  stats={"steps": state.steps, "rejected": state.rejected,
                         "rhs_evaluations": state.rhs_evaluations,
                         "initial_truncation_error": init_error,
                         "coefficients": state.coefficients,
                         "wall_time": _time.perf_counter() - wall0})


#: (model kind, method) -> runner(config, output path or None, progress, resume) -> Result
SOLVERS: dict[tuple[str, str], Callable[..., Result]] = {
    ("noisy-gd", "finite-volume"): _solve_noisy_gd,
    ("noisy-gd", "spectral"): _solve_noisy_gd_spectral,
    ("isotropic-gaussians", "finite-volume"): _solve_isotropic,
    ("isotropic-gaussians", "spectral"): _solve_isotropic_spectral,
}


def resolve_config_and_output(config, output, resume: bool, default_output
                              ) -> tuple[Config, Path | None]:
    """The (config, output path) of a run from the API's flexible arguments.

    ``config``: a Config, a TOML path, or None (the stored configuration when resuming,
    else the built-in default example); ``output``: a path, None (write nothing) or
    ``"config"`` (``default_output(config)``).  Resuming needs an output file.
    """
    if resume:
        if output is None or (isinstance(output, str) and output == "config"):
            raise UserInputError("resume needs the output file to continue")
        output = Path(output)
        if config is None:
            config = stored_config(output)
    if config is None:
        config = load_config()
    elif not isinstance(config, Config):
        config = load_config(config)
    if isinstance(output, str) and output == "config":
        output = default_output(config)
    return config, (None if output is None else Path(output))


def solve(config: Config | str | Path | None = None, output: str | Path | None = "config",
          progress: bool | None = False, resume: bool = False) -> Result:
    """Solve the problem a configuration describes.

    Parameters
    ----------
    config : Config, path or None
        A validated :class:`~fokkerplanck.config.Config`, a TOML path, or None: the built-in
        default example (or, with ``resume``, the configuration stored in ``output``).
    output : path, None or "config"
        HDF5 output path; ``"config"`` (default) uses ``[output] path``; None writes nothing.
    progress : bool or None
        Show a progress bar (None: only on a terminal).
    resume : bool
        Continue the run stored in ``output`` from its last complete snapshot.  A given
        ``config`` must match the stored one except for ``[time] t_end`` and
        ``[output] path``.  The continuation takes the same time steps as an uninterrupted
        run, so its result is the same.

    Raises
    ------
    UserInputError
        Bad configuration, data or output path (before anything is computed).
    InstabilityError
        A guard tripped (nothing non-finite or negative is written).
    Interrupted
        Ctrl-C, honoured at a safe point (a KeyboardInterrupt subclass).
    """
    config, output = resolve_config_and_output(config, output, resume,
                                               lambda cfg: cfg.output.path)
    key = (config.model.kind, config.solver.method)
    if key not in SOLVERS:
        raise UserInputError(f"[solver] method {key[1]!r} is not available for "
                             f"[model] kind {key[0]!r}")
    return SOLVERS[key](config, output, progress, resume)
