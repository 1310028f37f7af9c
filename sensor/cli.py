"""The ``hipthrust`` command line.

Each command lives in its own module under ``sensor.commands`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the
parsed arguments and returning an exit status. This file only wires them together and turns
expected errors into one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from sensor import __version__
from sensor.errors import HipthrustError

# Command modules, in the order ``hipthrust --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "sensor.commands.analyze",
    "sensor.commands.simulate",
    "sensor.commands.demo",
    "sensor.commands.record",
    "sensor.commands.calibrate",
    "sensor.commands.report",
    "sensor.commands.scan",
    "sensor.commands.pair",
    "sensor.commands.publish",
    "sensor.commands.sync",
    "sensor.commands.review",
    "sensor.commands.config",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hipthrust",
        description="Wearable rep counter for the barbell single-leg hip thrust.",
    )
    parser.add_argument("--version", action="version", version=f"hipthrust {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="hipthrust: %(levelname)s: %(message)s",
    )
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except HipthrustError as exc:
        print(f"hipthrust: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hipthrust: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
