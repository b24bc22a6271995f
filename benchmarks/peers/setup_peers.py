"""Install the peer solvers into their own virtual environment ``benchmarks/.venv-peers``.

``python -m benchmarks.peers.setup_peers [--force]``

The peers are installed from PyPI at pinned versions, one ``pip install`` per peer, so that a
peer that cannot be installed is recorded (with pip's last error line) and the others still
are.  The result is written to ``benchmarks/.venv-peers/peers-status.json``::

    {"python": "3.11.7", "peers": {"fplanck": {"ok": true, "version": "0.2.2"}, ...}}

The benchmark (:mod:`benchmarks.bench_peers`) reads that file and reports every peer that is
not ``ok`` as ``skipped: <reason>``.  The virtual environment is isolated (no system
site-packages), so the peers' own dependency pins cannot disturb the project's environment
(nor ours theirs).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE.parent / ".venv-peers"
STATUS = VENV / "peers-status.json"

#: peer -> (pip requirement, import name).  fplanck 1.x needs Python >= 3.12; 0.2.2 runs on
#: NumPy 2 with the ``np.product`` alias the runner script adds at run time.
PEERS = {
    "fplanck": ("fplanck==0.2.2", "fplanck"),
    "py-pde": ("py-pde==0.59.0", "pde"),
    "fipy": ("fipy==4.0.3", "fipy"),
}
#: shared by all runners (the error metric and timing): same NumPy/SciPy major as ours
BASE = ["numpy>=2,<3", "scipy>=1.10"]


def venv_python(root: Path = VENV) -> Path:
    return root / "bin" / "python"


def read_status(root: Path = VENV) -> dict | None:
    """The status file, or None when the environment was never set up."""
    path = root / "peers-status.json"
    if not (path.exists() and venv_python(root).exists()):
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _pip(py: Path, *args: str, timeout: float = 1800) -> tuple[bool, str]:
    proc = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check",
                           "--quiet", *args], capture_output=True, text=True, timeout=timeout)
    tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    return proc.returncode == 0, (tail[-1] if tail else "")


def _version(py: Path, module: str, dist: str) -> tuple[bool, str]:
    """Import ``module`` in the environment and return the installed version of ``dist``."""
    code = f"import importlib.metadata as m, {module}; print(m.version({dist!r}))"
    proc = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=600)
    if proc.returncode:
        lines = proc.stderr.strip().splitlines()
        return False, lines[-1] if lines else f"import {module} failed"
    return True, proc.stdout.strip()


def setup(force: bool = False, root: Path = VENV, log=print) -> dict:
    """Create the environment (if needed) and install every peer; return the status."""
    py = venv_python(root)
    if force or not py.exists():
        log(f"creating {root}")
        venv.EnvBuilder(with_pip=True, clear=force).create(root)
    status = {"python": None, "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "peers": {}}
    ok, msg = _pip(py, *BASE)
    if not ok:
        log(f"base packages failed: {msg}")
    status["python"] = subprocess.run([str(py), "-c", "import platform; "
                                       "print(platform.python_version())"],
                                      capture_output=True, text=True).stdout.strip()
    for name, (req, module) in PEERS.items():
        log(f"installing {req} ...")
        t0 = time.perf_counter()
        try:
            ok, msg = _pip(py, req)
        except subprocess.TimeoutExpired:
            ok, msg = False, "pip install timed out"
        if ok:
            ok, msg = _version(py, module, req.split('==')[0])
        status["peers"][name] = ({"ok": True, "requirement": req, "version": msg} if ok else
                                 {"ok": False, "requirement": req, "reason": msg})
        log(f"  {name}: {'ok ' + msg if ok else 'FAILED: ' + msg} "
            f"({time.perf_counter() - t0:.0f} s)")
    (root / "peers-status.json").write_text(json.dumps(status, indent=2) + "\n")
    return status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="recreate the environment")
    args = parser.parse_args(argv)
    status = setup(force=args.force)
    return 0 if all(p["ok"] for p in status["peers"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
