"""``python -m benchmarks [--quick] [NAME ...]``: run benchmarks, print Markdown, write JSON."""
from __future__ import annotations

import argparse
import importlib
import sys
import time

#: name -> module with ``run(quick) -> markdown``
BENCHMARKS = {
    "fv_step_cost": "benchmarks.bench_fv",
    "scaling": "benchmarks.bench_scaling",
    "peers": "benchmarks.bench_peers",
    "spectral": "benchmarks.bench_spectral",
    "particles": "benchmarks.bench_particles",
    "isotropic": "benchmarks.bench_isotropic",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"subset of {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run for CI")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    for name in args.names or BENCHMARKS:
        t0 = time.perf_counter()
        module = importlib.import_module(BENCHMARKS[name])
        print(module.run(quick=args.quick))
        print(f"({name}: {time.perf_counter() - t0:.1f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
