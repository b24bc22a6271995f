"""Compiled helpers shared by every time marcher."""
from ._jit import njit


@njit(inline="always")
def land_on(t, t_end, dt):
    """Shorten Δt so that the march lands exactly on ``t_end`` without a sliver step.

    Returns (Δt, last): the whole remaining interval when Δt covers it (``last`` is then
    True and the caller sets t = t_end exactly), half of it when Δt covers more than half
    (two equal steps instead of a long and a tiny one), Δt unchanged otherwise.
    """
    remaining = t_end - t
    if dt >= remaining:
        return remaining, True
    if 2.0 * dt > remaining:
        return 0.5 * remaining, False
    return dt, False
