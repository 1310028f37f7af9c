"""A virtual sensor: a Bumble BLE peripheral that plays a ``Samples`` block.

The sensor is a real Bluetooth LE stack (a Bumble ``Device`` with its own virtual
``Controller``) on a Bumble ``LocalLink``. A host on the same link (see
``sensor.ble_backend_bumble``) scans, connects and subscribes to it exactly as it would to
real hardware. It plays one of two models (``model``, the table ``LOOKS``):

- ``hipthrust`` (default): the firmware in ``firmware_notes/``. It advertises as
  ``hipthrust-XXXX`` with the hipthrust service UUID, serves the hipthrust service (IMU data
  notify, control write, info read), the Battery service (0x180F) and the Device
  Information service (0x180A).
- ``wt901ble``: a WitMotion WT901BLE68 (``sensor.witmotion``). It advertises as
  ``WT901BLE68`` with WitMotion's service UUID (vendor base ``...805f9a34fb``), and serves
  only service FFE5: notify FFE4 (0x55 0x61 data frames, 0x55 0x71 register replies) and
  write FFE9 (``FF AA`` commands). It outputs one 20-byte frame per notification at its
  current output rate (10 Hz out of the box), taking the recording's sample nearest each
  tick; the rate changes on ``UNLOCK`` then ``FF AA 03 <code> 00`` (a rate write without a
  recent unlock is ignored, as on the device), and ``FF AA 27 <reg> 00`` is answered with a
  0x55 0x71 reply. The frames carry no sequence number and no time: the host time-stamps
  them on arrival (use :meth:`VirtualSensor.clock` as the host's clock, see there).

Streaming (hipthrust): the samples are cut into packets (``encode_imu_packet``) of up to
``samples_per_packet`` samples, never across a gap in the sample times. The stream starts on
the control "start" command, or when the host subscribes (``start_on_subscribe``). The
stream clock is the sample time since the first sample; a packet is sent once its last
sample has been "measured", at ``speed`` times real time (``speed=0``: as fast as possible).
Each packet takes the next sequence number, whether it is sent, dropped (``drop_rate``, from
a seeded RNG) or lost because the link is down. ``disconnect_at_s`` makes the peripheral drop
the link once, when the stream clock reaches it; the stream clock runs on while the link is
down (at ``speed``, or in real time when ``speed=0``), so the packets of the outage are lost
as on real hardware, and streaming resumes where the clock is once the host has reconnected
and subscribed again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from bumble import gatt
from bumble.att import ATT_Error, ErrorCode
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import (
    AdvertisingEventProperties,
    AdvertisingParameters,
    AdvertisingSet,
    Connection,
    Device,
)
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService
from bumble.transport.common import AsyncPipeSink

from sensor import gatt_profile as gp
from sensor import witmotion as wm
from sensor.decode import SensorModel
from sensor.samples import Samples

log = logging.getLogger(__name__)

NAME_PREFIX = "hipthrust-"
DEFAULT_ADDRESS = "F1:C0:FF:EE:12:34"
MANUFACTURER = "hipthrust (virtual)"
MODEL_NUMBER = "hipthrust-virtual-1"
FIRMWARE_REVISION = "0.1.0"
MAX_RATE_DECI_HZ = 4000
MAX_ACCEL_RANGE_G = 16
ACCEL_RANGES_G = (2, 4, 8, 16)
GYRO_RANGES_DPS = (0, 125, 250, 500, 1000, 2000)
BATTERY_SERVICE_16 = UUID.from_16_bits(0x180F)
GAP_TOLERANCE = 0.05  # a step this far (relative) from the nominal interval starts a new packet
WITMOTION_NAME = "WT901BLE68"
UNLOCK_S = 10.0  # a WitMotion unlock allows configuration writes for this long


@dataclass(frozen=True)
class ModelLook:
    """How a virtual sensor of one model shows itself on the air.

    ``name_format`` is formatted with ``suffix``, the last 4 hex digits of the address;
    ``standard_services``: it serves Battery (0x180F) and Device Information (0x180A) and
    puts its battery level in the advertisement.
    """

    model: SensorModel
    name_format: str
    service_uuid: str
    data_uuid: str
    standard_services: bool


LOOKS: dict[SensorModel, ModelLook] = {
    look.model: look
    for look in (
        ModelLook(
            SensorModel.HIPTHRUST, NAME_PREFIX + "{suffix}", gp.SERVICE_UUID, gp.IMU_DATA_UUID, True
        ),
        # WitMotion's docs and SDK name no Battery or Device Information service.
        ModelLook(
            SensorModel.WITMOTION_WT901BLE,
            WITMOTION_NAME,
            wm.SERVICE_UUID,
            wm.NOTIFY_UUID,
            False,
        ),
    )
}


@dataclass(frozen=True)
class PacketPlan:
    """One notification to send: samples ``start:stop``; times in s since the first sample."""

    start: int
    stop: int
    t_first_s: float
    t_last_s: float
    dt_s: float


def plan_packets(t_s: np.ndarray, max_per_packet: int) -> list[PacketPlan]:
    """Cut sample times into packets of at most ``max_per_packet`` evenly spaced samples.

    A packet carries one start time and one interval, so a new packet starts wherever the
    step between samples differs from the nominal (median) interval by more than 5 %.
    """
    n = int(t_s.shape[0])
    if n == 0:
        return []
    rel = t_s - t_s[0]
    steps = np.diff(rel)
    dt_s = float(np.median(steps)) if n > 1 else 0.01
    breaks = np.abs(steps - dt_s) > GAP_TOLERANCE * dt_s
    plans: list[PacketPlan] = []
    start = 0
    for i in range(1, n + 1):
        if i == n or breaks[i - 1] or i - start == max_per_packet:
            plans.append(PacketPlan(start, i, float(rel[start]), float(rel[i - 1]), dt_s))
            start = i
    return plans


@dataclass
class VirtualSensorStats:
    """What the virtual sensor did: packets by fate, and the sample ranges actually sent."""

    packets_sent: int = 0
    packets_dropped: int = 0  # by ``drop_rate``
    packets_lost_offline: int = 0  # while the link was down
    disconnects: int = 0
    sent_ranges: list[tuple[int, int]] = field(default_factory=list)
    commands: list[bytes] = field(default_factory=list)  # WitMotion: every FFE9 write
    commands_ignored: int = 0  # WitMotion: malformed, unknown or written while locked
    replies_sent: int = 0  # WitMotion: 0x55 0x71 register replies


class VirtualSensor:
    """A sensor of ``model`` (hipthrust or wt901ble) on a Bumble ``LocalLink`` that streams
    ``samples``.

    Use it through ``sensor.ble_backend_bumble.virtual_radio(sensor)``, which attaches it to
    the link, powers it on and stops it afterwards. ``finished`` is set once the last packet
    has been sent (or dropped/lost); ``stats`` counts what happened. Samples whose time does
    not advance are left out (``samples_skipped``); ``samples`` is what is played.
    """

    def __init__(
        self,
        samples: Samples,
        *,
        address: str = DEFAULT_ADDRESS,
        name: str | None = None,
        speed: float = 1.0,
        drop_rate: float = 0.0,
        seed: int = 0,
        disconnect_at_s: float | None = None,
        samples_per_packet: int | None = None,
        battery_pct: int = 87,
        start_on_subscribe: bool = True,
        first_seq: int = 0,
        model: SensorModel | str = SensorModel.HIPTHRUST,
    ) -> None:
        if len(samples) == 0:
            raise ValueError("the virtual sensor needs at least one sample")
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as possible)")
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError("drop_rate must be in [0, 1)")
        self.model = SensorModel(model)
        self.look = LOOKS[self.model]
        self.samples, self.samples_skipped = _increasing(samples)
        self.address = Address(address)
        suffix = address.replace(":", "")[-4:].upper()
        self.name = name or self.look.name_format.format(suffix=suffix)
        self.speed = speed
        self.drop_rate = drop_rate
        self.disconnect_at_s = disconnect_at_s
        self.samples_per_packet = samples_per_packet
        self.battery_pct = battery_pct
        self.start_on_subscribe = start_on_subscribe
        self.first_seq = first_seq
        self.config = gp.StreamConfig(
            rate_hz=_nominal_rate_hz(samples),
            gyro_range_dps=2000 if samples.has_gyro else 0,
        )
        # WitMotion registers (16-bit): the output rate starts at the factory default.
        self.registers: dict[int, int] = {wm.REG_RATE: wm.RATE_CODES[wm.DEFAULT_RATE_HZ]}
        self.saves = 0  # WitMotion SAVE commands received
        self._unlocked_until: float | None = None
        self._clock_t_s = 0.0  # stream time of the last packet measured (speed 0 clock)
        self._wall0: float | None = None
        self.stats = VirtualSensorStats()
        self.finished = asyncio.Event()
        self.device: Device | None = None
        self._rng = random.Random(seed)  # noqa: S311 - simulated radio loss, not cryptography
        self._connection: Connection | None = None
        self._link_up = asyncio.Event()  # connected and subscribed to IMU data
        self._running = asyncio.Event()  # streaming (start received, no stop since)
        self._stream_task: asyncio.Task[None] | None = None
        self._disconnect_done = False
        self._advertising_set: AdvertisingSet | None = None
        self._data_char = gatt.Characteristic(
            self.look.data_uuid,
            gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.READABLE,
            b"",
        )
        self._data_char.on(self._data_char.EVENT_SUBSCRIPTION, self._on_subscription)

    # -- set-up ---------------------------------------------------------------------

    def attach(self, link: LocalLink) -> Device:
        """Create this sensor's controller and host on ``link`` (call once)."""
        if self.device is not None:
            raise RuntimeError("the virtual sensor is already attached to a link")
        controller = Controller(self.name, link=link, public_address=self.address)
        device = Device(
            name=self.name, address=self.address, host=Host(controller, AsyncPipeSink(controller))
        )
        device.add_services(self._services())
        device.on(device.EVENT_CONNECTION, self._on_connection)
        self.device = device
        return device

    async def power_on(self) -> None:
        """Power the controller on and start advertising (re-advertises after each link).

        The advertisement carries the flags, the hipthrust service UUID, the name and the
        battery level (Battery-service data). That is more than a legacy advertisement's
        31 bytes, and Bumble's virtual controller answers scan requests with the advertising
        data itself, so the virtual sensor uses one extended (Bluetooth 5) advertisement.
        """
        device = self._device()
        await device.power_on()
        self._advertising_set = await device.create_advertising_set(
            advertising_parameters=AdvertisingParameters(
                advertising_event_properties=AdvertisingEventProperties(
                    is_connectable=True, is_scannable=False, is_legacy=False
                ),
                primary_advertising_interval_min=20.0,
                primary_advertising_interval_max=20.0,
            ),
            random_address=self.address,
            advertising_data=self.advertising_data(),
            auto_restart=True,
        )

    def advertising_data(self) -> bytes:
        """The advertising payload: flags, service UUID, complete name (and battery level
        for a model with the standard services)."""
        flags = (
            AdvertisingData.LE_GENERAL_DISCOVERABLE_MODE_FLAG
            | AdvertisingData.BR_EDR_NOT_SUPPORTED_FLAG
        )
        fields: list[tuple[int, bytes]] = [
            (AdvertisingData.FLAGS, bytes([flags])),
            (
                AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                UUID(self.look.service_uuid).to_bytes(force_128=True),
            ),
            (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
        ]
        if self.look.standard_services:
            fields.append(
                (
                    AdvertisingData.SERVICE_DATA_16_BIT_UUID,
                    BATTERY_SERVICE_16.to_bytes() + bytes([self.battery_pct]),
                )
            )
        return bytes(AdvertisingData(fields))

    async def close(self) -> None:
        """Stop streaming and advertising, drop any link and power the controller off."""
        if self._stream_task is not None:
            self._stream_task.cancel()
            await asyncio.gather(self._stream_task, return_exceptions=True)
            self._stream_task = None
        if self.device is None or not self.device.powered_on:
            return
        if self._advertising_set is not None:
            self._advertising_set.auto_restart = False
            if self._advertising_set.enabled:
                await self._advertising_set.stop()
        if self._connection is not None:
            await self._connection.disconnect()
        await self.device.power_off()

    def _device(self) -> Device:
        if self.device is None:
            raise RuntimeError("attach the virtual sensor to a link first")
        return self.device

    def _services(self) -> list[gatt.Service]:
        if self.model is SensorModel.WITMOTION_WT901BLE:
            return self._witmotion_services()
        return self._hipthrust_services()

    def _witmotion_services(self) -> list[gatt.Service]:
        write: gatt.Characteristic[bytes] = gatt.Characteristic(
            wm.WRITE_UUID,
            gatt.Characteristic.Properties.WRITE
            | gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_witmotion_write),
        )
        return [gatt.Service(wm.SERVICE_UUID, [self._data_char, write])]

    def _hipthrust_services(self) -> list[gatt.Service]:
        info_value = gp.INFO.pack(
            1, int(self.samples.has_gyro), MAX_RATE_DECI_HZ, MAX_ACCEL_RANGE_G
        )
        control: gatt.Characteristic[bytes] = gatt.Characteristic(
            gp.CONTROL_UUID,
            gatt.Characteristic.Properties.WRITE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_control_write),
        )
        info = gatt.Characteristic(
            gp.INFO_UUID,
            gatt.Characteristic.Properties.READ,
            gatt.Characteristic.READABLE,
            info_value,
        )
        return [
            gatt.Service(gp.SERVICE_UUID, [self._data_char, control, info]),
            BatteryService(lambda _connection: self.battery_pct),
            DeviceInformationService(
                manufacturer_name=MANUFACTURER,
                model_number=MODEL_NUMBER,
                firmware_revision=FIRMWARE_REVISION,
            ),
        ]

    # -- link events ----------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)

    def _on_disconnection(self, _reason: int) -> None:
        self._connection = None
        self._link_up.clear()

    def _on_subscription(
        self, connection: Connection, notify_enabled: bool, _indicate_enabled: bool
    ) -> None:
        if connection is not self._connection:
            return
        if notify_enabled:
            self._link_up.set()
            if self.start_on_subscribe:
                self._start()
        else:
            self._link_up.clear()

    def _on_control_write(self, _connection: Connection, value: bytes) -> None:
        if len(value) != gp.CONTROL.size:
            raise ATT_Error(ErrorCode.INVALID_ATTRIBUTE_LENGTH)
        command, rate_deci_hz, accel_g, gyro_dps = gp.CONTROL.unpack(value)
        if command == gp.Command.START:
            self._start()
        elif command == gp.Command.STOP:
            self._running.clear()
        elif command == gp.Command.CONFIGURE:
            if (
                not 125 <= rate_deci_hz <= MAX_RATE_DECI_HZ
                or accel_g not in ACCEL_RANGES_G
                or gyro_dps not in GYRO_RANGES_DPS
            ):
                raise ATT_Error(ErrorCode.VALUE_NOT_ALLOWED)
            # The recording fixes the rate; the full scales are honoured when encoding.
            self.config = gp.StreamConfig(
                rate_hz=self.config.rate_hz,
                accel_range_g=accel_g,
                gyro_range_dps=gyro_dps if self.samples.has_gyro else 0,
            )
        else:
            raise ATT_Error(ErrorCode.VALUE_NOT_ALLOWED)

    @property
    def rate_hz(self) -> float:
        """The output rate now: the recording's (hipthrust) or register 0x03's (WitMotion)."""
        if self.model is SensorModel.WITMOTION_WT901BLE:
            return wm.rate_of_code(self.registers[wm.REG_RATE]) or wm.DEFAULT_RATE_HZ
        return self.config.rate_hz

    def _on_witmotion_write(self, connection: Connection, value: bytes) -> None:
        """An ``FF AA <reg> <value>`` command on FFE9. The module ignores what it cannot use."""
        self.stats.commands.append(bytes(value))
        try:
            command = wm.parse_command(bytes(value))
        except ValueError:
            self.stats.commands_ignored += 1
            return
        now = asyncio.get_running_loop().time()
        unlocked = self._unlocked_until is not None and now <= self._unlocked_until
        if bytes(value) == wm.UNLOCK:
            self._unlocked_until = now + UNLOCK_S
        elif bytes(value) == wm.SAVE:
            self.saves += 1
        elif command.register == wm.REG_READ:
            start = command.value & 0xFF
            values = tuple(self.registers.get(start + i, 0) for i in range(8))
            reply = wm.encode_register_reply(start, values)
            asyncio.get_running_loop().create_task(self._send_reply(connection, reply))
        elif (
            command.register == wm.REG_RATE
            and unlocked
            and wm.rate_of_code(command.value) is not None
        ):
            self.registers[wm.REG_RATE] = command.value
            log.info("virtual %s: output rate %g Hz", self.name, self.rate_hz)
        else:
            self.stats.commands_ignored += 1

    async def _send_reply(self, connection: Connection, reply: bytes) -> None:
        if connection is self._connection:
            await self._device().notify_subscriber(connection, self._data_char, reply)
            self.stats.replies_sent += 1

    def clock(self) -> float:
        """The virtual world's clock in s, for the host to stamp arrivals with (WitMotion).

        At ``speed`` > 0 it is real time since the stream started, times ``speed`` (a host
        using it sees the session at its own pace); at ``speed`` 0 it is the stream time of
        the last packet sent, which is what a host's clock would read at real time.
        """
        if self.speed > 0 and self._wall0 is not None:
            return (asyncio.get_running_loop().time() - self._wall0) * self.speed
        return self._clock_t_s

    # -- streaming ------------------------------------------------------------------

    def _start(self) -> None:
        self._running.set()
        if self._stream_task is None:
            self._stream_task = asyncio.get_running_loop().create_task(self._stream())

    def with_gyro(self) -> bool:
        """Whether packets carry gyro samples (the recording has them and gyro is on)."""
        return self.samples.gyro_dps is not None and self.config.gyro_range_dps > 0

    def packet_bytes(self, index: int, plan: PacketPlan) -> bytes:
        """The notification for packet ``index`` of the stream, as the firmware builds it."""
        s = self.samples
        if self.model is SensorModel.WITMOTION_WT901BLE:
            i = plan.start
            acc = s.acc_g[i]
            gyro = s.gyro_dps[i] if s.gyro_dps is not None else np.zeros(3)
            return wm.encode_data_frame(acc, gyro, _tilt_angles_deg(acc))
        gyro = (
            s.gyro_dps[plan.start : plan.stop]
            if self.with_gyro() and s.gyro_dps is not None
            else None
        )
        return gp.encode_imu_packet(
            self.first_seq + index,
            round(plan.t_first_s * 1e6),
            plan.dt_s * 1e6,
            s.acc_g[plan.start : plan.stop],
            gyro,
            accel_range_g=self.config.accel_range_g,
            gyro_range_dps=self.config.gyro_range_dps or 2000,
        )

    def _cursor(self) -> _PlanCursor | _TickCursor:
        if self.model is SensorModel.WITMOTION_WT901BLE:
            return _TickCursor(self.samples.t_s, lambda: self.rate_hz)
        per_packet = gp.max_samples_per_packet(self.with_gyro())
        if self.samples_per_packet is not None:
            per_packet = max(1, min(per_packet, self.samples_per_packet))
        return _PlanCursor(plan_packets(self.samples.t_s, per_packet))

    async def _stream(self) -> None:
        loop = asyncio.get_running_loop()
        cursor = self._cursor()
        wall0 = self._wall0 = loop.time()
        while (plan := cursor.peek()) is not None:
            if not self._running.is_set():
                paused_at = loop.time()
                await self._running.wait()
                wall0 += loop.time() - paused_at
                self._wall0 = wall0
            if self.speed > 0:
                delay_s = wall0 + plan.t_last_s / self.speed - loop.time()
                if delay_s > 0:
                    await asyncio.sleep(delay_s)
            else:
                await asyncio.sleep(0)  # as fast as possible, yet let the host run
            self._clock_t_s = plan.t_last_s
            if (
                self.disconnect_at_s is not None
                and not self._disconnect_done
                and plan.t_first_s >= self.disconnect_at_s
            ):
                self._disconnect_done = True
                await self._drop_link()
            connection = self._connection
            if connection is None or not self._link_up.is_set():
                if self.speed == 0:
                    await self._lose_outage(cursor, plan.t_first_s)
                else:
                    self.stats.packets_lost_offline += 1
                    cursor.advance()
                continue
            if self.drop_rate > 0 and self._rng.random() < self.drop_rate:
                self.stats.packets_dropped += 1
                cursor.advance()
                continue
            await self._device().notify_subscriber(
                connection, self._data_char, self.packet_bytes(cursor.index, plan)
            )
            self.stats.packets_sent += 1
            self.stats.sent_ranges.append((plan.start, plan.stop))
            cursor.advance()
        self.finished.set()

    async def _drop_link(self) -> None:
        connection = self._connection
        if connection is None:
            return
        log.info("virtual sensor %s drops the link at its stream time", self.name)
        self.stats.disconnects += 1
        self._link_up.clear()
        await connection.disconnect()

    async def _lose_outage(self, cursor: _PlanCursor | _TickCursor, down_t_s: float) -> None:
        """speed=0: wait for the host to come back; the outage's packets, in real time, are lost."""
        loop = asyncio.get_running_loop()
        down_at = loop.time()
        await self._link_up.wait()
        lost_until_s = down_t_s + (loop.time() - down_at)
        while (plan := cursor.peek()) is not None and plan.t_first_s <= lost_until_s:
            self.stats.packets_lost_offline += 1
            cursor.advance()
        self._clock_t_s = lost_until_s


class _PlanCursor:
    """The hipthrust stream: the packets planned up front; ``index`` is the packet number."""

    def __init__(self, plans: list[PacketPlan]) -> None:
        self.plans = plans
        self.index = 0

    def peek(self) -> PacketPlan | None:
        return self.plans[self.index] if self.index < len(self.plans) else None

    def advance(self) -> None:
        self.index += 1


class _TickCursor:
    """The WitMotion stream: one frame per tick of the output rate (read at every tick, so a
    rate change applies from the next frame), carrying the recording's nearest sample."""

    def __init__(self, t_s: np.ndarray, rate_hz: Callable[[], float]) -> None:
        self.t_rel = t_s - t_s[0]
        self.rate_hz = rate_hz
        self.index = 0
        self._anchor_s = 0.0
        self._k = 0
        self._rate = rate_hz()

    def peek(self) -> PacketPlan | None:
        t = self._anchor_s + self._k / self._rate
        if t > self.t_rel[-1] + 1e-9:  # the recording has ended
            return None
        i = nearest_index(self.t_rel, t)
        return PacketPlan(i, i + 1, t, t, 1.0 / self._rate)

    def advance(self) -> None:
        self.index += 1
        self._k += 1
        rate = self.rate_hz()
        if rate != self._rate:
            self._anchor_s += self._k / self._rate
            self._k = 0
            self._rate = rate


def nearest_index(t_s: np.ndarray, t: float) -> int:
    """Index of the element of the increasing array ``t_s`` nearest to ``t``."""
    i = int(np.searchsorted(t_s, t))
    if i >= t_s.shape[0]:
        return int(t_s.shape[0] - 1)
    if i > 0 and t - t_s[i - 1] <= t_s[i] - t:
        return i - 1
    return i


def _tilt_angles_deg(acc_g: np.ndarray) -> tuple[float, float, float]:
    """Roll and pitch (deg) from the gravity direction, yaw 0: a stand-in for the module's
    own fusion angles, which the host decodes but does not use."""
    ax, ay, az = (float(v) for v in acc_g)
    roll = np.degrees(np.arctan2(ay, az))
    pitch = np.degrees(np.arctan2(-ax, np.hypot(ay, az)))
    return float(roll), float(pitch), 0.0


def _increasing(samples: Samples) -> tuple[Samples, int]:
    """Drop samples whose time does not advance (a sensor's clock always does); count them.

    Recordings may hold duplicated timestamps; a packet starting at the previous packet's
    last time would be rejected by the host's decoder, taking good samples with it.
    """
    t = samples.t_s
    keep = np.ones(t.shape[0], dtype=bool)
    keep[1:] = t[1:] > np.maximum.accumulate(t)[:-1]
    if keep.all():
        return samples, 0
    gyro = None if samples.gyro_dps is None else samples.gyro_dps[keep]
    return Samples(t[keep], samples.acc_g[keep], gyro, samples.metadata), int((~keep).sum())


def _nominal_rate_hz(samples: Samples) -> float:
    if len(samples) < 2:
        return 100.0
    return float(1.0 / np.median(np.diff(samples.t_s)))
