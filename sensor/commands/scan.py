"""``hipthrust scan``: list the supported sensors nearby (model, name, address, RSSI, battery)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

import numpy as np

from sensor.ble import FoundSensor, scan
from sensor.samples import Samples

DEFAULT_TIMEOUT_S = 5.0
VIRTUAL_TIMEOUT_S = 0.3  # the virtual sensor advertises every 20 ms


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="list the supported sensors nearby",
        description="Scan for Bluetooth LE sensors that hipthrust supports.",
    )
    add_scan_options(parser)
    parser.set_defaults(func=run)


def add_scan_options(parser: argparse.ArgumentParser) -> None:
    """``--timeout`` and the hidden developer flag ``--virtual`` (shared with ``pair``)."""
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help=f"seconds to scan (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument("--virtual", action="store_true", help=argparse.SUPPRESS)


def idle_samples(duration_s: float = 2.0, rate_hz: float = 100.0) -> Samples:
    """A sensor lying still (1 g on z): enough for a virtual sensor that is only scanned."""
    n = round(duration_s * rate_hz)
    acc = np.zeros((n, 3))
    acc[:, 2] = 1.0
    return Samples(np.arange(n) / rate_hz, acc, np.zeros((n, 3)), {"sensor": "virtual"})


async def find_sensors(timeout_s: float | None, virtual: bool) -> list[FoundSensor]:
    """Scan the air, or a virtual radio with one simulated sensor when ``virtual``."""
    if not virtual:
        return await scan(DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s)
    # Imported here: Bumble is only needed for the virtual radio.
    from sensor.ble_backend_bumble import virtual_radio  # noqa: PLC0415
    from sensor.virtual_sensor import VirtualSensor  # noqa: PLC0415

    async with virtual_radio(VirtualSensor(idle_samples())) as radio:
        return await scan(
            VIRTUAL_TIMEOUT_S if timeout_s is None else timeout_s, backend=radio.backend
        )


def format_table(sensors: Sequence[FoundSensor]) -> str:
    """The scan result as an aligned text table, strongest first."""
    rows = [("MODEL", "NAME", "ADDRESS", "RSSI", "BATTERY")]
    for s in sensors:
        battery = "?" if s.battery_pct is None else f"{s.battery_pct}%"
        rows.append((str(s.model), s.name or "-", s.address, f"{s.rssi} dBm", battery))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def run(args: argparse.Namespace) -> int:
    sensors = asyncio.run(find_sensors(args.timeout, args.virtual))
    if not sensors:
        print("no supported sensor found (is it switched on and not connected elsewhere?)")
        return 1
    print(format_table(sensors))
    return 0
