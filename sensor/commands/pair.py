"""``hipthrust pair [ADDRESS|NAME]``: choose a sensor and remember it for later sessions."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from sensor.ble import FoundSensor
from sensor.commands.scan import add_scan_options, find_sensors, format_table
from sensor.device_store import PairedSensor, save_paired
from sensor.errors import HipthrustError


class PairError(HipthrustError):
    """No sensor, or no single sensor, to pair with."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "pair",
        help="choose a sensor and remember it",
        description=(
            "Scan, pick a supported sensor and remember it. With several sensors nearby, "
            "name one (address or advertised name), or answer the question."
        ),
    )
    parser.add_argument("target", nargs="?", metavar="ADDRESS|NAME", help="the sensor to pair")
    add_scan_options(parser)
    parser.set_defaults(func=run)


def choose_sensor(
    found: Sequence[FoundSensor],
    target: str | None,
    ask: Callable[[Sequence[FoundSensor]], FoundSensor] | None,
) -> FoundSensor:
    """The sensor to pair: the one ``target`` names, the only one, or the one ``ask`` picks.

    ``ask`` is None when nobody can answer (no terminal): several sensors then need a target.
    """
    if target is not None:
        wanted = target.casefold()
        matches = [s for s in found if wanted in (s.address.casefold(), s.name.casefold())]
        if not matches:
            raise PairError(f"no supported sensor {target!r} found (try: hipthrust scan)")
        return matches[0]
    if not found:
        raise PairError("no supported sensor found (is it switched on and in range?)")
    if len(found) == 1:
        return found[0]
    if ask is None:
        raise PairError(
            f"{len(found)} sensors found; name one: hipthrust pair ADDRESS (see hipthrust scan)"
        )
    return ask(found)


def ask_on_terminal(found: Sequence[FoundSensor]) -> FoundSensor:
    """Show the numbered list and read a choice from the terminal."""
    lines = format_table(found).splitlines()
    print(f"     {lines[0]}")
    for i, line in enumerate(lines[1:], start=1):
        print(f"{i:>3}  {line}")
    while True:
        answer = input(f"pair with which sensor [1-{len(found)}, Enter = 1]? ").strip()
        if not answer:
            return found[0]
        if answer.isdigit() and 1 <= int(answer) <= len(found):
            return found[int(answer) - 1]
        print(f"please answer a number from 1 to {len(found)}")


def run(args: argparse.Namespace) -> int:
    found = asyncio.run(find_sensors(args.timeout, args.virtual))
    ask = ask_on_terminal if sys.stdin.isatty() and sys.stdout.isatty() else None
    try:
        chosen = choose_sensor(found, args.target, ask)
    except EOFError as exc:
        raise PairError("no answer; name the sensor: hipthrust pair ADDRESS") from exc
    path = save_paired(PairedSensor(chosen.address, chosen.name, str(chosen.model)))
    print(f"paired with {chosen.name or chosen.address} ({chosen.model}, {chosen.address})")
    print(f"remembered in {path}")
    return 0
