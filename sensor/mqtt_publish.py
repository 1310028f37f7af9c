"""Publishing to MQTT (aiomqtt): the outbox flusher, one-shot publishing and the live sink.

Nothing is lost: a summary is stored in the local ``SummaryStore`` first, and marked sent only
after the broker has acknowledged it (QoS 1 PUBACK). Per-session topics are retained, so
publishing a summary again is harmless. Broker failures become one-line ``BrokerError``s;
SQLite calls run in a worker thread (``asyncio.to_thread``) so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiomqtt

from sensor.backoff import backoff_delay_s
from sensor.config import BrokerURL, Config
from sensor.errors import HipthrustError
from sensor.events import Event
from sensor.homeassistant import discovery_messages, ha_status_topic
from sensor.mqtt_topics import Topics, event_kind, event_payload
from sensor.store import SummaryStore

log = logging.getLogger(__name__)

SUMMARY_QOS = 1
EVENT_QOS = 0
FLUSH_BATCH = 100
"""Summaries in flight at once while flushing (each waits for its own PUBACK)."""


class BrokerError(HipthrustError):
    """The broker cannot be reached or refuses us; the message is one line, no secrets."""


def _reason(exc: BaseException) -> str:
    """A short human reason from an aiomqtt/ssl/socket exception."""
    text = str(exc) or type(exc).__name__
    text = re.sub(r"^\[(code|Errno) ?:?-?\d+\]\s*", "", text)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
    text = re.sub(r"^\[SSL: [A-Z_]+\]\s*", "", text)
    if "Connection refused" in text and ":" in text:
        text = text.split(":", 1)[1].strip() or text
    return " ".join(text.split()) or "unknown error"


_LOGIN_CODES = (4, 5, 134, 135)  # CONNACK codes (3.1.1 and 5.0): bad user/password, not authorised


def _is_login_refused(exc: BaseException) -> bool:
    if isinstance(exc, aiomqtt.MqttCodeError) and exc.rc is not None:
        code = exc.rc if isinstance(exc.rc, int) else getattr(exc.rc, "value", None)
        return code in _LOGIN_CODES
    return False


def broker_error(url: BrokerURL, exc: BaseException) -> BrokerError:
    """One line naming the broker and the reason, with a hint for the usual fixes."""
    if _is_login_refused(exc):
        return BrokerError(f"broker {url} refused the login ({_reason(exc)}): check the user "
                           "name and the password (HIPTHRUST_MQTT_PASSWORD or password file)")
    reason = _reason(exc)
    if "certificate verify failed" in reason:
        reason += " (is --ca-file the CA that signed the broker's certificate?)"
    return BrokerError(f"cannot reach broker {url}: {reason}")


def is_permanent(exc: BaseException) -> bool:
    """Errors that retrying will not fix: bad credentials, not authorised, untrusted cert."""
    text = str(exc).lower()
    return _is_login_refused(exc) or any(
        s in text for s in ("certificate verify failed", "hostname mismatch"))


def make_client(
    cfg: Config, *, role: str, will: aiomqtt.Will | None = None, timeout_s: float = 10.0
) -> aiomqtt.Client:
    """An aiomqtt client for ``cfg`` (MQTT 3.1.1, works with any broker).

    ``role`` suffixes a configured client id (``<id>-live``, ``<id>-sync``...) so that two
    hipthrust commands running at once do not kick each other off the broker.
    """
    url = cfg.require_broker()
    tls = aiomqtt.TLSParameters(ca_certs=str(cfg.ca_file) if cfg.ca_file else None) \
        if url.tls else None
    identifier = f"{cfg.client_id}-{role}" if cfg.client_id else \
        f"hipthrust-{cfg.device_id[:20]}-{role}-{uuid.uuid4().hex[:8]}"
    return aiomqtt.Client(
        url.host,
        url.port,
        username=cfg.username,
        password=cfg.password,
        identifier=identifier,
        will=will,
        tls_params=tls,
        timeout=timeout_s,
        keepalive=30,
        logger=logging.getLogger("sensor.mqtt.client"),
    )


@dataclass
class Backoff:
    """Retry delays from :func:`sensor.backoff.backoff_delay_s`: ``initial_s``, x2 each
    attempt, stretched by a random 0..``jitter`` fraction, capped at ``max_s``."""

    initial_s: float = 0.5
    max_s: float = 30.0
    jitter: float = 0.2
    _attempt: int = field(default=0, init=False)

    def reset(self) -> None:
        self._attempt = 0

    def next_delay_s(self) -> float:
        self._attempt += 1
        drawn = random.uniform(0.0, self.jitter)  # noqa: S311 - jitter, not crypto
        return backoff_delay_s(self._attempt, self.initial_s, self.max_s, drawn)


async def flush_outbox(
    client: aiomqtt.Client, store: SummaryStore, topics: Topics, *, batch: int = FLUSH_BATCH
) -> int:
    """Publish every pending summary (retained, QoS 1) and mark each sent after its PUBACK.

    The latest stored summary also goes to ``topics.latest`` with the batch that holds it.
    Returns the number sent. Raises ``aiomqtt.MqttError``; what was not acknowledged stays
    pending.
    """
    client.pending_calls_threshold = max(client.pending_calls_threshold, batch + 10)
    sent = 0
    while True:
        items = await asyncio.to_thread(store.pending, batch)
        if not items:
            return sent
        latest = await asyncio.to_thread(store.latest)
        calls = [client.publish(topics.session(s.session_id), s.document, qos=SUMMARY_QOS,
                                retain=True) for s in items]
        if latest is not None and any(s.seq == latest.seq for s in items):
            calls.append(client.publish(topics.latest, latest.document, qos=SUMMARY_QOS,
                                        retain=True))
        results = await asyncio.gather(*calls, return_exceptions=True)
        ok = [s for s, r in zip(items, results, strict=False) if r is None]
        errors = [r for r in results if isinstance(r, BaseException)]
        await asyncio.to_thread(store.mark_sent, ok)
        sent += len(ok)
        if errors:
            failed = [s for s, r in zip(items, results, strict=False) if r is not None]
            await asyncio.to_thread(store.mark_failed, failed, _reason(errors[0]))
            if isinstance(errors[0], aiomqtt.MqttError):
                raise errors[0]
            raise aiomqtt.MqttError(_reason(errors[0])) from errors[0]


async def publish_discovery(client: aiomqtt.Client, cfg: Config, topics: Topics) -> None:
    """Publish the Home Assistant discovery configs (retained, QoS 1)."""
    await asyncio.gather(*(
        client.publish(topic, json.dumps(payload), qos=1, retain=True)
        for topic, payload in discovery_messages(topics, cfg.discovery_prefix)
    ))


def topics_for(cfg: Config) -> Topics:
    return Topics.for_device(cfg.topic_prefix, cfg.device_id)


@dataclass(frozen=True)
class SyncReport:
    """What a flush did: ``sent`` now, ``pending`` still queued, ``error`` if it stopped."""

    sent: int
    pending: int
    error: str | None = None


async def sync_outbox(
    cfg: Config,
    store: SummaryStore | None = None,
    *,
    attempts: int = 3,
    backoff: Backoff | None = None,
    discovery: bool = True,
    timeout_s: float = 10.0,
) -> SyncReport:
    """Connect, publish HA discovery, flush the outbox; retry transient failures.

    Never raises for broker trouble: the error is in the report and the summaries stay
    stored. Raises ``ConfigError`` if no broker is configured.
    """
    url = cfg.require_broker()
    if store is None:
        store = await asyncio.to_thread(SummaryStore, cfg.store_path)
    topics = topics_for(cfg)
    backoff = backoff or Backoff()
    sent = 0
    error: str | None = None
    for attempt in range(max(1, attempts)):
        try:
            async with make_client(cfg, role="sync", timeout_s=timeout_s) as client:
                if discovery:
                    await publish_discovery(client, cfg, topics)
                sent += await flush_outbox(client, store, topics)
            error = None
            break
        except aiomqtt.MqttError as exc:
            error = str(broker_error(url, exc))
            log.info("attempt %d: %s", attempt + 1, error)
            if is_permanent(exc) or attempt + 1 >= attempts:
                break
            await asyncio.sleep(backoff.next_delay_s())
    counts = await asyncio.to_thread(store.counts)
    return SyncReport(sent=sent, pending=counts.pending, error=error)


@dataclass(frozen=True)
class PublishReport:
    """``stored``: new or changed summaries stored; then what the flush did."""

    stored: int
    sent: int
    pending: int
    broker: str | None
    error: str | None = None


async def publish_summaries_async(
    docs: Sequence[dict[str, Any]], cfg: Config, *, attempts: int = 3
) -> PublishReport:
    """Store each summary locally, then (if a broker is configured) flush the outbox."""
    store = await asyncio.to_thread(SummaryStore, cfg.store_path)
    stored = await asyncio.to_thread(store.add_many, list(docs))
    if cfg.broker is None:
        counts = await asyncio.to_thread(store.counts)
        return PublishReport(stored, 0, counts.pending, None)
    report = await sync_outbox(cfg, store, attempts=attempts)
    return PublishReport(stored, report.sent, report.pending, str(cfg.broker), report.error)


def publish_summaries(docs: Sequence[dict[str, Any]], cfg: Config) -> PublishReport:
    """Blocking wrapper of ``publish_summaries_async`` for synchronous commands."""
    return asyncio.run(publish_summaries_async(docs, cfg))


def report_line(report: PublishReport) -> str:
    """One line for the terminal."""
    if report.broker is None:
        return (f"stored {report.stored} summary(ies) locally; no broker configured "
                f"({report.pending} waiting for `hipthrust sync --broker URL`)")
    text = f"stored {report.stored}, sent {report.sent} to {report.broker}"
    if report.pending:
        text += f", {report.pending} kept in the outbox for `hipthrust sync`"
    return text


class MqttSink:
    """Live publishing for a recording session; survives broker outages.

    Use as ``async with MqttSink(cfg) as sink``. A background task keeps a connection
    (reconnecting with backoff), publishes ``online`` (retained; the last will says
    ``offline``), the HA discovery configs (again whenever ``homeassistant/status`` says
    ``online``), and flushes the outbox whenever a summary is added. Live events are QoS 0
    and dropped (counted in ``dropped_events``) while disconnected. On a clean exit it
    flushes what it can and publishes ``offline``: if disconnected it tries once more at
    once, and it stops waiting at the first failed attempt or after ``exit_timeout_s``.
    ``log_level`` is that of the "cannot reach the broker" log line (callers that report it
    themselves lower it).
    """

    def __init__(
        self,
        cfg: Config,
        *,
        store: SummaryStore | None = None,
        discovery: bool = True,
        backoff: Backoff | None = None,
        exit_timeout_s: float = 5.0,
        timeout_s: float = 10.0,
        log_level: int = logging.WARNING,
    ) -> None:
        self.cfg = cfg
        self.url = cfg.require_broker()
        self.topics = topics_for(cfg)
        self.discovery = discovery
        self.dropped_events = 0
        self.sent_events = 0
        self.connections = 0
        self.last_error: str | None = None
        self._store = store
        self._backoff = backoff or Backoff()
        self._exit_timeout_s = exit_timeout_s
        self._timeout_s = timeout_s
        self._log_level = log_level  # of the "cannot reach the broker" line
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._flush_needed = asyncio.Event()
        self._idle = asyncio.Event()  # set when the outbox was found empty after a flush
        self._failed = asyncio.Event()  # set when a connection attempt fails or drops
        self._retry_now = asyncio.Event()  # cuts the backoff wait short
        self._task: asyncio.Task[None] | None = None

    @property
    def store(self) -> SummaryStore:
        assert self._store is not None, "use MqttSink inside `async with`"  # noqa: S101
        return self._store

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def __aenter__(self) -> MqttSink:
        if self._store is None:
            self._store = await asyncio.to_thread(SummaryStore, self.cfg.store_path)
        self._flush_needed.set()
        self._task = asyncio.create_task(self._run(), name="hipthrust-mqtt")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.connected:
            self._failed.clear()
            self._retry_now.set()  # one more attempt now rather than after the backoff
        try:
            with contextlib.suppress(TimeoutError, aiomqtt.MqttError):
                async with asyncio.timeout(self._exit_timeout_s):
                    if await self._until_failure(self.drain()):
                        client = self._client
                        if client is not None:
                            await client.publish(self.topics.status, "offline", qos=1,
                                                 retain=True)
        finally:
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await self._task

    async def wait_connected(self, timeout_s: float, *, until_failure: bool = False) -> bool:
        """Wait until connected (True) or ``timeout_s`` passed (False).

        ``until_failure``: also stop (False) if the latest connection attempt failed.
        """
        if self.connected:
            return True
        try:
            async with asyncio.timeout(timeout_s):
                if until_failure:
                    return await self._until_failure(self._connected.wait())
                await self._connected.wait()
        except TimeoutError:
            return False
        return True

    async def _until_failure(self, aw: Coroutine[Any, Any, object]) -> bool:
        """Run ``aw``; True when it finished, False if a connection attempt failed first."""
        work = asyncio.ensure_future(aw)
        failed = asyncio.ensure_future(self._failed.wait())
        try:
            await asyncio.wait((work, failed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, failed):
                task.cancel()
            await asyncio.gather(work, failed, return_exceptions=True)
        if work.done() and not work.cancelled():
            work.result()  # raises what ``aw`` raised
            return True
        return False

    async def drain(self) -> None:
        """Wait until every stored summary has been acknowledged by the broker."""
        while True:
            self._idle.clear()
            counts = await asyncio.to_thread(self.store.counts)
            if counts.pending == 0:
                return
            self._flush_needed.set()
            await self._idle.wait()

    async def publish_summary(self, doc: dict[str, Any]) -> None:
        """Store the summary, then queue it for publishing (returns before the broker acks)."""
        await asyncio.to_thread(self.store.add, doc)
        self._flush_needed.set()

    async def publish_event(self, event: Event) -> bool:
        """Publish a live event (QoS 0, not retained); False if it was dropped."""
        client = self._client
        if client is None or not self.connected:
            self.dropped_events += 1
            return False
        try:
            await client.publish(self.topics.event(event_kind(event)),
                                 json.dumps(event_payload(event)), qos=EVENT_QOS, retain=False)
        except aiomqtt.MqttError:
            self.dropped_events += 1
            return False
        self.sent_events += 1
        return True

    async def _run(self) -> None:
        will = aiomqtt.Will(self.topics.status, "offline", qos=1, retain=True)
        while True:
            client = make_client(self.cfg, role="live", will=will, timeout_s=self._timeout_s)
            try:
                async with client:
                    self._backoff.reset()
                    self.connections += 1
                    await client.publish(self.topics.status, "online", qos=1, retain=True)
                    if self.discovery:
                        await client.subscribe(ha_status_topic(self.cfg.discovery_prefix), qos=1)
                        await publish_discovery(client, self.cfg, self.topics)
                    self._client = client
                    self._failed.clear()
                    self._connected.set()
                    self.last_error = None
                    log.info("connected to %s", self.url)
                    self._flush_needed.set()
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._flush_loop(client))
                        tg.create_task(self._listen(client))
            except* aiomqtt.MqttError as group:
                error = str(broker_error(self.url, group.exceptions[0]))
                if error != self.last_error:
                    log.log(self._log_level,
                            "%s; summaries are kept and sent when it is back", error)
                self.last_error = error
                self._failed.set()
            finally:
                self._client = None
                self._connected.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._backoff.next_delay_s()):
                    await self._retry_now.wait()
            self._retry_now.clear()

    async def _flush_loop(self, client: aiomqtt.Client) -> None:
        while True:
            await self._flush_needed.wait()
            self._flush_needed.clear()
            await flush_outbox(client, self.store, self.topics)
            if (await asyncio.to_thread(self.store.counts)).pending == 0:
                self._idle.set()

    async def _listen(self, client: aiomqtt.Client) -> None:
        ha_status = ha_status_topic(self.cfg.discovery_prefix)
        async for message in client.messages:
            if message.topic.matches(ha_status) and message.payload in (b"online", "online"):
                log.info("Home Assistant is online: publishing discovery again")
                await publish_discovery(client, self.cfg, self.topics)
