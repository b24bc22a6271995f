"""Command line: ``fokkerplanck solve|example …`` (also ``python -m fokkerplanck``).

Exit codes: 0 success, 2 bad input (one line naming the key, value or file), 3 numerical
instability caught by a guard, 130 interrupted (Ctrl-C; complete snapshots are kept).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .errors import FokkerPlanckError, Interrupted, UserInputError

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) instead of usage dumps."""

    def error(self, message):
        raise UserInputError(f"{self.prog}: {message}")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help="TOML configuration (default: built-in example)")
    p.add_argument("-o", "--output", help="HDF5 output file (default: [output] path)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="override a configuration value")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fokkerplanck", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"fokkerplanck {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("solve", help="solve a PDE and write an HDF5 file")
    _add_common(p)
    p.add_argument("--resume", metavar="OUT.h5",
                   help="continue the run in OUT.h5 from its last complete snapshot")
    p = sub.add_parser("simulate", help="train the finite-width network (particles)")
    _add_common(p)
    p.add_argument("--resume", metavar="OUT.h5",
                   help="continue the simulation in OUT.h5 from its last complete snapshot")
    p = sub.add_parser("compare", help="compare a PDE result with a particle result")
    p.add_argument("pde", help="HDF5 file written by solve")
    p.add_argument("particles", help="HDF5 file written by simulate")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", help="PNG figure (default: next to the particle file)")
    p = sub.add_parser("validate", help="PDE vs particles at several widths, error vs width fit")
    _add_common(p)
    p.add_argument("--widths", default="100,1000,10000,100000",
                   help="comma-separated network widths")
    p.add_argument("--repeats", type=int, default=1, help="seeds per width")
    p = sub.add_parser("plot", help="figures (and movies) from an output file")
    p.add_argument("file", help="HDF5 output file")
    p.add_argument("--kind", default=None,
                   help="density, marginals, loss, risk or compare (default: by file)")
    p.add_argument("--movie", action="store_true", help="also an MP4/GIF movie of the density")
    p.add_argument("--with", dest="other", metavar="OTHER.h5",
                   help="a second file to overlay (particles for --kind compare)")
    p.add_argument("-o", "--output", help="image path (default: next to the file)")
    p.add_argument("--format", default="png", choices=("png", "pdf"), help="image format")
    p = sub.add_parser("sweep", help="run a grid or list of parameter overrides on Dask")
    p.add_argument("sweep", help="sweep TOML file")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://host:port)")
    p.add_argument("--workers", type=int, default=None, help="local cluster size")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p = sub.add_parser("example", help="print a built-in example configuration")
    p.add_argument("name", nargs="?", help="example name (omit to list them)")
    return parser


def _resolve_run(args, default_output=None):
    """(config, output path, resume flag) from CONFIG, --set, -o and --resume.

    ``default_output(config)`` names the output when neither -o nor --resume is given
    (default: ``[output] path``).
    """
    from .config import load_config
    from .run import stored_config

    if args.resume:
        if args.output and Path(args.output) != Path(args.resume):
            raise UserInputError("give either -o or --resume (the resumed file is the output)")
        output = Path(args.resume)
        if args.config is None:
            config = stored_config(output)
            if args.overrides:
                config = config.replace(args.overrides)
        else:
            config = load_config(args.config, args.overrides)
        return config, output, True
    config = load_config(args.config, args.overrides)
    if args.output:
        output = Path(args.output)
    else:
        output = Path(default_output(config) if default_output else config.output.path)
    return config, output, False


def headline(diagnostics) -> str:
    """'loss a -> b' (or 'risk a -> b'): the quantity a run is about, first and last."""
    name = "loss" if "loss" in diagnostics else "risk"
    values = diagnostics[name]
    return f"{name} {values[0]:.6g} -> {values[-1]:.6g}"


def _cmd_solve(args) -> int:
    from .run import solve

    config, output, resume = _resolve_run(args)
    result = solve(config, output, progress=False if args.quiet else None, resume=resume)
    if not args.quiet:
        d = result.diagnostics
        print(f"wrote {output}: {len(result.time)} snapshots to t = {result.time[-1]:g}, "
              f"{result.stats.get('steps', 0)} steps in {result.stats.get('wall_time', 0):.2f} s; "
              f"{headline(d)}")
    return 0


def _cmd_example(args) -> int:
    from .examples import EXAMPLES, example_text

    if args.name is None:
        width = max(map(len, EXAMPLES))
        for name, (summary, _) in EXAMPLES.items():
            print(f"{name:<{width}}  {summary}")
        return 0
    sys.stdout.write(example_text(args.name))
    return 0


def _cmd_simulate(args) -> int:
    from .simulation import cli_simulate

    return cli_simulate(args)


def _cmd_compare(args) -> int:
    from .compare import cli_compare

    return cli_compare(args)


def _cmd_validate(args) -> int:
    from .validate import cli_validate

    return cli_validate(args)


def _cmd_plot(args) -> int:
    from .plot import cli_plot

    return cli_plot(args)


def _cmd_sweep(args) -> int:
    from .sweep import cli_sweep

    return cli_sweep(args)


COMMANDS = {"solve": _cmd_solve, "simulate": _cmd_simulate, "compare": _cmd_compare,
            "validate": _cmd_validate, "plot": _cmd_plot, "sweep": _cmd_sweep,
            "example": _cmd_example}


def main(argv=None) -> int:
    """Entry point of the ``fokkerplanck`` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except FokkerPlanckError as exc:
        print(f"fokkerplanck: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Interrupted as exc:
        print(f"fokkerplanck: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("fokkerplanck: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
