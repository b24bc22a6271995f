"""The linearly-implicit dimension-split stepper: structure for every Δt, first order in Δt."""
import numpy as np

from helpers import dataset, scheme
from reference import gibbs_prediction


def test_implicit_split_keeps_mass_and_positivity_with_huge_steps():
    s = scheme(2, 14, alpha=5.0, lam=0.2, stepper="implicit-split", cfl=1.0, dt_max=50.0)
    state = s.initial_state([2.0, -1.5, 1.0], [0.3, 0.4, 0.5])
    mass0 = s.grid.integrate(state.density)
    for t in (0.5, 5.0, 50.0):
        assert s.advance(state, t) == 0
        assert state.density.min() >= 0.0
        assert abs(s.grid.integrate(state.density) - mass0) <= 1e-12 * mass0


def test_implicit_split_reaches_the_gibbs_state_in_few_steps():
    x, y = dataset(1)
    s = scheme(1, 48, alpha=2.0, lam=0.5, stepper="implicit-split", cfl=1.0, dt_max=2.0)
    state = s.initial_state(0.0, 1.0)
    s.advance(state, 60.0)
    explicit = scheme(1, 48, alpha=2.0, lam=0.5)
    ex_state = explicit.initial_state(0.0, 1.0)
    explicit.advance(ex_state, 60.0)
    assert 5 * state.steps < ex_state.steps  # Δt is set by the coupling, not by 2λ/h²
    f = s.model.prediction(state.density, s.grid)
    assert np.max(np.abs(f - gibbs_prediction(x, y, 2.0, 0.5, "tanh", half_width=6.0))) < 1e-8


def test_implicit_split_is_first_order_in_time():
    """Same spatial operator as the explicit schemes: compare with a tiny-step SSPRK3 run."""
    ref = scheme(1, 32, alpha=3.0, lam=0.3, stepper="ssprk3", cfl=0.2)
    state = ref.initial_state([1.0, -0.5], [0.7, 0.8])
    ref.advance(state, 1.0)
    errors = []
    steps = [0.04, 0.02, 0.01]
    for dt in steps:
        s = scheme(1, 32, alpha=3.0, lam=0.3, stepper="implicit-split", cfl=1.0, dt_max=dt)
        st = s.initial_state([1.0, -0.5], [0.7, 0.8])
        s.advance(st, 1.0)
        errors.append(np.abs(st.density - state.density).sum() * s.grid.cell_volume)
    order = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert 0.85 <= order <= 1.3
