"""``hipthrust demo``: the whole live path with no sensor and no broker, in seconds.

A simulated session (or ``--replay FILE``) is played by a virtual sensor over a Bumble
Bluetooth LE link, received through bleak exactly as from the hardware, decoded, recorded
(to a temporary folder, or ``--out``) and analysed live; the session summary is printed
(a table, or only the JSON with ``--json``). ``--drop-rate`` and ``--disconnect-at`` make the
link lossy; ``--realtime`` plays in real time with the live display. ``--model wt901ble``
plays a WitMotion WT901BLE68 instead of the hipthrust sensor (its frames carry no time:
they are stamped on arrival, with the virtual sensor's clock).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from sensor.commands.analyze import add_analysis_options, options_from_args, print_summary
from sensor.commands.record import report_line, run_live
from sensor.decode import SensorModel
from sensor.errors import ConfigError
from sensor.live import LiveSession
from sensor.mqtt_live import add_publish_options, publish_config, run_publishing

DEFAULT_SEED = 58  # a hip-mounted session at 100 Hz with gyro, two sets, a slow leg, pauses


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1): {text!r}")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="simulate a session, stream it over a virtual BLE link, "
                       "analyse it live", description=__doc__)
    p.add_argument("--replay", metavar="FILE", help="play this recording instead of a simulation")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"which simulated session (default {DEFAULT_SEED})")
    p.add_argument("--json", action="store_true", help="print the summary JSON only")
    p.add_argument("--out", metavar="FILE", help="keep the recording here (default: temporary)")
    p.add_argument("--drop-rate", type=_probability, default=0.0, metavar="P",
                   help="fraction of packets the virtual link loses (e.g. 0.02)")
    p.add_argument("--disconnect-at", type=float, metavar="S",
                   help="the sensor drops the link once, at this stream time (s)")
    p.add_argument("--model", choices=[m.value for m in SensorModel],
                   default=SensorModel.HIPTHRUST.value,
                   help="which sensor the virtual sensor plays (default: hipthrust)")
    p.add_argument("--realtime", action="store_true",
                   help="play in real time with the live display (default: as fast as possible)")
    add_analysis_options(p)
    add_publish_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sensor.recording import read_recording  # noqa: PLC0415
    from sensor.simulate import simulate_session  # noqa: PLC0415

    if args.disconnect_at is not None and args.disconnect_at < 0:
        raise ConfigError("--disconnect-at must be >= 0 seconds")
    cfg = publish_config(args)
    if args.replay:
        samples = read_recording(args.replay)
        meta = {"replay_of": Path(args.replay).name}
    else:
        samples, _ = simulate_session(args.seed)
        meta = {"simulated_seed": str(args.seed)}
    with tempfile.TemporaryDirectory(prefix="hipthrust-demo-") as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "demo.csv"
        session = LiveSession(
            out, options_from_args(args), model=SensorModel(args.model), metadata=meta
        )
        display_out = (sys.stderr if args.json else sys.stdout) if args.realtime else None
        result = asyncio.run(run_publishing(cfg, session, run_live(
            session, samples=samples, display_out=display_out,
            speed=1.0 if args.realtime else 0.0, drop_rate=args.drop_rate,
            disconnect_at_s=args.disconnect_at, seed=args.seed,
        )))
        line = report_line(result, session.error)
        if not args.out:
            line = line.replace(f" to {result.path}", " (temporary file)")
        print(line, file=sys.stderr)
    print_summary(result.summary, args.json)
    return 0
