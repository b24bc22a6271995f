"""Small builders shared by the solver tests (tiny grids, so kernels compile once)."""
import numpy as np

from fokkerplanck.data import Data
from fokkerplanck.grids import BoxGrid
from fokkerplanck.models import NoisyGDModel
from reference import chk_dataset_1d, tiny_dataset_2d
from solvers.finite_volume import FiniteVolumeScheme


def dataset(d):
    """The spec §2.4 data set for d = 1, the reference module's tiny set for d = 2."""
    return chk_dataset_1d() if d == 1 else tiny_dataset_2d()


def scheme(d, cells, activation="tanh", alpha=2.0, lam=0.5, half_width=6.0, stepper="ssprk2",
           cfl=0.9, dt_max=np.inf):
    x, y = dataset(d)
    model = NoisyGDModel(Data(x, y), activation, alpha, lam)
    cells = [cells] * (d + 1) if np.isscalar(cells) else cells
    grid = BoxGrid.for_state(d, cells, half_width)
    return FiniteVolumeScheme(model, grid, stepper, cfl, dt_max)
