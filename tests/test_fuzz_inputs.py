"""Property-based fuzzing of configurations and data files (issue 7): exit 2, one line, no file."""
import contextlib
import io
import tempfile
from pathlib import Path

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fokkerplanck.cli import main
from fokkerplanck.config import MODEL_KINDS, SCHEMA

BASE = {
    "model": {"kind": "noisy-gd", "activation": "tanh", "alpha": 1.0, "lam": 0.5},
    "data": {"x": [[0.1], [0.5]], "y": [0.2, -0.3]},
    "grid": {"cells": [8, 8], "half_width": 5.0},
    "initial": {"mean": [0.0, 0.0], "std": [1.0, 1.0]},
    "time": {"t_end": 0.1, "save_every": 0.05},
    "solver": {"method": "finite-volume"},
}

identifiers = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
scalars = st.one_of(st.booleans(), st.integers(-10 ** 12, 10 ** 12),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
anything = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(identifiers, inner,
                                                                         max_size=3)),
                        max_leaves=6)


def invalid_for(field):
    """Values that the field's type can never accept."""
    not_number = st.one_of(st.booleans(), st.text(max_size=6), st.lists(scalars, max_size=3),
                           st.dictionaries(identifiers, scalars, max_size=2))
    bad_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True).filter(
        lambda v: not (v == v and abs(v) < float("inf") and v > 0)),
        st.integers(max_value=0))
    kind = field.kind
    if kind == "float":
        return not_number if field.check is None else st.one_of(not_number, bad_number)
    if kind == "int":
        return st.one_of(not_number, st.floats(allow_nan=False).filter(lambda v: v != int(v)
                         if abs(v) < 1e15 else False), st.integers(max_value=0))
    if kind == "bool":
        return st.one_of(st.integers(), st.text(max_size=5), st.floats())
    if kind == "str":
        wrong = st.one_of(st.booleans(), st.integers(), st.floats(), st.lists(scalars,
                                                                             max_size=2))
        if field.choices:
            return st.one_of(wrong, st.text(max_size=10).filter(lambda v: v not in
                                                                field.choices))
        return wrong
    if kind in ("floats", "ints", "scalar-or-floats"):
        return st.one_of(st.just([]), st.text(max_size=5), st.booleans(),
                         st.lists(st.one_of(st.text(max_size=3), st.booleans()), min_size=1,
                                  max_size=3))
    if kind == "matrix":
        return st.one_of(st.just([]), st.text(max_size=5), st.lists(st.text(max_size=3),
                                                                    min_size=1, max_size=3),
                         st.just([[1.0], [2.0, 3.0]]), st.just([[[1.0]]]))
    raise AssertionError(kind)


def _fields():
    schema = {"model": MODEL_KINDS["noisy-gd"], **SCHEMA}
    return [(sec, key, field) for sec, fields in schema.items() for key, field in fields.items()
            if key != "kind"]


@st.composite
def broken_configs(draw):
    """A configuration text with at least one definite error."""
    cfg = {sec: dict(values) for sec, values in BASE.items()}
    how = draw(st.sampled_from(["type", "unknown-key", "unknown-section", "kind", "missing",
                                "shape", "syntax", "nan"]))
    if how == "type":
        sec, key, field = draw(st.sampled_from(_fields()))
        cfg.setdefault(sec, {})[key] = draw(invalid_for(field))
        if sec == "data" and key == "file":
            cfg["data"].pop("x"), cfg["data"].pop("y")
    elif how == "unknown-key":
        sec = draw(st.sampled_from(sorted(cfg)))
        key = draw(identifiers.filter(lambda k: k not in {**SCHEMA, "model":
                                                          MODEL_KINDS["noisy-gd"]}.get(sec, {})))
        cfg[sec][key] = draw(scalars)
    elif how == "unknown-section":
        cfg[draw(identifiers.filter(lambda s: s not in SCHEMA and s != "model"))] = {
            "a": draw(scalars)}
    elif how == "kind":
        cfg["model"]["kind"] = draw(anything.filter(lambda k: not isinstance(k, str) or k not in MODEL_KINDS))
    elif how == "missing":
        sec, key = draw(st.sampled_from([("grid", "cells"), ("time", "t_end"),
                                         ("time", "save_every"), ("model", "kind")]))
        del cfg[sec][key]
    elif how == "shape":
        choice = draw(st.integers(0, 4))
        if choice == 0:
            cfg["grid"]["cells"] = draw(st.lists(st.integers(3, 9), min_size=3, max_size=5))
        elif choice == 1:
            cfg["data"]["y"] = draw(st.lists(st.floats(-1, 1), min_size=3, max_size=5))
        elif choice == 2:
            cfg["data"]["x"] = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
        elif choice == 3:
            cfg["initial"]["mean"] = draw(st.lists(st.floats(-1, 1), min_size=3, max_size=4))
        else:
            cfg["time"]["save_every"] = cfg["time"]["t_end"] * draw(st.floats(1.5, 1e6))
    elif how == "nan":
        sec, key = draw(st.sampled_from([("model", "alpha"), ("model", "lam"),
                                         ("time", "t_end"), ("grid", "half_width")]))
        cfg[sec][key] = draw(st.sampled_from([float("nan"), float("inf"), -float("inf")]))
    if how == "syntax":
        text = tomli_w.dumps(cfg)
        cut = draw(st.integers(1, len(text) - 1))
        return text[:cut] + draw(st.sampled_from(["= =", "[[", "\"unterminated", "x = ]",
                                                  "\x00"])) + text[cut:]
    return tomli_w.dumps(cfg)


def run_main(args):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    return code, err.getvalue()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=broken_configs())
def test_malformed_configs_exit_2_with_one_line(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        code, err = run_main(["solve", "-q", str(path), "-o", str(Path(tmp) / "out.h5")])
        assert code == 2, (text, err)
        assert err.count("\n") == 1 and err.startswith("fokkerplanck: error: "), err
        assert "Traceback" not in err
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["c.toml"]


csv_cells = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.text(alphabet=" ,;'abc-+.e0123456789", max_size=6))  # no '"': CSV
# quoting turns e.g. '""0' into the valid number 0


@st.composite
def broken_csv(draw):
    kind = draw(st.sampled_from(["header", "ragged", "value", "empty", "binary", "columns"]))
    rows = [["0.1", "0.2"], ["0.3", "0.4"]]
    header = ["x1", "y"]
    if kind == "header":
        header = draw(st.lists(st.sampled_from(["x1", "x2", "x3", "y", "z", "", "X1"]),
                               min_size=1, max_size=4).filter(
            lambda h: sorted(h) not in (["x1", "y"], ["x1", "x2", "y"])))
        rows = [["0.1"] * len(header)] * 2
    elif kind == "ragged":
        rows.append(["0.5"] * draw(st.sampled_from([1, 3, 4])))
    elif kind == "value":
        bad = draw(csv_cells.filter(lambda c: not _is_finite_number(c)))
        rows[draw(st.integers(0, 1))][draw(st.integers(0, 1))] = bad
    elif kind == "empty":
        return draw(st.sampled_from(["", "\n\n", "x1,y\n"])).encode()
    elif kind == "binary":
        return draw(st.binary(min_size=1, max_size=64).filter(lambda b: b"\xff" in b or
                                                              b"\x80" in b)) + b"\xff"
    elif kind == "columns":
        header = ["x1", "x2", "x3", "y"]
        rows = [["0.1"] * 4] * 2
    return ("\n".join(",".join(r) for r in [header, *rows]) + "\n").encode()


def _is_finite_number(text):
    try:
        value = float(text)
    except ValueError:
        return False
    return value == value and abs(value) != float("inf")


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(content=broken_csv())
def test_malformed_data_files_exit_2_with_one_line(content):
    cfg = {sec: dict(values) for sec, values in BASE.items()}
    del cfg["data"]["x"], cfg["data"]["y"]
    cfg["data"]["file"] = "train.csv"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "train.csv").write_bytes(content)
        (Path(tmp) / "c.toml").write_text(tomli_w.dumps(cfg))
        code, err = run_main(["solve", "-q", str(Path(tmp) / "c.toml"), "-o",
                              str(Path(tmp) / "out.h5")])
        assert code == 2, (content, err)
        assert err.count("\n") == 1 and "[data]" in err, err
        assert not (Path(tmp) / "out.h5").exists()
