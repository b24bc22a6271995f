"""``fokkerplanck sweep``: many runs of one configuration with parameters changed, on Dask.

Sweep file (TOML)::

    base = "noisy-gd-1d"          # a built-in example name, or a config TOML (relative to
                                  # this file)
    output_dir = "alpha-lam"      # relative to this file; default: this file's stem
    overrides = ["grid.cells=[48,48]", "time.t_end=5"]   # applied to every run

    [grid]                        # cartesian product: 2 x 3 = 6 runs
    "model.alpha" = [1.0, 2.0]
    "model.lam" = [0.25, 0.5, 1.0]

or, instead of (or as well as) ``[grid]``, an explicit list::

    [[runs]]
    "model.alpha" = 1.0
    "model.activation" = "sigmoid"
    [[runs]]
    name = "wide"                 # optional; otherwise derived from the values
    "grid.cells" = [128, 128]

Keys are ``section.key`` as for ``--set`` (quoted, or written as dotted keys
``model.alpha = [...]``); values are TOML values, so a list-valued key takes a list of lists
in ``[grid]`` (``"grid.cells" = [[32, 32], [64, 64]]``).  With both ``[grid]`` and
``[[runs]]``, every listed run is combined with every grid point.

Each run's configuration is ``base`` + ``overrides`` + its own values, and ``[output] path``
is set to ``<output_dir>/<name>.h5``.  The name is derived from the run's values alone
(``alpha=1_lam=0.25``), so it does not change when other runs are added or reordered.  All
configurations are validated before anything runs: a bad key or value is one line naming
the run (exit code 2).

Execution.  Runs are Dask tasks (:func:`execute_run`, a top-level function, so it pickles
by reference): on a local cluster of ``--workers`` single-threaded worker *processes*
(default: one per core, at most one per run) or on an existing scheduler
(``--scheduler tcp://host:port``; its workers need this package and must see
``output_dir``).  Processes rather than threads because the compiled kernels hold the GIL:
two threads run two solves no faster than one.  Each worker writes its run's HDF5 file.

Restart safety.  A run counts as finished when its file exists, holds the run's
configuration (``[time] t_end`` aside) and its last complete snapshot is at ``t_end``:
it is not run again ("reused").  A file with fewer snapshots (a killed sweep) is continued
from its last complete snapshot with ``solve(..., resume=True)`` ("resumed"), which takes
the same steps as an uninterrupted run; an unreadable or empty file is replaced.  A file
made with a different configuration is never overwritten: that run fails with a message.
So re-running the same command after a crash, Ctrl-C or SIGKILL redoes only the unfinished
runs; raising ``time.t_end`` in ``overrides`` continues every run to the new end.

Outputs in ``output_dir``: one ``<name>.h5`` per run; ``summary.csv`` (rewritten after every
run, so it is current even after a crash) with the columns run, one per swept key, status
(``ran``, ``resumed``, ``reused`` — finished by an earlier invocation, not redone —,
``failed``, or ``pending`` while not yet run), final_time, final_loss (``final_risk``
for problems with a risk), wall_time_s (of the last execution), file and error (one line,
for failed runs); ``sweep.log``, one line per run started and finished (with the worker's
process id).  The same table is printed as Markdown.  A failed run (any exception in its
task, e.g. :class:`~fokkerplanck.errors.InstabilityError`, or a dead worker) does not stop
the others; the exit code is then 1.

Calling :func:`run_sweep` from a script with the default local cluster starts worker
processes with the ``spawn`` method: guard the script with ``if __name__ == "__main__":``.
"""
from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io as _io
import itertools
import json
import logging
import math
import os
import re
import sys
import time as _time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .config import Config, load_config
from .errors import UserInputError
from .io import open_for_reading

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Run", "Sweep", "load_sweep", "run_name", "run_state", "execute_run",
           "final_values", "run_sweep", "summary_columns", "write_summary", "markdown_table",
           "cli_sweep", "SUMMARY_FILE", "LOG_FILE", "MAX_RUNS"]

SUMMARY_FILE = "summary.csv"
LOG_FILE = "sweep.log"
#: most runs one sweep file may describe
MAX_RUNS = 10_000
_TOP_KEYS = ("base", "output_dir", "overrides", "grid", "runs")
_SAFE = re.compile(r"[^A-Za-z0-9._+\-=]+")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-=]{0,119}$")


@dataclass(frozen=True)
class Run:
    """One point of a sweep: its name, its values (key -> value) and its output file."""

    name: str
    point: Mapping[str, Any]
    path: Path


@dataclass
class Sweep:
    """A parsed and validated sweep file."""

    path: Path
    base: str
    output_dir: Path
    overrides: tuple[str, ...]
    keys: tuple[str, ...]
    runs: list[Run]
    configs: dict[str, Config] = field(default_factory=dict)

    @property
    def summary_path(self) -> Path:
        return self.output_dir / SUMMARY_FILE

    @property
    def log_path(self) -> Path:
        return self.output_dir / LOG_FILE


# --------------------------------------------------------------------------- parsing

def _hint(name: str, known) -> str:
    import difflib

    match = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


def _flatten(table: Mapping[str, Any], where: str, reserved=()) -> dict[str, Any]:
    """``{"model": {"alpha": v}}`` or ``{"model.alpha": v}`` -> ``{"model.alpha": v}``."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key in reserved:
            out[key] = value
            continue
        if isinstance(value, dict):
            for sub, inner in value.items():
                if isinstance(inner, dict):
                    raise UserInputError(f"{where}: {key}.{sub} is nested too deeply (keys are "
                                         "section.key)")
                out[f"{key}.{sub}"] = inner
        else:
            out[key] = value
    for key in out:
        if key in reserved:
            continue
        section, dot, name = key.partition(".")
        if not dot or not section or not name or "." in name:
            raise UserInputError(f"{where}: key {key!r} must look like section.key "
                                 "(e.g. \"model.alpha\")")
        if key == "output.path":
            raise UserInputError(f"{where}: output.path is set by the sweep "
                                 "(<output_dir>/<run name>.h5)")
    return out


def _toml_value(value) -> str:
    """A Python value as TOML value text (for ``section.key=value`` overrides)."""
    import tomli_w

    return tomli_w.dumps({"v": value}).partition("=")[2].strip()


def _format(value) -> str:
    """Compact, deterministic text of a value for run names."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        short = f"{value:.12g}"
        return short if float(short) == value else repr(value)
    if isinstance(value, (list, tuple)):
        return "x".join(_format(v) for v in value)
    return str(value)


def _digest(point: Mapping[str, Any]) -> str:
    text = json.dumps(point, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def run_name(point: Mapping[str, Any]) -> str:
    """Deterministic file-safe name of a point: ``alpha=1_lam=0.25`` (``base`` if empty).

    The key's last component is used unless two keys share it; numbers are written in full
    (shortest form); over-long names are cut and given a hash of the point, as are names
    that two different runs of one sweep would share.
    """
    if not point:
        return "base"
    short = [k.rpartition(".")[2] for k in point]
    keys = short if len(set(short)) == len(short) else list(point)
    parts = [f"{k}={_format(v)}" for k, v in zip(keys, point.values())]
    name = _SAFE.sub("-", "_".join(parts)).strip("-_.")
    if len(name) > 100:
        name = f"{name[:90]}-{_digest(point)}"
    return name or _digest(point)


def _base_source(sweep_path: Path, base) -> tuple[Path | None, str | None]:
    """(config path, None) or (None, example text) for ``base``."""
    from .examples import EXAMPLES, example_text

    if not isinstance(base, str) or not base:
        raise UserInputError(f"sweep file {str(sweep_path)!r}: base must be a built-in example "
                             "name or a config file path")
    if base in EXAMPLES:
        return None, example_text(base)
    candidate = (sweep_path.parent / base)
    if candidate.is_file():
        return candidate, None
    raise UserInputError(f"sweep file {str(sweep_path)!r}: base {base!r} is neither a built-in "
                         f"example ({', '.join(EXAMPLES)}) nor a file{_hint(base, EXAMPLES)}")


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep file and validate every run's configuration (nothing is run).

    Raises :class:`UserInputError` with one line naming the key, value or run.
    """
    path = Path(path)
    where = f"sweep file {str(path)!r}"
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserInputError(f"{where} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{where} cannot be read: {exc.__class__.__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(f"{where} is not valid TOML: {exc}") from None
    for key in raw:
        if key not in _TOP_KEYS:
            raise UserInputError(f"{where}: unknown key {key!r}{_hint(key, _TOP_KEYS)}")
    if "base" not in raw:
        raise UserInputError(f"{where}: base is required (a built-in example name or a config "
                             "file)")
    base_path, base_text = _base_source(path, raw["base"])
    overrides = raw.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise UserInputError(f"{where}: overrides must be a list of \"section.key=value\" "
                             "strings")
    for item in overrides:
        if item.partition("=")[0].strip() == "output.path":
            raise UserInputError(f"{where}: overrides may not set output.path (the sweep names "
                                 "the files)")
    out_dir = raw.get("output_dir", path.stem)
    if not isinstance(out_dir, str) or not out_dir:
        raise UserInputError(f"{where}: output_dir must be a directory path")
    output_dir = (path.parent / out_dir).resolve()

    grid = raw.get("grid", {})
    if not isinstance(grid, dict):
        raise UserInputError(f"{where}: [grid] must be a table of \"section.key\" = [values]")
    grid = _flatten(grid, f"{where} [grid]")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise UserInputError(f"{where} [grid]: {key} must be a non-empty list of values")
    listed = raw.get("runs", [])
    if not isinstance(listed, list) or not all(isinstance(r, dict) for r in listed):
        raise UserInputError(f"{where}: runs must be an array of tables ([[runs]])")
    if not grid and not listed:
        raise UserInputError(f"{where} describes no runs: add a [grid] table or [[runs]] "
                             "tables")
    entries = [_flatten(r, f"{where} [[runs]] #{i + 1}", reserved=("name",))
               for i, r in enumerate(listed)] or [{}]
    count = len(entries) * math.prod(len(v) for v in grid.values())
    if count > MAX_RUNS:
        raise UserInputError(f"{where} describes {count} runs; at most {MAX_RUNS}")
    grid_points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]

    points: list[tuple[str | None, dict[str, Any]]] = []
    for i, entry in enumerate(entries):
        label = entry.pop("name", None)
        if label is not None and (not isinstance(label, str) or not _NAME.match(label)):
            raise UserInputError(f"{where} [[runs]] #{i + 1}: name {label!r} must be 1-120 "
                                 "letters, digits or . _ + - = (starting with a letter or "
                                 "digit)")
        both = set(entry) & set(grid)
        if both:
            raise UserInputError(f"{where}: {sorted(both)[0]} is both in [[runs]] and [grid]")
        for g in grid_points:
            points.append((label, {**entry, **g}))
    names = []
    for label, point in points:
        derived = run_name({k: v for k, v in point.items()
                            if label is None or k in grid})
        names.append(derived if label is None else
                     (label if not grid else f"{label}_{derived}"))
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    runs = []
    used = set()
    for name, (label, point) in zip(names, points):
        if seen[name] > 1:
            if label is not None:
                raise UserInputError(f"{where}: two runs are named {name!r}")
            name = f"{name}-{_digest(point)}"
        if name in used:
            raise UserInputError(f"{where}: run {name!r} is listed twice with the same values")
        used.add(name)
        runs.append(Run(name, point, output_dir / f"{name}.h5"))
    keys = tuple(dict.fromkeys(k for _, p in points for k in p))

    sweep = Sweep(path, raw["base"], output_dir, tuple(overrides), keys, runs)
    for run in runs:
        items = [*overrides, *(f"{k}={_toml_value(v)}" for k, v in run.point.items()),
                 f"output.path={_toml_value(str(run.path))}"]
        try:
            config = load_config(base_path, items, text=base_text)
        except UserInputError as exc:
            raise UserInputError(f"{where}: run {run.name}: {exc}") from None
        config.source_dir = config.source_dir.resolve()
        sweep.configs[run.name] = config
    return sweep


# --------------------------------------------------------------------------- one run

def _config_differences(a: Config, b: Config, ignore) -> list[str]:
    da, db = a.to_dict(), b.to_dict()
    out = []
    for section in sorted(set(da) | set(db)):
        for key in sorted(set(da.get(section, {})) | set(db.get(section, {}))):
            if (section, key) not in ignore and \
                    da.get(section, {}).get(key) != db.get(section, {}).get(key):
                out.append(f"[{section}] {key}")
    return out


def run_state(path: str | Path, config: Config) -> tuple[str, str]:
    """What to do with a run's file: ``(state, detail)``.

    ``state`` is ``"done"`` (complete: last snapshot at ``t_end``), ``"resume"`` (fewer
    snapshots, same configuration), ``"fresh"`` (no file, or an unreadable or empty one) or
    ``"conflict"`` (a file of a different run, or one being written by another process;
    ``detail`` says why).
    """

    path = Path(path)
    if not path.exists():
        return "fresh", ""
    try:
        with open_for_reading(path) as f:
            count = f["time"].shape[0]
            last = float(f["time"][count - 1]) if count else math.nan
            text = f.attrs["config"]
    except OSError as exc:
        if "lock" in str(exc):
            return "conflict", (f"{path} is open for writing in another process (is another "
                                "sweep running on this output_dir?)")
        return "fresh", "unreadable file replaced"
    except KeyError:
        return "fresh", "unreadable file replaced"
    if count == 0:
        return "fresh", "empty file replaced"
    try:
        stored = load_config(text=text if isinstance(text, str) else text.decode())
    except UserInputError as exc:
        return "conflict", f"{path} holds a configuration this version cannot read ({exc})"
    diffs = _config_differences(stored, config, {("time", "t_end"), ("output", "path")})
    if diffs:
        return "conflict", (f"{path} was made with a different configuration "
                            f"({', '.join(diffs[:3])} differ); delete it or choose another "
                            "output_dir")
    t_end = config.time.t_end
    if abs(last - t_end) <= 1e-12 * max(1.0, abs(t_end)):
        return "done", ""
    if last > t_end:
        return "conflict", f"{path} runs to t = {last:g}, past [time] t_end = {t_end:g}"
    return "resume", f"from t = {last:g}"


def final_values(path: str | Path) -> dict[str, Any]:
    """``final_time`` and ``final_risk`` or ``final_loss`` of a run's file."""

    with open_for_reading(path) as f:
        count = f["time"].shape[0]
        out: dict[str, Any] = {"final_time": float(f["time"][count - 1])}
        for name in ("risk", "loss"):
            key = f"diagnostics/{name}"
            if key in f:
                out[f"final_{name}"] = float(f[key][count - 1])
                break
    return out


def _log(path: str | Path | None, message: str) -> None:
    """Append one time-stamped line (a single write, so concurrent writers do not mix)."""
    if path is None:
        return
    stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {message}\n")
    except OSError:
        pass


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0]}" if text else exc.__class__.__name__


def execute_run(name: str, config_text: str, source_dir: str, output: str, resume: bool,
                log: str | None = None) -> dict[str, Any]:
    """The Dask task: solve one run into ``output``; never raises.

    Returns ``{"status": "ran" | "resumed" | "failed", "wall_time": s, "error": str,
    "final_time": …, "final_loss" | "final_risk": …}``.
    """
    from .run import solve

    _log(log, f"start {name} {'resume' if resume else 'fresh'} pid={os.getpid()}")
    t0 = _time.perf_counter()
    try:
        config = load_config(text=config_text)
        config.source_dir = Path(source_dir)
        solve(config, output=output, progress=False, resume=resume)
        result = {"status": "resumed" if resume else "ran", "error": "",
                  **final_values(output)}
    except Exception as exc:  # a failed run is reported, not fatal
        result = {"status": "failed", "error": _one_line(exc)}
    result["wall_time"] = _time.perf_counter() - t0
    _log(log, f"{'finish' if result['status'] != 'failed' else 'failed'} {name} "
              f"{result['wall_time']:.2f}s {result['error']}".rstrip())
    return result


# --------------------------------------------------------------------------- the sweep

def summary_columns(sweep: Sweep, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """CSV columns: run, swept keys, status, final_time, final_<metric>…, wall time, file, error."""
    metrics = [m for m in ("final_risk", "final_loss") if any(m in r for r in rows)]
    return ["run", *sweep.keys, "status", "final_time", *(metrics or ["final_loss"]),
            "wall_time_s", "file", "error"]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple, bool)):
        return _toml_value(value)
    return str(value)


def write_summary(sweep: Sweep, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``summary.csv`` atomically (temporary file, then rename)."""
    columns = summary_columns(sweep, rows)
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    tmp = sweep.summary_path.with_name(f".{SUMMARY_FILE}.{os.getpid()}.tmp")
    try:
        tmp.write_text(buf.getvalue())
        os.replace(tmp, sweep.summary_path)
    except OSError as exc:
        raise UserInputError(f"cannot write {str(sweep.summary_path)!r}: "
                             f"{exc.strerror or exc}") from None
    return sweep.summary_path


def _previous_wall_times(sweep: Sweep) -> dict[str, float]:
    try:
        with open(sweep.summary_path, newline="") as fh:
            return {r["run"]: float(r["wall_time_s"]) for r in csv.DictReader(fh)
                    if r.get("status") in ("ran", "resumed", "reused") and r.get("wall_time_s")}
    except (OSError, KeyError, ValueError, csv.Error):
        return {}


def markdown_table(sweep: Sweep, rows: Sequence[Mapping[str, Any]]) -> str:
    """The summary as a Markdown table (error column only when a run failed)."""
    columns = summary_columns(sweep, rows)
    columns.remove("file")
    if not any(r.get("error") for r in rows):
        columns.remove("error")
    heads = {"final_time": "t", "final_loss": "final loss", "final_risk": "final risk",
             "wall_time_s": "wall time (s)"}

    def show(c, v):
        if v is None or v == "":
            return ""
        if c == "wall_time_s":
            return f"{v:.2f}"
        if isinstance(v, float):
            return f"{v:.6g}"
        return _cell(v).replace("|", "\\|")

    lines = ["| " + " | ".join(heads.get(c, c) for c in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(show(c, row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


@contextmanager
def _dask_client(scheduler: str | None, workers: int, processes: bool):
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="15s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserInputError(f"--scheduler {scheduler!r}: cannot connect "
                                 f"({_one_line(exc)})") from None
        with client:
            yield client
        return
    with _sigint_ignored(processes):
        # worker processes inherit the ignored SIGINT: Ctrl-C reaches only this process,
        # which then shuts the cluster down
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                               dashboard_address=None, memory_limit=0,
                               silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        yield client


@contextmanager
def _sigint_ignored(enabled: bool = True):
    """Ignore SIGINT while worker processes are spawned (main thread only)."""
    import signal
    import threading

    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def run_sweep(sweep: Sweep, scheduler: str | None = None, workers: int | None = None,
              processes: bool = True,
              report: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Run every unfinished run of ``sweep`` on Dask; returns one summary row per run.

    Parameters
    ----------
    sweep : Sweep
        From :func:`load_sweep`.
    scheduler : str, optional
        Address of an existing Dask scheduler; default: a local cluster.
    workers : int, optional
        Local cluster size (default: the number of cores, at most one per run to do).
    processes : bool
        Local workers are processes (default) or threads of this process.
    report : callable, optional
        Called with one line of progress per event.
    """
    say = report or (lambda line: None)
    try:
        sweep.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(f"output_dir {str(sweep.output_dir)!r} cannot be created: "
                             f"{exc.strerror or exc}") from None
    walls = _previous_wall_times(sweep)
    rows: dict[str, dict[str, Any]] = {}
    todo: list[tuple[Run, bool, str]] = []
    for run in sweep.runs:
        row: dict[str, Any] = {"run": run.name, **run.point, "file": run.path.name,
                               "status": "pending", "error": ""}
        rows[run.name] = row
        state, detail = run_state(run.path, sweep.configs[run.name])
        if state == "done":
            row.update(status="reused", wall_time_s=walls.get(run.name), **final_values(run.path))
        elif state == "conflict":
            row.update(status="failed", error=detail)
        else:
            todo.append((run, state == "resume", detail))
    ordered = lambda: [rows[r.name] for r in sweep.runs]  # noqa: E731
    write_summary(sweep, ordered())
    reused = sum(r["status"] == "reused" for r in rows.values())
    resumed = sum(1 for _, resume, _ in todo if resume)
    if workers is not None and workers < 1:
        raise UserInputError(f"--workers must be >= 1 (got {workers})")
    n_workers = workers or max(1, min(os.cpu_count() or 1, len(todo)))
    where = (f"scheduler {scheduler}" if scheduler else
             f"a local Dask cluster of {n_workers} worker{'s' if n_workers > 1 else ''}")
    say(f"sweep {sweep.path.name}: {len(sweep.runs)} runs ({reused} finished earlier, "
        f"{resumed} to resume, {len(todo) - resumed} to run) -> {sweep.output_dir}"
        + (f" on {where}" if todo else ""))
    _log(sweep.log_path, f"sweep {len(sweep.runs)} runs, {reused} reused, {len(todo)} to do "
                         f"pid={os.getpid()}")
    if todo:
        from dask.distributed import as_completed

        with _dask_client(scheduler, n_workers, processes) as client:
            futures = {}
            for run, resume, detail in todo:
                config = sweep.configs[run.name]
                if detail:
                    _log(sweep.log_path, f"note {run.name}: {detail}")
                fut = client.submit(execute_run, run.name, config.to_toml(),
                                    str(config.source_dir), str(run.path), resume,
                                    str(sweep.log_path), pure=False,
                                    key=f"fokkerplanck-{run.name}-{uuid.uuid4().hex[:8]}")
                futures[fut] = run
            done = reused
            for fut in as_completed(list(futures)):
                run = futures[fut]
                try:
                    result = fut.result()
                except Exception as exc:  # the worker died or the task was lost
                    result = {"status": "failed", "error": _one_line(exc)}
                row = rows[run.name]
                row.update(result)
                row["wall_time_s"] = row.pop("wall_time", None)
                write_summary(sweep, ordered())
                done += 1
                metric = next((f"{k[6:]} {row[k]:.6g}" for k in ("final_risk", "final_loss")
                               if k in row), "")
                if row["status"] == "failed":
                    say(f"[{done}/{len(sweep.runs)}] {run.name}: failed: {row['error']}")
                else:
                    say(f"[{done}/{len(sweep.runs)}] {run.name}: {row['status']} in "
                        f"{row['wall_time_s']:.2f} s, {metric}")
    _log(sweep.log_path, "sweep done")
    return ordered()


def cli_sweep(args) -> int:
    """``fokkerplanck sweep SWEEP.toml [--scheduler ADDR] [--workers N] [-q]``.

    Exit code 0 when every run finished, 1 when some failed (the table says which),
    2 for a bad sweep file or scheduler address, 130 on Ctrl-C (re-run to continue).
    """
    if args.scheduler and args.workers is not None:
        raise UserInputError("--workers sizes the local cluster; it cannot be combined with "
                             "--scheduler")
    sweep = load_sweep(args.sweep)
    report = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        rows = run_sweep(sweep, args.scheduler, args.workers, report=report)
    except KeyboardInterrupt:
        print(f"fokkerplanck: interrupted; finished runs are kept in {sweep.output_dir}; run "
              f"the same command again to continue", file=sys.stderr)
        return 130
    failed = [r for r in rows if r["status"] == "failed"]
    if not args.quiet:
        print(markdown_table(sweep, rows))
        print(f"\nwrote {sweep.summary_path}", file=sys.stderr)
    elif failed:
        print(f"fokkerplanck: {len(failed)} of {len(rows)} runs failed; see "
              f"{sweep.summary_path}", file=sys.stderr)
    return 1 if failed else 0
