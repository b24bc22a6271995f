"""``fokkerplanck simulate``: train the finite-width network whose mean-field limit is the PDE.

The same configuration as ``solve`` (``[model]``, ``[data]``, ``[initial]``, ``[time]``) plus
``[particles] count, step, seed, save_particles``.  The simulator is looked up in
:data:`SIMULATORS` by ``[model] kind``, so every problem can plug its own in with
:func:`register_simulator`.  Time is t = k η (:mod:`solvers.particles`); every save time
must be a multiple of ``[particles] step``.

File layout of a particle run (same conventions as :mod:`fokkerplanck.io`)::

    /time                     (T,)          saved times t = k η
    /prediction               (T, n)        f_m(x_i)
    /diagnostics/loss         (T,)          (1/n) ∑_i (f_m(x_i) − y_i)²
    /diagnostics/mean_sq_theta, mean_sq_u   (T,)   (1/m) ∑_j |θ_j|², (1/m) ∑_j u_j²
    /solver/steps             (T,)          k
    /particles                (T, m, d+1)   neurons, columns (θ_1, …, θ_d, u); only with
                                            save_particles (dimensions time, neuron, component)
    /rng_state                (T,)          JSON of the PCG64 state after the snapshot's step
    /data/x (n, d), /data/y (n,)
    attributes of /: config, version, created, problem = "noisy-gd", method = "particles",
                     count, step, seed, components ("theta1 ... u")

Resuming (``simulate(..., resume=True)``) continues from the last complete snapshot: its
neurons (so ``save_particles = true`` is needed), its ``/rng_state`` and its step count;
the continuation is bit-for-bit the uninterrupted run.  By hand::

    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = json.loads(f["rng_state"][k])
    # + the neurons f["particles"][k] at step f["solver/steps"][k]
"""
from __future__ import annotations

import json
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import h5py
import numpy as np

from .config import Config
from .errors import InstabilityError, UserInputError
from .io import Recorder, check_writable
from .run import build_noisy_gd, drive, open_for_resume, save_times

__all__ = ["SimulationResult", "simulate", "register_simulator", "SIMULATORS",
           "default_output", "step_counts", "cli_simulate"]

#: on_save(t, snapshot): the snapshot maps the file's dataset names to this save's values
SaveCallback = Callable[[float, Mapping[str, Any]], None]

#: activation tables larger than this (bytes) are refused with a clear message
MAX_TABLE_BYTES = 4 * 2 ** 30


@dataclass
class SimulationResult:
    """What a particle run produced (also on disk at :attr:`path` when written)."""

    config: Config
    time: np.ndarray
    prediction: np.ndarray
    diagnostics: dict[str, np.ndarray]
    particles: np.ndarray                       # final neurons (m, d+1)
    snapshots: np.ndarray | None = None         # (T, m, d+1) with save_particles
    path: Path | None = None
    stats: dict[str, Any] = field(default_factory=dict)


def default_output(config: Config) -> Path:
    """``[output] path`` with ``-particles`` appended to the stem (never the PDE's file)."""
    path = Path(config.output.path)
    return path.with_name(f"{path.stem}-particles{path.suffix or '.h5'}")


def step_counts(times: np.ndarray, step: float) -> np.ndarray:
    """k_s = t_s/η for every save time; raises unless each t_s is a multiple of η."""
    k = np.rint(np.asarray(times, float) / step)
    bad = np.abs(k * step - times) > 1e-9 * np.maximum(1.0, np.abs(times))
    if bad.any():
        t_bad = float(times[np.argmax(bad)])
        raise UserInputError(f"[particles] step = {step:g} must divide every save time "
                             f"(t = {t_bad:g} is not a multiple): choose step so that "
                             "[time] save_every and t_end are multiples of it")
    return k.astype(np.int64)


class _ParticleRecorder(Recorder):
    """The HDF5 recorder plus ``/rng_state`` (one JSON string per snapshot, written first)."""

    def _write_header(self, *args, **kwargs):
        super()._write_header(*args, **kwargs)
        ds = self._file.create_dataset("rng_state", shape=(0,), maxshape=(None,),
                                       chunks=(64,), dtype=h5py.string_dtype())
        ds.dims[0].attach_scale(self._file["time"])
        self._file.flush()

    def append(self, t: float, values: Mapping[str, Any]) -> None:
        if "rng_state" not in self._fields:   # (a resumed recorder lists it as a field)
            ds = self._file["rng_state"]
            k = self.count
            ds.resize(k + 1, axis=0)
            ds[k] = values["rng_state"]
        super().append(t, values)


_DIAGNOSTICS = ("loss", "mean_sq_theta", "mean_sq_u")


def _simulate_noisy_gd(config: Config, output: Path | None, progress: bool | None,
                       on_save: SaveCallback | None = None,
                       resume: bool = False) -> SimulationResult:
    from solvers.particles import ParticleScheme

    prob = build_noisy_gd(config)
    part = config.particles
    m, eta, seed = part.count, part.step, part.seed
    n, d = prob.data.n, prob.data.dim
    times = save_times(config.time.t_end, config.time.save_every)
    ks = step_counts(times, eta)
    table = ParticleScheme.table_bytes(m, n)
    if table > MAX_TABLE_BYTES:
        raise UserInputError(f"[particles] count = {m} needs a {table / 2 ** 30:.1f} GiB table "
                             f"of activations for n = {n} points (limit "
                             f"{MAX_TABLE_BYTES / 2 ** 30:.0f} GiB)")
    if output is not None and not resume:
        check_writable(output)
    scheme = ParticleScheme(prob.model, m, eta)
    rng = np.random.Generator(np.random.PCG64(seed))
    history: dict[str, list] = {"prediction": [], **{k: [] for k in _DIAGNOSTICS}}
    recorder = None
    if resume:
        recorder = open_for_resume(output, config)
        last = recorder.last()
        if "rng_state" not in last or not ({"particles", "checkpoint/particles"} & set(last)):
            recorder.close()
            raise UserInputError(f"--resume {str(output)!r} holds no neuron state to "
                                 "continue from")
        state_text = last["rng_state"]
        rng.bit_generator.state = json.loads(state_text.decode() if isinstance(state_text, bytes)
                                             else state_text)
        neurons = last["particles"] if "particles" in last else last["checkpoint/particles"]
        state = scheme.state_from_particles(neurons, t=float(last["time"]),
                                            steps=int(round(last["solver/steps"])))
        history["prediction"] = list(recorder.column("prediction"))
        for k in _DIAGNOSTICS:
            history[k] = list(recorder.column(f"diagnostics/{k}"))
    else:
        state = scheme.initial_state(prob.mean, prob.std, rng)
        if output is not None:
            fields = {"prediction": (n,), "solver/steps": ()}
            fields.update({f"diagnostics/{k}": () for k in _DIAGNOSTICS})
            coords = {"sample": np.arange(n), "input": np.arange(1, d + 1)}
            dims = {"prediction": ("sample",), "data/x": ("sample", "input"),
                    "data/y": ("sample",)}
            if part.save_particles:
                fields["particles"] = (m, d + 1)
                coords.update({"neuron": np.arange(m), "component": np.arange(d + 1)})
                dims["particles"] = ("neuron", "component")
            recorder = _ParticleRecorder(
                output, config.to_toml(), grid={}, fields=fields,
                static={"data/x": prob.data.x, "data/y": prob.data.y},
                attrs={"problem": "noisy-gd", "method": "particles", "count": m, "step": eta,
                       "seed": seed, "components": " ".join(prob.grid.names)},
                coords=coords, dims=dims,
                checkpoints={} if part.save_particles else {"checkpoint/particles": (m, d + 1)})
    y = prob.data.y
    keep = part.save_particles
    snapshots = [] if keep else None

    def record(t):
        f = scheme.prediction(state)
        if not np.isfinite(f).all():
            raise InstabilityError(f"the network output became non-finite at t = {t:.6g}: "
                                   f"[particles] step = {eta:g} is too large for this problem")
        zt = state.zt
        diag = {"loss": float(np.mean((f - y) ** 2)),
                "mean_sq_theta": float(np.mean(np.sum(zt[:-1] ** 2, axis=0))),
                "mean_sq_u": float(np.mean(zt[-1] ** 2))}
        history["prediction"].append(f)
        for k, v in diag.items():
            history[k].append(v)
        row = {"prediction": f, "particles": state.particles, "solver/steps": state.steps,
               "checkpoint/particles": state.particles,
               "rng_state": json.dumps(rng.bit_generator.state)}
        row.update({f"diagnostics/{k}": v for k, v in diag.items()})
        if snapshots is not None:
            snapshots.append(state.particles.copy())
        if recorder is not None:
            recorder.append(t, row)
        if on_save is not None:
            on_save(t, row)

    per_step = scheme.evaluations_per_step
    chunk = max(1, int(2e7 // per_step))    # ~0.1 s of work between progress updates
    steps0 = state.steps

    def advance(t_next):
        k_next = int(ks[np.argmin(np.abs(times - t_next))])
        todo = int(min(chunk, k_next - state.steps))
        if scheme.advance(state, todo, rng) != 0:
            raise InstabilityError(f"the network output became non-finite at t = {state.t:.6g}: "
                                   f"[particles] step = {eta:g} is too large for this problem")
        if state.steps == k_next:
            state.t = float(t_next)           # k η up to round-off: the save time itself
        return state.t

    wall0 = _time.perf_counter()
    drive(times, state.t, advance, record, recorder, output, progress, f"simulate m={m}",
          "simulate", resume)
    wall = _time.perf_counter() - wall0
    done = state.steps - steps0
    return SimulationResult(
        config=config, time=np.array(times[:len(history["loss"])]),
        prediction=np.array(history["prediction"]),
        diagnostics={k: np.array(history[k]) for k in _DIAGNOSTICS},
        particles=state.particles.copy(),
        snapshots=None if snapshots is None else np.array(snapshots), path=output,
        stats={"steps": state.steps, "wall_time": wall, "evaluations": done * per_step,
               "evaluations_per_second": done * per_step / max(wall, 1e-12)})


#: [model] kind -> simulator(config, output, progress, on_save, resume) -> SimulationResult
SIMULATORS: dict[str, Callable[..., SimulationResult]] = {"noisy-gd": _simulate_noisy_gd}


def register_simulator(kind: str, simulator: Callable[..., SimulationResult]) -> None:
    """Make :func:`simulate` run ``simulator`` for ``[model] kind = kind``.

    Contract: ``simulator(config, output, progress, on_save=None, resume=False)`` writes the
    layout of this module's docstring (``/time``, ``/prediction``, ``/diagnostics/<name>``,
    ``/particles`` with ``save_particles``; root attributes ``problem``, ``method``,
    ``count``), calls ``on_save(t, snapshot)`` at every saved time with those dataset names
    as keys (``snapshot["particles"]`` included even when not saved, so that ``validate``
    can compute distances), and returns a :class:`SimulationResult`.
    """
    SIMULATORS[kind] = simulator


def _simulate_isotropic(config: Config, output: Path | None, progress: bool | None,
                        on_save: SaveCallback | None = None,
                        resume: bool = False) -> SimulationResult:
    from .isotropic import simulate_isotropic

    return simulate_isotropic(config, output, progress, on_save=on_save, resume=resume)


register_simulator("isotropic-gaussians", _simulate_isotropic)


def simulate(config: Config | str | Path | None = None, output: str | Path | None = "config",
             progress: bool | None = False, on_save: SaveCallback | None = None,
             resume: bool = False) -> SimulationResult:
    """Train the finite network a configuration describes.

    Parameters
    ----------
    config : Config, path or None
        Validated configuration, TOML path, or None: the built-in default example (or, with
        ``resume``, the configuration stored in ``output``).
    output : path, None or "config"
        HDF5 output; ``"config"`` (default) uses :func:`default_output`; None writes nothing.
    progress : bool or None
        Progress bar (None: only on a terminal).
    on_save : callable, optional
        ``on_save(t, snapshot)`` at each saved time; ``snapshot["particles"]`` is a view of
        the live state (copy it to keep it).
    resume : bool
        Continue the run in ``output`` from its last complete snapshot (it must hold the
        neurons: ``save_particles = true``); ``config`` may differ only in ``[time] t_end``.

    Raises
    ------
    UserInputError
        Bad configuration or output path (before anything is computed).
    InstabilityError
        The network output became non-finite (step too large).
    Interrupted
        Ctrl-C, honoured between compiled chunks (complete snapshots are kept).
    """
    from .run import resolve_config_and_output

    config, output = resolve_config_and_output(config, output, resume, default_output)
    kind = config.model.kind
    if kind not in SIMULATORS:
        raise UserInputError(f"simulate is not available for [model] kind {kind!r} "
                             f"(available: {', '.join(map(repr, SIMULATORS))})")
    return SIMULATORS[kind](config, output, progress, on_save=on_save, resume=resume)


def cli_simulate(args) -> int:
    """``fokkerplanck simulate [CONFIG] [-o OUT.h5] [--set …] [-q] [--resume OUT.h5]``."""
    from .cli import _resolve_run

    config, output, resume = _resolve_run(args, default_output)
    result = simulate(config, output, progress=False if args.quiet else None, resume=resume)
    if not args.quiet:
        from .cli import headline

        s = result.stats
        rate = (f" ({s['evaluations_per_second'] / 1e6:.0f} M neuron x point evaluations/s)"
                if "evaluations_per_second" in s else "")
        print(f"wrote {output}: {len(result.time)} snapshots to t = {result.time[-1]:g}, "
              f"m = {config.particles.count}, {s['steps']} steps of {config.particles.step:g} "
              f"in {s['wall_time']:.2f} s{rate}; {headline(result.diagnostics)}")
    return 0
