"""FiPy 4.0.3: cell-centred finite volumes, exponential convection scheme, implicit Euler.

``TransientTerm() + ExponentialConvectionTerm(coeff=-x) == DiffusionTerm(1)`` (FiPy writes
convection as ∇·(u p), so u = −x gives ∇·(x p)) on ``Grid2D`` n×n cells of [−6, 6]², with
FiPy's default no-flux walls, p_0 at the cell centres, ``steps`` implicit Euler steps of
Δt = 1/steps, one ``eq.solve`` per step (FiPy re-assembles the sparse matrix each step), and
the SciPy solver suite (``FIPY_SOLVERS=scipy``; ``LinearLUSolver``, SuperLU, by default).
``prepare`` builds the mesh, the variable and the equation; ``solve`` resets the variable
to p_0 and time-steps (FiPy re-assembles every step anyway, so reused ≈ warm).
Config: ``{"n": 128, "steps": 100, "solver": "lu", "warm": 1}``.
"""
import os

os.environ.setdefault("FIPY_SOLVERS", "scipy")

import numpy as np  # noqa: E402
from fipy import (CellVariable, DiffusionTerm, ExponentialConvectionTerm, Grid2D,  # noqa: E402
                  LinearLUSolver, LinearPCGSolver, LinearGMRESSolver, TransientTerm)

from _runner import main  # noqa: E402
from ou_problem import L, T_END, initial_density  # noqa: E402

SOLVERS = {"lu": LinearLUSolver, "pcg": LinearPCGSolver, "gmres": LinearGMRESSolver}


def prepare(config):
    n = int(config["n"])
    h = 2 * L / n
    mesh = Grid2D(dx=h, dy=h, nx=n, ny=n) + ((-L,), (-L,))
    x, y = mesh.cellCenters
    p0 = initial_density(np.asarray(x), np.asarray(y))
    var = CellVariable(mesh=mesh, value=p0)
    u = -mesh.faceCenters  # FaceVariable, rank 1
    eq = TransientTerm() + ExponentialConvectionTerm(coeff=u) == DiffusionTerm(coeff=1.0)
    kind = config.get("solver", "lu")
    solver = SOLVERS[kind](tolerance=1e-12) if kind != "lu" else SOLVERS[kind]()
    return n, int(config["steps"]), mesh, var, p0, eq, solver, kind


def solve(ctx):
    n, steps, mesh, var, p0, eq, solver, kind = ctx
    var.setValue(p0)
    dt = T_END / steps
    for _ in range(steps):
        eq.solve(var=var, dt=dt, solver=solver)
    # FiPy's Grid2D orders cells with x fastest: reshape to (y, x), transpose to (x, y)
    return np.asarray(var.value).reshape(n, n).T.copy(), {"steps": steps, "dt": dt,
                                                          "solver": kind}


if __name__ == "__main__":
    main(prepare, solve)
