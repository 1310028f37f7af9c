"""``hipthrust sync``: publish the summaries waiting in the local outbox."""

from __future__ import annotations

import argparse
import asyncio

from sensor.config import add_config_options, config_from_args
from sensor.mqtt_publish import BrokerError, sync_outbox


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sync",
        help="publish the summaries waiting in the local outbox",
        description="Connect to the broker, publish the Home Assistant discovery configs and "
        "every stored summary not yet acknowledged, retrying with backoff.",
    )
    add_config_options(parser)
    parser.add_argument("--attempts", type=int, default=3, help="connection attempts (3)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    cfg.require_broker()
    report = asyncio.run(sync_outbox(cfg, attempts=max(1, args.attempts)))
    if report.error is not None:
        raise BrokerError(f"{report.error} ({report.sent} sent, {report.pending} kept in the "
                          "outbox)")
    print(f"sent {report.sent} summary(ies) to {cfg.broker}; {report.pending} pending")
    return 0
