"""fplanck 0.2.2: master-equation discretisation, propagated by ``expm_multiply``.

fplanck's physical units: D = k_B T / drag, drift = force / drag.  With drag = 1 and
T = 1/k_B, D = 1 and β = 1, and the potential |x|²/2 (or the force −x) gives
∂_t p = ∇·(x p) + Δp.  Grid points sit at the centres of n×n cells of [−6, 6]² when
``resolution = 12/n``; fplanck normalises p_0 to Σp = 1, so the density is p / h².
``prepare`` builds the solver object (its sparse matrix, in a Python loop over the grid);
``solve`` is ``propagate``; the ordinary call (warm) is both.
Config: ``{"n": 128, "drift": "potential" | "force", "dense": false, "warm": 1}``.
"""
import numpy as np

if not hasattr(np, "product"):  # fplanck 0.2.2 calls np.product, removed in NumPy 2
    np.product = np.prod

from scipy import constants  # noqa: E402

import fplanck  # noqa: E402
from _runner import main  # noqa: E402
from ou_problem import L, T_END, initial_density  # noqa: E402


def prepare(config):
    n = int(config["n"])
    h = 2 * L / n
    kwargs = dict(temperature=1 / constants.k, drag=1.0, extent=[2 * L, 2 * L],
                  resolution=h, boundary=fplanck.boundary.reflecting)
    if config.get("drift", "potential") == "potential":
        kwargs["potential"] = lambda x, y: 0.5 * (x * x + y * y)
    else:
        kwargs["force"] = lambda x, y: np.array([-x, -y])
    sim = fplanck.fokker_planck(**kwargs)
    if tuple(sim.Ngrid) != (n, n):
        raise RuntimeError(f"fplanck grid {tuple(sim.Ngrid)} != ({n}, {n})")
    return sim, h, bool(config.get("dense", False))


def solve(ctx):
    sim, h, dense = ctx
    p = sim.propagate(initial_density, T_END, dense=dense)
    return p / h ** 2, {"cells": int(p.size)}


if __name__ == "__main__":
    main(prepare, solve)
