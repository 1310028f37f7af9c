"""A virtual hipthrust sensor: a Bumble BLE peripheral that plays a ``Samples`` block.

The sensor is a real Bluetooth LE stack (a Bumble ``Device`` with its own virtual
``Controller``) on a Bumble ``LocalLink``. A host on the same link (see
``sensor.ble_backend_bumble``) scans, connects and subscribes to it exactly as it would to
the firmware in ``firmware_notes/``: it advertises as ``hipthrust-XXXX`` with the hipthrust
service UUID, serves the hipthrust service (IMU data notify, control write, info read), the
Battery service (0x180F) and the Device Information service (0x180A).

Streaming: the samples are cut into packets (``encode_imu_packet``) of up to
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


class VirtualSensor:
    """A hipthrust sensor on a Bumble ``LocalLink`` that streams ``samples``.

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
    ) -> None:
        if len(samples) == 0:
            raise ValueError("the virtual sensor needs at least one sample")
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as possible)")
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError("drop_rate must be in [0, 1)")
        self.samples, self.samples_skipped = _increasing(samples)
        self.address = Address(address)
        suffix = address.replace(":", "")[-4:].upper()
        self.name = name or f"{NAME_PREFIX}{suffix}"
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
            gp.IMU_DATA_UUID,
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
        """The advertising payload: flags, service UUID, complete name, battery level."""
        flags = (
            AdvertisingData.LE_GENERAL_DISCOVERABLE_MODE_FLAG
            | AdvertisingData.BR_EDR_NOT_SUPPORTED_FLAG
        )
        return bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([flags])),
                    (
                        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                        UUID(gp.SERVICE_UUID).to_bytes(force_128=True),
                    ),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                    (
                        AdvertisingData.SERVICE_DATA_16_BIT_UUID,
                        BATTERY_SERVICE_16.to_bytes() + bytes([self.battery_pct]),
                    ),
                ]
            )
        )

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

    async def _stream(self) -> None:
        loop = asyncio.get_running_loop()
        per_packet = gp.max_samples_per_packet(self.with_gyro())
        if self.samples_per_packet is not None:
            per_packet = max(1, min(per_packet, self.samples_per_packet))
        plans = plan_packets(self.samples.t_s, per_packet)
        wall0 = loop.time()
        i = 0
        while i < len(plans):
            if not self._running.is_set():
                paused_at = loop.time()
                await self._running.wait()
                wall0 += loop.time() - paused_at
            plan = plans[i]
            if self.speed > 0:
                delay_s = wall0 + plan.t_last_s / self.speed - loop.time()
                if delay_s > 0:
                    await asyncio.sleep(delay_s)
            else:
                await asyncio.sleep(0)  # as fast as possible, yet let the host run
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
                    i = await self._lose_outage(plans, i)
                else:
                    self.stats.packets_lost_offline += 1
                    i += 1
                continue
            if self.drop_rate > 0 and self._rng.random() < self.drop_rate:
                self.stats.packets_dropped += 1
                i += 1
                continue
            await self._device().notify_subscriber(
                connection, self._data_char, self.packet_bytes(i, plan)
            )
            self.stats.packets_sent += 1
            self.stats.sent_ranges.append((plan.start, plan.stop))
            i += 1
        self.finished.set()

    async def _drop_link(self) -> None:
        connection = self._connection
        if connection is None:
            return
        log.info("virtual sensor %s drops the link at its stream time", self.name)
        self.stats.disconnects += 1
        self._link_up.clear()
        await connection.disconnect()

    async def _lose_outage(self, plans: list[PacketPlan], i: int) -> int:
        """speed=0: wait for the host to come back; the outage's packets, in real time, are lost."""
        loop = asyncio.get_running_loop()
        down_at = loop.time()
        down_t_s = plans[i].t_first_s
        await self._link_up.wait()
        lost_until_s = down_t_s + (loop.time() - down_at)
        while i < len(plans) and plans[i].t_first_s <= lost_until_s:
            self.stats.packets_lost_offline += 1
            i += 1
        return i


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
