"""WitMotion WT901BLE family (BWT901BLECL5.0, WT901BLE68...): GATT names and command bytes.

Pure tables and byte builders, no I/O. The data packet itself is decoded by
:mod:`sensor.decode` (``SensorModel.WITMOTION_WT901BLE``).

Sources: the WT901BLECL datasheet (§6 "Communication Protocol": the 0x55 0x61 packet, the
``FF AA 27 XX 00`` register read and its 0x55 0x71 reply), WitMotion's serial-protocol
datasheets (§"Return Rate": register 0x03 and its rate codes; unlock ``FF AA 69 88 B5``;
save ``FF AA 00 00 00``) and WitMotion's own BLE 5.0 Python SDK (``device_model.py``:
service and characteristic UUIDs, unlock -> write -> save sequence).

The stream carries no sequence number and no timestamp: the host time-stamps each packet
on arrival and cannot count lost packets.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from sensor.decode import RAW_FULL_SCALE, PacketError, PacketProblem

# Note the vendor's base UUID ends in ...805f9a34fb, not the Bluetooth SIG's ...805f9b34fb:
# a scan filter or a characteristic lookup must use these exact strings.
SERVICE_UUID = "0000ffe5-0000-1000-8000-00805f9a34fb"
NOTIFY_UUID = "0000ffe4-0000-1000-8000-00805f9a34fb"  # 0x55 0x61 data and 0x55 0x71 replies
WRITE_UUID = "0000ffe9-0000-1000-8000-00805f9a34fb"  # FF AA ... commands
NAME_PREFIX = "WT"  # advertised names look like "WT901BLE68"

ACCEL_RANGE_G = 16.0
GYRO_RANGE_DPS = 2000.0
DEFAULT_RATE_HZ = 10.0

COMMAND_PREFIX = b"\xff\xaa"
UNLOCK = b"\xff\xaa\x69\x88\xb5"  # unlock configuration writes for 10 s
SAVE = b"\xff\xaa\x00\x00\x00"  # keep the configuration across power cycles

REG_RATE = 0x03
REG_READ = 0x27  # "read register" command code: FF AA 27 <reg> 00
REG_MAGNETIC = 0x3A
REG_TEMPERATURE = 0x40
REG_QUATERNION = 0x51

# Register 0x03 (RATE): output rate in Hz -> code.
RATE_CODES: Mapping[float, int] = MappingProxyType(
    {
        0.2: 0x01,
        0.5: 0x02,
        1.0: 0x03,
        2.0: 0x04,
        5.0: 0x05,
        10.0: 0x06,  # factory default
        20.0: 0x07,
        50.0: 0x08,
        100.0: 0x09,
        125.0: 0x0A,
        200.0: 0x0B,
    }
)

REPLY_SIZE = 20
REPLY = struct.Struct("<BBH8h")  # 0x55, 0x71, start register, 8 register values
DATA_HEADER = b"\x55\x61"
DATA_SIZE = 20  # 55 61, then int16 ax ay az, wx wy wz, roll pitch yaw; no checksum byte
ANGLE_RANGE_DEG = 180.0
COMMAND_SIZE = 5  # FF AA <reg> <low> <high>


def write_register_command(register: int, value: int) -> bytes:
    """``FF AA <reg> <value low> <value high>``: write one 16-bit register."""
    if not 0 <= register <= 0xFF or not 0 <= value <= 0xFFFF:
        raise ValueError(f"register 0x{register:x} = {value} is out of range")
    return COMMAND_PREFIX + struct.pack("<BH", register, value)


def read_register_command(register: int) -> bytes:
    """``FF AA 27 <reg> 00``: ask for 8 registers from ``register`` (reply 0x55 0x71)."""
    return write_register_command(REG_READ, register)


def rate_commands(rate_hz: float) -> tuple[bytes, ...]:
    """The writes that set the output rate: unlock, set register 0x03, save.

    Send them in order, about 100 ms apart (WitMotion's SDK waits 0.1 s between them).
    """
    code = RATE_CODES.get(float(rate_hz))
    if code is None:
        rates = ", ".join(f"{r:g}" for r in RATE_CODES)
        raise ValueError(f"WitMotion output rate {rate_hz:g} Hz is not one of {rates}")
    return (UNLOCK, write_register_command(REG_RATE, code), SAVE)


@dataclass(frozen=True)
class RegisterReply:
    """A 0x55 0x71 reply: 8 consecutive 16-bit registers from ``start_register``."""

    start_register: int
    values: tuple[int, ...]


def decode_register_reply(data: bytes) -> RegisterReply:
    """Decode a 20-byte 0x55 0x71 register reply (signed 16-bit values)."""
    if len(data) != REPLY_SIZE:
        kind = PacketProblem.TRUNCATED if len(data) < REPLY_SIZE else PacketProblem.OVERSIZED
        raise PacketError(kind, f"register reply of {len(data)} bytes, not {REPLY_SIZE}")
    head, flag, start, *values = REPLY.unpack(data)
    if (head, flag) != (0x55, 0x71):
        raise PacketError(
            PacketProblem.BAD_HEADER, f"header {head:02x} {flag:02x} is not a 55 71 reply"
        )
    return RegisterReply(start, tuple(values))


def encode_data_frame(
    acc_g: NDArray[np.float64] | tuple[float, float, float],
    gyro_dps: NDArray[np.float64] | tuple[float, float, float],
    angle_deg: NDArray[np.float64] | tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> bytes:
    """One 20-byte 0x55 0x61 data frame, as the sensor sends it (the decoder's inverse).

    ``raw = round(value / full_scale * 32768)``, clipped to int16, little-endian: acceleration
    in g (full scale 16), angular rate in deg/s (2000), roll/pitch/yaw in degrees (180).
    The BLE frame has no checksum (unlike the serial 0x51..0x54 frames, which end in SUM).
    """
    scaled = np.concatenate(
        [
            np.asarray(acc_g, dtype=np.float64).reshape(3) * (RAW_FULL_SCALE / ACCEL_RANGE_G),
            np.asarray(gyro_dps, dtype=np.float64).reshape(3) * (RAW_FULL_SCALE / GYRO_RANGE_DPS),
            np.asarray(angle_deg, dtype=np.float64).reshape(3)
            * (RAW_FULL_SCALE / ANGLE_RANGE_DEG),
        ]
    )
    raw = np.clip(np.rint(scaled), -32768, 32767).astype("<i2")
    return DATA_HEADER + bytes(raw.tobytes())


def encode_register_reply(start_register: int, values: tuple[int, ...]) -> bytes:
    """A 20-byte 0x55 0x71 reply: up to 8 signed 16-bit registers from ``start_register``."""
    padded = (tuple(values) + (0,) * 8)[:8]
    return bytes(REPLY.pack(0x55, 0x71, start_register, *padded))


@dataclass(frozen=True)
class Command:
    """One ``FF AA <reg> <value>`` write as the sensor reads it."""

    register: int
    value: int


def parse_command(data: bytes) -> Command:
    """Read a 5-byte ``FF AA <reg> <low> <high>`` command; raise ValueError for anything else."""
    if len(data) != COMMAND_SIZE or not data.startswith(COMMAND_PREFIX):
        raise ValueError(f"not a WitMotion command: {data.hex(' ')}")
    register, value = struct.unpack_from("<BH", data, 2)
    return Command(register, value)


def nearest_rate_hz(rate_hz: float) -> float:
    """The supported output rate (``RATE_CODES``) closest to ``rate_hz`` (ties: the higher)."""
    return min(RATE_CODES, key=lambda r: (abs(r - rate_hz), -r))


def rate_of_code(code: int) -> float | None:
    """The output rate in Hz of a register 0x03 code, or None for an unknown code."""
    for rate, c in RATE_CODES.items():
        if c == code:
            return rate
    return None
