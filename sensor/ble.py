"""Bluetooth LE I/O with bleak: find supported sensors, and keep a streaming link to one.

This is the source end of the pipeline (BLE -> decode -> samples -> engine). It is written
once against bleak's public API; ``backend`` selects the bleak backend classes: ``None`` for
the operating system's Bluetooth stack, or ``radio.backend`` of
``sensor.ble_backend_bumble.virtual_radio()`` for virtual sensors on a Bumble link.

- ``scan(timeout_s, backend)`` lists the supported sensors that advertise nearby.
- ``SensorLink`` connects (bleak-retry-connector's ``establish_connection``), reads the
  sensor's info, battery and device information, writes the stream configuration,
  subscribes, and delivers each notification as raw bytes with its arrival time. When the
  sensor drops the link it reconnects with back-off (``sensor.backoff``) and carries on,
  reporting ``LinkLost``/``LinkBack``. Nothing here blocks the event loop.

Decoding the bytes is ``sensor.decode``'s job, not this module's.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from sensor import gatt_profile as gp
from sensor import witmotion as wm
from sensor.backoff import backoff_delay_s
from sensor.decode import SensorModel
from sensor.errors import HipthrustError
from sensor.events import LinkBack, LinkLost

log = logging.getLogger(__name__)

WITMOTION_SERVICE_UUID = wm.SERVICE_UUID  # WitMotion's own base UUID (...805f9a34fb)
WITMOTION_NOTIFY_UUID = wm.NOTIFY_UUID
WITMOTION_WRITE_UUID = wm.WRITE_UUID
COMMAND_GAP_S = 0.1  # between WitMotion configuration writes, as WitMotion's SDK waits


class BleError(HipthrustError):
    """Bluetooth is unavailable, or a sensor cannot be reached: one line for the user."""


@dataclass(frozen=True)
class BleBackend:
    """The bleak backend classes to use; ``None`` means the OS backend."""

    scanner: type[BaseBleakScanner] | None = None
    client: type[BaseBleakClient] | None = None


def _same_rate(rate_hz: float) -> float:
    return rate_hz


def _witmotion_config_writes(config: gp.StreamConfig) -> tuple[bytes, ...]:
    return wm.rate_commands(wm.nearest_rate_hz(config.rate_hz))


@dataclass(frozen=True)
class ModelProfile:
    """How a supported sensor model is recognised and streamed over GATT.

    ``command_uuid`` and ``config_writes``: a model configured by plain command writes
    (WitMotion) gets these writes, ``COMMAND_GAP_S`` apart, before subscribing.
    ``stream_rate_hz`` maps the rate asked for to the rate the sensor will send at.
    """

    model: SensorModel
    name_prefixes: tuple[str, ...]
    service_uuid: str
    notify_uuid: str
    control_uuid: str | None = None
    info_uuid: str | None = None
    command_uuid: str | None = None
    config_writes: Callable[[gp.StreamConfig], tuple[bytes, ...]] | None = None
    stream_rate_hz: Callable[[float], float] = _same_rate


PROFILES: tuple[ModelProfile, ...] = (
    ModelProfile(
        SensorModel.HIPTHRUST,
        ("hipthrust-",),
        gp.SERVICE_UUID,
        gp.IMU_DATA_UUID,
        gp.CONTROL_UUID,
        gp.INFO_UUID,
    ),
    ModelProfile(
        SensorModel.WITMOTION_WT901BLE,
        ("WT901",),
        WITMOTION_SERVICE_UUID,
        WITMOTION_NOTIFY_UUID,
        command_uuid=WITMOTION_WRITE_UUID,
        config_writes=_witmotion_config_writes,
        stream_rate_hz=wm.nearest_rate_hz,
    ),
)
PROFILE_BY_MODEL = {p.model: p for p in PROFILES}


def recognise(name: str | None, service_uuids: list[str]) -> SensorModel | None:
    """The supported model an advertisement belongs to (by service UUID, else name prefix)."""
    uuids = {u.lower() for u in service_uuids}
    for profile in PROFILES:
        if profile.service_uuid in uuids:
            return profile.model
    for profile in PROFILES:
        if name and name.startswith(profile.name_prefixes):
            return profile.model
    return None


def advertised_battery_pct(adv: AdvertisementData) -> int | None:
    """Battery level from Battery-service (0x180F) service data in the advertisement, if any."""
    payload = adv.service_data.get(gp.BATTERY_SERVICE_UUID)
    if payload and payload[0] <= 100:
        return int(payload[0])
    return None


@dataclass(frozen=True)
class FoundSensor:
    """A supported sensor heard in a scan. ``address`` is what bleak gives (UUID on macOS)."""

    name: str
    address: str
    model: SensorModel
    rssi: int
    battery_pct: int | None
    device: BLEDevice = field(compare=False, repr=False)


def _unavailable(exc: BaseException) -> BleError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BleError(f"Bluetooth is not available on this machine ({detail}); try --virtual")


async def scan(timeout_s: float = 5.0, backend: BleBackend | None = None) -> list[FoundSensor]:
    """Scan for ``timeout_s`` seconds; the supported sensors heard, strongest signal first."""
    try:
        scanner_class = backend.scanner if backend else None
        if scanner_class is None:
            found = await BleakScanner.discover(timeout=timeout_s, return_adv=True)
        else:
            found = await BleakScanner.discover(
                timeout=timeout_s, return_adv=True, backend=scanner_class
            )
    except (BleakError, OSError, ImportError) as exc:  # no adapter, no D-Bus, no BlueZ
        raise _unavailable(exc) from exc
    sensors: list[FoundSensor] = []
    for device, adv in found.values():
        name = adv.local_name or device.name or ""
        model = recognise(name, adv.service_uuids)
        if model is None:
            continue
        sensors.append(
            FoundSensor(name, device.address, model, adv.rssi, advertised_battery_pct(adv), device)
        )
    return sorted(sensors, key=lambda s: (-s.rssi, s.name, s.address))


@dataclass(frozen=True)
class Notification:
    """One notification as received: raw bytes and arrival time (``SensorLink.clock``, s)."""

    data: bytes
    arrival_s: float


@dataclass(frozen=True)
class SensorInfo:
    """What the sensor says about itself on connecting (None where it has no such field)."""

    model: SensorModel
    name: str
    address: str
    mtu: int
    battery_pct: int | None = None
    profile_version: int | None = None
    has_gyro: bool | None = None
    max_rate_hz: float | None = None
    max_accel_g: int | None = None
    manufacturer: str | None = None
    model_number: str | None = None
    firmware_revision: str | None = None


def hipthrust_seq(data: bytes) -> int | None:
    """The sequence number of a hipthrust IMU packet, or None if it is too short."""
    if len(data) < gp.HEADER.size:
        return None
    return int(gp.HEADER.unpack_from(data)[2])


class LinkClosed:
    """Internal marker: the item stream has ended."""


LinkItem = Notification | LinkLost | LinkBack


class SensorLink:
    """A streaming connection to one sensor that survives drop-outs.

    Usage::

        async with SensorLink(found, backend=backend) as link:
            print(link.info)
            async for item in link.items():
                if isinstance(item, Notification): decoder.feed(item.data, arrival_s=item.arrival_s)
                else: handle(item)                        # LinkLost / LinkBack

    ``items()`` ends after ``close()`` (or leaving the ``async with``) once everything received
    has been delivered, and raises ``BleError`` if reconnecting gave up. ``on_item``, if given,
    is called with every item as well, from the event loop: it must not block.
    ``clock`` (default ``time.monotonic``) stamps arrivals and ``LinkLost``/``LinkBack``.
    ``LinkBack`` is reported with the first packet after a reconnect, and for the hipthrust
    profile counts the packets the sequence numbers say were lost.
    """

    def __init__(
        self,
        target: FoundSensor | BLEDevice,
        *,
        model: SensorModel | None = None,
        config: gp.StreamConfig | None = None,
        backend: BleBackend | None = None,
        on_item: Callable[[LinkItem], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        reconnect: bool = True,
        max_reconnect_attempts: int | None = None,
        base_backoff_s: float = 0.25,
        max_backoff_s: float = 8.0,
        connect_attempts: int = 4,
        seed: int | None = None,
        command_gap_s: float = COMMAND_GAP_S,
    ) -> None:
        if isinstance(target, FoundSensor):
            self.device = target.device
            self.model = model or target.model
        else:
            self.device = target
            self.model = model or SensorModel.HIPTHRUST
        self.profile = PROFILE_BY_MODEL[self.model]
        self.config = config or gp.StreamConfig()
        self.backend = backend or BleBackend()
        self.on_item = on_item
        self.clock = clock
        self.reconnect = reconnect
        self.max_reconnect_attempts = max_reconnect_attempts
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.connect_attempts = connect_attempts
        self.command_gap_s = command_gap_s
        self.info: SensorInfo | None = None
        self.reported_rate_hz: float | None = None  # WitMotion: from a 0x55 0x71 reply
        self.reconnects = 0
        self._rng = random.Random(seed)  # noqa: S311 - back-off jitter, not cryptography
        self._client: BleakClient | None = None
        self._queue: asyncio.Queue[LinkItem | LinkClosed | BleError] = asyncio.Queue()
        self._closing = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self._last_seq: int | None = None
        self._lost_at_seq: int | None = None
        self._awaiting_back = False
        self._opened = False

    # -- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> SensorLink:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def is_connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def open(self) -> None:
        """Connect, read the sensor's info, configure and subscribe. Raises BleError.

        A link that drops while it is being set up is retried (with back-off) up to
        ``connect_attempts`` times in all.
        """
        self._closing = False
        self._opened = False
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._connect(max(1, self.connect_attempts - attempt + 1))
                break
            except BleError:
                if attempt >= self.connect_attempts:
                    raise
            await asyncio.sleep(self._delay_s(attempt))
        self._opened = True

    async def close(self) -> None:
        """Stop streaming and disconnect; ``items()`` ends after the queued items."""
        if self._closing:
            return
        self._closing = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            await asyncio.gather(self._reconnect_task, return_exceptions=True)
            self._reconnect_task = None
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                if self.profile.control_uuid is not None:
                    await client.write_gatt_char(
                        self.profile.control_uuid,
                        self.config.control_bytes(gp.Command.STOP),
                        response=True,
                    )
                await client.disconnect()
            except (BleakError, TimeoutError) as exc:
                log.debug("%s: while closing: %s", self.device.address, exc)
        self._queue.put_nowait(LinkClosed())

    async def items(self) -> AsyncIterator[LinkItem]:
        """Notifications and link events, in arrival order, until the link is closed."""
        while True:
            item = await self._queue.get()
            if isinstance(item, LinkClosed):
                return
            if isinstance(item, BleError):
                raise item
            yield item

    # -- connecting -----------------------------------------------------------------

    async def _connect(self, attempts: int) -> None:
        name = self.device.name or self.device.address
        try:
            client = await establish_connection(
                BleakClient,
                self.device,
                name,
                disconnected_callback=self._on_disconnected,
                max_attempts=attempts,
                backend=self.backend.client,
            )
        except (BleakError, TimeoutError, OSError, ImportError) as exc:
            raise BleError(f"cannot connect to {name}: {exc}") from exc
        try:
            self.info = await self._set_up(client)
        except (BleakError, TimeoutError) as exc:
            await client.disconnect()
            raise BleError(f"{name}: setting up the stream failed: {exc}") from exc
        self._client = client

    async def _set_up(self, client: BleakClient) -> SensorInfo:
        profile = self.profile
        fields: dict[str, object] = {}
        if profile.info_uuid is not None and client.services.get_characteristic(profile.info_uuid):
            raw = await client.read_gatt_char(profile.info_uuid)
            if len(raw) >= gp.INFO.size:
                version, caps, max_rate, max_accel = gp.INFO.unpack_from(bytes(raw))
                fields.update(
                    profile_version=version,
                    has_gyro=bool(caps & 1),
                    max_rate_hz=max_rate / 10,
                    max_accel_g=max_accel,
                )
        if client.services.get_characteristic(gp.BATTERY_LEVEL_UUID):
            raw = await client.read_gatt_char(gp.BATTERY_LEVEL_UUID)
            fields["battery_pct"] = raw[0] if raw else None
        for key, uuid in (
            ("manufacturer", gp.MANUFACTURER_NAME_UUID),
            ("model_number", gp.MODEL_NUMBER_UUID),
            ("firmware_revision", gp.FIRMWARE_REVISION_UUID),
        ):
            if client.services.get_characteristic(uuid):
                raw = await client.read_gatt_char(uuid)
                fields[key] = bytes(raw).decode("utf-8", errors="replace")
        if profile.control_uuid is not None:
            await client.write_gatt_char(
                profile.control_uuid, self.config.control_bytes(gp.Command.CONFIGURE), response=True
            )
        if profile.command_uuid is not None and profile.config_writes is not None:
            char = client.services.get_characteristic(profile.command_uuid)
            if char is None:
                raise BleakError(f"no command characteristic {profile.command_uuid}")
            for i, command in enumerate(profile.config_writes(self.config)):
                if i:
                    await asyncio.sleep(self.command_gap_s)
                await client.write_gatt_char(char, command, response="write" in char.properties)
        await client.start_notify(profile.notify_uuid, self._on_notify)
        if self.model is SensorModel.WITMOTION_WT901BLE and profile.command_uuid is not None:
            # Ask for the rate register back; the 0x55 0x71 reply is read in _on_notify.
            char = client.services.get_characteristic(profile.command_uuid)
            if char is not None:
                await client.write_gatt_char(
                    char,
                    wm.read_register_command(wm.REG_RATE),
                    response="write" in char.properties,
                )
        if profile.control_uuid is not None:
            await client.write_gatt_char(
                profile.control_uuid, self.config.control_bytes(gp.Command.START), response=True
            )
        return SensorInfo(
            model=self.model,
            name=self.device.name or client.name,
            address=self.device.address,
            mtu=client.mtu_size,
            **fields,  # type: ignore[arg-type]
        )

    # -- callbacks (event loop, must not block) -------------------------------------

    def _emit(self, item: LinkItem) -> None:
        self._queue.put_nowait(item)
        if self.on_item is not None:
            self.on_item(item)

    @property
    def rate_hz(self) -> float:
        """The rate the sensor streams at: the one asked for, or the model's nearest."""
        return self.profile.stream_rate_hz(self.config.rate_hz)

    def _on_notify(self, _char: object, data: bytearray) -> None:
        arrival_s = self.clock()
        payload = bytes(data)
        if self.model is SensorModel.WITMOTION_WT901BLE and payload[:2] == b"\x55\x71":
            self._on_register_reply(payload)
            return
        seq = hipthrust_seq(payload) if self.model is SensorModel.HIPTHRUST else None
        if self._awaiting_back:
            self._awaiting_back = False
            lost = 0
            if seq is not None and self._last_seq is not None:
                lost = (seq - self._last_seq - 1) % 65536
            self._emit(LinkBack(arrival_s, lost))
        if seq is not None:
            self._last_seq = seq
        self._emit(Notification(payload, arrival_s))

    def _on_register_reply(self, payload: bytes) -> None:
        try:
            reply = wm.decode_register_reply(payload)
        except ValueError as exc:
            log.info("%s: bad register reply: %s", self.device.name, exc)
            return
        if reply.start_register == wm.REG_RATE:
            self.reported_rate_hz = wm.rate_of_code(reply.values[0])
            log.info("%s: output rate register reads %s Hz", self.device.name,
                     self.reported_rate_hz)

    def _on_disconnected(self, _client: BleakClient) -> None:
        self._client = None
        if self._closing or not self._opened:
            return  # ours, or during open(), which retries by itself
        log.warning("%s: link lost", self.device.name or self.device.address)
        self._emit(LinkLost(self.clock()))
        if not self.reconnect:
            self._queue.put_nowait(BleError(f"{self.device.name}: link lost"))
            return
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop())

    def _delay_s(self, attempt: int) -> float:
        jitter = self._rng.uniform(0.0, 0.2)
        return backoff_delay_s(attempt, self.base_backoff_s, self.max_backoff_s, jitter=jitter)

    async def _reconnect_loop(self) -> None:
        attempt = 0
        while not self._closing:
            attempt += 1
            if self.max_reconnect_attempts is not None and attempt > self.max_reconnect_attempts:
                self._queue.put_nowait(
                    BleError(f"{self.device.name}: gave up reconnecting after {attempt - 1} tries")
                )
                return
            await asyncio.sleep(self._delay_s(attempt))
            if self._closing:
                return
            try:
                self._awaiting_back = True
                await self._connect(attempts=1)
            except BleError as exc:
                self._awaiting_back = False
                log.info("reconnect attempt %d failed: %s", attempt, exc)
                continue
            self.reconnects += 1
            log.warning("%s: link back after %d attempt(s)", self.device.name, attempt)
            return
