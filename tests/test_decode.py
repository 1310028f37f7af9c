"""Known-answer tests for the packet decoders (sensor/decode.py, sensor/witmotion.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensor.decode import (
    DecodedPacket,
    PacketError,
    PacketProblem,
    SensorModel,
    StreamDecoder,
    decode_battery_level,
    decode_packet,
)
from sensor.gatt_profile import encode_imu_packet
from sensor.samples import FloatArray, Samples
from sensor.witmotion import (
    RATE_CODES,
    RegisterReply,
    decode_register_reply,
    rate_commands,
    read_register_command,
    write_register_command,
)

HT = SensorModel.HIPTHRUST
WIT = SensorModel.WITMOTION_WT901BLE

# --- hipthrust packets written out by hand from the layout in sensor/gatt_profile.py -------
# flags 0x10 (version 1, no gyro), n 2, seq 0x0102, t0 1_000_000 us, dt 1000 x 10 us,
# accel 16 g, gyro code 0; samples (0, 0, 2048) and (-2048, 1024, 2048) counts.
HT_ACCEL_ONLY = bytes.fromhex(
    "10 02 0201 40420f00 e803 10 00  0000 0000 0008  00f8 0004 0008".replace(" ", "")
)
HT_ACCEL_ONLY_DECODED = DecodedPacket(
    model=HT,
    seq=0x0102,
    t0_us=1_000_000,
    dt_us=10_000.0,
    t_us=np.array([1_000_000.0, 1_010_000.0]),
    acc_g=np.array([[0.0, 0.0, 1.0], [-1.0, 0.5, 1.0]]),
    gyro_dps=None,
    angle_deg=None,
    accel_range_g=16.0,
    gyro_range_dps=None,
)
# flags 0x11 (version 1, gyro), n 1, seq 0xffff, t0 0xfffffff0, dt 8000 x 10 us (12.5 Hz),
# accel 2 g, gyro code 16 (2000 dps); counts (16384, -16384, 0, 16384, -32768, 1).
HT_WITH_GYRO = bytes.fromhex(
    "11 01 ffff f0ffffff 401f 02 10  0040 00c0 0000 0040 0080 0100".replace(" ", "")
)
HT_WITH_GYRO_DECODED = DecodedPacket(
    model=HT,
    seq=0xFFFF,
    t0_us=0xFFFFFFF0,
    dt_us=80_000.0,
    t_us=np.array([float(0xFFFFFFF0)]),
    acc_g=np.array([[1.0, -1.0, 0.0]]),
    gyro_dps=np.array([[1000.0, -2000.0, 2000.0 / 32768]]),
    angle_deg=None,
    accel_range_g=2.0,
    gyro_range_dps=2000.0,
)

# --- WitMotion: real bytes ------------------------------------------------------------------
# Four 0x55 0x61 frames in one 80-byte notification, captured from a real WT901BLE5.0-family
# module lying still (a public table-tennis tracker's test `test_ble_80b_notify_4_packets`,
# module tabletennis/imu/witmotion; its authors read Az ~ 1.008 g and yaw ~ 70.26 deg).
WIT_CAPTURE_80B = bytes.fromhex(
    "5561fcffefff110800000000000098ff0d00f831"
    "5561fdffecff0e0800000000000098ff0d00f831"
    "5561fdffecff0e0800000000000098ff0d00f831"
    "5561feffe9ff0f0800000000000098ff0d00f831"
)
# counts read off the bytes above by hand (little-endian int16)
WIT_ACC_COUNTS = [[-4, -17, 2065], [-3, -20, 2062], [-3, -20, 2062], [-2, -23, 2063]]
WIT_ANGLE_COUNTS = [-104, 13, 12792]
# One frame captured from a WT901 BLE 5.0 sensor in motion, published as a decimal list in
# the "MotionLab" article "Reading Document and Coding Functions with Multi-Agent AI Systems
# using Magentic-One" (2024), which points at WitMotion's BLE 5.0 protocol page.
WIT_CAPTURE_MOVING = bytes(
    [85, 97, 119, 2, 168, 254, 146, 254, 6, 2, 48, 254, 205, 255, 248, 240, 83, 252, 171, 196]
)
# The WT901BLECL datasheet (v20-0707, §6.1.2.1) example: reply to FF AA 27 3A 00, magnetic
# field x=360, y=105, z=122.
WIT_DATASHEET_MAG_REPLY = bytes.fromhex(
    "55 71 3A 00 68 01 69 00 7A 00 00 00 00 00 00 00 00 00 00 00"
)


def test_hand_built_hipthrust_accel_only() -> None:
    assert decode_packet(HT, HT_ACCEL_ONLY) == HT_ACCEL_ONLY_DECODED


def test_hand_built_hipthrust_with_gyro() -> None:
    assert decode_packet(HT, HT_WITH_GYRO) == HT_WITH_GYRO_DECODED


def test_encoder_builds_the_hand_written_bytes() -> None:
    acc = HT_ACCEL_ONLY_DECODED.acc_g
    assert encode_imu_packet(0x0102, 1_000_000, 10_000, acc) == HT_ACCEL_ONLY
    built = encode_imu_packet(
        0xFFFF,
        0xFFFFFFF0,
        80_000,
        np.array([[1.0, -1.0, 0.0]]),
        np.array([[1000.0, -2000.0, 2000.0 / 32768]]),
        accel_range_g=2,
        gyro_range_dps=2000,
    )
    assert built == HT_WITH_GYRO


@pytest.mark.parametrize(
    ("accel_range_g", "gyro_range_dps"), [(2, 125), (4, 250), (8, 500), (16, 1000), (16, 2000)]
)
def test_encode_decode_round_trip(accel_range_g: int, gyro_range_dps: int) -> None:
    rng = np.random.default_rng(accel_range_g * gyro_range_dps)
    counts = rng.integers(-32768, 32768, size=(19, 6)).astype(np.float64)
    acc: FloatArray = counts[:, :3] * (accel_range_g / 32768)
    gyro: FloatArray = counts[:, 3:] * (gyro_range_dps / 32768)
    data = encode_imu_packet(
        7, 123_456, 2500, acc, gyro, accel_range_g=accel_range_g, gyro_range_dps=gyro_range_dps
    )
    assert len(data) == 12 + 19 * 12
    expected = DecodedPacket(
        model=HT,
        seq=7,
        t0_us=123_456,
        dt_us=2500.0,
        t_us=123_456 + 2500.0 * np.arange(19, dtype=np.float64),
        acc_g=acc,
        gyro_dps=gyro,
        angle_deg=None,
        accel_range_g=float(accel_range_g),
        gyro_range_dps=float(gyro_range_dps),
    )
    assert decode_packet(HT, data) == expected


def test_largest_accel_only_packet_round_trips() -> None:
    acc = np.tile([[0.25, -0.5, 1.0]], (38, 1))
    data = encode_imu_packet(1, 0, 80_000, acc, accel_range_g=4)
    packet = decode_packet(HT, data)
    assert len(data) == 240
    np.testing.assert_array_equal(packet.acc_g, acc)
    assert packet.gyro_dps is None


def test_witmotion_real_capture_four_frames() -> None:
    packet = decode_packet(WIT, WIT_CAPTURE_80B)
    expected = DecodedPacket(
        model=WIT,
        seq=None,
        t0_us=None,
        dt_us=None,
        t_us=None,
        acc_g=np.array(WIT_ACC_COUNTS, dtype=float) * 16 / 32768,
        gyro_dps=np.zeros((4, 3)),
        angle_deg=np.tile(np.array(WIT_ANGLE_COUNTS, dtype=float) * 180 / 32768, (4, 1)),
        accel_range_g=16.0,
        gyro_range_dps=2000.0,
    )
    assert packet == expected
    # physics: a sensor at rest feels 1 g; the capture's authors read 1.008 g and 70.26 deg
    assert np.linalg.norm(packet.acc_g[0]) == pytest.approx(1.008, abs=0.001)
    assert packet.angle_deg is not None
    assert packet.angle_deg[0, 2] == pytest.approx(70.26, abs=0.01)


def test_witmotion_single_frame_in_motion() -> None:
    packet = decode_packet(WIT, WIT_CAPTURE_MOVING)
    np.testing.assert_array_equal(
        packet.acc_g, [[631 * 16 / 32768, -344 * 16 / 32768, -366 * 16 / 32768]]
    )
    np.testing.assert_array_equal(
        packet.gyro_dps, [[518 * 2000 / 32768, -464 * 2000 / 32768, -51 * 2000 / 32768]]
    )
    np.testing.assert_array_equal(
        packet.angle_deg, [[-3848 * 180 / 32768, -941 * 180 / 32768, -15189 * 180 / 32768]]
    )
    assert packet.seq is None
    assert packet.t_us is None


def test_witmotion_datasheet_register_reply() -> None:
    assert decode_register_reply(WIT_DATASHEET_MAG_REPLY) == RegisterReply(
        0x3A, (360, 105, 122, 0, 0, 0, 0, 0)
    )
    with pytest.raises(PacketError) as err:
        decode_packet(WIT, WIT_DATASHEET_MAG_REPLY)
    assert err.value.kind is PacketProblem.OTHER_PACKET
    assert "register reply" in str(err.value)


def test_witmotion_register_reply_errors() -> None:
    with pytest.raises(PacketError) as err:
        decode_register_reply(WIT_DATASHEET_MAG_REPLY[:19])
    assert err.value.kind is PacketProblem.TRUNCATED
    with pytest.raises(PacketError) as err:
        decode_register_reply(WIT_CAPTURE_MOVING)
    assert err.value.kind is PacketProblem.BAD_HEADER


def test_witmotion_commands_match_the_datasheet() -> None:
    assert read_register_command(0x3A) == bytes.fromhex("ffaa273a00")  # read magnetic field
    assert read_register_command(0x51) == bytes.fromhex("ffaa275100")  # read quaternion
    assert rate_commands(50) == (
        bytes.fromhex("ffaa6988b5"),
        bytes.fromhex("ffaa030800"),
        bytes.fromhex("ffaa000000"),
    )
    assert rate_commands(1)[1] == bytes.fromhex("ffaa030300")
    assert rate_commands(200)[1] == bytes.fromhex("ffaa030b00")
    assert RATE_CODES[10.0] == 0x06  # factory default
    assert write_register_command(0x69, 0xB588) == bytes.fromhex("ffaa6988b5")
    with pytest.raises(ValueError, match="not one of"):
        rate_commands(60)
    with pytest.raises(ValueError, match="out of range"):
        write_register_command(0x100, 0)


def test_battery_level() -> None:
    assert decode_battery_level(b"\x57") == 87
    for bad in (b"", b"\x65", b"\x10\x00"):
        with pytest.raises(PacketError):
            decode_battery_level(bad)


def _with(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


# flags 0x11, n 20 gyro samples (252 bytes) in a 244-byte packet
GYRO_TOO_MANY = bytes.fromhex("1114000000000000e8031010") + bytes(232)

PACKET_ERRORS = [
    # (model, bytes, kind, words in the reason)
    (HT, b"", PacketProblem.TRUNCATED, "header"),
    (HT, HT_ACCEL_ONLY[:11], PacketProblem.TRUNCATED, "12-byte header"),
    (HT, HT_ACCEL_ONLY[:-1], PacketProblem.TRUNCATED, "need 24"),
    (HT, HT_ACCEL_ONLY + b"\x00\x00", PacketProblem.OVERSIZED, "need only 24"),
    (HT, bytes(245), PacketProblem.OVERSIZED, "244-byte maximum"),
    (HT, _with(HT_ACCEL_ONLY, 0, b"\x20"), PacketProblem.BAD_HEADER, "version 2"),
    (HT, _with(HT_ACCEL_ONLY, 0, b"\x12"), PacketProblem.BAD_HEADER, "reserved_flags"),
    (HT, _with(HT_ACCEL_ONLY, 1, b"\x00"), PacketProblem.BAD_FIELD, "n 0"),
    (HT, _with(HT_ACCEL_ONLY, 1, b"\x27"), PacketProblem.BAD_FIELD, "n 39"),
    (HT, _with(HT_ACCEL_ONLY, 8, b"\x00\x00"), PacketProblem.BAD_FIELD, "dt_us 0"),
    (HT, _with(HT_ACCEL_ONLY, 10, b"\x03"), PacketProblem.BAD_FIELD, "accel_range_g 3"),
    (HT, _with(HT_WITH_GYRO, 11, b"\x03"), PacketProblem.BAD_FIELD, "gyro_range_dps 3"),
    (HT, _with(HT_WITH_GYRO, 11, b"\x00"), PacketProblem.INCONSISTENT, "full scale 0"),
    (HT, _with(HT_ACCEL_ONLY, 11, b"\x10"), PacketProblem.INCONSISTENT, "absent"),
    (HT, GYRO_TOO_MANY, PacketProblem.INCONSISTENT, "over the 244"),
    (WIT, b"", PacketProblem.TRUNCATED, "header"),
    (WIT, b"\x55", PacketProblem.TRUNCATED, "2-byte header"),
    (WIT, WIT_CAPTURE_MOVING[:19], PacketProblem.TRUNCATED, "need 20"),
    (WIT, WIT_CAPTURE_80B[:30], PacketProblem.TRUNCATED, "whole number"),
    (WIT, WIT_CAPTURE_80B * 4, PacketProblem.OVERSIZED, "maximum"),
    (WIT, b"\x54" + WIT_CAPTURE_MOVING[1:], PacketProblem.BAD_HEADER, "header 84"),
    (WIT, b"\x55\x62" + WIT_CAPTURE_MOVING[2:], PacketProblem.BAD_HEADER, "flag 98"),
    (WIT, WIT_CAPTURE_MOVING + b"\x55\x71" + bytes(18), PacketProblem.OTHER_PACKET, "0x71"),
]


@pytest.mark.parametrize(("model", "data", "kind", "words"), PACKET_ERRORS)
def test_packet_errors(model: SensorModel, data: bytes, kind: PacketProblem, words: str) -> None:
    with pytest.raises(PacketError) as err:
        decode_packet(model, data)
    assert err.value.kind is kind
    assert words in str(err.value)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)


# --- StreamDecoder -------------------------------------------------------------------------

ACC2 = np.array([[0.0, 0.0, 1.0], [0.0, 0.5, 1.0]])
GYRO2 = np.full((2, 3), 16 * 2000 / 32768)  # 16 counts at 2000 dps full scale


def _packet(seq: int, t0_us: int, *, dt_us: int = 10_000, gyro: bool = False) -> bytes:
    return encode_imu_packet(seq, t0_us, dt_us, ACC2, GYRO2 if gyro else None)


def _times(blocks: list[Samples | None]) -> FloatArray:
    return np.concatenate([b.t_s for b in blocks if b is not None])


def test_stream_seq_wraps_without_loss() -> None:
    dec = StreamDecoder(HT)
    blocks = [dec.feed(_packet(seq, 20_000 * i)) for i, seq in enumerate([65534, 65535, 0, 1])]
    assert all(b is not None for b in blocks)
    np.testing.assert_allclose(_times(blocks), np.arange(8) * 0.01)
    s = dec.stats
    assert (s.packets, s.decoded, s.samples, s.lost_by_seq, s.duplicates) == (4, 4, 8, 0, 0)


def test_stream_clock_wraps_and_stays_exact() -> None:
    dec = StreamDecoder(HT)
    start = (1 << 32) - 25_000
    blocks = [dec.feed(_packet(i, (start + 20_000 * i) % (1 << 32))) for i in range(3)]
    expected = (start + 10_000 * np.arange(6)) / 1e6
    np.testing.assert_allclose(_times(blocks), expected, rtol=0, atol=1e-9)
    assert dec.stats.clock_wraps == 1


def test_stream_counts_lost_packets_and_keeps_exact_times() -> None:
    dec = StreamDecoder(HT)
    dec.feed(_packet(10, 0))
    dec.feed(_packet(11, 20_000))
    last = dec.feed(_packet(14, 80_000))  # 12 and 13 never arrived
    assert last is not None
    np.testing.assert_allclose(last.t_s, [0.08, 0.09])
    assert dec.stats.lost_by_seq == 2
    assert dec.stats.decoded == 3


def test_stream_drops_duplicates_and_stale_packets() -> None:
    dec = StreamDecoder(HT)
    first = _packet(10, 0)
    assert dec.feed(first) is not None
    assert dec.feed(first) is None  # same seq again
    assert dec.feed(_packet(11, 20_000)) is not None
    assert dec.feed(first) is None  # an older packet arriving late
    s = dec.stats
    assert (s.duplicates, s.stale, s.decoded, s.packets, s.dropped) == (1, 1, 2, 4, 2)


def test_stream_resyncs_after_a_sensor_restart() -> None:
    dec = StreamDecoder(HT)
    dec.feed(_packet(500, 3_000_000_000))
    after = dec.feed(_packet(0, 1_000))  # counter and clock restarted
    nxt = dec.feed(_packet(1, 21_000))
    assert after is not None
    assert nxt is not None
    np.testing.assert_allclose(after.t_s, [3000.02, 3000.03])
    np.testing.assert_allclose(nxt.t_s, [3000.04, 3000.05])
    assert dec.stats.resyncs == 1
    assert dec.stats.lost_by_seq == 0


def test_stream_drops_a_packet_that_overlaps_the_previous_one() -> None:
    dec = StreamDecoder(HT)
    dec.feed(_packet(1, 0))
    assert dec.feed(_packet(2, 5_000)) is None  # starts before the previous packet ended
    assert dec.stats.by_reason == {"inconsistent": 1}
    assert dec.feed(_packet(3, 40_000)) is not None
    assert dec.stats.lost_by_seq == 0  # the dropped packet 2 did arrive


def test_stream_counts_garbage_with_reasons_and_never_raises() -> None:
    dec = StreamDecoder(HT)
    assert dec.feed(b"\x00") is None
    assert dec.feed(HT_ACCEL_ONLY[:-1]) is None
    assert dec.feed(HT_ACCEL_ONLY[:-1]) is None
    assert dec.stats.dropped_garbage == 3
    assert dec.stats.by_reason == {"bad-header": 1, "truncated": 2}
    assert dec.stats.last_reason == "23 bytes, but 2 samples need 24"
    assert dec.stats.packets == dec.stats.decoded + dec.stats.dropped


def test_stream_gyro_and_no_gyro_blocks() -> None:
    with_gyro = StreamDecoder(HT).feed(_packet(1, 0, gyro=True))
    without = StreamDecoder(HT).feed(_packet(1, 0))
    assert with_gyro is not None
    assert without is not None
    assert with_gyro.has_gyro
    np.testing.assert_array_equal(with_gyro.gyro_dps, GYRO2)
    assert not without.has_gyro
    assert without.metadata == {"sensor": "hipthrust"}


def test_stream_witmotion_times_on_arrival() -> None:
    dec = StreamDecoder(WIT, nominal_rate_hz=50.0)
    first = dec.feed(WIT_CAPTURE_80B, arrival_s=100.0)
    second = dec.feed(WIT_CAPTURE_MOVING, arrival_s=100.0)  # same connection event
    assert first is not None
    assert second is not None
    np.testing.assert_allclose(first.t_s, [99.94, 99.96, 99.98, 100.0])
    assert second.t_s[0] > first.t_s[-1]
    assert first.has_gyro
    assert dec.stats.lost_by_seq == 0
    assert dec.stats.samples == 5
    garbage = dec.feed(WIT_DATASHEET_MAG_REPLY, arrival_s=100.1)
    assert garbage is None
    assert dec.stats.by_reason == {"other-packet": 1}


def test_stream_witmotion_without_arrival_times_uses_the_nominal_rate() -> None:
    dec = StreamDecoder(WIT, nominal_rate_hz=10.0)
    a = dec.feed(WIT_CAPTURE_MOVING)
    b = dec.feed(WIT_CAPTURE_80B)
    assert a is not None
    assert b is not None
    np.testing.assert_allclose(np.concatenate([a.t_s, b.t_s]), [0.0, 0.1, 0.2, 0.3, 0.4])


DOC_EXAMPLE = bytes.fromhex(
    "11 02 2a 00 15 cd 5b 07 e8 03 10 10"
    "00 00 00 00 00 08 00 00 00 00 00 00"
    "00 04 00 fe c0 07 00 08 00 f0 00 04"
)


def test_gatt_profile_doc_example() -> None:
    """The worked example in firmware_notes/gatt-profile.md is what the encoder builds."""
    acc = np.array([[0.0, 0.0, 1.0], [0.5, -0.25, 0.96875]])
    gyro = np.array([[0.0, 0.0, 0.0], [125.0, -250.0, 62.5]])
    assert encode_imu_packet(42, 123_456_789, 10_000, acc, gyro) == DOC_EXAMPLE
    assert decode_packet(HT, DOC_EXAMPLE) == DecodedPacket(
        model=HT,
        seq=42,
        t0_us=123_456_789,
        dt_us=10_000.0,
        t_us=np.array([123_456_789.0, 123_466_789.0]),
        acc_g=acc,
        gyro_dps=gyro,
        angle_deg=None,
        accel_range_g=16.0,
        gyro_range_dps=2000.0,
    )
    doc = (Path(__file__).parents[1] / "firmware_notes" / "gatt-profile.md").read_text()
    rows = [DOC_EXAMPLE[i : i + 12].hex(" ") for i in range(0, 36, 12)]
    assert "\n".join(rows) in doc
