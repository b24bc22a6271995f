"""Exact solutions: the Ornstein–Uhlenbeck case α = 0 and the Gaussian closure of linear h."""
import numpy as np
import pytest

from helpers import dataset, scheme
from reference import linear_closure_prediction, ou_cell_averages, ou_gaussian
from solvers.steppers import STEPPERS

MEAN0 = np.array([1.0, -0.5, 0.7])
STD0 = np.array([0.6, 0.8, 0.7])


def ou_l1_error(d, n, stepper="ssprk2", t=1.0, lam=0.5):
    """L1 error at time t of the FV solution of (3.4) with α = 0 from a displaced Gaussian."""
    s = scheme(d, n, alpha=0.0, lam=lam, stepper=stepper)
    state = s.initial_state(MEAN0[:d + 1], STD0[:d + 1])
    assert s.advance(state, t) == 0
    assert state.t == t  # lands exactly on the output time
    mean, std = ou_gaussian(MEAN0[:d + 1], STD0[:d + 1], lam, t)
    exact = ou_cell_averages(s.grid.edges, mean, std)
    return np.abs(state.density - exact).sum() * s.grid.cell_volume


def observed_order(sizes, errors):
    """Least-squares slope of log(error) against log(h) (h ∝ 1/n)."""
    return -np.polyfit(np.log(sizes), np.log(errors), 1)[0]


def test_ou_2d_accuracy_and_order():
    sizes = [32, 64, 128]
    errors = [ou_l1_error(1, n) for n in sizes]
    assert errors[-1] <= 2e-3
    assert observed_order(sizes, errors) >= 1.8


def test_ou_3d_accuracy_and_order():
    sizes = [16, 32, 64]
    errors = [ou_l1_error(2, n) for n in sizes]
    assert errors[-1] <= 5e-3
    assert observed_order(sizes, errors) >= 1.8


@pytest.mark.parametrize("stepper", sorted(STEPPERS))
def test_every_stepper_converges_on_the_exact_ou_solution(stepper):
    """Δt ∝ h² here, so every stepper shows the spatial order 2."""
    sizes = [24, 48, 96]
    errors = [ou_l1_error(1, n, stepper=stepper, t=0.5) for n in sizes]
    assert observed_order(sizes, errors) >= 1.8


def test_linear_activation_matches_gaussian_closure():
    """h(θ,x) = θᵀx: the exact nonlocal dynamics is a Gaussian ODE (math spec §3 item 4)."""
    x, y = dataset(2)
    mu0 = np.array([0.2, -0.1, 0.3])
    times = [0.5, 1.0]
    exact, _, _ = linear_closure_prediction(x, y, 2.0, 0.5, mu0, np.eye(3), times)
    errors = []
    sizes = [16, 32]
    for n in sizes:
        s = scheme(2, n, activation="linear", half_width=7.0)
        state = s.initial_state(mu0, 1.0)
        worst = 0.0
        for t, f_exact in zip(times, exact):
            s.advance(state, t)
            worst = max(worst, np.abs(s.model.prediction(state.density, s.grid) - f_exact).max())
        errors.append(worst)
    assert errors[-1] < 5e-4
    assert observed_order(sizes, errors) >= 1.8
