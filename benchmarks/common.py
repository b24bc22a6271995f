"""Timing, machine description and result files shared by the benchmarks."""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def median_time(func, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``func()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        func()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine() -> dict:
    """Where and with what a result was measured."""
    import numba
    import numpy
    import scipy

    import fokkerplanck

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": numpy.__version__, "scipy": scipy.__version__, "numba": numba.__version__,
            "fokkerplanck": fokkerplanck.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def write_result(name: str, rows: list[dict], summary: dict, quick: bool) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}{'-quick' if quick else ''}.json"
    path.write_text(json.dumps({"name": name, "quick": quick, "machine": machine(),
                                "summary": summary, "rows": rows}, indent=2) + "\n")
    return path


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])
