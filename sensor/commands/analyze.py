"""``hipthrust analyze FILE``: a recording in, the session summary out (table or JSON)."""

from __future__ import annotations

import argparse
import sys

from sensor.calibration_cli import add_calibration_option, calibration_from_args
from sensor.config import add_config_options, config_from_args
from sensor.engine import AnalysisOptions
from sensor.errors import ConfigError
from sensor.mqtt_publish import BrokerError, publish_summaries, report_line
from sensor.pipeline import analyze_file
from sensor.render import summary_text
from sensor.summary import Leg, Mount, SessionSummary, to_dict, to_json


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _legs(text: str) -> tuple[Leg, ...]:
    out = []
    for part in text.split(","):
        name = part.strip().lower()
        aliases = {"l": "left", "r": "right"}
        try:
            out.append(Leg(aliases.get(name, name)))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"unknown leg {part!r} (use left,right,... or l,r,...)"
            ) from None
    return tuple(out)


def add_analysis_options(parser: argparse.ArgumentParser) -> None:
    """The analysis flags shared by analyze, demo, record, publish and report."""
    g = parser.add_argument_group("analysis")
    g.add_argument("--mount", choices=["hip", "bar", "auto"], default="auto",
                   help="where the sensor is worn (default: detect)")
    legs = g.add_mutually_exclusive_group()
    legs.add_argument("--first-leg", choices=["left", "right"],
                      help="leg of the first set; sets alternate (default: the leg the "
                      "recording names, else left)")
    legs.add_argument("--legs", type=_legs, metavar="L,R,...",
                      help="the leg of each set, e.g. left,right,left")
    g.add_argument("--pause", type=_positive, metavar="S",
                   help="pause target at lockout, s: flag reps that hold less")
    g.add_argument("--asymmetry-threshold", type=_positive, default=15.0, metavar="PCT",
                   help="flag a phase whose left/right asymmetry exceeds this (default 15)")


def options_from_args(args: argparse.Namespace) -> AnalysisOptions:
    mount = None if getattr(args, "mount", "auto") == "auto" else Mount(args.mount)
    return AnalysisOptions(
        mount=mount,
        first_leg=Leg(getattr(args, "first_leg", None) or "left"),
        first_leg_given=bool(getattr(args, "first_leg", None) or getattr(args, "legs", None)),
        legs=getattr(args, "legs", None),
        pause_s=getattr(args, "pause", None),
        asymmetry_threshold_pct=getattr(args, "asymmetry_threshold", 15.0),
    )


def print_summary(summary: SessionSummary, json_out: bool) -> None:
    """The summary on stdout: the spec's JSON document, or the readable table."""
    sys.stdout.write((to_json(summary) if json_out else summary_text(summary)) + "\n")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("analyze", help="analyse a recording (CSV) and print its summary",
                       description=__doc__)
    p.add_argument("file", help="recording: CSV with t,ax,ay,az[,gx,gy,gz]")
    p.add_argument("--json", action="store_true", help="print the summary JSON only")
    p.add_argument("--publish", action="store_true",
                   help="also store the summary and send it to the MQTT broker")
    add_analysis_options(p)
    add_calibration_option(p)
    add_config_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    summary = analyze_file(args.file, options_from_args(args), calibration_from_args(args))
    print_summary(summary, args.json)
    if args.publish:
        _publish(summary, args)
    return 0


def _publish(summary: SessionSummary, args: argparse.Namespace) -> None:
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    report = publish_summaries([to_dict(summary)], cfg)
    print(report_line(report), file=sys.stderr)
    if report.error:
        raise BrokerError(f"{report.error}; {report_line(report)}")
