"""The live session runner: sensor link -> decoder -> recording file -> engine -> events -> sinks.

One :class:`LiveSession` per training session. It takes what ``sensor.ble.SensorLink``
delivers (notifications, ``LinkLost``/``LinkBack``), decodes each notification
(``sensor.decode.StreamDecoder``: sensor-clock times, loss counted by sequence number),
appends every sample to the recording as it arrives (flushed), feeds the same samples to the
streaming engine, and hands every event (the engine's and the link's) to the display
callback and to the async sinks (e.g. ``sensor.mqtt_publish.MqttSink``).

The recording's time base is the sensor's clock. Samples are rounded to what the file holds
*before* the engine sees them, and the summary is built with the session id written in the
file's header, so the live summary equals ``hipthrust analyze`` on the recording (same
options; a leg switched or a set ended by hand live are not in the file).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import platformdirs

from sensor.ble import BleError, LinkItem, Notification, SensorLink
from sensor.decode import FORMATS, PacketStats, SensorModel, StreamDecoder
from sensor.engine import AnalysisOptions, Engine
from sensor.engine.lockout import LockoutDetector, detector_of
from sensor.events import Event, LinkBack, LinkLost, LockoutReached, SetDone
from sensor.gatt_profile import StreamConfig
from sensor.recording import RecordingWriter, format_rows
from sensor.samples import Samples
from sensor.summary import Leg, SessionSummary, to_dict

log = logging.getLogger(__name__)

RATE_WINDOW_S = 2.0  # the link rate is measured over this much arrival time


class EventSink(Protocol):
    """Receives the session's events as they happen, and the final summary document."""

    async def publish_event(self, event: Event) -> object: ...

    async def publish_summary(self, doc: dict[str, Any]) -> None: ...


def default_recording_path(now: dt.datetime | None = None) -> Path:
    """``<user data dir>/recordings/<UTC timestamp>.csv`` (the directory is created)."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    folder = platformdirs.user_data_path("hipthrust") / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{stamp}.csv"


def as_written(samples: Samples) -> Samples:
    """The samples exactly as the recording file will hold them (its decimal precision).

    The engine is fed these, so that analysing the file later gives the same numbers.
    """
    n = len(samples)
    if n == 0:
        return samples
    text = format_rows(samples)
    values = np.array(text.replace("\n", ",").split(",")[:-1], dtype=np.float64)
    values = values.reshape(n, -1)
    gyro = values[:, 4:7].copy() if samples.gyro_dps is not None else None
    return Samples(values[:, 0].copy(), values[:, 1:4].copy(), gyro, samples.metadata)


@dataclass
class LinkStats:
    """What the link delivered. ``loss_pct`` counts packets missing by sequence number."""

    packets: int = 0
    samples: int = 0
    lost_packets: int = 0
    garbage_packets: int = 0
    disconnects: int = 0
    reconnects: int = 0
    battery_pct: int | None = None
    rate_hz: float | None = None  # samples per second of arrival time, recently
    loss_countable: bool = True  # False: the model's packets carry no sequence number
    _arrivals: deque[tuple[float, int]] = field(default_factory=deque, repr=False)

    @property
    def loss_pct(self) -> float:
        expected = self.packets + self.lost_packets
        return 100.0 * self.lost_packets / expected if expected else 0.0

    def update(self, decoder: PacketStats, arrival_s: float, n_samples: int) -> None:
        self.packets = decoder.packets
        self.samples = decoder.samples
        self.lost_packets = decoder.lost_by_seq
        self.garbage_packets = decoder.dropped_garbage
        q = self._arrivals
        q.append((arrival_s, n_samples))
        while q and q[0][0] < arrival_s - RATE_WINDOW_S:
            q.popleft()
        span = q[-1][0] - q[0][0]
        if len(q) > 1 and span > 0:
            self.rate_hz = sum(n for _, n in list(q)[1:]) / span


@dataclass(frozen=True)
class LiveResult:
    """The end of a live session."""

    summary: SessionSummary
    path: Path
    session_id: str
    link: LinkStats
    samples_written: int


EventCallback = Callable[[Event], None]


class LiveSession:
    """Runs one session. Not thread-safe; everything happens on the event loop.

    ``metadata`` adds header lines to the recording (``session_id``, ``sensor``, ``fs`` and
    ``model`` are filled in). ``on_event`` (sync, must not block) and ``sinks`` (async) get
    every event. ``leg`` sets the leg of the first set live.
    """

    def __init__(
        self,
        out_path: str | Path,
        options: AnalysisOptions | None = None,
        *,
        model: SensorModel = SensorModel.HIPTHRUST,
        sensor_name: str = "unknown",
        nominal_rate_hz: float | None = None,
        session_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        sinks: Sequence[EventSink] = (),
        on_event: EventCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(out_path)
        self.options = options or AnalysisOptions()
        self.engine = Engine(self.options)
        self.decoder = StreamDecoder(model, nominal_rate_hz=nominal_rate_hz or 10.0)
        self.session_id = session_id or str(uuid.uuid4())
        self.sensor_name = sensor_name
        self.nominal_rate_hz = nominal_rate_hz
        self.extra_metadata = dict(metadata or {})
        self.sinks = list(sinks)
        self.on_event = on_event
        self.clock = clock
        self.link = LinkStats(loss_countable=FORMATS[self.decoder.model].seq_field is not None)
        self.events: list[Event] = []
        self.sink_errors = 0
        self.error: str | None = None  # why the link ended, when it was not asked to
        self._writer: RecordingWriter | None = None
        self._pending_back: LinkBack | None = None
        self._last_t_s: float | None = None
        self._sink_queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._sink_task: asyncio.Task[None] | None = None
        self._finished: LiveResult | None = None

    # -- the pieces the display reads -------------------------------------------------------

    @property
    def detector(self) -> LockoutDetector:
        return detector_of(self.engine)

    @property
    def stream_t_s(self) -> float | None:
        """Sensor time of the last sample received."""
        return self._last_t_s

    @property
    def samples_written(self) -> int:
        return self._writer.samples_written if self._writer is not None else 0

    # -- user commands ----------------------------------------------------------------------

    def set_leg(self, leg: Leg) -> None:
        """The set in progress (or the next) is on ``leg``; later sets alternate."""
        self.engine.set_leg(leg)

    def end_set(self) -> list[Event]:
        """The user ended the set: close what has been seen."""
        events = self.engine.end_set()
        self._dispatch(events)
        return events

    # -- input ------------------------------------------------------------------------------

    def handle(self, item: LinkItem) -> list[Event]:
        """One item from the link: returns (and dispatches) the events it caused."""
        if isinstance(item, Notification):
            events = self.feed_packet(item.data, item.arrival_s)
        elif isinstance(item, LinkLost):
            self.link.disconnects += 1
            events = [LinkLost(self._last_t_s if self._last_t_s is not None else 0.0)]
            self._dispatch(events)
        else:  # LinkBack: reported with the first samples after it, on the sensor's clock
            self.link.reconnects += 1
            self._pending_back = item
            events = []
        return events

    def feed_packet(self, data: bytes, arrival_s: float | None = None) -> list[Event]:
        """Decode one notification, record its samples, run the engine."""
        garbage = self.decoder.stats.dropped_garbage
        block = self.decoder.feed(data, arrival_s=arrival_s)
        if self.decoder.stats.dropped_garbage > garbage:
            log.info("dropped a packet: %s", self.decoder.stats.last_reason)
        arrival = arrival_s if arrival_s is not None else self.clock()
        self.link.update(self.decoder.stats, arrival, 0 if block is None else len(block))
        if block is None or len(block) == 0:
            return []
        return self.feed_samples(block)

    def feed_samples(self, block: Samples) -> list[Event]:
        """Record a decoded block (flushed) and feed it to the engine."""
        block = as_written(block)
        writer = self._writer or self._open_writer(block)
        writer.write(block)
        events: list[Event] = []
        if self._pending_back is not None:
            events.append(LinkBack(float(block.t_s[0]), self._pending_back.lost_packets))
            self._pending_back = None
        self._last_t_s = float(block.t_s[-1])
        events += self.engine.feed(block)
        self._dispatch(events)
        return events

    def _open_writer(self, first: Samples) -> RecordingWriter:
        rate = self.nominal_rate_hz
        if len(first) > 1:
            rate = float(1.0 / np.median(np.diff(first.t_s)))
        elif self.decoder.sample_interval_s:  # a one-sample first packet: its own interval
            rate = 1.0 / self.decoder.sample_interval_s
        meta = {
            "session_id": self.session_id,
            "sensor": self.sensor_name,
            "fs": f"{rate:.4g}" if rate else "unknown",
            "model": self.decoder.model.value,
            "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            **self.extra_metadata,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = RecordingWriter(self.path, with_gyro=first.has_gyro, metadata=meta)
        return self._writer

    # -- output -----------------------------------------------------------------------------

    def _dispatch(self, events: Sequence[Event]) -> None:
        for ev in events:
            self.events.append(ev)
            if self.on_event is not None:
                self.on_event(ev)
            if self.sinks:
                self._sink_queue.put_nowait(ev)

    async def _drain_sinks(self) -> None:
        while True:
            ev = await self._sink_queue.get()
            if ev is None:
                return
            for sink in self.sinks:
                try:
                    await sink.publish_event(ev)
                except Exception as exc:  # a sink must never stop the recording
                    self.sink_errors += 1
                    log.warning("event sink %s failed: %s", type(sink).__name__, exc)

    def finish(self) -> LiveResult:
        """End of the stream: close the file, decide what is open, build the summary."""
        if self._finished is not None:
            return self._finished
        self._dispatch(self.engine.finish())
        if self._writer is not None:
            self._writer.close()
        summary = self.engine.summary(session_id=self.session_id, source=self.path.name)
        self._finished = LiveResult(
            summary, self.path, self.session_id, self.link, self.samples_written
        )
        return self._finished

    def use_link(self, link: SensorLink) -> None:
        """Decode what ``link`` delivers: its sensor model, at the rate it streams.

        Only before the first packet: a session's recording holds one model's stream.
        """
        stamped_on_arrival = FORMATS[link.model].t0_field is None
        if self.decoder.stats.packets or (
            link.model is self.decoder.model and not stamped_on_arrival
        ):
            return
        if stamped_on_arrival and self.nominal_rate_hz is None:
            self.nominal_rate_hz = link.rate_hz
        self.decoder = StreamDecoder(link.model, nominal_rate_hz=self.nominal_rate_hz or 10.0)
        self.link.loss_countable = FORMATS[link.model].seq_field is not None

    async def run(
        self,
        link: SensorLink,
        stop: asyncio.Event | None = None,
    ) -> LiveResult:
        """Stream from an open ``link`` until it closes or ``stop`` is set; then finish.

        The link is closed on the way out; every sample received is in the file.
        """
        self.use_link(link)
        if link.info is not None:
            self.link.battery_pct = link.info.battery_pct
        if self.sinks:
            self._sink_task = asyncio.create_task(self._drain_sinks())
        stopper: asyncio.Task[None] | None = None
        if stop is not None:

            async def close_on_stop() -> None:
                await stop.wait()
                await link.close()

            stopper = asyncio.create_task(close_on_stop())
        try:
            async for item in link.items():
                self.link.reconnects = max(self.link.reconnects, link.reconnects)
                self.handle(item)
        except BleError as exc:  # reconnecting gave up: keep what was recorded
            self.error = str(exc)
            log.warning("%s", exc)
        finally:
            if stopper is not None:
                stopper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stopper
            await link.close()
            result = self.finish()
            await self._close_sinks(result)
        return result

    async def _close_sinks(self, result: LiveResult) -> None:
        if self._sink_task is None:
            return
        self._sink_queue.put_nowait(None)
        await self._sink_task
        doc = to_dict(result.summary)
        for sink in self.sinks:
            try:
                await sink.publish_summary(doc)
            except Exception as exc:  # the summary is in the file either way
                self.sink_errors += 1
                log.warning("event sink %s failed on the summary: %s", type(sink).__name__, exc)


def lockouts_in_set(events: Sequence[Event], set_index: int) -> int:
    """How many lockouts the live detector reported for ``set_index``."""
    return sum(1 for e in events if isinstance(e, LockoutReached) and e.set_index == set_index)


def sets_done(events: Sequence[Event]) -> list[SetDone]:
    return [e for e in events if isinstance(e, SetDone)]


@dataclass(frozen=True)
class VirtualRun:
    """A session streamed from a virtual sensor: the result and what the sensor did."""

    result: LiveResult
    sensor_packets_sent: int
    sensor_packets_dropped: int
    sensor_packets_lost_offline: int
    sent_ranges: tuple[tuple[int, int], ...]  # index ranges of ``played`` that were sent
    played: Samples  # what the sensor played (duplicated timestamps left out)


async def stream_virtual(
    samples: Samples,
    session: LiveSession,
    *,
    speed: float = 0.0,
    drop_rate: float = 0.0,
    disconnect_at_s: float | None = None,
    seed: int = 0,
    stop: asyncio.Event | None = None,
    on_open: Callable[[SensorLink], None] | None = None,
    model: SensorModel | None = None,
    rate_hz: float | None = None,
) -> VirtualRun:
    """Play ``samples`` through a virtual sensor on a Bumble link into ``session``.

    The real path: Bumble peripheral -> bleak (Bumble backend) -> ``SensorLink`` -> decoder.
    ``speed`` is the play-back speed (0: as fast as possible); ``disconnect_at_s`` (stream
    time) makes the sensor drop the link once; ``drop_rate`` loses packets at random.
    ``model`` is the sensor model the virtual sensor plays (default: the session's);
    ``rate_hz`` the rate the host
    asks for (default: the recording's). A model without timestamps (WitMotion) is stamped
    on arrival with the virtual sensor's clock, so that a faster-than-real-time play-back
    still gives the session's own time base.
    """
    # Imported here: Bumble is only needed for the virtual radio.
    from sensor.ble import scan  # noqa: PLC0415
    from sensor.ble_backend_bumble import virtual_radio  # noqa: PLC0415
    from sensor.virtual_sensor import VirtualSensor  # noqa: PLC0415

    sensor = VirtualSensor(
        samples, speed=speed, drop_rate=drop_rate, seed=seed, disconnect_at_s=disconnect_at_s,
        model=model or session.decoder.model,
    )
    stamped_on_arrival = FORMATS[sensor.model].t0_field is None
    config = None
    if rate_hz is not None or stamped_on_arrival:
        config = StreamConfig(rate_hz=rate_hz or sensor.config.rate_hz)
    async with virtual_radio(sensor) as radio:
        found = await scan(0.3, backend=radio.backend)
        if not found:
            raise BleError("the virtual sensor was not heard")
        link = SensorLink(
            found[0], backend=radio.backend, base_backoff_s=0.1, seed=seed, config=config,
            clock=sensor.clock if stamped_on_arrival else time.monotonic,
        )
        await link.open()
        session.sensor_name = found[0].name
        if on_open is not None:
            on_open(link)

        async def close_when_played() -> None:
            await sensor.finished.wait()
            await asyncio.sleep(0.1)  # let the last notifications arrive
            await link.close()

        closer = asyncio.create_task(close_when_played())
        try:
            result = await session.run(link, stop)
        finally:
            closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closer
    st = sensor.stats
    return VirtualRun(
        result, st.packets_sent, st.packets_dropped, st.packets_lost_offline,
        tuple(st.sent_ranges), sensor.samples,
    )
