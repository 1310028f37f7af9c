"""``hipthrust review``: sessions from the broker's retained summaries (or the local store)."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from sensor.config import Config, add_config_options, config_from_args
from sensor.errors import HipthrustError, one_line_os_error
from sensor.mqtt_publish import BrokerError, sync_outbox
from sensor.mqtt_review import collect_summaries
from sensor.review import dedupe, plot_trends, session_detail, sessions_table, trends_table
from sensor.store import SummaryStore


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "review",
        help="list and show session summaries from the broker (or --local store)",
        description="Lists the sessions retained on the broker, shows one (--session), "
        "per-leg trends (--trends) or a chart (--plot). Flushes the local outbox first.",
    )
    add_config_options(parser)
    parser.add_argument("--local", action="store_true", help="read the local store instead")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON array of the summary documents, one per session")
    parser.add_argument("--session", metavar="ID", help="show one session in detail")
    parser.add_argument("--trends", action="store_true",
                        help="per-leg phase times and asymmetry over the last N sessions")
    parser.add_argument("--last", type=int, default=10, metavar="N",
                        help="sessions in --trends and --plot (10)")
    parser.add_argument("--plot", type=Path, metavar="OUT.png", help="write a trends chart")
    parser.add_argument("--device", metavar="NAME",
                        help="only this device's sessions (default: every device)")
    parser.set_defaults(func=run)


def load_documents(cfg: Config, *, local: bool, device: str | None) -> list[dict[str, Any]]:
    """The summary documents, one per session, in session order."""
    if local:
        store = SummaryStore(cfg.store_path)
        return dedupe(store.documents())  # this machine's own summaries: one device
    cfg.require_broker()

    async def fetch() -> list[dict[str, Any]]:
        report = await sync_outbox(cfg, attempts=1)
        if report.error is not None:
            raise BrokerError(f"{report.error} ({report.pending} summary(ies) kept in the "
                              "local outbox)")
        collected = await collect_summaries(cfg, device_id=device)
        return list(collected.documents.values())

    return dedupe(asyncio.run(fetch()))


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    docs = load_documents(cfg, local=args.local, device=args.device)
    if args.session is not None:
        matches = [d for d in docs if d["session_id"] == args.session]
        if not matches:
            raise HipthrustError(f"no session {args.session!r} ({len(docs)} session(s) found)")
        docs = matches
    if args.plot is not None:
        with one_line_os_error(args.plot, "write"):
            plot_trends(docs, args.plot, args.last)
    if args.json:
        print(json.dumps(docs, indent=2))
    elif args.session is not None:
        print(session_detail(docs[0]))
    elif args.trends:
        print(trends_table(docs, args.last))
    elif args.plot is None:
        print(sessions_table(docs))
    if args.plot is not None and not args.json:
        print(f"wrote {args.plot}")
    return 0
