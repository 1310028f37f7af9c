"""``--publish`` for live sessions (``hipthrust record`` and ``hipthrust demo``).

With ``--publish`` and a broker (``--broker``, ``HIPTHRUST_BROKER`` or the config file), a
``sensor.mqtt_publish.MqttSink`` joins the session's sinks: on connecting it flushes the
outbox, live events (lockout, rep, set, link) go out as QoS 0 while connected, and the final
summary is stored in the local outbox first, then published retained (QoS 1) and marked sent
on the broker's PUBACK. A broker that is down never stops the recording: events are dropped,
the summary stays in the outbox for ``hipthrust sync``, and one line on stderr says so.
``--publish`` with no broker configured only stores the summary. Without ``--publish``
nothing touches MQTT (the broker flags are then refused, so they are never silently ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TextIO

from sensor.config import Config, add_config_options, config_from_args
from sensor.errors import ConfigError
from sensor.events import Event

if TYPE_CHECKING:
    from sensor.live import LiveResult, LiveSession
    from sensor.mqtt_publish import MqttSink
    from sensor.store import SummaryStore

CONNECT_WAIT_S = 3.0
"""How long the session start waits for the broker (it stops early if the broker refuses)."""
EXIT_TIMEOUT_S = 5.0
"""How long the end of the session waits for the broker to acknowledge the summary."""

# (attribute, flag) of the options of ``add_config_options``.
CONFIG_FLAGS = (
    ("broker", "--broker"), ("username", "--username"), ("password_file", "--password-file"),
    ("ca_file", "--ca-file"), ("client_id", "--client-id"), ("topic_prefix", "--topic-prefix"),
    ("device_id", "--device-id"), ("config_file", "--config"), ("data_dir", "--data-dir"),
)


def add_publish_options(parser: argparse.ArgumentParser) -> None:
    """``--publish`` and the configuration flags (``--broker`` etc.)."""
    parser.add_argument(
        "--publish", action="store_true",
        help="send live events (QoS 0) and the summary (retained) to the MQTT broker; the "
             "summary is stored locally first and waits there if the broker is down")
    add_config_options(parser)


def publish_config(args: argparse.Namespace) -> Config | None:
    """The configuration to publish with, or None without ``--publish``.

    Read before the session starts, so a bad flag or password file fails at once.
    """
    if not getattr(args, "publish", False):
        given = [flag for name, flag in CONFIG_FLAGS if getattr(args, name, None) is not None]
        if given:
            raise ConfigError(f"{given[0]} is only used with --publish")
        return None
    try:
        return config_from_args(args)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


class StoreSink:
    """Keeps the summary in the local store only (``--publish`` with no broker configured)."""

    def __init__(self, store: SummaryStore) -> None:
        self.store = store

    async def publish_event(self, event: Event) -> bool:
        return False  # live events need a broker

    async def publish_summary(self, doc: dict[str, Any]) -> None:
        await asyncio.to_thread(self.store.add, doc)


async def run_publishing(
    cfg: Config | None,
    session: LiveSession,
    run: Coroutine[Any, Any, LiveResult],
    *,
    out: TextIO | None = None,
    connect_wait_s: float = CONNECT_WAIT_S,
    exit_timeout_s: float = EXIT_TIMEOUT_S,
) -> LiveResult:
    """Await ``run`` (the coroutine streaming ``session``) publishing as ``cfg`` says.

    ``cfg`` None: just ``run``. Otherwise the summary is stored (and published when a broker
    is configured) and one line about it goes to ``out`` (stderr).
    """
    try:
        if cfg is None:
            return await run
        out = out or sys.stderr
        if cfg.broker is None:
            return await _store_only(cfg, session, run, out)
        # Imported here: aiomqtt is loaded only when publishing.
        from sensor.mqtt_publish import MqttSink  # noqa: PLC0415

        sink = MqttSink(cfg, exit_timeout_s=exit_timeout_s, log_level=logging.INFO)
        async with sink:
            session.sinks.append(sink)
            await sink.wait_connected(connect_wait_s, until_failure=True)
            result = await run
        print(await _sink_line(sink, session.session_id, exit_timeout_s), file=out)
        return result
    finally:
        run.close()  # only matters if it was never awaited


async def _store_only(cfg: Config, session: LiveSession, run: Coroutine[Any, Any, LiveResult],
                      out: TextIO) -> LiveResult:
    from sensor.mqtt_publish import PublishReport, report_line  # noqa: PLC0415
    from sensor.store import SummaryStore  # noqa: PLC0415

    store = await asyncio.to_thread(SummaryStore, cfg.store_path)
    session.sinks.append(StoreSink(store))
    result = await run
    stored = await asyncio.to_thread(store.is_sent, session.session_id)
    counts = await asyncio.to_thread(store.counts)
    print(report_line(PublishReport(int(stored is not None), 0, counts.pending, None)), file=out)
    return result


async def _sink_line(sink: MqttSink, session_id: str, exit_timeout_s: float) -> str:
    """One line: what was published, or why the summary waits in the outbox."""
    sent = await asyncio.to_thread(sink.store.is_sent, session_id)
    if sent is None:
        return f"the summary of session {session_id} could not be stored (see above)"
    events = f"{sink.sent_events} live event(s)"
    if sink.dropped_events:
        events += f" ({sink.dropped_events} dropped while disconnected)"
    if sent:
        return f"published to {sink.url}: {events} and the summary of session {session_id}"
    pending = (await asyncio.to_thread(sink.store.counts)).pending
    reason = sink.last_error or \
        f"broker {sink.url} did not acknowledge the summary within {exit_timeout_s:g} s"
    return (f"{reason}; the summary is kept in the outbox ({pending} pending): "
            "send it with `hipthrust sync`")
