"""py-pde 0.59.0: finite differences on a cell-centred grid, numba-compiled right-hand side.

The equation is given as the expression a user would write, ``laplace(c) + d_dx(x*c) +
d_dy(y*c)``, on ``CartesianGrid([[-6, 6]] * 2, n)`` (cell centres, as ours) with zero
normal derivative on the walls (the density there is ~1e-7, so the wall condition is
immaterial).  Solvers: ``"explicit"`` (explicit Euler with fixed Δt = T/⌈T/(cfl·h²/4)⌉,
just inside the diffusive stability limit h²/4) and ``"scipy"`` (``solve_ivp``, RK45 by
default, with ``rtol``, ``atol``).  ``prepare`` compiles the stepper (numba), ``solve``
runs it from a copy of p_0 (every compiled function reused); the ordinary call, ``api``, is
``eq.solve(...)`` again on the same ``PDE`` object (py-pde keeps the compiled right-hand side
but compiles the stepping loop again on each call).
Config: ``{"n": 128, "solver": "explicit", "cfl": 0.9, "warm": 1}``.
"""
import math

import numpy as np
import pde

from _runner import main
from ou_problem import L, T_END, initial_density

pde.config["backend.numba.multithreading"] = "never"  # one core, like every other tool here


_API = {}


def _setup(config):
    n = int(config["n"])
    grid = pde.CartesianGrid([[-L, L], [-L, L]], [n, n])
    x, y = grid.cell_coords[..., 0], grid.cell_coords[..., 1]
    state = pde.ScalarField(grid, initial_density(x, y))
    eq = pde.PDE({"c": "laplace(c) + d_dx(x * c) + d_dy(y * c)"}, bc={"derivative": 0})
    return n, state, eq


def prepare(config):
    n, state, eq = _API["setup"] = _setup(config)
    h = 2 * L / n
    if config["solver"] == "explicit":
        steps = math.ceil(T_END / (float(config.get("cfl", 0.9)) * h * h / 4))
        dt = T_END / steps
        solver = pde.ExplicitSolver(eq, scheme="euler", adaptive=False)
        info = {"dt": dt, "steps": steps}
    else:
        dt = None
        opts = {"rtol": float(config.get("rtol", 1e-6)), "atol": float(config.get("atol", 1e-9)),
                "method": config.get("method", "RK45")}
        solver = pde.ScipySolver(eq, **opts)
        info = dict(opts)
    stepper = solver.make_stepper(state, dt)
    return stepper, state, solver, info


def solve(ctx):
    stepper, state, solver, info = ctx
    s = state.copy()
    solver.info["steps"] = 0
    t = stepper(s, 0.0, T_END)
    if abs(t - T_END) > 1e-9:
        raise RuntimeError(f"py-pde stopped at t = {t}")
    return np.asarray(s.data), {**info, "evaluations": int(solver.info["steps"])}


def api(config):
    """``eq.solve`` on the PDE object of the first solve (its compiled rhs is cached)."""
    n, state, eq = _API["setup"]
    if config["solver"] == "explicit":
        h = 2 * L / n
        dt = T_END / math.ceil(T_END / (float(config.get("cfl", 0.9)) * h * h / 4))
        res = eq.solve(state, t_range=T_END, dt=dt, solver="explicit", adaptive=False,
                       tracker=None)
    else:
        res = eq.solve(state, t_range=T_END, solver="scipy", tracker=None,
                       rtol=float(config.get("rtol", 1e-6)),
                       atol=float(config.get("atol", 1e-9)),
                       method=config.get("method", "RK45"))
    return np.asarray(res.data), {}


if __name__ == "__main__":
    main(prepare, solve, api)
