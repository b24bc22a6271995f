"""Shared fixtures: strict floating-point errors, a seeded generator, tiny problems."""
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _strict_floating_point():
    old = np.seterr(all="raise", under="ignore")
    yield
    np.seterr(**old)


@pytest.fixture
def rng():
    return np.random.default_rng(20201125)
