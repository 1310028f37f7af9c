"""``hipthrust record``: train with the paired sensor; live display, recording, summary.

Connects to the paired sensor (``hipthrust pair``), or with ``--virtual`` to a virtual
sensor playing a simulated session in real time (``--speed``), and streams into a
``sensor.live.LiveSession``: every sample goes to the recording as it arrives, the live
display shows reps, the hold timer and the link. Ctrl-C (or ``q``) stops cleanly: the file
is complete and the summary is printed (what ``hipthrust analyze FILE`` would print).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from sensor.commands.analyze import add_analysis_options, options_from_args, print_summary
from sensor.decode import SensorModel
from sensor.errors import HipthrustError
from sensor.live import LiveResult, LiveSession, default_recording_path
from sensor.mqtt_live import add_publish_options, publish_config, run_publishing
from sensor.samples import Samples
from sensor.summary import Leg
from sensor.terminal import Display, key_handler, key_reader

DEFAULT_SEED = 58


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("record", help="train with the sensor: live display, recording, summary",
                       description=__doc__)
    p.add_argument("--leg", choices=["left", "right"],
                   help="leg of the first set, as --first-leg (keys l/r switch it live)")
    p.add_argument("--out", metavar="FILE",
                   help="recording to write (default: a new file in the user data folder)")
    p.add_argument("--json", action="store_true",
                   help="print the summary JSON at the end (the display goes to stderr)")
    p.add_argument("--virtual", action="store_true",
                   help="no hardware: a virtual sensor plays a simulated session")
    p.add_argument("--model", choices=[m.value for m in SensorModel],
                   default=SensorModel.HIPTHRUST.value,
                   help="--virtual: which sensor the virtual sensor plays (default: hipthrust)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="--virtual: play-back speed (1 = real time, 0 = as fast as possible)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help="--virtual: which simulated session")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds to look for the paired sensor")
    add_analysis_options(p)
    add_publish_options(p)
    p.set_defaults(func=run)


@contextlib.contextmanager
def sigint_sets(stop: asyncio.Event) -> Iterator[None]:
    """Ctrl-C sets ``stop`` (a clean end) instead of raising, while in the block."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, stop.set)
    except (NotImplementedError, RuntimeError):  # not on this platform / thread
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


async def run_live(
    session: LiveSession,
    *,
    samples: Samples | None,
    display_out: TextIO | None,
    speed: float = 1.0,
    drop_rate: float = 0.0,
    disconnect_at_s: float | None = None,
    seed: int = 0,
    timeout_s: float = 10.0,
) -> LiveResult:
    """Stream a session from the virtual sensor (``samples``) or the paired sensor.

    ``display_out`` None: no display. Keys are read when stdin is a terminal.
    """
    from sensor.live import stream_virtual  # noqa: PLC0415 - keeps the CLI start fast

    stop = asyncio.Event()
    display = Display(session, display_out) if display_out is not None else None
    if display is not None:
        session.on_event = display.on_event
    with sigint_sets(stop), contextlib.ExitStack() as stack:
        if display is not None:
            display.keys = stack.enter_context(key_reader(key_handler(display.state, stop)))
            display.start()
        try:
            if samples is not None:
                run = await stream_virtual(
                    samples, session, speed=speed, drop_rate=drop_rate,
                    disconnect_at_s=disconnect_at_s, seed=seed, stop=stop,
                )
                return run.result
            return await _run_paired(session, stop, timeout_s)
        finally:
            if display is not None:
                await display.stop()


async def _run_paired(session: LiveSession, stop: asyncio.Event, timeout_s: float) -> LiveResult:
    from sensor.ble import SensorLink  # noqa: PLC0415
    from sensor.decode import SensorModel  # noqa: PLC0415
    from sensor.device_store import load_paired  # noqa: PLC0415
    from sensor.live_calibration import find_paired  # noqa: PLC0415

    paired = load_paired()
    if paired is None:
        raise HipthrustError("no paired sensor: run `hipthrust pair` first (or try --virtual)")
    found = await find_paired(paired, timeout_s)
    session.sensor_name = found.name
    link = SensorLink(found, model=SensorModel(found.model))
    await link.open()
    return await session.run(link, stop)


def report_line(result: LiveResult, error: str | None) -> str:
    link = result.link
    loss = (f"{link.lost_packets} lost ({link.loss_pct:.1f} %)" if link.loss_countable
            else "loss not countable (the sensor sends no sequence numbers)")
    text = (f"recorded {result.samples_written} samples to {result.path}; "
            f"{link.packets} packets, {loss}")
    if link.disconnects:
        text += f", {link.disconnects} disconnect(s), {link.reconnects} reconnect(s)"
    if error:
        text += f"; link ended: {error}"
    return text


def run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    cfg = publish_config(args)
    out = Path(args.out) if args.out else default_recording_path()
    samples = None
    meta = {}
    if args.virtual:
        from sensor.simulate import simulate_session  # noqa: PLC0415

        samples, _ = simulate_session(args.seed)
        meta["simulated_seed"] = str(args.seed)
    if args.leg:  # the same as --first-leg: ``analyze --first-leg`` gives the same summary
        options = replace(options, first_leg=Leg(args.leg))
        meta["first_leg"] = args.leg
    model = SensorModel(args.model) if args.virtual else SensorModel.HIPTHRUST  # (paired: its own)
    session = LiveSession(out, options, model=model, metadata=meta)
    display_out = sys.stderr if args.json else sys.stdout
    result = asyncio.run(run_publishing(cfg, session, run_live(
        session, samples=samples, display_out=display_out, speed=args.speed,
        seed=args.seed, timeout_s=args.timeout,
    )))
    print(report_line(result, session.error), file=sys.stderr)
    print_summary(result.summary, args.json)
    return 0
