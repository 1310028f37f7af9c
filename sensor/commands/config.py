"""``hipthrust config``: show the effective configuration, secrets masked."""

from __future__ import annotations

import argparse
import json

from sensor.config import add_config_options, config_from_args
from sensor.review import format_table


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "config",
        help="show the effective configuration (flags > HIPTHRUST_* > config file)",
        description="Show the effective configuration and where each setting comes from. "
        "The password is always masked.",
    )
    add_config_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    rows = cfg.display()
    if args.json:
        print(json.dumps({name: {"value": value, "source": source}
                          for name, value, source in rows}, indent=2))
    else:
        print(format_table(["setting", "value", "source"], [list(r) for r in rows]))
    return 0
