"""Compiled finite-volume kernels against their NumPy twins and the scheme's exact properties."""
import numpy as np
import pytest

from helpers import scheme
from solvers import _fv_kernels as kern
from solvers.finite_volume import _bernoulli_ref, rhs_reference


def test_bernoulli_matches_expm1_form_across_scales():
    v = np.concatenate([-np.logspace(-14, 2.8, 400), [0.0], np.logspace(-14, 2.8, 400)])
    got = kern.bernoulli_array(v)
    want = _bernoulli_ref(v)  # v / expm1(v): accurate to a few ulp everywhere
    assert np.max(np.abs(got - want) / want) < 5e-14


def test_bernoulli_reflection_identity():
    v = np.linspace(-30, 30, 1201)
    assert np.allclose(kern.bernoulli_array(-v), kern.bernoulli_array(v) + v, rtol=1e-13,
                       atol=1e-13)


@pytest.mark.parametrize("d, cells", [(1, [13, 17]), (2, [7, 9, 11])])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "linear"])
@pytest.mark.parametrize("alpha, lam", [(3.0, 0.3), (40.0, 0.02)])  # moderate; |v| up to ~1e3
def test_stage_kernel_matches_numpy_twin(d, cells, activation, alpha, lam, rng):
    s = scheme(d, cells, activation, alpha=alpha, lam=lam)
    p = np.ascontiguousarray(s.grid.gaussian_cell_averages(rng.normal(0, 0.5, d + 1),
                                                           rng.uniform(0.6, 1.4, d + 1)))
    p *= rng.uniform(0.5, 1.5, p.shape)  # not a Gaussian any more
    got = s.rhs(p)
    want = rhs_reference(s.model, s.grid, p)
    assert np.max(np.abs(got - want)) < 1e-12 * np.max(np.abs(want))


@pytest.mark.parametrize("d", [1, 2])
def test_coupling_kernel_matches_model(d, rng):
    s = scheme(d, [9] * (d + 1))
    p = np.ascontiguousarray(rng.uniform(0, 1, s.grid.shape))
    f, A = s.coupling(p)
    f_ref = s.model.prediction(p, s.grid)
    assert np.allclose(f, f_ref, rtol=1e-13, atol=1e-15)
    A_ref = s.model.coupling(f_ref, s.grid)
    assert np.allclose(A.reshape(A_ref.shape), A_ref, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("d", [1, 2])
def test_flux_form_conserves_mass_exactly(d, rng):
    s = scheme(d, [10] * (d + 1), alpha=4.0)
    p = np.ascontiguousarray(rng.uniform(0, 1, s.grid.shape))
    rate = s.rhs(p)
    # the sum of a flux-form update telescopes: only rounding of the terms remains
    assert abs(rate.sum()) < 1e-13 * np.abs(rate).sum()


@pytest.mark.parametrize("d", [1, 2])
def test_discrete_gibbs_state_is_exactly_stationary_for_frozen_potential(d, rng):
    """p ∝ exp(−W_c/λ) makes every Scharfetter–Gummel flux vanish (no O(h²) error)."""
    s = scheme(d, [11] * (d + 1), alpha=3.0, lam=0.4)
    f = rng.normal(0, 0.5, s.model.data.n)
    p = np.ascontiguousarray(s.model.gibbs_density(f, s.grid))
    A = s.model.coupling(f, s.grid).reshape(s.kernel_shape[:2])
    out = np.empty(s.kernel_shape)
    mom = np.empty((3, *A.shape))
    pk = p.reshape(s.kernel_shape)
    s._stage(pk, pk, out, 0.0, 1.0, 1.0, A, mom)
    resid = out - pk
    flux_scale = s.model.lam / s.grid.spacing.min() ** 2 * p.max()
    assert np.max(np.abs(resid)) < 1e-13 * flux_scale


def _max_outflow_rate(s, p):
    """Exact max over cells of ∑_faces (λ/h²) B(±v) from the NumPy definitions."""
    f = s.model.prediction(p, s.grid)
    w = np.broadcast_to(s.model.potential(s.model.coupling(f, s.grid), s.grid), s.grid.shape)
    rate = np.zeros(s.grid.shape)
    for axis, h in enumerate(s.grid.spacing):
        v = np.diff(w, axis=axis) / s.model.lam
        out_right = _bernoulli_ref(v) * s.model.lam / h ** 2   # leaves the left cell
        out_left = _bernoulli_ref(-v) * s.model.lam / h ** 2   # leaves the right cell
        pad_hi = [(0, 0)] * w.ndim
        pad_hi[axis] = (0, 1)
        pad_lo = [(0, 0)] * w.ndim
        pad_lo[axis] = (1, 0)
        rate += np.pad(out_right, pad_hi) + np.pad(out_left, pad_lo)
    return rate.max()


@pytest.mark.parametrize("d, alpha", [(1, 0.0), (1, 5.0), (2, 5.0)])
def test_positivity_rate_bounds_the_true_outflow_rate(d, alpha, rng):
    s = scheme(d, [12] * (d + 1), alpha=alpha, lam=0.2)
    p = np.ascontiguousarray(s.grid.gaussian_cell_averages(rng.normal(0, 1, d + 1), 0.8))
    true_rate = _max_outflow_rate(s, p)
    bound = 1.0 / s.max_stable_dt(p)
    assert true_rate <= bound * (1 + 1e-12)
    assert bound < 2.5 * true_rate  # and it is not uselessly loose


def test_euler_step_at_the_bound_stays_non_negative(rng):
    s = scheme(1, [24, 24], alpha=6.0, lam=0.1, stepper="euler", cfl=1.0)
    p = np.ascontiguousarray(s.grid.gaussian_cell_averages([2.0, -1.0], [0.3, 0.4]))
    state = s.initial_state([2.0, -1.0], [0.3, 0.4])
    for _ in range(50):
        assert s.advance(state, state.t + 10.0, max_steps=1) == 0
        assert state.density.min() >= 0.0
    assert p.min() >= 0


@pytest.mark.parametrize("nu", [3, 8, 33, 128, 257])
@pytest.mark.parametrize("c", [0.0, 1e-3, -0.7, 3.0, -45.0, 120.0, -400.0, 2000.0])
def test_exp_recurrence_matches_exp_and_saturates_in_the_right_direction(nu, c):
    u = np.linspace(-6, 6, nu + 1)
    u = 0.5 * (u[1:] + u[:-1])
    du = 12.0 / nu  # as the grid does (u[1] - u[0] would carry ~1e-14 cancellation error)
    got = np.empty(nu)
    kern._exp_linear_in_u(c, u, du, got)
    with np.errstate(over="ignore"):
        want = np.exp(c * u)
    finite = np.isfinite(want) & (want > 1e-300)
    # the centres carry absolute rounding ~ L·eps (L = 6), which exp turns into a relative
    # error |c|·L·eps; the recurrence adds <= nu/8 + 4 products by q⁴ (each <= ~6 ulp)
    tol = np.finfo(float).eps * (2 * abs(c) * 6.0 + 6 * (nu / 8 + 4))
    assert np.all(np.abs(got[finite] / want[finite] - 1) <= tol)
    assert np.all(got[~finite] == np.where(np.isinf(want[~finite]), np.inf, got[~finite]))
    assert np.all(got[want == 0] <= 1e-300)
    assert not np.isnan(got).any()


@pytest.mark.parametrize("d", [1, 2])
def test_fused_moments_of_the_stage_output(d, rng):
    s = scheme(d, [9] * (d + 1))
    p = np.ascontiguousarray(rng.uniform(0, 1, s.kernel_shape))
    _, A = s.coupling(p.reshape(s.grid.shape))
    out = np.empty_like(p)
    mom = np.empty((3, *A.shape))
    s._stage(p, p, out, 0.0, 1.0, 1e-3, A, mom)
    for q in range(3):
        want = (out * s.u ** q).sum(axis=-1) * s.du
        assert np.allclose(mom[q], want, rtol=1e-13, atol=1e-16)


def test_nonlocal_rate_is_the_ntk_trace(rng):
    """(2α²/n) tr H(p) from the fused moments equals the trace of the model's Gram matrix."""
    s = scheme(2, [10, 11, 12], alpha=3.0)
    p = np.ascontiguousarray(rng.uniform(0, 1, s.grid.shape))
    gram = s.model.ntk_gram(p, s.grid)
    want = 2 * 3.0 ** 2 / s.model.data.n * np.trace(gram)
    assert np.isclose(s.nonlocal_rate(p), want, rtol=1e-12)
