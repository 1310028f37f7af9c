"""``hipthrust publish FILE...``: analyse existing recordings and publish their summaries."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sensor.commands.analyze import add_analysis_options, options_from_args
from sensor.config import add_config_options, config_from_args
from sensor.mqtt_publish import BrokerError, publish_summaries, report_line
from sensor.pipeline import analyze_file
from sensor.summary import to_dict


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "publish",
        help="analyse recordings and publish their session summaries over MQTT",
        description="Each summary is stored in the local store first, then the outbox is "
        "flushed to the broker. Without a broker the summaries stay stored for `sync`.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="recording CSV")
    add_analysis_options(parser)
    add_config_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    options = options_from_args(args)
    docs = []
    for path in args.files:
        summary = analyze_file(path, options)
        docs.append(to_dict(summary))
        print(f"{path}: {summary.rep_count} reps in {len(summary.sets)} set(s), "
              f"session {summary.session_id}", file=sys.stderr)
    report = publish_summaries(docs, cfg)
    if report.error is not None:
        raise BrokerError(f"{report.error}; {report_line(report)}")
    print(report_line(report))
    return 0
