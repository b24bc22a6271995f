"""Output files open in xarray (h5netcdf) with named dimensions; the XDMF sidecar is valid."""
import xml.etree.ElementTree as ET

import h5py
import numpy as np
import xarray as xr

import fokkerplanck as fp

SMALL_2D = ["grid.cells=[12, 14]", "time.t_end=0.2", "time.save_every=0.1"]
SMALL_3D = ["grid.cells=[6, 7, 8]", "time.t_end=0.2", "time.save_every=0.1"]


def test_2d_result_opens_in_xarray_with_named_dimensions(tmp_path):
    res = fp.solve(fp.load_config(overrides=SMALL_2D), output=tmp_path / "a.h5")
    ds = xr.open_dataset(res.path, engine="h5netcdf")
    assert ds["density"].dims == ("time", "theta1", "u")
    assert ds["prediction"].dims == ("time", "sample")
    assert ds.sizes == {"time": 3, "theta1": 12, "u": 14, "sample": 4, "input": 1}
    assert np.allclose(ds["theta1"], res.grid.centres[0])
    diag = xr.open_dataset(res.path, engine="h5netcdf", group="diagnostics")
    assert diag["loss"].dims == ("time",)
    merged = res.to_xarray()
    assert np.allclose(merged["loss"], res.diagnostics["loss"])
    assert np.array_equal(merged["density"][-1].values, res.density)


def test_3d_result_opens_in_xarray_and_has_a_valid_xdmf_sidecar(tmp_path):
    cfg = fp.load_config(text=fp.example("noisy-gd-2d"), overrides=SMALL_3D)
    res = fp.solve(cfg, output=tmp_path / "b.h5")
    ds = fp.open_xarray(res.path)
    assert ds["density"].dims == ("time", "theta1", "theta2", "u")
    assert ds.sizes["theta2"] == 7
    sidecar = tmp_path / "b.h5.xdmf"
    tree = ET.parse(sidecar)  # well-formed XML
    grids = tree.getroot().findall("./Domain/Grid/Grid")
    assert len(grids) == 3
    with h5py.File(res.path) as f:
        for grid in grids:
            dims = tuple(int(v) for v in grid.find("Topology").get("Dimensions").split())
            assert dims == f["density"].shape[1:]
            for item in grid.iter("DataItem"):
                if item.get("Format") != "HDF":
                    continue
                name, _, dataset = item.text.partition(":")
                assert name == "b.h5" and dataset in f
                shape = tuple(int(v) for v in item.get("Dimensions").split())
                assert f[dataset].shape == shape


def test_in_memory_result_to_xarray():
    res = fp.solve(fp.load_config(overrides=SMALL_2D))
    ds = res.to_xarray()
    assert ds["final_density"].dims == ("theta1", "u")
    assert ds["loss"].dims == ("time",) and ds.sizes["time"] == 3


def test_radial_result_opens_in_xarray_with_named_dimensions(tmp_path):
    cfg = fp.load_config(text=fp.example("isotropic-fig1"),
                         overrides=["grid.cells=64", "time.t_end=0.5", "time.save_every=0.25"])
    res = fp.solve(cfg, output=tmp_path / "r.h5")
    ds = xr.open_dataset(res.path, engine="h5netcdf")
    assert ds["density"].dims == ("time", "r")
    assert ds.sizes["r"] == 64 and ds.sizes["time"] == 3
    merged = fp.open_xarray(res.path)
    assert merged["risk"].dims == ("time",)
    assert np.allclose(merged["risk"], res.diagnostics["risk"])
