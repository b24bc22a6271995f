r"""Strong-stability-preserving Runge–Kutta schemes in Shu–Osher form, as data.

Every scheme here is written as S stages that each combine the old solution with one forward
Euler step of the previous stage:

.. math::  y_0 = p^n,\qquad y_s = a_s\,p^n + b_s\,\big(y_{s-1} + \Delta t\,L(y_{s-1})\big),\qquad p^{n+1} = y_S,

with a_s, b_s ≥ 0 and a_s + b_s = 1.  Each stage is then a convex combination of p^n and a
forward Euler step, so any property a forward Euler step has under Δt ≤ Δt_FE — positivity,
conservation of mass — carries over with SSP coefficient 1 (Gottlieb, Shu & Tadmor, SIAM Rev.
43 (2001); Shu & Osher, J. Comput. Phys. 77 (1988)).  The compiled marcher
(:func:`solvers._fv_kernels.advance`) runs any tableau of this form.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ShuOsher", "STEPPERS"]


@dataclass(frozen=True)
class ShuOsher:
    """An SSP Runge–Kutta scheme: name, order of accuracy and the stage weights (a_s, b_s)."""

    name: str
    order: int
    a: tuple[float, ...]
    b: tuple[float, ...]

    def __post_init__(self):
        if len(self.a) != len(self.b) or not np.allclose(np.add(self.a, self.b), 1.0):
            raise ValueError("Shu-Osher weights must satisfy a_s + b_s = 1")

    @property
    def stages(self) -> int:
        return len(self.a)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.a, float), np.array(self.b, float)


STEPPERS = {
    s.name: s
    for s in (
        ShuOsher("euler", 1, (0.0,), (1.0,)),
        ShuOsher("ssprk2", 2, (0.0, 0.5), (1.0, 0.5)),
        ShuOsher("ssprk3", 3, (0.0, 0.75, 1.0 / 3.0), (1.0, 0.25, 2.0 / 3.0)),
    )
}
