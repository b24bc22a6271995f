"""Built-in example configurations (``fokkerplanck example NAME``)."""
from __future__ import annotations

from .errors import UserInputError

__all__ = ["EXAMPLES", "DEFAULT_EXAMPLE", "example_text"]

#: The data set of math spec §2.4 (d = 1), whose Gibbs state is known to 5 digits.
_DATA_1D = """\
[data]
x = [[-0.8], [-0.2], [0.5], [0.9]]
y = [0.3, -0.5, 0.6, 0.1]
"""

_DATA_2D = """\
[data]
x = [[0.6, -0.3], [-0.2, 0.9], [0.5, 0.5], [-0.7, -0.4]]
y = [0.3, -0.5, 0.6, 0.1]
"""

EXAMPLES = {
    "noisy-gd-1d": ("PDE (3.4), d = 1, tanh, a visible transient towards the Gibbs state",
                    f"""\
# PDE (3.4) of Chen, Cao, Gu & Zhang (2020): noisy GD with weight decay, d = 1 (2-D grid).
[model]
kind = "noisy-gd"
activation = "tanh"
alpha = 2.0
lam = 0.5

{_DATA_1D}
[grid]
cells = [96, 96]      # theta1, u
half_width = 6.0

[initial]
mean = [0.0, 0.0]
std = [1.0, 1.0]

[time]
t_end = 10.0
save_every = 0.25

[solver]
method = "finite-volume"   # or "spectral" (Hermite; [grid] is then the output grid)
cfl = 0.9

[output]
path = "noisy-gd-1d.h5"
"""),
    "noisy-gd-2d": ("PDE (3.4), d = 2, tanh (3-D grid)", f"""\
# PDE (3.4), d = 2: the state (theta1, theta2, u) lives on a 3-D grid.
[model]
kind = "noisy-gd"
activation = "tanh"
alpha = 2.0
lam = 0.5

{_DATA_2D}
[grid]
cells = [40, 40, 40]  # theta1, theta2, u
half_width = 6.0

[initial]
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]

[time]
t_end = 5.0
save_every = 0.25

[solver]
method = "finite-volume"

[output]
path = "noisy-gd-2d.h5"
"""),
    "ou-2d": ("alpha = 0: an Ornstein-Uhlenbeck process with a Gaussian exact solution", f"""\
# With alpha = 0 the data decouple and (3.4) is the OU equation dp/dt = lam div(z p + grad p).
[model]
kind = "noisy-gd"
activation = "tanh"
alpha = 0.0
lam = 0.5

{_DATA_1D}
[grid]
cells = [128, 128]
half_width = 6.0

[initial]
mean = [1.0, -0.5]
std = [0.6, 0.8]

[time]
t_end = 1.0
save_every = 0.25

[output]
path = "ou-2d.h5"
"""),
    "linear-2d": ("linear activation: Gaussian closure, an exact test of the nonlocal drift", f"""\
# h(theta, x) = theta . x keeps Gaussians Gaussian (math spec section 3, item 4).
[model]
kind = "noisy-gd"
activation = "linear"
alpha = 2.0
lam = 0.5

{_DATA_2D}
[grid]
cells = [40, 40, 40]
half_width = 7.0

[initial]
mean = [0.2, -0.1, 0.3]
std = [1.0, 1.0, 1.0]

[time]
t_end = 2.0
save_every = 0.25

[output]
path = "linear-2d.h5"
"""),
    "transient-1d": ("PDE (3.4) vs finite networks, d = 1: loss falls 20x (validate example)",
                     """\
# A visible transient for PDE <-> particle cross-validation (fokkerplanck validate):
# f(p_0) = 0 is far from y = 0.95 sin(2.2 x), and with alpha = 1, lam = 0.1 the loss falls
# from 0.55 to 0.028 by t = 4.  The grid is fine enough that the PDE error in f(x_i)
# (~2e-4) is far below the particle error at m = 1e5.
[model]
kind = "noisy-gd"
activation = "tanh"
alpha = 1.0
lam = 0.1

[data]
x = [[-0.9], [-0.65], [-0.4], [-0.15], [0.15], [0.4], [0.65], [0.9]]
y = [-0.872, -0.941, -0.732, -0.308, 0.308, 0.732, 0.941, 0.872]

[grid]
cells = [256, 256]    # theta1, u
half_width = 6.0

[initial]
mean = [0.0, 0.0]
std = [1.0, 1.0]

[time]
t_end = 4.0
save_every = 0.25

[solver]
method = "finite-volume"

[particles]
count = 10000
step = 0.0025
seed = 0

[output]
path = "transient-1d.h5"
"""),
    "transient-2d": ("PDE (3.4) vs finite networks, d = 2: loss falls 18x (validate example)",
                     """\
# d = 2 companion of transient-1d: y = 0.95 sin(1.5 x1 + 2 x2) at 8 points of the unit disc.
[model]
kind = "noisy-gd"
activation = "tanh"
alpha = 1.0
lam = 0.1

[data]
x = [[0.882, 0.179], [0.276, 0.417], [-0.159, 0.784], [-0.333, 0.221],
     [-0.931, -0.189], [-0.332, -0.5], [0.139, -0.686], [0.708, -0.47]]
y = [0.944, 0.901, 0.922, -0.055, -0.93, -0.947, -0.872, 0.116]

[grid]
cells = [96, 96, 96]  # theta1, theta2, u
half_width = 6.0

[initial]
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]

[time]
t_end = 4.0
save_every = 0.25

[solver]
method = "finite-volume"

[particles]
count = 10000
step = 0.0025
seed = 0

[output]
path = "transient-2d.h5"
"""),
}

EXAMPLES["noisy-gd-1d-spectral"] = (
    "noisy-gd-1d solved by the Hermite spectral method (the reference for FV)",
    EXAMPLES["noisy-gd-1d"][1]
    .replace('method = "finite-volume"   # or "spectral" (Hermite; [grid] is then the output '
             'grid)\ncfl = 0.9',
             'method = "spectral"\nmodes = [48, 24]      # theta1, u\nrtol = 1e-10')
    .replace('path = "noisy-gd-1d.h5"', 'path = "noisy-gd-1d-spectral.h5"'))

EXAMPLES["isotropic-fig1"] = (
    "Mei-Montanari-Nguyen Fig. 1: isotropic Gaussians, d = 40, radial PDE vs SGD (N = 800)",
    """\
# Mei, Montanari & Nguyen (PNAS 2018), Figure-1 setting: y = +-1, x | y ~ N(0, (1 +- delta)^2 I_d),
# yhat = (1/N) sum_i sigma(<w_i, x>), sigma piecewise linear (believed paper values below),
# w_i ~ N(0, kappa^2/d I_d), xi = 1.  `fokkerplanck solve` runs the radial PDE (~0.3 s),
# `fokkerplanck simulate` the N = 800 SGD (10^6 steps of eps = 1e-5), `fokkerplanck compare`
# puts them side by side (risk, W1 between the PDE law of |w| and the neurons' radii).
[model]
kind = "isotropic-gaussians"
delta = 0.8
dim = 40              # or "infinite": the d -> infinity reduction (PDE only)
t1 = 0.5
t2 = 1.5
s1 = -2.5
s2 = 7.5

[grid]
cells = 1600
r_max = 8.0

[initial]
kappa = 0.8

[time]
t_end = 10.0
save_every = 0.5

[solver]
method = "finite-volume"
limiter = "mc"

[particles]
count = 800
step = 1e-5
seed = 0

[output]
path = "isotropic-fig1.h5"
""")

EXAMPLES["isotropic-noisy"] = (
    "isotropic Gaussians with noise and weight decay: relaxation to the Gibbs fixed point",
    """\
# Noisy SGD w <- (1 - 2 lam s) w + 2 s (y - yhat) sigma' x + sqrt(4 s / beta) g and its radial PDE;
# the density relaxes to rho* ~ r^(d-1) exp(-beta (psi(r; rho*) + lam r^2 / 2)) by t ~ 10.
[model]
kind = "isotropic-gaussians"
delta = 0.8
dim = 40
beta = 40.0
lam = 0.5

[grid]
cells = 200
r_max = 5.0

[initial]
kappa = 0.8

[time]
t_end = 10.0
save_every = 0.5

[particles]
count = 400
step = 1e-4
seed = 0

[output]
path = "isotropic-noisy.h5"
""")

DEFAULT_EXAMPLE = "noisy-gd-1d"


def example_text(name: str) -> str:
    """The TOML text of a built-in example."""
    try:
        return EXAMPLES[name][1]
    except KeyError:
        import difflib

        hint = difflib.get_close_matches(name, list(EXAMPLES), n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise UserInputError(f"unknown example {name!r} (known: {', '.join(EXAMPLES)}){extra}"
                             ) from None
