"""TOML configuration: schema, validation, overrides and the resolved text stored in outputs.

A configuration is a set of TOML tables (``[model]``, ``[data]``, ``[grid]``, ``[initial]``,
``[time]``, ``[solver]``, ``[output]``, and more as problems are added).  Every key is
declared in a schema (:data:`SCHEMA`, plus one model schema per ``[model] kind`` in
:data:`MODEL_KINDS`), so that

* unknown keys are rejected with a "did you mean" suggestion,
* types and ranges are checked before any computation,
* defaults are filled in, and :meth:`Config.to_toml` returns the *resolved* configuration,
  which is stored verbatim in every output file (re-running it reproduces the run).

Errors are :class:`~fokkerplanck.errors.UserInputError` with a one-line message naming the
key, e.g. ``[model] lam must be > 0 (got -1)``.
"""
from __future__ import annotations

import difflib
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import tomli_w

from .errors import UserInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Field", "Config", "Section", "SCHEMA", "MODEL_KINDS", "KIND_SECTIONS",
           "load_config", "parse_override", "register_model_kind", "schema_for_kind"]

_REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """One configuration key.

    Parameters
    ----------
    kind : {"float", "int", "str", "bool", "floats", "ints", "matrix", "scalar-or-floats", \
            "dimension"}
        Expected TOML type.  ``dimension`` is a whole number or ``"infinite"`` (stored as a
        float, ``inf`` for infinite).  ``floats``/``ints`` are lists, ``matrix`` a list of lists of
        numbers (a flat list is accepted as a single column), ``scalar-or-floats`` a number
        or a list of numbers.
    default : object
        Value used when the key is absent; omit for a required key, ``None`` for "unset".
    check : callable, optional
        ``check(value) -> str | None``; a returned string is the reason the value is bad.
    choices : tuple of str, optional
        Allowed values of a ``str`` field.
    doc : str
        One-line description (used by the README table and ``--help`` texts).
    """

    kind: str
    default: Any = _REQUIRED
    check: Callable[[Any], str | None] | None = None
    choices: tuple[str, ...] | None = None
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


def positive(value) -> str | None:
    """Check that a number, or every number of a list, is > 0 and finite."""
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in _flatten(values):
        if not (math.isfinite(v) and v > 0):
            return f"must be > 0 (got {v!r})"
    return None


def non_negative(value) -> str | None:
    """Check that a number, or every number of a list, is >= 0 and finite."""
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in _flatten(values):
        if not (math.isfinite(v) and v >= 0):
            return f"must be >= 0 (got {v!r})"
    return None


def finite(value) -> str | None:
    """Check that every number is finite."""
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in _flatten(values):
        if not math.isfinite(v):
            return f"must be finite (got {v!r})"
    return None


def in_unit_interval(value) -> str | None:
    """Check 0 < value <= 1."""
    if not (math.isfinite(value) and 0 < value <= 1):
        return f"must be in (0, 1] (got {value!r})"
    return None


def _flatten(values):
    for v in values:
        if isinstance(v, (list, tuple)):
            yield from _flatten(v)
        else:
            yield v


NOISY_GD_MODEL = {
    "kind": Field("str", doc="the equation: \"noisy-gd\" is PDE (3.4) of Chen et al. (2020)"),
    "activation": Field("str", "tanh", choices=("tanh", "sigmoid", "linear"),
                        doc="h(θ,x) = h̃(θᵀx) with h̃ = tanh, sigmoid or the identity"),
    "alpha": Field("float", 1.0, check=non_negative, doc="output scaling α of f(p,x) = α∫u h p"),
    "lam": Field("float", 0.5, check=positive,
                 doc="λ > 0: weight decay, noise temperature and KL weight"),
}

MODEL_KINDS: dict[str, dict[str, Field]] = {"noisy-gd": NOISY_GD_MODEL}

SCHEMA: dict[str, dict[str, Field]] = {
    "data": {
        "x": Field("matrix", None, check=finite, doc="training inputs, n rows of d = 1 or 2 numbers"),
        "y": Field("floats", None, check=finite, doc="training targets, n numbers"),
        "file": Field("str", None, doc="CSV file with header x1..xd,y (instead of x and y)"),
    },
    "grid": {
        "cells": Field("ints", check=positive, doc="cells per axis, θ axes first, u last"),
        "half_width": Field("scalar-or-floats", 6.0, check=positive,
                            doc="the box is [-L, L] per axis (one number or one per axis)"),
    },
    "initial": {
        "mean": Field("scalar-or-floats", 0.0, check=finite,
                      doc="mean of the Gaussian initial density (θ…, u)"),
        "std": Field("scalar-or-floats", 1.0, check=positive,
                     doc="standard deviations of the Gaussian initial density"),
    },
    "time": {
        "t_end": Field("float", check=positive, doc="final time"),
        "save_every": Field("float", check=positive, doc="interval between saved snapshots"),
    },
    "solver": {
        "method": Field("str", "finite-volume", choices=("finite-volume", "spectral"),
                        doc="numerical method: finite volume on the [grid] box, or Hermite "
                            "spectral on R^{d+1} ([grid] is then the output grid)"),
        "stepper": Field("str", None,
                         choices=("euler", "ssprk2", "ssprk3", "implicit-split", "etdrk4",
                                  "etdrk4-b"),
                         doc="time stepper: euler/ssprk2/ssprk3/implicit-split (finite-volume, "
                             "default ssprk2) or etdrk4/etdrk4-b (spectral, default etdrk4-b)"),
        "cfl": Field("float", 0.9, check=in_unit_interval,
                     doc="fraction of the positivity time-step bound used"),
        "dt_max": Field("float", None, check=positive,
                        doc="largest time step (useful with implicit-split)"),
        "dt": Field("float", None, check=positive,
                    doc="force this fixed time step, unchecked (experiments; guards stop "
                        "the run with exit code 3 if it is unstable)"),
        "modes": Field("ints", None, check=positive,
                       doc="spectral: Hermite modes per axis (theta axes, u), 1 or d+1 values; "
                           "default 48 per theta axis and 24 for u"),
        "rtol": Field("float", 1e-10, check=in_unit_interval,
                      doc="spectral: local error allowed per step, relative to the "
                          "L2(p0) norm of p/p0 (bounds the error in f)"),
    },
    "output": {
        "path": Field("str", "solution.h5", doc="HDF5 output file"),
    },
    "particles": {
        "count": Field("int", 10000, check=positive, doc="number of neurons m (simulate)"),
        "step": Field("float", 0.01, check=positive, doc="gradient-descent step size η (t = η k)"),
        "seed": Field("int", 0, check=non_negative, doc="seed of the random generator"),
        "save_particles": Field("bool", False,
                                doc="store every neuron's weights at each save time"),
    },
}

_CONTAINER_KINDS = ("floats", "ints", "matrix", "scalar-or-floats")

#: the time stepper of each [solver] method when [solver] stepper is unset
DEFAULT_STEPPER = {"finite-volume": "ssprk2", "spectral": "etdrk4-b"}


#: per model kind: sections whose schema differs from :data:`SCHEMA` (None: not allowed)
KIND_SECTIONS: dict[str, dict[str, dict[str, Field] | None]] = {}


def register_model_kind(kind: str, fields: Mapping[str, Field],
                        sections: Mapping[str, Mapping[str, Field] | None] | None = None
                        ) -> None:
    """Add a ``[model] kind``: its ``[model]`` keys and the sections it defines differently.

    ``sections`` maps a section name to its own fields (replacing that section of
    :data:`SCHEMA` for this kind, or adding a new section) or to None (the section is not
    allowed for this kind).
    """
    MODEL_KINDS[kind] = dict(fields)
    KIND_SECTIONS[kind] = {name: (None if sec is None else dict(sec))
                           for name, sec in (sections or {}).items()}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _coerce(section: str, key: str, field: Field, value):
    """Return ``value`` converted to the field's type, or raise naming ``[section] key``."""
    where = f"[{section}] {key}"

    def bad(expected):
        return UserInputError(f"{where} must be {expected} (got {value!r})")

    kind = field.kind
    if kind == "float":
        if not _is_number(value):
            raise bad("a number")
        value = float(value)
    elif kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad("an integer")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
    elif kind == "dimension":
        if isinstance(value, str) and value.strip().lower() in ("infinite", "inf"):
            value = math.inf
        elif _is_number(value) and (value == math.inf or float(value).is_integer()):
            value = float(value)
        else:
            raise bad('a whole number or "infinite"')
    elif kind == "str":
        if not isinstance(value, str):
            raise bad("a string")
        if field.choices and value not in field.choices:
            hint = difflib.get_close_matches(value, field.choices, n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            raise UserInputError(f"{where} must be one of {', '.join(map(repr, field.choices))}"
                                 f" (got {value!r}){extra}")
    elif kind in ("floats", "ints"):
        if not isinstance(value, list) or not value or not all(_is_number(v) for v in value):
            raise bad("a non-empty list of numbers")
        if kind == "ints":
            if not all(float(v).is_integer() for v in value):
                raise bad("a list of integers")
            value = [int(v) for v in value]
        else:
            value = [float(v) for v in value]
    elif kind == "scalar-or-floats":
        if _is_number(value):
            value = float(value)
        elif isinstance(value, list) and value and all(_is_number(v) for v in value):
            value = [float(v) for v in value]
        else:
            raise bad("a number or a non-empty list of numbers")
    elif kind == "matrix":
        if not isinstance(value, list) or not value:
            raise bad("a non-empty list")
        if all(_is_number(v) for v in value):
            value = [[float(v)] for v in value]
        elif all(isinstance(row, list) and row and all(_is_number(v) for v in row) for row in value):
            if len({len(row) for row in value}) != 1:
                raise UserInputError(f"{where} rows must all have the same length")
            value = [[float(v) for v in row] for row in value]
        else:
            raise bad("a list of numbers or a list of equal-length lists of numbers")
    else:  # pragma: no cover - schema error
        raise AssertionError(kind)
    if field.check is not None:
        reason = field.check(value)
        if reason:
            raise UserInputError(f"{where} {reason}")
    return value


class Section(Mapping):
    """A validated, read-only table: ``config.model.alpha`` or ``config.model["alpha"]``."""

    def __init__(self, name: str, values: Mapping[str, Any]):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, key):
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"[{self._name}] has no key {key!r}") from None

    def __setattr__(self, key, value):
        raise AttributeError("configuration sections are read-only")

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        return f"Section({self._name!r}, {self._values!r})"


class Config(Mapping):
    """A validated configuration with defaults filled in.

    Attributes
    ----------
    source_dir : pathlib.Path
        Directory relative to which data files named in the configuration are resolved.
    """

    def __init__(self, sections: Mapping[str, Mapping[str, Any]], source_dir: Path | str = "."):
        self._sections = {name: Section(name, values) for name, values in sections.items()}
        self.source_dir = Path(source_dir)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._sections[name]
        except KeyError:
            raise AttributeError(f"configuration has no section [{name}]") from None

    def __getitem__(self, name):
        return self._sections[name]

    def __iter__(self):
        return iter(self._sections)

    def __len__(self):
        return len(self._sections)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dictionaries (unset keys left out)."""
        return {name: {k: v for k, v in sec.items() if v is not None}
                for name, sec in self._sections.items()}

    def to_toml(self) -> str:
        """The resolved configuration as TOML text (what every output file stores)."""
        return tomli_w.dumps(self.to_dict())

    def replace(self, overrides: Sequence[str] = ()) -> "Config":
        """A new configuration with ``section.key=value`` overrides applied and re-validated."""
        raw = self.to_dict()
        changed = set()
        for item in overrides:
            section, key, value = parse_override(item)
            raw.setdefault(section, {})[key] = value
            changed.add((section, key))
        solver = raw.get("solver", {})
        old_method = self._sections["solver"].get("method") if "solver" in self else None
        if (("solver", "method") in changed and ("solver", "stepper") not in changed
                and solver.get("stepper") == DEFAULT_STEPPER.get(old_method)):
            solver.pop("stepper", None)  # it was only the old method's default: re-resolve
        return validate(raw, self.source_dir)


def parse_override(item: str) -> tuple[str, str, Any]:
    """Split ``section.key=value``; the value is read as a TOML value, else as a string."""
    name, sep, text = item.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise UserInputError(f"--set {item!r} must look like section.key=value")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    return section, key.strip(), value


def _unknown(kind: str, name: str, known) -> UserInputError:
    hint = difflib.get_close_matches(name, list(known), n=1)
    extra = f"; did you mean {hint[0]!r}?" if hint else ""
    return UserInputError(f"unknown {kind} {name}{extra}")


def _schema_for(raw: Mapping[str, Any]) -> dict[str, dict[str, Field]]:
    model = raw.get("model")
    if not isinstance(model, Mapping):
        raise UserInputError("[model] section is missing (it needs at least kind = \"noisy-gd\")")
    kind = model.get("kind")
    if kind is None:
        raise UserInputError("[model] kind is missing (one of "
                             + ", ".join(map(repr, MODEL_KINDS)) + ")")
    if not isinstance(kind, str) or kind not in MODEL_KINDS:
        hint = difflib.get_close_matches(str(kind), list(MODEL_KINDS), n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise UserInputError(f"[model] kind must be one of {', '.join(map(repr, MODEL_KINDS))}"
                             f" (got {kind!r}){extra}")
    schema = {"model": MODEL_KINDS[kind], **SCHEMA}
    for name, fields in KIND_SECTIONS.get(kind, {}).items():
        if fields is None:
            schema.pop(name, None)
        else:
            schema[name] = fields
    return schema


def schema_for_kind(kind: str) -> dict[str, dict[str, Field]]:
    """The full schema (every section) of one ``[model] kind``."""
    return _schema_for({"model": {"kind": kind}})


def validate(raw: Mapping[str, Any], source_dir: Path | str = ".") -> Config:
    """Check a raw TOML mapping against the schema and fill in defaults."""
    schema = _schema_for(raw)
    for name, table in raw.items():
        if name not in schema:
            raise _unknown("section", f"[{name}]", [f"[{s}]" for s in schema])
        if not isinstance(table, Mapping):
            raise UserInputError(f"[{name}] must be a table of key = value pairs")
    sections: dict[str, dict[str, Any]] = {}
    for name, fields in schema.items():
        table = raw.get(name, {})
        for key in table:
            if key not in fields:
                raise _unknown("key", f"[{name}] {key}", [f"[{name}] {k}" for k in fields])
        values = {}
        for key, field in fields.items():
            if key in table:
                values[key] = _coerce(name, key, field, table[key])
            elif field.required:
                raise UserInputError(f"[{name}] {key} is required ({field.doc})")
            else:
                values[key] = field.default
        sections[name] = values
    solver = sections.get("solver")
    if solver is not None and "stepper" in solver and solver["stepper"] is None:
        solver["stepper"] = DEFAULT_STEPPER.get(solver.get("method"), "ssprk2")
    return Config(sections, source_dir)


def load_config(path: str | Path | None = None, overrides: Sequence[str] = (),
                text: str | None = None) -> Config:
    """Read, override and validate a configuration.

    Parameters
    ----------
    path : path-like, optional
        TOML file.  With neither ``path`` nor ``text`` the built-in default example is used.
    overrides : sequence of str
        ``section.key=value`` items applied on top of the file (``--set`` on the CLI).
    text : str, optional
        TOML text instead of a file.
    """
    from .examples import DEFAULT_EXAMPLE, example_text

    source_dir = Path(".")
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise UserInputError(f"config file {str(path)!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserInputError(f"config file {str(path)!r} cannot be read: "
                                 f"{exc.__class__.__name__}") from None
        source_dir = path.parent
    elif text is None:
        text = example_text(DEFAULT_EXAMPLE)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = f"config file {str(path)!r}" if path is not None else "config text"
        raise UserInputError(f"{where} is not valid TOML: {exc}") from None
    for item in overrides:
        section, key, value = parse_override(item)
        table = raw.setdefault(section, {})
        if not isinstance(table, dict):
            raise UserInputError(f"[{section}] must be a table of key = value pairs")
        table[key] = value
    return validate(raw, source_dir)


# Further model kinds register themselves (their schemas live beside their models).  A
# module importing this one first is fine too: it registers at its own end.
from . import isotropic as _isotropic  # noqa: E402,F401  ("isotropic-gaussians")
