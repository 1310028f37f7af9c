"""Pure, table-driven decoders for the IMU data packets of the supported sensors.

Each sensor model's packet layout is a :class:`PacketFormat` table (header fields with their
offsets, struct codes, bit slices, allowed values and scale factors, plus the 3-axis vectors in
each sample and where their full scale comes from). One generic parser,
:func:`decode_packet`, reads every table, the way ``bthome-ble`` reads its measurement tables.
Nothing here does I/O or logging: bad bytes raise :class:`PacketError` with a one-line reason.

:class:`StreamDecoder` sits on top: it feeds packets one by one, never raises, counts garbage,
duplicates and packets lost (from the hipthrust ``seq`` counter), unwraps the sensor's uint32
microsecond clock and turns packets into :class:`~sensor.samples.Samples` blocks.

Units: acceleration in g (gravity included), angular rate in deg/s, angles in degrees,
times in microseconds (``*_us``) or seconds (``*_s``).
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from sensor import gatt_profile
from sensor.samples import Samples

FloatArray = NDArray[np.float64]

RAW_FULL_SCALE = 32768.0  # int16 raw counts that make one full scale
SEQ_MODULUS = 1 << 16  # hipthrust seq is uint16
CLOCK_MODULUS = 1 << 32  # hipthrust t0_us is uint32 (wraps after 71.6 minutes)
STALE_WINDOW = 64  # a seq at most this far behind the last one may be a late repeat...
STALE_US = 10_000_000  # ...when its clock is also at most this far behind (else: restart)
MAX_LEAD_S = 0.25  # arrival stamping: a sample's time may run this far ahead of its arrival


class SensorModel(StrEnum):
    """The sensors whose packets this module decodes."""

    HIPTHRUST = "hipthrust"
    WITMOTION_WT901BLE = "wt901ble"


class PacketProblem(StrEnum):
    """Why a packet was rejected: a stable key for counting drops per reason."""

    TRUNCATED = "truncated"
    OVERSIZED = "oversized"
    BAD_HEADER = "bad-header"
    OTHER_PACKET = "other-packet"
    BAD_FIELD = "bad-field"
    INCONSISTENT = "inconsistent"


class PacketError(ValueError):
    """A packet that cannot be decoded. ``str(err)`` is a one-line reason, ``kind`` its class."""

    def __init__(self, kind: PacketProblem, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


# --------------------------------------------------------------------------- format tables


@dataclass(frozen=True)
class Field:
    """One header field.

    ``fmt`` is a single little-endian ``struct`` code read at byte ``offset``; ``bits`` (with
    ``shift``) selects a bit slice of it. ``allowed`` restricts the raw value; a raw value
    listed in ``other_types`` names a well-formed packet of another kind (not sample data).
    The decoded value is ``raw * scale``.
    """

    name: str
    offset: int
    fmt: str
    shift: int = 0
    bits: int | None = None
    allowed: Collection[int] | None = None
    scale: float = 1.0
    problem: PacketProblem = PacketProblem.BAD_FIELD
    other_types: Mapping[int, str] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.offset + struct.calcsize("<" + self.fmt)

    def read(self, data: bytes) -> int:
        (raw,) = struct.unpack_from("<" + self.fmt, data, self.offset)
        value = int(raw) >> self.shift
        return value & ((1 << self.bits) - 1) if self.bits is not None else value


@dataclass(frozen=True)
class Vector:
    """A 3-axis int16 quantity in every sample: ``value = raw * full_scale / 32768``.

    ``full_scale`` is a number, or the name of the header field that carries it (in the
    vector's unit). ``present_if`` names a header field (a flag bit) that says whether the
    vector is in the packet; ``None`` means always present.
    """

    name: str
    full_scale: float | str
    present_if: str | None = None


@dataclass(frozen=True)
class PacketFormat:
    """The byte layout of one model's data packet; read by :func:`decode_packet`."""

    model: SensorModel
    header_size: int
    max_size: int
    fields: tuple[Field, ...]
    vectors: tuple[Vector, ...]
    count_field: str | None = None  # header field with the number of samples; None = one
    seq_field: str | None = None
    t0_field: str | None = None
    dt_field: str | None = None  # sample interval, scaled to microseconds
    frame_size: int | None = None  # set: a notification is 1..k whole frames of this size


HIPTHRUST_FORMAT = PacketFormat(
    model=SensorModel.HIPTHRUST,
    header_size=gatt_profile.HEADER.size,
    max_size=gatt_profile.MAX_PAYLOAD,
    fields=(
        Field(
            "version",
            0,
            "B",
            shift=4,
            bits=4,
            allowed={gatt_profile.PACKET_VERSION},
            problem=PacketProblem.BAD_HEADER,
        ),
        Field(
            "reserved_flags", 0, "B", shift=1, bits=3, allowed={0}, problem=PacketProblem.BAD_HEADER
        ),
        Field("gyro_present", 0, "B", bits=1),
        Field("n", 1, "B", allowed=range(1, gatt_profile.max_samples_per_packet(False) + 1)),
        Field("seq", 2, "H"),
        Field("t0_us", 4, "I"),
        Field("dt_us", 8, "H", allowed=range(1, 1 << 16), scale=10.0),
        Field("accel_range_g", 10, "B", allowed={2, 4, 8, 16}),
        Field("gyro_range_dps", 11, "B", allowed={0, 1, 2, 4, 8, 16}, scale=125.0),
    ),
    vectors=(
        Vector("acc_g", "accel_range_g"),
        Vector("gyro_dps", "gyro_range_dps", present_if="gyro_present"),
    ),
    count_field="n",
    seq_field="seq",
    t0_field="t0_us",
    dt_field="dt_us",
)

# WitMotion WT901BLE family (BWT901BLECL5.0, WT901BLE68...): the default 0x55 0x61 frame,
# 20 bytes, one sample, no sequence number and no timestamp (WT901BLECL datasheet §6.1.1).
# Real modules put several frames back to back in one notification (40 or 80 bytes seen at
# 50 Hz), so a notification is any whole number of frames that fits one ATT payload.
WITMOTION_FORMAT = PacketFormat(
    model=SensorModel.WITMOTION_WT901BLE,
    header_size=2,
    max_size=gatt_profile.MAX_PAYLOAD,
    frame_size=20,
    fields=(
        Field("header", 0, "B", allowed={0x55}, problem=PacketProblem.BAD_HEADER),
        Field(
            "flag",
            1,
            "B",
            allowed={0x61},
            problem=PacketProblem.BAD_HEADER,
            other_types={0x71: "register reply (0x55 0x71)"},
        ),
    ),
    vectors=(
        Vector("acc_g", 16.0),
        Vector("gyro_dps", 2000.0),
        Vector("angle_deg", 180.0),
    ),
)

FORMATS: Mapping[SensorModel, PacketFormat] = MappingProxyType(
    {f.model: f for f in (HIPTHRUST_FORMAT, WITMOTION_FORMAT)}
)


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True, eq=False)
class DecodedPacket:
    """One decoded data packet.

    Attributes:
        model: the sensor model it came from.
        seq: packet counter (uint16, wraps), or None when the model has none (WitMotion).
        t0_us: sensor clock of the first sample in µs (uint32, wraps), or None.
        dt_us: sample interval in µs, or None when the model sends no timing.
        t_us: per-sample sensor times ``t0_us + i * dt_us`` in µs (not wrapped), or None.
        acc_g: (n, 3) acceleration in g, gravity included, sensor axes.
        gyro_dps: (n, 3) angular rate in deg/s, or None without gyro.
        angle_deg: (n, 3) roll/pitch/yaw from the sensor's own fusion, or None.
        accel_range_g: accelerometer full scale in g.
        gyro_range_dps: gyroscope full scale in deg/s, or None without gyro.
    """

    model: SensorModel
    seq: int | None
    t0_us: int | None
    dt_us: float | None
    t_us: FloatArray | None
    acc_g: FloatArray
    gyro_dps: FloatArray | None
    angle_deg: FloatArray | None
    accel_range_g: float
    gyro_range_dps: float | None

    def __len__(self) -> int:
        return int(self.acc_g.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DecodedPacket):
            return NotImplemented
        for name in self.__dataclass_fields__:
            a, b = getattr(self, name), getattr(other, name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
                    return False
                if a.shape != b.shape or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]  # holds arrays: unhashable, like a list


def _check(fld: Field, raw: int) -> None:
    if raw in fld.other_types:
        raise PacketError(
            PacketProblem.OTHER_PACKET, f"{fld.name} 0x{raw:02x}: {fld.other_types[raw]}, not data"
        )
    if fld.allowed is not None and raw not in fld.allowed:
        raise PacketError(fld.problem, f"{fld.name} {raw} (0x{raw:x}) is not allowed")


def decode_packet(model: SensorModel, data: bytes) -> DecodedPacket:
    """Decode one notification of ``model``; raise :class:`PacketError` for anything else."""
    fmt = FORMATS[model]
    size = len(data)
    if size > fmt.max_size:
        raise PacketError(
            PacketProblem.OVERSIZED, f"{size} bytes, more than the {fmt.max_size}-byte maximum"
        )
    if fmt.frame_size is None or size <= fmt.frame_size:
        return _decode_frame(fmt, data, fmt.max_size if fmt.frame_size is None else fmt.frame_size)
    if size % fmt.frame_size:
        raise PacketError(
            PacketProblem.TRUNCATED,
            f"{size} bytes is not a whole number of {fmt.frame_size}-byte frames",
        )
    frames = [
        _decode_frame(fmt, data[i : i + fmt.frame_size], fmt.frame_size)
        for i in range(0, size, fmt.frame_size)
    ]
    first = frames[0]

    def stack(name: str) -> FloatArray | None:
        parts = [getattr(f, name) for f in frames]
        return None if parts[0] is None else np.vstack(parts)

    return DecodedPacket(
        model=model,
        seq=None,
        t0_us=None,
        dt_us=None,
        t_us=None,
        acc_g=np.vstack([f.acc_g for f in frames]),
        gyro_dps=stack("gyro_dps"),
        angle_deg=stack("angle_deg"),
        accel_range_g=first.accel_range_g,
        gyro_range_dps=first.gyro_range_dps,
    )


def _decode_frame(fmt: PacketFormat, data: bytes, max_size: int) -> DecodedPacket:
    """Decode one frame of ``fmt`` (the whole packet when the format has no frames)."""
    size = len(data)
    header: dict[str, float] = {}
    for fld in fmt.fields:
        if fld.end > size:
            break
        raw = fld.read(data)
        _check(fld, raw)
        header[fld.name] = raw * fld.scale
    if size < fmt.header_size:
        raise PacketError(
            PacketProblem.TRUNCATED, f"{size} bytes, shorter than the {fmt.header_size}-byte header"
        )

    n = int(header[fmt.count_field]) if fmt.count_field else 1
    present: list[tuple[Vector, float]] = []
    for vec in fmt.vectors:
        on = vec.present_if is None or bool(header[vec.present_if])
        scale = header[vec.full_scale] if isinstance(vec.full_scale, str) else vec.full_scale
        if on and scale == 0:
            raise PacketError(PacketProblem.INCONSISTENT, f"{vec.name} present with full scale 0")
        if not on and scale != 0:
            raise PacketError(
                PacketProblem.INCONSISTENT, f"{vec.name} absent but its full scale is {scale:g}"
            )
        if on:
            present.append((vec, scale))
    stride = 6 * len(present)
    expected = fmt.header_size + n * stride
    if expected > max_size:
        raise PacketError(
            PacketProblem.INCONSISTENT,
            f"{n} samples of {stride} bytes need {expected} bytes, over the {max_size} maximum",
        )
    if size < expected:
        raise PacketError(PacketProblem.TRUNCATED, f"{size} bytes, but {n} samples need {expected}")
    if size > expected:
        raise PacketError(
            PacketProblem.OVERSIZED, f"{size} bytes, but {n} samples need only {expected}"
        )

    counts = np.frombuffer(data, dtype="<i2", count=n * stride // 2, offset=fmt.header_size)
    raw_samples = counts.reshape(n, stride // 2).astype(np.float64)
    values: dict[str, FloatArray] = {}
    for i, (vec, scale) in enumerate(present):
        values[vec.name] = raw_samples[:, 3 * i : 3 * i + 3] * (scale / RAW_FULL_SCALE)

    seq = int(header[fmt.seq_field]) if fmt.seq_field else None
    t0_us = int(header[fmt.t0_field]) if fmt.t0_field else None
    dt_us = header[fmt.dt_field] if fmt.dt_field else None
    t_us = None if t0_us is None or dt_us is None else t0_us + dt_us * np.arange(n, dtype=float)
    ranges = {vec.name: scale for vec, scale in present}
    return DecodedPacket(
        model=fmt.model,
        seq=seq,
        t0_us=t0_us,
        dt_us=dt_us,
        t_us=t_us,
        acc_g=values["acc_g"],
        gyro_dps=values.get("gyro_dps"),
        angle_deg=values.get("angle_deg"),
        accel_range_g=ranges["acc_g"],
        gyro_range_dps=ranges.get("gyro_dps"),
    )


def decode_battery_level(data: bytes) -> int:
    """Battery Level characteristic 0x2A19: one byte, 0..100 %."""
    if len(data) != 1 or data[0] > 100:
        raise PacketError(PacketProblem.BAD_FIELD, f"battery level {data.hex()} is not 0..100 %")
    return data[0]


# --------------------------------------------------------------------------- stream


@dataclass
class PacketStats:
    """Counters of one stream. ``packets == decoded + dropped`` always holds.

    ``lost_by_seq`` counts packets that never arrived (gaps in ``seq``); it is not part of
    ``packets``. ``stale`` counts packets older than the last one (late repeats), and
    ``resyncs`` the times the counter jumped back far (a sensor restart).
    """

    packets: int = 0
    decoded: int = 0
    samples: int = 0
    dropped_garbage: int = 0
    duplicates: int = 0
    stale: int = 0
    lost_by_seq: int = 0
    resyncs: int = 0
    clock_wraps: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    last_reason: str | None = None

    @property
    def dropped(self) -> int:
        return self.dropped_garbage + self.duplicates + self.stale


class StreamDecoder:
    """Turn a model's notifications into :class:`Samples` blocks, counting every loss.

    Pure: no I/O, no logging, and :meth:`feed` never raises. The caller logs
    ``stats.last_reason`` when ``stats.dropped_garbage`` grows.

    Hipthrust packets carry ``seq`` and ``t0_us``: times are exact on the sensor clock,
    ``t_s = unwrapped_t0_us / 1e6 + i * dt_us / 1e6``, even across lost packets. WitMotion
    packets carry neither: each sample is time-stamped with the host's ``arrival_s`` (or, when
    the caller gives none, ``decoded / nominal_rate_hz``) and loss cannot be counted.
    """

    def __init__(self, model: SensorModel, *, nominal_rate_hz: float = 10.0) -> None:
        self.model = SensorModel(model)
        self.nominal_rate_hz = nominal_rate_hz
        self.stats = PacketStats()
        self._metadata: Mapping[str, str] = MappingProxyType({"sensor": self.model.value})
        self._last_seq: int | None = None
        self._last_t0_raw: int | None = None
        self._t0_unwrapped: int = 0  # µs, unwrapped sensor time of the last accepted t0
        self._last_t_s: float | None = None
        self.sample_interval_s: float | None = None  # from the last timed packet

    def feed(self, data: bytes, *, arrival_s: float | None = None) -> Samples | None:
        """Decode one notification; return its samples, or None if it was dropped."""
        self.stats.packets += 1
        try:
            packet = decode_packet(self.model, bytes(data))
        except PacketError as err:
            self._drop_garbage(err.kind.value, str(err))
            return None
        if packet.seq is not None and packet.t0_us is not None and packet.dt_us is not None:
            t_s = self._sensor_times(packet.seq, packet.t0_us, packet.dt_us, len(packet))
            if packet.dt_us > 0:
                self.sample_interval_s = packet.dt_us / 1e6
        else:
            t_s = self._arrival_times(arrival_s, len(packet))
        if t_s is None:
            return None
        self.stats.decoded += 1
        self.stats.samples += len(packet)
        self._last_t_s = float(t_s[-1])
        return Samples(t_s, packet.acc_g, packet.gyro_dps, self._metadata)

    def _drop_garbage(self, kind: str, reason: str) -> None:
        self.stats.dropped_garbage += 1
        self.stats.by_reason[kind] = self.stats.by_reason.get(kind, 0) + 1
        self.stats.last_reason = reason

    def _sensor_times(self, seq: int, t0_raw: int, dt_us: float, n: int) -> FloatArray | None:
        if self._last_seq is None or self._last_t0_raw is None:
            t0 = t0_raw
        else:
            step = (seq - self._last_seq) % SEQ_MODULUS
            if step == 0:
                self.stats.duplicates += 1
                return None
            delta = (t0_raw - self._last_t0_raw) % CLOCK_MODULUS
            back_us = (self._last_t0_raw - t0_raw) % CLOCK_MODULUS
            time_forward = 0 < delta < CLOCK_MODULUS // 2
            if step < SEQ_MODULUS // 2 and time_forward:
                self.stats.lost_by_seq += step - 1
                if t0_raw < self._last_t0_raw:
                    self.stats.clock_wraps += 1
                t0 = self._t0_unwrapped + delta
                if self._last_t_s is not None and t0 / 1e6 <= self._last_t_s:
                    self._last_seq = seq  # it did arrive: do not count it as lost later
                    self._drop_garbage(
                        PacketProblem.INCONSISTENT.value,
                        f"packet {seq} starts at {t0_raw} us, inside the previous packet",
                    )
                    return None
            elif step > SEQ_MODULUS - STALE_WINDOW and not time_forward and back_us <= STALE_US:
                self.stats.stale += 1
                return None
            else:
                # The counter or the clock jumped back: the sensor restarted. Keep the time
                # axis increasing: place this packet one interval after the last sample.
                self.stats.resyncs += 1
                t0 = round((self._last_t_s or 0.0) * 1e6 + dt_us)
        self._last_seq = seq
        self._last_t0_raw = t0_raw
        self._t0_unwrapped = t0
        return (t0 + dt_us * np.arange(n, dtype=float)) / 1e6

    def _arrival_times(self, arrival_s: float | None, n: int) -> FloatArray:
        period_s = 1.0 / self.nominal_rate_hz
        if arrival_s is None:
            start = self.stats.samples * period_s
        else:  # the last sample of the notification arrived with it
            start = arrival_s - (n - 1) * period_s
        if self._last_t_s is not None:
            # Notifications delivered in one connection event share an arrival time: the
            # later ones follow at the nominal interval (not 1 us apart, which the engine
            # would read as a burst), yet never more than MAX_LEAD_S ahead of their arrival
            # (a sensor running faster than nominal), and always after the last sample.
            start = max(start, self._last_t_s + period_s)
            start = min(start, arrival_s + MAX_LEAD_S) if arrival_s is not None else start
            start = max(start, self._last_t_s + 1e-6)
        return start + np.arange(n, dtype=float) * period_s
