"""``hipthrust demo`` (placeholder until the live pipeline lands; H2 replaces this file)."""

from __future__ import annotations

import argparse

from sensor.errors import HipthrustError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="simulate a session and analyse it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise HipthrustError("demo is not available yet")
