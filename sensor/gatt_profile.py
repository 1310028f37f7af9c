"""The hipthrust GATT profile: UUIDs and byte layouts shared by the host and the sensor.

``firmware_notes/gatt-profile.md`` is the prose version of this module. Everything is
little-endian.

IMU data notification (characteristic ``IMU_DATA_UUID``)::

    offset size  field
    0      1     flags: bit 0 = gyro present; bits 4..7 = packet version (1)
    1      1     n, the number of samples in this packet (1..38 without gyro, 1..19 with)
    2      2     seq, uint16, +1 per packet, wraps at 65536
    4      4     t0_us, uint32, sensor clock of the first sample in microseconds, wraps
    8      2     dt_10us, uint16, sample interval in units of 10 us (12.5 Hz = 8000)
    10     1     accel full scale in g (2, 4, 8 or 16)
    11     1     gyro full scale / 125 dps (1, 2, 4, 8, 16), 0 without gyro
    12     ...   n samples of int16 ax, ay, az [, gx, gy, gz]; value = raw * full_scale / 32768

Control (characteristic ``CONTROL_UUID``, write with response): ``<BHBH`` =
command (1 start streaming, 2 stop, 3 configure), rate in 0.1 Hz (125..4000), accel full
scale in g, gyro full scale in dps (0 = gyro off). Start and stop ignore the other fields.

Info (characteristic ``INFO_UUID``, read): ``<BBHH`` = profile version (1), capabilities
(bit 0 gyro available), max rate in 0.1 Hz, max accel full scale in g.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

SERVICE_UUID = "7e1a0001-5c2b-4b8e-9d0f-2f1f6b7e8a01"
IMU_DATA_UUID = "7e1a0002-5c2b-4b8e-9d0f-2f1f6b7e8a01"
CONTROL_UUID = "7e1a0003-5c2b-4b8e-9d0f-2f1f6b7e8a01"
INFO_UUID = "7e1a0004-5c2b-4b8e-9d0f-2f1f6b7e8a01"

BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
DEVICE_INFO_SERVICE_UUID = "0000180a-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
MANUFACTURER_NAME_UUID = "00002a29-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"

PACKET_VERSION = 1
HEADER = struct.Struct("<BBHIHBB")
CONTROL = struct.Struct("<BHBH")
INFO = struct.Struct("<BBHH")
FLAG_GYRO = 0x01
MAX_PAYLOAD = 244  # ATT MTU 247 minus the 3-byte notification header
RAW_FULL_SCALE = 32768.0


class Command(IntEnum):
    START = 1
    STOP = 2
    CONFIGURE = 3


@dataclass(frozen=True)
class StreamConfig:
    """What the host asks of the sensor: rate in Hz, full scales in g and deg/s (0 = off)."""

    rate_hz: float = 100.0
    accel_range_g: int = 16
    gyro_range_dps: int = 2000

    def control_bytes(self, command: Command = Command.CONFIGURE) -> bytes:
        return CONTROL.pack(
            int(command), round(self.rate_hz * 10), self.accel_range_g, self.gyro_range_dps
        )


def max_samples_per_packet(with_gyro: bool) -> int:
    return (MAX_PAYLOAD - HEADER.size) // (12 if with_gyro else 6)


def encode_imu_packet(
    seq: int,
    t0_us: int,
    dt_us: float,
    acc_g: NDArray[np.float64],
    gyro_dps: NDArray[np.float64] | None = None,
    *,
    accel_range_g: int = 16,
    gyro_range_dps: int = 2000,
) -> bytes:
    """Pack samples into one IMU data notification, as the firmware does.

    ``acc_g`` has shape (n, 3) in g; ``gyro_dps`` shape (n, 3) in deg/s or None. Values are
    clipped to the full scale and rounded to the nearest raw count.
    """
    n = acc_g.shape[0]
    with_gyro = gyro_dps is not None
    if not 1 <= n <= max_samples_per_packet(with_gyro):
        raise ValueError(f"{n} samples do not fit one packet")
    flags = (PACKET_VERSION << 4) | (FLAG_GYRO if with_gyro else 0)
    header = HEADER.pack(
        flags,
        n,
        seq & 0xFFFF,
        t0_us & 0xFFFFFFFF,
        round(dt_us / 10),
        accel_range_g,
        gyro_range_dps // 125 if with_gyro else 0,
    )
    cols = [acc_g * (RAW_FULL_SCALE / accel_range_g)]
    if gyro_dps is not None:
        cols.append(gyro_dps * (RAW_FULL_SCALE / gyro_range_dps))
    raw = np.clip(np.rint(np.hstack(cols)), -32768, 32767).astype("<i2")
    return header + raw.tobytes()
