"""Harness of the peer runner scripts (runs inside the peers' virtual environment).

``python run_<peer>.py '<json config>'`` imports the peer, then

1. ``ctx = prepare(config)``: what depends only on the operator and the grid (and what a
   live process would keep: compiled functions, assembled matrices);
2. ``density, info = solve(ctx)``: one solve from p_0 to t = 1;

once (the *fresh-process* solve: the parent times the process from its launch to the moment
``first_done`` printed here, so interpreter start-up, imports and compilation are included),
then, ``warm`` times each, ``solve(ctx)`` (*reused*: operator objects, assembled matrices and
compiled functions kept) and ``api(config)`` (*warm*: the library's ordinary top-level call
made again in the same live process, whatever it rebuilds), and prints one JSON object::

    {"ok": true, "first_done": <time.monotonic() after the first solve>, "first_s": ...,
     "reused_s": [...], "warm_s": [...], "l1": ..., "l1_cell": ..., "l1_point": ...,
     "mass": ..., "info": {...}}

or ``{"ok": false, "reason": "..."}``.  ``time.monotonic`` is system-wide on Linux, so the
parent can subtract its own launch time.
"""
from __future__ import annotations

import json
import sys
import time
import traceback

from ou_problem import l1_errors


def main(prepare, solve, api=None) -> None:
    """``api(config)``, the ordinary top-level call, defaults to ``solve(prepare(config))``."""
    if api is None:
        def api(config):
            return solve(prepare(config))
    config = json.loads(sys.argv[1])
    out = {"ok": False}
    try:
        t0 = time.perf_counter()
        ctx = prepare(config)
        density, info = solve(ctx)
        first = time.perf_counter() - t0
        out["first_done"] = time.monotonic()
        reused, warm = [], []
        for _ in range(int(config.get("warm", 0))):
            t0 = time.perf_counter()
            solve(ctx)
            reused.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            api(config)
            warm.append(time.perf_counter() - t0)
        out.update(ok=True, first_s=first, reused_s=reused, warm_s=warm, info=info,
                   **l1_errors(density))
    except Exception as exc:  # reported by the parent as "skipped: <reason>"
        out["reason"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc(limit=4)
    print(json.dumps(out), flush=True)
