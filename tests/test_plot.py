"""``fokkerplanck plot``: every kind from the built-in examples is a valid image of its size."""
import re

import numpy as np
import pytest
from PIL import Image

from fokkerplanck import plot
from fokkerplanck.cli import main
from fokkerplanck.config import load_config
from fokkerplanck.examples import EXAMPLES, example_text
from fokkerplanck.io import Recorder
from fokkerplanck.run import solve
from fokkerplanck.simulation import simulate


def _write_radial(path, times=np.linspace(0.0, 2.0, 9), cells=80):
    """A file with the radial layout of the isotropic-Gaussians problem (io.py contract)."""
    h = 4.0 / cells
    r = (np.arange(cells) + 0.5) * h
    names = ("risk", "mass", "mean_r", "free_energy")
    rec = Recorder(path, 'model = {kind = "isotropic-gaussians", delta = 0.5}\n', grid={"r": r},
                   fields={"density": (cells,), **{f"diagnostics/{k}": () for k in names}},
                   attrs={"problem": "isotropic-gaussians", "method": "finite-volume"})
    for t in times:
        mu = 0.8 + 0.5 * t
        rho = np.exp(-(r - mu) ** 2 / 0.1)
        rho /= rho.sum() * h
        rec.append(t, {"density": rho, "diagnostics/risk": 0.5 * np.exp(-t),
                       "diagnostics/mass": 1.0, "diagnostics/mean_r": mu,
                       "diagnostics/free_energy": 0.4 * np.exp(-t)})
    rec.close()
    return path


def _write_radial_particles(path, times=np.linspace(0.0, 2.0, 5), m=400, dim=8, seed=1):
    """A particle file of the isotropic problem: /particles (T, m, D), risk and mean radius."""
    rng = np.random.default_rng(seed)
    rec = Recorder(path, 'model = {kind = "isotropic-gaussians", delta = 0.5}\n', grid={},
                   fields={"particles": (m, dim), "diagnostics/risk": (),
                           "diagnostics/mean_r": ()},
                   attrs={"problem": "isotropic-gaussians", "method": "particles", "count": m})
    for t in times:
        w = rng.standard_normal((m, dim))
        w *= ((0.8 + 0.5 * t) / np.sqrt(dim))
        rec.append(t, {"particles": w, "diagnostics/risk": 0.5 * np.exp(-t) + 0.01,
                       "diagnostics/mean_r": np.linalg.norm(w, axis=1).mean()})
    rec.close()
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small runs of the built-in examples (PDE and particles, d = 1 and 2) and a radial file."""
    root = tmp_path_factory.mktemp("plot")
    out = {}
    cfg1 = load_config(text=example_text("noisy-gd-1d"),
                       overrides=["grid.cells=[24,24]", "time.t_end=1"])
    cfg2 = load_config(text=example_text("noisy-gd-2d"),
                       overrides=["grid.cells=[10,10,10]", "time.t_end=0.5"])
    out["g1"] = solve(cfg1, output=root / "g1.h5").path
    out["g2"] = solve(cfg2, output=root / "g2.h5").path
    particles = ["particles.count=300", "particles.save_particles=true"]
    out["p1"] = simulate(cfg1.replace(particles), output=root / "p1.h5").path
    out["p2"] = simulate(cfg2.replace(particles), output=root / "p2.h5").path
    out["radial"] = _write_radial(root / "radial.h5")
    out["rp"] = _write_radial_particles(root / "rp.h5")
    return out


def _px(kind, geo):
    w, h = plot.figure_size(kind, geo)
    return round(w * plot.DPI), round(h * plot.DPI)


def _check_png(path, size):
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size == size
        pixels = np.asarray(im.convert("L"))
    assert len(np.unique(pixels)) > 20          # something was drawn


CASES = [  # (file, extra arguments, kind, geometry of the figure)
    ("g1", [], "density", "box2"),
    ("g1", [], "marginals", "box2"),
    ("g1", [], "loss", "box2"),
    ("g1", ["--with", "p1"], "loss", "box2"),
    ("g1", ["--with", "p1"], "compare", "box2"),
    ("g2", [], "density", "box3"),
    ("g2", [], "marginals", "box3"),
    ("p2", ["--with", "g2"], "compare", "box3"),      # files in either order
    ("p1", [], "loss", "particles"),
    ("p1", ["--with", "g1"], "loss", "box2"),         # the PDE is drawn, particles on top
    ("radial", [], "density", "radial"),
    ("radial", [], "marginals", "radial"),
    ("radial", [], "risk", "radial"),
    ("radial", ["--with", "rp"], "risk", "radial"),
    ("radial", ["--with", "rp"], "compare", "radial"),
    ("rp", [], "risk", "particles"),
]


@pytest.mark.parametrize("name, extra, kind, geo", CASES,
                         ids=[f"{c[0]}-{c[2]}{'-with' if c[1] else ''}" for c in CASES])
def test_every_kind_is_an_image_of_its_size(files, tmp_path, capsys, name, extra, kind, geo):
    extra = [str(files[a]) if a in files else a for a in extra]
    out = tmp_path / "fig.png"
    assert main(["plot", str(files[name]), "--kind", kind, *extra, "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    _check_png(out, _px(kind, geo))


def test_sizes_are_pinned():
    assert _px("density", "box2") == (1440, 460)
    assert _px("compare", "box2") == (1440, 1080)


def test_pdf_has_the_figure_size(files, tmp_path):
    assert main(["plot", str(files["g2"]), "--kind", "density", "--format", "pdf",
                 "-o", str(tmp_path / "fig_0.5")]) == 0
    data = (tmp_path / "fig_0.5.pdf").read_bytes()
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    box = [float(v) for v in re.search(rb"/MediaBox \[\s*([\d.\s]+)\]", data).group(1).split()]
    w, h = plot.figure_size("density", "box3")
    assert box == pytest.approx([0, 0, 72 * w, 72 * h])


def test_default_kind_and_path_follow_the_file(files, tmp_path, monkeypatch):
    for key in ("g1", "p1"):
        (tmp_path / files[key].name).write_bytes(files[key].read_bytes())
    assert main(["plot", str(tmp_path / "g1.h5")]) == 0
    _check_png(tmp_path / "g1-density.png", _px("density", "box2"))
    assert main(["plot", str(tmp_path / "p1.h5")]) == 0
    _check_png(tmp_path / "p1-loss.png", _px("loss", "particles"))
    assert main(["plot", str(tmp_path / "g1.h5"), "--with", str(tmp_path / "p1.h5")]) == 0
    _check_png(tmp_path / "g1-compare.png", _px("compare", "box2"))
    assert plot.default_kind(plot.load(files["radial"])) == "density"


@pytest.mark.parametrize("name, geo, size", [("g1", "box2", (480, 320)),
                                             ("g2", "box3", (720, 320)),
                                             ("radial", "radial", (480, 320))])
def test_movie_is_a_gif_with_one_frame_per_snapshot(files, tmp_path, name, geo, size):
    data = plot.load(files[name])
    path = plot.make_movie(data, tmp_path / "movie_0.5", writer="pillow")
    assert path == tmp_path / "movie_0.5.gif"
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.size == size
        assert im.n_frames == len(data["time"])


def test_cli_movie_is_named_after_the_image(files, tmp_path, capsys):
    out = tmp_path / "fig_lam=0.5.png"
    assert main(["plot", str(files["g1"]), "--movie", "-o", str(out)]) == 0
    movie = tmp_path / ("fig_lam=0.5" + plot.movie_writer()[1])
    assert capsys.readouterr().out.split() == ["wrote", str(out), "wrote", str(movie)]
    assert out.exists() and movie.stat().st_size > 0


def test_movie_is_skipped_with_a_message_without_an_encoder(files, tmp_path, capsys,
                                                            monkeypatch):
    from matplotlib import animation

    monkeypatch.setattr(animation.writers, "is_available", lambda name: False)
    out = tmp_path / "fig.png"
    assert main(["plot", str(files["g1"]), "--movie", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "movie skipped" in err and len(err.strip().splitlines()) == 1
    assert out.exists()
    assert not list(tmp_path.glob("fig.gif")) and not list(tmp_path.glob("fig.mp4"))


@pytest.mark.parametrize("args, words", [
    (["{tmp}/missing.h5"], "does not exist"),
    (["{p1}", "--kind", "density"], "not available"),
    (["{g1}", "--kind", "risk"], "not available"),
    (["{g1}", "--kind", "compare"], "--with"),
    (["{g1}", "--kind", "compare", "--with", "{g2}"], "one PDE file and one particle file"),
    (["{g1}", "--kind", "loss", "--with", "{g2}"], "one PDE file and one particle file"),
    (["{g1}", "--kind", "pictures"], "--kind must be one of"),
    (["{g1}", "-o", "{tmp}/fig.jpg"], ".png or .pdf"),
    (["{g1}", "-o", "{tmp}/no/such/dir/fig.png"], "does not exist"),
    (["{p1}", "--movie"], "no /density"),
])
def test_bad_input_is_one_line_exit_2(files, tmp_path, capsys, args, words):
    names = {k: str(v) for k, v in files.items()}
    args = [a.format(tmp=tmp_path, **names) for a in args]
    assert main(["plot", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err
    assert not list(tmp_path.glob("*.png"))


def test_real_isotropic_example_if_available(tmp_path):
    names = [n for n, (_, text) in EXAMPLES.items() if 'kind = "isotropic-gaussians"' in text]
    if not names:
        pytest.skip("no isotropic-gaussians example registered yet")
    cfg = load_config(text=example_text(names[0]))
    cfg = cfg.replace([f"time.t_end={2 * cfg.time.save_every}"])
    path = solve(cfg, output=tmp_path / "iso.h5").path
    for kind in plot.available_kinds(plot.load(path)):
        out = plot.plot_file(path, kind, tmp_path / f"{kind}.png")
        _check_png(out, _px(kind, plot.geometry(plot.load(path))))
